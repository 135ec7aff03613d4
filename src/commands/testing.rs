//! A day in the example operation, for the command tests: a configuration loaded from a
//! temporary workspace, a live state written by hand, a board folded from the events the real
//! work commands produce, the day's health and heartbeat events, and the docs layer.
//!
//! `now` is Wednesday 2026-11-25 10:00 UTC, 11:00 in Europe/Berlin.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::render::{MAX_UNITS, tests::check_markdown, units};
use super::{Docs, Reply, View};
use crate::config::{Classification, Config, DesiredState, Domain, Level, Mode, Priority};
use crate::events::{Event, NewEvent};
use crate::state::{Counts, EntityState, FiringAlert, LiveState, Observation};
use crate::work::{Assignment, Board, Ops, Status, Triage, UsageInput, WorkError};

const DESIRED: &str = r#"
kind: Agent
id: fakker
name: Fakker
role: orchestrator
mode: Building
---
kind: Agent
id: backend
name: Backend
role: subagent
parent: fakker
---
kind: Integration
id: openclaw-gateway
name: OpenClaw gateway
observe:
  http:
    url: http://127.0.0.1:18789/health
runbook: Gateway down
---
kind: Integration
id: paperclip
boundary: protected
---
kind: Routine
id: daily-status
name: Daily status report
schedule: "0 7 * * *"
runbook: Daily status did not arrive
---
kind: Routine
id: inbox-sweep
every: 15m
---
kind: Output
id: usage-export
location: reports/usage.csv
max_age: 26h
---
kind: Workflow
id: release
name: Weekly release
steps:
  - id: test
    title: Run the tests
    task: t3
---
kind: Project
id: mission-control
name: Mission Control
status: active
---
kind: Project
id: household
name: Household paperwork
status: paused
"#;

const TRIAGE: &str = r#"
kind: TriageRule
id: broken-things-are-bugs
order: 10
when: text matches "(?i)\\b(bug|broken|crash(es|ed)?|error|fails?)\\b"
set: {classification: bug, priority: high, domain: backend}
---
kind: TriageRule
id: server-work-is-infra
order: 20
when: text matches "(?i)\\b(server|deploy|backup|disk|cron|gateway)\\b"
set: {classification: task, priority: medium, domain: infra}
---
kind: TriageRule
id: urgent-from-telegram
order: 5
when: source == "telegram" and text matches "(?i)\\burgent\\b"
set: {classification: task, priority: urgent}
"#;

pub const MISSION_CONTROL: &str = "# Mission Control\n\nSynthetic example of the docs layer: human \
intent, read by the chat commands when there is no\nlive state yet (`status` falls back to this file).\n\n\
## Current focus\n\nShip the weekly release of Mission Control and keep the morning status arriving on time.\n";

pub const PROJECTS: &str = "# Projects\n\n## Mission Control\n\nStatus: active. Owner: Fakker. Repository: \
this one, branch `main`.\nNext: the weekly release.\n\n## Household paperwork\n\nStatus: active. Owner: \
Subagent:Backoffice.\nNext: file the quarterly receipts.\n";

pub const TASKS: &str = "# Tasks\n\n- [ ] Freeze the release branch (Subagent:Backend, high)\n\
- [ ] Run the full test suite (Subagent:QA, high)\n- [ ] Write release notes (Fakker, medium)\n\
- [ ] Renew the backup disk's warranty (Subagent:Backoffice, low)\n\
- [x] Order the new disk (Fakker, medium) blocked: waiting for the budget\n";

pub const DECISIONS: &str = "# Decisions\n\nNewest last in this file.\n\n\
## 2026-11-02: Alerts go through Telegram first\n\nTelegram is where the owner reads; e-mail only as a fallback.\n\n\
## 2026-11-18: One daemon per host over one shared workspace\n\nEach host judges its own slice (`select`), so \
a host that goes down cannot silence the others.\n\n\
## 2026-11-30: Weekly releases on Fridays\n\nSmaller releases, every week, with the owner's approval as the last step.\n";

pub const RUNBOOKS: &str = "# Runbooks\n\n## Gateway down\n\n1. Check the gateway process on the host: \
`systemctl --user status openclaw-gateway`.\n2. Restart it: `systemctl --user restart openclaw-gateway`.\n\n\
## Daily status did not arrive\n\n1. Check that Fakker is running: `mission-control why agent/fakker`.\n\
2. Look at the last run.\n\n## Backup missing\n\n1. Look for the newest `reports/backup-*.log` and its size.\n";

pub const MEMORY: &str =
    "# 2026-11-25\n\n- Shipped the freeze of `release/1.4`.\n- Waiting on QA for the runner.\n";

