//! The read API: one entity with its recent events (`/api/v1/entities/{kind}/{id}`) and the
//! event log with its filters (`/api/v1/events`).
//!
//! Entities come from the live state the reconciler publishes, so the API shows exactly what
//! the snapshot and the dashboard show. Events come from the log on disk. Protected entities
//! that are not activated exist nowhere here: their entity route is a 404 as if they were
//! absent, and their events (written before they became protected, say) are dropped by the
//! current configuration.

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ApiError, AppState};
use crate::config::{Config, EntityKey, Kind, valid_id};
use crate::events::{Event, EventFilter, EventLogError, head_events, tail_events};

/// Events shown with an entity.
const ENTITY_EVENTS: usize = 50;
/// `limit` of `/api/v1/events` when not given, and its largest value.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// The live-state lists that hold entities.
const ENTITY_LISTS: [&str; 7] =
    ["agents", "subagents", "routines", "integrations", "outputs", "workflows", "projects"];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/entities/{kind}/{id}", get(entity))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/stream", get(super::sse::stream))
        .route("/api/v1/commands/{name}", get(command))
}

/// `GET /api/v1/commands/{name}`: a chat command's answer as text for a phone (Telegram
/// Markdown), or with `?format=json` as JSON; `?owner=` is `mytasks`' owner.
async fn command(
    State(app): State<AppState>,
    path: Result<UrlPath<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let bad = |detail: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_parameter", detail);
    let Ok(UrlPath(name)) = path else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such command"));
    };
    let Ok(Query(pairs)) = query else { return Err(bad("not a valid query string".to_string())) };
    let (mut json, mut owner, mut min_seq) = (false, None, None);
    for (key, value) in &pairs {
        match key.as_str() {
            "min_seq" => {
                min_seq = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| bad(format!("min_seq: a whole number, not {value:?}")))?,
                )
            }
            "format" if value == "json" => json = true,
            "format" if value == "text" => json = false,
            "format" => return Err(bad(format!("format: text or json, not {value:?}"))),
            "owner" if value.len() <= 128 => owner = Some(value.clone()),
            "owner" => return Err(bad("owner: at most 128 characters".to_string())),
            _ => {
                return Err(bad(
                    "unknown parameter; the parameters are format, owner and min_seq".to_string()
                ));
            }
        }
    }
    if owner.is_some() && !name.eq_ignore_ascii_case("mytasks") {
        return Err(bad("owner: only mytasks takes an owner".to_string()));
    }
    let command = crate::commands::Command::parse(&name, owner.as_deref())
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "unknown_command", e))?;
    crate::web::wait_folded(&app.shared, min_seq).await?;
    let Some(reply) = crate::daemon::chat(&app.shared, command, json).await else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the daemon is stopping",
        ));
    };
    app.shared.metrics.chat_commands_total.with_label_values(&["api", "answered"]).inc();
    if json {
        return Ok(axum::Json(reply.json).into_response());
    }
    let mut response = reply.text.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    Ok(response)
}

/// The validated parameters of `/api/v1/events` (and of the stream, which ignores `limit`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EventQuery {
    /// `since_seq`, `since`, `type` and `entity`; never a limit.
    pub filter: EventFilter,
    pub limit: usize,
}

