//! The OpenClaw collector as the daemon runs it: every `openclaw.every` it scans the home (off
//! the async workers) and hands the reconciler an [`Observed`]: the finished runs and the
//! token usage as events to store (`cron.run`, `usage.recorded`), each routine's schedule
//! ledger, each agent's heartbeat and activity, and the drift of the desired routines.
//!
//! What was already stored is not stored again after a restart: `state/openclaw-seen.json`
//! keeps the newest run per job and the newest usage per agent that were handed over, and a
//! first start ever takes only what is newer than the start of yesterday (a home with a
//! million run lines does not become a million events).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::openclaw::{self, AgentActivity, Home, Job, RunStatus, heartbeat, ledger};
use crate::config::{Config, EntityKey, Probe, Spec};
use crate::events::NewEvent;
use crate::state::{HeartbeatSummary, LedgerSummary, Mismatch};

/// The file that remembers what was handed over.
const SEEN_FILE: &str = "openclaw-seen.json";
/// The schedule ledger looks this far back.
const LEDGER_WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// How late a heartbeat may come before it counts as stopped, beyond twice its cadence.
const HEARTBEAT_GRACE: Duration = Duration::from_secs(60);
/// The event `source` of what the collector reports.
pub const SOURCE: &str = "openclaw";

/// What one scan tells the reconciler.
#[derive(Debug, Default)]
pub struct Observed {
    /// `cron.run` and `usage.recorded` events, oldest first.
    pub events: Vec<NewEvent>,
    pub ledgers: HashMap<EntityKey, LedgerSummary>,
    pub heartbeats: HashMap<EntityKey, HeartbeatSummary>,
    /// The newest assistant message of each agent (its activity, a signal).
    pub activity: HashMap<EntityKey, DateTime<Utc>>,
    pub mismatches: Vec<Mismatch>,
}

/// The newest run per job and usage per agent already handed over (milliseconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Seen {
    runs: BTreeMap<String, i64>,
    usage: BTreeMap<String, i64>,
}

/// Scans the home every `every` and sends what it finds through `send`, until `send` fails
/// (the daemon stops). A home that does not exist is looked for again at the next tick.
pub async fn run<F, Fut>(config: impl Fn() -> Arc<Config>, state_dir: PathBuf, mut send: F)
where
    F: FnMut(Observed) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Utc::now();
    let seen_path = state_dir.join(SEEN_FILE);
    let mut seen: Option<Seen> = std::fs::read(&seen_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let mut home: Option<Home> = None;
    loop {
        let config = config();
        let root = config.settings.openclaw_home.clone();
        if !config.settings.openclaw_enabled {
            tokio::time::sleep(config.settings.openclaw_every).await;
            continue;
        }
        if home.as_ref().is_none_or(|h| h.root() != root.as_path()) {
            home = root.is_dir().then(|| Home::new(root.clone()));
        }
        if let Some(mut current) = home.take() {
            let now = Utc::now();
            let scanned = tokio::task::spawn_blocking(move || {
                let scan = current.scan(now);
                (current, scan)
            })
            .await;
            match scanned {
                Ok((current, scan)) => {
                    for problem in &scan.problems {
                        debug!(path = %problem.path, problem = %problem.message, "openclaw home");
                    }
                    let seen = seen.get_or_insert_with(|| Seen::first(now));
                    let observed = observe(&config, &current, &scan, seen, started, now);
                    home = Some(current);
                    if !send(observed).await {
                        return;
                    }
                    if let Err(e) = write_seen(&seen_path, seen) {
                        warn!(error = %e, "cannot remember what the OpenClaw collector handed over");
                    }
                }
                Err(e) => warn!(error = %e, "the OpenClaw scan stopped"),
            }
        }
        tokio::time::sleep(config.settings.openclaw_every).await;
    }
}

impl Seen {
    /// A first start ever: what is older than the start of yesterday is history, not news.
    fn first(now: DateTime<Utc>) -> Seen {
        let floor = (now - chrono::Duration::days(1)).timestamp_millis();
        Seen {
            runs: BTreeMap::from([(String::new(), floor)]),
            usage: BTreeMap::from([(String::new(), floor)]),
        }
    }

    fn floor(map: &BTreeMap<String, i64>, key: &str) -> i64 {
        map.get(key).or_else(|| map.get("")).copied().unwrap_or(i64::MIN)
    }
}

fn write_seen(path: &Path, seen: &Seen) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(seen).map_err(std::io::Error::other)?;
    crate::state::write_atomic(path, &bytes)
}

/// The routines observed through each OpenClaw job.
fn routines_by_job(config: &Config) -> HashMap<&str, Vec<(&EntityKey, Duration)>> {
    let mut map: HashMap<&str, Vec<(&EntityKey, Duration)>> = HashMap::new();
    for entity in config.visible_entities() {
        if let Spec::Routine(r) = &entity.spec
            && let Probe::OpenclawCron { job } = &r.observe
        {
            map.entry(job.as_str()).or_default().push((&entity.key, r.grace));
        }
    }
    map
}

