//! OpenClaw's SQLite stores, opened read-only: the shared state database
//! `state/openclaw.sqlite` (cron jobs and their runs, from 2026.6.1) and the per-agent
//! `agents/<agentId>/agent/openclaw-agent.sqlite` (session index and transcripts, from 8.1).
//!
//! # What OpenClaw writes (reference)
//!
//! Both databases carry `schema_meta(meta_key, role, schema_version, agent_id, app_version,
//! created_at, updated_at)`; the row `meta_key = 'primary'` names the schema (`role` `global`
//! for the state database, its `schema_version` 1 in 2026.6, 15 in 2026.8, 18 in 2026.9). The
//! gateway writes in WAL mode with a 30-second busy timeout.
//!
//! - `cron_jobs`, keyed by `(store_key, job_id)` where `store_key` is the absolute path of the
//!   `cron/jobs.json` the jobs would have lived in. Every version keeps `name`, `enabled`,
//!   `agent_id`, `job_json` (the job without its state) and `state_json`, ordered by
//!   `sort_order`. 2026.6 also splits the schedule (`schedule_kind`, `schedule_expr`,
//!   `schedule_tz`, `every_ms`, `anchor_ms`, `at`, `stagger_ms`), the payload
//!   (`payload_kind`, `payload_timeout_seconds`) and the state (`next_run_at_ms`,
//!   `running_at_ms`, `last_run_at_ms`, `last_run_status`, `last_error`, `last_duration_ms`,
//!   `consecutive_errors`) into columns that win over the JSON; 2026.8 dropped those columns.
//! - Finished runs: in 2026.6 `cron_run_logs(store_key, job_id, seq, ts, status, error,
//!   summary, run_at_ms, duration_ms, next_run_at_ms, model, provider, total_tokens,
//!   entry_json, ...)`, `seq` growing per job, pruned to the newest 2,000 rows per job. From
//!   2026.8 they are rows of `task_runs` with `runtime = 'cron'`, `source_id` the job id,
//!   `ended_at` (ms), `status` (`succeeded`, `failed`, `timed_out`, ...) and `detail_json`
//!   `{kind: "cron-run", status, runAtMs, durationMs, nextRunAtMs, model, provider, usage,
//!   storeKey, ...}`; the old table is imported there and dropped. A task row is written when
//!   a run starts and completed when it ends, so runs are read by their end time.
//! - Per agent (2026.8.1 on): `session_nodes(session_key, current_session_id, entry_json)`,
//!   the entry being a `sessions.json` entry; `session_windows(session_id, session_key, ...)`;
//!   `transcript_events(session_id, seq, event_json, created_at)`, one transcript line per
//!   row. 2026.9 may store an event compressed (`event_json` NULL, `event_zstd`), which this
//!   reader counts and skips.
//!
//! # How it is read
//!
//! With `SQLITE_OPEN_READ_ONLY` (never the create flag, so a missing database stays missing),
//! a 100 ms busy timeout, inside one read transaction per database and tick. A database that
//! stays locked is [`DbError::Locked`]: the caller keeps its cursors and reads it again on
//! the next tick. Cursors advance only once a whole read has succeeded.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::{Map, Value};

use super::runlog::run_from;
use super::sessions::{IndexEntry, index_entry};
use super::store::{job_from, schedule_from, state_from};
use super::{Job, JobSchedule, Run, RunStatus};

/// Why a database could not be read this tick.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    #[error("database is locked; read again next tick")]
    Locked,
    #[error("{0}")]
    Other(String),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => DbError::Locked,
            _ => DbError::Other(e.to_string()),
        }
    }
}

/// Opens a database for reading only.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(Duration::from_millis(100))?;
    Ok(conn)
}

/// Where reading the state database stands.
#[derive(Debug, Clone, Default)]
pub struct StateCursor {
    /// `cron_run_logs`: the highest `seq` read per job.
    pub run_seq: HashMap<String, i64>,
    /// `task_runs`: the last `(ended_at, task_id)` read.
    pub task: Option<(i64, String)>,
}

