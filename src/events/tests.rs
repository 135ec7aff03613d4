//! Tests of the event log: seqs across writers, torn tails, rotation, the reader, filters and
//! the group-committing writer.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

use chrono::{SubsecRound, TimeZone};

use super::file::{list_rotated, peek_seq, peek_timestamp, rotated_path};
use super::*;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).single().expect("valid instant")
}

fn ping(id: &str) -> NewEvent {
    NewEvent::new("heartbeat.received", "test", "routine", id, "success", "ping")
}

fn open(dir: &Path) -> EventLog {
    EventLog::open(dir, LogOptions::default()).expect("open log")
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|event| event.seq).collect()
}

fn all(log: &EventLog) -> Vec<Event> {
    log.read(&EventFilter::default()).expect("read")
}

/// Every line of the live file parses as an event.
fn assert_file_clean(path: &Path) -> usize {
    let text = fs::read_to_string(path).expect("read file");
    assert!(text.is_empty() || text.ends_with('\n'), "file ends mid-line");
    for line in text.lines() {
        serde_json::from_str::<Event>(line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"));
    }
    text.lines().count()
}

#[test]
fn serializes_as_the_spec_shows() {
    let ts = Utc.with_ymd_and_hms(2026, 11, 25, 7, 45, 1).single().expect("valid")
        + chrono::Duration::microseconds(120_456);
    let event = Event {
        seq: 42,
        timestamp: ts.trunc_subsecs(3),
        kind: "health.changed".into(),
        source: "reconciler".into(),
        entity_type: "routine".into(),
        entity_id: "daily-status".into(),
        status: "stale".into(),
        message: "no signal".into(),
        data: None,
    };
    let line = serde_json::to_string(&event).expect("serialize");
    assert_eq!(
        line,
        r#"{"seq":42,"timestamp":"2026-11-25T07:45:01.120Z","type":"health.changed","source":"reconciler","entity_type":"routine","entity_id":"daily-status","status":"stale","message":"no signal"}"#
    );
    assert_eq!(serde_json::from_str::<Event>(&line).expect("parse"), event);
    assert_eq!(peek_seq(line.as_bytes()), Some(42));
}

#[test]
fn schema_names_the_required_fields() {
    let schema = serde_json::to_value(schemars::schema_for!(Event)).expect("schema");
    let required: Vec<&str> =
        schema["required"].as_array().expect("required list").iter().filter_map(|v| v.as_str()).collect();
    for field in ["seq", "timestamp", "type", "source", "entity_type", "entity_id", "status", "message"] {
        assert!(required.contains(&field), "{field} not required in {schema}");
    }
    assert!(!required.contains(&"data"));
    assert_eq!(schema["properties"]["timestamp"]["format"], "date-time");
}

#[test]
fn seq_increases_across_appends_and_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let log = open(&state);
    assert_eq!(log.last_seq().expect("last seq"), 0);
    let first = log.append(vec![ping("a")]).expect("append");
    let second = log.append(vec![ping("b")]).expect("append");
    assert_eq!((seqs(&first), seqs(&second)), (vec![1], vec![2]));

    // A second "process" continues where the first stopped, and the first notices.
    let other = open(&state);
    assert_eq!(seqs(&other.append(vec![ping("c")]).expect("append")), vec![3]);
    assert_eq!(seqs(&log.append(vec![ping("d")]).expect("append")), vec![4]);
    assert_eq!(other.last_seq().expect("last seq"), 4);
    assert_eq!(seqs(&all(&log)), vec![1, 2, 3, 4]);
    assert_eq!(all(&log)[2].entity_id, "c");
}

#[test]
fn batch_gets_consecutive_seqs_and_reads_back_equal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    log.append(vec![ping("x")]).expect("append");
    let batch: Vec<NewEvent> =
        (0..10).map(|i| ping(&format!("r{i}")).with_data(serde_json::json!({"i": i}))).collect();
    let stored = log.append(batch).expect("append");
    assert_eq!(seqs(&stored), (2..=11).collect::<Vec<_>>());
    assert_eq!(all(&log)[1..], stored[..]);
    assert_eq!(assert_file_clean(log.path()), 11);
    assert!(log.append(Vec::new()).expect("empty append").is_empty());
    assert_eq!(assert_file_clean(log.path()), 11);
}

