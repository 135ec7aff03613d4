//! The OpenClaw collector in the running daemon, over a home written by the test at the
//! current time (JSON layout with inline state): finished runs become the routine's signals and
//! `cron.run` events, a job that stops firing turns its routine stale, a stuck job fails, an
//! undeclared job is drift, transcript usage is priced into live state to the token, and the
//! home is never written. The readers themselves, all three layouts and every failure of
//! OpenClaw's tracker, are tested over the fixtures in `tests/fixtures/openclaw` (unit tests of
//! `src/collect/openclaw`).

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const EVENTUALLY: Duration = Duration::from_secs(25);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn job(id: &str, schedule: Value, state: Value) -> Value {
    json!({
        "id": id, "agentId": "main", "name": id, "enabled": true, "createdAtMs": now_ms() - 3_600_000,
        "schedule": schedule, "payload": {"kind": "systemEvent", "text": "tick", "timeoutSeconds": 60},
        "state": state,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_turns_runs_drift_and_usage_into_health() {
    let home = tempfile::tempdir().expect("home");
    let root = home.path().to_path_buf();
    let start = now_ms();
    write(&root.join("openclaw.json"), "// the gateway\n{agents: {defaults: {heartbeat: {every: '30m'}}}}\n");
    let jobs = json!({"version": 1, "jobs": [
        job("backup", json!({"kind": "every", "everyMs": 2000, "anchorMs": start}), json!({})),
        job("stuck", json!({"kind": "every", "everyMs": 3_600_000, "anchorMs": start - 7_200_000}),
            json!({"runningAtMs": start - 3 * 3_600_000, "lastRunAtMs": start - 3 * 3_600_000})),
        job("orphan", json!({"kind": "cron", "expr": "0 9 * * *", "tz": "UTC"}), json!({})),
    ]});
    write(&root.join("cron/jobs.json"), &jobs.to_string());
    // A transcript with two assistant messages: 1,000 + 500 and 2,000 + 100 tokens.
    let session = "0f5d2c1e-1111-4222-8333-944455556666";
    write(
        &root.join("agents/main/sessions/sessions.json"),
        &json!({"agent:main:main": {"sessionId": session, "updatedAt": start, "model": "example-large-2"}})
            .to_string(),
    );
    let message = |id: &str, at: i64, input: u64, output: u64| {
        let time = chrono::DateTime::from_timestamp_millis(at).expect("time").to_rfc3339();
        json!({"type": "message", "id": id, "timestamp": time, "message": {"role": "assistant",
            "content": [{"type": "text", "text": "done"}], "provider": "example", "model": "example-large-2",
            "usage": {"input": input, "output": output, "cacheRead": 0, "cacheWrite": 0, "totalTokens": input + output},
            "timestamp": at}})
        .to_string()
    };
    write(
        &root.join(format!("agents/main/sessions/{session}.jsonl")),
        &format!("{}\n{}\n", message("m1", start - 5000, 1000, 500), message("m2", start - 4000, 2000, 100)),
    );

    let workspace = Workspace::new();
    workspace.write(
        "desired/openclaw.yaml",
        "kind: Agent\nid: main\nname: Main\nrole: orchestrator\n---\n\
         kind: Routine\nid: backup\nevery: 2s\ngrace: 2s\nobserve:\n  openclaw_cron: {job: backup}\n---\n\
         kind: Routine\nid: stuck\nevery: 1h\nobserve:\n  openclaw_cron: {job: stuck}\n",
    );
    workspace.write(
        "rules/prices.yaml",
        "kind: Price\nid: large\nmodel: \"example-large-*\"\ninput_per_mtok: 3\noutput_per_mtok: 15\n",
    );
    workspace.write("mission-control.yaml", &format!("openclaw:\n  home: {}\n  every: 1s\n", root.display()));

    // The gateway runs the backup every two seconds while the test lets it.
    std::fs::create_dir_all(root.join("cron/runs")).expect("runs folder");
    let running = Arc::new(AtomicBool::new(true));
    let gateway = {
        let (runs, running) = (root.join("cron/runs/backup.jsonl"), running.clone());
        std::thread::spawn(move || {
            let mut lines = String::new();
            while running.load(Ordering::SeqCst) {
                let at = now_ms();
                lines.push_str(
                    &json!({"ts": at + 50, "jobId": "backup", "action": "finished", "status": "ok",
                        "runAtMs": at, "durationMs": 50})
                    .to_string(),
                );
                lines.push('\n');
                std::fs::write(&runs, &lines).expect("run log");
                std::thread::sleep(Duration::from_millis(2000));
            }
        })
    };

    let daemon = Daemon::start(&workspace).await;
    let healthy = daemon.wait_health("routine", "backup", "healthy", EVENTUALLY).await;
    assert_eq!(healthy["last"]["kind"], "cron", "{healthy:#}");
    let stuck = daemon.wait_health("routine", "stuck", "failed", EVENTUALLY).await;
    assert_eq!(stuck["reason"], "JobStuck", "{stuck:#}");

    let state = wait_for(EVENTUALLY, "drift and usage in live state", async || {
        let state = daemon.state().await;
        let drift = state["mismatches"].as_array()?.iter().any(|m| m.to_string().contains("orphan"));
        (drift && state["usage"]["total_tokens"] == 3600).then_some(state)
    })
    .await;
    assert_eq!(state["usage"]["input_tokens"], 3000, "{:#}", state["usage"]);
    // 3,000 input at 3/Mtok and 600 output at 15/Mtok.
    let cost = state["usage"]["estimated_cost"].as_f64().unwrap_or_default();
    assert!((cost - 0.018).abs() < 1e-9, "{:#}", state["usage"]);
    let agent = daemon.wait_health("agent", "main", "healthy", EVENTUALLY).await;
    assert_eq!(agent["last"]["kind"], "activity", "{agent:#}");

    // The gateway goes quiet: the routine's next run never comes.
    running.store(false, Ordering::SeqCst);
    gateway.join().expect("gateway thread");
    let before = file_contents(&root);
    // First overdue (stale), then two missed runs in a row on the job's ledger (failed).
    let failed = daemon.wait_health("routine", "backup", "failed", EVENTUALLY).await;
    assert_eq!(failed["reason"], "MissedRuns", "{failed:#}");
    assert!(failed["ledger"]["consecutive_missed"].as_u64() >= Some(2), "{failed:#}");
    let levels: Vec<String> = workspace
        .events(Tail::MayBeTorn)
        .iter()
        .filter(|e| is_event(e, "health.changed", "routine", "backup"))
        .map(|e| e["status"].as_str().unwrap_or_default().to_string())
        .collect();
    let healthy_at = levels.iter().position(|l| l == "healthy").expect("healthy first");
    assert!(
        levels[healthy_at..].iter().any(|l| l == "stale"),
        "the silence is caught as overdue: {levels:?}"
    );
    let events = workspace.events(Tail::MayBeTorn);
    let runs = events.iter().filter(|e| is_event(e, "cron.run", "routine", "backup")).count();
    assert!(runs >= 1, "the runs are cron.run events of the routine");
    let usage = events.iter().filter(|e| e["type"] == "usage.recorded" && e["source"] == "openclaw").count();
    assert_eq!(usage, 2, "each assistant message once");
    drop(daemon);
    assert_eq!(before, file_contents(&root), "nothing in the OpenClaw home was written");

    // A restart does not record again what was recorded.
    let daemon = Daemon::start(&workspace).await;
    wait_for(EVENTUALLY, "a scan after the restart", async || {
        let state = daemon.state().await;
        (state["usage"]["total_tokens"] == 3600).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = workspace.events(Tail::MayBeTorn);
    let usage = events.iter().filter(|e| e["type"] == "usage.recorded" && e["source"] == "openclaw").count();
    assert_eq!(usage, 2, "nothing recorded twice across a restart");
}

#[test]
fn import_writes_the_desired_yaml_for_the_jobs_found() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openclaw/v2026-4-15");
    let workspace = Workspace::new();
    workspace.write("mission-control.yaml", &format!("openclaw:\n  home: {}\n", fixture.display()));
    let out = workspace.cli().args(["openclaw", "import"]).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("kind: Routine") && stdout.contains("openclaw_cron"), "{stdout}");
    let out = workspace.cli().args(["openclaw", "import", "--write"]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let validate = workspace.cli().arg("validate").output().expect("validate");
    assert!(
        validate.status.success(),
        "the imported routines load:\n{}",
        String::from_utf8_lossy(&validate.stderr)
    );
    let again = workspace.cli().args(["openclaw", "import", "--write"]).output().expect("run");
    assert_eq!(again.status.code(), Some(1), "an existing desired/openclaw.yaml is not overwritten");
}
