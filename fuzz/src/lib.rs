//! The bodies of the fuzz targets: each takes arbitrary bytes through one parser's public entry
//! point, the way the daemon reads that input, and checks what must hold whatever the bytes
//! are. A panic, here or in the library, is a finding.
//!
//! `fuzz_targets/<name>.rs` hands libFuzzer's input to the function of the same name, and
//! `tests/fuzz_corpus.rs` in the main crate includes this file as a module and replays every
//! kept input through the same functions on the stable toolchain, so CI checks the corpora and
//! the fuzzers check exactly what CI checks.
//!
//! Readers that take a path (the event log, the OpenClaw home) are given a scratch directory,
//! under `/dev/shm` when there is one so that a run does not wear out a disk, made afresh for
//! every input so that nothing of one input leaks into the next.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use mission_control::collect::openclaw::{self, Home, Layout, drift, heartbeat, ledger};
use mission_control::condition::{self, Condition, Value};
use mission_control::config::{self, Sources};
use mission_control::events::{self, Event, EventFilter, EventLog, NewEvent};

/// The instant every target runs at, so an input always does the same thing.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).single().expect("a valid instant")
}

/// A fresh, empty directory that is removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("mc-fuzz-").to_owned();
    if shm.is_dir() { builder.tempdir_in(shm) } else { builder.tempdir() }.expect("a scratch directory")
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).expect("open for append");
    file.write_all(bytes).expect("append");
}

/// Lines a line-oriented reader may take from `bytes`: the non-empty ones, the unterminated
/// last line included.
fn lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()).count()
}

/// Lines ended by a newline: what a follower of an append-only file reads, leaving a partial
/// last line for the next tick.
fn complete_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

// ---------------------------------------------------------------------------------------------
// The YAML loader

/// Where the fuzzed text sits in the workspace.
pub const FUZZ_FILE: &str = "desired/fuzz.yaml";

