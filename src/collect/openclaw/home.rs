//! [`Home`]: one OpenClaw home, scanned tick after tick.
//!
//! The home keeps what it needs to read only what is new: a byte offset and inode per run log
//! and transcript, the highest row read per SQLite table, a watermark per job and per
//! transcript so that a file read again from its start (rewritten, pruned, moved to another
//! layout by an upgrade) hands out nothing twice. It also keeps a short history (the recent
//! runs of each job, two days of heartbeats per agent) so the judgements can be made from a
//! scan alone. Nothing under the home is ever created, written, renamed or locked for writing:
//! files are opened for reading, databases with the read-only flag.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::follow::{Cursor, follow};
use super::runlog::{Watermark, run_from};
use super::sessions::{self, Entry, EntryKind, IndexEntry};
use super::settings::{heartbeats, normalise_agent};
use super::sqlite::{self, AgentCursor, DbError, StateCursor};
use super::store::{merge_states, parse_jobs, parse_json5, parse_states};
use super::{AgentActivity, Job, Layout, Problem, Run, Scan, UsageEntry, instant_ms};

/// How many finished runs of each job the home remembers for the ledger.
const RUNS_KEPT: usize = 2_000;
/// How far back heartbeats are remembered.
const HEARTBEAT_WINDOW_HOURS: i64 = 48;
/// Heartbeats remembered per agent at most (a runaway loop must not grow memory without end).
const HEARTBEATS_KEPT: usize = 50_000;
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