/// What one read of the state database found.
#[derive(Debug, Clone, Default)]
pub struct StateRead {
    pub schema_version: Option<i64>,
    pub store_key: Option<String>,
    /// False when the database has no `cron_jobs` table (no cron store here yet).
    pub has_jobs_table: bool,
    pub jobs: Vec<Job>,
    /// Runs after the cursor, in the order stored (by job, then by time).
    pub runs: Vec<Run>,
    pub problems: Vec<String>,
}

/// Reads the cron jobs and the runs after `cursor`; the cursor moves only on success.
pub fn read_state(conn: &Connection, cursor: &mut StateCursor, home: &Path) -> Result<StateRead, DbError> {
    let tx = conn.unchecked_transaction()?;
    let tables = tables(conn)?;
    let mut read = StateRead { schema_version: schema_version(conn, &tables)?, ..StateRead::default() };
    check_schema(read.schema_version, NEWEST_STATE_SCHEMA, "state", &mut read.problems);
    let mut next = cursor.clone();
    if tables.contains_key("cron_jobs") {
        read.has_jobs_table = true;
        let keys: Vec<(String, i64)> = conn
            .prepare("SELECT store_key, COUNT(*) FROM cron_jobs GROUP BY store_key")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        read.store_key = pick_store_key(&keys, home);
        if keys.len() > 1 {
            read.problems.push(format!(
                "cron_jobs holds {} stores; reading {}",
                keys.len(),
                read.store_key.as_deref().unwrap_or("none")
            ));
        }
        if let Some(key) = &read.store_key {
            read.jobs = read_jobs(conn, key, &tables["cron_jobs"], &mut read.problems)?;
        }
    }
    if tables.contains_key("cron_run_logs")
        && let Some(key) = &read.store_key
    {
        read.runs.extend(read_run_logs(conn, key, &mut next, &mut read.problems)?);
    }
    if tables.get("task_runs").is_some_and(|cols| cols.iter().any(|c| c == "detail_json")) {
        read.runs.extend(read_task_runs(conn, read.store_key.as_deref(), &mut next, &mut read.problems)?);
    }
    tx.finish()?;
    *cursor = next;
    Ok(read)
}

/// Table names with their columns.
fn tables(conn: &Connection) -> Result<BTreeMap<String, Vec<String>>, DbError> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = BTreeMap::new();
    for name in names {
        // Table names come from the database itself; quote them all the same.
        let sql = format!("PRAGMA table_info(\"{}\")", name.replace('"', "\"\""));
        let cols: Vec<String> = conn.prepare(&sql)?.query_map([], |r| r.get(1))?.collect::<Result<_, _>>()?;
        out.insert(name, cols);
    }
    Ok(out)
}

/// The newest schema versions whose tables this reader was written against (2026.9.6).
const NEWEST_STATE_SCHEMA: i64 = 18;
const NEWEST_AGENT_SCHEMA: i64 = 23;

/// Tables are read by name and column, so an unknown schema is read as far as it is
/// recognised; the version only says how far to trust that.
fn check_schema(version: Option<i64>, newest: i64, what: &str, problems: &mut Vec<String>) {
    match version {
        None => problems.push(format!("no schema_meta row: the {what} database is read by its tables")),
        Some(v) if v > newest => problems.push(format!(
            "{what} schema version {v} is newer than this reader knows ({newest}); reading the tables it recognises"
        )),
        Some(_) => {}
    }
}

fn schema_version(conn: &Connection, tables: &BTreeMap<String, Vec<String>>) -> Result<Option<i64>, DbError> {
    if !tables.contains_key("schema_meta") {
        return Ok(None);
    }
    Ok(conn
        .query_row("SELECT schema_version FROM schema_meta WHERE meta_key = 'primary'", [], |r| r.get(0))
        .optional()?)
}