/// The text, if UTF-8 (the loader refuses any other file before parsing it), as both the
/// settings file and a file of `desired/`, through [`config::load_sources`]: the document
/// split, serde-saphyr, unknown and duplicate keys, the literal-secret scan, and every check
/// of validation (ids, durations, cron and time zones, conditions, references, cycles). A
/// configuration that loads is then judged once, entity by entity, as the daemon does when it
/// starts.
///
/// Checks: every error names one of the files loaded and a place inside it (line and column
/// from 1, the line one of the file's as YAML counts lines), and errors come sorted and
/// without duplicates.
pub fn yaml_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let sources = Sources {
        settings: Some(text.to_string()),
        files: vec![(FUZZ_FILE.to_string(), text.to_string())],
        has_rules: true,
    };
    let workspace = Path::new("/nonexistent/mission-control-fuzz");
    match config::load_sources(workspace, sources, now()) {
        Ok(config) => {
            let config = std::sync::Arc::new(config);
            let mut engine = mission_control::engine::Engine::new(config.clone(), None, now());
            engine.evaluate_all(now());
            engine.next_wakeup();
            for entity in &config.entities {
                if let Some(schedule) = entity.schedule() {
                    config::describe_schedule(schedule);
                    schedule.next_after(now());
                }
            }
        }
        Err(errors) => {
            let errors = errors.0;
            // Lines as YAML counts them: `\n`, `\r\n`, and a `\r` alone each end one.
            let last_line = 1 + text.replace("\r\n", "\n").matches(['\n', '\r']).count();
            for e in &errors {
                let inside = e.path == FUZZ_FILE || e.path == config::SETTINGS_FILE;
                assert!(inside || e.path.starts_with("<built-in>/"), "an error names no file loaded: {e}");
                assert!(e.line >= 1 && e.column >= 1, "an error at no place: {e}");
                if inside {
                    assert!(e.line as usize <= last_line, "an error past the end of its file: {e}");
                }
                assert!(!e.message.is_empty(), "an error without a message at {}:{}", e.path, e.line);
            }
            assert!(errors.windows(2).all(|w| w[0] < w[1]), "errors unsorted or repeated");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Conditions

/// What a condition may read: every kind of value, the awkward ones among them (NaN, -0,
/// the longest duration, a string that almost is a duration, a list nested past any limit).
fn field_values() -> Vec<Value> {
    let mut deep = Value::List(vec![Value::Number(1.0)]);
    for _ in 0..200 {
        deep = Value::List(vec![deep]);
    }
    vec![
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::Number(0.0),
        Value::Number(-0.0),
        Value::Number(5.0),
        Value::Number(f64::NAN),
        Value::Number(f64::INFINITY),
        Value::Number(-1e308),
        Value::Duration(Duration::from_secs(300)),
        Value::Duration(Duration::MAX),
        Value::String(String::new()),
        Value::String("5m".into()),
        Value::String("99999999999999999999h".into()),
        Value::String("connection refused".into()),
        Value::List(vec![]),
        Value::List(vec![Value::Number(5.0), Value::String("5m".into()), Value::Null]),
        deep,
    ]
}

/// The text, read as UTF-8 the way YAML hands it over, through [`Condition::parse`], then
/// evaluation against fields of every kind, [`Condition::paths`] and
/// [`condition::render_template`].
///
/// Checks: a parsed condition keeps its source and reads only well-formed paths, evaluation is
/// the same twice; a syntax error points into the source, its line and column agreeing with
/// its byte offset.
pub fn condition(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    let values = field_values();
    let fields = |path: &str| {
        let i = path.bytes().map(usize::from).sum::<usize>() % values.len();
        values[i].clone()
    };
    match Condition::parse(&src) {
        Ok(c) => {
            assert_eq!(c.source(), src, "a condition lost its source");
            for path in c.paths() {
                let well_formed = path.split('.').all(|segment| {
                    let mut chars = segment.chars();
                    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                assert!(well_formed, "a condition reads the malformed path {path:?}");
            }
            assert_eq!(c.eval(&fields), c.eval(&fields), "evaluation is not a function of the fields");
            assert_eq!(c.eval(&|_| Value::Null), c.eval(&|_| Value::Null));
        }
        Err(e) => {
            assert!(!e.message.is_empty(), "an error without a message");
            if src.len() <= condition::MAX_SOURCE_BYTES {
                assert!(e.offset <= src.len(), "error offset {} past the end ({})", e.offset, src.len());
                let mut end = e.offset;
                while !src.is_char_boundary(end) {
                    end -= 1;
                }
                let before = &src[..end];
                let line = 1 + before.matches('\n').count();
                let column = 1 + before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count();
                assert_eq!((e.line, e.column), (line, column), "error place disagrees with its offset");
            }
        }
    }
    condition::render_template(&src, &fields);
}

// ---------------------------------------------------------------------------------------------
// The event log

/// Separates the rotated file from the live one in an input: a byte that no line of valid
/// JSON (UTF-8) holds.
pub const ROTATION_MARK: u8 = 0xFF;

/// The bytes as a state directory's log (before [`ROTATION_MARK`], if any, the rotated file
/// `events.jsonl.1`; after it the live `events.jsonl`), read with [`events::read_events`] and
/// its pagers `head_events` and `tail_events`.
///
/// Checks: never more events than lines; seqs strictly rising; an event read writes back as
/// a line that reads back the same; a limit gives exactly the first events, a filter exactly
/// the matching ones; in files whose seqs rise line by line (as the writer leaves them),
/// reading after any event's seq gives exactly the events after it and the pagers the first
/// and last; an append through [`EventLog`] (which first repairs a torn last line) is read
/// back as the newest event and loses none read before; and cutting the live file anywhere
/// (a torn last line) loses no event of the lines before the cut.
pub fn event_log(data: &[u8]) {
    let dir = scratch();
    let (rotated, live) = match data.iter().position(|&b| b == ROTATION_MARK) {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    let live_path = dir.path().join(events::EVENTS_FILE);
    write(&live_path, live);
    if let Some(rotated) = rotated {
        write(&dir.path().join(format!("{}.1", events::EVENTS_FILE)), rotated);
    }
    let read = |filter: &EventFilter| events::read_events(dir.path(), filter).expect("the log reads");

    let all = read(&EventFilter::default());
    let line_count = lines(rotated.unwrap_or_default()) + lines(live);
    assert!(all.len() <= line_count, "{} events from {line_count} lines", all.len());
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "seqs do not rise");
    for event in &all {
        let line = serde_json::to_string(event).expect("an event serialises");
        let back: Event = serde_json::from_str(&line).expect("a written event parses");
        assert_eq!(serde_json::to_string(&back).expect("serialises"), line, "an event does not round-trip");
    }
    let n = all.len().min(3);
    if n > 0 {
        assert_eq!(read(&EventFilter { limit: Some(n), ..EventFilter::default() }), all[..n]);
        let kind = EventFilter { kinds: vec![all[0].kind.clone()], ..EventFilter::default() };
        let matching: Vec<Event> = all.iter().filter(|e| e.kind == all[0].kind).cloned().collect();
        assert_eq!(read(&kind), matching, "a kind filter is not the matching events");
    }

    // Paging by seq skips a file whose last event is at or below the cursor, which is right
    // for files as the writer leaves them (seqs rising line by line), and only for those.
    if [rotated.unwrap_or_default(), live].iter().all(|file| seqs_rise(file)) {
        for k in [0, all.len() / 2, all.len().saturating_sub(1)].into_iter().filter(|k| *k < all.len()) {
            let after = read(&EventFilter { since_seq: Some(all[k].seq), ..EventFilter::default() });
            assert_eq!(after, all[k + 1..], "reading after seq {} is not the rest", all[k].seq);
        }
        let head = events::head_events(dir.path(), &EventFilter::default(), 2, |_| true).expect("head");
        assert_eq!(head, all[..all.len().min(2)], "head_events is not the first events");
        // The daemon's hint is the last seq it knows of; u64::MAX when it knows none.
        let hint = all.last().map_or(u64::MAX, |e| e.seq);
        let tail = events::tail_events(dir.path(), &EventFilter::default(), 2, hint, |_| true).expect("tail");
        assert_eq!(tail, all[all.len().saturating_sub(2)..], "tail_events is not the last events");
    }

    // The next append repairs a torn last line and goes on from the last seq: the new event is
    // read back as the newest and nothing read before is lost, for a live file as the writer
    // leaves it (seqs rising) whose last line is whole or no event at all. Known and open
    // (docs/RELIABILITY.md): after an event with seq u64::MAX the writer's `seq += 1`
    // overflows, so that case is left out until `events/log.rs` refuses it.
    let last_line = live.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    let unterminated_event = serde_json::from_slice::<Event>(last_line).is_ok();
    let exhausted = all.last().is_some_and(|e| e.seq == u64::MAX);
    if rotated.is_none() && seqs_rise(live) && !unterminated_event && !exhausted {
        let log = EventLog::open(dir.path(), events::LogOptions::default()).expect("the log opens");
        let new = NewEvent::new("fuzz.appended", "fuzz", "workspace", "fuzz", "ok", "appended").at(now());
        let stored = log.append(vec![new]).expect("the append succeeds");
        let after = read(&EventFilter::default());
        assert_eq!(after.last(), stored.last(), "the appended event is not the newest one read");
        assert_eq!(after[..after.len() - 1], all, "the append lost or added events read before it");
    }

    // A torn last line: whatever the cut, the lines before it read as they did.
    if rotated.is_none() && !live.is_empty() {
        let cut = live.len() * 2 / 3;
        let whole_lines = live[..cut].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        write(&live_path, &live[..whole_lines]);
        let before = read(&EventFilter::default());
        write(&live_path, &live[..cut]);
        let torn = read(&EventFilter::default());
        assert!(
            torn.starts_with(&before) && torn.len() <= before.len() + 1,
            "cutting a line lost events: {} before the cut, {} with the torn line",
            before.len(),
            torn.len()
        );
    }
}

/// Whether the valid lines of a log file (those the reader takes) have rising seqs.
fn seqs_rise(file: &[u8]) -> bool {
    let seqs: Vec<u64> = file
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| serde_json::from_slice::<Event>(line).ok())
        .map(|e| e.seq)
        .collect();
    seqs.windows(2).all(|w| w[0] < w[1])
}

// ---------------------------------------------------------------------------------------------
// OpenClaw

/// The job whose run log the run-log target writes, and the agent and session of the
/// transcript target.
const JOB: &str = "job-a";
const AGENT: &str = "main";
const SESSION: &str = "sess-1";
/// The jobs store beside the fuzzed run log: the job recurs, so the ledger lays out slots.
const JOBS_JSON: &str = r#"{"version":1,"jobs":[{"id":"job-a","name":"Daily","enabled":true,
  "schedule":{"kind":"every","everyMs":3600000,"anchorMs":1767225600000},
  "payload":{"kind":"agentTurn","message":"x"},"state":{}}]}"#;
