//! The HTTP surface (SPEC section 10): health and readiness, Healthchecks-style pings, the
//! live state, the read API, the write API, and Prometheus metrics.
//!
//! Handlers only read what the reconciler publishes and append to the event log; they never
//! touch the engine. Every input is bounded: bodies by size, requests by time, ping exit
//! statuses by range, ids by their pattern. Every error is JSON `{"error", "detail"}`, even
//! the ones axum produces itself (a layer rewrites them).
//!
//! # Layout
//!
//! - this file: the router, its state, health, metrics, live state and pings.
//! - `api`: one entity with its recent events, and the event log with its filters.
//! - `sse`: the event log as a live server-sent event stream that resumes where it left off.
//! - `write`: who may use the write API ([`write::Authorized`]), how a write's JSON body is
//!   read ([`write::WriteJson`]), and the write routes (`POST /api/v1/reload`).

pub mod api;
mod dashboard;
mod sse;
pub mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRef, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde::Deserialize;
use tokio::sync::{Notify, watch};

use crate::config::valid_id;
use crate::daemon::{Input, Shared};
use crate::engine::Engine;
use crate::events::NewEvent;
use crate::observe::{Ping, PingKind};

/// Slow clients are cut off after this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler may reach: the daemon's shared state, where it listens, and whether the
/// server is closing. Handlers that need only [`Shared`] take `State<Arc<Shared>>`.
#[derive(Clone)]
pub struct AppState {
    pub shared: Arc<Shared>,
    /// The address the server listens on: without `api.write_token`, the write API is served
    /// only when this is a loopback address.
    pub local_addr: SocketAddr,
    /// Turns true when the server shuts down, so endless responses (event streams) end and the
    /// graceful shutdown does not wait for them forever.
    closing: Arc<watch::Sender<bool>>,
}

impl AppState {
    pub fn new(shared: Arc<Shared>, local_addr: SocketAddr) -> AppState {
        AppState { shared, local_addr, closing: Arc::new(watch::channel(false).0) }
    }
}

impl FromRef<AppState> for Arc<Shared> {
    fn from_ref(state: &AppState) -> Arc<Shared> {
        state.shared.clone()
    }
}

/// A client has this long to send a request's head, and an idle keep-alive connection is
/// closed after it: a client that connects and stalls (or a crowd of them) cannot hold a
/// connection forever. axum's own `serve` sets no such timer (found by the fault tests).
const HEADER_TIMEOUT: Duration = REQUEST_TIMEOUT;
/// How long to wait before accepting again when accepting fails for want of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);

/// Serves until `stop` is notified, then ends the event streams and finishes the requests
/// under way.
///
/// Its own accept loop rather than `axum::serve`, for two limits: [`HEADER_TIMEOUT`] on every
/// connection, and at most [`connection_limit`] connections at once, so that a crowd of
/// clients leaves descriptors for the event log, the snapshot and the probes (the fault tests
/// saw the snapshot fail with "too many open files" under 1,000 connections). Connections
/// past the limit wait in the listen backlog until one closes.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, stop: Arc<Notify>) {
    let local_addr = match listener.local_addr() {
        Ok(address) => address,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the listening address; not serving http");
            return;
        }
    };
    let state = AppState::new(shared, local_addr);
    let closing = state.closing.clone();
    let app = app(state);
    let permits = Arc::new(tokio::sync::Semaphore::new(connection_limit()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        let permit = tokio::select! {
            () = &mut stopped => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_closed) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // The client gave up before we took it: nothing to do.
                Err(e) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => continue,
                Err(e) => {
                    // Out of descriptors (EMFILE, ENFILE) or memory: try again shortly rather
                    // than spin; the connection waits in the backlog meanwhile.
                    tracing::error!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let router = hyper_util::service::TowerToHyperService::new(app.clone());
        let service =
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                hyper::service::Service::call(&router, request)
            });
        let connection = graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    closing.send_replace(true);
    graceful.shutdown().await;
}

