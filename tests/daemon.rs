//! `mission-control run` as a user meets it: the real binary in a temporary workspace on an
//! ephemeral port, driven over HTTP, by signals and by the CLI, judged by its live state
//! (`/api/v1/state`), its metrics and the event log it leaves in `state/events.jsonl`.
//!
//! Every routine here has a one-second period so a test takes seconds. Conditions are polled
//! with deadlines; where the contract bounds *when* something happens (a routine turns stale
//! within one second of its deadline), the test records the instants and compares them.

mod support;

use std::time::{Duration, SystemTime};

use serde_json::Value;
use support::*;

/// How long a state change driven by a ping may take to show ("at once", on a noisy machine).
const PROMPTLY: Duration = Duration::from_secs(3);
/// How long a change driven by timers or probes may take to show.
const EVENTUALLY: Duration = Duration::from_secs(15);

fn ms(n: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::milliseconds(n)
}

fn secs(n: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(n)
}

fn assert_ok(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 200, "{what}: {}", reply.body);
    assert_eq!(reply.body.trim(), "OK", "{what}: the body of an acknowledged ping");
}

/// The log's last seq so far.
fn last_seq(workspace: &Workspace) -> Option<u64> {
    workspace.events(Tail::MayBeTorn).last().and_then(|e| e["seq"].as_u64())
}

/// The heartbeat events of `routine/id`, oldest first.
fn heartbeats(workspace: &Workspace, id: &str) -> Vec<Value> {
    workspace
        .events(Tail::MayBeTorn)
        .into_iter()
        .filter(|e| is_event(e, "heartbeat.received", "routine", id))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Start-up

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_on_an_ephemeral_port_and_serves_health_readiness_and_metrics() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("tick", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    assert_ne!(daemon.addr.port(), 0, "the listening line names the real port");

    assert_eq!(daemon.get("/healthz").await.status, 200);
    assert_eq!(daemon.get("/readyz").await.status, 200);
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric_value(&metrics, "mission_control_config_last_reload_successful"),
        Some(1.0),
        "a started daemon has loaded its configuration:\n{metrics}"
    );
    daemon.wait_entity("routine", "tick", PROMPTLY).await;
    let state = daemon.state().await;
    assert!(state["summary"]["last_event_seq"].is_u64(), "summary.last_event_seq: {state:#}");
}