/// The store of this home: the key naming `<home>/cron/jobs.json`, else one ending in
/// `cron/jobs.json` (a home read from another path), else the largest.
fn pick_store_key(keys: &[(String, i64)], home: &Path) -> Option<String> {
    let own = home.join("cron").join("jobs.json");
    let own = own.to_string_lossy();
    keys.iter()
        .find(|(k, _)| *k == own)
        .or_else(|| keys.iter().find(|(k, _)| k.ends_with("/cron/jobs.json")))
        .or_else(|| keys.iter().max_by_key(|(_, n)| *n))
        .map(|(k, _)| k.clone())
}

fn read_jobs(
    conn: &Connection,
    key: &str,
    columns: &[String],
    problems: &mut Vec<String>,
) -> Result<Vec<Job>, DbError> {
    let has = |c: &str| columns.iter().any(|x| x == c);
    // The split columns of 2026.6 win over the JSON, as OpenClaw reads them.
    let split = ["schedule_kind", "running_at_ms", "next_run_at_ms"].iter().all(|c| has(c));
    let wanted = [
        "job_id",
        "name",
        "enabled",
        "agent_id",
        "job_json",
        "state_json",
        "schedule_kind",
        "schedule_expr",
        "schedule_tz",
        "every_ms",
        "anchor_ms",
        "at",
        "stagger_ms",
        "payload_kind",
        "payload_timeout_seconds",
        "next_run_at_ms",
        "running_at_ms",
        "last_run_at_ms",
        "last_run_status",
        "last_error",
        "last_duration_ms",
        "consecutive_errors",
        "created_at_ms",
    ];
    let select: Vec<String> =
        wanted.iter().map(|c| if has(c) { (*c).to_string() } else { format!("NULL AS {c}") }).collect();
    let order = if has("sort_order") { "sort_order, job_id" } else { "job_id" };
    let sql = format!("SELECT {} FROM cron_jobs WHERE store_key = ?1 ORDER BY {order}", select.join(", "));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params![key])?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next()? {
        let mut o: Map<String, Value> = row
            .get::<_, Option<String>>("job_json")?
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        let mut state: Value = row
            .get::<_, Option<String>>("state_json")?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Object(Map::new()));
        let id: String = row.get("job_id")?;
        o.insert("id".into(), Value::String(id.clone()));
        let column = |name: &str| -> rusqlite::Result<Value> { sql_value(row.get_ref(name)?) };
        for (col, field) in [("name", "name"), ("agent_id", "agentId"), ("created_at_ms", "createdAtMs")] {
            let v = column(col)?;
            if !v.is_null() {
                o.insert(field.into(), v);
            }
        }
        if let Value::Number(n) = column("enabled")? {
            o.insert("enabled".into(), Value::Bool(n.as_i64() != Some(0)));
        }
        let mut job = match job_from(&o, Some(&state)) {
            Ok(job) => job,
            Err(e) => {
                problems.push(format!("cron_jobs row {id}: {e}"));
                continue;
            }
        };
        if split {
            let mut s = Map::new();
            for (col, field) in [
                ("schedule_kind", "kind"),
                ("schedule_expr", "expr"),
                ("schedule_tz", "tz"),
                ("every_ms", "everyMs"),
                ("anchor_ms", "anchorMs"),
                ("at", "at"),
                ("stagger_ms", "staggerMs"),
            ] {
                let v = column(col)?;
                if !v.is_null() {
                    s.insert(field.into(), v);
                }
            }
            if !s.is_empty() {
                job.schedule = schedule_from(&s);
            }
            if let Some(state) = state.as_object_mut() {
                for (col, field) in [
                    ("next_run_at_ms", "nextRunAtMs"),
                    ("running_at_ms", "runningAtMs"),
                    ("last_run_at_ms", "lastRunAtMs"),
                    ("last_run_status", "lastRunStatus"),
                    ("last_error", "lastError"),
                    ("last_duration_ms", "lastDurationMs"),
                    ("consecutive_errors", "consecutiveErrors"),
                ] {
                    let v = column(col)?;
                    if !v.is_null() {
                        state.insert(field.into(), v);
                    }
                }
            }
            job.state = state_from(&state);
            if let Value::String(kind) = column("payload_kind")? {
                job.payload_kind = Some(kind);
            }
            if let Value::Number(n) = column("payload_timeout_seconds")? {
                job.timeout_seconds = n.as_f64();
            }
        }
        if let JobSchedule::Invalid { reason } = &job.schedule {
            problems.push(format!("cron_jobs row {id}: {reason}"));
        }
        jobs.push(job);
    }
    Ok(jobs)
}