/// Connections served at once: the open-files limit less a reserve for everything else the
/// daemon opens (log files, snapshots, probes, deliveries, log reads for event streams).
fn connection_limit() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit(2) only writes the struct it is given.
    let soft =
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 { limit.rlim_cur } else { 1024 };
    let reserve = (soft / 8).max(256);
    usize::try_from(soft.saturating_sub(reserve))
        .unwrap_or(usize::MAX)
        .clamp(64, tokio::sync::Semaphore::MAX_PERMITS)
}

/// The whole HTTP surface of a daemon listening on `local_addr`.
pub fn router(shared: Arc<Shared>, local_addr: SocketAddr) -> Router {
    app(AppState::new(shared, local_addr))
}

fn app(state: AppState) -> Router {
    let max_body = state.shared.config().settings.max_body_bytes;
    let layered = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/state", get(live_state))
        .merge(api::routes())
        .merge(dashboard::routes())
        .merge(write::routes())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::map_response(json_errors));
    // Pings go around the layers: their answers are JSON already, they read their body with
    // limits of their own, and they keep to REQUEST_TIMEOUT themselves ([`ping`]). The layers
    // were a tenth of a ping's instructions.
    Router::new().route("/ping/{*rest}", any(ping)).merge(layered).with_state(state)
}

/// Errors are JSON `{"error", "detail"}` with a fitting status.
pub fn error(status: StatusCode, code: &str, detail: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": code, "detail": crate::redact::redact(&detail.into()) });
    (status, axum::Json(body)).into_response()
}

/// An error answer, `{"error", "detail"}` with its status: what handlers and extractors
/// return when they refuse a request (small enough to pass around in a `Result`).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// A stable snake_case code for programs (`not_found`, `bad_parameter`).
    pub code: &'static str,
    /// A sentence for people.
    pub detail: String,
    /// The `WWW-Authenticate` challenge of a 401.
    pub challenge: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError { status, code, detail: detail.into(), challenge: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = error(self.status, self.code, self.detail);
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// Rewrites the errors axum and tower produce themselves (405 from a method router, 408 from
/// the timeout, rejections of extractors, which are plain text or empty) into the JSON shape,
/// keeping their status and headers (`Allow`, `WWW-Authenticate`).
///
/// A 413 also says `Connection: close`: the body it refused is left unread, so the server
/// closes the connection, and a client that did not know would send its next request into it.
async fn json_errors(mut response: Response) -> Response {
    let status = response.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|t| t.to_str().is_ok_and(|t| t.starts_with("text/plain")));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let reason = status.canonical_reason().unwrap_or("error");
    let code = reason.to_ascii_lowercase().replace([' ', '-'], "_");
    let detail = if text.is_empty() { reason.to_string() } else { text };
    let rewritten = error(status, &code, detail);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, rewritten.into_body())
}

/// Ready once a configuration is loaded and the first live state is published, so a client
/// that waited for readiness never reads an empty `/api/v1/state`.
async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if !shared.ready.load(Ordering::SeqCst) {
        error(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "no configuration loaded yet")
    } else if shared.published().is_none() {
        error(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "live state is not published yet")
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

/// The live state as published by the reconciler; `None` before its first publication.
fn published(shared: &Shared) -> Option<Arc<Vec<u8>>> {
    shared.published_bytes()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let text = shared.metrics.render();
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// `?min_seq=N` on the state and entity routes: answer only once the live state has folded
/// event N (a client passes the `X-Event-Seq` of its own write to read it back).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    pub min_seq: Option<u64>,
}

/// How long a read with `min_seq` waits for the live state to fold that event.
const MIN_SEQ_WAIT: Duration = Duration::from_secs(5);

/// Waits until the published live state covers `min_seq`; a 503 when it does not in time.
pub async fn wait_for_seq(
    shared: &Shared,
    query: Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(), ApiError> {
    let Ok(Query(query)) = query else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "the only parameter is min_seq, the seq of an event (a whole number)",
        ));
    };
    wait_folded(shared, query.min_seq).await
}