// ---------------------------------------------------------------------------------------------
// Routines

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routine_turns_stale_within_one_second_of_its_deadline() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("tick", "1s", "1s", ""));
    let daemon = Daemon::start(&workspace).await;

    let sent = now();
    let reply = daemon.post("/ping/tick", "").await;
    let acked = now();
    assert_ok(&reply, "POST /ping/tick");

    // Poll every 50 ms. A snapshot counts only once it reflects this ping (the routine may
    // already have gone stale once before it, had the start-up been slow). The deadline is
    // the daemon's own, read from the first snapshot that shows the ping.
    let mut first_with_ping = None;
    let (observed, stale) = wait_for(EVENTUALLY, "routine/tick to turn stale after its ping", async || {
        let entity = daemon.entity("routine", "tick").await?;
        let at = now();
        let last_signal = time_field(&entity, "last_signal")?;
        if last_signal < sent - ms(5) {
            return None;
        }
        if first_with_ping.is_none() {
            first_with_ping = Some(entity.clone());
        }
        (entity["health"] == "stale").then_some((at, entity))
    })
    .await;
    let first = first_with_ping.expect("a snapshot showing the ping");

    // expected_at = T + every, deadline = expected_at + grace, T being the ping.
    let last_signal = time_field(&first, "last_signal").expect("last_signal");
    assert!(
        last_signal >= sent - ms(5) && last_signal <= acked + ms(5),
        "last_signal {last_signal} is the ping's time, between {sent} and {acked}"
    );
    let expected_at = time_field(&first, "expected_at").unwrap_or_else(|| panic!("expected_at: {first:#}"));
    assert!(
        (expected_at - (last_signal + secs(1))).abs() <= ms(10),
        "expected_at {expected_at} is last_signal {last_signal} + 1s"
    );
    let deadline = time_field(&first, "deadline").unwrap_or_else(|| panic!("deadline: {first:#}"));
    assert!(
        (deadline - (expected_at + secs(1))).abs() <= ms(10),
        "deadline {deadline} is expected_at {expected_at} + 1s grace"
    );

    assert_eq!(stale["reason"], "Overdue", "{stale:#}");
    assert!(observed >= deadline, "stale observed at {observed}, before the deadline {deadline}");
    assert!(
        observed <= deadline + secs(1) + ms(500),
        "stale observed {:.3}s after the deadline; the contract is within 1s (+0.5s polling slack)",
        secs_between(observed, deadline)
    );
    if let Some(since) = time_field(&stale, "since") {
        assert!(since >= deadline - ms(1), "since {since} is before the deadline {deadline}");
    }

    // The transition event: after the ping's event, stamped within a second after the deadline.
    let ping_seq =
        heartbeats(&workspace, "tick").last().expect("the ping's event")["seq"].as_u64().expect("seq");
    let changed = wait_for_event(&workspace, PROMPTLY, "health.changed to stale after the ping", |e| {
        is_event(e, "health.changed", "routine", "tick")
            && e["data"]["to"] == "stale"
            && e["seq"].as_u64() > Some(ping_seq)
    })
    .await;
    let stamped = event_time(&changed);
    assert!(
        stamped >= deadline - ms(1) && stamped <= deadline + secs(1),
        "health.changed stamped {stamped}, {:.3}s from the deadline {deadline}",
        secs_between(stamped, deadline)
    );
    assert_eq!(changed["status"], "stale", "{changed}");
    assert_eq!(changed["data"]["reason"], "Overdue", "{changed}");
    assert_eq!(changed["data"]["rule"], "overdue", "{changed}");
    assert_eq!(changed["data"]["from"], "healthy", "{changed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_ping_fails_the_routine_at_once() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("job", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;

    assert_ok(&daemon.post("/ping/job", "").await, "success ping");
    daemon.wait_health("routine", "job", "healthy", PROMPTLY).await;

    assert_ok(&daemon.post("/ping/job/fail", "disk full").await, "fail ping");
    let failed = daemon.wait_health("routine", "job", "failed", PROMPTLY).await;
    assert_eq!(failed["reason"], "RunFailed", "{failed:#}");

    let events = heartbeats(&workspace, "job");
    assert_eq!(
        events.iter().map(|e| e["status"].as_str().unwrap_or("")).collect::<Vec<_>>(),
        ["success", "fail"]
    );
    wait_for_event(&workspace, PROMPTLY, "health.changed to failed (RunFailed)", |e| {
        is_event(e, "health.changed", "routine", "job")
            && e["data"]["to"] == "failed"
            && e["data"]["reason"] == "RunFailed"
            && e["data"]["rule"] == "run-failed"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonzero_exit_ping_fails_the_routine_with_its_exit_code_and_zero_heals() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("job", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;

    assert_ok(&daemon.post("/ping/job/3", "").await, "exit 3");
    let failed = daemon.wait_health("routine", "job", "failed", PROMPTLY).await;
    assert_eq!(failed["reason"], "RunFailed", "{failed:#}");
    assert_eq!(failed["evidence"]["exit_code"], 3, "the exit code is the evidence: {failed:#}");

    let event = heartbeats(&workspace, "job").pop().expect("the exit ping's event");
    assert_eq!(event["status"], "exit", "{event}");
    assert_eq!(event["data"]["exit_code"], 3, "{event}");

    assert_ok(&daemon.post("/ping/job/0", "").await, "exit 0");
    daemon.wait_health("routine", "job", "healthy", PROMPTLY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_run_past_max_runtime_fails_and_its_finish_heals() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("long", "1s", "1h", "max_runtime: 1s\n"));
    let daemon = Daemon::start(&workspace).await;

    let started = now();
    assert_ok(&daemon.post("/ping/long/start?rid=run-1", "").await, "start");
    let failed = daemon.wait_health("routine", "long", "failed", EVENTUALLY).await;
    let observed = now();
    assert_eq!(failed["reason"], "MaxRuntimeExceeded", "{failed:#}");
    assert!(time_field(&failed, "running_since").is_some(), "a run is under way: {failed:#}");
    assert!(observed >= started + secs(1), "failed before max_runtime passed");

    assert_ok(&daemon.post("/ping/long?rid=run-1", "").await, "finish");
    let healed = daemon.wait_health("routine", "long", "healthy", PROMPTLY).await;
    assert!(healed["running_since"].is_null(), "the finish ends the run: {healed:#}");

    let events = heartbeats(&workspace, "long");
    let statuses: Vec<_> = events.iter().map(|e| (e["status"].clone(), e["data"]["rid"].clone())).collect();
    let expected =
        [(Value::from("start"), Value::from("run-1")), (Value::from("success"), Value::from("run-1"))];
    assert_eq!(statuses, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_routine_is_unknown_with_reason_paused() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("napping", "1s", "1s", "desired: paused\n"));
    let daemon = Daemon::start(&workspace).await;
    daemon.wait_entity("routine", "napping", PROMPTLY).await;
    assert_ok(&daemon.post("/ping/napping", "").await, "a paused routine still takes pings");

    // Well past every + grace, it is still not judged.
    let until = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < until {
        let entity = daemon.entity("routine", "napping").await.expect("a paused routine is listed");
        assert_eq!(
            (entity["health"].as_str(), entity["reason"].as_str()),
            (Some("unknown"), Some("Paused")),
            "{entity:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Integrations and outputs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_http_target_fails_the_integration_after_its_threshold_and_heals() {
    let target = FlipServer::start(500);
    let workspace = Workspace::new();
    workspace.write(
        "desired/integrations.yaml",
        &format!(
            "kind: Integration\nid: api\nevery: 1s\nfailure_threshold: 2\nobserve:\n  http:\n    url: {}\n",
            target.url
        ),
    );
    let daemon = Daemon::start(&workspace).await;

    let failed = daemon.wait_health("integration", "api", "failed", EVENTUALLY).await;
    assert_eq!(failed["reason"], "ProbeFailing", "{failed:#}");
    assert!(
        failed["consecutive_failures"].as_u64() >= Some(2),
        "failed only after 2 failed probes: {failed:#}"
    );
    assert!(target.hits() >= 2, "the target was probed {} times", target.hits());

    target.set_status(200);
    let healed = daemon.wait_health("integration", "api", "healthy", EVENTUALLY).await;
    assert_eq!(healed["consecutive_failures"], 0, "{healed:#}");

    let events = workspace.events(Tail::MayBeTorn);
    let transitions: Vec<_> = events
        .iter()
        .filter(|e| is_event(e, "health.changed", "integration", "api"))
        .map(|e| e["data"]["to"].as_str().unwrap_or("").to_owned())
        .collect();
    let failed_at = transitions.iter().position(|to| to == "failed").expect("a transition to failed");
    assert!(
        transitions[failed_at..].iter().any(|to| to == "healthy"),
        "healed after failing: {transitions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_older_than_max_age_goes_stale_and_a_fresh_file_heals_it() {
    let workspace = Workspace::new();
    workspace.write(
        "desired/outputs.yaml",
        "kind: Output\nid: report\ntype: report\nlocation: out/*.txt\nmax_age: 2s\ngrace: 0s\n",
    );
    let written = SystemTime::now();
    workspace.write_with_mtime("out/first.txt", "first report\n", written);
    let written = chrono::DateTime::<chrono::Utc>::from(written);
    let daemon = Daemon::start(&workspace).await;
    let ready = now();

    let stale = daemon.wait_health("output", "report", "stale", EVENTUALLY).await;
    let observed = now();
    assert_eq!(stale["reason"], "Overdue", "{stale:#}");
    let too_old = written + secs(2);
    assert!(observed >= too_old, "stale at {observed}, before the file was 2s old ({too_old})");
    if ready < too_old {
        // The daemon was up before the file aged out, so it had to notice on time.
        assert!(
            observed <= too_old + secs(1) + ms(500),
            "stale observed {:.3}s after the file passed max_age",
            secs_between(observed, too_old)
        );
    }

    workspace.write("out/second.txt", "second report\n");
    daemon.wait_health("output", "report", "healthy", EVENTUALLY).await;
}

// ---------------------------------------------------------------------------------------------
// Configuration reloads

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_edit_is_rejected_and_the_last_good_configuration_keeps_running() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("keep", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    daemon.wait_entity("routine", "keep", PROMPTLY).await;
    let before = last_seq(&workspace);

    workspace.write("desired/routines.yaml", "kind: Routine\nid: keep\nevery: [1s\n");
    daemon.sighup();
    let rejected = wait_for_event(&workspace, EVENTUALLY, "config.rejected", |e| {
        e["type"] == "config.rejected" && e["seq"].as_u64() > before
    })
    .await;
    let errors =
        rejected["data"]["errors"].as_array().unwrap_or_else(|| panic!("data.errors is a list: {rejected}"));
    assert!(
        errors.iter().filter_map(Value::as_str).any(|e| is_placed_error(e, "desired/routines.yaml")),
        "an error placed as desired/routines.yaml:LINE:COL: message: {errors:?}"
    );
    wait_for(PROMPTLY, "config_last_reload_successful 0", async || {
        (metric_value(&daemon.metrics().await, "mission_control_config_last_reload_successful") == Some(0.0))
            .then_some(())
    })
    .await;

    // The last good configuration keeps running.
    assert_eq!(daemon.get("/readyz").await.status, 200);
    assert!(daemon.entity("routine", "keep").await.is_some(), "the previous entities are still served");
    assert_ok(&daemon.post("/ping/keep", "").await, "a ping to a previous entity");

    // The fix is taken, whole: the new routine appears.
    workspace.write(
        "desired/routines.yaml",
        &documents(&[routine("keep", "1s", "1h", ""), routine("added", "1s", "1h", "")]),
    );
    daemon.sighup();
    let rejected_seq = rejected["seq"].as_u64();
    wait_for_event(&workspace, EVENTUALLY, "config.loaded after the fix", |e| {
        e["type"] == "config.loaded" && e["seq"].as_u64() > rejected_seq
    })
    .await;
    wait_for(PROMPTLY, "config_last_reload_successful 1", async || {
        (metric_value(&daemon.metrics().await, "mission_control_config_last_reload_successful") == Some(1.0))
            .then_some(())
    })
    .await;
    wait_for(PROMPTLY, "routine/added in live state", async || daemon.entity("routine", "added").await).await;
}

/// `PATH:LINE:COL: message` with this path.
fn is_placed_error(error: &str, path: &str) -> bool {
    let mut parts = error.splitn(4, ':');
    parts.next() == Some(path)
        && parts.next().is_some_and(|line| line.parse::<u32>().is_ok())
        && parts.next().is_some_and(|col| col.parse::<u32>().is_ok())
        && parts.next().is_some_and(|message| !message.trim().is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_reloads_without_a_signal() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("first", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    let before = last_seq(&workspace);

    // Saved the way editors save: a new file renamed into place. The watch is debounced and
    // should act within about a second; the deadline leaves room for a slow machine.
    workspace.write("desired/more.yaml", &routine("second", "1s", "1h", ""));
    wait_for(Duration::from_secs(5), "routine/second to appear without SIGHUP", async || {
        daemon.entity("routine", "second").await
    })
    .await;
    wait_for_event(&workspace, PROMPTLY, "config.loaded for the edit", |e| {
        e["type"] == "config.loaded" && e["seq"].as_u64() > before
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Pings

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_validated_bounded_and_redacted() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("r", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    let mut acknowledged = 0;

    assert_eq!(daemon.post("/ping/nobody", "").await.status, 404, "unknown id");
    for path in ["/ping/r/256", "/ping/r/abc"] {
        let status = daemon.post(path, "").await.status;
        assert!(status == 400 || status == 404, "{path} answered {status}");
    }
    assert_ok(&daemon.post("/ping/r", "y".repeat(10_000)).await, "a 10 000-byte body");
    acknowledged += 1;
    assert_ok(&daemon.get("/ping/r").await, "GET ping");
    acknowledged += 1;
    assert_eq!(daemon.head("/ping/r/log").await.status, 200, "HEAD ping");
    acknowledged += 1;
    assert_ok(&daemon.post("/ping/r/start?rid=abc-1", "").await, "start with rid");
    acknowledged += 1;

    let key = planted_sk_key();
    assert_ok(&daemon.post("/ping/r?rid=abc-1", format!("done; key={key} end")).await, "ping with a secret");
    acknowledged += 1;

    let events = heartbeats(&workspace, "r");
    assert_eq!(events.len(), acknowledged, "exactly the acknowledged pings are recorded: {events:#?}");
    let statuses: Vec<_> = events.iter().map(|e| e["status"].as_str().unwrap_or("")).collect();
    assert_eq!(statuses, ["success", "success", "log", "start", "success"]);
    let last = events.last().expect("the secret ping");
    assert_eq!(last["data"]["rid"], "abc-1", "{last}");
    let body = last["data"]["body"].as_str().unwrap_or_else(|| panic!("data.body kept: {last}"));
    assert!(body.contains("[REDACTED]") && !body.contains(&key), "the body is redacted: {body}");
    assert!(body.starts_with("done; key="), "the rest of the body is kept: {body}");
    let log = std::fs::read_to_string(workspace.events_path()).expect("read the log");
    assert!(!log.contains(&key), "the secret reached the event log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_integration_that_is_not_activated_is_invisible() {
    let hidden_target = FlipServer::start(200);
    let open_target = FlipServer::start(200);
    let workspace = Workspace::new();
    workspace.write(
        "desired/integrations.yaml",
        &documents(&[
            format!(
                "kind: Integration\nid: vault\nboundary: protected\nevery: 1s\nobserve:\n  http:\n    url: {}\n",
                hidden_target.url
            ),
            format!("kind: Integration\nid: open\nevery: 1s\nobserve:\n  http:\n    url: {}\n", open_target.url),
        ]),
    );
    let daemon = Daemon::start(&workspace).await;

    // Probes run: the visible integration has been probed a few times.
    daemon.wait_health("integration", "open", "healthy", EVENTUALLY).await;
    wait_for(EVENTUALLY, "three probes of the visible integration", async || {
        (open_target.hits() >= 3).then_some(())
    })
    .await;

    assert_eq!(daemon.post("/ping/vault", "").await.status, 404, "its ping is 404");
    assert_eq!(hidden_target.hits(), 0, "a protected, non-activated integration is never probed");
    let state = daemon.state().await;
    assert!(!all_entity_ids(&state).contains(&"vault".to_string()), "not in live state: {state:#}");
    assert!(!state.to_string().contains("vault"), "not mentioned in live state");
    assert!(!daemon.metrics().await.contains("\"vault\""), "not in metrics");
    let events = workspace.events(Tail::MayBeTorn);
    assert!(events.iter().all(|e| e["entity_id"] != "vault"), "not in events");
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_a_snapshot_that_covers_the_whole_log() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("r", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    for _ in 0..3 {
        assert_ok(&daemon.post("/ping/r", "").await, "ping");
    }
    // Whatever was written before, the file read below is the one written at shutdown or after
    // the last change.
    let _ = std::fs::remove_file(workspace.snapshot_path());
    daemon.stop().await;

    let snapshot = workspace.snapshot();
    let events = workspace.events(Tail::Strict);
    assert_seq_strictly_increasing(&events);
    let last_seq = events.last().expect("events were written")["seq"].as_u64();
    assert_eq!(snapshot["summary"]["last_event_seq"].as_u64(), last_seq, "the snapshot covers the log");
    let routine = entity_in(&snapshot, "routine", "r")
        .unwrap_or_else(|| panic!("routine/r in the snapshot: {snapshot:#}"));
    assert!(time_field(&routine, "last_signal").is_some(), "{routine:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_snapshot() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("r", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    assert_ok(&daemon.post("/ping/r", "").await, "ping");
    let before = wait_for(PROMPTLY, "the ping in live state", async || {
        time_field(&daemon.entity("routine", "r").await?, "last_signal")
    })
    .await;
    daemon.stop().await;
    let seq_before = workspace.events(Tail::Strict).last().expect("events")["seq"].as_u64().expect("seq");

    let daemon = Daemon::start(&workspace).await;
    let entity = daemon.wait_entity("routine", "r", PROMPTLY).await;
    let after = time_field(&entity, "last_signal")
        .unwrap_or_else(|| panic!("last_signal reset by the restart: {entity:#}"));
    assert!((after - before).abs() <= ms(1), "last_signal {before} became {after} across the restart");
    assert_eq!(entity["health"], "healthy", "{entity:#}");

    assert_ok(&daemon.post("/ping/r", "").await, "ping after the restart");
    daemon.stop().await;
    let events = workspace.events(Tail::Strict);
    assert_seq_strictly_increasing(&events);
    assert!(
        events.last().expect("events")["seq"].as_u64() > Some(seq_before),
        "seq continues after a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_probes_writes_state_and_exits() {
    let target = FlipServer::start(200);
    let workspace = Workspace::new();
    workspace.write(
        "desired/all.yaml",
        &documents(&[
            routine("r", "1s", "1h", ""),
            format!("kind: Integration\nid: api\nevery: 1s\nobserve:\n  http:\n    url: {}\n", target.url),
        ]),
    );
    let mut command = workspace.cli();
    command.args(["run", "--once", "--listen", "127.0.0.1:0"]);
    let output = tokio::task::block_in_place(|| run_with_timeout(command, Duration::from_secs(60)));
    assert!(
        output.status.success(),
        "run --once: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    assert_eq!(target.hits(), 1, "every pulled probe runs once");
    let snapshot = workspace.snapshot();
    let api =
        entity_in(&snapshot, "integration", "api").unwrap_or_else(|| panic!("integration/api: {snapshot:#}"));
    assert_eq!(api["health"], "healthy", "{api:#}");
    assert!(entity_in(&snapshot, "routine", "r").is_some(), "{snapshot:#}");
    let events = workspace.events(Tail::Strict);
    assert_seq_strictly_increasing(&events);
    assert!(events.iter().any(|e| is_event(e, "health.changed", "integration", "api")), "{events:#?}");
    assert_eq!(
        snapshot["summary"]["last_event_seq"].as_u64(),
        events.last().expect("events")["seq"].as_u64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_ping_while_the_daemon_runs_is_seen_by_the_daemon() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("r", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    let before = daemon.wait_entity("routine", "r", PROMPTLY).await;
    assert!(before["last_signal"].is_null(), "no signal yet: {before:#}");

    let sent = now();
    let output = tokio::task::block_in_place(|| workspace.cli_ping("r", &["--message", "from the cli"]));
    assert!(output.status.success(), "ping: {}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    let event = heartbeats(&workspace, "r").pop().expect("the CLI wrote the event");
    assert_eq!(event["status"], "success", "{event}");

    wait_for(PROMPTLY, "the daemon to see the CLI ping", async || {
        let entity = daemon.entity("routine", "r").await?;
        time_field(&entity, "last_signal").filter(|t| *t >= sent - ms(5))
    })
    .await;

    let unknown = tokio::task::block_in_place(|| workspace.cli_ping("nobody", &[]));
    assert_eq!(unknown.status.code(), Some(1), "an unknown id: {}", String::from_utf8_lossy(&unknown.stderr));
}

// ---------------------------------------------------------------------------------------------
// The harness itself

mod harness {
    use std::io::Cursor;
    use std::time::{Duration, Instant};

    use super::support::*;

    #[test]
    fn listening_line_parses_only_the_exact_form() {
        assert_eq!(
            parse_listening_line("listening on 127.0.0.1:4242\n"),
            Some("127.0.0.1:4242".parse().unwrap())
        );
        assert_eq!(parse_listening_line("listening on [::1]:80"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(parse_listening_line("Listening on 127.0.0.1:4242"), None);
        assert_eq!(parse_listening_line("listening on 127.0.0.1"), None);
        assert_eq!(parse_listening_line("2026-01-01 INFO listening on 127.0.0.1:1"), None);
    }

    #[test]
    fn listening_line_is_read_from_the_first_line_only() {
        let out = Cursor::new(b"listening on 127.0.0.1:9\nmore\n".to_vec());
        assert_eq!(read_listening_line(out, Duration::from_secs(1)), Ok("127.0.0.1:9".parse().unwrap()));
        let wrong = Cursor::new(b"starting\nlistening on 127.0.0.1:9\n".to_vec());
        assert!(
            read_listening_line(wrong, Duration::from_secs(1)).unwrap_err().contains("first stdout line")
        );
        let closed = Cursor::new(Vec::new());
        assert!(read_listening_line(closed, Duration::from_secs(1)).unwrap_err().contains("closed"));
    }

    #[test]
    fn listening_line_gives_up_at_its_deadline() {
        // A pipe whose write end stays open: the read blocks, as with a hung daemon.
        let (reader, writer) = std::io::pipe().expect("pipe");
        let started = Instant::now();
        let error = read_listening_line(reader, Duration::from_millis(200)).unwrap_err();
        assert!(error.contains("within"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(writer);
    }

    #[test]
    fn events_parse_strictly_or_with_a_torn_tail() {
        let good = "{\"seq\":1}\n{\"seq\":2}\n";
        assert_eq!(parse_events(good, Tail::Strict).len(), 2);
        let torn = "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3,\"ty";
        assert_eq!(parse_events(torn, Tail::MayBeTorn).len(), 2);
        assert_eq!(parse_events("", Tail::Strict).len(), 0);
        let unterminated = "{\"seq\":1}";
        assert_eq!(parse_events(unterminated, Tail::MayBeTorn).len(), 1);
    }

    #[test]
    #[should_panic(expected = "torn last line")]
    fn strict_events_refuse_a_torn_tail() {
        parse_events("{\"seq\":1}\n{\"seq\":2,", Tail::Strict);
    }

    #[test]
    #[should_panic(expected = "line 2")]
    fn a_broken_line_before_the_end_is_never_allowed() {
        parse_events("{\"seq\":1}\n{\"seq\":2,\n{\"seq\":3}\n", Tail::MayBeTorn);
    }

    #[test]
    #[should_panic(expected = "does not follow")]
    fn repeated_seq_is_caught() {
        let events = parse_events("{\"seq\":1}\n{\"seq\":2}\n{\"seq\":2}\n", Tail::Strict);
        assert_seq_strictly_increasing(&events);
    }

    #[test]
    fn metric_values_are_found_by_exact_name() {
        let text = "# HELP mission_control_x x\n# TYPE mission_control_x gauge\n\
                    mission_control_x_total 7\nmission_control_x 0\nmission_control_y{} 1.5\n";
        assert_eq!(metric_value(text, "mission_control_x"), Some(0.0));
        assert_eq!(metric_value(text, "mission_control_x_total"), Some(7.0));
        assert_eq!(metric_value(text, "mission_control_y"), Some(1.5));
        assert_eq!(metric_value(text, "mission_control_z"), None);
    }

    #[test]
    fn workspace_writes_create_folders_and_replace_whole_files() {
        let workspace = Workspace::new();
        workspace.write("desired/deep/a.yaml", "one\n");
        workspace.write("desired/deep/a.yaml", "two\n");
        assert_eq!(std::fs::read_to_string(workspace.path().join("desired/deep/a.yaml")).unwrap(), "two\n");
        assert!(workspace.path().join("mission-control.yaml").is_file());
        assert!(workspace.events(Tail::Strict).is_empty(), "no log yet is an empty log");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wait_for_returns_the_first_value_and_readiness_follows_the_status() {
        let server = FlipServer::start(503);
        let base = server.url.trim_end_matches("/health").to_owned();
        let client = http_client();
        let error = wait_ready(&client, &base, Duration::from_millis(300)).await.unwrap_err();
        assert!(error.contains("503"), "{error}");
        server.set_status(200);
        wait_ready(&client, &base, Duration::from_secs(5)).await.expect("ready once it answers 200");
        let hits = server.hits();
        assert!(hits >= 2, "{hits}");

        let mut calls = 0;
        let value = wait_for(Duration::from_secs(5), "the third call", async || {
            calls += 1;
            (calls == 3).then_some(calls)
        })
        .await;
        assert_eq!(value, 3);
        assert_eq!(try_wait_for(Duration::from_millis(120), async || None::<()>).await, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[should_panic(expected = "did not start")]
    async fn a_daemon_that_cannot_start_fails_the_test() {
        let workspace = Workspace::new();
        std::fs::remove_dir_all(workspace.path()).expect("remove the workspace");
        Daemon::start(&workspace).await;
    }
}
