//! The collector over the fixture homes of `tests/fixtures/openclaw/`, one per layout: each
//! known failure is caught, usage matches the transcripts to the token, and hostile files
//! (truncated, malformed, shrinking, rewritten, locked) neither crash a scan nor lose a run,
//! while the home's checksums stay what they were.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::fixtures::*;
use super::heartbeat::judge;
use super::ledger::{Ledger, Mark, ledger};
use super::{Home, Layout, Scan, Tokens, drift};
use crate::config::Level;

const LAYOUTS: [Layout; 3] = [Layout::JsonInline, Layout::JsonSplit, Layout::Sqlite];
const GRACE: Duration = Duration::from_secs(300);

fn ledger_of(scan: &Scan, home: &Home, job: &str, since: DateTime<Utc>, now: DateTime<Utc>) -> Ledger {
    let j = scan.jobs.iter().find(|j| j.id == job).unwrap_or_else(|| panic!("job {job}"));
    ledger(j, &home.recent_runs(job), since, now, GRACE, chrono_tz::UTC)
}

fn usage_by_agent(scan: &Scan) -> BTreeMap<String, Tokens> {
    let mut out: BTreeMap<String, Tokens> = BTreeMap::new();
    for u in &scan.new_usage {
        out.entry(u.agent_id.clone()).or_default().add(&u.tokens);
    }
    out
}

fn desired() -> crate::config::Config {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("desired")).expect("mkdir");
    std::fs::copy(fixtures_dir().join("desired.yaml"), dir.path().join("desired/openclaw.yaml"))
        .expect("copy");
    crate::config::load(dir.path(), Utc::now()).unwrap_or_else(|e| panic!("{:?}", e.0))
}

/// Scans and checks that the scan wrote nothing into the home.
fn scan_untouched(home: &mut Home, now: DateTime<Utc>) -> Scan {
    let before = checksums(home.root());
    let scan = home.scan(now);
    assert_eq!(checksums(home.root()), before, "a scan changed the home");
    scan
}

