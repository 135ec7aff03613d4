//! The OpenClaw collector (SPEC section 14): what an OpenClaw gateway's home says about its
//! cron jobs, their runs, the agents' heartbeats and the tokens they spend, read without ever
//! writing there.
//!
//! [`Home::scan`] reads the home incrementally and returns a [`Scan`]: the jobs as they stand,
//! the runs finished since the last scan, each agent's heartbeat configuration and activity,
//! the token usage recorded since the last scan, and the problems met on the way (a malformed
//! line, a locked database), which are reported and retried, never fatal. What the facts mean
//! is decided by pure functions of the facts and the time: [`ledger::ledger`] (every expected
//! fire time marked ran, late, missed, early or duplicate), [`heartbeat::judge`] (stopped or
//! runaway heartbeats) and [`drift::drift`] (desired routines against the jobs found).
//!
//! # The three layouts
//!
//! OpenClaw has kept the same facts in three places over its releases, and a home may hold any
//! of them (the readers' own docs hold the field-level reference):
//!
//! | releases | jobs | finished runs | transcripts |
//! | --- | --- | --- | --- |
//! | up to 2026.4.15 | `cron/jobs.json`, state inline | `cron/runs/<job>.jsonl` | `agents/<a>/sessions/*.jsonl` |
//! | 2026.4.20 to 5.28 | `cron/jobs.json` + `cron/jobs-state.json` | the same | the same |
//! | 2026.6.1 on | `state/openclaw.sqlite` `cron_jobs` | `cron_run_logs`, from 8.x `task_runs` | JSONL, from 8.1 `agents/<a>/agent/openclaw-agent.sqlite` |
//!
//! # Layout
//! - `home`: [`Home`], the incremental scan and the cursors it keeps between ticks.
//! - `store`: `cron/jobs.json` and `cron/jobs-state.json`, and the job shape shared by every layout.
//! - `changes`: which followed directories changed since the last tick (inotify), so that an
//!   unchanged tick skips them.
//! - `follow`: following an append-only file across truncation and replacement (new inode),
//!   and the stamps that tell a file rewritten whole is unchanged.
//! - `lenient`: JSON lines read field by field, without building a tree of each.
//! - `runlog`: run-log lines (`cron/runs/<job>.jsonl`, and the same entry stored in SQLite).
//! - `sessions`: `sessions.json` and transcript entries (assistant usage, heartbeat prompts).
//! - `settings`: `openclaw.json` (JSON5): heartbeat cadence per agent.
//! - `sqlite`: the shared state database and the per-agent databases, opened read-only.
//! - [`ledger`], [`heartbeat`], [`drift`]: the pure judgements.
//! - `sha256`: the hash OpenClaw derives a job's stagger offset from.

mod changes;
pub mod drift;
mod follow;
pub mod heartbeat;
mod home;
pub mod ledger;
mod lenient;
mod runlog;
mod sessions;
mod settings;
mod sha256;
mod sqlite;
mod store;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod scenarios;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use home::{Home, resolve_home};
pub use settings::parse_every;

/// Which of OpenClaw's storage layouts the cron jobs were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// No cron store at all (yet).
    Empty,
    /// Up to 2026.4.15: `cron/jobs.json` with each job's `state` inline.
    JsonInline,
    /// 2026.4.20 to 5.28: `cron/jobs.json` with empty states, and `cron/jobs-state.json`.
    JsonSplit,
    /// 2026.6.1 on: `state/openclaw.sqlite`.
    Sqlite,
}

/// A cron job as OpenClaw stores it, in every layout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: String,
    pub agent_id: Option<String>,
    pub name: String,
    pub enabled: bool,
    pub schedule: JobSchedule,
    pub state: JobState,
    /// `payload.kind`: `systemEvent` or `agentTurn`; it decides the default run timeout.
    pub payload_kind: Option<String>,
    /// `payload.timeoutSeconds`; 0 or less means no timeout.
    pub timeout_seconds: Option<f64>,
    pub created_at_ms: Option<i64>,
}

impl Job {
    /// How long a run may take before OpenClaw aborts it: `payload.timeoutSeconds`, else 60
    /// minutes for an agent turn and 10 minutes for anything else (OpenClaw's own defaults).
    /// None when the job has no timeout at all.
    pub fn run_timeout(&self) -> Option<Duration> {
        match self.timeout_seconds {
            Some(s) if s <= 0.0 || !s.is_finite() => None,
            Some(s) => Some(Duration::from_millis((s * 1000.0) as u64)),
            None if self.payload_kind.as_deref() == Some("agentTurn") => Some(Duration::from_secs(3600)),
            None => Some(Duration::from_secs(600)),
        }
    }

