//! The fuzz corpora in CI, and property tests of the same parsers, on the stable toolchain.
//!
//! Every input kept in `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` is replayed
//! through the fuzz target's own body (`fuzz/src/lib.rs`, included here as a module), which
//! panics when a parser panics or one of its invariants breaks: a finding fixed once stays
//! fixed, without nightly or libFuzzer. The properties then generate what fuzzing finds only
//! slowly: valid documents, event logs and run logs with known contents, and damage with a
//! bounded effect (a broken document, a torn last line, a log read in two ticks).

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::path::{Path, PathBuf};

use mission_control::collect::openclaw::Home;
use mission_control::config::{self, EntityKey, Kind, Sources};
use mission_control::events::{self, EventFilter, EventLog, LogOptions, NewEvent};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// The corpora

/// The kept inputs of a target: its corpus (which must not be empty) and its regressions.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let files = |folder: &str| -> Vec<PathBuf> {
        match std::fs::read_dir(fuzz.join(folder).join(target)) {
            Ok(entries) => entries.map(|e| e.expect("a directory entry").path()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("fuzz/{folder}/{target}: {e}"),
        }
    };
    let corpus = files("corpus");
    assert!(!corpus.is_empty(), "fuzz/corpus/{target} is empty or missing");
    let mut all = corpus;
    all.extend(files("regressions"));
    all.sort();
    all
}

