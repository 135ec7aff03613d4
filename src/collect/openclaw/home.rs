//! [`Home`]: one OpenClaw home, scanned tick after tick.
//!
//! The home keeps what it needs to read only what is new: a byte offset and inode per run log
//! and transcript, the highest row read per SQLite table, a watermark per job and per
//! transcript so that a file read again from its start (rewritten, pruned, moved to another
//! layout by an upgrade) hands out nothing twice. It also keeps a short history (the recent
//! runs of each job, two days of heartbeats per agent) so the judgements can be made from a
//! scan alone. Nothing under the home is ever created, written, renamed or locked for writing:
//! files are opened for reading, databases with the read-only flag.
//!
//! What is rewritten whole (`openclaw.json`, the JSON cron store, `sessions.json`, the SQLite
//! databases with their write-ahead logs) is kept as last parsed or queried, with the
//! [`Stamp`]s of its files: while they are unchanged a tick reads nothing and runs no SQL. The
//! followed folders (`cron/runs`, each agent's `sessions`) are skipped while the kernel reports
//! nothing changed in them (`changes`); otherwise they cost a listing and a `stat` per file. So
//! an unchanged home costs a few `stat`s, however many transcripts it keeps. A first read of a
//! large home takes each file a line at a time, never whole, and reads the run logs on a second
//! thread meanwhile. `benches/openclaw.rs` measures both (docs/PERFORMANCE.md).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::changes::Changes;
use super::follow::{Cursor, Read, Stamp, follow, stamp};
use super::runlog::{Watermark, run_from_line};
use super::sessions::{self, Entry, EntryKind, IndexEntry};
use super::settings::{heartbeats, normalise_agent};
use super::sqlite::{self, AgentCursor, DbError, StateCursor, StateRead};
use super::store::{merge_states, parse_jobs, parse_json5, parse_states};
use super::{AgentActivity, Job, Layout, Problem, Run, Scan, UsageEntry, instant_ms};

/// How many finished runs of each job the home remembers for the ledger.
const RUNS_KEPT: usize = 2_000;
/// How far back heartbeats are remembered.
const HEARTBEAT_WINDOW_HOURS: i64 = 48;
/// Heartbeats remembered per agent at most (a runaway loop must not grow memory without end).
const HEARTBEATS_KEPT: usize = 50_000;
/// Past this many bytes of run logs to read in one scan, they are read on a thread of their own.
const PARALLEL_FROM_BYTES: u64 = 16 << 20;
/// A `lastHeartbeatSentAt` this close to a heartbeat already seen is that heartbeat.
const SAME_HEARTBEAT_MS: i64 = 60_000;

/// The OpenClaw home directory: the configured one, else `OPENCLAW_STATE_DIR` as OpenClaw
/// reads it, else `~/.openclaw` (`home_dir` is the user's home).
pub fn resolve_home(configured: Option<&Path>, state_dir_env: Option<&str>, home_dir: &Path) -> PathBuf {
    let expand = |p: &str| match p.strip_prefix("~") {
        Some(rest) => home_dir.join(rest.trim_start_matches('/')),
        None => PathBuf::from(p),
    };
    match (configured, state_dir_env.map(str::trim).filter(|s| !s.is_empty())) {
        (Some(p), _) => expand(&p.to_string_lossy()),
        (None, Some(env)) => expand(env),
        (None, None) => home_dir.join(".openclaw"),
    }
}

/// One transcript being followed, or one session of an agent database.
#[derive(Debug, Clone, Default)]
struct TranscriptMark {
    /// The last entry counted: its id and time.
    last_id: Option<String>,
    last_at: Option<DateTime<Utc>>,
    /// After a rewrite: skipping entries until the last one counted shows up again, or a
    /// newer one does.
    replaying: bool,
}

impl TranscriptMark {
    /// Whether the entry is new; if so it becomes the last one counted.
    fn admit(&mut self, entry: &Entry) -> bool {
        if self.replaying {
            let newer = matches!((entry.at, self.last_at), (Some(at), Some(last)) if at > last);
            if entry.id.is_some() && entry.id == self.last_id {
                self.replaying = false;
                return false;
            }
            if !newer {
                return false;
            }
            self.replaying = false;
        }
        if entry.id.is_some() {
            self.last_id = entry.id.clone();
        }
        if entry.at.is_some() {
            self.last_at = entry.at.max(self.last_at);
        }
        true
    }

    fn restart(&mut self) {
        // A transcript never counted from has nothing to skip.
        self.replaying = self.last_id.is_some() || self.last_at.is_some();
    }
}

#[derive(Debug, Clone, Default)]
struct TranscriptFile {
    cursor: Cursor,
    mark: TranscriptMark,
}

