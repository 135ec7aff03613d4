//! The `http` probe: one request, and success when every expectation holds: the status lies
//! in one of the expected ranges (default 200-399), the body contains `body_contains`, and the
//! `condition` holds.
//!
//! Redirects are not followed (the client is built that way): a 302 is judged by its own
//! status. Credential headers are resolved at every run, so a rotated secret is picked up
//! without a reload and a missing one fails this probe only. At most 1 MiB of the body is
//! read; the rest is never downloaded. The timeout covers the whole exchange, body included.
//!
//! # Condition fields
//!
//! | field | value |
//! | --- | --- |
//! | `status` | the status code, a number |
//! | `body` | the first 64 KiB of the body, a string (invalid UTF-8 replaced) |
//! | `latency` | from the start of the request until the body was read, a duration |
//! | `headers.<name>` | a response header, a string (repeated headers joined with `, `); names are case-insensitive and, since paths cannot hold `-`, `_` stands for `-`: `headers.content_type` |

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName};
use secrecy::ExposeSecret;

use super::{ProbeContext, Started, timeout_error};
use crate::condition::Value;
use crate::config::{HeaderValue, HttpProbe};
use crate::state::Observation;

/// The most of a body that is read.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most of a body that a condition sees as `body`.
const CONDITION_BODY_BYTES: usize = 64 * 1024;
/// The status ranges when none are given.
const DEFAULT_STATUS: &[(u16, u16)] = &[(200, 399)];

pub(super) async fn run(spec: &HttpProbe, cx: &ProbeContext) -> Observation {
    let started = Started::now();
    let request = match request(spec, cx) {
        Ok(request) => request,
        Err(error) => return started.finish("http", Some(error)),
    };
    let response = match tokio::time::timeout(spec.timeout, exchange(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return started.finish("http", Some(error)),
        Err(_elapsed) => return started.finish("http", Some(timeout_error(spec.timeout))),
    };
    let latency = started.elapsed();
    let mut observation = started.finish("http", judge(spec, &response, latency));
    observation.latency_seconds = Some(latency.as_secs_f64());
    observation.status = Some(response.status);
    observation
}

/// The request with its headers, credentials resolved now.
fn request(spec: &HttpProbe, cx: &ProbeContext) -> Result<reqwest::RequestBuilder, String> {
    let method = reqwest::Method::from_bytes(spec.method.as_bytes())
        .map_err(|_| format!("bad method {:?}", spec.method))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &spec.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("bad header name {name:?}"))?;
        let value = match value {
            HeaderValue::Literal(text) => reqwest::header::HeaderValue::from_str(text)
                .map_err(|_| format!("header {name}: not a valid header value"))?,
            HeaderValue::Credential { credential, format } => {
                let secret = cx.credentials.resolve(credential).map_err(|e| e.to_string())?;
                let mut value =
                    reqwest::header::HeaderValue::from_str(&format.replace("{}", secret.expose_secret()))
                        .map_err(|_| {
                            format!(
                                "header {name}: credential {credential} does not make a valid header value"
                            )
                        })?;
                // Keeps the value out of Debug output and HTTP/2 header compression tables.
                value.set_sensitive(true);
                value
            }
        };
        headers.append(name, value);
    }
    let request = cx.http.request(method, &spec.url).headers(headers);
    Ok(match &spec.body {
        Some(body) => request.body(body.clone()),
        None => request,
    })
}

/// What the probe judges: the status, the headers and the start of the body.
struct Response {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn exchange(request: reqwest::RequestBuilder) -> Result<Response, String> {
    let mut response = request.send().await.map_err(describe)?;
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| format!("reading the body: {}", describe(e)))?
    {
        let room = MAX_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY_BYTES {
            // Dropping the response closes the connection; the rest is never downloaded.
            break;
        }
    }
    Ok(Response { status, headers, body })
}

/// The first expectation that does not hold, as an error text.
fn judge(spec: &HttpProbe, response: &Response, latency: Duration) -> Option<String> {
    let ranges = if spec.status.is_empty() { DEFAULT_STATUS } else { &spec.status[..] };
    let status = response.status;
    if !ranges.iter().any(|&(low, high)| (low..=high).contains(&status)) {
        return Some(format!("status {status} not in {}", describe_ranges(ranges)));
    }
    if let Some(needle) = &spec.body_contains
        && !String::from_utf8_lossy(&response.body).contains(needle.as_str())
    {
        return Some(format!("body does not contain {needle:?}"));
    }
    if let Some(condition) = &spec.condition {
        let body = String::from_utf8_lossy(&response.body[..response.body.len().min(CONDITION_BODY_BYTES)]);
        let fields = |path: &str| -> Value {
            match path {
                "status" => Value::Number(f64::from(status)),
                "body" => Value::String(body.clone().into_owned()),
                "latency" => Value::Duration(latency),
                _ => {
                    path.strip_prefix("headers.").map_or(Value::Null, |name| header(&response.headers, name))
                }
            }
        };
        if !condition.eval(&fields) {
            return Some(format!("condition failed: {}", condition.source()));
        }
    }
    None
}

