//! The chat commands (SPEC section 9) against the real binary: all twelve over live state
//! built through the command line (content and order, text and `--json`), all twelve over the
//! docs layer alone (no `state/` at all), the 4096-character limit with thousands of items,
//! the HTTP route `GET /api/v1/commands/{name}`, and the Telegram command listener against a
//! fake Bot API on loopback (allowed and ignored chats, `inbox TEXT`, the token kept out of
//! the logs and the event log).

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

/// How long a change driven by the log may take to show, on a noisy machine.
const EVENTUALLY: Duration = Duration::from_secs(20);

/// Telegram's limit on a message, in characters (UTF-16 code units, which it counts).
const TELEGRAM_LIMIT: usize = 4096;

// ---------------------------------------------------------------------------------------------
// Running the command line

/// Runs the CLI to its end (killing it and panicking after [`CLI_TIMEOUT`]); returns (exit
/// code, stdout, stderr), kept whole: a `--json` answer over thousands of items is larger than
/// the tail [`run_with_timeout`] keeps.
fn run(workspace: &Workspace, args: &[&str]) -> (i32, String, String) {
    let mut command = workspace.cli();
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot spawn {command:?}: {e}"));
    let (stdout, stderr) = (Capture::default(), Capture::default());
    let readers = [
        drain(stdout.tee(child.stdout.take().expect("piped stdout"))),
        drain(stderr.tee(child.stderr.take().expect("piped stderr"))),
    ];
    let deadline = Instant::now() + CLI_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish within {CLI_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    for reader in readers {
        reader.join().expect("an output reader");
    }
    (status.code().unwrap_or(-1), stdout.text(), stderr.text())
}

/// Reads `reader` to its end on a thread.
fn drain(mut reader: impl Read + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    })
}

/// Runs the CLI and expects success; returns stdout.
fn ok(workspace: &Workspace, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(workspace, args);
    assert_eq!(code, 0, "{args:?} failed:\n{stdout}{stderr}");
    stdout
}

/// `inbox add TEXT [--source S]`; returns the new id.
fn add_item(workspace: &Workspace, text: &str, source: Option<&str>) -> String {
    let mut args = vec!["inbox", "add", text];
    if let Some(source) = source {
        args.extend(["--source", source]);
    }
    let id = ok(workspace, &args).trim().to_string();
    assert!(id.starts_with('t') && id[1..].parse::<u64>().is_ok(), "an id like t42: {id:?}");
    id
}

/// A chat command's text reply (`mission-control ARGS..`), checked for the limit and for
/// Markdown Telegram accepts.
fn chat_text(workspace: &Workspace, args: &[&str]) -> String {
    let out = ok(workspace, args);
    let text = out.strip_suffix('\n').unwrap_or(&out).to_string();
    assert_reply_fits(&format!("{args:?}"), &text);
    text
}

/// A chat command's JSON reply (`mission-control ARGS.. --json`), checked for its `command`.
fn chat_json(workspace: &Workspace, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = ok(workspace, &with_json);
    let value: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{with_json:?} is not JSON: {e}\n{out}"));
    assert_eq!(value["command"], args[0], "{with_json:?}: {value:#}");
    value
}

/// Every reply fits one Telegram message and is Markdown Telegram accepts.
fn assert_reply_fits(what: &str, text: &str) {
    let chars = text.chars().count();
    let units = text.encode_utf16().count();
    assert!(chars < TELEGRAM_LIMIT && units < TELEGRAM_LIMIT, "{what}: {chars} chars, {units} units");
    assert!(!text.trim().is_empty(), "{what}: an empty reply");
    if let Err(e) = check_markdown(text) {
        panic!("{what}: {e}");
    }
}

/// Telegram's legacy Markdown as its parser reads it: an escaped `_`, `*`, `` ` `` or `[` is
/// literal, an entity runs to the next copy of its character, and one that never closes makes
/// Telegram refuse
/// the whole message.
fn check_markdown(text: &str) -> Result<(), String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1).is_some_and(|n| matches!(n, '_' | '*' | '`' | '[')) {
            i += 2;
            continue;
        }
        match c {
            '[' => return Err(format!("unescaped [ at {i} in {text:?}")),
            '_' | '*' | '`' => match chars[i + 1..].iter().position(|&x| x == c) {
                Some(n) => i += n + 2,
                None => return Err(format!("unclosed {c} at {i} in {text:?}")),
            },
            _ => i += 1,
        }
    }
    Ok(())
}

/// The `N` of a last line `+N more`, when the reply has one.
fn more_count(text: &str) -> Option<usize> {
    text.lines().last()?.strip_prefix('+')?.strip_suffix(" more")?.parse().ok()
}

/// Where the first line containing `needle` is; panics naming the reply when none does.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle:?} in:\n{text}"))
}