/// A file's parsed content and the file's stamp when it was read.
type Parsed<T> = Option<(Stamp, T)>;
/// `cron/jobs.json` parsed: the jobs, and a message for each entry that is not one.
type JobsFile = Arc<(Vec<Job>, Vec<String>)>;
/// `cron/jobs-state.json` parsed: the states by job id.
type StatesFile = Arc<Map<String, Value>>;

/// The stamps of a database and its write-ahead log (a commit in WAL mode changes only the
/// log); None when one cannot be taken.
fn db_stamps(db: &Path) -> Option<[Option<Stamp>; 2]> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    Some([stamp(db).ok()?, stamp(Path::new(&wal)).ok()?])
}

/// Whether what was read under `old` stamps still holds under `now`.
fn unchanged(old: &[Option<Stamp>], now: &[Option<Stamp>]) -> bool {
    old.len() == now.len()
        && old.iter().zip(now).all(|(o, n)| match (o, n) {
            (Some(o), Some(n)) => o.unchanged(n),
            (None, None) => true,
            _ => false,
        })
}

/// The state database as last read: its stamps, and the read without its runs (which are
/// handed out once).
#[derive(Debug)]
struct StateDb {
    stamps: [Option<Stamp>; 2],
    read: StateRead,
}

/// What was read of one agent's session index and database, kept while they are unchanged.
#[derive(Debug, Default)]
struct AgentFiles {
    index_file: Parsed<Result<Arc<Vec<IndexEntry>>, String>>,
    /// The agent database's stamps, its session index and the problems its schema raised.
    db: Option<([Option<Stamp>; 2], Arc<Vec<IndexEntry>>, Vec<String>)>,
    /// The index entries the last scan took into account (file, database), and the session
    /// keys by session id drawn from them.
    taken: (Option<Arc<Vec<IndexEntry>>>, Option<Arc<Vec<IndexEntry>>>),
    keys: HashMap<String, String>,
}

