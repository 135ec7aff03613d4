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

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName};
use secrecy::ExposeSecret;
use tokio::net::TcpStream;

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
    let exchanged = if spec.target.scheme() == "http" {
        tokio::time::timeout(spec.timeout, exchange_plain(&spec.target, request)).await
    } else {
        tokio::time::timeout(spec.timeout, exchange_reqwest(&cx.http, &spec.target, request)).await
    };
    let response = match exchanged {
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

/// What is sent: the method, the headers (credentials resolved now) and the body.
struct Request {
    method: reqwest::Method,
    headers: HeaderMap,
    body: Option<String>,
}

/// The request with its headers, credentials resolved now.
fn request(spec: &HttpProbe, cx: &ProbeContext) -> Result<Request, String> {
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
    Ok(Request { method, headers, body: spec.body.clone() })
}

/// What the probe judges: the status, the headers and the start of the body.
struct Response {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The exchange over TLS, through reqwest.
async fn exchange_reqwest(
    http: &reqwest::Client,
    target: &reqwest::Url,
    request: Request,
) -> Result<Response, String> {
    let mut builder = http.request(request.method, target.clone()).headers(request.headers);
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let mut response = builder.send().await.map_err(describe)?;
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| format!("reading the body: {}", describe(e)))?
    {
        if keep(&mut body, &chunk) {
            break;
        }
    }
    Ok(Response { status, headers, body })
}

/// The exchange over plain HTTP/1.1: one connection of its own, as reqwest makes it (the
/// same request headers: `Host`, `User-Agent`, `Accept: */*`), without reqwest's layers
/// around it (redirect and retry policies that parse the URL twice per request, a
/// connection pool that is never used): they were a sixth of a probe's instructions.
async fn exchange_plain(target: &reqwest::Url, request: Request) -> Result<Response, String> {
    use reqwest::header;
    use std::future::poll_fn;
    use std::pin::Pin;

    let port = target.port_or_known_default().unwrap_or(80);
    let host = target.host_str().ok_or("the URL has no host")?;
    // An address is used as it is, a name is resolved (`[::1]` is an IPv6 address).
    let address = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let stream = TcpStream::connect((address, port)).await.map_err(|e| connect_error(&e))?;
    // Requests are sent whole at once; Nagle's algorithm would only delay a body.
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| describe_chain(&e))?;
    // The connection is driven beside the request; when the probe is done (or times out)
    // both are dropped and the socket closes.
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let _abort = AbortOnDrop(driver);

    let mut path = target.path().to_string();
    if let Some(query) = target.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut outgoing = hyper::Request::builder()
        .method(request.method)
        .uri(path)
        .body(request.body.unwrap_or_default())
        .map_err(|e| describe_chain(&e))?;
    let headers = outgoing.headers_mut();
    *headers = request.headers;
    if !headers.contains_key(header::HOST) {
        let host = match target.port() {
            Some(port) => format!("{}:{port}", target.host_str().unwrap_or_default()),
            None => target.host_str().unwrap_or_default().to_string(),
        };
        let host = header::HeaderValue::from_str(&host)
            .map_err(|_| "the URL's host is not a valid header".to_string())?;
        headers.insert(header::HOST, host);
    }
    if !headers.contains_key(header::USER_AGENT) {
        headers.insert(header::USER_AGENT, header::HeaderValue::from_static(super::USER_AGENT));
    }
    if !headers.contains_key(header::ACCEPT) {
        headers.insert(header::ACCEPT, header::HeaderValue::from_static("*/*"));
    }

    let response = sender.send_request(outgoing).await.map_err(|e| describe_chain(&e))?;
    let status = response.status().as_u16();
    let (parts, mut incoming) = response.into_parts();
    let mut body = Vec::new();
    while let Some(frame) = poll_fn(|cx| hyper::body::Body::poll_frame(Pin::new(&mut incoming), cx)).await {
        let frame = frame.map_err(|e| format!("reading the body: {}", describe_chain(&e)))?;
        if let Ok(chunk) = frame.into_data()
            && keep(&mut body, &chunk)
        {
            break;
        }
    }
    Ok(Response { status, headers: parts.headers, body })
}

