//! The event log of SPEC section 6: `state/events.jsonl`, one JSON object a line, append-only,
//! written at the same time by the daemon and by short-lived CLI processes.
//!
//! Writers take turns through an exclusive lock on `state/events.lock`, so lines never
//! interleave and `seq` never repeats whichever process writes. Each process remembers the
//! file's identity, length and last `seq` after its own write: when the file is as it left it,
//! an append costs a lock, a `stat`, one `write` and one `fdatasync`; when another process wrote
//! or rotated in between, it reads only what changed (or scans back from the end), repairing a
//! torn last line on the way. [`EventWriter`] gathers the daemon's concurrent appends into one
//! batch and one fsync, and broadcasts what was stored. Readers take no lock: they skip lines
//! that do not parse and drop any `seq` not above the last one yielded, so a read racing a write
//! or a rotation stays in order and never repeats itself.
//!
//! # Layout
//!
//! - `log`: [`EventLog`], the locked, durable append (and the rotation).
//! - `writer`: [`EventWriter`], group commit and the broadcast for the daemon.
//! - `read`: [`read_events`], the lock-free reader.
//! - `file`: scanning lines of a log file, forwards and backwards.

mod file;
mod log;
mod read;
#[cfg(test)]
mod tests;
mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

pub use log::EventLog;
pub use read::{head_events, last_stored_seq, read_events, tail_events};
pub use writer::EventWriter;

/// The live log inside the state directory; rotated files are `events.jsonl.1` (newest) and up.
pub const EVENTS_FILE: &str = "events.jsonl";
/// The file every writer locks; it holds no data.
pub const LOCK_FILE: &str = "events.lock";

/// In a new event's `entity_id`, replaced by the event's seq when it is stored: `t{seq}`
/// becomes `t42`. Lets processes that write at the same time create ids that never collide.
pub const SEQ_PLACEHOLDER: &str = "{seq}";

/// One stored line of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// Strictly increasing and unique across every writer.
    pub seq: u64,
    /// RFC 3339 UTC with millisecond precision, e.g. `2026-11-25T07:45:01.120Z`.
    #[serde(serialize_with = "serialize_timestamp")]
    pub timestamp: DateTime<Utc>,
    /// What happened: `health.changed`, `heartbeat.received`, `task.assigned`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Who wrote it: `reconciler`, `cli`, `api`, ...
    pub source: String,
    /// The entity's kind in lower case (`routine`), as in `routine/daily-status`.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// The entity's status after the event (a health level, a task status, ...).
    pub status: String,
    /// A sentence for people.
    pub message: String,
    /// Details that depend on `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// Milliseconds and `Z`, whatever precision the value carries, so every line looks alike.
fn serialize_timestamp<S: Serializer>(timestamp: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    crate::timestamp::serialize_millis(timestamp, serializer)
}

/// An event before the log gives it a seq and a timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: String,
    pub source: String,
    pub entity_type: String,
    pub entity_id: String,
    pub status: String,
    pub message: String,
    pub data: Option<serde_json::Value>,
    /// `None` stamps the event with the time of the append.
    pub timestamp: Option<DateTime<Utc>>,
}