fn sql_value(v: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<Value> {
    use rusqlite::types::ValueRef;
    Ok(match v {
        ValueRef::Null | ValueRef::Blob(_) => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
    })
}

fn read_run_logs(
    conn: &Connection,
    key: &str,
    cursor: &mut StateCursor,
    problems: &mut Vec<String>,
) -> Result<Vec<Run>, DbError> {
    let heads: Vec<(String, i64)> = conn
        .prepare("SELECT job_id, MAX(seq) FROM cron_run_logs WHERE store_key = ?1 GROUP BY job_id")?
        .query_map(params![key], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut runs = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT seq, ts, status, error, summary, run_at_ms, duration_ms, next_run_at_ms, model, provider,
                session_key, entry_json
         FROM cron_run_logs WHERE store_key = ?1 AND job_id = ?2 AND seq > ?3 ORDER BY seq",
    )?;
    for (job, head) in heads {
        let mut from = cursor.run_seq.get(&job).copied().unwrap_or(0);
        if head < from {
            // Rows were rewritten below what was read: read them all again; the per-job
            // watermark drops the runs already handed out.
            from = 0;
        }
        if head == from {
            continue;
        }
        let mut rows = stmt.query(params![key, job, from])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            from = from.max(seq);
            let mut o: Map<String, Value> = row
                .get::<_, Option<String>>(11)?
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            for (i, field) in [
                (1, "ts"),
                (2, "status"),
                (3, "error"),
                (4, "summary"),
                (5, "runAtMs"),
                (6, "durationMs"),
                (7, "nextRunAtMs"),
                (8, "model"),
                (9, "provider"),
                (10, "sessionKey"),
            ] {
                let v = sql_value(row.get_ref(i)?)?;
                if !v.is_null() {
                    o.insert(field.into(), v);
                }
            }
            o.remove("action");
            o.insert("jobId".into(), Value::String(job.clone()));
            match run_from(&o, Some(&job)) {
                Some(run) => runs.push(run),
                None => problems.push(format!("cron_run_logs {job}#{seq}: not a finished run")),
            }
        }
        cursor.run_seq.insert(job, from);
    }
    Ok(runs)
}

fn read_task_runs(
    conn: &Connection,
    store_key: Option<&str>,
    cursor: &mut StateCursor,
    problems: &mut Vec<String>,
) -> Result<Vec<Run>, DbError> {
    let (after_end, after_id) = cursor.task.clone().unwrap_or((i64::MIN, String::new()));
    let mut stmt = conn.prepare(
        "SELECT task_id, source_id, status, ended_at, started_at, error, terminal_summary, child_session_key,
                detail_json
         FROM task_runs
         WHERE runtime = 'cron' AND ended_at IS NOT NULL AND source_id IS NOT NULL
           AND (ended_at > ?1 OR (ended_at = ?1 AND task_id > ?2))
         ORDER BY ended_at, task_id",
    )?;
    let mut rows = stmt.query(params![after_end, after_id])?;
    let mut runs = Vec::new();
    while let Some(row) = rows.next()? {
        let task_id: String = row.get(0)?;
        let job: String = row.get(1)?;
        let ended: i64 = row.get(3)?;
        cursor.task = Some((ended, task_id.clone()));
        let detail: Map<String, Value> = row
            .get::<_, Option<String>>(8)?
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        if detail.get("kind").and_then(Value::as_str).is_some_and(|k| k != "cron-run") {
            continue;
        }
        if let (Some(want), Some(Value::String(have))) = (store_key, detail.get("storeKey"))
            && want != have
        {
            continue;
        }
        let mut o = detail;
        o.remove("action");
        o.insert("ts".into(), Value::from(ended));
        o.insert("jobId".into(), Value::String(job.clone()));
        if !o.contains_key("runAtMs")
            && let Some(started) = row.get::<_, Option<i64>>(4)?
        {
            o.insert("runAtMs".into(), Value::from(started));
        }
        for (i, field) in [(5, "error"), (6, "summary"), (7, "sessionKey")] {
            if !o.contains_key(field)
                && let Some(v) = row.get::<_, Option<String>>(i)?
            {
                o.insert(field.into(), Value::String(v));
            }
        }
        match run_from(&o, Some(&job)) {
            Some(mut run) => {
                if run.status.is_none() {
                    run.status = row.get::<_, Option<String>>(2)?.and_then(|s| RunStatus::parse(&s));
                }
                runs.push(run);
            }
            None => problems.push(format!("task_runs {task_id}: not a finished cron run")),
        }
    }
    Ok(runs)
}