pub struct Fixture {
    pub config: Option<Config>,
    pub live: LiveState,
    pub has_live: bool,
    pub board: Board,
    pub has_board: bool,
    /// Every event, oldest first; the view gets those of today.
    pub events: Vec<Event>,
    pub docs: Docs,
    pub memory: Option<String>,
    pub now: DateTime<Utc>,
    pub tz: Tz,
}

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z").map(|t| t.with_timezone(&Utc)).expect("time")
}

fn ago(minutes: i64) -> DateTime<Utc> {
    now() - Duration::minutes(minutes)
}

pub fn berlin() -> Tz {
    "Europe/Berlin".parse().expect("tz")
}

/// The example configuration, loaded as the daemon would.
pub fn config() -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in [
        ("desired/example.yaml", DESIRED),
        ("rules/triage.yaml", TRIAGE),
        (crate::config::SETTINGS_FILE, "timezone: Europe/Berlin\n"),
    ] {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    crate::config::load(dir.path(), now()).unwrap_or_else(|e| panic!("{:#?}", e.0))
}

/// An entity as the live state holds it.
pub fn entity(kind: &str, id: &str, level: Level, reason: &str, message: &str) -> EntityState {
    EntityState {
        kind: kind.into(),
        id: id.into(),
        name: id.into(),
        desired: DesiredState::Active,
        health: level,
        reason: reason.into(),
        message: message.into(),
        rule: None,
        since: None,
        previous_health: None,
        last_checked: Some(now()),
        last_signal: None,
        evidence: None,
        owner: None,
        labels: Default::default(),
        depends_on: Vec::new(),
        inhibited: false,
        first_seen: Some(ago(24 * 60)),
        last_success: None,
        last_run: None,
        consecutive_failures: 0,
        consecutive_successes: 0,
        failing: false,
        running_since: None,
        running_rid: None,
        last: None,
        expected_at: None,
        deadline: None,
        missed_runs: 0,
        spent: None,
        ledger: None,
        heartbeat: None,
        schedule: None,
        probe: None,
        details: Default::default(),
    }
}

fn named(mut e: EntityState, name: &str, since_minutes: Option<i64>) -> EntityState {
    e.name = name.into();
    e.since = since_minutes.map(ago);
    e
}

fn live() -> LiveState {
    let mut fakker =
        named(entity("agent", "fakker", Level::Healthy, "Healthy", "reported 4m ago"), "Fakker", Some(600));
    fakker.details.insert("role".into(), "orchestrator".into());
    let mut gateway = named(
        entity(
            "integration",
            "openclaw-gateway",
            Level::Failed,
            "ProbeFailing",
            "3 failed probes in a row: connection refused",
        ),
        "OpenClaw gateway",
        Some(120),
    );
    gateway.evidence = Some(std::sync::Arc::new(Observation {
        at: ago(120),
        kind: "http".into(),
        ok: Some(false),
        latency_seconds: Some(0.12),
        status: Some(503),
        exit_code: None,
        error: Some("connection refused".into()),
        rid: None,
        file: None,
        size: None,
        modified: None,
    }));
    let mut old = entity("routine", "old-job", Level::Unknown, "Paused", "paused");
    old.desired = DesiredState::Paused;
    LiveState {
        version: crate::state::VERSION,
        generated_at: Some(ago(1)),
        summary: crate::state::Summary {
            overall_health: Some(Level::Failed),
            counts: Counts { healthy: 3, unknown: 1, warning: 2, stale: 2, failed: 1 },
            stale_signals: 2,
            active_mode: Some("Building".into()),
            daily_estimated_cost: 0.48,
            currency: "USD".into(),
            last_event_seq: 0,
        },
        agents: arcs(vec![fakker]),
        subagents: arcs(vec![named(
            entity("agent", "backend", Level::Unknown, "NeverObserved", "no report yet"),
            "Backend",
            Some(300),
        )]),
        integrations: arcs(vec![gateway]),
        routines: arcs(vec![
            named(
                entity(
                    "routine",
                    "daily-status",
                    Level::Stale,
                    "Overdue",
                    "no signal since 07:03; expected by 07:00 + 5m grace",
                ),
                "Daily status report",
                Some(30),
            ),
            named(
                entity("routine", "inbox-sweep", Level::Healthy, "Healthy", "signal 5m ago"),
                "inbox-sweep",
                Some(600),
            ),
            old,
        ]),
        outputs: arcs(vec![named(
            entity("output", "usage-export", Level::Warning, "TooOld", "27h old; at most 26h"),
            "usage-export",
            Some(60),
        )]),
        workflows: arcs(vec![named(
            entity(
                "workflow",
                "release",
                Level::Warning,
                "StepBlocked",
                "step test is blocked: waiting for a new runner (task t3)",
            ),
            "Weekly release",
            Some(20),
        )]),
        projects: arcs(vec![
            named(
                entity(
                    "project",
                    "mission-control",
                    Level::Stale,
                    "WorstEntity",
                    "routine/daily-status is stale",
                ),
                "Mission Control",
                Some(10),
            ),
            named(
                entity("project", "household", Level::Healthy, "Healthy", "nothing blocked"),
                "Household paperwork",
                Some(600),
            ),
        ]),
        alerts: crate::state::Alerts {
            firing: vec![
                alert("stale-or-failed", "integration", "openclaw-gateway", Level::Failed, false),
                alert("stale-or-failed", "routine", "daily-status", Level::Stale, true),
            ],
        },
        ..LiveState::default()
    }
}