impl NewEvent {
    pub fn new(
        kind: impl Into<String>,
        source: impl Into<String>,
        entity_type: impl Into<String>,
        entity_id: impl Into<String>,
        status: impl Into<String>,
        message: impl Into<String>,
    ) -> NewEvent {
        NewEvent {
            kind: kind.into(),
            source: source.into(),
            entity_type: entity_type.into(),
            entity_id: entity_id.into(),
            status: status.into(),
            message: message.into(),
            data: None,
            timestamp: None,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> NewEvent {
        self.data = Some(data);
        self
    }

    pub fn at(mut self, timestamp: DateTime<Utc>) -> NewEvent {
        self.timestamp = Some(timestamp);
        self
    }

    /// The event as the log stores it with `seq`: stamped `now` unless it has a time (to the
    /// millisecond, as written), and [`SEQ_PLACEHOLDER`] in its id replaced by the seq, so ids
    /// created by concurrent writers never collide. Tests of folds use it as the log does.
    pub fn stored(self, seq: u64, now: DateTime<Utc>) -> Event {
        use chrono::SubsecRound;
        let entity_id = if self.entity_id.contains(SEQ_PLACEHOLDER) {
            self.entity_id.replace(SEQ_PLACEHOLDER, &seq.to_string())
        } else {
            self.entity_id
        };
        Event {
            seq,
            timestamp: self.timestamp.unwrap_or(now).trunc_subsecs(3),
            kind: self.kind,
            source: self.source,
            entity_type: self.entity_type,
            entity_id,
            status: self.status,
            message: self.message,
            data: self.data,
        }
    }
}

/// Applied to every event before it is written; the redactor of SPEC section 12 goes here.
pub type Scrub = fn(&mut NewEvent);

/// Rotation settings (`events.max_bytes`, `events.keep` in the settings file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// The live file is rotated before an append would take it past this size.
    pub max_bytes: u64,
    /// Rotated files kept (`events.jsonl.1` ..); at least one is always kept, because the
    /// newest rotated file is where a writer finds the last `seq` after a rotation.
    pub keep: usize,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions { max_bytes: 64 * 1024 * 1024, keep: 5 }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EventLogError {
    #[error("cannot create state directory {}: {source}", .path.display())]
    CreateDir { path: PathBuf, source: Arc<io::Error> },
    #[error("cannot open event log file {}: {source}", .path.display())]
    Open { path: PathBuf, source: Arc<io::Error> },
    #[error("cannot lock {}: {source}", .path.display())]
    Lock { path: PathBuf, source: Arc<io::Error> },
    #[error("cannot read event log {}: {source}", .path.display())]
    Read { path: PathBuf, source: Arc<io::Error> },
    #[error("cannot write event log {}: {source}", .path.display())]
    Write { path: PathBuf, source: Arc<io::Error> },
    #[error("cannot rotate event log {} to {}: {source}", .from.display(), .to.display())]
    Rotate { from: PathBuf, to: PathBuf, source: Arc<io::Error> },
    #[error("cannot remove old event log {}: {source}", .path.display())]
    Remove { path: PathBuf, source: Arc<io::Error> },
    #[error("cannot serialize an event for {}: {message}", .path.display())]
    Serialize { path: PathBuf, message: String },
    #[error("the event writer for {} has stopped", .path.display())]
    WriterStopped { path: PathBuf },
}

impl EventLogError {
    /// The operating system's error behind this one (a full disk, a permission), without the
    /// path: what a client refused by it may be told.
    pub fn os_error(&self) -> Option<&io::Error> {
        match self {
            EventLogError::CreateDir { source, .. }
            | EventLogError::Open { source, .. }
            | EventLogError::Lock { source, .. }
            | EventLogError::Read { source, .. }
            | EventLogError::Write { source, .. }
            | EventLogError::Rotate { source, .. }
            | EventLogError::Remove { source, .. } => Some(source),
            EventLogError::Serialize { .. } | EventLogError::WriterStopped { .. } => None,
        }
    }

    fn open(path: &Path, source: io::Error) -> EventLogError {
        EventLogError::Open { path: path.to_path_buf(), source: Arc::new(source) }
    }
    fn read(path: &Path, source: io::Error) -> EventLogError {
        EventLogError::Read { path: path.to_path_buf(), source: Arc::new(source) }
    }
    fn write(path: &Path, source: io::Error) -> EventLogError {
        EventLogError::Write { path: path.to_path_buf(), source: Arc::new(source) }
    }
}

/// Which events [`EventLog::read`] returns. Every set condition must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only events with a greater `seq` (exclusive), as in `?since_seq=`.
    pub since_seq: Option<u64>,
    /// Only events stamped at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only these `type`s, matched exactly; empty means every type.
    pub kinds: Vec<String>,
    /// Only this `(entity_type, entity_id)`.
    pub entity: Option<(String, String)>,
    /// At most this many: the OLDEST matching ones (the first n in seq order), so that paging
    /// with `since_seq` = the last seq returned walks the whole log. A caller that wants the
    /// newest n reads without a limit and keeps the tail.
    pub limit: Option<usize>,
}

impl EventFilter {
    pub fn matches(&self, event: &Event) -> bool {
        self.since_seq.is_none_or(|seq| event.seq > seq)
            && self.since.is_none_or(|since| event.timestamp >= since)
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && self
                .entity
                .as_ref()
                .is_none_or(|(kind, id)| *kind == event.entity_type && *id == event.entity_id)
    }
}

/// Parses `--since`: a duration ago (`90m`) or an RFC 3339 time.
pub fn parse_since(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    humantime::parse_duration(text)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| now - d)
        .ok_or_else(|| {
            format!("expected a duration such as 1h or a time such as 2026-11-25T07:00:00Z, not {text:?}")
        })
}

/// Parses an event's entity as `kind/id` (`routine/daily-status`, `workspace/config`): a
/// lower-case kind and an id of the usual pattern. Any kind is accepted, since events also
/// name things that are not desired entities.
pub fn parse_entity(text: &str) -> Result<(String, String), String> {
    let bad = || format!("expected kind/id such as routine/daily-status, not {text:?}");
    let (kind, id) = text.split_once('/').ok_or_else(bad)?;
    let kind_ok =
        !kind.is_empty() && kind.len() <= 32 && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !kind_ok || !crate::config::valid_id(id) {
        return Err(bad());
    }
    Ok((kind.to_string(), id.to_string()))
}

/// The redactor of SPEC section 12 as the log's scrub hook: nothing reaches the file unmasked.
pub fn redact_event(event: &mut NewEvent) {
    if let std::borrow::Cow::Owned(masked) = crate::redact::redact(&event.message) {
        event.message = masked;
    }
    if let Some(data) = &mut event.data {
        crate::redact::redact_json(data);
    }
}

/// Opens the workspace's log with the settings' rotation and the redactor.
pub fn open_workspace_log(
    workspace: &Path,
    settings: &crate::config::Settings,
) -> Result<EventLog, EventLogError> {
    let options = LogOptions { max_bytes: settings.events_max_bytes, keep: settings.events_keep.max(1) };
    Ok(EventLog::open(&workspace.join("state"), options)?.with_scrub(redact_event))
}