/// Where reading one agent database stands: the highest transcript `seq` per session.
pub type AgentCursor = HashMap<String, i64>;

/// What one read of an agent database found.
#[derive(Debug, Clone, Default)]
pub struct AgentRead {
    pub problems: Vec<String>,
    pub index: Vec<IndexEntry>,
    /// `(session id, session key, read again from the start, event)`, in order per session.
    pub events: Vec<(String, Option<String>, bool, Value)>,
    /// Events stored compressed, which this reader skips.
    pub compressed: usize,
}

/// Reads an agent's session index and the transcript events after `cursor`.
pub fn read_agent(conn: &Connection, cursor: &mut AgentCursor) -> Result<AgentRead, DbError> {
    let tx = conn.unchecked_transaction()?;
    let tables = tables(conn)?;
    let mut read = AgentRead::default();
    check_schema(schema_version(conn, &tables)?, NEWEST_AGENT_SCHEMA, "agent", &mut read.problems);
    let mut keys: HashMap<String, String> = HashMap::new();
    if tables.contains_key("session_nodes") {
        let mut stmt =
            conn.prepare("SELECT session_key, current_session_id, entry_json FROM session_nodes")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let current: Option<String> = row.get(1)?;
            let o = row
                .get::<_, Option<String>>(2)?
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            let mut entry = index_entry(&key, &o);
            if entry.session_id.is_none() {
                entry.session_id = current.clone();
            }
            if let Some(id) = entry.session_id.clone() {
                keys.insert(id, key.clone());
            }
            read.index.push(entry);
        }
    }
    if tables.contains_key("session_windows") {
        let mut stmt = conn.prepare("SELECT session_id, session_key FROM session_windows")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            keys.entry(row.get(0)?).or_insert(row.get(1)?);
        }
    }
    let mut next = cursor.clone();
    if tables.contains_key("transcript_events") {
        let heads: Vec<(String, i64)> = conn
            .prepare("SELECT session_id, MAX(seq) FROM transcript_events GROUP BY session_id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare(
            "SELECT seq, event_json FROM transcript_events WHERE session_id = ?1 AND seq > ?2 ORDER BY seq",
        )?;
        for (session, head) in heads {
            let mut from = next.get(&session).copied().unwrap_or(0);
            let restarted = head < from;
            if restarted {
                from = 0;
            }
            if head == from {
                continue;
            }
            let mut rows = stmt.query(params![session, from])?;
            while let Some(row) = rows.next()? {
                from = from.max(row.get::<_, i64>(0)?);
                match row.get::<_, Option<String>>(1)?.map(|t| serde_json::from_str::<Value>(&t)) {
                    Some(Ok(v)) => {
                        read.events.push((session.clone(), keys.get(&session).cloned(), restarted, v))
                    }
                    Some(Err(_)) => {}
                    None => read.compressed += 1,
                }
            }
            next.insert(session, from);
        }
    }
    tx.finish()?;
    *cursor = next;
    Ok(read)
}