/// Waits until the published live state has folded event `min_seq` (at once without one);
/// a 503 when it does not in time.
pub async fn wait_folded(shared: &Shared, min_seq: Option<u64>) -> Result<(), ApiError> {
    let Some(min_seq) = min_seq else { return Ok(()) };
    let mut published = shared.published_seq.subscribe();
    match tokio::time::timeout(MIN_SEQ_WAIT, published.wait_for(|seq| *seq >= min_seq)).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_yet_folded",
            format!("the live state has not folded event {min_seq} yet; retry"),
        )),
    }
}

async fn live_state(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(e) = wait_for_seq(&shared, query).await {
        return e.into_response();
    }
    let Some(bytes) = published(&shared) else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "live state is not published yet; retry");
    };
    let mut response = Body::from(bytes.as_ref().clone()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[derive(Debug, Deserialize)]
struct PingQuery {
    rid: Option<String>,
}

/// A ping body past `limits.ping_body_bytes` is still read (and discarded) up to this much,
/// so a client that sends its whole body before reading the answer receives it; past it the
/// connection is closed after the answer.
pub const PING_DRAIN_CAP: usize = 32 * 1024 * 1024;
/// The longest user agent kept with a ping, as Healthchecks.
const USER_AGENT_CHARS: usize = 200;

/// `/ping/{id}`, `/ping/{id}/start|fail|log|{0-255}`, and with `api.ping_key` the same under
/// `/ping/{key}/...`. One wildcard route parses the segments, so a key set by a reload takes
/// effect without rebuilding the router. Every answer carries the headers of
/// [`ping_headers`], errors included, as Healthchecks' do.
async fn ping(
    State(shared): State<Arc<Shared>>,
    rest: Result<UrlPath<String>, axum::extract::rejection::PathRejection>,
    query: Result<Query<PingQuery>, axum::extract::rejection::QueryRejection>,
    request: Request,
) -> Response {
    let limit = shared.config().settings.ping_body_bytes;
    let mut response =
        match tokio::time::timeout(REQUEST_TIMEOUT, ping_answer(&shared, rest, query, request)).await {
            Ok(response) => response,
            // What the timeout layer answers the other routes, through `json_errors`.
            Err(_elapsed) => error(StatusCode::REQUEST_TIMEOUT, "request_timeout", "Request Timeout"),
        };
    ping_headers(response.headers_mut(), limit);
    response
}

/// What every ping answer says besides its status: the body limit (`Ping-Body-Limit`, which
/// runitor and other clients read), that anyone may ping from a browser, and that no cache
/// may keep the answer.
fn ping_headers(headers: &mut axum::http::HeaderMap, limit: usize) {
    headers.insert(HeaderName::from_static("ping-body-limit"), HeaderValue::from(limit));
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=0, no-cache, no-store, must-revalidate, private"),
    );
}