/// An OpenClaw home and what has been read of it.
#[derive(Debug)]
pub struct Home {
    root: PathBuf,
    // Files are keyed by their path's bytes: hashing and comparing a `Path` component by
    // component costs more than the `stat` an unchanged tick makes of each.
    run_logs: HashMap<OsString, Cursor>,
    watermarks: HashMap<String, Watermark>,
    state: StateCursor,
    transcripts: HashMap<OsString, TranscriptFile>,
    agent_dbs: HashMap<String, (AgentCursor, HashMap<String, TranscriptMark>)>,
    /// The recent runs of each job, oldest first: the newest `RUNS_KEPT` of it count, older
    /// ones are dropped in batches (so that the history is one slice, lent without a copy).
    history: HashMap<String, Vec<Run>>,
    /// Heartbeats per agent, oldest first, each marked when it is only a
    /// `lastHeartbeatSentAt` stamp (which the transcript's own record of the beat replaces).
    heartbeats: HashMap<String, VecDeque<(DateTime<Utc>, bool)>>,
    activity: BTreeMap<String, AgentActivity>,
    config: Option<Arc<Value>>,
    config_file: Parsed<Result<Arc<Value>, String>>,
    jobs_file: Parsed<Result<JobsFile, String>>,
    states_file: Parsed<Result<StatesFile, String>>,
    merged: Option<(JobsFile, StatesFile, Vec<Job>)>,
    state_db: Option<StateDb>,
    agent_files: HashMap<String, AgentFiles>,
    /// Which followed directories changed since the last tick.
    changes: Changes,
    last_jobs: Vec<Job>,
    last_layout: Layout,
    last_schema: Option<i64>,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home {
            root: root.into(),
            run_logs: HashMap::new(),
            watermarks: HashMap::new(),
            state: StateCursor::default(),
            transcripts: HashMap::new(),
            agent_dbs: HashMap::new(),
            history: HashMap::new(),
            heartbeats: HashMap::new(),
            activity: BTreeMap::new(),
            config: None,
            config_file: None,
            jobs_file: None,
            states_file: None,
            merged: None,
            state_db: None,
            agent_files: HashMap::new(),
            changes: Changes::new(),
            last_jobs: Vec::new(),
            last_layout: Layout::Empty,
            last_schema: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The recent finished runs of a job (at most the last 2,000), oldest first.
    pub fn recent_runs(&self, job_id: &str) -> &[Run] {
        self.history.get(job_id).map_or(&[], |h| &h[h.len().saturating_sub(RUNS_KEPT)..])
    }

    /// Reads what changed since the last scan. `now` only bounds the remembered heartbeats.
    pub fn scan(&mut self, now: DateTime<Utc>) -> Scan {
        let mut scan = Scan {
            at: now,
            layout: self.last_layout,
            schema_version: self.last_schema,
            jobs: Vec::new(),
            new_runs: Vec::new(),
            heartbeats: Vec::new(),
            agents: Vec::new(),
            new_usage: Vec::new(),
            problems: Vec::new(),
            locked: false,
        };
        self.changes.collect();
        self.read_config(&mut scan);
        let mut runs = self.read_cron(&mut scan);
        // The run logs and the sessions are apart in the home and in `self`: when there is
        // much to read (a first read), the run logs are read on a second thread meanwhile.
        let (runs_dir, logs) = self.run_logs_due();
        let mut cursors = std::mem::take(&mut self.run_logs);
        let pending: u64 = logs.iter().map(|l| l.pending(cursors.get(l.path.as_os_str()))).sum();
        let first_session_problem = scan.problems.len();
        let (from_logs, log_problems) = if pending >= PARALLEL_FROM_BYTES {
            std::thread::scope(|threads| {
                let reader = threads.spawn(|| read_run_logs(logs, &mut cursors));
                self.read_sessions(&mut scan);
                reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        } else {
            let read = read_run_logs(logs, &mut cursors);
            self.read_sessions(&mut scan);
            read
        };
        self.run_logs = cursors;
        if !log_problems.is_empty() {
            // Read again at the next tick, and report again what is still wrong.
            self.changes.distrust(&runs_dir);
        }
        let log_problems: Vec<Problem> =
            log_problems.into_iter().map(|(path, message)| problem_of(&self.root, &path, message)).collect();
        scan.problems.splice(first_session_problem..first_session_problem, log_problems);
        if runs.is_empty() {
            runs = from_logs;
        } else {
            runs.extend(from_logs);
        }
        self.admit(&mut runs);
        // (Sorting the keys and then moving each run once: a first read may hand over a
        // million runs.)
        runs.sort_by_cached_key(|r| r.finished_at_ms);
        scan.new_runs = runs;
        // From 2026.9 a heartbeat is also a run of the agent's `Heartbeat (<agent>)` job.
        let heartbeat_jobs: HashMap<&str, String> =
            scan.jobs.iter().filter_map(|j| Some((j.id.as_str(), j.heartbeat_agent()?))).collect();
        let beats: Vec<(String, i64)> = scan
            .new_runs
            .iter()
            .filter_map(|r| Some((heartbeat_jobs.get(r.job_id.as_str())?.clone(), r.started_at_ms())))
            .collect();
        for (agent, ms) in beats {
            self.beat(&normalise_agent(&agent), ms, false);
        }

        let mut known: BTreeSet<String> = self.activity.keys().cloned().collect();
        known.extend(scan.jobs.iter().filter_map(|j| j.agent_id.as_deref().map(normalise_agent)));
        let (configs, problems) = heartbeats(self.config.as_deref(), &known);
        scan.heartbeats = configs;
        scan.problems
            .extend(problems.into_iter().map(|m| Problem { path: "openclaw.json".into(), message: m }));

        let floor = now - TimeDelta::hours(HEARTBEAT_WINDOW_HOURS);
        for (agent, beats) in self.heartbeats.iter_mut() {
            while beats.front().is_some_and(|(t, _)| *t < floor) {
                beats.pop_front();
            }
            self.activity
                .entry(agent.clone())
                .or_insert_with(|| AgentActivity { agent_id: agent.clone(), ..AgentActivity::default() });
        }
        for config in &scan.heartbeats {
            self.activity.entry(config.agent_id.clone()).or_insert_with(|| AgentActivity {
                agent_id: config.agent_id.clone(),
                ..AgentActivity::default()
            });
        }
        scan.agents = self
            .activity
            .values()
            .map(|a| AgentActivity {
                heartbeats: self
                    .heartbeats
                    .get(&a.agent_id)
                    .map(|b| b.iter().map(|(t, _)| *t).collect())
                    .unwrap_or_default(),
                ..a.clone()
            })
            .collect();
        scan
    }

    /// Keeps the runs not handed out before, job by job: runs of one job may come from two
    /// layouts (a home mid-upgrade), so each job's are taken oldest first and its watermark
    /// keeps each once. The newest 2,000 of each job also go to its history; only those are
    /// copied (a long history read for the first time is not copied whole only to be dropped).
    fn admit(&mut self, runs: &mut Vec<Run>) {
        // The runs of a file are one job's, oldest first, so this is mostly a check.
        runs.sort_by(|a, b| a.job_id.cmp(&b.job_id).then(a.finished_at_ms.cmp(&b.finished_at_ms)));
        let mut admitted = Vec::with_capacity(runs.len());
        for group in runs.chunk_by(|a, b| a.job_id == b.job_id) {
            let job = &group[0].job_id;
            let mark = self.watermarks.entry(job.clone()).or_default();
            let start = admitted.len();
            admitted.extend(group.iter().map(|run| mark.admit(run)));
            let new: Vec<&Run> =
                group.iter().zip(&admitted[start..]).filter(|(_, a)| **a).map(|(r, _)| r).collect();
            if new.is_empty() {
                continue;
            }
            let history = self.history.entry(job.clone()).or_default();
            history.extend(new[new.len().saturating_sub(RUNS_KEPT)..].iter().map(|run| (*run).clone()));
            if history.len() >= 2 * RUNS_KEPT {
                history.drain(..history.len() - RUNS_KEPT);
            }
        }
        let mut admitted = admitted.into_iter();
        runs.retain(|_| admitted.next().unwrap_or(false));
    }

    fn problem(&self, scan: &mut Scan, path: &Path, message: impl Into<String>) {
        report(&self.root, scan, path, message);
    }

    fn read_config(&mut self, scan: &mut Scan) {
        let path = self.root.join("openclaw.json");
        match parsed(&mut self.config_file, &path, |text| parse_json5(text).map(Arc::new)) {
            Ok(Some(Ok(v))) => self.config = Some(v),
            // Keep the last good configuration: a half-saved file is read again next tick.
            Ok(Some(Err(e))) => self.problem(scan, &path, format!("not JSON5: {e}")),
            Ok(None) => self.config = None,
            Err(e) => self.problem(scan, &path, e.to_string()),
        }
    }

    /// The jobs, from the SQLite store when it has them, else from the JSON store; runs from
    /// the database.
    fn read_cron(&mut self, scan: &mut Scan) -> Vec<Run> {
        let db_path = self.root.join("state").join("openclaw.sqlite");
        let mut runs = Vec::new();
        if db_path.is_file() {
            match self.read_state_db(&db_path) {
                Ok(read) => {
                    scan.schema_version = read.schema_version;
                    self.last_schema = read.schema_version;
                    for p in &read.problems {
                        self.problem(scan, &db_path, p.clone());
                    }
                    runs = read.runs;
                    if read.has_jobs_table && (!read.jobs.is_empty() || !self.json_store().is_file()) {
                        scan.layout = Layout::Sqlite;
                        scan.jobs = read.jobs;
                        self.remember(scan);
                        return runs;
                    }
                }
                Err(DbError::Locked) => {
                    scan.locked = true;
                    self.problem(scan, &db_path, DbError::Locked.to_string());
                    if self.last_layout == Layout::Sqlite {
                        scan.jobs = self.last_jobs.clone();
                        return runs;
                    }
                }
                Err(DbError::Other(e)) => self.problem(scan, &db_path, e),
            }
        }
        let store = self.json_store();
        let parsed_jobs = match parsed(&mut self.jobs_file, &store, |text| parse_jobs(text).map(Arc::new)) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => {
                scan.layout = Layout::Empty;
                self.remember(scan);
                return runs;
            }
            Err(e) => {
                self.problem(scan, &store, e.to_string());
                scan.jobs = self.last_jobs.clone();
                return runs;
            }
        };
        let parsed_jobs = match parsed_jobs {
            Ok(parsed) => parsed,
            Err(e) => {
                self.problem(scan, &store, format!("unreadable, keeping the last good jobs: {e}"));
                scan.jobs = self.last_jobs.clone();
                return runs;
            }
        };
        for p in &parsed_jobs.1 {
            self.problem(scan, &store, p.clone());
        }
        let state_path = store.with_file_name("jobs-state.json");
        scan.layout = Layout::JsonInline;
        let jobs = match parsed(&mut self.states_file, &state_path, |text| parse_states(text).map(Arc::new)) {
            Ok(Some(Ok(states))) => {
                scan.layout = Layout::JsonSplit;
                self.merge(&parsed_jobs, &states)
            }
            Ok(Some(Err(e))) => {
                self.problem(scan, &state_path, format!("unreadable, keeping the last good states: {e}"));
                scan.layout = Layout::JsonSplit;
                let mut jobs = parsed_jobs.0.clone();
                for job in &mut jobs {
                    if let Some(old) = self.last_jobs.iter().find(|o| o.id == job.id) {
                        job.state = old.state.clone();
                    }
                }
                jobs
            }
            Ok(None) => parsed_jobs.0.clone(),
            Err(e) => {
                self.problem(scan, &state_path, e.to_string());
                parsed_jobs.0.clone()
            }
        };
        for job in &jobs {
            if let super::JobSchedule::Invalid { reason } = &job.schedule {
                self.problem(scan, &store, format!("job {}: {reason}", job.id));
            }
        }
        scan.jobs = jobs;
        self.remember(scan);
        runs
    }

    /// The jobs and the runs after the cursor in the state database; the last read again,
    /// without its runs, while the database and its log are unchanged.
    fn read_state_db(&mut self, db_path: &Path) -> Result<StateRead, DbError> {
        let stamps = db_stamps(db_path);
        if let (Some(last), Some(now)) = (&self.state_db, &stamps)
            && unchanged(&last.stamps, now)
        {
            return Ok(last.read.clone());
        }
        self.state_db = None;
        let read = sqlite::open(db_path).and_then(|c| sqlite::read_state(&c, &mut self.state, &self.root))?;
        if let Some(stamps) = stamps {
            self.state_db = Some(StateDb { stamps, read: StateRead { runs: Vec::new(), ..read.clone() } });
        }
        Ok(read)
    }

    fn json_store(&self) -> PathBuf {
        self.root.join("cron").join("jobs.json")
    }

    /// The jobs of `jobs.json` with the states of `jobs-state.json`: the last merge while
    /// both files are as they were parsed then.
    fn merge(&mut self, jobs: &JobsFile, states: &StatesFile) -> Vec<Job> {
        if let Some((j, s, merged)) = &self.merged
            && Arc::ptr_eq(j, jobs)
            && Arc::ptr_eq(s, states)
        {
            return merged.clone();
        }
        let mut merged = jobs.0.clone();
        merge_states(&mut merged, states);
        self.merged = Some((jobs.clone(), states.clone(), merged.clone()));
        merged
    }

    fn remember(&mut self, scan: &Scan) {
        // Mostly the same jobs as at the last tick: comparing is cheaper than copying.
        if self.last_jobs != scan.jobs {
            self.last_jobs = scan.jobs.clone();
        }
        self.last_layout = scan.layout;
    }

    /// The run logs to look at this tick (`cron/runs/*.jsonl`): none while the folder is
    /// quiet. Returns the folder too.
    fn run_logs_due(&mut self) -> (PathBuf, Vec<Listed>) {
        let dir = self.root.join("cron").join("runs");
        if self.changes.quiet(&dir) {
            return (dir, Vec::new());
        }
        self.changes.arm(&dir);
        let listed = list(&dir, |name| name.ends_with(".jsonl"));
        if listed.iter().any(|l| l.link || l.meta.is_none()) {
            self.changes.distrust(&dir);
        }
        (dir, listed)
    }

    /// Every agent's sessions: the index, the transcripts (files or database).
    fn read_sessions(&mut self, scan: &mut Scan) {
        let agents_dir = self.root.join("agents");
        let agent_dirs = list(&agents_dir, |_| true);
        let prompts: HashMap<String, String> = {
            let (configs, _) = heartbeats(self.config.as_deref(), &BTreeSet::new());
            configs.into_iter().filter_map(|c| Some((c.agent_id, c.prompt?))).collect()
        };
        for dir in agent_dirs.iter().filter(|l| l.meta.as_ref().is_some_and(|m| m.is_dir())).map(|l| &l.path)
        {
            let Some(agent) = dir.file_name().map(|n| normalise_agent(&n.to_string_lossy())) else {
                continue;
            };
            let prompt = prompts.get(&agent).cloned();
            let (db_events, keys) = self.read_index(scan, dir, &agent);

            // Database transcripts.
            let mut restarted_sessions = BTreeSet::new();
            for (session, key, restarted, event) in db_events {
                let entry = sessions::entry(&event, prompt.as_deref());
                let marks = &mut self.agent_dbs.entry(agent.clone()).or_default().1;
                let mark = marks.entry(session.clone()).or_default();
                if restarted && restarted_sessions.insert(session.clone()) {
                    mark.restart();
                }
                if mark.admit(&entry) {
                    self.count(scan, &agent, &session, key.or_else(|| keys.get(&session).cloned()), entry);
                }
            }

            // Transcript files, each line taken in as it is read (a transcript may be large);
            // nothing to do while the folder is quiet.
            let sessions_dir = dir.join("sessions");
            let quiet = self.changes.quiet(&sessions_dir);
            if !quiet {
                self.changes.arm(&sessions_dir);
            }
            let problems = scan.problems.len();
            let listed = if quiet {
                Vec::new()
            } else {
                list(&sessions_dir, |name| sessions::transcript_session_id(name).is_some())
            };
            if listed.iter().any(|l| l.link || l.meta.is_none()) {
                self.changes.distrust(&sessions_dir);
            }
            for Listed { path, meta, .. } in listed {
                // An unchanged transcript costs the `stat` of the listing.
                if let Some(meta) = &meta
                    && self.transcripts.get(path.as_os_str()).is_some_and(|f| f.cursor.matches(meta))
                {
                    continue;
                }
                let path = path.as_path();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let session = sessions::transcript_session_id(&name).unwrap_or_default().to_string();
                let mut file = self.transcript_for(path);
                let mut bad = 0usize;
                let mut restarted_seen = false;
                let read = follow(path, &mut file.cursor, |line, restarted| {
                    let Ok(entry) = sessions::entry_from_line(line, prompt.as_deref()) else {
                        bad += 1;
                        return;
                    };
                    if restarted && !restarted_seen {
                        file.mark.restart();
                        restarted_seen = true;
                    }
                    if file.mark.admit(&entry) {
                        self.count(scan, &agent, &session, keys.get(&session).cloned(), entry);
                    }
                });
                if let Err(e) = read {
                    // The cursor stays where it was; skip again what was counted before the error.
                    file.mark.restart();
                    self.problem(scan, path, e.to_string());
                }
                if bad > 0 {
                    self.problem(scan, path, format!("{bad} line(s) are not JSON; skipped"));
                }
                self.transcripts.insert(path.as_os_str().to_owned(), file);
            }
            if scan.problems.len() > problems {
                self.changes.distrust(&sessions_dir);
            }
            if let Some(files) = self.agent_files.get_mut(&agent) {
                files.keys = keys;
            }
        }
        scan.new_usage.sort_by_cached_key(|u| u.at);
    }

    /// An agent's session index, from `sessions.json` and its database, and the transcript
    /// events of the database after its cursor. Returns those events and the session keys by
    /// session id. When neither source changed, the index is not read again, nor its
    /// `lastHeartbeatSentAt` stamps taken in again.
    fn read_index(
        &mut self,
        scan: &mut Scan,
        dir: &Path,
        agent: &str,
    ) -> (Vec<(String, Option<String>, bool, Value)>, HashMap<String, String>) {
        let root = &self.root;
        let activity = self
            .activity
            .entry(agent.to_string())
            .or_insert_with(|| AgentActivity { agent_id: agent.to_string(), ..AgentActivity::default() });
        let files = self.agent_files.entry(agent.to_string()).or_default();
        let index_path = dir.join("sessions").join("sessions.json");
        let from_file =
            match parsed(&mut files.index_file, &index_path, |t| sessions::parse_index(t).map(Arc::new)) {
                Ok(Some(Ok(entries))) => Some(entries),
                Ok(Some(Err(e))) => {
                    report(root, scan, &index_path, format!("unreadable: {e}"));
                    None
                }
                Ok(None) => None,
                Err(e) => {
                    report(root, scan, &index_path, e.to_string());
                    None
                }
            };
        let db_path = dir.join("agent").join("openclaw-agent.sqlite");
        let mut from_db = None;
        let mut db_events = Vec::new();
        if db_path.is_file() {
            let stamps = db_stamps(&db_path);
            match (&files.db, &stamps) {
                (Some((last, index, problems)), Some(now)) if unchanged(last, now) => {
                    for p in problems {
                        report(root, scan, &db_path, p.clone());
                    }
                    from_db = Some(index.clone());
                }
                _ => {
                    files.db = None;
                    let (cursor, _) = self.agent_dbs.entry(agent.to_string()).or_default();
                    match sqlite::open(&db_path).and_then(|c| sqlite::read_agent(&c, cursor)) {
                        Ok(read) => {
                            for p in &read.problems {
                                report(root, scan, &db_path, p.clone());
                            }
                            let index = Arc::new(read.index);
                            db_events = read.events;
                            if read.compressed > 0 {
                                let message =
                                    format!("{} compressed transcript event(s) not read", read.compressed);
                                report(root, scan, &db_path, message);
                            }
                            if let Some(stamps) = stamps {
                                files.db = Some((stamps, index.clone(), read.problems));
                            }
                            from_db = Some(index);
                        }
                        Err(DbError::Locked) => {
                            scan.locked = true;
                            report(root, scan, &db_path, DbError::Locked.to_string());
                        }
                        Err(DbError::Other(e)) => report(root, scan, &db_path, e),
                    }
                }
            }
        }
        let same = |a: &Option<Arc<Vec<IndexEntry>>>, b: &Option<Arc<Vec<IndexEntry>>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same(&files.taken.0, &from_file) && same(&files.taken.1, &from_db) {
            return (db_events, std::mem::take(&mut files.keys));
        }
        let index: Vec<&IndexEntry> = from_file.iter().chain(from_db.iter()).flat_map(|i| i.iter()).collect();
        let keys: HashMap<String, String> =
            index.iter().filter_map(|e| Some((e.session_id.clone()?, e.key.clone()))).collect();
        activity.sessions = index.len();
        let mut sent = Vec::new();
        for e in &index {
            if let Some(at) = e.last_heartbeat_sent_at_ms.and_then(instant_ms) {
                activity.last_heartbeat_sent_at = activity.last_heartbeat_sent_at.max(Some(at));
                sent.push(at.timestamp_millis());
            }
        }
        drop(index);
        files.taken = (from_file, from_db);
        for ms in sent {
            self.beat(agent, ms, true);
        }
        (db_events, keys)
    }

    /// The reading state of a transcript path, taken out of the home until it is put back; a
    /// path never seen that is the same file as a known one (a reset renames `<id>.jsonl` to
    /// `<id>.jsonl.reset.<time>`) carries on from where that one was.
    fn transcript_for(&mut self, path: &Path) -> TranscriptFile {
        if let Some(file) = self.transcripts.remove(path.as_os_str()) {
            return file;
        }
        if let Ok(meta) = std::fs::metadata(path) {
            let moved = self
                .transcripts
                .iter()
                .find(|(p, f)| {
                    f.cursor.dev == meta.dev() && f.cursor.ino == meta.ino() && !Path::new(p).exists()
                })
                .map(|(p, _)| p.clone());
            if let Some(old) = moved {
                return self.transcripts.remove(&old).unwrap_or_default();
            }
        }
        TranscriptFile::default()
    }

    /// Takes one new transcript entry into the agent's activity, usage and heartbeats.
    fn count(&mut self, scan: &mut Scan, agent: &str, session: &str, key: Option<String>, entry: Entry) {
        match entry.kind {
            EntryKind::HeartbeatPrompt => {
                if let Some(at) = entry.at {
                    self.beat(agent, at.timestamp_millis(), false);
                }
            }
            EntryKind::Assistant { provider, model, usage } => {
                let activity = match self.activity.get_mut(agent) {
                    Some(activity) => activity,
                    None => self.activity.entry(agent.to_string()).or_insert_with(|| AgentActivity {
                        agent_id: agent.to_string(),
                        ..AgentActivity::default()
                    }),
                };
                if entry.at.is_some() && entry.at >= activity.last_assistant_at {
                    activity.last_assistant_at = entry.at;
                    if model.is_some() {
                        activity.model = model.clone();
                        activity.provider = provider.clone();
                    }
                }
                if let (Some((tokens, cost)), Some(at)) = (usage, entry.at) {
                    scan.new_usage.push(UsageEntry {
                        agent_id: agent.to_string(),
                        session_id: session.to_string(),
                        job_id: key.as_deref().and_then(sessions::job_of_session_key),
                        session_key: key,
                        at,
                        provider,
                        model,
                        tokens,
                        cost,
                    });
                }
            }
            EntryKind::Other => {}
        }
    }

    /// Records a heartbeat. A `lastHeartbeatSentAt` stamp (`stamp`) close to a heartbeat
    /// already seen is that heartbeat, and a heartbeat close to a stamp replaces the stamp.
    fn beat(&mut self, agent: &str, ms: i64, stamp: bool) {
        let Some(at) = instant_ms(ms) else { return };
        let beats = self.heartbeats.entry(agent.to_string()).or_default();
        let near = |t: &DateTime<Utc>| (t.timestamp_millis() - ms).abs() <= SAME_HEARTBEAT_MS;
        if stamp && beats.iter().any(|(t, _)| near(t)) {
            return;
        }
        if !stamp && let Some(i) = beats.iter().position(|(t, was_stamp)| *was_stamp && near(t)) {
            beats.remove(i);
        }
        let pos = beats.partition_point(|(t, _)| *t <= at);
        beats.insert(pos, (at, stamp));
        while beats.len() > HEARTBEATS_KEPT {
            beats.pop_front();
        }
    }
}

/// A problem with a file under `root`, named relative to it.
fn report(root: &Path, scan: &mut Scan, path: &Path, message: impl Into<String>) {
    scan.problems.push(problem_of(root, path, message));
}

fn problem_of(root: &Path, path: &Path, message: impl Into<String>) -> Problem {
    let path = path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned();
    Problem { path, message: message.into() }
}

/// The run logs `listed`, each followed from where its cursor left it: the runs, and the
/// problems met (path, message).
fn read_run_logs(
    listed: Vec<Listed>,
    cursors: &mut HashMap<OsString, Cursor>,
) -> (Vec<Run>, Vec<(PathBuf, String)>) {
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    for Listed { path, meta, .. } in listed {
        let mut cursor = cursors.get(path.as_os_str()).copied().unwrap_or_default();
        if meta.is_some_and(|m| cursor.matches(&m)) {
            continue;
        }
        let mut bad = 0usize;
        let read = follow(&path, &mut cursor, |line, _| match run_from_line(line) {
            Ok(run) => runs.extend(run),
            Err(_) => bad += 1,
        });
        match read {
            Ok(Read::Unchanged) => {}
            Ok(_) => {
                cursors.insert(path.as_os_str().to_owned(), cursor);
            }
            Err(e) => problems.push((path.clone(), e.to_string())),
        }
        if bad > 0 {
            problems.push((path, format!("{bad} line(s) are not JSON objects; skipped")));
        }
    }
    (runs, problems)
}

/// The parse of the file at `path`: the one kept in `memo` while the file is unchanged, else
/// the file read and parsed again (and kept). `Ok(None)` when there is no file. The stamp is
/// taken before the file is read, so a write in between is seen at the next tick.
fn parsed<T: Clone>(
    memo: &mut Parsed<T>,
    path: &Path,
    parse: impl FnOnce(&str) -> T,
) -> std::io::Result<Option<T>> {
    let now = match stamp(path) {
        Ok(Some(now)) => now,
        Ok(None) => {
            *memo = None;
            return Ok(None);
        }
        Err(e) => {
            *memo = None;
            return Err(e);
        }
    };
    if let Some((last, value)) = memo
        && last.unchanged(&now)
    {
        return Ok(Some(value.clone()));
    }
    *memo = None;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let value = parse(&text);
    *memo = Some((now, value.clone()));
    Ok(Some(value))
}

/// A directory entry, and what a `stat` of it said (through a symbolic link); no `meta` when
/// it could not be taken (the entry vanished meanwhile).
struct Listed {
    path: PathBuf,
    meta: Option<std::fs::Metadata>,
    /// A symbolic link: a write to its target is no change of this directory.
    link: bool,
}

impl Listed {
    /// About how many bytes of the file are still to be read, given where its cursor is.
    fn pending(&self, cursor: Option<&Cursor>) -> u64 {
        let Some(meta) = &self.meta else { return 0 };
        match cursor {
            Some(c) if c.dev == meta.dev() && c.ino == meta.ino() => meta.len().saturating_sub(c.offset),
            _ => meta.len(),
        }
    }
}

/// The entries of a directory whose names pass `keep`, sorted by name, each with its `stat`;
/// nothing when the directory is missing. Each `stat` is taken relative to the directory being
/// read (`DirEntry::metadata`), which spares the kernel walking the whole path again: on an
/// unchanged tick that walk is most of the cost of a file.
fn list(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<Listed> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(OsString, Listed)> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            if !keep(&name.to_string_lossy()) {
                return None;
            }
            let path = e.path();
            let link = e.file_type().is_ok_and(|t| t.is_symlink());
            let meta = if link { std::fs::metadata(&path).ok() } else { e.metadata().ok() };
            Some((name, Listed { path, meta, link }))
        })
        .collect();
    // By name: the same order as by path within one directory, and cheaper to compare.
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, listed)| listed).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_resolution() {
        let user = Path::new("/home/u");
        assert_eq!(resolve_home(None, None, user), PathBuf::from("/home/u/.openclaw"));
        assert_eq!(resolve_home(None, Some("~/claw"), user), PathBuf::from("/home/u/claw"));
        assert_eq!(resolve_home(None, Some("  "), user), PathBuf::from("/home/u/.openclaw"));
        assert_eq!(resolve_home(Some(Path::new("/srv/oc")), Some("/x"), user), PathBuf::from("/srv/oc"));
    }

    #[test]
    fn a_parsed_file_is_read_again_only_once_it_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jobs.json");
        let mut memo: Parsed<String> = None;
        let mut reads = 0;
        let mut read = |memo: &mut Parsed<String>| {
            parsed(memo, &path, |t| {
                reads += 1;
                t.to_string()
            })
            .expect("read")
        };
        assert_eq!(read(&mut memo), None);
        std::fs::write(&path, "a").expect("write");
        assert_eq!(read(&mut memo).as_deref(), Some("a"));
        // Just written: read again, as a second write in the same clock tick could hide.
        assert_eq!(read(&mut memo).as_deref(), Some("a"));
        // Settled: kept.
        memo = memo.map(|(stamp, v)| (stamp.settled(), v));
        assert_eq!(read(&mut memo).as_deref(), Some("a"));
        drop(read);
        assert_eq!(reads, 2);
        std::fs::write(&path, "bb").expect("rewrite");
        let mut reads = 0;
        let value = parsed(&mut memo, &path, |t| {
            reads += 1;
            t.to_string()
        });
        assert_eq!((value.expect("read").as_deref(), reads), (Some("bb"), 1));
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(parsed(&mut memo, &path, |t| t.to_string()).expect("read"), None);
    }

    #[test]
    fn transcript_marks_skip_what_was_counted() {
        let e = |id: &str, secs: i64| Entry {
            id: Some(id.into()),
            at: DateTime::from_timestamp(secs, 0),
            kind: EntryKind::Other,
        };
        let mut m = TranscriptMark::default();
        assert!(m.admit(&e("a", 1)) && m.admit(&e("b", 2)) && m.admit(&e("c", 3)));
        // Rewritten with `b` pruned: `a` and `c` are old, `d` is new.
        m.restart();
        assert!(!m.admit(&e("a", 1)));
        assert!(!m.admit(&e("c", 3)));
        assert!(m.admit(&e("d", 4)));
        // Rewritten with the last counted entry pruned: only newer entries count.
        m.restart();
        assert!(!m.admit(&e("a", 1)));
        assert!(m.admit(&e("e", 5)));
    }
}
