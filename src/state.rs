//! Live state: `state/mission-control.json`, what the daemon knows right now.
//!
//! These types are the public shape of the snapshot (SPEC section 7) and of
//! `GET /api/v1/state`; `schemas/mission-control.schema.json` is generated from them. The
//! snapshot is also what a restarted daemon resumes from, so every entity carries the
//! observation counters its health depends on, not only the verdict.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{DesiredState, Level};

/// The snapshot format version.
pub const VERSION: u32 = 1;
/// The snapshot's file name under `state/`.
pub const FILE: &str = "mission-control.json";

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveState {
    pub version: u32,
    pub generated_at: Option<DateTime<Utc>>,
    /// Git HEAD of the workspace, when it is a git checkout.
    pub workspace_revision: Option<String>,
    pub summary: Summary,
    pub mismatches: Vec<Mismatch>,
    pub agents: Vec<Arc<EntityState>>,
    pub subagents: Vec<Arc<EntityState>>,
    /// Every task, inbox items included, in creation order.
    pub tasks: Vec<crate::work::Task>,
    pub workflows: Vec<Arc<EntityState>>,
    pub routines: Vec<Arc<EntityState>>,
    pub integrations: Vec<Arc<EntityState>>,
    pub outputs: Vec<Arc<EntityState>>,
    pub projects: Vec<Arc<EntityState>>,
    pub budgets: Vec<Arc<EntityState>>,
    pub usage: Usage,
    pub inbox: Inbox,
    pub alerts: Alerts,
    /// The work board the snapshot file restores from (tasks, reports, usage records). Only
    /// in `state/mission-control.json`; `GET /api/v1/state` leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<crate::work::Board>,
}

impl LiveState {
    /// Every entity of every list: agents, subagents, routines, integrations, outputs,
    /// workflows, projects and budgets.
    pub fn entities(&self) -> impl Iterator<Item = &EntityState> {
        self.shared_entities().map(|s| &**s)
    }

    /// [`LiveState::entities`] as the shared states themselves, to keep without copying.
    pub fn shared_entities(&self) -> impl Iterator<Item = &Arc<EntityState>> {
        self.agents
            .iter()
            .chain(&self.subagents)
            .chain(&self.routines)
            .chain(&self.integrations)
            .chain(&self.outputs)
            .chain(&self.workflows)
            .chain(&self.projects)
            .chain(&self.budgets)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub overall_health: Option<Level>,
    /// Counted entities by level (paused, retired and protected ones count nowhere).
    pub counts: Counts,
    /// Entities that are `stale` now.
    pub stale_signals: u64,
    pub active_mode: Option<String>,
    pub daily_estimated_cost: f64,
    pub currency: String,
    /// The last event folded into this snapshot.
    pub last_event_seq: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub healthy: u64,
    pub unknown: u64,
    pub warning: u64,
    pub stale: u64,
    pub failed: u64,
}

impl Counts {
    pub fn add(&mut self, level: Level) {
        match level {
            Level::Healthy => self.healthy += 1,
            Level::Unknown => self.unknown += 1,
            Level::Warning => self.warning += 1,
            Level::Stale => self.stale += 1,
            Level::Failed => self.failed += 1,
        }
    }
}

/// A difference between what is declared and what is seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mismatch {
    /// `kind/id`.
    pub entity: String,
    pub field: String,
    pub desired: serde_json::Value,
    pub observed: serde_json::Value,
}

/// One observation: a ping, a probe result or a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// `ping`, `start`, `fail`, `exit`, `log`, `http`, `tcp`, `command`, `file`, `report`.
    pub kind: String,
    /// Whether the observation counts as success; absent for signals that are neither (start, log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_seconds: Option<f64>,
    /// HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The run id pairing a start with its finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// For files: the newest match's path, size and modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
}

impl Observation {
    /// An observation of `kind` made at `at`, with nothing known yet but when and what.
    pub fn new(at: DateTime<Utc>, kind: &str) -> Observation {
        Observation {
            at,
            kind: kind.to_string(),
            ok: None,
            latency_seconds: None,
            status: None,
            exit_code: None,
            error: None,
            rid: None,
            file: None,
            size: None,
            modified: None,
        }
    }
}

/// An OpenClaw cron job's schedule ledger over the last day: each expected fire time marked
/// ran, late, missed, early or duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerSummary {
    pub job: String,
    pub missed_runs: u32,
    /// Missed fire times in a row, ending with the latest one due.
    pub consecutive_missed: u32,
    pub duplicate_runs: u32,
    pub late_runs: u32,
    /// How long a run has been in flight past the job's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stuck_for_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_expected: Option<DateTime<Utc>>,
    /// Why no fire times could be laid out, when none could.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An agent's heartbeat as the OpenClaw collector judges it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatSummary {
    /// `stale` (stopped) or `failed` (runaway); none while it beats as configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_beat: Option<DateTime<Utc>>,
}