/// Ends the connection's task when the probe is done with it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Appends `chunk` to `body` up to [`MAX_BODY_BYTES`]; true once the body is full (the rest
/// is never downloaded: dropping the response closes the connection).
fn keep(body: &mut Vec<u8>, chunk: &[u8]) -> bool {
    let room = MAX_BODY_BYTES - body.len();
    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    body.len() >= MAX_BODY_BYTES
}

/// A failed connect: the plain text for the common failures, else the error itself (which
/// names no host: name resolution errors do not repeat the name).
fn connect_error(error: &std::io::Error) -> String {
    match super::tcp::known_io_error(error) {
        Some(known) => known.to_string(),
        None => format!("cannot connect: {error}"),
    }
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
    describe_chain(&error.without_url())
}

/// An error and its causes as one text, or the plain text of a connection failure among them.
fn describe_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
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
        let url = format!("http://{addr}{path}");
        HttpProbe {
            target: url.parse().expect("a test URL"),
            url,
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

    /// A server that answers every request with its own head and body (the request line
    /// and the headers, lower-cased and sorted), and a header, as one line each.
    async fn echo_server(listener: tokio::net::TcpListener) -> SocketAddr {
        async fn echo(request: axum::extract::Request) -> ([(&'static str, &'static str); 1], String) {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 16).await.unwrap_or_default();
            let mut headers: Vec<String> = parts
                .headers
                .iter()
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
                .collect();
            headers.sort();
            let line = format!("{} {} {:?}", parts.method, parts.uri, parts.version);
            let text = format!("{line}\n{}\nbody {}", headers.join("\n"), String::from_utf8_lossy(&body));
            ([("x-echo", "yes")], text)
        }
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, Router::new().fallback(echo)).await });
        addr
    }

    fn echo_request() -> Request {
        let mut headers = HeaderMap::new();
        headers.insert("x-custom", reqwest::header::HeaderValue::from_static("1"));
        Request { method: reqwest::Method::POST, headers, body: Some("hello".to_string()) }
    }

    /// Plain HTTP goes over its own connection, TLS through reqwest: both send the same
    /// request (reqwest's default headers included) and read the same answer.
    #[tokio::test]
    async fn plain_exchange_sends_what_reqwest_sends() {
        let addr = echo_server(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
        let target: reqwest::Url = format!("http://{addr}/check/it?token=a&b=c#part").parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cx = crate::probe::tests::context(dir.path());
        let plain = exchange_plain(&target, echo_request()).await.expect("plain exchange");
        let through_reqwest =
            exchange_reqwest(&cx.http, &target, echo_request()).await.expect("reqwest exchange");
        let text = |r: &Response| String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(text(&plain), text(&through_reqwest));
        assert_eq!((plain.status, through_reqwest.status), (200, 200));
        assert_eq!(plain.headers.get("x-echo").map(|v| v.as_bytes()), Some(&b"yes"[..]));
        let seen = text(&plain);
        for line in [
            "POST /check/it?token=a&b=c HTTP/1.1",
            &format!("host: {addr}"),
            "accept: */*",
            &format!("user-agent: {}", crate::probe::USER_AGENT),
            "content-length: 5",
            "x-custom: 1",
            "body hello",
        ] {
            assert!(seen.lines().any(|l| l == line), "{line:?} not in {seen}");
        }
    }

    /// An IPv6 address in brackets is connected to as it is.
    #[tokio::test]
    async fn plain_exchange_reaches_an_ipv6_address() {
        let listener = tokio::net::TcpListener::bind("[::1]:0").await.expect("an IPv6 loopback to listen on");
        let addr = echo_server(listener).await;
        let target: reqwest::Url = format!("http://[::1]:{}/v6", addr.port()).parse().unwrap();
        let response = exchange_plain(&target, echo_request()).await.expect("plain exchange over IPv6");
        let seen = String::from_utf8_lossy(&response.body).into_owned();
        assert!(seen.lines().any(|l| l == format!("host: [::1]:{}", addr.port())), "{seen}");
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
        let url = "http://probe-test-host.invalid/check?token=q9s8d7f6g5h4";
        let spec = HttpProbe {
            url: url.into(),
            target: url.parse().expect("a test URL"),
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