/// Parses `since_seq`, `since` (RFC 3339 or a duration ago), `type` (repeatable, or
/// comma-separated), `entity` (`kind/id`) and `limit` (1 to 1000). A bad or unknown
/// parameter is a 400 whose detail names it.
pub(super) fn parse_event_query(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    now: DateTime<Utc>,
) -> Result<EventQuery, ApiError> {
    let bad = |name: &str, why: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_parameter", format!("{name}: {why}"))
    };
    let Ok(Query(pairs)) = query else {
        return Err(bad("query", "not a valid query string".to_string()));
    };
    let mut out = EventQuery { filter: EventFilter::default(), limit: DEFAULT_LIMIT };
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &pairs {
        let name = name.as_str();
        if name != "type" {
            if seen.contains(&name) {
                return Err(bad(name, "given more than once".to_string()));
            }
            seen.push(name);
        }
        match name {
            "since_seq" => {
                let seq = value.parse::<u64>().map_err(|_| {
                    bad("since_seq", format!("expected the seq of an event (a whole number), not {value:?}"))
                })?;
                out.filter.since_seq = Some(seq);
            }
            "since" => {
                let since = crate::events::parse_since(value, now).map_err(|_| {
                    bad(
                        "since",
                        format!("expected a time such as 2026-11-25T07:00:00Z or a duration such as 1h, not {value:?}"),
                    )
                })?;
                out.filter.since = Some(since);
            }
            "type" => {
                for kind in value.split(',').map(|t| t.trim_matches(' ')) {
                    if !valid_type(kind) {
                        return Err(bad(
                            "type",
                            format!("expected an event type such as health.changed, not {kind:?}"),
                        ));
                    }
                    out.filter.kinds.push(kind.to_string());
                }
            }
            "entity" => {
                let entity = crate::events::parse_entity(value).map_err(|why| bad("entity", why))?;
                out.filter.entity = Some(entity);
            }
            "limit" => {
                out.limit =
                    value.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                        bad("limit", format!("expected a number from 1 to {MAX_LIMIT}, not {value:?}"))
                    })?;
            }
            _ => {
                let shown: String = name.chars().take(40).collect();
                return Err(bad(
                    &format!("{shown:?}"),
                    "unknown parameter; the parameters are since_seq, since, type, entity and limit"
                        .to_string(),
                ));
            }
        }
    }
    Ok(out)
}

/// `health.changed`, `heartbeat.received`, ...: lower-case words joined by dots or underscores.
fn valid_type(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether an event belongs to a protected entity that is not activated (in the current
/// configuration), and so must never be shown.
pub fn hidden(config: &Config, event: &Event) -> bool {
    Kind::from_lower(&event.entity_type)
        .filter(|k| k.is_entity())
        .and_then(|k| config.entity(&EntityKey::new(k, event.entity_id.clone())))
        .is_some_and(|e| e.inert)
}

/// The seq the published live state covers: where [`tail_events`] starts looking.
fn live_last_seq(live: &Value) -> u64 {
    live.pointer("/summary/last_event_seq").and_then(Value::as_u64).unwrap_or(u64::MAX)
}

fn published(app: &AppState) -> Option<Value> {
    serde_json::from_slice(&app.shared.published_bytes()?).ok()
}

/// Runs a blocking log read off the async workers; a failure is a 500 with the reason.
async fn read_log<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EventLogError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the event log");
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "event_log_unreadable", e.to_string()))
        }
        Err(_) => {
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "reading the event log failed"))
        }
    }
}

/// `GET /api/v1/entities/{kind}/{id}`: the entity's live state plus `events`, its last 50
/// events, oldest first.
async fn entity(
    State(app): State<AppState>,
    path: Result<UrlPath<(String, String)>, PathRejection>,
    query: Result<Query<super::ReadQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    super::wait_for_seq(&app.shared, query).await?;
    let not_found = |detail: String| Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", detail));
    let Ok(UrlPath((kind, id))) = path else {
        return not_found("no such entity".to_string());
    };
    let Some(kind) = Kind::from_lower(&kind).filter(|k| k.is_entity()) else {
        return not_found(
            "unknown kind; the kinds are routine, integration, output, agent, workflow and project"
                .to_string(),
        );
    };
    if !valid_id(&id) {
        return not_found(format!("no {kind} with that id (ids match ^[a-z0-9][a-z0-9._-]{{0,62}}$)"));
    }
    let config = app.shared.config();
    if config.entity(&EntityKey::new(kind, id.as_str())).is_none_or(|e| e.inert) {
        return not_found(format!("no {kind} named {id}"));
    }
    let Some(live) = published(&app) else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "live state is not published yet; retry",
        ));
    };
    let found = ENTITY_LISTS
        .iter()
        .filter_map(|list| live.get(list).and_then(Value::as_array))
        .flatten()
        .find(|e| {
            e.get("kind").and_then(Value::as_str) == Some(kind.lower())
                && e.get("id").and_then(Value::as_str) == Some(&id)
        })
        .and_then(Value::as_object)
        .cloned();
    let Some(mut object) = found else {
        return not_found(format!("no {kind} named {id} in live state yet; retry"));
    };
    let filter = EventFilter { entity: Some((kind.lower().to_string(), id)), ..EventFilter::default() };
    let (state_dir, hint) = (app.shared.workspace.join("state"), live_last_seq(&live));
    let events =
        read_log(move || tail_events(&state_dir, &filter, ENTITY_EVENTS, hint, |e| !hidden(&config, e)))
            .await?;
    object.insert("events".to_string(), serde_json::to_value(events).unwrap_or_default());
    Ok(axum::Json(Value::Object(object)).into_response())
}