    /// Whether this is the system-owned heartbeat job of 2026.9 on (`Heartbeat (<agent>)`),
    /// and for which agent.
    pub fn heartbeat_agent(&self) -> Option<String> {
        let inner = self.name.strip_prefix("Heartbeat (")?.strip_suffix(')')?;
        Some(self.agent_id.clone().unwrap_or_else(|| inner.to_string()))
    }
}

/// When a job fires, in OpenClaw's terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSchedule {
    /// Once, at an instant (`at`, older `atMs`).
    At { at_ms: i64 },
    /// Every `every_ms`, on a grid from `anchor_ms` (OpenClaw falls back to the creation time).
    Every { every_ms: i64, anchor_ms: Option<i64> },
    /// A croner expression in `tz` (the gateway's local zone when absent), each fire moved by
    /// a stable per-job offset below `stagger_ms`.
    Cron { expr: String, tz: Option<String>, stagger_ms: Option<i64> },
    /// A schedule the reader could not make sense of; the text says why.
    Invalid { reason: String },
}

/// A job's runtime state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobState {
    pub next_run_at_ms: Option<i64>,
    /// Set while a run is in progress; a marker that stays set is a stuck job.
    pub running_at_ms: Option<i64>,
    pub last_run_at_ms: Option<i64>,
    /// `lastRunStatus`, or the older `lastStatus`.
    pub last_run_status: Option<RunStatus>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub consecutive_errors: Option<u32>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Ok,
    Error,
    Skipped,
}

impl RunStatus {
    pub fn parse(text: &str) -> Option<RunStatus> {
        match text {
            "ok" | "succeeded" => Some(RunStatus::Ok),
            "error" | "failed" | "timed_out" => Some(RunStatus::Error),
            "skipped" => Some(RunStatus::Skipped),
            _ => None,
        }
    }
}

/// Token counts, as OpenClaw reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// The reported total, or the sum of the four counts when none was reported.
    pub total: u64,
}

impl Tokens {
    pub fn add(&mut self, other: &Tokens) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
        self.total += other.total;
    }
}

/// One finished run of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub job_id: String,
    /// When the run finished (the line's `ts`).
    pub finished_at_ms: i64,
    /// When it started (`runAtMs`).
    pub run_at_ms: Option<i64>,
    pub status: Option<RunStatus>,
    pub error: Option<String>,
    pub summary: Option<String>,
    pub duration_ms: Option<i64>,
    pub next_run_at_ms: Option<i64>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub usage: Option<Tokens>,
    pub session_key: Option<String>,
}

impl Run {
    /// When the run started: `runAtMs`, else its end less its duration, else its end.
    pub fn started_at_ms(&self) -> i64 {
        self.run_at_ms
            .or_else(|| self.duration_ms.map(|d| self.finished_at_ms.saturating_sub(d.max(0))))
            .unwrap_or(self.finished_at_ms)
    }
}

/// An agent's heartbeat as configured in `openclaw.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeartbeatConfig {
    pub agent_id: String,
    /// False when the agent has no heartbeat (not selected, or `every` is `0m`).
    pub enabled: bool,
    /// The cadence; None when disabled.
    #[serde(serialize_with = "ser_opt_duration")]
    pub every: Option<Duration>,
    /// `every` as written, for messages.
    pub every_text: String,
    /// A custom heartbeat prompt, recognised in transcripts.
    pub prompt: Option<String>,
}

/// What an agent has been doing, as far as its sessions show.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentActivity {
    pub agent_id: String,
    /// The newest assistant message in any transcript.
    pub last_assistant_at: Option<DateTime<Utc>>,
    /// Model and provider of that message.
    pub model: Option<String>,
    pub provider: Option<String>,
    /// The newest `lastHeartbeatSentAt` of the session index.
    pub last_heartbeat_sent_at: Option<DateTime<Utc>>,
    pub sessions: usize,
    /// Heartbeats seen in the last two days, oldest first: heartbeat prompts in transcripts,
    /// `lastHeartbeatSentAt` stamps, and runs of the 2026.9 `Heartbeat (<agent>)` job.
    pub heartbeats: Vec<DateTime<Utc>>,
}