#[test]
fn seq_placeholder_in_an_id_becomes_the_events_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    log.append(vec![ping("x")]).expect("append");
    let stored = log.append(vec![ping("t{seq}"), ping("plain"), ping("t{seq}")]).expect("append");
    let ids: Vec<&str> = stored.iter().map(|e| e.entity_id.as_str()).collect();
    assert_eq!(ids, ["t2", "plain", "t4"]);
    assert_eq!(all(&log)[1..], stored[..]);
}

#[test]
fn explicit_timestamp_is_kept_to_the_millisecond() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    let ts = at(7, 45, 1) + chrono::Duration::microseconds(120_999);
    let stored = log.append(vec![ping("a").at(ts)]).expect("append");
    assert_eq!(stored[0].timestamp, at(7, 45, 1) + chrono::Duration::milliseconds(120));
    let text = fs::read_to_string(log.path()).expect("read");
    assert!(text.contains(r#""timestamp":"2026-11-25T07:45:01.120Z""#), "{text}");
}

#[test]
fn torn_tail_is_repaired_by_the_next_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    log.append(vec![ping("a"), ping("b")]).expect("append");
    // A crash mid-line, by this process and then by a fresh one.
    for writer in [log.clone(), open(dir.path())] {
        let mut file = OpenOptions::new().append(true).open(log.path()).expect("open");
        file.write_all(br#"{"seq":99,"timestamp":"2026-11-2"#).expect("tear");
        writer.append(vec![ping("c")]).expect("append after tear");
    }
    assert_eq!(assert_file_clean(log.path()), 4);
    assert_eq!(seqs(&all(&log)), vec![1, 2, 3, 4]);
}

#[test]
fn torn_file_without_any_newline_is_emptied() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join(EVENTS_FILE), b"garbage without newline").expect("write");
    let log = open(dir.path());
    assert_eq!(seqs(&log.append(vec![ping("a")]).expect("append")), vec![1]);
    assert_eq!(assert_file_clean(log.path()), 1);
}

#[test]
fn reader_skips_garbage_and_torn_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    log.append(vec![ping("a")]).expect("append");
    let mut file = OpenOptions::new().append(true).open(log.path()).expect("open");
    file.write_all(b"not json at all\n{\"seq\":1,\"repeat\":true}\n\n").expect("garbage");
    drop(file);
    // Another process writes after the garbage; the garbage is not a seq to continue from.
    open(dir.path()).append(vec![ping("b")]).expect("append");
    let mut file = OpenOptions::new().append(true).open(log.path()).expect("open");
    file.write_all(br#"{"seq":3,"timestamp":"2026-11-25T07:4"#).expect("tear");
    assert_eq!(seqs(&all(&log)), vec![1, 2]);
    // The scan back for the last seq walks past garbage lines too.
    assert_eq!(open(dir.path()).last_seq().expect("last seq"), 2);
}

#[test]
fn rotation_keeps_keep_files_and_reads_span_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = LogOptions { max_bytes: 1000, keep: 2 };
    let log = EventLog::open(dir.path(), options).expect("open");
    for _ in 0..60 {
        log.append(vec![ping("a"), ping("b")]).expect("append");
    }
    let rotated = list_rotated(dir.path()).expect("list");
    assert_eq!(rotated.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 2]);
    for path in rotated.iter().map(|(_, path)| path).chain([&log.path().to_path_buf()]) {
        let len = fs::metadata(path).expect("stat").len();
        assert!(len <= options.max_bytes, "{} is {len} bytes", path.display());
        assert_file_clean(path);
    }
    let events = all(&log);
    let first = events[0].seq;
    assert!(first > 1, "old files were dropped");
    assert_eq!(seqs(&events), (first..=120).collect::<Vec<_>>());

    let since = log.read(&EventFilter { since_seq: Some(first + 3), ..Default::default() }).expect("read");
    assert_eq!(seqs(&since), (first + 4..=120).collect::<Vec<_>>());

    // A crash right after a rotation leaves an empty live file: seq comes from `.1`.
    fs::rename(rotated_path(dir.path(), 1), rotated_path(dir.path(), 2)).expect("shift");
    fs::rename(log.path(), rotated_path(dir.path(), 1)).expect("rotate");
    fs::write(log.path(), b"").expect("new live file");
    let fresh = EventLog::open(dir.path(), options).expect("open");
    assert_eq!(seqs(&fresh.append(vec![ping("c")]).expect("append")), vec![121]);
}

#[test]
fn rotation_by_another_process_keeps_seq_unique() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = LogOptions { max_bytes: 600, keep: 3 };
    let a = EventLog::open(dir.path(), options).expect("open");
    let b = EventLog::open(dir.path(), options).expect("open");
    for i in 0..40 {
        let writer = if i % 3 == 0 { &a } else { &b };
        writer.append(vec![ping("x")]).expect("append");
    }
    let events = all(&a);
    let first = events[0].seq;
    assert_eq!(seqs(&events), (first..=40).collect::<Vec<_>>());
}