#[test]
fn every_layout_shows_every_failure() {
    let config = desired();
    for layout in LAYOUTS {
        let s = Scenario::new(layout);
        let tmp = materialise(layout);
        let mut home = Home::new(tmp.path().join("home"));
        let scan = scan_untouched(&mut home, s.now);
        let name = fixture_name(layout);
        assert_eq!(scan.layout, layout, "{name}");
        assert!(!scan.locked, "{name}");
        assert_eq!(scan.jobs.len(), 9, "{name}");

        // Every run, once.
        let runs: usize = s.jobs.iter().map(|j| j.runs.len()).sum();
        assert_eq!(scan.new_runs.len(), runs, "{name}: runs");
        for j in &s.jobs {
            assert_eq!(home.recent_runs(j.id).len(), j.runs.len(), "{name}: runs of {}", j.name);
        }

        // A run skipped across the restart.
        let daily = ledger_of(&scan, &home, DAILY, s.day0, s.now);
        assert_eq!((daily.missed_runs, daily.consecutive_missed), (1, 1), "{name}: {daily:?}");
        let missed = daily.slots.iter().find(|slot| slot.mark == Mark::Missed).expect("missed slot");
        assert_eq!(missed.expected_at, s.day0 + TimeDelta::hours(29), "{name}");
        let job = scan.jobs.iter().find(|j| j.id == DAILY).expect("daily");
        assert_eq!(
            job.state.next_run_at_ms,
            Some((s.day0 + TimeDelta::hours(53)).timestamp_millis()),
            "{name}"
        );

        // Caught up late and fired twice after the restart.
        let sweep = ledger_of(&scan, &home, SWEEP, s.day0, s.now);
        assert_eq!(
            (sweep.duplicate_runs, sweep.late_runs, sweep.missed_runs),
            (1, 1, 0),
            "{name}: {sweep:?}"
        );

        // Stuck since 06:15 on day 1, past its 30-minute timeout.
        let backup = ledger_of(&scan, &home, BACKUP, s.day0, s.now);
        assert_eq!(
            backup.stuck_for,
            Some(Duration::from_secs(5 * 3600 + 44 * 60 + 57)),
            "{name}: {backup:?}"
        );

        // The healthy ones are healthy.
        for id in [SWEEP_COPY, DIGEST, SCRATCH] {
            let l = ledger_of(&scan, &home, id, s.day0, s.now);
            assert_eq!((l.missed_runs, l.duplicate_runs, l.early_runs), (0, 0, 0), "{name} {id}: {l:?}");
        }
        let hourly = ledger_of(&scan, &home, HOURLY, s.day0, s.now);
        assert!(
            hourly.slots.iter().all(|slot| matches!(slot.mark, Mark::Ran | Mark::Missed | Mark::Pending))
        );
        assert!(hourly.missed_runs <= 1 && hourly.duplicate_runs == 0, "{name}: {hourly:?}");
        for id in [CLEANUP, REMINDER] {
            assert!(ledger_of(&scan, &home, id, s.day0, s.now).slots.is_empty(), "{name}: disabled {id}");
        }

        // Heartbeats: main loops, ops fires while disabled, research stopped.
        let verdict = |agent: &str| {
            let config = scan.heartbeats.iter().find(|h| h.agent_id == agent).expect("config");
            let activity = scan.agents.iter().find(|a| a.agent_id == agent).expect("activity");
            assert_eq!(activity.heartbeats.len(), s.heartbeats[agent], "{name}: beats of {agent}");
            let j = judge(config, &activity.heartbeats, s.day0, s.now, GRACE);
            (j.level, j.reason)
        };
        assert_eq!(verdict("main"), (Some(Level::Failed), Some("HeartbeatRunaway")), "{name}");
        assert_eq!(verdict("ops"), (Some(Level::Failed), Some("HeartbeatRunaway")), "{name}");
        assert_eq!(verdict("research"), (Some(Level::Stale), Some("HeartbeatStopped")), "{name}");

        // Drift of every kind.
        let found: Vec<(String, String)> =
            drift::drift(config.entities.iter().map(|e| e.as_ref()), &scan.jobs, chrono_tz::UTC)
                .into_iter()
                .map(|m| (m.entity, m.field))
                .collect();
        let expected: Vec<(String, String)> = [
            ("routine/calendar-sync", "openclaw.job"), // desired: MISSING
            ("routine/hourly-report", "enabled"),
            ("routine/inbox-sweep", "openclaw.copies"),
            ("routine/nightly-backup", "timezone"),
            ("routine/old-cleanup", "enabled"),
            ("routine/weekly-digest", "schedule"),
            (&format!("openclaw_job/{SCRATCH}"), "declared"),
            (&format!("openclaw_job/{REMINDER}"), "declared"),
        ]
        .iter()
        .map(|(e, f)| (e.to_string(), f.to_string()))
        .collect();
        assert_eq!(found, expected, "{name}");
        let missing = drift::drift(config.entities.iter().map(|e| e.as_ref()), &scan.jobs, chrono_tz::UTC);
        assert_eq!(missing[0].desired, serde_json::json!(MISSING));

        // Usage, to the token.
        assert_eq!(scan.new_usage.len(), s.assistant_messages, "{name}");
        let by_agent: BTreeMap<String, Tokens> = usage_by_agent(&scan);
        assert_eq!(by_agent, s.usage_by_agent, "{name}");
        let mut by_model: BTreeMap<String, Tokens> = BTreeMap::new();
        for u in &scan.new_usage {
            by_model.entry(u.model.clone().unwrap_or_default()).or_default().add(&u.tokens);
        }
        assert_eq!(by_model, s.usage_by_model, "{name}");
        let given: f64 = scan.new_usage.iter().filter_map(|u| u.cost).sum();
        assert!((given - s.given_cost).abs() < 1e-6, "{name}: {given} vs {}", s.given_cost);
        let main_session = &s.agents["main"][0].id;
        assert!(scan.new_usage.iter().any(|u| &u.session_id == main_session && u.session_key.as_deref() == Some("agent:main:main")));
        let cron_usage = scan.new_usage.iter().filter(|u| u.job_id.as_deref() == Some(DAILY)).count();
        assert_eq!(cron_usage, 1, "{name}: usage of the daily run's session");
        let main = scan.agents.iter().find(|a| a.agent_id == "main").expect("main");
        assert_eq!(main.model.as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(
            main.last_assistant_at,
            Some(s.day0 + TimeDelta::hours(35) + TimeDelta::minutes(59) + TimeDelta::seconds(4))
        );

        // Malformed and partial lines are reported, not fatal (the oldest layout has them).
        let torn = scan.problems.iter().any(|p| p.message.contains("not JSON"));
        assert_eq!(torn, layout == Layout::JsonInline, "{name}: {:?}", scan.problems);

        // Nothing new on the next tick.
        let again = scan_untouched(&mut home, s.now + TimeDelta::minutes(1));
        assert!(again.new_runs.is_empty() && again.new_usage.is_empty(), "{name}");
        assert_eq!(again.jobs.len(), 9);
    }
}

#[test]
fn a_skipped_run_is_caught_one_tick_after_its_deadline() {
    for layout in LAYOUTS {
        let s = Scenario::new(layout);
        let tmp = materialise(layout);
        let mut home = Home::new(tmp.path().join("home"));
        let scan = home.scan(s.now);
        let deadline = s.day0 + TimeDelta::hours(29) + TimeDelta::minutes(5);
        let at_deadline = ledger_of(&scan, &home, DAILY, s.day0, deadline);
        assert_eq!(at_deadline.missed_runs, 0, "{}", fixture_name(layout));
        assert_eq!(at_deadline.next_deadline, Some(deadline));
        let one_tick_later = ledger_of(&scan, &home, DAILY, s.day0, deadline + TimeDelta::seconds(1));
        assert_eq!(one_tick_later.missed_runs, 1, "{}", fixture_name(layout));
        assert_eq!(one_tick_later.field("missed_runs"), crate::condition::Value::Number(1.0));
    }
}

#[test]
fn transcripts_in_agent_databases_count_the_same() {
    let s = Scenario::new(Layout::Sqlite);
    let tmp = materialise(Layout::Sqlite);
    let root = tmp.path().join("home");
    move_transcripts_to_agent_dbs(&root);
    assert!(!root.join("agents/main/sessions/sessions.json").exists());
    let mut home = Home::new(&root);
    let scan = scan_untouched(&mut home, s.now);
    assert!(scan.problems.iter().all(|p| !p.path.contains("openclaw-agent")), "{:?}", scan.problems);
    assert_eq!(scan.new_usage.len(), s.assistant_messages);
    assert_eq!(usage_by_agent(&scan), s.usage_by_agent);
    for (agent, beats) in &s.heartbeats {
        let a = scan.agents.iter().find(|a| a.agent_id == *agent).expect("agent");
        assert_eq!(a.heartbeats.len(), *beats, "{agent}");
    }
    assert_eq!(scan.new_usage.iter().filter(|u| u.job_id.as_deref() == Some(DAILY)).count(), 1);

    // Appended events are read incrementally; rows rewritten below the cursor are not
    // counted twice.
    let db = root.join("agents/ops/agent/openclaw-agent.sqlite");
    let conn = rusqlite::Connection::open(&db).expect("db");
    let session: String =
        conn.query_row("SELECT session_id FROM session_windows LIMIT 1", [], |r| r.get(0)).expect("session");
    let max: i64 = conn
        .query_row("SELECT MAX(seq) FROM transcript_events WHERE session_id = ?1", [&session], |r| r.get(0))
        .expect("max");
    let event = r#"{"type":"message","id":"zz000001","timestamp":"2030-01-01T00:00:00.000Z","message":{"role":"assistant","model":"m","usage":{"input":1,"output":2,"totalTokens":3}}}"#;
    conn.execute(
        "INSERT INTO transcript_events VALUES (?1, ?2, ?3, 0)",
        rusqlite::params![session, max + 1, event],
    )
    .expect("insert");
    let scan = home.scan(s.now);
    assert_eq!(scan.new_usage.len(), 1);
    assert_eq!(scan.new_usage[0].tokens.total, 3);
    // Pruned: every other row gone, renumbered from 1.
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE keep AS SELECT event_json FROM transcript_events WHERE session_id = '{session}' AND seq % 2 = 1 ORDER BY seq;
         DELETE FROM transcript_events WHERE session_id = '{session}';
         INSERT INTO transcript_events SELECT '{session}', rowid, event_json, 0 FROM keep;"
    ))
    .expect("prune");
    let scan = scan_untouched(&mut home, s.now);
    assert!(scan.new_usage.is_empty(), "{:?}", scan.new_usage);
}