/// An OpenClaw home and what has been read of it.
#[derive(Debug)]
pub struct Home {
    root: PathBuf,
    run_logs: HashMap<PathBuf, Cursor>,
    watermarks: HashMap<String, Watermark>,
    state: StateCursor,
    transcripts: HashMap<PathBuf, TranscriptFile>,
    agent_dbs: HashMap<String, (AgentCursor, HashMap<String, TranscriptMark>)>,
    history: HashMap<String, VecDeque<Run>>,
    /// Heartbeats per agent, oldest first, each marked when it is only a
    /// `lastHeartbeatSentAt` stamp (which the transcript's own record of the beat replaces).
    heartbeats: HashMap<String, VecDeque<(DateTime<Utc>, bool)>>,
    activity: BTreeMap<String, AgentActivity>,
    config: Option<Value>,
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
            last_jobs: Vec::new(),
            last_layout: Layout::Empty,
            last_schema: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The recent finished runs of a job (at most the last 2,000), oldest first.
    pub fn recent_runs(&self, job_id: &str) -> Vec<Run> {
        self.history.get(job_id).map(|h| h.iter().cloned().collect()).unwrap_or_default()
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
        self.read_config(&mut scan);
        let mut runs = self.read_cron(&mut scan);
        runs.extend(self.read_run_logs(&mut scan));
        // Runs of one job may come from two layouts (a home mid-upgrade): oldest first, so
        // the watermark keeps each once.
        runs.sort_by_key(|r| r.finished_at_ms);
        for run in runs {
            if self.watermarks.entry(run.job_id.clone()).or_default().admit(&run) {
                let history = self.history.entry(run.job_id.clone()).or_default();
                history.push_back(run.clone());
                while history.len() > RUNS_KEPT {
                    history.pop_front();
                }
                scan.new_runs.push(run);
            }
        }
        scan.new_runs.sort_by_key(|r| r.finished_at_ms);
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
        self.read_sessions(&mut scan);

        let mut known: BTreeSet<String> = self.activity.keys().cloned().collect();
        known.extend(scan.jobs.iter().filter_map(|j| j.agent_id.as_deref().map(normalise_agent)));
        let (configs, problems) = heartbeats(self.config.as_ref(), &known);
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

    fn problem(&self, scan: &mut Scan, path: &Path, message: impl Into<String>) {
        let path = path.strip_prefix(&self.root).unwrap_or(path).to_string_lossy().into_owned();
        scan.problems.push(Problem { path, message: message.into() });
    }

    fn read_config(&mut self, scan: &mut Scan) {
        let path = self.root.join("openclaw.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse_json5(&text) {
                Ok(v) => self.config = Some(v),
                // Keep the last good configuration: a half-saved file is read again next tick.
                Err(e) => self.problem(scan, &path, format!("not JSON5: {e}")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.config = None,
            Err(e) => self.problem(scan, &path, e.to_string()),
        }
    }

    /// The jobs, from the SQLite store when it has them, else from the JSON store; runs from
    /// the database.
    fn read_cron(&mut self, scan: &mut Scan) -> Vec<Run> {
        let db_path = self.root.join("state").join("openclaw.sqlite");
        let mut runs = Vec::new();
        if db_path.is_file() {
            let read =
                sqlite::open(&db_path).and_then(|c| sqlite::read_state(&c, &mut self.state, &self.root));
            match read {
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
        let text = match std::fs::read_to_string(&store) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
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
        let (mut jobs, problems) = match parse_jobs(&text) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.problem(scan, &store, format!("unreadable, keeping the last good jobs: {e}"));
                scan.jobs = self.last_jobs.clone();
                return runs;
            }
        };
        for p in problems {
            self.problem(scan, &store, p);
        }
        let state_path = store.with_file_name("jobs-state.json");
        scan.layout = Layout::JsonInline;
        match std::fs::read_to_string(&state_path) {
            Ok(text) => match parse_states(&text) {
                Ok(states) => {
                    merge_states(&mut jobs, &states);
                    scan.layout = Layout::JsonSplit;
                }
                Err(e) => {
                    self.problem(scan, &state_path, format!("unreadable, keeping the last good states: {e}"));
                    scan.layout = Layout::JsonSplit;
                    for job in &mut jobs {
                        if let Some(old) = self.last_jobs.iter().find(|o| o.id == job.id) {
                            job.state = old.state.clone();
                        }
                    }
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => self.problem(scan, &state_path, e.to_string()),
        }
        for job in &jobs {
            if let super::JobSchedule::Invalid { reason } = &job.schedule {
                self.problem(scan, &store, format!("job {}: {reason}", job.id));
            }
        }
        scan.jobs = jobs;
        self.remember(scan);
        runs
    }

    fn json_store(&self) -> PathBuf {
        self.root.join("cron").join("jobs.json")
    }

    fn remember(&mut self, scan: &Scan) {
        self.last_jobs = scan.jobs.clone();
        self.last_layout = scan.layout;
    }

    /// `cron/runs/*.jsonl`, each followed from where it was left.
    fn read_run_logs(&mut self, scan: &mut Scan) -> Vec<Run> {
        let dir = self.root.join("cron").join("runs");
        let mut runs = Vec::new();
        for path in list(&dir, |name| name.ends_with(".jsonl")) {
            let mut cursor = self.run_logs.get(&path).copied().unwrap_or_default();
            let mut bad = 0usize;
            let read = follow(&path, &mut cursor, |line, _| {
                match serde_json::from_str::<Value>(line).ok().and_then(|v| v.as_object().cloned()) {
                    Some(o) => runs.extend(run_from(&o, None)),
                    None => bad += 1,
                }
            });
            match read {
                Ok(_) => {
                    self.run_logs.insert(path.clone(), cursor);
                }
                Err(e) => self.problem(scan, &path, e.to_string()),
            }
            if bad > 0 {
                self.problem(scan, &path, format!("{bad} line(s) are not JSON objects; skipped"));
            }
        }
        runs
    }

    /// Every agent's sessions: the index, the transcripts (files or database).
    fn read_sessions(&mut self, scan: &mut Scan) {
        let agents_dir = self.root.join("agents");
        let agent_dirs = list(&agents_dir, |_| true).into_iter().filter(|p| p.is_dir());
        let prompts: HashMap<String, String> = {
            let (configs, _) = heartbeats(self.config.as_ref(), &BTreeSet::new());
            configs.into_iter().filter_map(|c| Some((c.agent_id, c.prompt?))).collect()
        };
        for dir in agent_dirs {
            let Some(agent) = dir.file_name().map(|n| normalise_agent(&n.to_string_lossy())) else {
                continue;
            };
            let prompt = prompts.get(&agent).cloned();
            let mut index: Vec<IndexEntry> = Vec::new();
            let index_path = dir.join("sessions").join("sessions.json");
            match std::fs::read_to_string(&index_path) {
                Ok(text) => match sessions::parse_index(&text) {
                    Ok(entries) => index = entries,
                    Err(e) => self.problem(scan, &index_path, format!("unreadable: {e}")),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => self.problem(scan, &index_path, e.to_string()),
            }
            let db_path = dir.join("agent").join("openclaw-agent.sqlite");
            let mut db_events = Vec::new();
            if db_path.is_file() {
                let (cursor, _) = self.agent_dbs.entry(agent.clone()).or_default();
                match sqlite::open(&db_path).and_then(|c| sqlite::read_agent(&c, cursor)) {
                    Ok(read) => {
                        for p in &read.problems {
                            self.problem(scan, &db_path, p.clone());
                        }
                        index.extend(read.index);
                        db_events = read.events;
                        if read.compressed > 0 {
                            self.problem(
                                scan,
                                &db_path,
                                format!("{} compressed transcript event(s) not read", read.compressed),
                            );
                        }
                    }
                    Err(DbError::Locked) => {
                        scan.locked = true;
                        self.problem(scan, &db_path, DbError::Locked.to_string());
                    }
                    Err(DbError::Other(e)) => self.problem(scan, &db_path, e),
                }
            }
            let keys: HashMap<String, String> =
                index.iter().filter_map(|e| Some((e.session_id.clone()?, e.key.clone()))).collect();
            let activity = self
                .activity
                .entry(agent.clone())
                .or_insert_with(|| AgentActivity { agent_id: agent.clone(), ..AgentActivity::default() });
            activity.sessions = index.len();
            let mut sent = Vec::new();
            for e in &index {
                if let Some(at) = e.last_heartbeat_sent_at_ms.and_then(instant_ms) {
                    activity.last_heartbeat_sent_at = activity.last_heartbeat_sent_at.max(Some(at));
                    sent.push(at.timestamp_millis());
                }
            }
            for ms in sent {
                self.beat(&agent, ms, true);
            }

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

            // Transcript files.
            let sessions_dir = dir.join("sessions");
            for path in list(&sessions_dir, |name| sessions::transcript_session_id(name).is_some()) {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let session = sessions::transcript_session_id(&name).unwrap_or_default().to_string();
                let mut file = self.transcript_for(&path);
                let mut entries = Vec::new();
                let mut bad = 0usize;
                let read = follow(&path, &mut file.cursor, |line, restarted| {
                    match serde_json::from_str::<Value>(line) {
                        Ok(v) => entries.push((restarted, sessions::entry(&v, prompt.as_deref()))),
                        Err(_) => bad += 1,
                    }
                });
                if let Err(e) = read {
                    self.problem(scan, &path, e.to_string());
                    continue;
                }
                if bad > 0 {
                    self.problem(scan, &path, format!("{bad} line(s) are not JSON; skipped"));
                }
                let mut restarted_seen = false;
                for (restarted, entry) in entries {
                    if restarted && !restarted_seen {
                        file.mark.restart();
                        restarted_seen = true;
                    }
                    if file.mark.admit(&entry) {
                        self.count(scan, &agent, &session, keys.get(&session).cloned(), entry);
                    }
                }
                self.transcripts.insert(path, file);
            }
        }
        scan.new_usage.sort_by_key(|u| u.at);
    }

    /// The reading state of a transcript path; a path never seen that is the same file as a
    /// known one (a reset renames `<id>.jsonl` to `<id>.jsonl.reset.<time>`) carries on from
    /// where that one was.
    fn transcript_for(&mut self, path: &Path) -> TranscriptFile {
        if let Some(file) = self.transcripts.get(path) {
            return file.clone();
        }
        if let Ok(meta) = std::fs::metadata(path) {
            let moved = self
                .transcripts
                .iter()
                .find(|(p, f)| f.cursor.dev == meta.dev() && f.cursor.ino == meta.ino() && !p.exists())
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
                let activity = self.activity.entry(agent.to_string()).or_insert_with(|| AgentActivity {
                    agent_id: agent.to_string(),
                    ..AgentActivity::default()
                });
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

/// The entries of a directory whose names pass `keep`, sorted; nothing when it is missing.
fn list(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .filter(|e| keep(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
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