/// `GET /api/v1/events`: `{"events": [...]}`, oldest first. With a cursor (`since_seq` or
/// `since`) the first `limit` events after it, so a client pages forward by passing the last
/// seq it got; without one, the newest `limit` events.
async fn events(
    State(app): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = parse_event_query(query, Utc::now())?;
    let config = app.shared.config();
    let state_dir = app.shared.workspace.join("state");
    let cursor = query.filter.since_seq.is_some() || query.filter.since.is_some();
    let hint = if cursor { u64::MAX } else { published(&app).map_or(u64::MAX, |live| live_last_seq(&live)) };
    let EventQuery { filter, limit } = query;
    let keep = move |e: &Event| !hidden(&config, e);
    let found = read_log(move || {
        if cursor {
            head_events(&state_dir, &filter, limit, keep)
        } else {
            tail_events(&state_dir, &filter, limit, hint, keep)
        }
    })
    .await?;
    Ok(axum::Json(serde_json::json!({ "events": found })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventLog, LogOptions, NewEvent};

    fn query(text: &str) -> Result<EventQuery, StatusCode> {
        let uri: axum::http::Uri = format!("/api/v1/events?{text}").parse().expect("uri");
        let now = DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z").expect("time").to_utc();
        parse_event_query(Query::try_from_uri(&uri), now).map_err(|e| e.status)
    }

    #[test]
    fn parameters_are_parsed_or_named_in_a_400() {
        let q = query("since_seq=5&type=a.b,c.d&type=e&entity=routine/x&limit=7&since=1h").expect("valid");
        assert_eq!(q.filter.since_seq, Some(5));
        assert_eq!(q.filter.kinds, ["a.b", "c.d", "e"]);
        assert_eq!(q.filter.entity, Some(("routine".to_string(), "x".to_string())));
        assert_eq!(q.limit, 7);
        assert_eq!(q.filter.since.map(|t| t.to_rfc3339()), Some("2026-11-25T07:00:00+00:00".to_string()));
        assert_eq!(query("").expect("empty").limit, DEFAULT_LIMIT);
        for bad in [
            "since_seq=-1",
            "since_seq=x",
            "since=yesterday",
            "limit=0",
            "limit=1001",
            "limit=many",
            "entity=routine",
            "entity=routine/../etc",
            "entity=/x",
            "type=",
            "type=A%0AB",
            "limit=1&limit=2",
            "sinceseq=1",
        ] {
            assert_eq!(query(bad), Err(StatusCode::BAD_REQUEST), "{bad}");
        }
    }

    #[test]
    fn tail_and_head_skip_what_is_not_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = EventLog::open(dir.path(), LogOptions::default()).expect("open");
        let events: Vec<NewEvent> = (0..2000)
            .map(|i| {
                NewEvent::new("t", "test", "routine", if i % 3 == 0 { "hidden" } else { "shown" }, "ok", "m")
            })
            .collect();
        log.append(events).expect("append");
        let keep = |e: &Event| e.entity_id != "hidden";
        let all = EventFilter::default();
        for hint in [2000, 1500, 0, u64::MAX] {
            let tail = tail_events(dir.path(), &all, 10, hint, keep).expect("tail");
            let seqs: Vec<u64> = tail.iter().map(|e| e.seq).collect();
            assert_eq!(seqs, [1986, 1988, 1989, 1991, 1992, 1994, 1995, 1997, 1998, 2000], "hint {hint}");
        }
        let head = head_events(dir.path(), &EventFilter { since_seq: Some(2), ..all.clone() }, 4, keep)
            .expect("head");
        assert_eq!(head.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 5, 6, 8]);
        let none = tail_events(dir.path(), &all, 5, 2000, |_| false).expect("none");
        assert!(none.is_empty());
    }
}