/// `headers.<name>`: the name as written, else with `_` read as `-`; case-insensitive.
fn header(headers: &HeaderMap, name: &str) -> Value {
    let name = name.to_ascii_lowercase();
    let mut values = headers.get_all(name.as_str()).iter().peekable();
    if values.peek().is_none() {
        values = headers.get_all(name.replace('_', "-").as_str()).iter().peekable();
    }
    let joined: Vec<String> = values.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
    if joined.is_empty() { Value::Null } else { Value::String(joined.join(", ")) }
}

/// `200-399`, `200, 404`.
fn describe_ranges(ranges: &[(u16, u16)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(low, high)| if low == high { low.to_string() } else { format!("{low}-{high}") })
        .collect();
    parts.join(", ")
}

/// A short error text without the URL (it may carry a token); the connection failures an
/// operator sees most get a plain text, anything else the whole chain of causes.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = cause {
        if let Some(known) = e.downcast_ref::<std::io::Error>().and_then(super::tcp::known_io_error) {
            return known.to_string();
        }
        cause = e.source();
    }
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let next = e.to_string();
        // hyper and reqwest sometimes repeat the inner message in the outer one.
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap as AxumHeaders, Method, StatusCode, header};
    use axum::routing::{any, get};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::condition::Condition;

    /// What the test server saw: method, Authorization header and body of each `/auth` call.
    type Seen = Arc<Mutex<Vec<String>>>;

    async fn server() -> (SocketAddr, Seen) {
        async fn auth(
            State(seen): State<Seen>,
            method: Method,
            headers: AxumHeaders,
            body: String,
        ) -> &'static str {
            let authorization =
                headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
            seen.lock().unwrap().push(format!("{method} {authorization} {body}"));
            "authorized"
        }
        let seen = Seen::default();
        let app = Router::new()
            .route("/ok", get(|| async { ([("x-probe", "yes"), ("x-multi", "a")], "all ok here") }))
            .route("/fail", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
            .route("/redirect", get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/fail")], "") }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    "late"
                }),
            )
            .route("/auth", any(auth))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, seen)
    }

    fn probe(addr: SocketAddr, path: &str) -> HttpProbe {
        HttpProbe {
            url: format!("http://{addr}{path}"),
            method: "GET".to_string(),
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(10),
            status: vec![(200, 399)],
            body_contains: None,
            condition: None,
        }
    }

    async fn check(spec: &HttpProbe) -> Observation {
        let dir = tempfile::tempdir().unwrap();
        let cx = crate::probe::tests::context(dir.path());
        crate::probe::run(&crate::config::Probe::Http(Box::new(spec.clone())), &cx)
            .await
            .expect("http is pulled")
    }

    #[tokio::test]
    async fn ok_response_succeeds() {
        let (addr, _) = server().await;
        let observation = check(&probe(addr, "/ok")).await;
        assert_eq!(observation.kind, "http");
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
        assert_eq!(observation.status, Some(200));
        assert!(observation.error.is_none());
        assert!(observation.latency_seconds.is_some_and(|l| l >= 0.0));
    }

    #[tokio::test]
    async fn server_error_fails_with_its_status() {
        let (addr, _) = server().await;
        let observation = check(&probe(addr, "/fail")).await;
        assert_eq!(observation.ok, Some(false));
        assert_eq!(observation.status, Some(500));
        assert_eq!(observation.error.as_deref(), Some("status 500 not in 200-399"));

        let spec = HttpProbe { status: vec![(200, 299), (500, 500)], ..probe(addr, "/fail") };
        assert_eq!(check(&spec).await.ok, Some(true));
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (addr, _) = server().await;
        let observation = check(&probe(addr, "/redirect")).await;
        assert_eq!(observation.status, Some(302));
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);

        let spec = HttpProbe { status: vec![(200, 200), (204, 204)], ..probe(addr, "/redirect") };
        let observation = check(&spec).await;
        assert_eq!(observation.ok, Some(false));
        assert_eq!(observation.error.as_deref(), Some("status 302 not in 200, 204"));
    }

    #[tokio::test]
    async fn body_must_contain() {
        let (addr, _) = server().await;
        let spec = HttpProbe { body_contains: Some("ok here".into()), ..probe(addr, "/ok") };
        assert_eq!(check(&spec).await.ok, Some(true));
        let spec = HttpProbe { body_contains: Some("healthy".into()), ..probe(addr, "/ok") };
        let observation = check(&spec).await;
        assert_eq!(observation.ok, Some(false));
        assert_eq!(observation.error.as_deref(), Some("body does not contain \"healthy\""));
    }

    #[tokio::test]
    async fn condition_sees_status_body_latency_and_headers() {
        let (addr, _) = server().await;
        let holds = [
            "status == 200",
            "body contains 'all ok'",
            "latency < 10s",
            "headers.x_probe == 'yes'",
            "headers.X_PROBE == 'yes'",
            "headers.content_type contains 'text/plain'",
            "headers.absent == null",
        ];
        for source in holds {
            let spec = HttpProbe { condition: Some(Condition::parse(source).unwrap()), ..probe(addr, "/ok") };
            let observation = check(&spec).await;
            assert_eq!(observation.ok, Some(true), "{source}: {:?}", observation.error);
        }
        let source = "status == 200 and latency > 1h";
        let spec = HttpProbe { condition: Some(Condition::parse(source).unwrap()), ..probe(addr, "/ok") };
        let observation = check(&spec).await;
        assert_eq!(observation.ok, Some(false));
        assert_eq!(observation.error, Some(format!("condition failed: {source}")));
    }

    #[tokio::test]
    async fn slow_response_times_out() {
        let (addr, _) = server().await;
        let spec = HttpProbe { timeout: Duration::from_millis(300), ..probe(addr, "/slow") };
        let begun = std::time::Instant::now();
        let observation = check(&spec).await;
        assert!(begun.elapsed() < Duration::from_secs(3), "took {:?}", begun.elapsed());
        assert_eq!(observation.ok, Some(false));
        assert_eq!(observation.error.as_deref(), Some("timeout after 300ms"));
        assert_eq!(observation.status, None);
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let observation = check(&probe(addr, "/ok")).await;
        assert_eq!(observation.ok, Some(false));
        assert_eq!(observation.error.as_deref(), Some("connection refused"));
    }

    #[tokio::test]
    async fn errors_never_show_the_url() {
        let spec = HttpProbe {
            url: "http://probe-test-host.invalid/check?token=q9s8d7f6g5h4".into(),
            timeout: Duration::from_secs(3),
            ..probe(SocketAddr::from(([127, 0, 0, 1], 9)), "/")
        };
        let observation = check(&spec).await;
        assert_eq!(observation.ok, Some(false));
        let error = observation.error.unwrap();
        assert!(!error.contains("q9s8d7f6g5h4") && !error.contains("probe-test-host"), "{error}");
    }

    #[tokio::test]
    async fn credential_header_is_resolved_from_the_environment() {
        let (addr, seen) = server().await;
        // SAFETY: std serialises its own environment access; the name is unique to this test.
        unsafe { std::env::set_var("MC_CRED_PROBE_TEST_TOKEN_1", "tok-probe-test-1-a8f3k2") };
        let spec = HttpProbe {
            method: "POST".into(),
            headers: vec![(
                "Authorization".into(),
                HeaderValue::Credential {
                    credential: "probe_test_token_1".into(),
                    format: "Bearer {}".into(),
                },
            )],
            body: Some("hello".into()),
            ..probe(addr, "/auth")
        };
        let observation = check(&spec).await;
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
        assert_eq!(*seen.lock().unwrap(), ["POST Bearer tok-probe-test-1-a8f3k2 hello"]);
        assert_eq!(crate::redact::redact("x tok-probe-test-1-a8f3k2"), "x [REDACTED]");
    }

    #[tokio::test]
    async fn missing_credential_fails_the_probe_only() {
        let (addr, seen) = server().await;
        let spec = HttpProbe {
            headers: vec![(
                "Authorization".into(),
                HeaderValue::Credential {
                    credential: "probe_test_missing_2".into(),
                    format: "Bearer {}".into(),
                },
            )],
            ..probe(addr, "/auth")
        };
        let observation = check(&spec).await;
        assert_eq!(observation.ok, Some(false));
        let error = observation.error.unwrap();
        assert!(error.starts_with("credential probe_test_missing_2: not set"), "{error}");
        assert!(seen.lock().unwrap().is_empty(), "no request is sent without its credential");
    }

    #[tokio::test]
    async fn endless_body_is_cut_at_one_mebibyte() {
        // A raw server that answers with a body that never ends.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nstart ";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'z'; 64 * 1024];
            while socket.write_all(&chunk).await.is_ok() {}
        });
        let spec = HttpProbe {
            body_contains: Some("start".into()),
            condition: Some(Condition::parse("body contains 'zzz'").unwrap()),
            ..probe(addr, "/")
        };
        let begun = std::time::Instant::now();
        let observation = check(&spec).await;
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
        assert!(begun.elapsed() < Duration::from_secs(5), "took {:?}", begun.elapsed());
    }

    #[test]
    fn ranges_read_naturally() {
        assert_eq!(describe_ranges(&[(200, 399)]), "200-399");
        assert_eq!(describe_ranges(&[(200, 200), (404, 404), (500, 599)]), "200, 404, 500-599");
    }
}