fn alert(rule: &str, kind: &str, id: &str, level: Level, silenced: bool) -> FiringAlert {
    FiringAlert {
        id: format!("{rule}/{kind}/{id}"),
        rule: rule.into(),
        entity_type: kind.into(),
        entity_id: id.into(),
        level,
        starts_at: ago(100),
        silenced,
        inhibited: false,
    }
}

/// What the event log does on append: the next seqs, new ids from them, then the fold.
fn store(board: &mut Board, events: &mut Vec<Event>, new: Vec<NewEvent>) {
    for new in new {
        let event = new.stored(board.last_seq + 1, now());
        board.apply(&event);
        events.push(event);
    }
}

fn triage(
    class: Classification,
    priority: Priority,
    domain: Domain,
    owner: Option<&str>,
    project: Option<&str>,
) -> Triage {
    Triage {
        classification: class,
        priority,
        domain,
        owner: owner.map(str::to_string),
        project: project.map(str::to_string),
    }
}

fn assignment(owner: &str, expected: &str, criteria: &str) -> Assignment {
    Assignment {
        owner: owner.into(),
        expected_output: expected.into(),
        boundaries: "the task only".into(),
        review_criteria: criteria.into(),
    }
}

impl Fixture {
    /// Everything: configuration, live state, board, today's events, docs and memory.
    pub fn new() -> Fixture {
        let config = config();
        let mut board = Board::default();
        let mut events = Vec::new();
        {
            let mut run = |minutes: i64, op: &dyn Fn(&Ops) -> Result<Vec<NewEvent>, WorkError>| {
                let ops = Ops::new(&config, &board, ago(minutes), "cli");
                let new = op(&ops).unwrap_or_else(|e| panic!("{e}"));
                store(&mut board, &mut events, new);
            };
            use Classification as C;
            use Domain as D;
            use Priority as P;
            // Created in id order: t1 .. t8.
            run(300, &|o| o.add_item("login is broken\nsince Monday", Some("telegram")));
            run(26 * 60, &|o| o.add_item("renew the disk warranty", None));
            run(360, &|o| o.add_item("flaky test runner", None));
            run(360, &|o| o.add_item("write release notes", None));
            run(60, &|o| o.add_item("the server is down", None));
            run(10, &|o| o.add_item("hello there", Some("telegram")));
            run(180, &|o| o.add_item("Deploy the thing", None));
            run(420, &|o| o.add_item("old work", None));

            run(300, &|o| {
                o.triage("t1", &triage(C::Bug, P::Urgent, D::Backend, None, Some("mission-control")))
            });
            run(240, &|o| {
                o.assign("t1", &assignment("Subagent:Backend", "a fix with a test", "CI green, login works"))
            });
            run(180, &|o| o.set_status("t1", Status::Active, None));
            run(120, &|o| o.set_status("t1", Status::Review, None));

            run(25 * 60, &|o| o.triage("t2", &triage(C::Task, P::Low, D::Backoffice, None, None)));

            run(360, &|o| o.triage("t3", &triage(C::Bug, P::High, D::Qa, None, Some("mission-control"))));
            run(300, &|o| o.assign("t3", &assignment("Subagent:QA", "a stable runner", "ten green runs")));
            run(240, &|o| o.set_status("t3", Status::Active, None));
            run(180, &|o| o.set_status("t3", Status::Blocked, Some("waiting for a new runner")));

            run(360, &|o| {
                o.triage(
                    "t4",
                    &triage(C::Task, P::Medium, D::Backend, Some("Fakker"), Some("mission-control")),
                )
            });
            run(300, &|o| o.assign("t4", &assignment("Fakker", "release notes", "the owner approves")));
            run(60, &|o| o.set_status("t4", Status::Active, None));

            run(180, &|o| o.triage("t7", &triage(C::Task, P::High, D::Infra, None, Some("mission-control"))));
            run(180, &|o| o.set_status("t7", Status::Planned, None));

            run(420, &|o| o.triage("t8", &triage(C::Task, P::Medium, D::Backend, None, None)));
            run(410, &|o| o.assign("t8", &assignment("Subagent:Backend", "x", "y")));
            run(400, &|o| o.set_status("t8", Status::Active, None));
            run(100, &|o| o.set_status("t8", Status::Review, None));
            run(30, &|o| o.set_status("t8", Status::Done, None));

            run(480, &|o| o.set_mode(Mode::Building));
            let usage = |input: i64, output: i64, cost: f64| UsageInput {
                model: "example-large-2".into(),
                agent: "fakker".into(),
                input_tokens: input,
                output_tokens: output,
                cost: Some(cost),
                ..UsageInput::default()
            };
            run(120, &|o| o.record_usage(&usage(800, 200, 0.3)));
            run(50, &|o| o.record_usage(&usage(400, 100, 0.18)));
        }
        let signals = [
            (
                120,
                "health.changed",
                "integration",
                "openclaw-gateway",
                "failed",
                Some(("healthy", "ProbeFailing")),
            ),
            (30, "health.changed", "routine", "daily-status", "stale", Some(("healthy", "Overdue"))),
            (180, "heartbeat.received", "routine", "daily-status", "success", None),
            (91, "heartbeat.received", "routine", "daily-status", "start", None),
            (90, "heartbeat.received", "routine", "daily-status", "fail", None),
            (40, "heartbeat.received", "routine", "daily-status", "fail", None),
            (20, "heartbeat.received", "routine", "inbox-sweep", "success", None),
            (5, "heartbeat.received", "routine", "inbox-sweep", "success", None),
            (26 * 60, "heartbeat.received", "routine", "inbox-sweep", "fail", None),
            (119, "alert.firing", "integration", "openclaw-gateway", "failed", None),
        ];
        for (minutes, kind, entity_type, id, status, change) in signals {
            let mut new = NewEvent::new(kind, "reconciler", entity_type, id, status, "").at(ago(minutes));
            if let Some((from, reason)) = change {
                new = new.with_data(serde_json::json!({"from": from, "to": status, "reason": reason}));
            }
            store(&mut board, &mut events, vec![new]);
        }
        events.sort_by_key(|e| (e.timestamp, e.seq));
        Fixture {
            config: Some(config),
            live: live(),
            has_live: true,
            board,
            has_board: true,
            events,
            docs: docs(),
            memory: Some(MEMORY.to_string()),
            now: now(),
            tz: berlin(),
        }
    }

