//! Delivery of one notification to one receiver: one attempt, nothing more. Retrying,
//! backoff and giving up belong to the outbox; this module only reports what happened in a
//! way the outbox can act on ([`DeliveryError::retry_after`], [`DeliveryError::is_permanent`]).
//!
//! Everything sent passes the redactor first (SPEC section 12), and no error, log line or
//! `Debug` output carries a credential: bearer values are set as sensitive headers, and the
//! Telegram token, which the Bot API wants in the URL path, is never written anywhere (errors
//! come from `reqwest::Error::without_url` and from our own texts). Credentials are resolved
//! at every attempt, so a credential set after a failure is picked up by the next retry.
//!
//! # Layout
//! - `webhook`: the SPEC section 11 JSON, POSTed.
//! - `alertmanager`: Alertmanager API v2, `POST /api/v2/alerts`.
//! - `telegram`: Bot API `sendMessage`, plain text under 4096 characters.
//! - `command`: argv without a shell, the webhook JSON on stdin, killed whole on timeout.
//! - `log`: a line in the daemon's own log, here.

mod alertmanager;
mod command;
mod telegram;
mod webhook;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use super::payload::Notification;
use crate::config::{Receiver, ReceiverTarget};
use crate::credentials::{CredentialError, Credentials};

/// How long one HTTP attempt may take, connection included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusing receiver's answer is read, to quote its first line.
const ANSWER_BYTES: usize = 16 * 1024;
/// Longest quote of a receiver's answer in an error.
const DETAIL_CHARS: usize = 200;

/// What every delivery needs, built once and shared by all attempts.
#[derive(Debug, Clone)]
pub struct DeliveryContext {
    /// rustls, redirects not followed, [`HTTP_TIMEOUT`] per request.
    pub http: reqwest::Client,
    pub credentials: Credentials,
}

impl DeliveryContext {
    pub fn new(credentials: Credentials) -> Result<DeliveryContext, DeliveryError> {
        let http = reqwest::Client::builder()
            // A redirect could carry a bearer credential or the alert to another host; a
            // receiver that moved is a configuration change, not something to follow.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .user_agent(concat!("mission-control/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DeliveryError::HttpClient(e.without_url()))?;
        Ok(DeliveryContext { http, credentials })
    }
}

/// Why one attempt failed. Messages are lower-case, redacted, and never contain a credential
/// or the Telegram URL; the receiver's id is not repeated (the caller knows it).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// The message names the credential and where it is looked for, never a value.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error("cannot reach the receiver: {0}")]
    Unreachable(String),
    #[error("no answer within {}", crate::duration::human(*.0))]
    Timeout(Duration),
    /// The receiver answered, but did not accept the notification.
    #[error("refused with http status {status}: {detail}")]
    Refused { status: u16, detail: String, retry_after: Option<Duration> },
    #[error("cannot start the command: {0}")]
    CommandStart(String),
    #[error("timeout after {}; the command's process group was killed", crate::duration::human(*.0))]
    CommandTimeout(Duration),
    /// `exit status 3: <the last line of stderr>`.
    #[error("{0}")]
    CommandFailed(String),
}

impl DeliveryError {
    /// When the receiver asked us to wait (Telegram 429 `retry_after`, HTTP `Retry-After` on
    /// 429 and 503).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Not worth retrying: the receiver refused this very notification (400 Bad Request, 413
    /// Payload Too Large, 422 Unprocessable; from Telegram, e.g. "chat not found" or "message
    /// is too long"), so sending it again cannot help. Everything else may heal by itself or
    /// by a fix the owner makes meanwhile (a credential set, a URL corrected, a 401 or 404
    /// from a receiver being redeployed), so it is retried until `give_up_after`.
    pub fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Refused { status: 400 | 413 | 422, .. })
    }
}

