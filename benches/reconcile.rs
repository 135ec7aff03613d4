//! The reconciler's speed benchmark (issue 13): one reconcile of 10,000 entities in under
//! 5 ms, and the work of one timer wakeup not growing with the number of entities.
//!
//! For each size it compiles a workspace of that many routines (the shape of `gen-scale.py
//! routines`: a heartbeat each, 360 distinct yearly cron expressions, nothing due) and times,
//! in process and one by one, the passes the daemon makes over it:
//!
//! - a full reconcile: every entity judged (`Engine::evaluate_all`) and every alert rule
//!   evaluated against every entity, as after a start or a reload;
//! - a publication: the live state built from the engine (`Engine::snapshot`);
//! - a timer wakeup: the due entities looked up, one entity judged, the next wakeup found.
//!
//! Figures are medians (and the 90th percentile) of many passes, printed, never asserted; what
//! is checked is that the passes are right: every routine is judged and none is due. `cargo
//! test --bench reconcile` runs it at small sizes, which is how CI keeps it working;
//! `scripts/bench.sh` runs it at 1,000 to 50,000 against the release build.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use clap::Parser;
use mission_control::alert::manager::{self, AlertBook};
use mission_control::config::{self, Kind, Sources};
use mission_control::engine::Engine;

#[derive(Debug, Parser)]
#[command(about = "Benchmark of one reconcile pass (see docs/PERFORMANCE.md)")]
struct Args {
    /// Numbers of routines to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [200, 1000])]
    sizes: Vec<usize>,
    /// Passes timed of each kind.
    #[arg(long, default_value_t = 30)]
    passes: usize,
    /// `cargo bench` passes this to every benchmark binary; it means nothing here.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The instant every pass is judged at: fixed, so two runs judge the same workspace alike.
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).single().expect("a valid instant");
    println!("{} CPUs, load average {}", cores(), load_average());
    for &n in &args.sizes {
        measure(n, args.passes.max(1), now)?;
    }
    Ok(())
}

fn measure(n: usize, passes: usize, now: DateTime<Utc>) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = Arc::new(
        config::load_sources(std::path::Path::new("/nonexistent"), routines(n, now), now)
            .map_err(|e| anyhow::anyhow!("the generated workspace does not load: {e}"))?,
    );
    let compiled = started.elapsed();
    let mut engine = Engine::new(config.clone(), None, now);
    let mut book = AlertBook::default();
    engine.evaluate_all(now);

    let full = time(passes, || {
        let events = engine.evaluate_all(now);
        let outcome = manager::evaluate(&mut book, &config, engine.entities(), now);
        black_box((events, outcome));
    });
    let judged = engine.entities().filter(|(e, _)| e.key.kind == Kind::Routine).count();
    anyhow::ensure!(judged == n, "{judged} routines judged, expected {n}");

    let publication = time(passes, || {
        black_box(engine.snapshot(now));
    });

    let key = config.entities.iter().find(|e| e.key.kind == Kind::Routine).map(|e| e.key.clone());
    let key = key.ok_or_else(|| anyhow::anyhow!("no routine in the workspace"))?;
    let mut due = 0;
    let wakeup = time(passes * 10, || {
        due += engine.due(now).len();
        black_box(engine.evaluate(&key, now));
        black_box(engine.next_wakeup());
    });
    anyhow::ensure!(due == 0, "{due} routines due; the workspace must have nothing due");

    println!(
        "{n} routines (compiled in {:.0} ms): full reconcile {}; publication {}; timer wakeup {}",
        compiled.as_secs_f64() * 1e3,
        figures(&full),
        figures(&publication),
        figures(&wakeup),
    );
    Ok(())
}

/// The workspace `gen-scale.py routines DIR n` writes, in memory: yearly schedules in a month
/// five months after `now`'s, so nothing is due.
fn routines(n: usize, now: DateTime<Utc>) -> Sources {
    let month = (now.month() + 5) % 12 + 1;
    let documents: Vec<String> = (0..n)
        .map(|i| {
            let k = i % 360;
            format!(
                "kind: Routine\nid: r{i}\nowner: Automation:bench\nschedule: \"{} {} {} {month} *\"\ngrace: 1h\nobserve:\n  heartbeat: {{}}\n",
                k % 60,
                3 + k / 60,
                1 + k % 28
            )
        })
        .collect();
    Sources {
        settings: Some("openclaw: {enabled: false}\n".to_string()),
        files: vec![("desired/routines.yaml".to_string(), documents.join("---\n"))],
        has_rules: false,
    }
}

/// Times `pass` `n` times one by one; the durations sorted.
fn time(n: usize, mut pass: impl FnMut()) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let started = Instant::now();
            pass();
            started.elapsed()
        })
        .collect();
    times.sort();
    times
}

/// "median M ms (p90 P ms)" of sorted durations.
fn figures(sorted: &[Duration]) -> String {
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!("median {:.3} ms (p90 {:.3} ms)", at(0.5), at(0.9))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}
