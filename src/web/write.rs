//! The write API (SPEC section 10): who may write, how a write's body is read, and the write
//! routes themselves.
//!
//! A write route takes [`WriteJson<T>`] (an authorized request with a JSON body of type `T`)
//! or, without a body, [`Authorized`]; either rejects the request with the fitting JSON error
//! before the handler runs, so a handler only does its work:
//!
//! ```ignore
//! async fn add(State(app): State<AppState>, WriteJson(item): WriteJson<NewItem>) -> Response { .. }
//! ```
//!
//! Authorization: with `api.write_token` set (a credential reference, resolved at every
//! request so a rotated token needs no reload), a request must carry
//! `Authorization: Bearer <token>`, compared in constant time; a missing or wrong token is a
//! 401 with `WWW-Authenticate: Bearer`. Without a token the write API is served only when the
//! daemon listens on a loopback address, where only local processes reach it; elsewhere every
//! write is a 403 saying how to configure one.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{ApiError, AppState, constant_time_eq};
use crate::credentials::Credentials;
use crate::daemon::Input;
use crate::work::{
    AgentReportInput, Assignment, Request as WorkRequest, Status, Triage, UsageInput, WorkError,
};

/// Bodies of write requests are at most this long (SPEC section 10), whatever
/// `limits.max_body_bytes` says, unless that is smaller.
pub const MAX_JSON_BODY: usize = 64 * 1024;
/// An oversized write body is still read and dropped up to this much before its 413.
const DRAIN_CAP: usize = 8 * 1024 * 1024;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/inbox", post(add_item))
        .route("/api/v1/triage/auto", post(auto_triage))
        .route("/api/v1/tasks/{id}/{action}", post(task_action))
        .route("/api/v1/mode", post(set_mode))
        .route("/api/v1/usage", post(record_usage))
        .route("/api/v1/agents/{id}/report", post(agent_report))
}

/// Sends a work command to the reconciler, which checks it against the board it holds and
/// stores its events. The answer lists them, with the last one's seq in `X-Event-Seq`.
async fn run_work(app: &AppState, request: WorkRequest) -> Result<Response, ApiError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let stopping =
        || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the daemon is stopping");
    app.shared.inputs.send(Input::Work(request, reply)).await.map_err(|_| stopping())?;
    let stored = match answer.await.map_err(|_| stopping())? {
        Ok(stored) => stored,
        Err(WorkFailure::Refused(e)) => return Err(work_error(&e)),
        Err(WorkFailure::NotStored(why)) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_recorded", why));
        }
    };
    let id = stored.iter().find(|e| e.entity_type == "task").map(|e| e.entity_id.clone());
    let seq = stored.last().map(|e| e.seq);
    let status = if matches!(stored.first(), Some(e) if e.kind == "inbox.item_created") {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = serde_json::json!({ "id": id, "events": stored });
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(seq) = seq {
        response.headers_mut().insert(super::EVENT_SEQ, axum::http::HeaderValue::from(seq));
    }
    Ok(response)
}

/// A refused work command as an answer: 404 for an unknown task or agent, 409 for a move the
/// lifecycle does not allow, 400 (with the field) for a bad argument.
fn work_error(error: &WorkError) -> ApiError {
    let (status, code) = if error.is_not_found() {
        (StatusCode::NOT_FOUND, "not_found")
    } else if matches!(error, WorkError::Refused { .. }) {
        (StatusCode::CONFLICT, "transition_refused")
    } else {
        (StatusCode::BAD_REQUEST, "invalid_field")
    };
    let detail = match error.field() {
        Some(field) => match error {
            WorkError::Invalid { message, .. } => format!("{field}: {message}"),
            _ => error.to_string(),
        },
        None => error.to_string(),
    };
    ApiError::new(status, code, detail)
}