/// One attempt; Ok when the receiver accepted it (2xx; command exit 0; log always).
pub async fn deliver(
    receiver: &Receiver,
    notification: &Notification,
    cx: &DeliveryContext,
    now: DateTime<Utc>,
) -> Result<(), DeliveryError> {
    match &receiver.target {
        ReceiverTarget::Webhook { url, credential } => {
            webhook::send(url, credential.as_deref(), notification, cx, now).await
        }
        ReceiverTarget::Alertmanager { url, credential } => {
            alertmanager::send(url, credential.as_deref(), notification, cx, now).await
        }
        ReceiverTarget::Telegram { credential, chat_id, api_base } => {
            telegram::send(api_base, credential, chat_id, notification, cx, now).await
        }
        ReceiverTarget::Command { run, timeout } => command::send(run, *timeout, notification, now).await,
        ReceiverTarget::Log => {
            log(&receiver.id, notification);
            Ok(())
        }
    }
}

/// The `log` receiver: one line in the daemon's log.
fn log(receiver: &str, n: &Notification) {
    tracing::info!(
        receiver = %receiver,
        status = n.status.as_str(),
        alert = %n.alert.id,
        level = crate::metrics::level_name(n.alert.level),
        message = %crate::redact::redact(&n.alert.message),
        "alert notification"
    );
}

/// The webhook body, redacted, as bytes: what the `webhook` and `command` receivers send.
fn webhook_json(n: &Notification, now: DateTime<Utc>) -> Vec<u8> {
    redacted_json(n.webhook_body(now))
}

/// `value` with every string redacted, serialized. JSON is redacted before it is serialized,
/// never after (see `crate::redact`).
fn redacted_json(mut value: serde_json::Value) -> Vec<u8> {
    crate::redact::redact_json(&mut value);
    value.to_string().into_bytes()
}