#[test]
fn separate_logs_on_threads_never_repeat_a_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let state = state.clone();
            std::thread::spawn(move || {
                // Its own open: no memory shared with the other "processes".
                let log = EventLog::open(&state, LogOptions::default()).expect("open");
                let mut got = Vec::new();
                let mut written = 0;
                while written < 500 {
                    let n = (1 + (written + t) % 4).min(500 - written);
                    let batch = (0..n).map(|i| ping(&format!("t{t}-{}", written + i))).collect();
                    got.extend(seqs(&log.append(batch).expect("append")));
                    written += n;
                }
                got
            })
        })
        .collect();
    let mut union: Vec<u64> = threads.into_iter().flat_map(|t| t.join().expect("thread")).collect();
    union.sort_unstable();
    assert_eq!(union, (1..=2000).collect::<Vec<_>>());
    assert_eq!(assert_file_clean(&state.join(EVENTS_FILE)), 2000);
    let log = open(&state);
    assert_eq!(seqs(&all(&log)), (1..=2000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_answers_concurrent_appends_with_distinct_seqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = EventWriter::spawn(open(dir.path()));
    let mut subscriber = writer.subscribe();
    let tasks: Vec<_> = (0..2000)
        .map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.append(ping(&format!("r{i}"))).await })
        })
        .collect();
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.expect("task").expect("append").seq);
    }
    got.sort_unstable();
    assert_eq!(got, (1..=2000).collect::<Vec<_>>());
    let mut broadcast = Vec::new();
    for _ in 0..2000 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), subscriber.recv())
            .await
            .expect("broadcast in time")
            .expect("broadcast");
        broadcast.push(event.seq);
    }
    assert_eq!(broadcast, (1..=2000).collect::<Vec<_>>());

    let many = writer.append_many(vec![ping("m1"), ping("m2")]).await.expect("append many");
    assert_eq!(many.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2001, 2002]);
    assert_eq!(assert_file_clean(&dir.path().join(EVENTS_FILE)), 2002);
}

#[tokio::test]
async fn writer_broadcasts_what_other_processes_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = LogOptions { max_bytes: 400, keep: 5 };
    let writer = EventWriter::spawn(EventLog::open(dir.path(), options).expect("open"));
    let mut subscriber = writer.subscribe();
    writer.append(ping("own")).await.expect("append");
    let cli = EventLog::open(dir.path(), options).expect("open");
    cli.append(vec![ping("cli-1")]).expect("cli append");
    writer.catch_up().await.expect("catch up");
    // The CLI now rotates the file under the writer.
    cli.append(vec![ping("cli-2"), ping("cli-3")]).expect("cli append");
    cli.append(vec![ping("cli-4")]).expect("cli append");
    assert_eq!(writer.append(ping("own")).await.expect("append").seq, 6);
    let mut got = Vec::new();
    for _ in 0..6 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), subscriber.recv())
            .await
            .expect("broadcast in time")
            .expect("broadcast");
        got.push((event.seq, event.entity_id.clone()));
    }
    let expected: Vec<(u64, String)> =
        [(1, "own"), (2, "cli-1"), (3, "cli-2"), (4, "cli-3"), (5, "cli-4"), (6, "own")]
            .into_iter()
            .map(|(seq, id)| (seq, id.to_string()))
            .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn writer_reports_errors_and_keeps_going() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    let writer = EventWriter::spawn(log.clone());
    // A directory where the log file should be makes every append fail.
    fs::create_dir(log.path()).expect("mkdir");
    let err = writer.append(ping("a")).await.expect_err("append must fail");
    assert!(err.to_string().contains("events.jsonl"), "{err}");
    fs::remove_dir(log.path()).expect("rmdir");
    assert_eq!(writer.append(ping("b")).await.expect("append").seq, 1);
}

#[test]
fn scrub_runs_before_writing() {
    fn mask(event: &mut NewEvent) {
        event.message = event.message.replace("sk-secret", "[REDACTED]");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path()).with_scrub(mask);
    let mut event = ping("a");
    event.message = "token sk-secret leaked".into();
    let stored = log.append(vec![event]).expect("append");
    assert_eq!(stored[0].message, "token [REDACTED] leaked");
    assert!(!fs::read_to_string(log.path()).expect("read").contains("sk-secret"));
}