/// Runs every kept input of `target` through `run`, and fails naming each input that panics.
fn replay(target: &str, run: fn(&[u8])) {
    let failures: Vec<String> = inputs(target)
        .iter()
        .filter_map(|path| {
            let bytes = std::fs::read(path).expect("a corpus file reads");
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            outcome.err().map(|panic| {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("{}: {message}", path.display())
            })
        })
        .collect();
    assert!(failures.is_empty(), "{} input(s) fail:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn yaml_loader_corpus() {
    replay("yaml_loader", targets::yaml_loader);
}

#[test]
fn condition_corpus() {
    replay("condition", targets::condition);
}

#[test]
fn event_log_corpus() {
    replay("event_log", targets::event_log);
}

#[test]
fn openclaw_runlog_corpus() {
    replay("openclaw_runlog", targets::openclaw_runlog);
}

#[test]
fn openclaw_transcript_corpus() {
    replay("openclaw_transcript", targets::openclaw_transcript);
}

#[test]
fn openclaw_settings_corpus() {
    replay("openclaw_settings", targets::openclaw_settings);
}

#[test]
fn openclaw_jobs_corpus() {
    replay("openclaw_jobs", targets::openclaw_jobs);
}

// ---------------------------------------------------------------------------------------------
// The YAML loader

/// A file of the generated documents alone, in a workspace with a (silent) `rules/` folder.
fn load(text: &str) -> Result<config::Config, config::LoadErrors> {
    let sources = Sources {
        settings: None,
        files: vec![(targets::FUZZ_FILE.to_string(), text.to_string())],
        has_rules: true,
    };
    config::load_sources(Path::new("/nonexistent/workspace"), sources, targets::now())
}

/// A routine document that loads on its own, and what it declares.
fn routine() -> impl Strategy<Value = (String, String, String)> {
    // Short enough never to look like a key (`sk-` and 20 more characters).
    let id = "[a-z][a-z0-9-]{0,18}";
    // Quotes, backslashes, colons and hashes, which YAML gives meaning to; nothing that may
    // look like a literal secret, which the loader rightly refuses.
    let name = r#"[A-Za-z][A-Za-z0-9 "'\\:#,.!?é-]{0,40}"#;
    let when = prop::sample::select(vec![
        "schedule: \"0 7 * * *\"\ntimezone: Europe/Berlin",
        "schedule: \"*/5 * * * *\"",
        "schedule: \"30 9 * * 1-5\"\ntimezone: America/New_York",
        "every: 15m",
        "every: 1h30m",
    ]);
    let grace = prop::sample::select(vec!["5m", "90s", "1h", "2h 30m"]);
    (id, name, when, grace).prop_map(|(id, name, when, grace)| {
        // A JSON string is a YAML double-quoted scalar: any name survives the trip.
        let quoted = serde_json::to_string(&name).expect("a string serialises");
        let text = format!(
            "kind: Routine\nid: {id}\nname: {quoted}\nowner: Subagent:Infra\n{when}\ngrace: {grace}\n"
        );
        (text, id, name)
    })
}

/// Text that is nearly YAML, nearly a document: the tokens the loader's grammar is made of.
fn yaml_soup() -> impl Strategy<Value = String> {
    const TOKENS: &[&str] = &[
        "kind: Routine\n",
        "kind: HealthRule\n",
        "id: a\n",
        "id: b-1\n",
        "name: x\n",
        "---\n",
        "...\n",
        "schedule: '0 7 * * *'\n",
        "every: 15m\n",
        "grace: ",
        "5m",
        "\n",
        "  ",
        "- ",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "'",
        "\"",
        "#",
        "&a ",
        "*a",
        "!!str ",
        "<<: *a\n",
        "|\n",
        ">-\n",
        "\t",
        "when: ",
        "depends_on: [routine/a]\n",
        "observe:\n  heartbeat: {}\n",
        "timezone: Mars/Olympus\n",
        "é",
        "\u{feff}",
        "\r\n",
        "%YAML 1.2\n",
        "? ",
        "~",
        "null",
        "1e999",
        "-0",
        "0x1F",
    ];
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn generated_routines_load((text, id, name) in routine()) {
        let config = load(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{:?}", e.0)))?;
        let entity = config
            .entity(&EntityKey::new(Kind::Routine, id.as_str()))
            .ok_or_else(|| TestCaseError::fail(format!("routine/{id} missing")))?;
        prop_assert_eq!(entity.meta.name.as_deref(), Some(name.as_str()));
        prop_assert!(entity.schedule().is_some());
    }

    /// One broken document does not hide or disturb the others: every error lies in it.
    #[test]
    fn a_broken_document_keeps_its_errors_to_itself(
        (valid, id, _) in routine(),
        broken in any::<String>(),
    ) {
        let broken: String = broken.lines().filter(|l| !l.starts_with("---")).collect::<Vec<_>>().join("\n");
        let text = format!("{valid}---\n{broken}\n");
        // The broken document starts at its `---`.
        let first_broken_line = valid.lines().count() + 1;
        if let Err(errors) = load(&text) {
            for e in &errors.0 {
                prop_assert!(e.line as usize >= first_broken_line, "{e} in the valid document of\n{text}");
            }
        }
        // And the valid document is still read: declaring its id again is a duplicate.
        let twice = format!("{valid}---\n{valid}");
        let errors = load(&twice).expect_err("a duplicate id");
        prop_assert!(errors.0.iter().any(|e| e.message.contains(&id)), "{:?}", errors.0);
    }

    #[test]
    fn yaml_soup_keeps_the_loader_invariants(text in yaml_soup()) {
        targets::yaml_loader(text.as_bytes());
    }

    #[test]
    fn condition_errors_point_where_they_say(
        parts in prop::collection::vec(prop::sample::select(vec![
            "a", "b.c", "==", "!=", "<", ">=", "and", "or", "not", "in", "contains", "matches", "(", ")",
            "[", "]", ",", "'s'", "\"s\"", "'", "\"", "\\", "5m", "-1", "1.5", "true", "null", " ", "\n",
            "é", "{{", "}}", "&&", "=",
        ]), 0..40),
    ) {
        targets::condition(parts.concat().as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// The event log

fn new_event() -> impl Strategy<Value = NewEvent> {
    (
        prop::sample::select(vec!["health.changed", "heartbeat.received", "task.assigned"]),
        "[a-z]{1,8}",
        "[a-z][a-z0-9-]{0,12}",
        any::<String>(),
        prop::option::of(prop::collection::btree_map("[a-z]{1,5}", any::<i64>(), 0..4)),
    )
        .prop_map(|(kind, source, id, message, data)| {
            let event = NewEvent::new(kind, source, "routine", id, "ok", message);
            match data {
                Some(map) => event.with_data(serde_json::to_value(map).expect("a map serialises")),
                None => event,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn appended_events_read_back_as_stored(batch in prop::collection::vec(new_event(), 1..20)) {
        let dir = targets::scratch();
        let log = EventLog::open(dir.path(), LogOptions::default()).expect("the log opens");
        let stored = log.append(batch).expect("the append succeeds");
        let read = events::read_events(dir.path(), &EventFilter::default()).expect("the log reads");
        prop_assert_eq!(read, stored);
    }

    /// A write cut short (a crash mid-append) costs the torn line and nothing before it.
    #[test]
    fn a_torn_last_line_never_loses_earlier_lines(
        batch in prop::collection::vec(new_event(), 1..12),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = targets::scratch();
        let log = EventLog::open(dir.path(), LogOptions::default()).expect("the log opens");
        let stored = log.append(batch).expect("the append succeeds");
        let path = dir.path().join(events::EVENTS_FILE);
        let bytes = std::fs::read(&path).expect("the log file reads");
        let cut = cut.index(bytes.len() + 1);
        std::fs::write(&path, &bytes[..cut]).expect("cut");
        // A line is whole when all of it, newline aside, lies before the cut.
        let mut end = 0;
        let whole = bytes
            .split(|&b| b == b'\n')
            .take(stored.len())
            .take_while(|line| {
                end += line.len();
                let fits = end <= cut;
                end += 1;
                fits
            })
            .count();
        let read = events::read_events(dir.path(), &EventFilter::default()).expect("the log reads");
        prop_assert_eq!(read, &stored[..whole]);
    }

    #[test]
    fn arbitrary_logs_keep_the_reader_invariants(
        parts in prop::collection::vec(prop_oneof![
            new_event().prop_map(|e| {
                let mut line = serde_json::to_vec(&e.stored(7, targets::now())).expect("serialises");
                line.push(b'\n');
                line
            }),
            "[0-9]{1,3}".prop_map(|seq| format!("{{\"seq\":{seq},\"timestamp\":\"2026-06-15T12:00:00Z\",\"type\":\"t\",\"source\":\"s\",\"entity_type\":\"routine\",\"entity_id\":\"a\",\"status\":\"ok\",\"message\":\"m\"}}\n").into_bytes()),
            prop::collection::vec(any::<u8>(), 0..40),
            Just(b"\n".to_vec()),
            Just(vec![targets::ROTATION_MARK]),
        ], 0..16),
    ) {
        targets::event_log(&parts.concat());
    }
}

// ---------------------------------------------------------------------------------------------
// OpenClaw run logs

/// A run line as the gateway writes it when a run finishes.
fn run_line(ts: i64, status: &str, duration: i64) -> String {
    format!(
        "{{\"ts\":{ts},\"jobId\":\"job-a\",\"action\":\"finished\",\"status\":\"{status}\",\"summary\":\"done\",\
         \"runAtMs\":{},\"durationMs\":{duration},\"model\":\"m\",\"usage\":{{\"input_tokens\":3}}}}\n",
        ts - duration
    )
}

fn run_log() -> impl Strategy<Value = (String, Vec<i64>)> {
    prop::collection::vec(
        (1i64..3_600_000, prop::sample::select(vec!["ok", "error", "skipped"]), 0i64..60_000),
        0..30,
    )
    .prop_map(|steps| {
        let mut ts = 1_781_481_600_000; // 2026-06-15T00:00:00Z
        let mut text = String::new();
        let mut finished = Vec::new();
        for (gap, status, duration) in steps {
            ts += gap;
            text.push_str(&run_line(ts, status, duration));
            finished.push(ts);
        }
        (text, finished)
    })
}

fn finished(scan: &mission_control::collect::openclaw::Scan) -> Vec<i64> {
    scan.new_runs.iter().map(|r| r.finished_at_ms).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The gateway appends while the collector reads: whichever byte the first tick stops at,
    /// every run is handed out once, in order, as if the log had been read whole.
    #[test]
    fn a_run_log_read_in_two_ticks_yields_each_run_once(
        (text, expected) in run_log(),
        split in any::<prop::sample::Index>(),
    ) {
        let dir = targets::scratch();
        let path = dir.path().join("cron/runs/job-a.jsonl");
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        let split = split.index(text.len() + 1);
        std::fs::write(&path, &text.as_bytes()[..split]).expect("write");
        let mut home = Home::new(dir.path());
        let mut runs = finished(&home.scan(targets::now()));
        {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
            file.write_all(&text.as_bytes()[split..]).expect("append");
        }
        runs.extend(finished(&home.scan(targets::now())));
        prop_assert_eq!(&runs, &expected);
        prop_assert!(home.scan(targets::now()).new_runs.is_empty());
        let whole = finished(&Home::new(dir.path()).scan(targets::now()));
        prop_assert_eq!(whole, expected);
    }

    #[test]
    fn arbitrary_run_logs_keep_the_reader_invariants(
        parts in prop::collection::vec(prop_oneof![
            (0i64..i64::MAX, 0i64..1_000_000).prop_map(|(ts, d)| run_line(ts, "ok", d).into_bytes()),
            prop::collection::vec(any::<u8>(), 0..40),
            Just(b"{\"ts\":1e300,\"jobId\":\" \"}\n".to_vec()),
            Just(b"\r\n".to_vec()),
        ], 0..12),
    ) {
        targets::openclaw_runlog(&parts.concat());
    }
}