/// Why a work command wrote nothing.
#[derive(Debug)]
pub enum WorkFailure {
    Refused(WorkError),
    NotStored(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewItem {
    text: String,
    #[serde(default)]
    source: Option<String>,
}

/// `POST /api/v1/inbox` `{text, source?}`: a raw inbox item (201 with its id).
async fn add_item(
    State(app): State<AppState>,
    WriteJson(item): WriteJson<NewItem>,
) -> Result<Response, ApiError> {
    let source = item.source.or(Some("api".to_string()));
    run_work(&app, WorkRequest::AddItem { text: item.text, source }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// `POST /api/v1/triage/auto`: every untriaged item through the TriageRules.
async fn auto_triage(
    State(app): State<AppState>,
    WriteJson(Empty {}): WriteJson<Empty>,
) -> Result<Response, ApiError> {
    run_work(&app, WorkRequest::AutoTriage).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Split {
    into: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStatus {
    status: String,
    #[serde(default)]
    blocker: Option<String>,
}

/// `POST /api/v1/tasks/{id}/{action}`: `triage` `{classification, priority, domain, owner?,
/// project?}`, `split` `{into: [titles]}`, `assign` `{owner, expected_output, boundaries,
/// review_criteria}`, `status` `{status, blocker?}`.
async fn task_action(
    State(app): State<AppState>,
    path: Result<axum::extract::Path<(String, String)>, axum::extract::rejection::PathRejection>,
    WriteJson(body): WriteJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let Ok(axum::extract::Path((id, action))) = path else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such task route"));
    };
    let request = match action.as_str() {
        "triage" => {
            let triage: Triage = action_body(body, "triage")?;
            WorkRequest::Triage { id, triage }
        }
        "split" => {
            let split: Split = action_body(body, "split")?;
            WorkRequest::Split { id, titles: split.into }
        }
        "assign" => {
            let assignment: Assignment = action_body(body, "assign")?;
            WorkRequest::Assign { id, assignment }
        }
        "status" => {
            let change: SetStatus = action_body(body, "status")?;
            let status = change.status.parse::<Status>().map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", format!("status: {e}"))
            })?;
            WorkRequest::SetStatus { id, status, blocker: change.blocker }
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "task actions are triage, split, assign and status",
            ));
        }
    };
    run_work(&app, request).await
}

/// The body of one task action, as that action's type.
fn action_body<T: DeserializeOwned>(body: serde_json::Value, action: &str) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("the body of {action} does not fit: {e}"),
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetMode {
    mode: crate::config::Mode,
}

/// `POST /api/v1/mode` `{mode}`: the active delivery mode.
async fn set_mode(
    State(app): State<AppState>,
    WriteJson(body): WriteJson<SetMode>,
) -> Result<Response, ApiError> {
    run_work(&app, WorkRequest::SetMode(body.mode)).await
}

/// `POST /api/v1/usage` `{model, agent, task?, input_tokens, output_tokens,
/// cache_read_tokens?, cache_write_tokens?, cost?}`.
async fn record_usage(
    State(app): State<AppState>,
    WriteJson(usage): WriteJson<UsageInput>,
) -> Result<Response, ApiError> {
    run_work(&app, WorkRequest::Usage(usage)).await
}

/// `POST /api/v1/agents/{id}/report` `{status, task?, model?, mode?, tokens?}`.
async fn agent_report(
    State(app): State<AppState>,
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    WriteJson(report): WriteJson<AgentReportInput>,
) -> Result<Response, ApiError> {
    let Ok(axum::extract::Path(id)) = path else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such agent"));
    };
    run_work(&app, WorkRequest::AgentReport { id, report }).await
}

/// Whether `address` only accepts connections from this machine.
pub fn is_loopback(address: &SocketAddr) -> bool {
    address.ip().to_canonical().is_loopback()
}

/// Decides whether a request may use the write API; the error response when it may not.
pub fn authorize(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let config = app.shared.config();
    let Some(reference) = &config.settings.write_token else {
        if is_loopback(&app.local_addr) {
            return Ok(());
        }
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "write_api_disabled",
            format!(
                "the write API is served without a token only on a loopback address, and this daemon listens on {}; \
                 set api.write_token in mission-control.yaml to a credential reference",
                app.local_addr
            ),
        ));
    };
    let expected =
        Credentials::new(&config.settings, &app.shared.workspace).resolve(reference).map_err(|e| {
            tracing::warn!(error = %e, "the write token cannot be resolved; refusing writes");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "write_token_unavailable", e.to_string())
        })?;
    let expected = expected.expose_secret();
    if expected.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "write_token_unavailable",
            format!("credential {reference} is empty; refusing writes"),
        ));
    }
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(unauthorized("invalid_token", "the bearer token is wrong")),
        None => Err(unauthorized("unauthorized", "the write API needs Authorization: Bearer <token>")),
    }
}