/// POSTs a JSON `body` with `Authorization: Bearer` when a credential is named; Ok on 2xx.
async fn post_json(
    cx: &DeliveryContext,
    url: &str,
    credential: Option<&str>,
    body: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<(), DeliveryError> {
    let mut request = cx.http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    if let Some(name) = credential {
        // reqwest marks the header sensitive, so it is masked in its Debug output too.
        request = request.bearer_auth(cx.credentials.resolve(name)?.expose_secret());
    }
    let response = request.send().await.map_err(request_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = retry_after_header(&response, now);
    let answer = read_answer(response).await;
    Err(DeliveryError::Refused { status: status.as_u16(), detail: detail(status, &answer), retry_after })
}

/// A transport error, without the URL (it may hold a token) and with its causes, which say
/// what really happened ("connection refused").
fn request_error(error: reqwest::Error) -> DeliveryError {
    if error.is_timeout() {
        return DeliveryError::Timeout(HTTP_TIMEOUT);
    }
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    DeliveryError::Unreachable(crate::redact::redact(&text).into_owned())
}

/// `Retry-After` on a 429 or 503, in seconds or as an HTTP date.
fn retry_after_header(response: &reqwest::Response, now: DateTime<Utc>) -> Option<Duration> {
    let status = response.status().as_u16();
    if status != 429 && status != 503 {
        return None;
    }
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The start of a receiver's answer; a refusing receiver rarely says much, and a large body
/// is not worth waiting for.
async fn read_answer(mut response: reqwest::Response) -> Vec<u8> {
    let mut answer = Vec::new();
    while answer.len() < ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    answer.truncate(ANSWER_BYTES);
    answer
}

/// The first non-empty line of an answer, redacted and cut; the status's reason phrase when
/// the answer is empty.
fn detail(status: reqwest::StatusCode, answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => cut(&crate::redact::redact(line), DETAIL_CHARS),
        None => status.canonical_reason().unwrap_or("no answer").to_lowercase(),
    }
}

/// Text cut to at most `max` chars, marked with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

/// Real local servers for the receivers' tests: each records what it received and answers
/// with a fixed status, headers and body.
#[cfg(test)]
mod testing {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode, Uri};

    /// One request as the server saw it.
    #[derive(Debug, Clone)]
    pub(super) struct Received {
        pub path: String,
        pub headers: HeaderMap,
        pub body: Bytes,
    }

    impl Received {
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).expect("the body is JSON")
        }

        pub fn header(&self, name: &str) -> Option<String> {
            self.headers.get(name).map(|v| v.to_str().expect("ascii header").to_string())
        }
    }

    pub(super) type Log = Arc<Mutex<Vec<Received>>>;

    /// Serves every path on 127.0.0.1 with `status`, `headers` and `body`; returns its base URL
    /// (`http://127.0.0.1:PORT`) and what it has received so far.
    pub(super) async fn serve(
        status: u16,
        headers: &[(&'static str, &'static str)],
        body: &str,
    ) -> (String, Log) {
        let log: Log = Arc::default();
        let seen = log.clone();
        let (status, headers, body) =
            (StatusCode::from_u16(status).unwrap(), headers.to_vec(), body.to_string());
        let handler = move |uri: Uri, request_headers: HeaderMap, request_body: Bytes| {
            let seen = seen.clone();
            let (headers, body) = (headers.clone(), body.clone());
            async move {
                seen.lock().unwrap().push(Received {
                    path: uri.path().to_string(),
                    headers: request_headers,
                    body: request_body,
                });
                let mut response = axum::response::Response::new(axum::body::Body::from(body));
                *response.status_mut() = status;
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, log)
    }

    /// A base URL on which nothing listens.
    pub(super) async fn closed_port() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        base
    }

    /// A context without a credentials file: credentials come from `MC_CRED_*` only.
    pub(super) fn context() -> super::DeliveryContext {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::load(dir.path(), chrono::Utc::now()).expect("an empty workspace loads");
        super::DeliveryContext::new(crate::credentials::Credentials::new(&config.settings, dir.path()))
            .unwrap()
    }

    /// Sets `MC_CRED_<NAME>` for this test process.
    pub(super) fn set_credential(name: &str, value: &str) {
        // SAFETY: std serialises its own environment access; every test uses its own name.
        unsafe { std::env::set_var(crate::credentials::Credentials::env_var(name), value) };
    }

    pub(super) fn receiver(id: &str, target: crate::config::ReceiverTarget) -> crate::config::Receiver {
        crate::config::Receiver {
            id: id.to_string(),
            target,
            retry_initial: std::time::Duration::from_secs(1),
            retry_max: std::time::Duration::from_secs(60),
            give_up_after: std::time::Duration::from_secs(3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{context, receiver};
    use super::*;
    use crate::alert::payload::tests::firing;

    #[tokio::test]
    async fn log_receiver_always_accepts() {
        let r = receiver("logbook", ReceiverTarget::Log);
        deliver(&r, &firing("logbook"), &context(), Utc::now()).await.expect("log never fails");
    }

    #[test]
    fn an_attempt_can_run_on_its_own_task() {
        fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
        let (r, n, cx) = (receiver("logbook", ReceiverTarget::Log), firing("logbook"), context());
        spawnable(async move { deliver(&r, &n, &cx, Utc::now()).await });
    }

    #[test]
    fn only_refusals_of_the_payload_are_permanent() {
        let refused = |status| DeliveryError::Refused { status, detail: String::new(), retry_after: None };
        for (status, permanent) in
            [(400, true), (413, true), (422, true), (401, false), (404, false), (429, false), (500, false)]
        {
            assert_eq!(refused(status).is_permanent(), permanent, "status {status}");
        }
        assert!(!DeliveryError::Unreachable("connection refused".into()).is_permanent());
        assert!(!DeliveryError::CommandFailed("exit status 1".into()).is_permanent());
    }

    #[test]
    fn details_quote_the_first_line_cut_and_redacted() {
        let status = reqwest::StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(detail(status, b""), "internal server error");
        assert_eq!(detail(status, b"\n  upstream down \nmore"), "upstream down");
        assert_eq!(detail(status, b"Authorization: Bearer abcdefgh12345678"), "Authorization: [REDACTED]");
        assert_eq!(detail(status, "é".repeat(300).as_bytes()), format!("{}…", "é".repeat(DETAIL_CHARS)));
    }
}