/// The `key` field of each element of `value[list]`.
fn field_list(value: &Value, list: &str, key: &str) -> Vec<String> {
    value[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} is not a list: {value:#}"))
        .iter()
        .map(|v| v[key].as_str().unwrap_or_default().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A workspace with live state

const AGENTS: &str = "kind: Agent\nid: fakker\nname: Fakker\nrole: orchestrator\nmode: Building\n\
                      stale_after: 1h\n---\n\
                      kind: Agent\nid: backend\nname: Backend\nrole: subagent\nparent: fakker\n";

/// `daily-status` has no runbook, `nightly-backup` (labelled `project: home`) and
/// `quick-beat` name headings of RUNBOOKS.md; `quick-beat` turns stale two seconds after a ping.
const ROUTINES: &str = "kind: Routine\nid: daily-status\nevery: 1h\ngrace: 1h\n---\n\
                        kind: Routine\nid: nightly-backup\nname: Nightly backup\nevery: 1h\ngrace: 1h\n\
                        runbook: Backup missing\nlabels:\n  project: home\n---\n\
                        kind: Routine\nid: quick-beat\nevery: 1s\ngrace: 1s\nrunbook: Gateway down\n";

const PROJECTS: &str = "kind: Project\nid: home\nname: Home server\nstatus: active\n---\n\
                        kind: Project\nid: quiet\nstatus: paused\n";

const RUNBOOKS: &str = "# Runbooks\n\n## Backup missing\n\nWhen the nightly backup fails.\n\n\
                        1. Look at `state/backup.log` for the last error.\n2. Run the backup by hand.\n\n\
                        ## Gateway down\n\n- Restart the gateway: `systemctl restart gw`.\n";

/// Written oldest in the middle, so file order is not date order.
const DECISIONS: &str = "# Decisions\n\n## 2026-01-15: Backups go to the second disk\n\n\
                         One copy off the host.\n\n\
                         ## 2026-03-01: Releases on Fridays\n\nEvery week.\n\n\
                         ## 2026-02-10: Telegram first\n\nThe owner reads there.\n";

/// The task ids of the live workspace, by what they are for.
struct Tasks {
    triaged: String,
    planned: String,
    assigned: String,
    blocked: String,
    review: String,
    active: String,
    qa: String,
    unowned_medium: String,
    unowned_urgent: String,
    /// Oldest first.
    inbox: [String; 3],
}

/// The desired state, the docs and the work of the live tests, built through the command line:
/// a routine failed by an exit status, one failed by `/fail`, an agent that reports an error,
/// Fakker's tasks in six statuses, a QA task, two unowned ones, three inbox items, a usage
/// record and a mode.
fn live_workspace() -> (Workspace, Tasks) {
    let workspace = Workspace::new();
    workspace.write("desired/agents.yaml", AGENTS);
    workspace.write("desired/routines.yaml", ROUTINES);
    workspace.write("desired/projects.yaml", PROJECTS);
    workspace.write("RUNBOOKS.md", RUNBOOKS);
    workspace.write("DECISIONS.md", DECISIONS);

    ok(&workspace, &["ping", "daily-status", "--fail", "--message", "disk full"]);
    ok(&workspace, &["ping", "nightly-backup", "--exit", "2"]);
    ok(&workspace, &["ping", "quick-beat"]);
    ok(&workspace, &["agent", "report", "backend", "--status", "error"]);

    let triage = |id: &str, priority: &str, extra: &[&str]| {
        let mut args = vec!["triage", id, "--class", "task", "--priority", priority, "--domain", "backend"];
        args.extend(extra);
        ok(&workspace, &args);
    };
    let assign = |id: &str, owner: &str, expected: &str| {
        ok(
            &workspace,
            &[
                "assign",
                id,
                "--owner",
                owner,
                "--expected-output",
                expected,
                "--boundaries",
                "src/",
                "--review-criteria",
                "the tests pass",
            ],
        );
    };
    let status = |id: &str, status: &str| ok(&workspace, &["task", id, "--status", status]);

    // Created in an order unlike the groups of `mytasks`, so the order shown is the command's.
    let triaged = add_item(&workspace, "Sort the old receipts", None);
    triage(&triaged, "low", &["--owner", "Fakker", "--project", "home"]);
    let planned = add_item(&workspace, "Plan the disk upgrade", None);
    triage(&planned, "medium", &["--owner", "Fakker"]);
    status(&planned, "planned");
    let assigned = add_item(&workspace, "Rotate the logs", None);
    triage(&assigned, "high", &[]);
    assign(&assigned, "Fakker", "rotated logs");
    let blocked = add_item(&workspace, "Replace the backup disk", None);
    triage(&blocked, "high", &["--project", "home"]);
    assign(&blocked, "Fakker", "a new disk");
    ok(&workspace, &["task", &blocked, "--status", "blocked", "--blocker", "waiting for the new disk"]);
    let review = add_item(&workspace, "Fix the login", None);
    triage(&review, "urgent", &[]);
    assign(&review, "Fakker", "a fix with a test");
    status(&review, "active");
    status(&review, "review");
    let active = add_item(&workspace, "Write the release notes", None);
    triage(&active, "medium", &["--project", "home"]);
    assign(&active, "Fakker", "the notes");
    status(&active, "active");
    let qa = add_item(&workspace, "Run the full test suite", None);
    triage(&qa, "high", &[]);
    assign(&qa, "Subagent:QA", "a green run");
    let unowned_medium = add_item(&workspace, "Tidy the wiki", None);
    triage(&unowned_medium, "medium", &[]);
    let unowned_urgent = add_item(&workspace, "Renew the certificate", None);
    triage(&unowned_urgent, "urgent", &[]);

    let inbox = [
        add_item(&workspace, "first thought of the day", None),
        add_item(&workspace, "the backup disk is full", Some("telegram")),
        add_item(&workspace, "call the plumber", None),
    ];
    ok(
        &workspace,
        &[
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
        ],
    );
    ok(&workspace, &["mode", "set", "Debugging"]);
    let tasks = Tasks {
        triaged,
        planned,
        assigned,
        blocked,
        review,
        active,
        qa,
        unowned_medium,
        unowned_urgent,
        inbox,
    };
    (workspace, tasks)
}

/// The level an entity line of `status` or `server` starts with, by its dot.
fn dot_level(line: &str) -> Option<u8> {
    [("🔴", 4), ("🟠", 3), ("🟡", 2), ("⚪", 1), ("🟢", 0)]
        .iter()
        .find(|(dot, _)| line.starts_with(dot))
        .map(|(_, level)| *level)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_answers_from_live_state_in_order() {
    let (workspace, t) = live_workspace();
    // quick-beat turns stale two seconds after its ping: wait for the command line to see it,
    // then let one reconcile (`run --once`) record the transitions and the firing alerts.
    wait_for(EVENTUALLY, "routine/quick-beat to be stale", async || {
        let status = chat_json(&workspace, &["status"]);
        let unhealthy = status["unhealthy"].as_array().cloned().unwrap_or_default();
        unhealthy.iter().any(|e| e["entity"] == "routine/quick-beat" && e["level"] == "stale").then_some(())
    })
    .await;
    let (code, _, stderr) = run(&workspace, &["run", "--once", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 0, "run --once: {stderr}");
    assert!(workspace.snapshot_path().exists());

    // status: the overall level first, then the facts, then the unhealthy worst first.
    let text = chat_text(&workspace, &["status"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "🔴 *FAILED*: 3 failed, 1 stale, 1 warning, 2 unknown, 1 healthy", "{text}");
    assert_eq!(lines[1], "stale signals: 1 · mode: Debugging · cost today: 1.05 USD", "{text}");
    assert!(lines[2].starts_with("alerts firing: "), "{text}");
    let levels: Vec<u8> = lines[3..].iter().map(|l| dot_level(l).unwrap_or_else(|| panic!("{l}"))).collect();
    assert!(levels.windows(2).all(|w| w[0] >= w[1]), "worst first: {text}");
    assert_eq!(levels, [4, 4, 4, 3, 2, 1, 1], "{text}");
    let failed = line_of(&text, "`routine/nightly-backup` (Nightly backup): failed (RunFailed)");
    assert!(lines[failed].contains("exit status 2"), "{text}");
    assert!(line_of(&text, "`routine/daily-status`: failed (RunFailed) last run failed: disk full") < 6);
    assert!(failed < line_of(&text, "`routine/quick-beat`: stale (Overdue)"), "{text}");
    assert!(
        line_of(&text, "`routine/quick-beat`") < line_of(&text, "`agent/backend` (Backend): warning"),
        "{text}"
    );
    let json = chat_json(&workspace, &["status"]);
    assert_eq!(json["source"], "live");
    assert_eq!(json["overall"], "failed");
    assert_eq!(json["mode"], "Debugging");
    assert_eq!(json["cost_today"]["USD"], 1.05);
    assert_eq!(json["stale_signals"], 1);
    assert_eq!(json["counts"], json!({"failed": 3, "stale": 1, "warning": 1, "unknown": 2, "healthy": 1}));
    let shown: Vec<String> = field_list(&json, "unhealthy", "level");
    assert_eq!(shown, ["failed", "failed", "failed", "stale", "warning", "unknown", "unknown"]);
    assert!(json["alerts_firing"].as_u64().unwrap_or_default() >= 3, "{json:#}");

    // server: integrations, routines, outputs and agents only, each with its evidence and the
    // runbook's first step.
    let text = chat_text(&workspace, &["server"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "🔴 *Server*: 4 unhealthy (2 failed, 1 stale, 1 warning)", "{text}");
    assert!(!text.contains("project/"), "{text}");
    let backup = line_of(&text, "`routine/nightly-backup`");
    assert!(lines[backup + 1].starts_with("   evidence: error exit status 2 · exit 2 · exit "), "{text}");
    assert_eq!(
        lines[backup + 2],
        "   next step: Look at `state/backup.log` for the last error. (runbook: Backup missing)",
        "{text}"
    );
    let daily = line_of(&text, "`routine/daily-status`");
    assert!(lines[daily + 1].starts_with("   evidence: error disk full · fail "), "{text}");
    assert_eq!(lines[daily + 2], "   no runbook: add `runbook:` to its YAML", "{text}");
    let beat = line_of(&text, "`routine/quick-beat`");
    assert_eq!(
        lines[beat + 2],
        "   next step: Restart the gateway: `systemctl restart gw`. (runbook: Gateway down)"
    );
    assert!(daily.max(backup) < beat && beat < line_of(&text, "`agent/backend`"), "{text}");
    let json = chat_json(&workspace, &["server"]);
    assert_eq!(json["source"], "live");
    let entities = field_list(&json, "entities", "entity");
    assert_eq!(entities.len(), 4, "{json:#}");
    assert_eq!(&entities[2..], ["routine/quick-beat", "agent/backend"]);
    let backup =
        &json["entities"][entities.iter().position(|e| e == "routine/nightly-backup").expect("listed")];
    assert_eq!(backup["evidence"]["exit_code"], 2);
    assert_eq!(
        backup["runbook"],
        json!({
            "name": "Backup missing",
            "step": "Look at `state/backup.log` for the last error.",
            "declared": true,
        })
    );

    // next: a failed entity with a runbook first, then a stale one with a runbook, then a failed
    // one without, then urgent work.
    let text = chat_text(&workspace, &["next"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("*Next*: Fix `routine/nightly-backup` Nightly backup — failed (RunFailed)"),
        "{text}"
    );
    assert_eq!(lines[1], "   Look at `state/backup.log` for the last error. (runbook: Backup missing)");
    assert_eq!(lines[2], "*Then*");
    assert!(lines[3].starts_with("2. Fix `routine/quick-beat` quick-beat — stale (Overdue)"), "{text}");
    assert!(lines[4].starts_with("3. Look into `routine/daily-status` daily-status — failed"), "{text}");
    assert!(lines[5].starts_with(&format!("4. Review `{}` Fix the login — urgent", t.review)), "{text}");
    assert!(lines[6].starts_with("5. "), "{text}");
    assert!(more_count(&text).is_some_and(|n| n > 0), "more actions than five: {text}");
    let json = chat_json(&workspace, &["next"]);
    let ranks: Vec<u64> =
        json["actions"].as_array().into_iter().flatten().filter_map(|a| a["rank"].as_u64()).collect();
    assert_eq!(ranks, [1, 2, 3, 4, 4], "{json:#}");
    assert_eq!(json["actions"][0]["target"], "routine/nightly-backup");
    assert_eq!(json["actions"][0]["runbook"], "Backup missing");
    assert_eq!(json["actions"][4]["target"], t.unowned_urgent.as_str());
    assert_eq!(Some(json["more"].as_u64().unwrap_or_default() as usize), more_count(&text));

    // projects: the level of what is labelled `project: home`, its open tasks by status.
    let text = chat_text(&workspace, &["projects"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "*Projects*: 2, 2 need attention", "{text}");
    assert_eq!(
        lines[1], "🔴 `project/home` (Home server): failed (WorstEntity) routine/nightly-backup is failed",
        "{text}"
    );
    assert_eq!(lines[2], "   tasks: 1 active, 1 blocked, 1 triaged", "{text}");
    assert!(lines[3].starts_with("⚪ `project/quiet`") && lines[3].ends_with("_(paused)_"), "{text}");
    assert_eq!(lines[4], "   no open tasks");
    let json = chat_json(&workspace, &["projects"]);
    assert_eq!(field_list(&json, "projects", "entity"), ["project/home", "project/quiet"]);
    assert_eq!(json["projects"][0]["tasks"], json!({"active": 1, "blocked": 1, "triaged": 1}));
    assert_eq!(json["projects"][1]["status"], "paused");

    // blocked: the task and its blocker.
    let text = chat_text(&workspace, &["blocked"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "*Blocked*: 1 task, 0 workflows", "{text}");
    assert!(
        lines[1].starts_with(&format!(
            "`{}` Replace the backup disk — blocker: waiting for the new disk · Fakker · since ",
            t.blocked
        )),
        "{text}"
    );
    assert_eq!(lines.len(), 2, "{text}");
    let json = chat_json(&workspace, &["blocked"]);
    assert_eq!(field_list(&json, "tasks", "id"), [t.blocked.as_str()]);
    assert_eq!(json["tasks"][0]["blocker"], "waiting for the new disk");

    // inbox: newest first.
    let text = chat_text(&workspace, &["inbox"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("*Inbox*: 3 untriaged, newest "), "{text}");
    assert!(lines[1].starts_with(&format!("`{}` call the plumber — cli · ", t.inbox[2])), "{text}");
    assert!(
        lines[2].starts_with(&format!("`{}` the backup disk is full — telegram · ", t.inbox[1])),
        "{text}"
    );
    assert!(lines[3].starts_with(&format!("`{}` first thought of the day — cli · ", t.inbox[0])), "{text}");
    assert_eq!(lines.len(), 4, "{text}");
    let json = chat_json(&workspace, &["inbox"]);
    assert_eq!(json["count"], 3);
    let newest_first: Vec<&str> = t.inbox.iter().rev().map(String::as_str).collect();
    assert_eq!(field_list(&json, "items", "id"), newest_first);

    // triage: oldest first, with the built-in rule that matches and the command for each.
    let text = chat_text(&workspace, &["triage"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "*Triage*: 3 waiting, 1 match a rule: `mission-control triage --auto` applies them",
        "{text}"
    );
    assert!(lines[1].starts_with(&format!("`{}` first thought of the day", t.inbox[0])), "{text}");
    assert_eq!(lines[2], "   no rule matches");
    assert_eq!(
        lines[3],
        format!("   `mission-control triage {} --class C --priority P --domain D`", t.inbox[0])
    );
    assert!(lines[4].starts_with(&format!("`{}` the backup disk is full", t.inbox[1])), "{text}");
    assert_eq!(lines[5], "   rule `server-work-is-infra`: task, medium, infra");
    assert_eq!(
        lines[6],
        format!("   `mission-control triage {} --class task --priority medium --domain infra`", t.inbox[1])
    );
    assert!(lines[7].starts_with(&format!("`{}` call the plumber", t.inbox[2])), "{text}");
    let json = chat_json(&workspace, &["triage"]);
    assert_eq!(json["matched"], 1);
    assert_eq!(field_list(&json, "items", "id"), t.inbox.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(json["items"][1]["rule"], "server-work-is-infra");

    // assign: triaged and planned tasks without an owner, urgent first.
    let text = chat_text(&workspace, &["assign"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "*Assign*: 2 tasks wait for an owner", "{text}");
    assert!(
        lines[1].starts_with(&format!(
            "`{}` Renew the certificate — urgent · backend · triaged",
            t.unowned_urgent
        ))
    );
    assert_eq!(
        lines[2],
        format!(
            "   `mission-control assign {} --owner Subagent:Backend --expected-output T --boundaries T \
             --review-criteria T`",
            t.unowned_urgent
        )
    );
    assert!(lines[3].starts_with(&format!("`{}` Tidy the wiki — medium", t.unowned_medium)), "{text}");
    let json = chat_json(&workspace, &["assign"]);
    assert_eq!(field_list(&json, "tasks", "id"), [t.unowned_urgent.as_str(), t.unowned_medium.as_str()]);

    // mytasks: the orchestrator's by default, in the groups active, review, blocked, assigned,
    // planned, triaged.
    let text = chat_text(&workspace, &["mytasks"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "*Tasks of* Fakker: 6 open (1 active, 1 review, 1 blocked, 1 assigned, 1 planned, 1 triaged)",
        "{text}"
    );
    let groups: Vec<&str> =
        lines.iter().copied().filter(|l| l.starts_with('*') && l.ends_with('*')).collect();
    assert_eq!(
        groups,
        ["*Active*", "*Review*", "*Blocked*", "*Assigned*", "*Planned*", "*Triaged*"],
        "{text}"
    );
    let order = [&t.active, &t.review, &t.blocked, &t.assigned, &t.planned, &t.triaged];
    for (i, id) in order.iter().enumerate() {
        assert!(lines[2 + 2 * i].starts_with(&format!("`{id}` ")), "{id} under {}: {text}", groups[i]);
    }
    assert!(lines[6].ends_with("· blocker: waiting for the new disk"), "{text}");
    assert!(!text.contains(&format!("`{}`", t.qa)), "QA's task is not Fakker's: {text}");
    let json = chat_json(&workspace, &["mytasks"]);
    assert_eq!(json["owner"], "Fakker");
    assert_eq!(json["count"], 6);
    assert_eq!(
        field_list(&json, "groups", "status"),
        ["active", "review", "blocked", "assigned", "planned", "triaged"]
    );
    for owner in ["QA", "Subagent:QA", "qa"] {
        let text = chat_text(&workspace, &["mytasks", owner]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("*Tasks of* {owner}: 1 open (1 assigned)"), "{text}");
        assert_eq!(lines[1], "*Assigned*");
        assert!(
            lines[2].starts_with(&format!("`{}` Run the full test suite — high · Subagent:QA", t.qa)),
            "{text}"
        );
        let json = chat_json(&workspace, &["mytasks", owner]);
        assert_eq!(json["groups"][0]["tasks"][0]["id"], t.qa.as_str());
    }

    // review: what was promised and how it will be judged.
    let text = chat_text(&workspace, &["review"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("*Review*: 1 task waiting, oldest since "), "{text}");
    assert!(lines[1].starts_with(&format!("`{}` Fix the login — urgent · Fakker", t.review)), "{text}");
    assert_eq!(lines[2], "   expected: a fix with a test");
    assert_eq!(lines[3], "   criteria: the tests pass");
    let json = chat_json(&workspace, &["review"]);
    assert_eq!(field_list(&json, "tasks", "id"), [t.review.as_str()]);

    // decisions: always DECISIONS.md, newest first.
    let text = chat_text(&workspace, &["decisions"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "*Decisions*: 3, newest first _from_ `DECISIONS.md`", "{text}");
    assert_eq!(lines[1], "2026-03-01: Releases on Fridays — Every week.");
    assert_eq!(lines[2], "2026-02-10: Telegram first — The owner reads there.");
    assert_eq!(lines[3], "2026-01-15: Backups go to the second disk — One copy off the host.");
    let json = chat_json(&workspace, &["decisions"]);
    assert_eq!(json["source"], "docs");
    assert_eq!(field_list(&json, "decisions", "date"), ["2026-03-01", "2026-02-10", "2026-01-15"]);

    // today: the day's transitions newest first, runs, work and usage.
    let text = chat_text(&workspace, &["today"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("*Today*, "), "{text}");
    assert!(lines[0].contains("3 runs (2 failed)") && lines[0].contains("1.05 USD"), "{text}");
    assert!(text.contains("\n*Usage*: 1 record · 150k tokens · 1.05 USD\n"), "{text}");
    assert!(text.contains("\n*Transitions*\n") && text.contains("\n*Runs*\n"), "{text}");
    let json = chat_json(&workspace, &["today"]);
    assert_eq!(json["source"], "live");
    assert_eq!(json["tasks"]["created"], 12, "{json:#}");
    assert_eq!(json["usage"]["records"], 1);
    let logged: Vec<String> = workspace
        .events(Tail::Strict)
        .iter()
        .rev()
        .filter(|e| e["type"] == "health.changed")
        .map(|e| {
            format!("{}/{}", e["entity_type"].as_str().unwrap_or(""), e["entity_id"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(logged.contains(&"routine/nightly-backup".to_string()), "{logged:?}");
    assert_eq!(field_list(&json, "transitions", "entity"), logged, "newest first, as logged");
    let runs: HashMap<String, (u64, u64)> = json["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let entity = r["entity"].as_str().unwrap_or_default().to_string();
            (entity, (r["ok"].as_u64().unwrap_or(9), r["failed"].as_u64().unwrap_or(9)))
        })
        .collect();
    assert_eq!(runs["routine/nightly-backup"], (0, 1));
    assert_eq!(runs["routine/quick-beat"], (1, 0));
    // Failed runs first.
    assert_eq!(json["runs"][2]["entity"], "routine/quick-beat");

    // Every command's JSON says where it came from.
    for name in
        ["status", "next", "projects", "blocked", "inbox", "triage", "assign", "mytasks", "review", "server"]
    {
        assert_eq!(chat_json(&workspace, &[name])["source"], "live", "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// The docs layer alone

const DOCS_MISSION_CONTROL: &str = "# Mission Control\n\nThe docs layer of a test workspace.\n\n\
                                    ## Current focus\n\nKeep the backups running.\n";
const DOCS_PROJECTS: &str = "# Projects\n\n## Home server\n\nIntro.\nStatus: active. Owner: Fakker.\n\n\
                             ## Garden\n\nStatus: paused until spring.\n";
const DOCS_TASKS: &str = "# Tasks\n\n\
                          - [ ] Order the new disk (Fakker, medium) blocked: waiting for the budget\n\
                          - [ ] Run the tests (Subagent:QA, high)\n\
                          - [x] Old done thing (Subagent:QA, urgent)\n\
                          - [ ] Fix the login (Subagent:Backend, urgent) in review since Monday\n";
const DOCS_DECISIONS: &str = "# Decisions\n\n## 2026-02-01: Second\n\nTwo.\n\n\
                              ## 2026-01-01: First\n\nOne.\n\n## 2026-03-01: Third\n\nThree.\n";
const DOCS_RUNBOOKS: &str = "# Runbooks\n\n\
                             ## Disk full\n\n1. Delete the old snapshots: `zfs list -t snapshot`.\n\n\
                             ## Gateway down\n\n- Restart the gateway.\n";

/// Runs every command, text and JSON, and checks `state/` is still not there after each.
fn docs_answers(workspace: &Workspace, names: &[&[&str]]) -> HashMap<String, (String, Value)> {
    let mut out = HashMap::new();
    for args in names {
        let text = chat_text(workspace, args);
        let json = chat_json(workspace, args);
        assert!(!workspace.state_dir().exists(), "{args:?} created state/");
        out.insert(args.join(" "), (text, json));
    }
    out
}

const ALL: [&[&str]; 13] = [
    &["status"],
    &["today"],
    &["next"],
    &["projects"],
    &["blocked"],
    &["inbox"],
    &["triage"],
    &["assign"],
    &["mytasks"],
    &["mytasks", "QA"],
    &["review"],
    &["server"],
    &["decisions"],
];

#[test]
fn every_command_answers_from_the_docs_layer_without_state() {
    let workspace = Workspace::new();
    workspace.write("MISSION_CONTROL.md", DOCS_MISSION_CONTROL);
    workspace.write("PROJECTS.md", DOCS_PROJECTS);
    workspace.write("TASKS.md", DOCS_TASKS);
    workspace.write("DECISIONS.md", DOCS_DECISIONS);
    workspace.write("RUNBOOKS.md", DOCS_RUNBOOKS);
    assert!(!workspace.state_dir().exists());
    let answers = docs_answers(&workspace, &ALL);
    let text = |name: &str| -> Vec<String> { answers[name].0.lines().map(str::to_string).collect() };
    let json = |name: &str| answers[name].1.clone();
    let from = |file: &str| format!("_from_ `{file}` _(no live state yet)_");

    let status = text("status");
    assert_eq!(status[0], from("MISSION_CONTROL.md"));
    assert_eq!(
        status[1..],
        [
            "Mission Control",
            "The docs layer of a test workspace.",
            "Current focus",
            "Keep the backups running."
        ]
    );
    assert_eq!(json("status")["source"], "docs");
    assert_eq!(json("status")["file"], "MISSION_CONTROL.md");

    let projects = text("projects");
    assert_eq!(
        projects,
        [
            from("PROJECTS.md"),
            "*Projects*: 2".into(),
            "• Home server: Status: active. Owner: Fakker.".into(),
            "• Garden: Status: paused until spring.".into()
        ]
    );
    assert_eq!(json("projects")["file"], "PROJECTS.md");
    assert_eq!(field_list(&json("projects"), "projects", "title"), ["Home server", "Garden"]);

    // next: the open items of TASKS.md by their priority word; a checked one is done.
    let next = text("next");
    assert_eq!(next[0], from("TASKS.md"));
    assert_eq!(next[1], "*Next*: Fix the login (Subagent:Backend, urgent) in review since Monday");
    assert_eq!(next[2], "*Then*");
    assert_eq!(next[3], "2. Run the tests (Subagent:QA, high)");
    assert_eq!(next[4], "3. Order the new disk (Fakker, medium) blocked: waiting for the budget");
    assert!(!answers["next"].0.contains("Old done thing"), "a checked item is done");
    assert_eq!(json("next")["file"], "TASKS.md");

    let blocked = text("blocked");
    assert_eq!(blocked[0], from("TASKS.md"));
    assert_eq!(blocked[1], "*Blocked* (lines of `TASKS.md` that mention \"blocked\"): 1");
    assert_eq!(blocked[2], "• Order the new disk (Fakker, medium) blocked: waiting for the budget");
    let review = text("review");
    assert_eq!(review[0], from("TASKS.md"));
    assert_eq!(review[2], "• Fix the login (Subagent:Backend, urgent) in review since Monday");
    assert_eq!(json("review")["lines"][0], "Fix the login (Subagent:Backend, urgent) in review since Monday");

    let mine = text("mytasks QA");
    assert_eq!(
        mine,
        [from("TASKS.md"), "*Tasks of* QA: 1 open".into(), "• Run the tests (Subagent:QA, high)".into()]
    );
    assert_eq!(json("mytasks QA")["owner"], "QA");
    // Without an orchestrator declared, `mytasks` asks whose.
    assert!(text("mytasks")[0].starts_with("*My tasks*: whose?"), "{:?}", text("mytasks"));

    let server = text("server");
    assert_eq!(
        server,
        [
            from("RUNBOOKS.md"),
            "*Runbooks*: 2".into(),
            "• Disk full: Delete the old snapshots: `zfs list -t snapshot`.".into(),
            "• Gateway down: Restart the gateway.".into()
        ]
    );
    assert_eq!(field_list(&json("server"), "runbooks", "title"), ["Disk full", "Gateway down"]);

    let decisions = text("decisions");
    assert_eq!(
        decisions,
        [
            "*Decisions*: 3, newest first _from_ `DECISIONS.md`",
            "2026-03-01: Third — Three.",
            "2026-02-01: Second — Two.",
            "2026-01-01: First — One."
        ]
    );
    assert_eq!(
        field_list(&json("decisions"), "decisions", "date"),
        ["2026-03-01", "2026-02-01", "2026-01-01"]
    );

    // The queues have no docs file: they say there is no live state.
    for name in ["inbox", "triage", "assign"] {
        assert!(answers[name].0.starts_with("_no live state yet_\n*"), "{name}: {}", answers[name].0);
        assert_eq!(json(name)["source"], "none", "{name}");
        assert_eq!(json(name)["count"], 0, "{name}");
    }
    assert!(text("today")[0].ends_with(": nothing recorded yet"), "{:?}", text("today"));
    assert_eq!(json("today")["source"], "none");
    for name in ["status", "next", "projects", "blocked", "mytasks QA", "review", "server", "decisions"] {
        assert_eq!(json(name)["source"], "docs", "{name}: {:#}", json(name));
    }
}

/// The repository's own docs layer, copied into a workspace without `state/`: every command
/// names the file it read, and `decisions` lists them newest first by their dates.
#[test]
fn the_repositorys_docs_layer_answers_every_command() {
    let workspace = Workspace::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(root).expect("read the repository root") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.ends_with(".md") && name != "README.md" && name != "MISSION_CONTROL_SPEC.md" {
            workspace.write(&name, &std::fs::read_to_string(&path).expect("read a docs file"));
            copied.push(name);
        }
    }
    for file in ["MISSION_CONTROL.md", "PROJECTS.md", "TASKS.md", "DECISIONS.md", "RUNBOOKS.md"] {
        assert!(copied.iter().any(|c| c == file), "the repository has {file}: {copied:?}");
    }
    let answers = docs_answers(&workspace, &ALL);
    let expect = [
        ("status", "MISSION_CONTROL.md"),
        ("next", "TASKS.md"),
        ("projects", "PROJECTS.md"),
        ("blocked", "TASKS.md"),
        ("mytasks QA", "TASKS.md"),
        ("review", "TASKS.md"),
        ("server", "RUNBOOKS.md"),
        ("decisions", "DECISIONS.md"),
    ];
    for (name, file) in expect {
        let (text, json) = &answers[name];
        assert_eq!(json["source"], "docs", "{name}: {json:#}");
        assert_eq!(json["file"], file, "{name}: {json:#}");
        let first = text.lines().next().unwrap_or_default();
        assert!(first.contains(&format!("`{file}`")), "{name} says its source: {text}");
    }
    // status shows the file's first line (its title).
    let first = read_first_line(&root.join("MISSION_CONTROL.md"));
    assert_eq!(answers["status"].0.lines().nth(1), Some(first.as_str()));
    // server lists every `## ` heading of RUNBOOKS.md, in file order, with its first step.
    let runbooks = std::fs::read_to_string(root.join("RUNBOOKS.md")).expect("RUNBOOKS.md");
    let headings: Vec<&str> = runbooks.lines().filter_map(|l| l.strip_prefix("## ")).map(str::trim).collect();
    assert!(!headings.is_empty());
    assert_eq!(field_list(&answers["server"].1, "runbooks", "title"), headings);
    for heading in &headings {
        assert!(answers["server"].0.contains(&format!("• {heading}")), "{heading}: {}", answers["server"].0);
    }
    // decisions: newest first by the heading's date.
    let dates = field_list(&answers["decisions"].1, "decisions", "date");
    assert!(dates.len() >= 2, "{dates:?}");
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted, "newest first");
    // projects lists every `## ` heading of PROJECTS.md.
    let projects = std::fs::read_to_string(root.join("PROJECTS.md")).expect("PROJECTS.md");
    let titles: Vec<&str> = projects.lines().filter_map(|l| l.strip_prefix("## ")).map(str::trim).collect();
    assert_eq!(field_list(&answers["projects"].1, "projects", "title"), titles);
}

/// A file's first non-empty line without its heading marks.
fn read_first_line(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).expect("read");
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    line.trim_start_matches('#').trim().to_string()
}

// ---------------------------------------------------------------------------------------------
// The size limit

#[test]
fn thousands_of_items_stay_under_the_limit_and_say_how_many_more() {
    const ITEMS: usize = 3_000;
    const ROUTINES: usize = 150;
    let workspace = Workspace::new();
    let routines: Vec<String> = (0..ROUTINES)
        .map(|i| {
            routine(&format!("job-{i:03}"), "1h", "1h", &format!("name: Job number {i} with a longer name\n"))
        })
        .collect();
    workspace.write("desired/routines.yaml", &documents(&routines));

    // The log as writers leave it: one JSON object a line, seq strictly increasing.
    let start = now() - chrono::Duration::minutes(30);
    let mut log = String::new();
    let mut seq = 0u64;
    let mut line = |kind: &str, entity_type: &str, id: &str, status: &str, message: &str, data: Value| {
        seq += 1;
        let at = start + chrono::Duration::milliseconds(seq as i64 * 100);
        let event = json!({
            "seq": seq,
            "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "type": kind,
            "source": "cli",
            "entity_type": entity_type,
            "entity_id": id,
            "status": status,
            "message": message,
            "data": data,
        });
        log.push_str(&event.to_string());
        log.push('\n');
        seq
    };
    for i in 0..ROUTINES {
        line(
            "heartbeat.received",
            "routine",
            &format!("job-{i:03}"),
            "fail",
            "run failed",
            json!({"body": "the disk is full"}),
        );
    }
    // An item's id is `t` and the seq of the event that created it, as the writers make them.
    let ids: Vec<String> = (0..ITEMS).map(|i| format!("t{}", ROUTINES + i + 1)).collect();
    for (i, id) in ids.iter().enumerate() {
        let text = format!("inbox item number {i}: please look at the backup server when you can");
        let message = format!("new inbox item from cli: {text}");
        let seq =
            line("inbox.item_created", "task", id, "inbox", &message, json!({"text": text, "source": "cli"}));
        assert_eq!(format!("t{seq}"), *id);
    }
    std::fs::create_dir_all(workspace.state_dir()).expect("state/");
    std::fs::write(workspace.events_path(), log).expect("write the log");

    // The command line still appends after the written log.
    let extra = add_item(&workspace, "one more from the command line", None);
    assert_eq!(extra, format!("t{}", ROUTINES + ITEMS + 1));

    let inbox = chat_text(&workspace, &["inbox"]);
    let shown: Vec<&str> = inbox.lines().filter(|l| l.starts_with("`t")).collect();
    assert!(inbox.starts_with(&format!("*Inbox*: {} untriaged", ITEMS + 1)), "{inbox}");
    assert!(
        shown[0].starts_with(&format!("`{extra}` one more from the command line")),
        "newest first: {inbox}"
    );
    assert!(shown[1].starts_with(&format!("`{}` ", ids[ITEMS - 1])), "{inbox}");
    assert_eq!(more_count(&inbox), Some(ITEMS + 1 - shown.len()), "{inbox}");
    let json = chat_json(&workspace, &["inbox"]);
    assert_eq!(json["items"].as_array().map(Vec::len), Some(ITEMS + 1), "the JSON lists every item");

    let triage = chat_text(&workspace, &["triage"]);
    let shown = triage.lines().filter(|l| l.starts_with("`t")).count();
    assert!(
        shown > 0 && triage.lines().nth(1).is_some_and(|l| l.starts_with(&format!("`{}` ", ids[0]))),
        "oldest first: {triage}"
    );
    assert_eq!(more_count(&triage), Some(ITEMS + 1 - shown), "{triage}");
    // Each item is shown whole: its line, what the rules say and the command.
    assert_eq!(triage.lines().filter(|l| l.starts_with("   `mission-control triage ")).count(), shown);
    let json = chat_json(&workspace, &["triage"]);
    assert_eq!(json["items"].as_array().map(Vec::len), Some(ITEMS + 1));

    let status = chat_text(&workspace, &["status"]);
    let lines: Vec<&str> = status.lines().collect();
    assert!(lines[0].starts_with(&format!("🔴 *FAILED*: {ROUTINES} failed")), "{status}");
    // The headline, the facts and the alerts, then one line per entity.
    let shown = lines[3..].iter().filter(|l| dot_level(l).is_some()).count();
    assert!(shown > 0, "{status}");
    let json = chat_json(&workspace, &["status"]);
    let unhealthy = json["unhealthy"].as_array().map_or(0, Vec::len);
    assert_eq!(unhealthy, ROUTINES);
    assert_eq!(more_count(&status), Some(unhealthy - shown), "{status}");

    for name in ["next", "today", "server", "mytasks", "assign", "projects", "blocked", "review"] {
        chat_text(&workspace, &[name]);
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP route

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_commands_as_markdown_and_json() {
    let (workspace, t) = live_workspace();
    let daemon = Daemon::start(&workspace).await;

    let response = wait_for(EVENTUALLY, "status to show the failed routines", async || {
        let response = daemon.client.get(daemon.url("/api/v1/commands/status")).send().await.ok()?;
        let content_type = response.headers().get("content-type")?.to_str().ok()?.to_string();
        let status = response.status().as_u16();
        let body = response.text().await.ok()?;
        body.contains("`routine/nightly-backup`").then_some((status, content_type, body))
    })
    .await;
    let (status, content_type, body) = response;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/markdown"), "{content_type}");
    assert_reply_fits("GET /api/v1/commands/status", &body);
    assert!(body.starts_with("🔴 *FAILED*: "), "{body}");
    assert!(body.lines().nth(1).is_some_and(|l| l.contains("mode: Debugging")), "{body}");
    assert!(
        line_of(&body, "failed (RunFailed)") < line_of(&body, "`agent/backend` (Backend): warning"),
        "{body}"
    );

    let reply = daemon.get("/api/v1/commands/status?format=json").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(json["command"], "status");
    assert_eq!(json["source"], "live");
    assert_eq!(json["overall"], "failed");
    assert_eq!(json["unhealthy"][0]["level"], "failed");

    let reply = daemon.get("/api/v1/commands/mytasks?owner=QA").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_reply_fits("mytasks?owner=QA", &reply.body);
    let lines: Vec<&str> = reply.body.lines().collect();
    assert_eq!(lines[0], "*Tasks of* QA: 1 open (1 assigned)", "{}", reply.body);
    assert!(lines[2].starts_with(&format!("`{}` Run the full test suite", t.qa)), "{}", reply.body);
    let reply = daemon.get("/api/v1/commands/mytasks?owner=QA&format=json").await;
    let json: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(json["owner"], "QA");
    assert_eq!(json["groups"][0]["tasks"][0]["id"], t.qa.as_str());
    let reply = daemon.get("/api/v1/commands/mytasks?format=json").await;
    let json: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(
        field_list(&json, "groups", "status"),
        ["active", "review", "blocked", "assigned", "planned", "triaged"]
    );

    for name in
        ["today", "next", "projects", "blocked", "inbox", "triage", "assign", "review", "server", "decisions"]
    {
        let reply = daemon.get(&format!("/api/v1/commands/{name}")).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.body);
        assert_reply_fits(name, &reply.body);
        let reply = daemon.get(&format!("/api/v1/commands/{name}?format=json")).await;
        let json: Value = serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(json["command"], name);
    }
    let reply = daemon.get("/api/v1/commands/server").await;
    assert!(
        reply.body.contains("next step: Look at `state/backup.log` for the last error."),
        "{}",
        reply.body
    );
    let reply = daemon.get("/api/v1/commands/inbox?format=json").await;
    let json: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(
        field_list(&json, "items", "id"),
        t.inbox.iter().rev().map(String::as_str).collect::<Vec<_>>()
    );

    let answer = daemon.client.get(daemon.url("/api/v1/commands/deploy")).send().await.expect("request");
    assert_eq!(answer.status().as_u16(), 404);
    let content_type =
        answer.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let json: Value = serde_json::from_str(&answer.text().await.expect("body")).expect("a JSON error");
    assert_eq!(json["error"], "unknown_command", "{json:#}");
    assert!(
        json["detail"].as_str().is_some_and(|d| d.contains("status") && d.contains("decisions")),
        "{json:#}"
    );
    let reply = daemon.get("/api/v1/commands/status?format=xml").await;
    assert_eq!(reply.status, 400, "{}", reply.body);

    let metrics = daemon.metrics().await;
    let answered =
        metric_value(&metrics, "mission_control_chat_commands_total{channel=\"api\",outcome=\"answered\"}");
    assert!(answered.is_some_and(|n| n >= 25.0), "{answered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_asks_the_running_daemon_and_reads_its_own_writes() {
    let (workspace, _) = live_workspace();
    let daemon = Daemon::start(&workspace).await;
    let presence = workspace.state_dir().join("daemon.json");
    wait_for(EVENTUALLY, "state/daemon.json", async || presence.exists().then_some(())).await;
    let answered = async || {
        let metrics = daemon.metrics().await;
        metric_value(&metrics, "mission_control_chat_commands_total{channel=\"api\",outcome=\"answered\"}")
            .unwrap_or(0.0)
    };
    let before = answered().await;
    // `today` from the daemon: its digest of the day, built now from the log and then kept
    // as the events below arrive.
    let today = chat_json(&workspace, &["today"]);
    let created = today["tasks"]["created"].as_u64().expect("tasks created");

    // Each item the command line adds is in the very next answer, which the daemon gives
    // once it has folded the item's event.
    for n in 0..5 {
        let id = add_item(&workspace, &format!("errand number {n}"), None);
        let json = chat_json(&workspace, &["inbox"]);
        assert_eq!(field_list(&json, "items", "id")[0], id, "{json:#}");
        let text = chat_text(&workspace, &["inbox"]);
        assert!(text.contains(&format!("errand number {n}")), "{text}");
    }
    let json = chat_json(&workspace, &["mytasks", "QA"]);
    assert_eq!(json["owner"], "QA", "{json:#}");
    let today = chat_json(&workspace, &["today"]);
    assert_eq!(today["tasks"]["created"], created + 5, "{today:#}");
    assert!(answered().await >= before + 13.0, "the daemon answered the command line");

    // The same answer as the command line computes alone, once the daemon is gone.
    let by_daemon = chat_json(&workspace, &["inbox"]);
    let today_by_daemon = chat_json(&workspace, &["today"]);
    let status =
        std::process::Command::new("kill").args(["-TERM", &daemon.pid().to_string()]).status().expect("kill");
    assert!(status.success());
    wait_for(EVENTUALLY, "state/daemon.json removed at shutdown", async || {
        (!presence.exists()).then_some(())
    })
    .await;
    let alone = chat_json(&workspace, &["inbox"]);
    assert_eq!(field_list(&alone, "items", "id"), field_list(&by_daemon, "items", "id"));
    let today_alone = chat_json(&workspace, &["today"]);
    for section in ["transitions", "runs", "tasks", "usage", "alerts", "date"] {
        assert_eq!(
            today_alone[section], today_by_daemon[section],
            "{section}: {today_alone:#} {today_by_daemon:#}"
        );
    }

    // A file naming a process that is gone (a daemon killed with -9) is not trusted.
    std::fs::write(&presence, r#"{"pid":999999999,"listen":"127.0.0.1:1"}"#).expect("write");
    let alone = chat_json(&workspace, &["inbox"]);
    assert_eq!(field_list(&alone, "items", "id"), field_list(&by_daemon, "items", "id"));
}

// ---------------------------------------------------------------------------------------------
// The Telegram listener

/// A fake Telegram Bot API on loopback: `getUpdates` answers the queued updates whose
/// `update_id` is at least `offset` (else it waits ~300 ms and answers none, so the listener
/// never spins), `sendMessage` records its body. Every request target is recorded.
struct FakeBot {
    base: String,
    state: Arc<Mutex<BotState>>,
}

#[derive(Default)]
struct BotState {
    updates: Vec<Value>,
    sent: Vec<Value>,
    targets: Vec<String>,
    /// The offsets `getUpdates` was called with, in order.
    offsets: Vec<i64>,
}

impl FakeBot {
    fn start() -> FakeBot {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake Bot API");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let state = Arc::new(Mutex::new(BotState::default()));
        let for_thread = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = for_thread.clone();
                std::thread::spawn(move || serve_bot(stream, &state));
            }
        });
        FakeBot { base, state }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a text message from `chat`.
    fn queue(&self, update_id: i64, chat: i64, text: &str) {
        self.lock().updates.push(json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_800_000_000,
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": false, "first_name": "Owner"},
                "text": text,
            }
        }));
    }

    fn sent(&self) -> Vec<Value> {
        self.lock().sent.clone()
    }

    fn targets(&self) -> Vec<String> {
        self.lock().targets.clone()
    }

    /// Whether the listener has asked for updates from `offset` on (so every earlier update
    /// has been handled and answered).
    fn polled_from(&self, offset: i64) -> bool {
        self.lock().offsets.iter().any(|o| *o >= offset)
    }
}

fn serve_bot(stream: std::net::TcpStream, state: &Mutex<BotState>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        state.lock().unwrap_or_else(|e| e.into_inner()).targets.push(target.clone());
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let answer = if path.ends_with("/getUpdates") {
            let offset = query
                .split('&')
                .find_map(|p| p.strip_prefix("offset="))
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(0);
            state.lock().unwrap_or_else(|e| e.into_inner()).offsets.push(offset);
            let deadline = Instant::now() + Duration::from_millis(300);
            let updates = loop {
                let updates: Vec<Value> = state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .updates
                    .iter()
                    .filter(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset))
                    .cloned()
                    .collect();
                if !updates.is_empty() || Instant::now() >= deadline {
                    break updates;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            json!({"ok": true, "result": updates})
        } else if path.ends_with("/sendMessage") {
            let sent: Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| json!({"unparsed": String::from_utf8_lossy(&body)}));
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            state.sent.push(sent.clone());
            json!({"ok": true, "result": {
                "message_id": 1000 + state.sent.len(),
                "chat": {"id": sent["chat_id"]},
                "date": 1_800_000_000,
                "text": sent["text"],
            }})
        } else {
            json!({"ok": false, "error_code": 404, "description": "Not Found"})
        };
        let status = if answer["ok"] == true { "200 OK" } else { "404 Not Found" };
        let text = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A bot token shaped like Telegram's, assembled at run time so no token-like literal sits
/// in the repository.
fn fake_bot_token() -> String {
    let mut token = String::from("7123456789");
    token.push(':');
    token.push_str("AAF");
    token.push_str(&"k3Zq9XwLm2Pt".repeat(3));
    token
}

/// A status reply without its line about alerts and freshness (`alerts firing: 1 · _updated
/// 3s ago_`), which moves with the clock and the alert manager.
fn steady(text: &str) -> Vec<String> {
    text.lines().filter(|l| !l.starts_with("alerts firing: ")).map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_telegram_listener_answers_allowed_chats_only() {
    let bot = FakeBot::start();
    let token = fake_bot_token();
    let workspace = Workspace::new();
    workspace.write(
        "mission-control.yaml",
        &format!(
            "openclaw:\n  enabled: false\ntelegram_commands:\n  credential: bot_token\n  \
             allowed_chat_ids: [111]\n  api_base: \"{}\"\n",
            bot.base
        ),
    );
    workspace.write("desired/agents.yaml", AGENTS);
    // No routine that turns stale while the test runs: the answers compared must not move.
    let routines = "kind: Routine\nid: nightly-backup\nname: Nightly backup\nevery: 1h\ngrace: 1h\n\
                    runbook: Backup missing\n";
    workspace.write("desired/routines.yaml", routines);
    workspace.write("RUNBOOKS.md", RUNBOOKS);
    ok(&workspace, &["ping", "nightly-backup", "--exit", "2"]);
    bot.queue(1, 111, "/status");
    bot.queue(2, 222, "/status");

    let daemon =
        Daemon::start_with_env(&workspace, &[("MC_CRED_BOT_TOKEN", &token), ("RUST_LOG", "debug")]).await;
    wait_for(EVENTUALLY, "both updates handled (a poll from offset 3)", async || {
        bot.polled_from(3).then_some(())
    })
    .await;
    let sent = bot.sent();
    assert_eq!(sent.len(), 1, "exactly one answer: {sent:#?}");
    let message = &sent[0];
    assert_eq!(message["chat_id"], 111, "{message:#}");
    assert_eq!(message["parse_mode"], "Markdown", "{message:#}");
    let text = message["text"].as_str().expect("a text").to_string();
    assert_reply_fits("the Telegram answer", &text);
    assert!(text.starts_with("🔴 *FAILED*: "), "{text}");
    assert!(text.contains("`routine/nightly-backup` (Nightly backup): failed (RunFailed)"), "{text}");
    let api = daemon.get("/api/v1/commands/status").await;
    assert_eq!(steady(&text), steady(&api.body), "the Telegram answer is the status answer");

    let metrics = daemon.metrics().await;
    let count = |outcome: &str| {
        metric_value(
            &metrics,
            &format!("mission_control_chat_commands_total{{channel=\"telegram\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(count("ignored"), Some(1.0), "{metrics}");
    assert_eq!(count("answered"), Some(1.0), "{metrics}");

    // The token was used (it is part of every Bot API path) and never left the process.
    let targets = bot.targets();
    assert!(targets.iter().all(|t| t.starts_with(&format!("/bot{token}/"))), "{targets:?}");
    assert!(targets.iter().any(|t| t.contains("/getUpdates?") && t.contains("timeout=25")), "{targets:?}");

    // `inbox TEXT` adds an item and the answer names it.
    bot.queue(3, 111, "inbox buy more disks");
    let answer = wait_for(EVENTUALLY, "the answer to inbox", async || bot.sent().get(1).cloned()).await;
    assert_eq!(answer["chat_id"], 111);
    let said = answer["text"].as_str().unwrap_or_default().to_string();
    let id = said
        .strip_prefix("Added ")
        .and_then(|r| r.strip_suffix(" to the inbox."))
        .unwrap_or_else(|| panic!("the answer names the new item: {said:?}"))
        .to_string();
    let task = wait_for(EVENTUALLY, "the item in live state", async || {
        let state = daemon.state().await;
        state["tasks"].as_array()?.iter().find(|t| t["id"] == id.as_str()).cloned()
    })
    .await;
    assert_eq!(task["status"], "inbox", "{task:#}");
    assert_eq!(task["title"], "buy more disks", "{task:#}");
    assert_eq!(task["source"], "telegram", "{task:#}");
    let event = wait_for_event(&workspace, EVENTUALLY, "the item's event", |e| {
        is_event(e, "inbox.item_created", "task", &id)
    })
    .await;
    assert_eq!(event["data"]["text"], "buy more disks");

    // The inbox command from the allowed chat lists it first.
    bot.queue(4, 111, "/inbox");
    let listed = wait_for(EVENTUALLY, "the answer to /inbox", async || bot.sent().get(2).cloned()).await;
    let listed = listed["text"].as_str().unwrap_or_default().to_string();
    assert!(
        listed.lines().nth(1).is_some_and(|l| l.starts_with(&format!("`{id}` buy more disks — telegram"))),
        "{listed}"
    );
    // An unknown command gets the list of commands, not silence.
    bot.queue(5, 111, "/deploy now");
    let help = wait_for(EVENTUALLY, "the answer to /deploy", async || bot.sent().get(3).cloned()).await;
    assert!(
        help["text"].as_str().is_some_and(|t| t.contains("unknown command") && t.contains("decisions")),
        "{help:#}"
    );
    wait_for(EVENTUALLY, "every update handled", async || bot.polled_from(6).then_some(())).await;
    assert!(bot.sent().iter().all(|m| m["chat_id"] == 111), "chat 222 never hears back: {:#?}", bot.sent());

    // A restart starts from the kept offset: nothing is answered twice.
    let mut stderr = daemon.stderr_all();
    daemon.stop().await;
    let polls_before = bot.lock().offsets.len();
    let daemon =
        Daemon::start_with_env(&workspace, &[("MC_CRED_BOT_TOKEN", &token), ("RUST_LOG", "debug")]).await;
    let offsets = wait_for(EVENTUALLY, "two polls after the restart", async || {
        let offsets = bot.lock().offsets[polls_before..].to_vec();
        (offsets.len() >= 2).then_some(offsets)
    })
    .await;
    assert_eq!(offsets[0], 6, "the first poll after a restart asks from the kept offset");
    assert_eq!(bot.sent().len(), 4, "nothing answered twice: {:#?}", bot.sent());
    stderr.push_str(&daemon.stderr_all());

    assert!(stderr.contains("DEBUG"), "debug logging is on");
    assert!(!stderr.contains(&token), "the bot token is in the daemon's stderr");
    let secret_half = token.split_once(':').map(|(_, s)| s).unwrap_or_default();
    assert!(!stderr.contains(secret_half), "part of the bot token is in the daemon's stderr");
    for entry in walk(&workspace.state_dir()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(secret_half), "the bot token is in {}", entry.display());
    }
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A configuration that does not load

/// A typo in one desired file must not make the command line forget the live state: the
/// snapshot and the event log still hold the failed routine and the inbox, and the commands
/// are built to answer without a configuration (`View::config` is `None` "when the
/// configuration does not load"). Found by this test: `report::chat` drops the live state
/// whenever `config::load` fails, so `status` says "no live state yet" and `inbox` "empty".
#[test]
fn a_configuration_that_does_not_load_keeps_the_live_state() {
    let workspace = Workspace::new();
    workspace.write("desired/agents.yaml", AGENTS);
    workspace.write("desired/routines.yaml", ROUTINES);
    ok(&workspace, &["ping", "nightly-backup", "--exit", "2"]);
    let item = add_item(&workspace, "the backup disk is full", None);
    let (code, _, stderr) = run(&workspace, &["run", "--once", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 0, "run --once: {stderr}");
    let before = chat_json(&workspace, &["status"]);
    assert_eq!(before["source"], "live");

    workspace.write("desired/broken.yaml", "kind: Routine\nid: broken\nevery: nonsense\n");
    let (code, _, _) = run(&workspace, &["validate"]);
    assert_eq!(code, 1, "the configuration does not load");

    let status = chat_text(&workspace, &["status"]);
    assert!(!status.contains("no live state yet"), "the snapshot is there: {status}");
    assert!(status.starts_with("🔴 *FAILED*"), "{status}");
    assert_eq!(chat_json(&workspace, &["status"])["source"], "live");
    let inbox = chat_text(&workspace, &["inbox"]);
    assert!(inbox.contains(&format!("`{item}` the backup disk is full")), "the inbox is in the log: {inbox}");
}