fn unauthorized(code: &'static str, detail: &str) -> ApiError {
    let challenge = if code == "invalid_token" {
        r#"Bearer realm="mission-control", error="invalid_token""#
    } else {
        r#"Bearer realm="mission-control""#
    };
    ApiError { challenge: Some(challenge), ..ApiError::new(StatusCode::UNAUTHORIZED, code, detail) }
}

/// Proof that a request may use the write API; the extractor of write routes without a body.
#[derive(Debug, Clone, Copy)]
pub struct Authorized;

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Authorized, ApiError> {
        authorize(app, &parts.headers).map(|()| Authorized)
    }
}

/// An authorized write request with a JSON body of type `T`: the extractor of write routes.
///
/// Checks, in order: authorization (401/403/503), the body's size (413), its content type
/// when it is not empty (`application/json`, else 415), and that it is a JSON object that
/// parses as `T` (400 `bad_json` for malformed JSON, `invalid_body` for JSON of the wrong
/// shape). An empty
/// body reads as `{}`, so a route whose fields are all optional needs no body.
#[derive(Debug, Clone)]
pub struct WriteJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for WriteJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &AppState) -> Result<WriteJson<T>, ApiError> {
        authorize(app, request.headers())?;
        let limit = app.shared.config().settings.max_body_bytes.min(MAX_JSON_BODY);
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request bodies are at most {limit} bytes"),
            )
        };
        // A declared length past what is ever read is refused at once: reading it all to
        // answer politely would cost more than the client deserves.
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > DRAIN_CAP as u64) {
            return Err(too_large());
        }
        let json_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| {
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            });
        // An oversized body is read to its end (up to a cap) before the 413, so a client that
        // writes its whole body before reading the answer receives it instead of a reset.
        let body = super::read_capped(request.into_body(), limit + 1, DRAIN_CAP).await.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                format!("the body could not be read: {e}"),
            )
        })?;
        if body.total > limit as u64 {
            return Err(too_large());
        }
        let body = body.kept;
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else if json_type {
            &body
        } else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        };
        // Every write takes an object; serde would also read an array into a struct.
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the body must be a JSON object",
            ));
        }
        serde_json::from_slice(body).map(WriteJson).map_err(|e| {
            if e.is_data() {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    format!("the body does not fit this route: {e}"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_json", format!("the body is not valid JSON: {e}"))
            }
        })
    }
}

/// The body of `POST /api/v1/reload`: nothing (or `{}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadRequest {}

/// `POST /api/v1/reload`: asks the reconciler to reload the configuration, as SIGHUP does.
/// The answer comes before the reload: its outcome is a `config.loaded` or `config.rejected`
/// event and `mission_control_config_last_reload_successful`.
async fn reload(
    State(app): State<AppState>,
    WriteJson(ReloadRequest {}): WriteJson<ReloadRequest>,
) -> Result<Response, ApiError> {
    if app.shared.inputs.send(Input::Reload("api")).await.is_err() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the daemon is stopping",
        ));
    }
    let body = serde_json::json!({
        "status": "accepted",
        "detail": "reload requested; its outcome is a config.loaded or config.rejected event",
    });
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        for (address, loopback) in [
            ("127.0.0.1:9797", true),
            ("127.1.2.3:1", true),
            ("[::1]:9797", true),
            ("[::ffff:127.0.0.1]:9797", true),
            ("0.0.0.0:9797", false),
            ("[::]:9797", false),
            ("192.168.1.5:9797", false),
        ] {
            let address: SocketAddr = address.parse().expect("address");
            assert_eq!(is_loopback(&address), loopback, "{address}");
        }
    }
}
