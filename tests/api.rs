//! The HTTP API against the real daemon on an ephemeral port: entities, events and their
//! stream, the write API's authorization and body handling, metrics, and bad input of every
//! kind answered with a JSON error instead of a panic. Also the `events` command, which reads
//! the log with the same filters.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use support::{Daemon, Workspace, run_with_timeout, wait_for};

/// How long anything here may take before it counts as a failure.
const DEADLINE: Duration = Duration::from_secs(30);

/// Two routines (one to ping, one left silent, due every second) and a protected integration
/// that is not activated, with an event of it planted in the log before the daemon starts.
fn workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.write(
        "desired/things.yaml",
        concat!(
            "kind: Routine\nid: pinged\nevery: 1h\n",
            "---\nkind: Routine\nid: silent\nevery: 1s\ngrace: 1s\n",
            "---\nkind: Integration\nid: vault\nboundary: protected\n",
        ),
    );
    workspace.write(
        "state/events.jsonl",
        concat!(
            r#"{"seq":1,"timestamp":"2026-01-01T00:00:00.000Z","type":"probe.failed","source":"test","#,
            r#""entity_type":"integration","entity_id":"vault","status":"failed","message":"must stay hidden"}"#,
            "\n"
        ),
    );
    workspace
}

/// A client without an overall timeout, for streams (reads below have their own).
fn stream_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(5)).build().expect("client")
}

async fn get(daemon: &Daemon, path: &str) -> (u16, Value) {
    let reply = daemon.get(path).await;
    let value = serde_json::from_str(&reply.body)
        .unwrap_or_else(|_| panic!("{path}: not JSON ({}): {}", reply.status, reply.body));
    (reply.status, value)
}

async fn ping(daemon: &Daemon, path: &str) {
    let reply = daemon.get(path).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
}

/// Asserts a JSON error `{error, detail}` with this status, and returns the detail.
fn assert_error(what: &str, (status, body): &(u16, Value), expected: u16) -> String {
    assert_eq!(*status, expected, "{what}: {body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {body}");
    body["detail"].as_str().unwrap_or_else(|| panic!("{what}: no detail in {body}")).to_string()
}

fn seqs(events: &Value) -> Vec<u64> {
    events.as_array().expect("array").iter().map(|e| e["seq"].as_u64().expect("seq")).collect()
}

/// The heartbeat seqs of routine/pinged in the log, oldest first.
async fn heartbeats(daemon: &Daemon) -> Vec<u64> {
    let (status, body) =
        get(daemon, "/api/v1/events?since_seq=0&type=heartbeat.received&entity=routine/pinged&limit=1000")
            .await;
    assert_eq!(status, 200, "{body}");
    seqs(&body["events"])
}

#[tokio::test]
async fn entity_route_shows_live_state_and_the_last_fifty_events() {
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    for _ in 0..60 {
        ping(&daemon, "/ping/pinged").await;
    }
    let all = heartbeats(&daemon).await;
    assert_eq!(all.len(), 60);
    let body = wait_for(DEADLINE, "routine/pinged healthy with 60 pings", async || {
        let (status, body) = get(&daemon, "/api/v1/entities/routine/pinged").await;
        (status == 200 && body["health"] == "healthy" && body["consecutive_successes"] == 60).then_some(body)
    })
    .await;
    assert_eq!(body["kind"], "routine");
    assert_eq!(body["id"], "pinged");
    let events = &body["events"];
    let got = seqs(events);
    assert_eq!(got.len(), 50, "the last 50 events");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "oldest first: {got:?}");
    assert_eq!(got.last(), all.last(), "the newest event is included");
    assert!(events.as_array().expect("array").iter().all(|e| e["entity_id"] == "pinged"));

    let (status, silent) = get(&daemon, "/api/v1/entities/routine/silent").await;
    assert_eq!(status, 200);
    assert!(silent["events"].is_array());

    for (path, why) in [
        ("/api/v1/entities/integration/vault", "protected and not activated: as if absent"),
        ("/api/v1/entities/routine/nope", "unknown id"),
        ("/api/v1/entities/widget/pinged", "unknown kind"),
        ("/api/v1/entities/healthrule/overdue", "not an entity kind"),
        ("/api/v1/entities/routine/..%2F..%2Fetc", "path traversal"),
        ("/api/v1/entities/routine/..%2F..%2F..%2Fetc%2Fpasswd", "path traversal"),
        ("/api/v1/entities/routine/%2e%2e", "dot segment"),
        ("/api/v1/entities/routine/%FF%FE", "not UTF-8"),
        ("/api/v1/entities/routine/pinged/extra", "too many segments"),
        ("/api/v1/entities/routine", "too few segments"),
    ] {
        assert_error(why, &get(&daemon, path).await, 404);
    }
    // Exactly as if it did not exist.
    let hidden = get(&daemon, "/api/v1/entities/integration/vault").await;
    let absent = get(&daemon, "/api/v1/entities/integration/vaulx").await;
    assert_eq!(hidden.1.to_string().replace("vault", "vaulx"), absent.1.to_string());
}