/// An `openclaw.json` giving the transcript's agent a heartbeat with a custom prompt.
const CONFIG_JSON: &str =
    r#"{agents: {defaults: {heartbeat: {every: "30m", prompt: "Custom beat"}}, list: [{id: "main"}]}}"#;

/// What the daemon does with a scan: the ledger of every job over the last day, the judgement
/// of every heartbeat, drift against a desired state that declares nothing, usage priced.
fn judge(home: &Home, scan: &openclaw::Scan) {
    let now = now();
    let since = now - chrono::TimeDelta::hours(24);
    for job in &scan.jobs {
        job.run_timeout();
        job.heartbeat_agent();
        let runs = home.recent_runs(&job.id);
        ledger::ledger(job, &runs, since, now, Duration::from_secs(300), chrono_tz::UTC);
    }
    for config in &scan.heartbeats {
        assert_eq!(
            config.enabled,
            config.every.is_some(),
            "agent {}: enabled without a cadence",
            config.agent_id
        );
        assert!(config.every.is_none_or(|e| !e.is_zero()), "agent {}: a zero cadence", config.agent_id);
        let beats = scan
            .agents
            .iter()
            .find(|a| a.agent_id == config.agent_id)
            .map(|a| a.heartbeats.clone())
            .unwrap_or_default();
        heartbeat::judge(config, &beats, since, now, Duration::from_secs(60));
    }
    drift::drift(std::iter::empty(), &scan.jobs, chrono_tz::UTC);
    for usage in &scan.new_usage {
        usage.record(&[], None);
    }
    assert!(scan.new_runs.windows(2).all(|w| w[0].finished_at_ms <= w[1].finished_at_ms), "runs unsorted");
    assert!(scan.new_usage.windows(2).all(|w| w[0].at <= w[1].at), "usage unsorted");
}

