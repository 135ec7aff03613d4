//! Work tracking against the real binary: a task's whole life through the command line
//! (refused moves write nothing), a split, a workflow blocked by its step's task and released,
//! usage priced into a budget that warns, fails and pages, the write API, and ids and seqs
//! that stay unique when four CLI processes add items beside a daemon under ping load.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// How long a change driven by the log may take to show, on a noisy machine.
const EVENTUALLY: Duration = Duration::from_secs(20);

fn example_agents() -> &'static str {
    "kind: Agent\nid: fakker\nname: Fakker\nrole: orchestrator\n---\n\
     kind: Agent\nid: backend\nname: Backend\nrole: subagent\nparent: fakker\n"
}

/// Runs the CLI; returns (exit code, stdout, stderr).
fn run(workspace: &Workspace, args: &[&str]) -> (i32, String, String) {
    let out = workspace.cli().args(args).output().expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the CLI and expects success; returns stdout.
fn ok(workspace: &Workspace, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(workspace, args);
    assert_eq!(code, 0, "{args:?} failed:\n{stdout}{stderr}");
    stdout
}

/// Runs the CLI, expects exit 1 with an error that says `says`, and that nothing was written.
fn refused(workspace: &Workspace, args: &[&str], says: &str) {
    let before = std::fs::read(workspace.events_path()).unwrap_or_default();
    let (code, stdout, stderr) = run(workspace, args);
    assert_eq!(code, 1, "{args:?} should be refused:\n{stdout}{stderr}");
    assert!(stderr.contains(says), "{args:?}: the error should say {says:?}:\n{stderr}");
    let after = std::fs::read(workspace.events_path()).unwrap_or_default();
    assert_eq!(before, after, "{args:?} wrote to the event log");
}

fn task_events(workspace: &Workspace, id: &str) -> Vec<Value> {
    workspace
        .events(Tail::Strict)
        .into_iter()
        .filter(|e| e["entity_type"] == "task" && e["entity_id"] == id)
        .collect()
}

#[test]
fn a_task_lives_its_whole_life_and_refused_moves_write_nothing() {
    let workspace = Workspace::new();
    workspace.write("desired/agents.yaml", example_agents());
    workspace.write("mission-control.yaml", "humans: [Khaled]\n");

    let id =
        ok(&workspace, &["inbox", "add", "The backup script crashes on full disks", "--source", "telegram"]);
    let id = id.trim().to_string();
    assert!(id.starts_with('t') && id[1..].parse::<u64>().is_ok(), "an id like t42: {id:?}");

    refused(&workspace, &["task", &id, "--status", "active"], "from inbox it can go to");
    refused(&workspace, &["task", "t999999", "--status", "active"], "unknown task t999999");
    refused(
        &workspace,
        &["triage", &id, "--class", "bug", "--priority", "asap", "--domain", "backend"],
        "--priority",
    );
    refused(&workspace, &["triage", &id, "--class", "bug", "--domain", "backend"], "--priority");
    ok(&workspace, &["triage", &id, "--class", "bug", "--priority", "high", "--domain", "backend"]);
    ok(&workspace, &["task", &id, "--status", "planned"]);
    refused(
        &workspace,
        &[
            "assign",
            &id,
            "--owner",
            "Bob",
            "--expected-output",
            "a fix",
            "--boundaries",
            "scripts/",
            "--review-criteria",
            "tests pass",
        ],
        "\"Bob\" is not an agent",
    );
    refused(
        &workspace,
        &[
            "assign",
            &id,
            "--owner",
            "Human:Mallory",
            "--expected-output",
            "a fix",
            "--boundaries",
            "scripts/",
            "--review-criteria",
            "tests pass",
        ],
        "Mallory",
    );
    refused(
        &workspace,
        &["assign", &id, "--owner", "Subagent:Backend", "--expected-output", "a fix"],
        "--boundaries",
    );
    ok(
        &workspace,
        &[
            "assign",
            &id,
            "--owner",
            "Subagent:Backend",
            "--expected-output",
            "a fix",
            "--boundaries",
            "scripts/",
            "--review-criteria",
            "tests pass",
        ],
    );
    refused(&workspace, &["task", &id, "--status", "blocked"], "blocker");
    ok(&workspace, &["task", &id, "--status", "blocked", "--blocker", "waiting for a spare disk"]);
    refused(&workspace, &["task", &id, "--status", "active"], "from blocked it can go to assigned");
    ok(&workspace, &["task", &id, "--status", "assigned"]);
    for status in ["active", "review", "active", "review", "done"] {
        ok(&workspace, &["task", &id, "--status", status]);
    }
    refused(&workspace, &["task", &id, "--status", "active"], "from done it can go to archived");
    ok(&workspace, &["task", &id, "--status", "archived"]);

    let kinds: Vec<String> = task_events(&workspace, &id)
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds[0], "inbox.item_created");
    assert_eq!(kinds[1], "task.triaged");
    assert!(kinds.contains(&"task.assigned".to_string()));
    let statuses: Vec<String> = task_events(&workspace, &id)
        .iter()
        .filter(|e| e["type"] == "task.status_changed" || e["type"] == "task.blocked")
        .map(|e| e["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["planned", "blocked", "assigned", "active", "review", "active", "review", "done", "archived"]
    );

    // The snapshot the daemon writes restores the same task.
    let (code, _, stderr) = run(&workspace, &["run", "--once"]);
    assert_eq!(code, 0, "{stderr}");
    let snapshot = workspace.snapshot();
    let task = snapshot["tasks"].as_array().and_then(|t| t.iter().find(|t| t["id"] == id)).expect("the task");
    assert_eq!(task["status"], "archived");
    assert_eq!(task["owner"], "Subagent:Backend");
    assert_eq!(task["classification"], "bug");
}

#[test]
fn bad_input_is_a_clear_error_naming_the_field_and_writes_nothing() {
    let workspace = Workspace::new();
    workspace.write("desired/agents.yaml", example_agents());
    let id = ok(&workspace, &["inbox", "add", "Plan the release"]).trim().to_string();
    refused(&workspace, &["inbox", "add", "   "], "TEXT");
    refused(&workspace, &["split", &id], "--into");
    refused(&workspace, &["split", &id, "--into", ""], "--into");
    refused(&workspace, &["split", "t424242", "--into", "a"], "unknown task");
    refused(
        &workspace,
        &[
            "usage",
            "record",
            "--model",
            "example-large-2",
            "--agent",
            "fakker",
            "--input",
            "-5",
            "--output",
            "10",
        ],
        "--input",
    );
    refused(&workspace, &["agent", "report", "nobody", "--status", "working"], "unknown agent");
    refused(&workspace, &["mode", "set", "Sleeping"], "MODE");

    workspace.write("rules/budgets.yaml", "kind: Budget\nid: spend\nwarn_at: 1\n");
    let (code, _, stderr) = run(&workspace, &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("rules/budgets.yaml:2:") && stderr.contains("`scope`"), "{stderr}");
}

#[test]
fn a_split_makes_child_tasks_that_inherit_the_triage() {
    let workspace = Workspace::new();
    workspace.write("desired/agents.yaml", example_agents());
    let id = ok(&workspace, &["inbox", "add", "Ship the weekly release"]).trim().to_string();
    ok(&workspace, &["triage", &id, "--class", "task", "--priority", "high", "--domain", "infra"]);
    let out = ok(&workspace, &["split", &id, "--into", "Freeze the branch", "Write the notes"]);
    assert_eq!(out.lines().filter(|l| l.starts_with('t')).count(), 3, "the split and two children: {out}");
    let (code, _, stderr) = run(&workspace, &["run", "--once"]);
    assert_eq!(code, 0, "{stderr}");
    let snapshot = workspace.snapshot();
    let tasks = snapshot["tasks"].as_array().expect("tasks");
    let children: Vec<&Value> = tasks.iter().filter(|t| t["parent"] == id).collect();
    let titles: Vec<&str> = children.iter().map(|t| t["title"].as_str().unwrap_or_default()).collect();
    assert_eq!(titles, ["Freeze the branch", "Write the notes"]);
    for child in children {
        assert_eq!(child["status"], "triaged");
        assert_eq!(child["priority"], "high");
        assert_eq!(child["domain"], "infra");
    }
}

async fn post(daemon: &Daemon, path: &str, body: Value) -> (u16, Value, Option<u64>) {
    daemon.post_json(path, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_is_blocked_by_its_steps_task_and_released() {
    let workspace = Workspace::new();
    workspace.write("desired/agents.yaml", example_agents());
    let daemon = Daemon::start(&workspace).await;

    let mut ids = Vec::new();
    for text in ["Freeze the branch", "Run the tests"] {
        let (status, body, _) = post(&daemon, "/api/v1/inbox", serde_json::json!({"text": text})).await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("id").to_string();
        let triage = serde_json::json!({"classification": "task", "priority": "high", "domain": "backend"});
        let (status, body, _) = post(&daemon, &format!("/api/v1/tasks/{id}/triage"), triage).await;
        assert_eq!(status, 200, "{body}");
        ids.push(id);
    }
    workspace.write(
        "desired/workflows.yaml",
        &format!(
            "kind: Workflow\nid: release\nsteps:\n  - id: freeze\n    task: {}\n  - id: test\n    task: {}\n    depends_on: [freeze]\n",
            ids[0], ids[1]
        ),
    );
    let (status, _, _) = post(&daemon, "/api/v1/reload", serde_json::json!({})).await;
    assert_eq!(status, 202);
    let healthy = daemon.wait_health("workflow", "release", "healthy", EVENTUALLY).await;
    assert_eq!(healthy["details"]["current_step"], "freeze", "{healthy:#}");

    let block = serde_json::json!({"status": "blocked", "blocker": "the CI runner is down"});
    let (status, body, _) = post(&daemon, &format!("/api/v1/tasks/{}/status", ids[0]), block.clone()).await;
    assert_eq!(status, 409, "triaged cannot be blocked: {body}");
    assert_eq!(body["error"], "transition_refused");
    let (status, body, _) =
        post(&daemon, &format!("/api/v1/tasks/{}/status", ids[0]), serde_json::json!({"status": "planned"}))
            .await;
    assert_eq!(status, 200, "{body}");
    let (status, body, seq) = post(&daemon, &format!("/api/v1/tasks/{}/status", ids[0]), block).await;
    assert_eq!(status, 200, "{body}");
    assert!(seq.is_some(), "X-Event-Seq on a write answer");
    let blocked = daemon.wait_health("workflow", "release", "warning", EVENTUALLY).await;
    assert_eq!(blocked["reason"], "StepBlocked", "{blocked:#}");
    let message = blocked["message"].as_str().unwrap_or_default();
    assert!(message.contains("freeze") && message.contains("the CI runner is down"), "{message}");
    assert!(message.contains("test"), "the waiting step is named: {message}");

    let (status, body, _) =
        post(&daemon, &format!("/api/v1/tasks/{}/status", ids[0]), serde_json::json!({"status": "planned"}))
            .await;
    assert_eq!(status, 200, "{body}");
    daemon.wait_health("workflow", "release", "healthy", EVENTUALLY).await;
    let (status, body, _) =
        post(&daemon, "/api/v1/tasks/t999999/status", serde_json::json!({"status": "done"})).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_priced_into_a_budget_warns_then_fails_and_pages() {
    let hook = RecordingServer::start(200, "ok");
    let workspace = Workspace::new();
    workspace.write("desired/agents.yaml", example_agents());
    workspace.write(
        "rules/money.yaml",
        &format!(
            "kind: Price\nid: large\nmodel: \"example-large-*\"\ninput_per_mtok: 3\noutput_per_mtok: 15\n---\n\
             kind: Budget\nid: daily\nscope: all\nwindow: 1d\nwarn_at: 1\nfail_at: 2\n---\n\
             kind: AlertRule\nid: money\nmatch:\n  kind: [budget]\n  level: [warning, failed]\nreceivers: [hook]\n---\n\
             kind: Receiver\nid: hook\nwebhook:\n  url: \"{}\"\nretry: {{initial: 200ms, max: 1s, give_up_after: 5m}}\n",
            hook.url("/hook")
        ),
    );
    let daemon = Daemon::start(&workspace).await;
    daemon.wait_health("budget", "daily", "healthy", EVENTUALLY).await;

    // 100k input and 50k output tokens of example-large: 0.30 + 0.75 = 1.05 USD.
    let record = [
        "usage",
        "record",
        "--model",
        "example-large-2",
        "--agent",
        "fakker",
        "--input",
        "100000",
        "--output",
        "50000",
    ];
    ok(&workspace, &record);
    let warning = daemon.wait_health("budget", "daily", "warning", EVENTUALLY).await;
    assert_eq!(warning["reason"], "BudgetWarning", "{warning:#}");
    assert!((warning["spent"].as_f64().unwrap_or_default() - 1.05).abs() < 1e-9, "{warning:#}");
    let (status, body, _) = post(
        &daemon,
        "/api/v1/usage",
        serde_json::json!({"model": "example-large-2", "agent": "backend", "input_tokens": 100000, "output_tokens": 50000}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let failed = daemon.wait_health("budget", "daily", "failed", EVENTUALLY).await;
    assert_eq!(failed["reason"], "BudgetExceeded", "{failed:#}");

    let levels = wait_for(EVENTUALLY, "firing notices for warning and failed", async || {
        let levels: Vec<String> = hook
            .requests()
            .iter()
            .map(|r| r.json())
            .filter(|n| n["status"] == "firing" && n["alert"]["entity_id"] == "daily")
            .map(|n| n["alert"]["level"].as_str().unwrap_or_default().to_string())
            .collect();
        (levels.contains(&"failed".to_string())).then_some(levels)
    })
    .await;
    assert_eq!(levels.first().map(String::as_str), Some("warning"), "{levels:?}");

    let state = daemon.state().await;
    assert!(
        (state["summary"]["daily_estimated_cost"].as_f64().unwrap_or_default() - 2.1).abs() < 1e-9,
        "{state:#}"
    );
    assert_eq!(state["usage"]["by_agent"]["backend"], 1.05);
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "mission_control_tokens_total{agent=\"fakker\",direction=\"input\",model=\"example-large-2\"}"
        ),
        Some(100_000.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_cli_writers_beside_a_daemon_under_ping_load_never_repeat_an_id_or_seq() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("busy", "1h", "1h", ""));
    let daemon = Daemon::start(&workspace).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pinger = {
        let (client, url, stop) = (daemon.client.clone(), daemon.url("/ping/busy"), stop.clone());
        tokio::spawn(async move {
            let mut sent = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && sent < 100_000 {
                let _ = client.post(&url).body("tick").send().await;
                sent += 1;
            }
            sent
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let workspace_path = workspace.path().to_path_buf();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for n in 0..50 {
                    let out = std::process::Command::new(binary())
                        .arg("--workspace")
                        .arg(&workspace_path)
                        .args(["inbox", "add", &format!("item {n} from writer {w}")])
                        .env_remove("MISSION_CONTROL_WORKSPACE")
                        .output()
                        .expect("run");
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                    ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
                }
                ids
            })
        })
        .collect();
    let ids: Vec<String> = writers.into_iter().flat_map(|w| w.join().expect("writer")).collect();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let pings = pinger.await.expect("pinger");
    assert!(pings > 0, "the daemon was under ping load");
    assert_eq!(ids.len(), 200);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 200, "every id unique: {ids:?}");

    let events = workspace.events(Tail::Strict);
    assert_seq_strictly_increasing(&events);
    let created: Vec<&Value> = events.iter().filter(|e| e["type"] == "inbox.item_created").collect();
    assert_eq!(created.len(), 200);
    let state = wait_for(EVENTUALLY, "the daemon to fold all 200 items", async || {
        let state = daemon.state().await;
        (state["inbox"]["untriaged"] == 200).then_some(state)
    })
    .await;
    let listed: HashSet<&str> =
        state["tasks"].as_array().expect("tasks").iter().filter_map(|t| t["id"].as_str()).collect();
    assert!(ids.iter().all(|id| listed.contains(id.as_str())), "every id in live state");
}