async fn ping_answer(
    shared: &Shared,
    rest: Result<UrlPath<String>, axum::extract::rejection::PathRejection>,
    query: Result<Query<PingQuery>, axum::extract::rejection::QueryRejection>,
    request: Request,
) -> Response {
    if request.method() == Method::OPTIONS {
        // A browser's preflight: any origin may ping.
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(PING_METHODS));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        return response;
    }
    let Ok(UrlPath(rest)) = rest else {
        return error(StatusCode::NOT_FOUND, "not_found", "no routine or integration with that id");
    };
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "bad_parameter", "rid: at most one rid, as text");
    };
    if !matches!(*request.method(), Method::GET | Method::POST | Method::HEAD | Method::PUT) {
        let mut response =
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("pings take {PING_METHODS}"));
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(PING_METHODS));
        return response;
    }
    let config = shared.config();
    let mut segments: Vec<&str> = rest.split('/').collect();
    if let Some(reference) = &config.settings.ping_key {
        let expected = match crate::credentials::Credentials::new(&config.settings, &shared.workspace)
            .resolve(reference)
        {
            Ok(key) => key,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, "ping_key_unavailable", e.to_string()),
        };
        let given = if segments.is_empty() { "" } else { segments.remove(0) };
        if !constant_time_eq(given.as_bytes(), secrecy::ExposeSecret::expose_secret(&expected).as_bytes()) {
            return error(StatusCode::NOT_FOUND, "not_found", "unknown ping key or id");
        }
    }
    let (id, action) = match segments.as_slice() {
        [id] => (*id, None),
        [id, action] => (*id, Some(*action)),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                "ping paths are /ping/{id} and /ping/{id}/{action}",
            );
        }
    };
    let kind = match action {
        None | Some("") => PingKind::Success,
        Some("start") => PingKind::Start,
        Some("fail") => PingKind::Fail,
        Some("log") => PingKind::Log,
        Some(code) => match code.parse::<u16>() {
            Ok(code) if code <= 255 => PingKind::Exit(code as u8),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_action",
                    "the last segment is start, fail, log or an exit status 0-255",
                );
            }
        },
    };
    if !valid_id(id) {
        return error(StatusCode::NOT_FOUND, "not_found", "no routine or integration with that id");
    }
    let Some(key) = Engine::ping_target(&config, id) else {
        return error(StatusCode::NOT_FOUND, "not_found", format!("no routine or integration named {id}"));
    };
    let rid = query.rid.filter(|r| !r.is_empty());
    if rid.as_ref().is_some_and(|r| r.len() > 128) {
        return error(StatusCode::BAD_REQUEST, "bad_rid", "rid is at most 128 characters");
    }
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(USER_AGENT_CHARS).collect::<String>());
    // Behind a proxy the client is the first address of X-Forwarded-For, and the scheme its
    // X-Forwarded-Proto, as Healthchecks reads them.
    let (remote_addr, scheme) = {
        let forwarded = |name: &str| {
            request.headers().get(name).map(|v| {
                let text = String::from_utf8_lossy(v.as_bytes());
                text.split(',').next().unwrap_or_default().trim().chars().take(64).collect::<String>()
            })
        };
        let remote_addr = forwarded("x-forwarded-for").filter(|a| !a.is_empty()).or_else(|| {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip().to_string())
        });
        let scheme =
            forwarded("x-forwarded-proto").filter(|s| s == "https").unwrap_or_else(|| "http".to_string());
        (remote_addr, scheme)
    };
    let method = request.method().as_str().to_string();
    // The ping always counts: its first `ping_body_bytes` are kept, the rest read and dropped.
    let body = match read_capped(request.into_body(), config.settings.ping_body_bytes, PING_DRAIN_CAP).await {
        Ok(body) => body,
        Err(e) => {
            // The client went away (or stalled) mid-body: nothing was acknowledged.
            return error(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                format!("the ping body could not be read: {e}"),
            );
        }
    };
    let received = Received {
        kind,
        rid: rid.as_deref(),
        body: &body.kept,
        body_bytes: body.total,
        user_agent: user_agent.as_deref(),
        remote_addr: remote_addr.as_deref(),
        method: Some(&method),
        scheme: Some(&scheme),
    };
    let event = heartbeat_event(&key, &received, "http");
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "OK").into_response();
    if config.settings.record_pings {
        match shared.writer.append(event).await {
            Ok(stored) => {
                response.headers_mut().insert(EVENT_SEQ, HeaderValue::from(stored.seq));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record a ping");
                // The cause (a full disk) helps whoever retries; the log's path stays inside.
                let detail = match e.os_error() {
                    Some(cause) => format!("the ping could not be stored ({cause}); retry"),
                    None => "the ping could not be stored; retry".to_string(),
                };
                return error(StatusCode::SERVICE_UNAVAILABLE, "not_recorded", detail);
            }
        }
    } else {
        shared.metrics.heartbeats_total.with_label_values(&[kind.status()]).inc();
        let ping = Ping { kind, at: chrono::Utc::now(), rid, message: None };
        if shared.inputs.send(Input::Ping(key, ping)).await.is_err() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the daemon is stopping");
        }
    }
    if !body.complete {
        // The rest of an oversized body is not read; the connection cannot carry another request.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The methods a ping accepts.
const PING_METHODS: &str = "GET, POST, PUT, HEAD, OPTIONS";

/// The header of a write's answer that carries the seq of the event it stored, for
/// read-your-writes with `?min_seq=` on the state and entity routes.
pub const EVENT_SEQ: HeaderName = HeaderName::from_static("x-event-seq");

/// A request body read up to a cap.
#[derive(Debug)]
pub struct Capped {
    /// The first `keep` bytes.
    pub kept: Bytes,
    /// How many bytes were read in all.
    pub total: u64,
    /// Whether the body was read to its end (false when it went past the cap).
    pub complete: bool,
}

/// Reads a body, keeping its first `keep` bytes and reading (and dropping) the rest up to
/// `cap`: a client that writes its whole body before it reads the answer then receives the
/// answer, instead of a reset from a server that closed on unread data.
pub async fn read_capped(body: Body, keep: usize, cap: usize) -> Result<Capped, axum::Error> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if kept.len() < keep {
            let take = (keep - kept.len()).min(chunk.len());
            kept.extend_from_slice(&chunk[..take]);
        }
        total += chunk.len() as u64;
        if total > cap as u64 {
            return Ok(Capped { kept: Bytes::from(kept), total, complete: false });
        }
    }
    Ok(Capped { kept: Bytes::from(kept), total, complete: true })
}