/// A scan with nothing changed on disk hands out nothing new.
fn rescan_is_quiet(home: &mut Home) {
    let again = home.scan(now());
    assert!(again.new_runs.is_empty(), "a rescan handed out {} runs again", again.new_runs.len());
    assert!(again.new_usage.is_empty(), "a rescan handed out {} usage entries again", again.new_usage.len());
}

/// The bytes as the run log `cron/runs/job-a.jsonl` of a home whose `jobs.json` declares that
/// job: its first half is there at the first scan (often ending in a partial line), the rest
/// is appended before the second, as the gateway appends. Covers following the file, each
/// line as JSON, `run_from`, the watermark, and the ledger over the runs found.
///
/// Checks: no more runs than complete lines; runs sorted; a scan with nothing new hands out
/// nothing.
pub fn openclaw_runlog(data: &[u8]) {
    let dir = scratch();
    write(&dir.path().join("cron/jobs.json"), JOBS_JSON.as_bytes());
    let log = dir.path().join(format!("cron/runs/{JOB}.jsonl"));
    let (first, rest) = data.split_at(data.len() / 2);
    write(&log, first);
    let mut home = Home::new(dir.path());
    let one = home.scan(now());
    judge(&home, &one);
    assert!(one.new_runs.len() <= complete_lines(first), "more runs than lines");
    append(&log, rest);
    let two = home.scan(now());
    judge(&home, &two);
    assert!(one.new_runs.len() + two.new_runs.len() <= complete_lines(data), "more runs than lines");
    for run in one.new_runs.iter().chain(&two.new_runs) {
        assert!(!run.job_id.is_empty() && run.job_id.trim() == run.job_id, "job id {:?}", run.job_id);
    }
    rescan_is_quiet(&mut home);
}