    /// Only the docs layer and the memory file: no configuration, no live state, no events.
    pub fn docs_only() -> Fixture {
        Fixture { docs: docs(), memory: Some(MEMORY.to_string()), ..Fixture::empty() }
    }

    /// Nothing at all.
    pub fn empty() -> Fixture {
        Fixture {
            config: None,
            live: LiveState::default(),
            has_live: false,
            board: Board::default(),
            has_board: false,
            events: Vec::new(),
            docs: Docs::default(),
            memory: None,
            now: now(),
            tz: berlin(),
        }
    }

    pub fn view(&self) -> View<'_> {
        let midnight = crate::work::window_start(std::time::Duration::from_secs(86_400), self.now, self.tz);
        let first = self.events.partition_point(|e| e.timestamp < midnight);
        View {
            config: self.config.as_ref(),
            live: self.has_live.then_some(&self.live),
            board: self.has_board.then_some(&self.board),
            today_events: &self.events[first..],
            today: None,
            wants_json: true,
            docs: &self.docs,
            memory: self.memory.as_deref(),
            now: self.now,
            tz: self.tz,
        }
    }
}

pub fn docs() -> Docs {
    Docs {
        mission_control: Some(MISSION_CONTROL.into()),
        projects: Some(PROJECTS.into()),
        tasks: Some(TASKS.into()),
        decisions: Some(DECISIONS.into()),
        runbooks: Some(RUNBOOKS.into()),
        outputs: None,
    }
}

/// What every reply must be: valid legacy Markdown under the limit, and JSON that names its
/// command and source.
pub fn assert_reply(r: &Reply) {
    assert!(units(&r.text) <= MAX_UNITS, "{} units", units(&r.text));
    assert!(!r.text.is_empty());
    if let Err(e) = check_markdown(&r.text) {
        panic!("{e}");
    }
    assert!(r.json["command"].is_string(), "{}", r.json);
    assert!(r.json["source"].is_string(), "{}", r.json);
}

/// Entity states as live state lists them, shared.
fn arcs(states: Vec<EntityState>) -> Vec<std::sync::Arc<EntityState>> {
    states.into_iter().map(std::sync::Arc::new).collect()
}