#[test]
fn files_are_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let log = open(&state);
    log.append(vec![ping("a")]).expect("append");
    let mode = |path: &Path| fs::metadata(path).expect("stat").mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(log.path()), 0o600);
    assert_eq!(mode(&state.join(LOCK_FILE)), 0o600);
}

#[test]
fn reading_a_missing_directory_is_empty_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    assert!(read_events(&state, &EventFilter::default()).expect("read").is_empty());
    assert!(!state.exists());
}

#[test]
fn filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    log.append(vec![
        NewEvent::new("health.changed", "reconciler", "routine", "daily", "stale", "").at(at(7, 0, 0)),
        NewEvent::new("heartbeat.received", "api", "routine", "daily", "success", "").at(at(7, 5, 0)),
        NewEvent::new("health.changed", "reconciler", "integration", "gmail", "failed", "").at(at(7, 10, 0)),
        NewEvent::new("task.assigned", "cli", "task", "t-1", "assigned", "").at(at(7, 15, 0)),
        NewEvent::new("health.changed", "reconciler", "routine", "daily", "healthy", "").at(at(7, 20, 0)),
    ])
    .expect("append");
    let entity = |kind: &str, id: &str| Some((kind.to_string(), id.to_string()));
    let cases: Vec<(&str, EventFilter, Vec<u64>)> = vec![
        ("everything", EventFilter::default(), vec![1, 2, 3, 4, 5]),
        ("since_seq is exclusive", EventFilter { since_seq: Some(2), ..Default::default() }, vec![3, 4, 5]),
        ("since_seq past the end", EventFilter { since_seq: Some(9), ..Default::default() }, vec![]),
        (
            "since is inclusive",
            EventFilter { since: Some(at(7, 10, 0)), ..Default::default() },
            vec![3, 4, 5],
        ),
        (
            "kinds",
            EventFilter {
                kinds: vec!["task.assigned".into(), "heartbeat.received".into()],
                ..Default::default()
            },
            vec![2, 4],
        ),
        ("kind matches exactly", EventFilter { kinds: vec!["health".into()], ..Default::default() }, vec![]),
        ("entity", EventFilter { entity: entity("routine", "daily"), ..Default::default() }, vec![1, 2, 5]),
        (
            "entity needs both parts",
            EventFilter { entity: entity("task", "daily"), ..Default::default() },
            vec![],
        ),
        ("limit takes the oldest", EventFilter { limit: Some(2), ..Default::default() }, vec![1, 2]),
        ("limit zero", EventFilter { limit: Some(0), ..Default::default() }, vec![]),
        (
            "all together",
            EventFilter {
                since_seq: Some(1),
                since: Some(at(7, 1, 0)),
                kinds: vec!["health.changed".into()],
                entity: entity("routine", "daily"),
                limit: Some(5),
            },
            vec![5],
        ),
    ];
    for (name, filter, expected) in cases {
        assert_eq!(seqs(&log.read(&filter).expect("read")), expected, "{name}");
    }
}