/// A ping as it arrived, before it is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub kind: PingKind,
    pub rid: Option<&'a str>,
    /// The part of the body that is kept.
    pub body: &'a [u8],
    /// The whole body's length; more than `body` when it was cut.
    pub body_bytes: u64,
    pub user_agent: Option<&'a str>,
    /// The client's address: the first of `X-Forwarded-For` behind a proxy, else the peer's.
    pub remote_addr: Option<&'a str>,
    pub method: Option<&'a str>,
    /// `http`, or `https` when a proxy says so (`X-Forwarded-Proto`).
    pub scheme: Option<&'a str>,
}

impl<'a> Received<'a> {
    /// A ping with nothing but its kind, run id and body (the command line's).
    pub fn new(kind: PingKind, rid: Option<&'a str>, body: &'a [u8]) -> Received<'a> {
        Received {
            kind,
            rid,
            body,
            body_bytes: body.len() as u64,
            user_agent: None,
            remote_addr: None,
            method: None,
            scheme: None,
        }
    }
}

/// The `heartbeat.received` event of a ping, from HTTP or the CLI alike.
pub fn heartbeat_event(key: &crate::config::EntityKey, ping: &Received, source: &str) -> NewEvent {
    let message = match ping.kind {
        PingKind::Success => "success ping".to_string(),
        PingKind::Start => "run started".to_string(),
        PingKind::Fail => "run failed".to_string(),
        PingKind::Exit(code) => format!("exit status {code}"),
        PingKind::Log => "log".to_string(),
    };
    let mut data = serde_json::Map::new();
    if let Some(rid) = ping.rid {
        data.insert("rid".into(), rid.into());
    }
    if let PingKind::Exit(code) = ping.kind {
        data.insert("exit_code".into(), code.into());
    }
    if !ping.body.is_empty() {
        data.insert("body".into(), String::from_utf8_lossy(ping.body).into_owned().into());
    }
    if ping.body_bytes > ping.body.len() as u64 {
        data.insert("truncated".into(), true.into());
        data.insert("body_bytes".into(), ping.body_bytes.into());
    }
    for (name, value) in [
        ("user_agent", ping.user_agent),
        ("remote_addr", ping.remote_addr),
        ("method", ping.method),
        ("scheme", ping.scheme),
    ] {
        if let Some(value) = value {
            data.insert(name.into(), value.into());
        }
    }
    let event =
        NewEvent::new("heartbeat.received", source, key.kind.lower(), &key.id, ping.kind.status(), message);
    if data.is_empty() { event } else { event.with_data(serde_json::Value::Object(data)) }
}

/// Compares secrets without leaking their length of common prefix through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
