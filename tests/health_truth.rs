//! Health that never lies, against the real binary: the default health rules apply whatever a
//! workspace's `rules/` holds; a failed observation is never `healthy`, nor is an output whose
//! file is missing; a ping always counts, whatever its body and however its client sends it; a
//! reader sees its own write; and the command line sits at the top of the program.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// How long a change driven by timers or probes may take on a noisy machine.
const EVENTUALLY: Duration = Duration::from_secs(20);

fn webhook_rules(url: &str) -> String {
    format!(
        "kind: AlertRule\nid: page-me\nmatch:\n  level: [stale, failed]\nreceivers: [hook]\n---\n\
         kind: Receiver\nid: hook\nwebhook:\n  url: \"{url}\"\nretry: {{initial: 200ms, max: 1s, give_up_after: 5m}}\n"
    )
}

/// The `health.changed` events of one entity, as `(from, to)`.
fn transitions(workspace: &Workspace, kind: &str, id: &str) -> Vec<(String, String)> {
    workspace
        .events(Tail::MayBeTorn)
        .iter()
        .filter(|e| is_event(e, "health.changed", kind, id))
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (text(&e["data"]["from"]), text(&e["data"]["to"]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_with_only_alert_rules_still_goes_stale_and_pages() {
    let hook = RecordingServer::start(200, "ok");
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("silent", "1s", "1s", ""));
    workspace.write("rules/alerts.yaml", &webhook_rules(&hook.url("/hook")));
    let daemon = Daemon::start(&workspace).await;

    let entity = daemon.wait_health("routine", "silent", "stale", EVENTUALLY).await;
    assert_eq!(entity["reason"], "Overdue", "{entity:#}");
    let notice = wait_for(EVENTUALLY, "the webhook's firing notice", async || {
        hook.requests().into_iter().find(|r| r.json()["status"] == "firing")
    })
    .await;
    assert_eq!(notice.json()["alert"]["entity_id"], "silent");
    assert_eq!(notice.json()["alert"]["level"], "stale");
    drop(daemon);

    // `validate` shows the rules in effect and where they come from.
    let out = workspace.cli().arg("validate").output().expect("validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let overdue = stdout.lines().find(|l| l.trim_start().starts_with("overdue ")).unwrap_or_default();
    assert!(overdue.contains("stale") && overdue.ends_with("built in"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_defaults_off_a_silent_routine_stays_unknown() {
    let hook = RecordingServer::start(200, "ok");
    let workspace = Workspace::new();
    workspace.write("mission-control.yaml", "health:\n  defaults: false\n");
    workspace.write("desired/routines.yaml", &routine("silent", "1s", "1s", ""));
    workspace.write("rules/alerts.yaml", &webhook_rules(&hook.url("/hook")));
    let daemon = Daemon::start(&workspace).await;

    let started = std::time::Instant::now();
    // Past three deadlines: the default rules would have made it stale long before.
    while started.elapsed() < Duration::from_secs(4) {
        let entity = daemon.wait_entity("routine", "silent", EVENTUALLY).await;
        assert_eq!(entity["health"], "unknown", "{entity:#}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(hook.requests().is_empty(), "nothing to page about: {:?}", hook.requests());
    drop(daemon);
    let out = workspace.cli().arg("validate").output().expect("validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("health rules in effect: none"), "{stdout}");
}

#[test]
fn a_workspace_rule_replaces_the_default_with_its_id_and_why_says_where_each_comes_from() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("nightly", "1h", "5m", ""));
    workspace.write(
        "rules/health.yaml",
        "# Late is worse here.\nkind: HealthRule\nid: overdue\nmatch:\n  kind: [routine]\nwhen: overdue\n\
         level: failed\nreason: Overdue\nmessage: late\n",
    );
    let out = workspace.cli().args(["why", "routine/nightly"]).output().expect("why");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let line = |rule: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("] {rule} ->")))
            .unwrap_or_else(|| panic!("no line for {rule}:\n{stdout}"))
            .to_string()
    };
    let overdue = line("overdue");
    assert!(overdue.contains("-> failed"), "the workspace's level: {overdue}");
    assert!(overdue.contains("(rules/health.yaml:3, replacing the built-in default)"), "{overdue}");
    assert!(line("run-failed").contains("(built in)"), "{stdout}");
    assert_eq!(stdout.matches("] overdue ->").count(), 1, "replaced, not added: {stdout}");

    for command in [&["validate"][..], &["plan"][..]] {
        let out = workspace.cli().args(command).output().expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command:?}: {stdout}");
        assert!(
            stdout.contains("rules/health.yaml:3, replacing the built-in default"),
            "{command:?}: {stdout}"
        );
        assert!(stdout.contains("built in"), "{command:?}: {stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_probes_below_the_threshold_are_a_warning_and_never_healthy() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let workspace = Workspace::new();
    workspace.write(
        "desired/integrations.yaml",
        &format!(
            "kind: Integration\nid: gateway\nevery: 1s\nfailure_threshold: 3\nobserve:\n  tcp:\n    address: \"{closed}\"\n    timeout: 1s\n"
        ),
    );
    let daemon = Daemon::start(&workspace).await;
    let warning = daemon.wait_health("integration", "gateway", "warning", EVENTUALLY).await;
    assert_eq!(warning["reason"], "Degraded", "{warning:#}");
    assert!(warning["message"].as_str().unwrap_or_default().contains("of 3 failed probes"), "{warning:#}");
    assert_eq!(warning["evidence"]["ok"], false, "{warning:#}");
    let failed = daemon.wait_health("integration", "gateway", "failed", EVENTUALLY).await;
    assert_eq!(failed["reason"], "ProbeFailing", "{failed:#}");
    assert_eq!(
        transitions(&workspace, "integration", "gateway"),
        [("unknown".to_string(), "warning".to_string()), ("warning".to_string(), "failed".to_string())],
        "unknown -> warning -> failed, never healthy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_whose_file_is_missing_is_unknown_then_stale_never_healthy() {
    let workspace = Workspace::new();
    workspace.write(
        "desired/outputs.yaml",
        "kind: Output\nid: report\nlocation: out/report-*.txt\nmax_age: 3s\ngrace: 1s\n",
    );
    let daemon = Daemon::start(&workspace).await;
    let waiting = wait_for(EVENTUALLY, "the first file probe", async || {
        let state = daemon.state().await;
        let output = entity_in(&state, "output", "report")?;
        (!output["last"].is_null()).then_some(output)
    })
    .await;
    assert_eq!(
        (waiting["health"].as_str(), waiting["reason"].as_str()),
        (Some("unknown"), Some("NoOutcome")),
        "{waiting:#}"
    );
    assert_eq!(waiting["message"], "no file matches out/report-*.txt yet", "{waiting:#}");
    daemon.wait_health("output", "report", "stale", EVENTUALLY).await;
    workspace.write("out/report-1.txt", "done\n");
    let healthy = daemon.wait_health("output", "report", "healthy", EVENTUALLY).await;
    assert_eq!(healthy["message"], "out/report-1.txt, 5 bytes", "{healthy:#}");
    assert_eq!(
        transitions(&workspace, "output", "report"),
        [("unknown".to_string(), "stale".to_string()), ("stale".to_string(), "healthy".to_string())],
        "no file is never healthy"
    );
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let answer = client.get(url).send().await.expect("request");
    let status = answer.status();
    let text = answer.text().await.expect("body");
    assert_eq!(status, 200, "{url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
}

/// Sends a whole request (head and body) before reading a byte of the answer, as Python's
/// urllib and many HTTP libraries do, and returns the status line, headers and body.
fn send_all_then_read(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, Vec<(String, String)>, String) {
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    stream.set_write_timeout(Some(Duration::from_secs(30))).expect("timeout");
    stream.write_all(head.as_bytes()).expect("the head is written");
    stream.write_all(body).expect("the whole body is written before the answer is read");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("the answer, not a reset");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_megabyte_ping_counts_and_keeps_its_first_100_kb() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("chatty", "1h", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    let body: Vec<u8> = (0..5_000_000u32).map(|i| b"0123456789abcdef"[(i % 16) as usize]).collect();
    let head = format!(
        "POST /ping/chatty HTTP/1.1\r\nHost: x\r\nUser-Agent: Python-urllib/3.11\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let addr = daemon.addr;
    let (status, headers, answer) =
        tokio::task::spawn_blocking(move || send_all_then_read(addr, &head, &body)).await.expect("client");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(header(&headers, "ping-body-limit"), Some("100000"), "{headers:?}");
    let seq: u64 = header(&headers, "x-event-seq").and_then(|s| s.parse().ok()).expect("X-Event-Seq");

    let event = workspace
        .events(Tail::MayBeTorn)
        .into_iter()
        .find(|e| e["seq"] == seq)
        .expect("the acknowledged ping is in the log");
    assert!(is_event(&event, "heartbeat.received", "routine", "chatty"), "{event}");
    let kept = event["data"]["body"].as_str().expect("data.body");
    assert_eq!(kept.len(), 100_000);
    assert!(kept.starts_with("0123456789abcdef0123"));
    assert_eq!(event["data"]["truncated"], true);
    assert_eq!(event["data"]["body_bytes"], 5_000_000);
    assert_eq!(event["data"]["user_agent"], "Python-urllib/3.11");
    assert_eq!(event["data"]["remote_addr"], "127.0.0.1");
    assert_eq!(event["data"]["method"], "POST");
    daemon.wait_health("routine", "chatty", "healthy", EVENTUALLY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthchecks_curl_recipe_with_a_log_after_exit_3_fails_the_routine() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("backup", "1h", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    let log = workspace.path().join("backup.log");
    let text: String = (0..400).map(|i| format!("line {i:04}: copied 12 files, 3.4 MB ok\n")).collect();
    let text = text.repeat(22_000 / text.len() + 1);
    std::fs::write(&log, &text[..22_000]).expect("log");
    // https://healthchecks.io/docs/bash/: `curl -fsS -m 10 --retry 5 --data-binary @log URL/$?`
    let url = daemon.url("/ping/backup/3");
    let out = std::process::Command::new("curl")
        .args(["-fsS", "-m", "10", "--retry", "5", "--data-binary"])
        .arg(format!("@{}", log.display()))
        .arg(&url)
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK");
    let failed = daemon.wait_health("routine", "backup", "failed", EVENTUALLY).await;
    assert_eq!(failed["reason"], "RunFailed", "{failed:#}");
    assert_eq!(failed["evidence"]["exit_code"], 3, "{failed:#}");
    let event = workspace
        .events(Tail::MayBeTorn)
        .into_iter()
        .rfind(|e| is_event(e, "heartbeat.received", "routine", "backup"))
        .expect("the ping");
    assert_eq!(event["data"]["body"].as_str().map(str::len), Some(22_000), "the whole log is kept");
    assert!(event["data"].get("truncated").is_none(), "{event}");
    assert!(event["data"]["user_agent"].as_str().is_some_and(|ua| ua.starts_with("curl/")), "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_answers_carry_healthchecks_headers_and_a_failure_ends_the_open_run() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("job", "1h", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    let client = &daemon.client;

    let preflight =
        client.request(reqwest::Method::OPTIONS, daemon.url("/ping/job")).send().await.expect("OPTIONS");
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(
        preflight.headers()["access-control-allow-methods"].to_str().unwrap_or_default().contains("POST")
    );

    for method in [reqwest::Method::GET, reqwest::Method::POST, reqwest::Method::PUT, reqwest::Method::HEAD] {
        let answer = client.request(method.clone(), daemon.url("/ping/job/log")).send().await.expect("ping");
        assert_eq!(answer.status(), 200, "{method}");
        let headers = answer.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{method}");
        assert!(headers["cache-control"].to_str().unwrap_or_default().contains("no-cache"), "{method}");
        assert_eq!(headers["ping-body-limit"], "100000", "{method}");
    }
    let refused = client.delete(daemon.url("/ping/job")).send().await.expect("DELETE");
    assert_eq!(refused.status(), 405);
    assert!(refused.text().await.unwrap_or_default().contains("PUT"), "the message names PUT");
    let ua = "01234567890".repeat(30);
    let proxied = client
        .get(daemon.url("/ping/job/log"))
        .header("user-agent", &ua)
        .header("x-forwarded-for", "1.1.1.1, 2.2.2.2")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("proxied ping");
    let seq: u64 = proxied.headers()["x-event-seq"].to_str().expect("text").parse().expect("seq");
    let event = workspace.events(Tail::MayBeTorn).into_iter().find(|e| e["seq"] == seq).expect("event");
    assert_eq!(event["data"]["user_agent"].as_str(), Some(&ua[..200]), "{event}");
    assert_eq!(event["data"]["remote_addr"], "1.1.1.1", "{event}");
    assert_eq!(event["data"]["scheme"], "https", "{event}");
    let unknown = client.get(daemon.url("/ping/nobody")).send().await.expect("404");
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.headers()["ping-body-limit"], "100000", "on every ping answer");

    // A run started with one rid and failed with another is over, and failed.
    let started = client.get(daemon.url("/ping/job/start?rid=A1B2")).send().await.expect("start");
    let seq = started.headers()["x-event-seq"].to_str().expect("seq").to_string();
    let state = client
        .get(daemon.url(&format!("/api/v1/entities/routine/job?min_seq={seq}")))
        .send()
        .await
        .expect("entity");
    let entity: Value = serde_json::from_str(&state.text().await.expect("text")).expect("json");
    assert!(entity["running_since"].is_string(), "running after /start: {entity:#}");
    let failed = client.get(daemon.url("/ping/job/fail?rid=other")).send().await.expect("fail");
    let seq = failed.headers()["x-event-seq"].to_str().expect("seq").to_string();
    let entity = get_json(client, &daemon.url(&format!("/api/v1/entities/routine/job?min_seq={seq}"))).await;
    assert!(entity.get("running_since").is_none_or(Value::is_null), "the run ended: {entity:#}");
    assert_eq!(entity["health"], "failed", "{entity:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_with_min_seq_sees_the_ping_just_acknowledged() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("job", "1h", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    for round in 0..20 {
        let path = if round % 2 == 0 { "/ping/job/start" } else { "/ping/job" };
        let answer = daemon.client.post(daemon.url(path)).send().await.expect("ping");
        assert_eq!(answer.status(), 200);
        let seq: u64 = answer.headers()["x-event-seq"].to_str().expect("text").parse().expect("seq");
        let state = get_json(&daemon.client, &daemon.url(&format!("/api/v1/state?min_seq={seq}"))).await;
        assert!(state["summary"]["last_event_seq"].as_u64() >= Some(seq), "round {round}: {state:#}");
        let job = entity_in(&state, "routine", "job").expect("job");
        assert_eq!(job["running_since"].is_string(), round % 2 == 0, "round {round}: {job:#}");
    }
    let bad = daemon.get("/api/v1/state?min_seq=soon").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_megabyte_write_body_sent_before_reading_gets_its_413() {
    let workspace = Workspace::new();
    let daemon = Daemon::start(&workspace).await;
    let body = vec![b' '; 2 * 1024 * 1024];
    let head = format!(
        "POST /api/v1/reload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let addr = daemon.addr;
    let (status, headers, answer) =
        tokio::task::spawn_blocking(move || send_all_then_read(addr, &head, &body)).await.expect("client");
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    assert_eq!(header(&headers, "connection"), Some("close"), "{headers:?}");
    assert_eq!(daemon.get("/healthz").await.status, 200);
}

#[test]
fn only_main_refers_to_the_command_line() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).expect("inside src").to_string_lossy().into_owned();
            if relative == "main.rs" || relative == "cli.rs" || !relative.ends_with(".rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            if text.contains("cli::") || text.contains("mod cli") {
                offenders.push(relative);
            }
        }
    }
    assert!(offenders.is_empty(), "modules below the command line refer to it: {offenders:?}");
}