#[test]
fn state_database_of_2026_8_reads_runs_from_task_runs() {
    let s = Scenario::new(Layout::Sqlite);
    let tmp = materialise(Layout::Sqlite);
    let root = tmp.path().join("home");
    migrate_state_db_to_2026_8(&root.join("state/openclaw.sqlite"));
    let mut home = Home::new(&root);
    let scan = scan_untouched(&mut home, s.now);
    assert_eq!(scan.schema_version, Some(15));
    assert_eq!(scan.jobs.len(), 9);
    let runs: usize = s.jobs.iter().map(|j| j.runs.len()).sum();
    assert_eq!(scan.new_runs.len(), runs);
    let daily = ledger_of(&scan, &home, DAILY, s.day0, s.now);
    assert_eq!(daily.missed_runs, 1);
    let sweep = ledger_of(&scan, &home, SWEEP, s.day0, s.now);
    assert_eq!((sweep.duplicate_runs, sweep.late_runs), (1, 1));
    assert!(ledger_of(&scan, &home, BACKUP, s.day0, s.now).stuck_for.is_some());
    assert!(home.scan(s.now).new_runs.is_empty());
}

#[test]
fn a_locked_database_is_read_again_next_tick() {
    let s = Scenario::new(Layout::Sqlite);
    let tmp = materialise(Layout::Sqlite);
    let root = tmp.path().join("home");
    let db = root.join("state/openclaw.sqlite");
    let writer = rusqlite::Connection::open(&db).expect("writer");

    // Locked before the first read: no jobs yet, nothing lost.
    writer.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let mut home = Home::new(&root);
    let scan = scan_untouched(&mut home, s.now);
    assert!(scan.locked);
    assert!(scan.new_runs.is_empty());
    writer.execute_batch("COMMIT").expect("unlock");
    let scan = home.scan(s.now);
    assert!(!scan.locked);
    let runs: usize = s.jobs.iter().map(|j| j.runs.len()).sum();
    assert_eq!(scan.new_runs.len(), runs);

    // Locked by a writer in the middle of adding a run: the last jobs stand, and the run
    // comes with the next tick.
    writer.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let ts = (s.now + TimeDelta::minutes(2)).timestamp_millis();
    writer
        .execute(
            "INSERT INTO cron_run_logs (store_key, job_id, seq, ts, status, entry_json, created_at)
             SELECT store_key, job_id, MAX(seq) + 1, ?1, 'ok', ?2, ?1 FROM cron_run_logs WHERE job_id = ?3",
            rusqlite::params![
                ts,
                format!(r#"{{"ts":{ts},"jobId":"{SWEEP}","action":"finished","status":"ok"}}"#),
                SWEEP
            ],
        )
        .expect("insert");
    let scan = scan_untouched(&mut home, s.now + TimeDelta::minutes(3));
    assert!(scan.locked);
    assert_eq!(scan.jobs.len(), 9);
    assert!(scan.new_runs.is_empty());
    writer.execute_batch("COMMIT").expect("commit");
    let scan = scan_untouched(&mut home, s.now + TimeDelta::minutes(4));
    assert!(!scan.locked);
    assert_eq!(scan.new_runs.len(), 1);
    assert_eq!(scan.new_runs[0].finished_at_ms, ts);
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

/// Replaces a file through a temporary file and a rename, as OpenClaw does.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

#[test]
fn hostile_files_neither_crash_nor_lose_runs() {
    for layout in [Layout::JsonInline, Layout::JsonSplit] {
        let name = fixture_name(layout);
        let s = Scenario::new(layout);
        let tmp = materialise(layout);
        let root = tmp.path().join("home");
        let mut home = Home::new(&root);
        let first = scan_untouched(&mut home, s.now);
        assert_eq!(first.jobs.len(), 9);
        let run_line = |job: &str, minutes: i64| {
            let t = (s.now + TimeDelta::minutes(minutes)).timestamp_millis();
            format!(
                r#"{{"ts":{},"jobId":"{job}","action":"finished","status":"ok","runAtMs":{},"newField":true}}"#,
                t,
                t - 1000
            )
        };

        // A half-written store keeps the last good jobs.
        let store = root.join("cron/jobs.json");
        let good = std::fs::read_to_string(&store).expect("store");
        std::fs::write(&store, &good[..good.len() / 2]).expect("truncate");
        let scan = scan_untouched(&mut home, s.now);
        assert_eq!(scan.jobs.len(), 9, "{name}");
        assert!(scan.problems.iter().any(|p| p.path == "cron/jobs.json"), "{name}");
        replace(&store, &good);
        if layout == Layout::JsonSplit {
            let states = root.join("cron/jobs-state.json");
            let good = std::fs::read_to_string(&states).expect("states");
            std::fs::write(&states, "{\"version\": 1, \"jobs\": {").expect("truncate");
            let scan = scan_untouched(&mut home, s.now);
            let backup = scan.jobs.iter().find(|j| j.id == BACKUP).expect("backup");
            assert!(backup.state.running_at_ms.is_some(), "{name}: the last good state stands");
            replace(&states, &good);
        }

        // A run log rewritten to its last lines (a new inode) with a run appended after.
        let log = root.join(format!("cron/runs/{SWEEP}.jsonl"));
        let text = std::fs::read_to_string(&log).expect("log");
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        let mut kept: String = tail.into_iter().rev().map(|l| format!("{l}\n")).collect();
        kept.push_str(&run_line(SWEEP, 1));
        kept.push('\n');
        replace(&log, &kept);
        let scan = scan_untouched(&mut home, s.now + TimeDelta::minutes(2));
        assert_eq!(scan.new_runs.len(), 1, "{name}: {:?}", scan.new_runs);

        // A partial last line is left for the next tick; a malformed one is skipped.
        let daily = root.join(format!("cron/runs/{DAILY}.jsonl"));
        let line = run_line(DAILY, 3);
        let (head, rest) = line.split_at(20);
        append(&daily, head);
        assert!(scan_untouched(&mut home, s.now + TimeDelta::minutes(3)).new_runs.is_empty(), "{name}");
        append(&daily, &format!("{rest}\nnot json at all\n"));
        let scan = scan_untouched(&mut home, s.now + TimeDelta::minutes(4));
        assert_eq!(scan.new_runs.len(), 1, "{name}");
        assert!(scan.problems.iter().any(|p| p.path.ends_with(&format!("{DAILY}.jsonl"))), "{name}");

        // A run log truncated in place and written again.
        std::fs::write(&daily, format!("{}\n", run_line(DAILY, 5))).expect("truncate");
        assert_eq!(scan_untouched(&mut home, s.now + TimeDelta::minutes(6)).new_runs.len(), 1, "{name}");

        // A transcript pruned of its heartbeat turns (shrinks, new inode) with a message after.
        let main_dir = root.join("agents/main/sessions");
        let session = &s.agents["main"][0];
        let path = main_dir.join(&session.file);
        let text = std::fs::read_to_string(&path).expect("transcript");
        let pruned: String =
            text.lines().filter(|l| !l.contains("HEARTBEAT")).map(|l| format!("{l}\n")).collect();
        replace(&path, &pruned);
        let scan = scan_untouched(&mut home, s.now + TimeDelta::minutes(7));
        assert!(scan.new_usage.is_empty(), "{name}: {:?}", scan.new_usage);
        append(
            &path,
            r#"{"type":"message","id":"ffff0001","parentId":null,"timestamp":"2030-01-01T00:00:00.000Z","message":{"role":"assistant","provider":"anthropic","model":"claude-sonnet-4-5","usage":{"input":10,"output":20,"cacheRead":0,"cacheWrite":0,"totalTokens":30}}}
"#,
        );
        let scan = scan_untouched(&mut home, s.now + TimeDelta::minutes(8));
        assert_eq!(scan.new_usage.len(), 1, "{name}");
        assert_eq!(scan.new_usage[0].tokens.total, 30);

        // A reset renames the transcript: nothing is counted twice.
        let ops = &s.agents["ops"][0];
        let ops_path = root.join("agents/ops/sessions").join(&ops.file);
        std::fs::rename(
            &ops_path,
            ops_path.with_file_name(format!("{}.reset.2030-01-01T00-00-00.000Z", ops.file)),
        )
        .expect("reset");
        assert!(scan_untouched(&mut home, s.now + TimeDelta::minutes(9)).new_usage.is_empty(), "{name}");

        // Files that vanish, and garbage where the configuration was.
        std::fs::write(root.join("openclaw.json"), "{agents: [").expect("garbage");
        std::fs::remove_file(&log).expect("rm");
        let scan = scan_untouched(&mut home, s.now + TimeDelta::minutes(10));
        assert!(scan.problems.iter().any(|p| p.path == "openclaw.json"), "{name}");
        assert_eq!(
            scan.heartbeats.iter().find(|h| h.agent_id == "research").and_then(|h| h.every),
            Some(Duration::from_secs(3600))
        );
    }
}

#[test]
fn a_large_home_is_read_incrementally() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (runs, messages) = write_large_home(tmp.path(), 20, 15, 7, 20_000);
    let mut home = Home::new(tmp.path());
    let now = day0(Layout::JsonInline) + TimeDelta::days(8);
    let first = home.scan(now);
    assert_eq!(first.new_runs.len(), runs);
    assert_eq!(first.new_usage.len(), messages);
    // What it costs is measured by benches/openclaw.rs, not here: a timed test fails on a busy
    // machine, not on a slow collector.
    let second = home.scan(now);
    assert!(second.new_runs.is_empty() && second.new_usage.is_empty());
    append(
        &tmp.path().join("agents/main/sessions/large.jsonl"),
        r#"{"type":"message","id":"x1","timestamp":"2030-01-01T00:00:00.000Z","message":{"role":"assistant","model":"m","usage":{"input":1,"output":1}}}
"#,
    );
    let third = home.scan(now);
    assert_eq!(third.new_usage.len(), 1);
}

#[test]
fn import_writes_routines_for_every_recurring_job() {
    for layout in LAYOUTS {
        let tmp = materialise(layout);
        let mut home = Home::new(tmp.path().join("home"));
        let scan = home.scan(Scenario::new(layout).now);
        let yaml = drift::import_yaml(&scan.jobs, chrono_tz::UTC);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("desired")).expect("mkdir");
        std::fs::write(dir.path().join("desired/openclaw.yaml"), &yaml).expect("write");
        let config =
            crate::config::load(dir.path(), Utc::now()).unwrap_or_else(|e| panic!("{yaml}\n{:?}", e.0));
        let left = drift::drift(config.entities.iter().map(|e| e.as_ref()), &scan.jobs, chrono_tz::UTC);
        // Only the one-shot reminder cannot be a routine; the duplicated sweep is reported.
        let fields: Vec<&str> = left.iter().map(|m| m.field.as_str()).collect();
        assert_eq!(fields, vec!["openclaw.copies", "openclaw.copies", "declared"], "{yaml}\n{left:?}");
    }
}