/// A watched entity as it stands.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityState {
    /// Lower-case kind: routine, integration, output, agent, workflow, project.
    pub kind: String,
    pub id: String,
    pub name: String,
    pub desired: DesiredState,
    pub health: Level,
    /// CamelCase cause, e.g. `Overdue`, `Paused`, `NeverObserved`, `Healthy`.
    pub reason: String,
    pub message: String,
    /// The health rule that decided the level, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// When the level last changed.
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub since: Option<DateTime<Utc>>,
    /// The level before the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_health: Option<Level>,
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub last_checked: Option<DateTime<Utc>>,
    /// The last observation of any kind (ping, probe, report).
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub last_signal: Option<DateTime<Utc>>,
    /// The observation that decided the level.
    // Usually the same as `last`: shared, not copied.
    pub evidence: Option<Arc<Observation>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Alerts of this entity are held back because a dependency is stale or failed.
    #[serde(default)]
    pub inhibited: bool,
    /// When the entity first appeared in the configuration: the anchor of its first deadline.
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub first_seen: Option<DateTime<Utc>>,
    /// The last success (a success ping, a passing probe, a fresh file).
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub last_success: Option<DateTime<Utc>>,
    /// The last finished run (success, failure or exit ping; a probe result; a new file): the
    /// anchor from which the next expected run is computed.
    #[serde(default)]
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub last_run: Option<DateTime<Utc>>,
    #[serde(default)]
    pub consecutive_failures: u64,
    #[serde(default)]
    pub consecutive_successes: u64,
    /// Failed enough probes in a row to be failing, and not yet recovered.
    #[serde(default)]
    pub failing: bool,
    /// A run started (start ping) and not finished, since then.
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub running_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_rid: Option<String>,
    /// The last observation.
    pub last: Option<Arc<Observation>>,
    /// Routines and outputs: the next expected signal and its deadline (expected + grace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub expected_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::timestamp::serialize_opt")]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    pub missed_runs: u64,
    /// Budgets: the spend in the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<f64>,
    /// Routines observed through an OpenClaw cron job: the job's schedule ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<Box<LedgerSummary>>,
    /// Agents of an OpenClaw gateway: their heartbeat as the collector judges it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Box<HeartbeatSummary>>,
    /// A human description of the schedule or probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// Kind-specific facts (role, parent, model, steps, repo, ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl EntityState {
    /// Moves every instant the state holds by `by`: after the wall clock jumped, what was
    /// recorded on the old clock is put on the new one, so each deadline stays as far away in
    /// real time as it was.
    pub fn shift_clock(&mut self, by: chrono::Duration) {
        for at in [
            &mut self.since,
            &mut self.last_checked,
            &mut self.last_signal,
            &mut self.first_seen,
            &mut self.last_success,
            &mut self.last_run,
            &mut self.running_since,
            &mut self.expected_at,
            &mut self.deadline,
        ] {
            if let Some(t) = at.as_mut() {
                *t += by;
            }
        }
        for observation in [&mut self.evidence, &mut self.last].into_iter().flatten() {
            Arc::make_mut(observation).at += by;
        }
        if let Some(t) = self.ledger.as_mut().and_then(|l| l.next_expected.as_mut()) {
            *t += by;
        }
        if let Some(t) = self.heartbeat.as_mut().and_then(|h| h.last_beat.as_mut()) {
            *t += by;
        }
    }
}

/// A task of the work tracker (SPEC section 8).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Today, in the settings' timezone.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub estimated_cost: f64,
    pub currency: String,
    /// Today's estimated cost by model and by agent.
    #[serde(default)]
    pub by_model: BTreeMap<String, f64>,
    #[serde(default)]
    pub by_agent: BTreeMap<String, f64>,
    /// Estimated cost by local day (`YYYY-MM-DD`) and model, the last 14 days.
    #[serde(default)]
    pub by_day: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inbox {
    pub raw: u64,
    pub untriaged: u64,
    pub triaged: u64,
    pub urgent: u64,
    pub newest: Vec<InboxItem>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxItem {
    pub id: String,
    pub text: String,
    pub source: Option<String>,
    pub created: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    pub firing: Vec<FiringAlert>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FiringAlert {
    /// `rule/kind/id`, stable across restarts.
    pub id: String,
    pub rule: String,
    pub entity_type: String,
    pub entity_id: String,
    pub level: Level,
    pub starts_at: DateTime<Utc>,
    #[serde(default)]
    pub silenced: bool,
    #[serde(default)]
    pub inhibited: bool,
}

/// Writes the snapshot atomically: a temporary file in the same folder, fsync, rename, so a
/// reader or a crash never sees half a file. Created mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// [`write_atomic`] with the content written by `fill` (through a buffer), so a large file
/// is never held in memory whole. The buffer is a concrete type, not a `dyn Write`: a
/// serializer writes a few bytes at a time, and through a trait object each of those writes
/// was a call (a third of the snapshot's cost at 5,000 entities).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|file| {
            let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, file);
            fill(&mut buffered)?;
            buffered.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        // On a full disk the half-written temporary file would hold on to the space that is
        // missing, until the next write replaced it (found by the fault tests).
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself is durable only once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a snapshot; `None` when there is none or it does not parse (a fresh start then).
pub fn read(path: &Path) -> Option<LiveState> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}
