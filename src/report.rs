//! `plan`, `why` and the chat commands' view: answers computed from the live state and the
//! log, the same way the daemon computes them, whether or not the daemon runs.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::{self, Config, EntityKey, Level};
use crate::engine::Engine;
use crate::events::{EventFilter, read_events};
use crate::health;
use crate::metrics::level_name;
use crate::state;

/// What `plan` and `why` found: text for the owner, or why there is none.
#[derive(Debug)]
pub enum Answer {
    Text(String),
    /// The configuration does not load.
    Invalid(config::LoadErrors),
    /// The question cannot be answered (an unknown entity, say).
    Problem(String),
}

/// The engine as the daemon would have it now: snapshot, then every later event, evaluated.
pub fn current_engine(
    workspace: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Engine, config::LoadErrors>> {
    anyhow::ensure!(workspace.is_dir(), "workspace {} is not a folder", workspace.display());
    let config = match config::load(workspace, now) {
        Ok(c) => Arc::new(c),
        Err(errors) => return Ok(Err(errors)),
    };
    let state_dir = workspace.join("state");
    let mut engine = Engine::new(config, state::read(&state_dir.join(state::FILE)), now);
    let filter = EventFilter { since_seq: Some(engine.last_seq()), ..EventFilter::default() };
    for event in read_events(&state_dir, &filter)? {
        engine.apply_event(&event);
    }
    engine.evaluate_all(now);
    Ok(Ok(engine))
}

/// The health rules in effect and where each comes from (built in, or PATH:LINE), as
/// `validate`, `plan` and `why` list them.
pub fn effective_health_rules(config: &Config) -> String {
    if config.health_rules.is_empty() {
        let why = if config.settings.health_defaults { "" } else { " (settings health.defaults is false)" };
        return format!(
            "health rules in effect: none{why}; an entity is unknown until observed, then healthy \
             while its latest observation succeeds and warning (Degraded) when it fails\n"
        );
    }
    let mut out = String::from("health rules in effect (the worst level among those that hold decides):\n");
    for rule in &config.health_rules {
        out.push_str(&format!("  {:<24} {:<8} {}\n", rule.id, level_name(rule.level), rule.origin));
    }
    out
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string()
}

pub fn why(workspace: &Path, entity: &str) -> anyhow::Result<Answer> {
    let now = Utc::now();
    let engine = match current_engine(workspace, now)? {
        Ok(engine) => engine,
        Err(errors) => return Ok(Answer::Invalid(errors)),
    };
    let config = engine.config().clone();
    let Some(key) = EntityKey::parse(entity) else {
        return Ok(Answer::Problem(format!(
            "{entity:?} is not kind/id (kinds: routine, integration, output, agent, workflow, project)"
        )));
    };
    let (Some(e), Some(s)) = (config.entity(&key).filter(|e| !e.inert), engine.state(&key)) else {
        return Ok(Answer::Problem(format!("{key} is not defined")));
    };
    let tz = config.settings.timezone;
    let explanation = health::explain(&config, e, s, now);
    let v = &explanation.verdict;
    let mut out = String::new();
    let rule = v.rule.as_ref().map(|r| format!(", rule {r}")).unwrap_or_default();
    out.push_str(&format!("{key}: {} ({}{rule})\n  {}\n", level_name(v.level), v.reason, v.message));
    let time = |t: Option<DateTime<Utc>>| t.map_or("never".to_string(), |t| local(t, tz));
    out.push_str(&format!("  last signal: {}\n", time(s.last_signal)));
    if let Some(x) = &explanation.expectation {
        out.push_str(&format!(
            "  expected at: {}  deadline: {}  late: {}  overdue: {}  missed runs: {}\n",
            local(x.expected_at, tz),
            local(x.deadline, tz),
            x.late,
            x.overdue,
            x.missed_runs
        ));
    }
    if let Some(since) = s.running_since {
        out.push_str(&format!("  running since: {}\n", local(since, tz)));
    }
    if !health::is_judged(e) {
        out.push_str("rules: none apply (not judged)\n");
    } else if explanation.traces.is_empty() {
        out.push_str("rules: no health rule matches this entity\n");
    } else {
        out.push_str("rules (the worst level among those that hold decides):\n");
        for t in &explanation.traces {
            let mark = if t.held { "holds" } else { "no" };
            let origin = config.health_rules.iter().find(|r| r.id == t.rule).map(|r| r.origin.to_string());
            out.push_str(&format!(
                "  [{mark:>5}] {} -> {}  when: {}  ({})\n",
                t.rule,
                level_name(t.level),
                t.condition,
                origin.unwrap_or_default()
            ));
            for (path, value) in &t.inputs {
                out.push_str(&format!("          {path} = {value}\n"));
            }
        }
    }
    if !explanation.traces.iter().any(|t| t.held) && v.level != Level::Healthy {
        out.push_str(&format!("no rule holds: {} because {}\n", level_name(v.level), v.message));
    }
    match &v.evidence {
        Some(evidence) => {
            let mut value = serde_json::to_value(evidence)?;
            crate::redact::redact_json(&mut value);
            out.push_str(&format!("evidence: {value}\n"));
        }
        None => out.push_str("evidence: none\n"),
    }
    if s.inhibited {
        out.push_str("alerts: held back, a dependency is stale or failed (UpstreamUnhealthy)\n");
    }
    Ok(Answer::Text(out))
}

pub fn plan(workspace: &Path, hours: u32) -> anyhow::Result<Answer> {
    let now = Utc::now();
    let engine = match current_engine(workspace, now)? {
        Ok(engine) => engine,
        Err(errors) => return Ok(Answer::Invalid(errors)),
    };
    let config = engine.config().clone();
    let tz = config.settings.timezone;
    let until = now + chrono::Duration::hours(i64::from(hours));
    let mut due: Vec<(DateTime<Utc>, String, String)> = Vec::new();
    for e in config.visible_entities().filter(|e| health::is_judged(e)) {
        let Some(s) = engine.state(&e.key) else { continue };
        let Some(grace) = e.grace() else { continue };
        let grace = chrono::Duration::from_std(grace).unwrap_or_default();
        if let (Some(expected), Some(deadline)) = (s.expected_at, s.deadline)
            && deadline >= now
        {
            due.push((expected, e.key.to_string(), format!("expected; stale after {}", local(deadline, tz))));
        }
        // Fixed periods run from the last signal, so only the next run is known; cron fire
        // times are known ahead.
        let schedule = e.schedule().filter(|s| matches!(s, crate::schedule::Schedule::Cron { .. }));
        if let Some(schedule) = schedule {
            let from = s.expected_at.unwrap_or(now).max(now);
            for fire in schedule.fires_between(from, until, 10) {
                due.push((
                    fire,
                    e.key.to_string(),
                    format!("expected; stale after {}", local(fire + grace, tz)),
                ));
            }
        }
    }
    due.sort();
    due.dedup();
    let mut out = format!("Due in the next {hours}h (times in {}):\n", tz.name());
    if due.iter().all(|(t, ..)| *t > until) {
        out.push_str("  nothing\n");
    }
    for (t, key, what) in due.iter().filter(|(t, ..)| *t <= until) {
        out.push_str(&format!("  {}  {key:<36} {what}\n", local(*t, tz)));
    }
    out.push_str("Alerts that would fire now:\n");
    let firing = firing_now(&config, &engine, now);
    if firing.is_empty() {
        out.push_str("  none\n");
    }
    for line in firing {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&effective_health_rules(&config));
    Ok(Answer::Text(out))
}

/// One line per (alert rule, entity) that matches the entity's current level.
fn firing_now(config: &Config, engine: &Engine, now: DateTime<Utc>) -> Vec<String> {
    let mut lines = Vec::new();
    for e in config.visible_entities().filter(|e| health::is_judged(e)) {
        let Some(s) = engine.state(&e.key) else { continue };
        for rule in config.alert_rules.iter().filter(|r| r.fires(e, s.health)) {
            let held = if s.inhibited {
                " (held back: UpstreamUnhealthy)".to_string()
            } else if let Some(silence) = config.silences.iter().find(|x| x.holds(e, s.health, now)) {
                format!(" (silenced by {} until {})", silence.id, silence.expires.to_rfc3339())
            } else {
                String::new()
            };
            lines.push(format!(
                "{}  {}  {} ({})  -> {}{held}",
                rule.id,
                e.key,
                level_name(s.health),
                s.reason,
                rule.receivers.join(", ")
            ));
        }
    }
    lines
}

/// The docs layer of a workspace (SPEC section 1): the human-intent files the chat commands
/// fall back on. A missing or unreadable file is simply absent.
pub fn read_docs(workspace: &Path) -> crate::commands::Docs {
    let read = |name: &str| std::fs::read_to_string(workspace.join(name)).ok();
    crate::commands::Docs {
        mission_control: read("MISSION_CONTROL.md"),
        projects: read("PROJECTS.md"),
        tasks: read("TASKS.md"),
        decisions: read("DECISIONS.md"),
        runbooks: read("RUNBOOKS.md"),
        outputs: read("OUTPUTS.md"),
    }
}

/// The orchestrator's daily memory for the local day of `now`
/// (`<openclaw home>/workspace/memory/YYYY-MM-DD.md`), when present.
pub fn read_memory(config: &Config, now: DateTime<Utc>) -> Option<String> {
    let day = now.with_timezone(&config.settings.timezone).date_naive();
    let path = config.settings.openclaw_home.join("workspace").join("memory").join(format!("{day}.md"));
    std::fs::read_to_string(path).ok()
}

/// The events of the local day of `now`, oldest first, without protected entities' ones.
pub fn today_events(
    workspace: &Path,
    config: Option<&Config>,
    now: DateTime<Utc>,
) -> Vec<crate::events::Event> {
    let tz = config.map_or(chrono_tz::UTC, |c| c.settings.timezone);
    let midnight = crate::work::window_start(std::time::Duration::from_secs(86_400), now, tz);
    let filter = EventFilter { since: Some(midnight), ..EventFilter::default() };
    let mut events = read_events(&workspace.join("state"), &filter).unwrap_or_default();
    if let Some(config) = config {
        events.retain(|e| !crate::web::api::hidden(config, e));
    }
    events
}

/// A chat command's answer, computed without the daemon: live state from the snapshot and the
/// log when there is any, else the docs layer. `Err` when the command does not exist.
pub fn chat(
    workspace: &Path,
    name: &str,
    arg: Option<&str>,
    wants_json: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<crate::commands::Reply, String>> {
    let command = match crate::commands::Command::parse(name, arg) {
        Ok(command) => command,
        Err(e) => return Ok(Err(e)),
    };
    let state_dir = workspace.join("state");
    let saved = state::read(&state_dir.join(state::FILE));
    let has_log = state_dir.join(crate::events::EVENTS_FILE).exists();
    let engine = match (saved.is_some() || has_log).then(|| current_engine(workspace, now)).transpose()? {
        Some(Ok(engine)) => Some(engine),
        _ => None,
    };
    let (config, live, board) = match &engine {
        Some(engine) => {
            let mut live = engine.snapshot(now);
            // Firing alerts as the daemon last wrote them.
            if let Some(saved) = &saved {
                live.alerts = saved.alerts.clone();
            }
            (Some(engine.config().clone()), Some(live), Some(engine.board().clone()))
        }
        // A configuration that does not load (an edit in progress) does not hide what is
        // known: the snapshot as last written answers, without the events after it.
        None => {
            let board = saved.as_ref().map(|live| {
                let mut board = live.work.clone().unwrap_or_default();
                board.tasks = live.tasks.iter().map(|t| (t.id.clone(), t.clone())).collect();
                board
            });
            (config::load(workspace, now).ok().map(Arc::new), saved, board)
        }
    };
    let known = Known { config: config.as_deref(), live: live.as_ref(), board: board.as_ref(), day: None };
    Ok(Ok(chat_with(workspace, known, &command, wants_json, now)))
}

/// How long a command-line process waits for the running daemon's answer before computing
/// it itself: the daemon waits up to 5 s for its log to catch up (`min_seq`).
const DAEMON_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(7);

/// The largest answer taken from the daemon (replies are under 4096 characters; JSON lists
/// are longer).
const DAEMON_ANSWER_BYTES: usize = 4 << 20;

/// A chat command's answer from the workspace's running daemon, as the command prints it
/// (Markdown, or indented JSON with `json`), once the daemon has folded every event stored
/// so far (this process's own writes included). `None` when no daemon runs or none answers
/// properly: the caller then computes the answer itself.
pub fn ask_daemon(workspace: &Path, name: &str, arg: Option<&str>, json: bool) -> Option<String> {
    let state_dir = workspace.join("state");
    let daemon = crate::presence::find(&state_dir)?;
    let folded = crate::events::last_stored_seq(&state_dir).ok()?;
    let mut url = reqwest::Url::parse(&format!("http://{}/api/v1/commands/", daemon.address())).ok()?;
    url.path_segments_mut().ok()?.pop_if_empty().push(name);
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("format", if json { "json" } else { "text" });
        if let Some(owner) = arg {
            query.append_pair("owner", owner);
        }
        if let Some(seq) = folded {
            query.append_pair("min_seq", &seq.to_string());
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    let body = runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(std::time::Duration::from_millis(500))
            .timeout(DAEMON_ANSWER_WAIT)
            .build()
            .ok()?;
        let mut response = client.get(url).send().await.ok()?.error_for_status().ok()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.ok()? {
            body.extend_from_slice(&chunk);
            if body.len() > DAEMON_ANSWER_BYTES {
                return None;
            }
        }
        Some(body)
    })?;
    if json {
        let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
        serde_json::to_string_pretty(&value).ok()
    } else {
        String::from_utf8(body).ok()
    }
}

/// What a chat command's answer starts from; `None` is what is not known.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    pub config: Option<&'a Config>,
    pub live: Option<&'a state::LiveState>,
    pub board: Option<&'a crate::work::Board>,
    /// The day's events folded (the daemon's); without it `today` reads them from the log.
    pub day: Option<&'a crate::commands::DayDigest>,
}

/// A chat command's answer over the given state, with the docs layer, the orchestrator's
/// daily memory and today's events read from the workspace (unless `known.day` has them).
pub fn chat_with(
    workspace: &Path,
    known: Known<'_>,
    command: &crate::commands::Command,
    wants_json: bool,
    now: DateTime<Utc>,
) -> crate::commands::Reply {
    let Known { config, live, board, day } = known;
    let docs = read_docs(workspace);
    // Only `today` reads the day's events and the orchestrator's memory: every other command
    // answers without touching the log.
    let is_today = matches!(command, crate::commands::Command::Today);
    let memory = config.filter(|_| is_today).and_then(|c| read_memory(c, now));
    let today = if is_today && day.is_none() { today_events(workspace, config, now) } else { Vec::new() };
    let view = crate::commands::View {
        config,
        live,
        board,
        today_events: &today,
        today: day,
        wants_json,
        docs: &docs,
        memory: memory.as_deref(),
        now,
        tz: config.map_or(chrono_tz::UTC, |c| c.settings.timezone),
    };
    crate::commands::answer(command, &view)
}