/// Turns one scan into what the reconciler needs; advances `seen` over what it hands over.
fn observe(
    config: &Config,
    home: &Home,
    scan: &openclaw::Scan,
    seen: &mut Seen,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Observed {
    let tz = config.settings.timezone;
    let by_job = routines_by_job(config);
    let mut observed = Observed::default();

    for run in &scan.new_runs {
        if run.finished_at_ms <= Seen::floor(&seen.runs, &run.job_id) {
            continue;
        }
        seen.runs.insert(run.job_id.clone(), run.finished_at_ms);
        let Some(at) = openclaw::instant_ms(run.finished_at_ms) else { continue };
        let status = match run.status {
            Some(RunStatus::Ok) => "ok",
            Some(RunStatus::Error) => "error",
            Some(RunStatus::Skipped) => "skipped",
            None => "unknown",
        };
        let targets: Vec<(String, String)> = match by_job.get(run.job_id.as_str()) {
            Some(routines) => {
                routines.iter().map(|(k, _)| (k.kind.lower().to_string(), k.id.clone())).collect()
            }
            None => vec![("job".to_string(), job_entity_id(&run.job_id))],
        };
        for (kind, id) in targets {
            let message = match (&run.error, &run.summary) {
                (Some(error), _) => format!("OpenClaw run {status}: {error}"),
                (None, Some(summary)) => format!("OpenClaw run {status}: {summary}"),
                (None, None) => format!("OpenClaw run {status}"),
            };
            let data = serde_json::json!({
                "job": run.job_id, "status": status, "error": run.error, "run_at_ms": run.run_at_ms,
                "duration_ms": run.duration_ms, "model": run.model,
            });
            observed
                .events
                .push(NewEvent::new("cron.run", SOURCE, kind, id, status, message).with_data(data).at(at));
        }
    }

    for entry in &scan.new_usage {
        let at_ms = entry.at.timestamp_millis();
        if at_ms <= Seen::floor(&seen.usage, &entry.agent_id) {
            continue;
        }
        seen.usage.insert(entry.agent_id.clone(), at_ms);
        let routine = entry
            .job_id
            .as_deref()
            .and_then(|job| by_job.get(job))
            .and_then(|routines| routines.first())
            .map(|(k, _)| k.id.clone());
        let usage = entry.record(&config.prices, routine);
        let message = format!(
            "{} for {}: {} tokens (OpenClaw transcript)",
            usage.model, usage.agent, usage.total_tokens
        );
        let data = serde_json::to_value(&usage).unwrap_or_default();
        observed.events.push(
            NewEvent::new("usage.recorded", SOURCE, "usage", usage.agent.clone(), "recorded", message)
                .with_data(data)
                .at(entry.at),
        );
    }
    observed.events.sort_by_key(|e| e.timestamp);

    let since = (now - LEDGER_WINDOW).max(started - LEDGER_WINDOW);
    for job in &scan.jobs {
        let Some(routines) = by_job.get(job.id.as_str()) else { continue };
        let runs = home.recent_runs(&job.id);
        for (key, grace) in routines {
            let l = ledger::ledger(job, &runs, since, now, *grace, tz);
            observed.ledgers.insert((*key).clone(), summary(&l));
        }
    }

    let agents: HashMap<&str, &AgentActivity> =
        scan.agents.iter().map(|a| (a.agent_id.as_str(), a)).collect();
    for config_beat in &scan.heartbeats {
        let Some(key) = agent_key(config, &config_beat.agent_id) else { continue };
        let beats =
            agents.get(config_beat.agent_id.as_str()).map(|a| a.heartbeats.clone()).unwrap_or_default();
        let j = heartbeat::judge(config_beat, &beats, started, now, HEARTBEAT_GRACE);
        observed.heartbeats.insert(
            key,
            HeartbeatSummary {
                level: j.level,
                reason: j.reason.map(String::from),
                message: j.message,
                last_beat: j.last_beat,
            },
        );
    }
    for activity in &scan.agents {
        if let (Some(key), Some(at)) = (agent_key(config, &activity.agent_id), activity.last_assistant_at) {
            observed.activity.insert(key, at);
        }
    }
    observed.mismatches =
        openclaw::drift::drift(config.visible_entities().map(|e| e.as_ref()), &scan.jobs, tz);
    observed
}

/// The Agent of the desired state that an OpenClaw agent id names (by id, then by name).
fn agent_key(config: &Config, agent_id: &str) -> Option<EntityKey> {
    let id = agent_id.to_ascii_lowercase();
    config
        .visible_entities()
        .find(|e| {
            matches!(e.spec, Spec::Agent(_))
                && (e.key.id == id
                    || e.meta.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(agent_id)))
        })
        .map(|e| e.key.clone())
}

/// An undeclared job's events name it as `job/<id>`, its id made to fit the id pattern.
fn job_entity_id(job: &str) -> String {
    let id: String = job
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .take(63)
        .collect();
    if crate::config::valid_id(&id) { id } else { format!("j{}", &id[..id.len().min(62)]) }
}

fn summary(l: &ledger::Ledger) -> LedgerSummary {
    LedgerSummary {
        job: l.job_id.clone(),
        missed_runs: l.missed_runs,
        consecutive_missed: l.consecutive_missed,
        duplicate_runs: l.duplicate_runs,
        late_runs: l.late_runs,
        stuck_for_seconds: l.stuck_for.map(|d| d.as_secs_f64()),
        next_expected: l.next_expected,
        note: l.note.clone(),
    }
}

/// `mission-control openclaw import`: the desired YAML for the jobs found in `home`.
pub fn import(config: &Config, home: &Path, now: DateTime<Utc>) -> Result<(String, Vec<Job>), String> {
    if !home.is_dir() {
        return Err(format!("no OpenClaw home at {}", home.display()));
    }
    let scan = Home::new(home).scan(now);
    if scan.jobs.is_empty() {
        return Err(format!("no cron jobs found in {}", home.display()));
    }
    Ok((openclaw::drift::import_yaml(&scan.jobs, config.settings.timezone), scan.jobs))
}