#[tokio::test]
async fn events_route_filters_pages_and_names_bad_parameters() {
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    for _ in 0..5 {
        ping(&daemon, "/ping/pinged").await;
    }
    ping(&daemon, "/ping/pinged/fail").await;
    let beats = heartbeats(&daemon).await;
    assert_eq!(beats.len(), 6);

    // Without a cursor: the newest `limit`, oldest first.
    let (status, body) = get(&daemon, "/api/v1/events?type=heartbeat.received&limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(seqs(&body["events"]), beats[4..]);
    // With one: the first `limit` after it, so paging walks forward.
    let (_, body) =
        get(&daemon, &format!("/api/v1/events?type=heartbeat.received&since_seq={}&limit=2", beats[1])).await;
    assert_eq!(seqs(&body["events"]), beats[2..4]);
    // Types repeat or separate by commas; entities are kind/id.
    let (_, body) =
        get(&daemon, "/api/v1/events?since_seq=0&type=heartbeat.received,config.loaded&type=nothing").await;
    let events = body["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 7, "{body}");
    let (_, body) = get(&daemon, "/api/v1/events?since_seq=0&entity=workspace/config").await;
    assert!(body["events"].as_array().expect("events").iter().all(|e| e["type"] == "config.loaded"));
    // since: a duration ago or a time.
    let (_, body) = get(&daemon, "/api/v1/events?since=1h&type=heartbeat.received").await;
    assert_eq!(seqs(&body["events"]), beats);
    let (_, body) = get(&daemon, "/api/v1/events?since=2999-01-01T00:00:00Z").await;
    assert_eq!(body["events"], serde_json::json!([]));
    // The default limit is 100.
    for _ in 0..110 {
        ping(&daemon, "/ping/pinged/log").await;
    }
    let (_, body) = get(&daemon, "/api/v1/events?since_seq=0").await;
    assert_eq!(body["events"].as_array().expect("events").len(), 100);
    let (_, body) = get(&daemon, "/api/v1/events?since_seq=0&limit=1000").await;
    let all = body["events"].as_array().expect("events");
    assert!(all.len() > 110);

    // The protected entity's planted event never shows, however it is asked for.
    assert!(all.iter().all(|e| e["entity_id"] != "vault"), "hidden event leaked");
    assert!(!seqs(&body["events"]).contains(&1));
    let (_, body) = get(&daemon, "/api/v1/events?since_seq=0&entity=integration/vault").await;
    assert_eq!(body["events"], serde_json::json!([]));
    let (_, body) = get(&daemon, "/api/v1/events?type=probe.failed").await;
    assert_eq!(body["events"], serde_json::json!([]));

    for (query, parameter) in [
        ("since_seq=-1", "since_seq"),
        ("since_seq=abc", "since_seq"),
        ("since_seq=99999999999999999999999", "since_seq"),
        ("since=yesterday", "since"),
        ("since=2026-13-45T00:00:00Z", "since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
        ("limit=lots", "limit"),
        ("entity=routine", "entity"),
        ("entity=routine/..%2F..%2Fetc", "entity"),
        ("entity=/pinged", "entity"),
        ("type=", "type"),
        ("type=%0Aevil", "type"),
        ("limit=1&limit=2", "limit"),
        ("sinceseq=4", "sinceseq"),
    ] {
        let detail = assert_error(query, &get(&daemon, &format!("/api/v1/events?{query}")).await, 400);
        assert!(detail.contains(parameter), "{query}: the detail should name {parameter}: {detail}");
    }
}

#[tokio::test]
async fn event_stream_replays_then_follows_and_resumes_after_last_event_id() {
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    for _ in 0..6 {
        ping(&daemon, "/ping/pinged").await;
    }
    let beats = heartbeats(&daemon).await;
    let wait = Duration::from_secs(10);
    let stream = |since: Option<u64>, last_event_id: Option<u64>| {
        let mut url = daemon.url("/api/v1/events/stream?type=heartbeat.received");
        if let Some(seq) = since {
            url.push_str(&format!("&since_seq={seq}"));
        }
        let mut request = stream_client().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        request.send()
    };

    // From the start of the log: replay, in order, each event framed as id/event/data.
    let response = stream(Some(0), None).await.expect("stream");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_string();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let mut reader = SseReader::new(response);
    let mut first = Vec::new();
    for _ in 0..3 {
        let event = reader.next(wait).await.expect("a replayed event");
        assert_eq!(event.event.as_deref(), Some("heartbeat.received"));
        let data: Value = serde_json::from_str(&event.data).expect("data is JSON");
        assert_eq!(data["seq"].to_string(), event.id.clone().expect("id"));
        assert_eq!(data["entity_id"], "pinged");
        first.push(event.id.expect("id").parse::<u64>().expect("seq"));
    }
    assert_eq!(first, beats[..3]);
    drop(reader);

    // Meanwhile two more; reconnecting with the last id seen gets exactly what followed it,
    // even though the URL still says since_seq=0 (the header wins, as for EventSource).
    ping(&daemon, "/ping/pinged").await;
    ping(&daemon, "/ping/pinged/fail").await;
    let beats = heartbeats(&daemon).await;
    assert_eq!(beats.len(), 8);
    let mut reader = SseReader::new(stream(Some(0), Some(first[2])).await.expect("stream"));
    let mut resumed = Vec::new();
    for _ in 0..5 {
        let event = reader.next(wait).await.expect("a resumed event");
        resumed.push(event.id.expect("id").parse::<u64>().expect("seq"));
    }
    assert_eq!(resumed, beats[3..]);
    // Then nothing (no duplicates) until something happens, which comes live.
    assert_eq!(reader.next(Duration::from_millis(700)).await, None);
    ping(&daemon, "/ping/pinged/start").await;
    let live = reader.next(wait).await.expect("a live event");
    let beats = heartbeats(&daemon).await;
    assert_eq!(live.id, Some(beats[8].to_string()));
    assert!(live.data.contains(r#""status":"start""#), "{}", live.data);
    assert_eq!(reader.next(Duration::from_millis(500)).await, None, "exactly one");

    // With no cursor: only what happens after connecting; the hidden event never. (The
    // reconciler may write events of its own meanwhile, such as `silent` turning stale and
    // its alert: any event that comes is newer than the newest stored before connecting.)
    let (_, newest) = get(&daemon, "/api/v1/events?limit=1").await;
    let stored_before = seqs(&newest["events"]).last().copied().expect("a stored event");
    let response = stream_client().get(daemon.url("/api/v1/events/stream")).send().await.expect("stream");
    let mut everything = SseReader::new(response);
    let mut replay = SseReader::new(
        stream_client().get(daemon.url("/api/v1/events/stream?since_seq=0")).send().await.expect("stream"),
    );
    let replayed = replay.next(wait).await.expect("replayed event");
    assert_ne!(replayed.id.as_deref(), Some("1"), "the protected entity's event leaked");
    assert!(!replayed.data.contains("vault"));
    ping(&daemon, "/ping/pinged").await;
    loop {
        let event = everything.next(wait).await.expect("the ping's event, live");
        let seq = event.id.expect("id").parse::<u64>().expect("seq");
        assert!(seq > stored_before, "event {seq} was stored before the stream opened");
        if event.event.as_deref() == Some("heartbeat.received") {
            assert!(seq > beats[8]);
            break;
        }
    }

    // Bad resumption points and filters are refused like on /api/v1/events.
    let bad = daemon
        .client
        .get(daemon.url("/api/v1/events/stream"))
        .header("Last-Event-ID", "x")
        .send()
        .await
        .expect("req");
    assert_eq!(bad.status(), 400);
    let (status, body) = get(&daemon, "/api/v1/events/stream?limit=0").await;
    assert_error("stream limit", &(status, body), 400);
}

/// The harness's settings (no OpenClaw collector) plus a write token reference.
const TOKEN_SETTINGS: &str = "openclaw:\n  enabled: false\napi:\n  write_token: api_write\n";

async fn reload(daemon: &Daemon, authorization: Option<&str>) -> reqwest::Response {
    let mut request = daemon.client.post(daemon.url("/api/v1/reload"));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request.send().await.expect("request")
}

async fn config_loaded_count(daemon: &Daemon) -> usize {
    let (_, body) = get(daemon, "/api/v1/events?since_seq=0&type=config.loaded").await;
    body["events"].as_array().expect("events").len()
}

#[tokio::test]
async fn write_api_needs_the_bearer_token_when_one_is_configured() {
    let workspace = workspace();
    workspace.write("mission-control.yaml", TOKEN_SETTINGS);
    let token = "correct-horse-battery-staple";
    let daemon = Daemon::start_with(&workspace, "127.0.0.1:0", &[("MC_CRED_API_WRITE", token)]).await;
    let before = config_loaded_count(&daemon).await;

    for (authorization, code) in [
        (None, "unauthorized"),
        (Some("Bearer wrong-token"), "invalid_token"),
        (Some("Bearer correct-horse-battery-stapl"), "invalid_token"),
        (Some("Bearer correct-horse-battery-staple-and-more"), "invalid_token"),
        (Some("Bearer "), "unauthorized"),
        (Some("Basic Y29ycmVjdA=="), "unauthorized"),
        (Some(token), "unauthorized"),
    ] {
        let response = reload(&daemon, authorization).await;
        assert_eq!(response.status(), 401, "{authorization:?}");
        let challenge = response.headers()["www-authenticate"].to_str().expect("ascii").to_string();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
        assert_eq!(body["error"], code, "{authorization:?}: {body}");
        assert!(!body.to_string().contains(token));
    }
    assert_eq!(config_loaded_count(&daemon).await, before, "no reload without the token");

    let response = reload(&daemon, Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), 202);
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
    assert_eq!(body["status"], "accepted");
    wait_for(DEADLINE, "a config.loaded event from the reload", async || {
        (config_loaded_count(&daemon).await > before).then_some(())
    })
    .await;
    // The scheme is case-insensitive, as RFC 7235 says.
    assert_eq!(reload(&daemon, Some(&format!("bearer {token}"))).await.status(), 202);
}

#[tokio::test]
async fn write_api_with_an_unresolvable_token_refuses_writes() {
    let workspace = workspace();
    workspace.write("mission-control.yaml", TOKEN_SETTINGS);
    let daemon = Daemon::start(&workspace).await;
    let response = reload(&daemon, Some("Bearer anything")).await;
    assert_eq!(response.status(), 503);
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
    assert!(body["detail"].as_str().expect("detail").contains("MC_CRED_API_WRITE"), "{body}");
}

#[tokio::test]
async fn write_api_without_a_token_is_served_on_loopback_only() {
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    let before = config_loaded_count(&daemon).await;
    assert_eq!(reload(&daemon, None).await.status(), 202);
    wait_for(DEADLINE, "a config.loaded event from the reload", async || {
        (config_loaded_count(&daemon).await > before).then_some(())
    })
    .await;
    drop(daemon);

    let public = Daemon::start_with(&workspace, "0.0.0.0:0", &[]).await;
    let response = reload(&public, None).await;
    assert_eq!(response.status(), 403);
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
    assert_eq!(body["error"], "write_api_disabled");
    assert!(body["detail"].as_str().expect("detail").contains("api.write_token"), "{body}");
    // Reads stay open.
    assert_eq!(get(&public, "/api/v1/events").await.0, 200);
}

#[tokio::test]
async fn write_bodies_are_bounded_json() {
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    let post = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut request = daemon.client.post(daemon.url("/api/v1/reload")).body(body);
        if let Some(t) = content_type {
            request = request.header("Content-Type", t);
        }
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
            (status, body)
        }
    };
    let json = Some("application/json");
    assert_eq!(post(b"{}".to_vec(), json).await.0, 202);
    assert_eq!(post(Vec::new(), None).await.0, 202, "no body at all");
    assert_eq!(post(b"{}".to_vec(), Some("application/json; charset=utf-8")).await.0, 202);
    for (body, content_type, status, code) in [
        (b"{bad".to_vec(), json, 400, "bad_json"),
        (b"{".to_vec(), json, 400, "bad_json"),
        (vec![0xff, 0xfe, b'{'], json, 400, "bad_json"),
        (b"[]".to_vec(), json, 400, "invalid_body"),
        (b"{\"unknown\": 1}".to_vec(), json, 400, "invalid_body"),
        (b"{}".to_vec(), Some("text/plain"), 415, "unsupported_media_type"),
        (b"a=1".to_vec(), Some("application/x-www-form-urlencoded"), 415, "unsupported_media_type"),
        (format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024)).into_bytes(), json, 413, "body_too_large"),
        (format!("{}{{}}", " ".repeat(65 * 1024)).into_bytes(), json, 413, "body_too_large"),
        ("[".repeat(100_000).into_bytes(), json, 413, "body_too_large"),
        (format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes(), json, 400, "invalid_body"),
        (
            format!("{{\"a\":{}1{}}}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes(),
            json,
            400,
            "invalid_body",
        ),
    ] {
        let what = String::from_utf8_lossy(&body[..body.len().min(20)]).into_owned();
        let answer = post(body, content_type).await;
        assert_error(&what, &answer, status);
        assert_eq!(answer.1["error"], code, "{what}");
    }
    // A declared length far past anything read is refused before the body is read.
    let response = raw(
        daemon.addr,
        "POST /api/v1/reload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n{}",
    )
    .expect("raw");
    assert_eq!(response.status, 413, "{response:?}");
    assert!(response.body.contains("body_too_large"), "{response:?}");
    // Wrong methods are JSON errors too.
    let (status, body) = get(&daemon, "/api/v1/reload").await;
    assert_error("GET reload", &(status, body), 405);
}

#[tokio::test]
async fn bad_input_gets_a_json_error_and_the_daemon_keeps_serving() {
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    let send = |method: reqwest::Method, path: &str| {
        let request = daemon.client.request(method, daemon.url(path));
        async move {
            let response = request.send().await.expect("an answer, not a dropped connection");
            let status = response.status().as_u16();
            let text = response.text().await.expect("body");
            (
                status,
                serde_json::from_str::<Value>(&text)
                    .unwrap_or_else(|_| panic!("not JSON ({status}): {text}")),
            )
        }
    };
    use reqwest::Method;
    for (method, path, status) in [
        (Method::GET, "/nope", 404),
        (Method::GET, "/api/v1", 404),
        (Method::GET, "/api/v2/events", 404),
        (Method::GET, "/api/v1/entities", 404),
        (Method::GET, "/../../etc/passwd", 404),
        (Method::GET, "/%2e%2e/%2e%2e/etc/passwd", 404),
        (Method::GET, "/ping/x/999", 400),
        (Method::GET, "/ping/pinged/999", 400),
        (Method::GET, "/ping/pinged/256", 400),
        (Method::GET, "/ping/pinged/-1", 400),
        (Method::GET, "/ping/pinged/1.5", 400),
        (Method::GET, "/ping/pinged/0/extra", 404),
        (Method::GET, "/ping/nope", 404),
        (Method::GET, "/ping/vault", 404),
        (Method::GET, "/ping/..%2F..%2Fetc", 404),
        (Method::GET, "/ping/%FF", 404),
        (Method::GET, "/ping/pinged?rid=a&rid=b", 400),
        (Method::DELETE, "/ping/pinged", 405),
        (Method::DELETE, "/healthz", 405),
        (Method::POST, "/metrics", 405),
        (Method::PUT, "/api/v1/state", 405),
        (Method::POST, "/api/v1/events", 405),
        (Method::DELETE, "/api/v1/events/stream", 405),
        (Method::POST, "/api/v1/entities/routine/pinged", 405),
        (Method::GET, "/api/v1/nothing-here", 404),
        (Method::GET, "/api/v1/events?since_seq=%FF", 400),
    ] {
        let answer = send(method.clone(), path).await;
        assert_error(&format!("{method} {path}"), &answer, status);
    }
    // A large ping body still counts (its first 100 kB are kept), and a request line no
    // client would send.
    let response = daemon
        .client
        .post(daemon.url("/ping/pinged"))
        .body(vec![b'x'; 200_000])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let response = raw(
        daemon.addr,
        "GET /api/v1/entities/routine/\u{1}\u{7f} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("raw");
    assert!((400..500).contains(&response.status), "{response:?}");
    // Still alive and well.
    assert_eq!(daemon.client.get(daemon.url("/healthz")).send().await.expect("healthz").status(), 200);
    assert!(!daemon.stderr().contains("panicked"), "{}", daemon.stderr());
}

#[tokio::test]
async fn metrics_route_lists_every_spec_metric() {
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    ping(&daemon, "/ping/pinged").await;
    let text = wait_for(DEADLINE, "pinged healthy in /metrics", async || {
        let response = daemon.client.get(daemon.url("/metrics")).send().await.expect("metrics");
        let content_type = response.headers()["content-type"].to_str().expect("ascii").to_string();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        let text = response.text().await.expect("text");
        text.contains(
            r#"mission_control_entity_health{entity_id="pinged",entity_type="routine",level="healthy"} 1"#,
        )
        .then_some(text)
    })
    .await;
    for metric in [
        "entity_health",
        "entity_last_signal_timestamp_seconds",
        "overall_health",
        "probe_duration_seconds",
        "probes_total",
        "heartbeats_total",
        "events_total",
        "alerts_firing",
        "notifications_total",
        "reconcile_duration_seconds",
        "config_last_reload_successful",
        "config_last_reload_success_timestamp_seconds",
        "tokens_total",
        "estimated_cost_total",
        "inbox_items",
        "tasks",
        "build_info",
    ] {
        assert!(text.contains(&format!("# TYPE mission_control_{metric} ")), "{metric} missing:\n{text}");
    }
    assert!(text.contains(r#"mission_control_heartbeats_total{kind="success"} 1"#), "{text}");
    assert!(!text.contains("vault"), "a protected entity has series:\n{text}");
}

fn run_events(workspace: &Workspace, args: &[&str]) -> Vec<Value> {
    let mut command = workspace.cli();
    command.arg("events").arg("--json").args(args);
    let out = run_with_timeout(command, DEADLINE);
    assert!(out.status.success(), "events {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn events_command_filters_like_the_api_and_follows() {
    let root = workspace();
    let root = &root;
    for args in
        [&["ping", "pinged"][..], &["ping", "pinged", "--fail"], &["ping", "silent"], &["ping", "pinged"]]
    {
        let mut command = root.cli();
        command.args(args);
        let out = run_with_timeout(command, DEADLINE);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let all = run_events(root, &[]);
    assert_eq!(all.len(), 4, "the protected entity's event is not shown: {all:?}");
    let pinged = run_events(root, &["--entity", "routine/pinged", "--type", "heartbeat.received"]);
    assert_eq!(
        pinged.iter().map(|e| e["status"].as_str().expect("status")).collect::<Vec<_>>(),
        ["success", "fail", "success"]
    );
    let newest = run_events(root, &["--limit", "2"]);
    assert_eq!(newest.iter().map(|e| e["seq"].as_u64().expect("seq")).collect::<Vec<_>>(), [4, 5]);
    let first = run_events(root, &["--since", "1h", "--limit", "2"]);
    assert_eq!(first.iter().map(|e| e["seq"].as_u64().expect("seq")).collect::<Vec<_>>(), [2, 3]);
    assert!(run_events(root, &["--entity", "integration/vault"]).is_empty());
    assert!(run_events(root, &["--since", "2999-01-01T00:00:00Z"]).is_empty());
    for bad in [&["--entity", "routine"][..], &["--entity", "routine/../x"], &["--since", "yesterday"]] {
        let mut command = root.cli();
        command.arg("events").args(bad);
        let out = run_with_timeout(command, DEADLINE);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }

    // --follow prints what is written after it started.
    let mut follower = root
        .cli()
        .args(["events", "--json", "--follow", "--type", "heartbeat.received"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("follow");
    let stdout = follower.stdout.take().expect("stdout");
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    for _ in 0..4 {
        let line = lines.recv_timeout(DEADLINE).expect("the existing events");
        assert!(line.contains("heartbeat.received"));
    }
    let out = root.cli_ping("silent", &["--exit", "3"]);
    assert!(out.status.success());
    let line = lines.recv_timeout(DEADLINE).expect("the new event");
    let event: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(event["entity_id"], "silent");
    assert_eq!(event["data"]["exit_code"], 3);
    let _ = follower.kill();
    let _ = follower.wait();
}

/// A response read off a raw connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    body: String,
}

/// Sends `request` as bytes (for requests an HTTP client would refuse to send) and reads the
/// response until the server closes the connection.
fn raw(addr: SocketAddr, request: &str) -> std::io::Result<RawResponse> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    stream.write_all(request.as_bytes())?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(RawResponse { status, body: body.to_string() })
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// Reads server-sent events off a streaming response.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    fn new(response: reqwest::Response) -> SseReader {
        SseReader { response, buffer: String::new() }
    }

    /// The next event (comments skipped), or `None` when none comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent { id: None, event: None, data: String::new() };
                let mut any = false;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.event = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        event.data.push_str(v.trim_start());
                    } else {
                        continue;
                    }
                    any = true;
                }
                if any {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?;
            match chunk.expect("stream readable") {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => return None,
            }
        }
    }
}

/// A ping whose body stalls is cut off after ten seconds with a JSON 408 that carries the
/// ping headers, like every ping answer, and nothing is stored.
#[tokio::test]
async fn a_stalled_ping_body_is_answered_408_in_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    let mut stream = tokio::net::TcpStream::connect(daemon.addr).await.expect("connect");
    stream
        .write_all(b"POST /ping/pinged HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nfirst ten.")
        .await
        .expect("send the start of a ping");
    let asked = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            if String::from_utf8_lossy(&answer).contains("}") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within {DEADLINE:?}");
    let waited = asked.elapsed();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("ping-body-limit:"), "{answer}");
    let body: Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default()).expect("JSON");
    assert_eq!(body["error"], "request_timeout", "{body}");
    assert!(waited >= Duration::from_secs(9), "cut after {waited:?}, before its ten seconds");
    // A fresh connection: the test client's pooled one idled past the daemon's ten seconds.
    let url = format!(
        "http://{}/api/v1/events?since_seq=0&type=heartbeat.received&entity=routine/pinged",
        daemon.addr
    );
    let events = stream_client().get(url).send().await.expect("events").text().await.expect("a body");
    let events: Value = serde_json::from_str(&events).expect("JSON");
    assert_eq!(events["events"], serde_json::json!([]), "a ping that never arrived was stored");
}