#[test]
fn peek_seq_reads_only_the_leading_seq() {
    let cases: [(&[u8], Option<u64>); 5] = [
        (br#"{"seq":17,"type":"x"}"#, Some(17)),
        (br#"{"seq":0}"#, Some(0)),
        (br#"{"type":"x","seq":17}"#, None),
        (br#"{"seq":"17"}"#, None),
        (b"", None),
    ];
    for (line, expected) in cases {
        assert_eq!(peek_seq(line), expected, "{}", String::from_utf8_lossy(line));
    }
}

#[test]
fn peek_timestamp_reads_only_the_writers_spelling() {
    let cases: [(&[u8], Option<&[u8]>); 6] = [
        (
            br#"{"seq":17,"timestamp":"2026-11-25T07:00:00.123Z","type":"x"}"#,
            Some(b"2026-11-25T07:00:00.123Z"),
        ),
        (br#"{"seq":17,"timestamp":"2026-11-25T07:00:00Z","type":"x"}"#, None),
        (br#"{"seq":17,"timestamp":"2026-11-25T07:00:00.123+01:00","type":"x"}"#, None),
        (br#"{"seq": 17, "timestamp": "2026-11-25T07:00:00.123Z"}"#, None),
        (br#"{"seq":17,"timestamp":"2026-11-25T07:00:00.123Z"#, None),
        (br#"{"seq":17,"type":"x","timestamp":"2026-11-25T07:00:00.123Z"}"#, None),
    ];
    for (line, expected) in cases {
        assert_eq!(peek_timestamp(line), expected, "{}", String::from_utf8_lossy(line));
    }
}

#[test]
fn since_skips_unparsed_lines_exactly_as_the_filter_would() {
    // Lines the writer spelled are compared as text, others parsed: both agree with
    // `EventFilter::matches`, to the millisecond and below it.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    let base = at(7, 0, 0);
    let times: Vec<DateTime<Utc>> = (0..40).map(|i| base + chrono::Duration::milliseconds(i * 250)).collect();
    log.append(times.iter().map(|t| ping("daily").at(*t)).collect()).expect("append");
    // A hand-written line with another spelling of a time inside the range.
    let mut file = OpenOptions::new().append(true).open(log.path()).expect("open");
    writeln!(
        file,
        r#"{{"seq": 41, "timestamp": "2026-11-25T07:00:05.100+00:00", "type": "heartbeat.received", "source": "api", "entity_type": "routine", "entity_id": "daily", "status": "success", "message": ""}}"#
    )
    .expect("write");
    drop(file);
    let every = all(&log);
    assert_eq!(every.len(), 41);
    for offset_us in [0i64, 1, 999, 1_000, 4_999_999, 5_000_000, 5_100_000, 5_100_001, 9_750_000, 20_000_000]
    {
        let since = base + chrono::Duration::microseconds(offset_us);
        let filter = EventFilter { since: Some(since), ..Default::default() };
        let expected: Vec<u64> = every.iter().filter(|e| filter.matches(e)).map(|e| e.seq).collect();
        assert_eq!(seqs(&log.read(&filter).expect("read")), expected, "since +{offset_us} us");
    }
}

#[test]
fn since_in_a_long_log_reads_from_the_bisected_place_and_misses_nothing() {
    // 6,000 events a minute apart (about 1.5 MB), every 7th stamped up to 50 minutes early,
    // and from the 3,000th on the clock set back 59 minutes (within the slack): reading from
    // where bisection lands finds what a full read finds.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    let base = at(0, 0, 0);
    let events: Vec<NewEvent> = (0..6_000i64)
        .map(|i| {
            let early = match i {
                3_000.. => chrono::Duration::minutes(59),
                _ if i % 7 == 0 => chrono::Duration::minutes(i % 50),
                _ => chrono::Duration::zero(),
            };
            let mut event = ping("daily").at(base + chrono::Duration::minutes(i) - early);
            event.message = "x".repeat(150);
            event
        })
        .collect();
    log.append(events).expect("append");
    assert!(fs::metadata(log.path()).expect("stat").len() > 1_000_000);
    let every = all(&log);
    for minutes in [0i64, 1, 59, 60, 61, 1_000, 2_940, 2_945, 2_950, 2_970, 2_999, 3_000, 5_990, 5_999, 6_000]
    {
        let since = base + chrono::Duration::minutes(minutes) + chrono::Duration::microseconds(500);
        let filter = EventFilter { since: Some(since), ..Default::default() };
        let expected: Vec<u64> = every.iter().filter(|e| filter.matches(e)).map(|e| e.seq).collect();
        assert_eq!(seqs(&log.read(&filter).expect("read")), expected, "since +{minutes} min");
    }
}

/// `cargo test --release -- --ignored --nocapture bench`: durable appends per second
/// through the group-committing writer.
#[test]
#[ignore]
fn bench_writer_throughput() {
    let dir = tempfile::tempdir_in(std::env::current_dir().expect("cwd")).expect("tempdir");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let writer = EventWriter::spawn(open(dir.path()));
        let total = 50_000;
        let started = Instant::now();
        let tasks: Vec<_> = (0..total)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    let event = ping(&format!("r{}", i % 100)).with_data(serde_json::json!({"body": "ok"}));
                    writer.append(event).await
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("append");
        }
        let elapsed = started.elapsed();
        println!(
            "{total} durable appends in {elapsed:?}: {:.0} events/s",
            total as f64 / elapsed.as_secs_f64()
        );

        // 256 clients each waiting for its previous append, as pings over HTTP would.
        let started = Instant::now();
        let clients: Vec<_> = (0..256)
            .map(|c| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    for i in 0..(total / 256) {
                        writer.append(ping(&format!("c{c}-{i}"))).await.expect("append");
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.expect("client");
        }
        let elapsed = started.elapsed();
        let n = (total / 256) * 256;
        println!(
            "{n} appends from 256 sequential clients in {elapsed:?}: {:.0} events/s",
            n as f64 / elapsed.as_secs_f64()
        );
    });
}