/// The bytes as the transcript `agents/main/sessions/sess-1.jsonl` (first half, then the rest
/// appended, as for the run log) and also as that folder's `sessions.json` index. Covers the
/// index, transcript entries in every usage spelling, heartbeat prompts (the agent has a
/// custom one), the transcript marks, and usage pricing.
///
/// Checks: no more usage entries than complete lines, each of this agent and session; the
/// agent is known; a scan with nothing new hands out nothing.
pub fn openclaw_transcript(data: &[u8]) {
    let dir = scratch();
    write(&dir.path().join("openclaw.json"), CONFIG_JSON.as_bytes());
    let sessions = dir.path().join(format!("agents/{AGENT}/sessions"));
    write(&sessions.join("sessions.json"), data);
    let transcript = sessions.join(format!("{SESSION}.jsonl"));
    let (first, rest) = data.split_at(data.len() / 2);
    write(&transcript, first);
    let mut home = Home::new(dir.path());
    let one = home.scan(now());
    judge(&home, &one);
    append(&transcript, rest);
    let two = home.scan(now());
    judge(&home, &two);
    let usage = one.new_usage.len() + two.new_usage.len();
    assert!(usage <= complete_lines(data), "{usage} usage entries from {} lines", complete_lines(data));
    for u in one.new_usage.iter().chain(&two.new_usage) {
        assert_eq!(
            (u.agent_id.as_str(), u.session_id.as_str()),
            (AGENT, SESSION),
            "usage of another session"
        );
    }
    assert!(two.agents.iter().any(|a| a.agent_id == AGENT), "the agent with a transcript is unknown");
    rescan_is_quiet(&mut home);
}

/// The bytes as `openclaw.json` (JSON5), with an agent folder on disk: who has a heartbeat and
/// how often, and each heartbeat judged. The text is also read as a heartbeat `every` alone.
///
/// Checks: one configuration per agent, ids trimmed and lower-case, the default agent among
/// them; enabled exactly when a cadence is set and that cadence is not zero.
pub fn openclaw_settings(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(Some(every)) = openclaw::parse_every(&text) {
        assert!(!every.is_zero(), "parse_every({text:?}) is a zero cadence, not None");
    }
    let dir = scratch();
    write(&dir.path().join("openclaw.json"), data);
    std::fs::create_dir_all(dir.path().join("agents/ops/sessions")).expect("mkdir");
    let mut home = Home::new(dir.path());
    let scan = home.scan(now());
    judge(&home, &scan);
    assert!(!scan.heartbeats.is_empty(), "no heartbeat configuration at all, not even the default agent's");
    let ids: Vec<&str> = scan.heartbeats.iter().map(|h| h.agent_id.as_str()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "agents repeated or unsorted: {ids:?}");
    for id in &ids {
        assert_eq!(*id, id.trim().to_ascii_lowercase(), "agent id not normalised");
    }
    assert!(ids.contains(&"ops"), "the agent found on disk has no configuration: {ids:?}");
}

/// Separates `cron/jobs.json` from `cron/jobs-state.json` in an input: a JSON5 comment line,
/// so an input holding it still reads as JSON5.
pub const STATE_MARK: &[u8] = b"\n//state\n";

/// The bytes as `cron/jobs.json` (before [`STATE_MARK`], if any; the rest is
/// `cron/jobs-state.json`). Covers JSON and the JSON5 fallback, jobs of every vintage and
/// schedule kind, the split state file, and what the daemon does with jobs: the ledger of
/// each, drift, and the import as desired-state YAML.
///
/// Checks: every job has a trimmed, non-empty id; the layout is the one the files make; two
/// scans of the same files read the same jobs.
pub fn openclaw_jobs(data: &[u8]) {
    let dir = scratch();
    let (jobs, state) = match data.windows(STATE_MARK.len()).position(|w| w == STATE_MARK) {
        Some(i) => (&data[..i], Some(&data[i + STATE_MARK.len()..])),
        None => (data, None),
    };
    write(&dir.path().join("cron/jobs.json"), jobs);
    if let Some(state) = state {
        write(&dir.path().join("cron/jobs-state.json"), state);
    }
    let mut home = Home::new(dir.path());
    let scan = home.scan(now());
    judge(&home, &scan);
    // A state file that cannot be read as text is reported, and the inline states are used.
    let split = state.is_some_and(|state| std::str::from_utf8(state).is_ok());
    let expected = if split { Layout::JsonSplit } else { Layout::JsonInline };
    assert!(
        scan.layout == expected || scan.jobs.is_empty(),
        "layout {:?} for jobs.json {}",
        scan.layout,
        if split { "with a state file" } else { "alone" }
    );
    for job in &scan.jobs {
        assert!(!job.id.is_empty() && job.id.trim() == job.id, "job id {:?}", job.id);
    }
    drift::import_yaml(&scan.jobs, chrono_tz::UTC);
    let again = home.scan(now());
    assert_eq!(again.jobs, scan.jobs, "two scans of the same store read different jobs");
}
