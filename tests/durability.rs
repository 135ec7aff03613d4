//! The event log's promises under load (SPEC section 6): an acknowledged write is on disk
//! even when the daemon is killed with SIGKILL a moment later; a torn last line is skipped by
//! readers and repaired by the next writer; and the daemon and CLI processes writing at the
//! same time never interleave lines or repeat a `seq`.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// How many HTTP clients ping at once.
const CLIENTS: usize = 24;

/// What one ping client saw.
#[derive(Default)]
struct Pinged {
    /// The rids answered `200`: these must be in the log.
    acknowledged: Vec<String>,
    /// Pings answered with another status (e.g. 503 under load): promised nothing.
    refused: usize,
}

/// Sends `POST /ping/r?rid=PREFIX-i` in a loop until `stop` is set or the daemon stops
/// answering.
async fn ping_loop(client: reqwest::Client, base: String, prefix: String, stop: Arc<AtomicBool>) -> Pinged {
    let mut pinged = Pinged::default();
    let mut i = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let rid = format!("{prefix}-{i}");
        i += 1;
        match client.post(format!("{base}/ping/r?rid={rid}")).send().await {
            Ok(response) if response.status() == reqwest::StatusCode::OK => pinged.acknowledged.push(rid),
            Ok(_) => pinged.refused += 1,
            // The daemon was killed under us: what it acknowledged before is what counts.
            Err(_) => break,
        }
    }
    pinged
}

/// Joins the ping clients.
async fn join(clients: Vec<tokio::task::JoinHandle<Pinged>>) -> Pinged {
    let mut all = Pinged::default();
    for client in clients {
        let pinged = client.await.expect("a ping client panicked");
        all.acknowledged.extend(pinged.acknowledged);
        all.refused += pinged.refused;
    }
    all
}

/// How often each rid of a `heartbeat.received` event of routine/r occurs in the log.
fn rid_counts(events: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events.iter().filter(|e| is_event(e, "heartbeat.received", "routine", "r")) {
        if let Some(rid) = event["data"]["rid"].as_str() {
            *counts.entry(rid.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

fn assert_all_recorded_once(acknowledged: &[String], counts: &HashMap<String, usize>) {
    let missing: Vec<_> = acknowledged.iter().filter(|rid| !counts.contains_key(*rid)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged pings are not in the log, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(10)]
    );
    let repeated: Vec<_> = acknowledged.iter().filter(|rid| counts.get(*rid) > Some(&1)).collect();
    assert!(repeated.is_empty(), "pings recorded more than once: {:?}", &repeated[..repeated.len().min(10)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_a_ping_storm_loses_no_acknowledged_ping() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("r", "1s", "1h", ""));
    let mut daemon = Daemon::start(&workspace).await;

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(ping_loop(daemon.client.clone(), daemon.base.clone(), format!("c{n}"), stop.clone()))
        })
        .collect();
    // The load's length, not a condition being waited for.
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.kill9();
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let Pinged { acknowledged, refused } = join(clients).await;
    println!(
        "kill -9 under load: {} pings acknowledged ({refused} refused) by {CLIENTS} clients in {:.2}s ({:.0} pings/s)",
        acknowledged.len(),
        elapsed.as_secs_f64(),
        acknowledged.len() as f64 / elapsed.as_secs_f64()
    );
    assert!(
        acknowledged.len() >= 100,
        "too few pings acknowledged ({}) for the test to mean anything",
        acknowledged.len()
    );

    // Every acknowledged ping survived the kill; only a torn last line may be unreadable.
    let events = workspace.events(Tail::MayBeTorn);
    assert_seq_strictly_increasing(&events);
    assert_all_recorded_once(&acknowledged, &rid_counts(&events));

    // Make sure the repair path runs even if the kill tore nothing: leave half a line, as a
    // crash in the middle of a write would.
    let text = std::fs::read_to_string(workspace.events_path()).expect("read the log");
    if text.ends_with('\n') {
        use std::io::Write;
        let mut file =
            std::fs::OpenOptions::new().append(true).open(workspace.events_path()).expect("open the log");
        file.write_all(b"{\"seq\":999999999,\"timestamp\":\"2026-").expect("tear the log");
    }

    // The next writer (a CLI ping) repairs the tail: the whole file parses again.
    let output = tokio::task::block_in_place(|| workspace.cli_ping("r", &["--rid", "after-the-kill"]));
    assert!(
        output.status.success(),
        "ping after the kill: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let repaired = workspace.events(Tail::Strict);
    assert_seq_strictly_increasing(&repaired);
    assert!(
        repaired.len() > events.len() && repaired[..events.len()] == events[..],
        "the repair keeps every complete line and appends after them"
    );
    assert!(
        repaired[events.len()..].iter().any(|e| e["data"]["rid"] == "after-the-kill"),
        "the CLI ping is recorded after the repair"
    );
    assert_all_recorded_once(&acknowledged, &rid_counts(&repaired));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_and_cli_processes_writing_together_never_repeat_a_seq() {
    const CLI_PROCESSES: usize = 4;
    const PINGS_PER_PROCESS: usize = 100;
    const HTTP_CLIENTS: usize = 8;

    let workspace = Arc::new(Workspace::new());
    workspace.write("desired/routines.yaml", &routine("r", "1s", "1h", ""));
    let daemon = Daemon::start(&workspace).await;

    let stop = Arc::new(AtomicBool::new(false));
    let http: Vec<_> = (0..HTTP_CLIENTS)
        .map(|n| {
            tokio::spawn(ping_loop(
                daemon.client.clone(),
                daemon.base.clone(),
                format!("http-{n}"),
                stop.clone(),
            ))
        })
        .collect();
    let cli: Vec<_> = (0..CLI_PROCESSES)
        .map(|n| {
            let workspace = workspace.clone();
            tokio::task::spawn_blocking(move || {
                (0..PINGS_PER_PROCESS)
                    .map(|i| {
                        let rid = format!("cli-{n}-{i}");
                        let output = workspace.cli_ping("r", &["--rid", &rid]);
                        assert!(
                            output.status.success(),
                            "CLI ping {rid}: {}\n{}",
                            output.status,
                            String::from_utf8_lossy(&output.stderr)
                        );
                        rid
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();

    let mut acknowledged = Vec::new();
    for process in cli {
        acknowledged.extend(process.await.expect("a CLI loop panicked"));
    }
    stop.store(true, Ordering::SeqCst);
    let over_http = join(http).await;
    println!(
        "{} CLI pings from {CLI_PROCESSES} processes and {} HTTP pings ({} refused) written together",
        acknowledged.len(),
        over_http.acknowledged.len(),
        over_http.refused
    );
    let over_http = over_http.acknowledged;
    assert!(!over_http.is_empty(), "the daemon acknowledged no HTTP ping while the CLI wrote");
    acknowledged.extend(over_http);
    daemon.stop().await;

    let events = workspace.events(Tail::Strict);
    assert_seq_strictly_increasing(&events);
    assert_all_recorded_once(&acknowledged, &rid_counts(&events));
}