#[test]
fn a_database_in_wal_mode_is_read_without_writing_it() {
    let s = Scenario::new(Layout::Sqlite);
    let tmp = materialise(Layout::Sqlite);
    let root = tmp.path().join("home");
    let db = root.join("state/openclaw.sqlite");
    // The gateway keeps the database open in WAL mode; a run sits in the WAL, not yet
    // checkpointed.
    let writer = rusqlite::Connection::open(&db).expect("writer");
    writer.pragma_update(None, "journal_mode", "WAL").expect("wal");
    writer.pragma_update(None, "wal_autocheckpoint", 0).expect("no checkpoint");
    let ts = (s.now + TimeDelta::minutes(1)).timestamp_millis();
    writer
        .execute(
            "INSERT INTO cron_run_logs (store_key, job_id, seq, ts, status, entry_json, created_at)
             SELECT store_key, job_id, MAX(seq) + 1, ?1, 'ok', '{}', ?1 FROM cron_run_logs WHERE job_id = ?2",
            rusqlite::params![ts, DAILY],
        )
        .expect("insert");
    let data = |sums: &BTreeMap<String, String>| -> Vec<(String, String)> {
        // SQLite keeps its readers' locks in the `-shm` shared-memory file, which every
        // reader touches; the database and its WAL are what must not change.
        sums.iter().filter(|(p, _)| !p.ends_with("-shm")).map(|(p, h)| (p.clone(), h.clone())).collect()
    };
    let before = checksums(&root);
    let mut home = Home::new(&root);
    let scan = home.scan(s.now + TimeDelta::minutes(2));
    assert!(!scan.locked, "{:?}", scan.problems);
    let runs: usize = s.jobs.iter().map(|j| j.runs.len()).sum();
    assert_eq!(scan.new_runs.len(), runs + 1);
    assert_eq!(data(&checksums(&root)), data(&before));
    drop(writer);
}