/// Tokens spent by one assistant message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageEntry {
    pub agent_id: String,
    pub session_id: String,
    pub session_key: Option<String>,
    /// The cron job whose run the session was (from a `...:cron:<job>...` session key).
    pub job_id: Option<String>,
    pub at: DateTime<Utc>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub tokens: Tokens,
    /// `usage.cost.total`, when the transcript carries it.
    pub cost: Option<f64>,
}

impl UsageEntry {
    /// The usage as Mission Control records it: the transcript's cost when it has one, else
    /// priced by the `Price` rules, else 0 and marked unpriced.
    pub fn record(
        &self,
        prices: &[crate::config::Price],
        routine: Option<String>,
    ) -> crate::work::event::UsageRecorded {
        use crate::work::{cost, price_for};
        let round6 = |x: f64| (x * 1_000_000.0).round() / 1_000_000.0;
        let model = self.model.clone().unwrap_or_else(|| "unknown".to_string());
        let t = &self.tokens;
        let (estimated_cost, currency, priced) = match (self.cost, price_for(prices, &model)) {
            (Some(c), price) => (round6(c), price.map_or("USD".to_string(), |p| p.currency.clone()), true),
            (None, Some(p)) => {
                (cost(p, t.input, t.output, t.cache_read, t.cache_write), p.currency.clone(), true)
            }
            (None, None) => (0.0, "USD".to_string(), false),
        };
        crate::work::event::UsageRecorded {
            model,
            agent: self.agent_id.clone(),
            task: None,
            routine,
            input_tokens: t.input,
            output_tokens: t.output,
            cache_read_tokens: t.cache_read,
            cache_write_tokens: t.cache_write,
            total_tokens: t.total,
            estimated_cost,
            currency,
            priced,
        }
    }
}

/// Something the collector could not read, or read only in part; the rest of the scan stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Relative to the home.
    pub path: String,
    pub message: String,
}

/// What one scan found.
#[derive(Debug, Clone, Serialize)]
pub struct Scan {
    pub at: DateTime<Utc>,
    pub layout: Layout,
    /// `schema_meta.schema_version` of the state database, in the SQLite layout.
    pub schema_version: Option<i64>,
    /// Every job, in store order; a job id stored twice appears twice.
    pub jobs: Vec<Job>,
    /// Runs finished since the previous scan (all runs on the first scan), oldest first.
    pub new_runs: Vec<Run>,
    /// One entry per known agent.
    pub heartbeats: Vec<HeartbeatConfig>,
    pub agents: Vec<AgentActivity>,
    /// Assistant messages with usage since the previous scan, oldest first.
    pub new_usage: Vec<UsageEntry>,
    pub problems: Vec<Problem>,
    /// The state database was locked: jobs are those of the last good read, and runs in it
    /// will come with the next scan.
    pub locked: bool,
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(&humantime::format_duration(*d)),
        None => s.serialize_none(),
    }
}

/// Milliseconds since the epoch as an instant, when in range.
pub fn instant_ms(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_priced_unless_a_cost_is_given() {
        let price = crate::config::Price {
            id: "sonnet".into(),
            model: "claude-sonnet-*".into(),
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
            cache_read_per_mtok: 0.3,
            cache_write_per_mtok: 3.75,
            currency: "USD".into(),
        };
        let mut entry = UsageEntry {
            agent_id: "main".into(),
            session_id: "s".into(),
            session_key: None,
            job_id: None,
            at: DateTime::UNIX_EPOCH,
            provider: Some("anthropic".into()),
            model: Some("claude-sonnet-4-5".into()),
            tokens: Tokens {
                input: 1_000_000,
                output: 100_000,
                cache_read: 1_000_000,
                cache_write: 0,
                total: 2_100_000,
            },
            cost: None,
        };
        let priced = entry.record(std::slice::from_ref(&price), Some("daily".into()));
        assert_eq!((priced.estimated_cost, priced.priced, priced.total_tokens), (4.8, true, 2_100_000));
        assert_eq!(priced.routine.as_deref(), Some("daily"));
        entry.cost = Some(0.1234567);
        assert_eq!(entry.record(&[price], None).estimated_cost, 0.123457);
        entry.cost = None;
        let unpriced = entry.record(&[], None);
        assert_eq!((unpriced.estimated_cost, unpriced.priced), (0.0, false));
    }
}
