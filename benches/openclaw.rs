//! The OpenClaw collector's speed benchmark (issue 11): a home with 200 jobs, 1,000,000 run
//! lines and 1 GB of session transcripts must be read the first time in under 10 s, and then
//! cost under 5 ms a tick while nothing changes.
//!
//! It writes such a home (`generate`), then reads it with the library's [`Home`] the way the
//! daemon does (`measure`): one first read, then unchanged ticks, timed one by one. Figures are
//! printed, never asserted (wall time on a shared machine is noise to a test); what *is*
//! checked is that the reads are right: the first read hands over every run and every usage
//! entry once, an unchanged tick hands over nothing and still knows every job, and a line
//! appended afterwards is found by the next tick. `ticks` runs the first read and then N
//! unchanged ticks inside one function, for `valgrind --tool=callgrind --toggle-collect`.
//!
//! `bash scripts/bench-openclaw.sh` runs it at full size against the release build;
//! docs/PERFORMANCE.md records a run. Without a command it generates a home of the chosen size
//! (`--size tiny` by default, a few megabytes) in a temporary folder, measures it and removes
//! it, which is how CI keeps the benchmark working: `cargo test --bench openclaw`.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use mission_control::collect::openclaw::{Home, Layout, ledger};

/// The instant the generated home was last written, and the `now` of every scan: fixed, so
/// that two runs read the same home the same way.
const NOW_MS: i64 = 1_788_220_800_000; // 2026-09-01T00:00:00Z
/// The agents of the generated home.
const AGENTS: [&str; 4] = ["main", "ops", "research", "lab"];

#[derive(Debug, Parser)]
#[command(about = "Benchmark of the OpenClaw collector (see docs/PERFORMANCE.md)")]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    shape: Shape,
    /// Unchanged ticks to time.
    #[arg(long, default_value_t = 200, global = true)]
    ticks: usize,
    /// `cargo bench` passes this to every benchmark binary; it means nothing here.
    #[arg(long, hide = true, global = true)]
    bench: bool,
}

#[derive(Debug, Clone, clap::Args)]
struct Shape {
    /// How large a home to write.
    #[arg(long, value_enum, default_value_t = Size::Tiny, global = true)]
    size: Size,
    /// Where the jobs are stored.
    #[arg(long, value_enum, default_value_t = Store::Json, global = true)]
    layout: Store,
    /// Instead of the size's: this many jobs,
    #[arg(long, global = true)]
    jobs: Option<usize>,
    /// run lines,
    #[arg(long, global = true)]
    runs: Option<usize>,
    /// transcript files,
    #[arg(long, global = true)]
    transcripts: Option<usize>,
    /// and megabytes of transcripts.
    #[arg(long, global = true)]
    transcript_mb: Option<u64>,
}

impl Shape {
    fn dimensions(&self) -> Dimensions {
        let d = self.size.dimensions();
        Dimensions {
            jobs: self.jobs.unwrap_or(d.jobs),
            runs: self.runs.unwrap_or(d.runs),
            transcripts: self.transcripts.unwrap_or(d.transcripts),
            transcript_bytes: self.transcript_mb.map_or(d.transcript_bytes, |mb| mb << 20),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a home into DIR/home and what a read of it must find into DIR/expected.json.
    Generate {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Read the home of DIR (written by `generate`) and print the figures.
    Measure {
        #[arg(long)]
        dir: PathBuf,
    },
    /// The first read and then `--ticks` unchanged ticks, nothing else (for callgrind).
    Ticks {
        #[arg(long)]
        dir: PathBuf,
        /// After the first read, print `ready` and wait for a line on stdin before the ticks
        /// (so that callgrind can be told to start counting then).
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Size {
    /// 20 jobs, 2,000 run lines, 2 MB of transcripts: seconds, for CI.
    Tiny,
    /// 200 jobs, 100,000 run lines, 100 MB of transcripts.
    Small,
    /// 200 jobs, 1,000,000 run lines, 1 GiB of transcripts: the requirement.
    Full,
}

/// Where the generated home keeps its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Store {
    /// `cron/jobs.json` and `cron/jobs-state.json` (2026.4.20 to 5.28).
    Json,
    /// `state/openclaw.sqlite` `cron_jobs` (2026.6 on), run history still in `cron/runs/`.
    Sqlite,
}

/// The dimensions of a generated home.
#[derive(Debug, Clone, Copy)]
struct Dimensions {
    jobs: usize,
    runs: usize,
    transcript_bytes: u64,
    transcripts: usize,
}

impl Size {
    fn dimensions(self) -> Dimensions {
        match self {
            Size::Tiny => Dimensions { jobs: 20, runs: 2_000, transcript_bytes: 2 << 20, transcripts: 20 },
            Size::Small => {
                Dimensions { jobs: 200, runs: 100_000, transcript_bytes: 100 << 20, transcripts: 400 }
            }
            Size::Full => {
                Dimensions { jobs: 200, runs: 1_000_000, transcript_bytes: 1 << 30, transcripts: 2_000 }
            }
        }
    }
}

/// What a first read of a generated home must find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Expected {
    jobs: usize,
    runs: usize,
    usage: usize,
    run_log_bytes: u64,
    transcripts: usize,
    transcript_bytes: u64,
    sqlite: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.command {
        Some(Command::Generate { dir }) => {
            let started = Instant::now();
            let expected = generate(dir, args.shape.dimensions(), args.shape.layout)?;
            println!("generated {} in {:.1} s", describe(&expected), started.elapsed().as_secs_f64());
        }
        Some(Command::Measure { dir }) => measure(dir, args.ticks)?,
        Some(Command::Ticks { dir, wait }) => {
            let expected = read_expected(dir)?;
            let mut home = Home::new(dir.join("home"));
            let found = unchanged_ticks(&mut home, args.ticks, *wait)?;
            anyhow::ensure!(
                found == (expected.runs, expected.usage),
                "read {found:?}, expected {expected:?}"
            );
        }
        None => {
            let dir = tempfile::tempdir()?;
            let expected = generate(dir.path(), args.shape.dimensions(), args.shape.layout)?;
            println!("generated {}", describe(&expected));
            measure(dir.path(), args.ticks)?;
        }
    }
    Ok(())
}

fn describe(e: &Expected) -> String {
    format!(
        "a home with {} jobs ({}), {} run lines ({} MB), {} transcripts ({} MB, {} usage entries)",
        e.jobs,
        if e.sqlite { "state/openclaw.sqlite" } else { "cron/jobs.json" },
        e.runs,
        e.run_log_bytes / 1_000_000,
        e.transcripts,
        e.transcript_bytes / 1_000_000,
        e.usage
    )
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(NOW_MS).expect("in range")
}

fn read_expected(dir: &Path) -> anyhow::Result<Expected> {
    let text = std::fs::read_to_string(dir.join("expected.json"))?;
    Ok(serde_json::from_str(&text)?)
}

/// The first read, then `ticks` unchanged ticks; what the first read found (runs, usage).
/// Not inlined, so that callgrind can count it by name.
#[inline(never)]
fn unchanged_ticks(home: &mut Home, ticks: usize, wait: bool) -> std::io::Result<(usize, usize)> {
    let first = home.scan(now());
    let found = (first.new_runs.len(), first.new_usage.len());
    drop(first);
    if wait {
        println!("ready");
        std::io::stdout().flush()?;
        std::io::stdin().read_line(&mut String::new())?;
    }
    for _ in 0..ticks {
        black_box(one_tick(home));
    }
    Ok(found)
}

/// One unchanged tick (kept out of line for callgrind, which counts it by name).
#[inline(never)]
fn one_tick(home: &mut Home) -> usize {
    let scan = home.scan(now());
    scan.new_runs.len() + scan.new_usage.len()
}

fn measure(dir: &Path, ticks: usize) -> anyhow::Result<()> {
    let expected = read_expected(dir)?;
    let root = dir.join("home");
    println!("home: {}", describe(&expected));
    let mut home = Home::new(&root);

    let (started, cpu) = (Instant::now(), cpu_time());
    let first = home.scan(now());
    let (first_read, first_cpu) = (started.elapsed(), cpu_time() - cpu);
    for problem in &first.problems {
        println!("problem: {}: {}", problem.path, problem.message);
    }
    let layout = if expected.sqlite { Layout::Sqlite } else { Layout::JsonSplit };
    anyhow::ensure!(first.layout == layout, "read the {:?} layout, expected {layout:?}", first.layout);
    anyhow::ensure!(
        first.jobs.len() == expected.jobs,
        "{} jobs, expected {}",
        first.jobs.len(),
        expected.jobs
    );
    anyhow::ensure!(
        first.new_runs.len() == expected.runs,
        "{} runs, expected {}",
        first.new_runs.len(),
        expected.runs
    );
    anyhow::ensure!(
        first.new_usage.len() == expected.usage,
        "{} usage entries, expected {}",
        first.new_usage.len(),
        expected.usage
    );
    anyhow::ensure!(first.problems.is_empty(), "the first read met problems");
    drop(first);
    let mb = (expected.run_log_bytes + expected.transcript_bytes) as f64 / 1e6;
    println!(
        "first read: {:.2} s wall, {:.2} s CPU ({:.0} MB/s; peak resident memory {} MB)",
        first_read.as_secs_f64(),
        first_cpu.as_secs_f64(),
        mb / first_read.as_secs_f64(),
        peak_rss_mb().map_or("unknown".into(), |m| m.to_string())
    );

    let mut times = Vec::with_capacity(ticks);
    let mut cpu_times = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        let (started, cpu) = (Instant::now(), cpu_time());
        let scan = home.scan(now());
        let new = scan.new_runs.len() + scan.new_usage.len();
        let jobs = scan.jobs.len();
        drop(scan);
        times.push(started.elapsed());
        cpu_times.push(cpu_time() - cpu);
        anyhow::ensure!(new == 0, "an unchanged tick handed over {new} runs or usage entries");
        anyhow::ensure!(jobs == expected.jobs, "an unchanged tick knew {jobs} jobs, not {}", expected.jobs);
    }
    if !times.is_empty() {
        times.sort();
        cpu_times.sort();
        let at = |t: &[Duration], q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
        println!(
            "unchanged tick: median {:.3} ms wall, {:.3} ms CPU (wall p10 {:.3}, p90 {:.3}, max {:.3}; {} ticks)",
            ms(at(&times, 0.5)),
            ms(at(&cpu_times, 0.5)),
            ms(at(&times, 0.1)),
            ms(at(&times, 0.9)),
            ms(at(&times, 1.0)),
            times.len()
        );
    }

    // What the daemon does next with a scan when the jobs are declared as routines: one
    // schedule ledger per job over the last day (collect::watch), here for every job.
    let scan = home.scan(now());
    let mut ledger_times = Vec::new();
    for _ in 0..ticks.clamp(1, 20) {
        let started = Instant::now();
        for job in &scan.jobs {
            let runs = home.recent_runs(&job.id);
            let l = ledger::ledger(
                job,
                &runs,
                now() - TimeDelta::hours(24),
                now(),
                Duration::from_secs(300),
                chrono_tz::UTC,
            );
            black_box(l);
        }
        ledger_times.push(started.elapsed());
    }
    ledger_times.sort();
    println!(
        "ledgers of every job over the last day (the daemon's next step): median {:.3} ms",
        ms(ledger_times[ledger_times.len() / 2])
    );
    drop(scan);

    appended_lines_are_read(&mut home, &root)?;
    Ok(())
}

/// Appends a run line and an assistant message, checks the next tick hands over exactly those,
/// and puts both files back as they were.
fn appended_lines_are_read(home: &mut Home, root: &Path) -> anyhow::Result<()> {
    let run_log = first_file(&root.join("cron/runs"))?;
    let transcript = first_file(&root.join("agents/main/sessions"))?;
    let job = run_log.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let sizes = (std::fs::metadata(&run_log)?.len(), std::fs::metadata(&transcript)?.len());
    let at = NOW_MS + 60_000;
    append(
        &run_log,
        &format!(
            r#"{{"ts":{at},"jobId":"{job}","action":"finished","status":"ok","runAtMs":{},"durationMs":1000}}"#,
            at - 1000
        ),
    )?;
    append(
        &transcript,
        &format!(
            r#"{{"type":"message","id":"appended","timestamp":"{}","message":{{"role":"assistant","model":"m","usage":{{"input":1,"output":1}}}}}}"#,
            iso(at)
        ),
    )?;
    let scan = home.scan(now());
    let found = (scan.new_runs.len(), scan.new_usage.len());
    std::fs::OpenOptions::new().write(true).open(&run_log)?.set_len(sizes.0)?;
    std::fs::OpenOptions::new().write(true).open(&transcript)?.set_len(sizes.1)?;
    anyhow::ensure!(found == (1, 1), "after appending a run and a message the tick found {found:?}");
    println!("appended lines: found by the next tick");
    Ok(())
}

fn first_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files.into_iter().next().ok_or_else(|| anyhow::anyhow!("no .jsonl in {}", dir.display()))
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    writeln!(f, "{line}")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The CPU time this process has used (all its threads): unlike wall time, it does not count
/// the time other processes on a shared machine hold the CPUs.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } == 0;
    if ok { Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32) } else { Duration::ZERO }
}

/// The process's peak resident memory (`VmHWM`), in megabytes.
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

// ---------------------------------------------------------------------------------------------
// The generated home.

/// A small deterministic generator (xorshift64*), so every run writes the same home.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// Prose of `least` bytes and up to `spread` more.
    fn prose_between(&mut self, least: usize, spread: u64) -> String {
        let len = least + self.below(spread) as usize;
        self.prose(len)
    }

    /// Prose of about `len` bytes, JSON-escaped (with the odd quote and line break).
    fn prose(&mut self, len: usize) -> String {
        const WORDS: [&str; 16] = [
            "the",
            "backup",
            "finished",
            "inbox",
            "with",
            "three",
            "new",
            "items",
            "and",
            "a",
            "report",
            "\\\"draft\\\"",
            "for",
            "review.\\n",
            "checked",
            "nothing",
        ];
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            out.push_str(WORDS[self.below(WORDS.len() as u64) as usize]);
            out.push(' ');
        }
        out
    }
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).expect("in range").to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One generated job.
struct GenJob {
    id: String,
    agent: &'static str,
    every_ms: i64,
    runs: usize,
    first_run_ms: i64,
}

/// Writes the home into `dir/home` and what reading it must find into `dir/expected.json`.
fn generate(dir: &Path, d: Dimensions, store: Store) -> anyhow::Result<Expected> {
    let root = dir.join("home");
    anyhow::ensure!(!root.exists(), "{} exists; generate into a new folder", root.display());
    std::fs::create_dir_all(root.join("cron/runs"))?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    std::fs::write(
        root.join("openclaw.json"),
        "// OpenClaw gateway configuration (JSON5), written by the benchmark.\n{\n  gateway: {port: 18789},\n  \
         agents: {\n    defaults: {\n      model: {primary: 'anthropic/claude-sonnet-4-5'},\n      \
         heartbeat: {every: '30m', target: 'last'},\n    },\n    list: [\n      \
         {id: 'main', default: true, heartbeat: {every: '30m'}},\n      \
         {id: 'ops', heartbeat: {every: '1h'}},\n      {id: 'research'},\n      {id: 'lab'},\n    ],\n  },\n  \
         cron: {enabled: true},\n}\n",
    )?;

    // Jobs: periods of 15, 30 and 60 minutes, their runs ending just before now.
    let periods = [15 * 60_000, 30 * 60_000, 60 * 60_000];
    let jobs: Vec<GenJob> = (0..d.jobs)
        .map(|n| {
            let every_ms = periods[n % periods.len()];
            let runs = d.runs / d.jobs + usize::from(n < d.runs % d.jobs);
            GenJob {
                id: rng.uuid(),
                agent: AGENTS[n % AGENTS.len()],
                every_ms,
                runs,
                first_run_ms: NOW_MS - runs as i64 * every_ms + (n as i64 * 7_000) % every_ms.min(600_000),
            }
        })
        .collect();
    match store {
        Store::Json => write_json_store(&root, &jobs)?,
        Store::Sqlite => write_sqlite_store(&root, &jobs)?,
    }
    let mut run_log_bytes = 0;
    for job in &jobs {
        run_log_bytes += write_run_log(&root, job, &mut rng)?;
    }

    // Transcripts: the same number per agent, each about the same size.
    let per_file = d.transcript_bytes / d.transcripts as u64;
    let mut usage = 0;
    let mut transcript_bytes = 0;
    let mut index: Vec<Vec<(String, String, i64, Option<i64>)>> = vec![Vec::new(); AGENTS.len()];
    for n in 0..d.transcripts {
        let a = n % AGENTS.len();
        let agent = AGENTS[a];
        let session = rng.uuid();
        // Spread over the last 30 days, the newest last.
        let start =
            NOW_MS - 3_600_000 - ((d.transcripts - n) as i64 * 30 * 86_400_000 / d.transcripts as i64);
        let main = index[a].is_empty();
        let key = if main {
            format!("agent:{agent}:main")
        } else if n % 3 == 0 {
            let job = &jobs[n % jobs.len()];
            format!("agent:{agent}:cron:{}:run:{session}", job.id)
        } else {
            format!("agent:{agent}:telegram:direct:{}", 1000 + n)
        };
        // Every 50th transcript was reset: renamed, and still counted.
        let name = if n % 50 == 49 {
            format!("{session}.jsonl.reset.{}", iso(start).replace(':', "-"))
        } else {
            format!("{session}.jsonl")
        };
        let dir = root.join("agents").join(agent).join("sessions");
        std::fs::create_dir_all(&dir)?;
        let (bytes, assistant, last_ms) =
            write_transcript(&dir.join(name), &session, start, per_file, main, &mut rng)?;
        usage += assistant;
        transcript_bytes += bytes;
        let beat = main.then_some(NOW_MS - 20 * 60_000);
        index[a].push((key, session, last_ms, beat));
    }
    for (a, sessions) in index.iter().enumerate() {
        write_session_index(&root.join("agents").join(AGENTS[a]).join("sessions/sessions.json"), sessions)?;
    }

    let expected = Expected {
        jobs: jobs.len(),
        runs: jobs.iter().map(|j| j.runs).sum(),
        usage,
        run_log_bytes,
        transcripts: d.transcripts,
        transcript_bytes,
        sqlite: store == Store::Sqlite,
    };
    std::fs::write(dir.join("expected.json"), serde_json::to_string_pretty(&expected)?)?;
    Ok(expected)
}

/// A job as `jobs.json` keeps it (compact JSON; `state` empty, as from 2026.4.20).
fn job_json(job: &GenJob, n: usize) -> String {
    format!(
        r#"{{"id":"{id}","agentId":"{agent}","name":"Job {n}: sweep {agent}","enabled":true,"createdAtMs":{created},"updatedAtMs":{created},"schedule":{{"kind":"every","everyMs":{every},"anchorMs":{anchor}}},"sessionTarget":"isolated","wakeMode":"now","payload":{{"kind":"agentTurn","message":"Sweep and report.","timeoutSeconds":300}},"delivery":{{"mode":"announce"}},"state":{{}}}}"#,
        id = job.id,
        agent = job.agent,
        created = job.first_run_ms - 86_400_000,
        every = job.every_ms,
        anchor = job.first_run_ms,
    )
}

fn state_json(job: &GenJob) -> String {
    let last = job.first_run_ms + (job.runs as i64 - 1) * job.every_ms;
    format!(
        r#"{{"nextRunAtMs":{},"lastRunAtMs":{last},"lastRunStatus":"ok","lastDurationMs":8000,"consecutiveErrors":0}}"#,
        last + job.every_ms
    )
}

fn write_json_store(root: &Path, jobs: &[GenJob]) -> anyhow::Result<()> {
    let list: Vec<serde_json::Value> = jobs
        .iter()
        .enumerate()
        .map(|(n, j)| serde_json::from_str(&job_json(j, n)))
        .collect::<Result<_, _>>()?;
    let store = serde_json::json!({"version": 1, "jobs": list});
    std::fs::write(root.join("cron/jobs.json"), serde_json::to_string_pretty(&store)?)?;
    let mut states = serde_json::Map::new();
    for job in jobs {
        let identity = format!(
            r#"{{"version":1,"enabled":true,"schedule":{{"kind":"every","everyMs":{},"anchorMs":{}}}}}"#,
            job.every_ms, job.first_run_ms
        );
        states.insert(
            job.id.clone(),
            serde_json::json!({
                "updatedAtMs": NOW_MS - 60_000,
                "scheduleIdentity": identity,
                "state": serde_json::from_str::<serde_json::Value>(&state_json(job))?,
            }),
        );
    }
    let states = serde_json::json!({"version": 1, "jobs": states});
    std::fs::write(root.join("cron/jobs-state.json"), serde_json::to_string_pretty(&states)?)?;
    Ok(())
}

/// The 2026.9 shape of `cron_jobs` (the job and its state as JSON); the run history stays in
/// `cron/runs/`, as in a home upgraded from the JSON layout.
fn write_sqlite_store(root: &Path, jobs: &[GenJob]) -> anyhow::Result<()> {
    std::fs::create_dir_all(root.join("state"))?;
    let mut conn = rusqlite::Connection::open(root.join("state/openclaw.sqlite"))?;
    conn.execute_batch(
        "CREATE TABLE schema_meta (meta_key TEXT NOT NULL PRIMARY KEY, role TEXT NOT NULL,
           schema_version INTEGER NOT NULL, agent_id TEXT, app_version TEXT, created_at INTEGER NOT NULL,
           updated_at INTEGER NOT NULL);
         CREATE TABLE cron_jobs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, name TEXT NOT NULL,
           enabled INTEGER NOT NULL, agent_id TEXT, created_at_ms INTEGER NOT NULL, job_json TEXT NOT NULL,
           state_json TEXT NOT NULL DEFAULT '{}', sort_order INTEGER NOT NULL DEFAULT 0,
           updated_at INTEGER NOT NULL, PRIMARY KEY (store_key, job_id));",
    )?;
    let store_key = root.join("cron/jobs.json").to_string_lossy().into_owned();
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO schema_meta VALUES ('primary', 'global', 18, NULL, '2026.9.6', ?1, ?1)",
        [NOW_MS],
    )?;
    for (n, job) in jobs.iter().enumerate() {
        tx.execute(
            "INSERT INTO cron_jobs VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![
                store_key,
                job.id,
                format!("Job {n}: sweep {}", job.agent),
                job.agent,
                job.first_run_ms - 86_400_000,
                job_json(job, n),
                state_json(job),
                n as i64,
                NOW_MS - 60_000
            ],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// `cron/runs/<job>.jsonl`, one finished run per line as the gateway writes it; its size.
fn write_run_log(root: &Path, job: &GenJob, rng: &mut Rng) -> anyhow::Result<u64> {
    let path = root.join("cron/runs").join(format!("{}.jsonl", job.id));
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
    for r in 0..job.runs {
        let run_at = job.first_run_ms + r as i64 * job.every_ms;
        let duration = 4_000 + rng.below(20_000) as i64;
        let session = rng.uuid();
        let (status, outcome) = if rng.below(50) == 0 {
            (
                "error",
                r#""error":"rate limited","delivered":false,"deliveryStatus":"not-delivered""#.to_string(),
            )
        } else {
            (
                "ok",
                format!(
                    r#""summary":"Swept {} items.","delivered":true,"deliveryStatus":"delivered""#,
                    rng.below(40)
                ),
            )
        };
        let input = 2_000 + rng.below(3_000);
        let output = 100 + rng.below(900);
        writeln!(
            out,
            r#"{{"ts":{ts},"jobId":"{job}","action":"finished","status":"{status}",{outcome},"sessionId":"{session}","sessionKey":"agent:{agent}:cron:{job}:run:{session}","runAtMs":{run_at},"durationMs":{duration},"nextRunAtMs":{next},"model":"claude-sonnet-4-5","provider":"anthropic","usage":{{"input_tokens":{input},"output_tokens":{output},"total_tokens":{total}}}}}"#,
            ts = run_at + duration,
            job = job.id,
            agent = job.agent,
            next = run_at + job.every_ms,
            total = input + output,
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(&path)?.len())
}

/// A transcript of about `target` bytes: turns of a user message, a tool call, its (large)
/// result and the answer, both assistant messages with usage. In the agent's main session
/// every eighth turn is a heartbeat poll. Returns (bytes, assistant messages, last time).
fn write_transcript(
    path: &Path,
    session: &str,
    start_ms: i64,
    target: u64,
    main: bool,
    rng: &mut Rng,
) -> anyhow::Result<(u64, usize, i64)> {
    let mut out = Lines { out: BufWriter::with_capacity(1 << 20, File::create(path)?), bytes: 0 };
    out.put(format!(
        r#"{{"type":"session","version":3,"id":"{session}","timestamp":"{}","cwd":"/home/owner/.openclaw/workspace"}}"#,
        iso(start_ms)
    ))?;
    let mut t = start_ms;
    let mut parent = "null".to_string();
    let mut assistant = 0;
    let mut turn = 0;
    let id = |rng: &mut Rng| format!("{:08x}", rng.next() >> 32);
    // Leave room for the last turn: about 6 kB at most.
    while out.bytes + 6_000 < target {
        let user_id = id(rng);
        let text = if main && turn % 8 == 7 {
            "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly.".to_string()
        } else {
            rng.prose_between(60, 200)
        };
        out.put(format!(
            r#"{{"type":"message","id":"{user_id}","parentId":{parent},"timestamp":"{}","message":{{"role":"user","content":[{{"type":"text","text":"{text}"}}],"timestamp":{t}}}}}"#,
            iso(t)
        ))?;
        t += 2_000;
        let call_id = id(rng);
        let call = format!("toolu_{:016x}", rng.next());
        out.put(format!(
            r#"{{"type":"message","id":"{call_id}","parentId":"{user_id}","timestamp":"{}","message":{{"role":"assistant","content":[{{"type":"text","text":"{}"}},{{"type":"toolCall","id":"{call}","name":"read","arguments":{{"path":"notes/{turn}.md"}}}}],"api":"anthropic-messages","provider":"anthropic","model":"claude-sonnet-4-5","usage":{},"stopReason":"toolUse","timestamp":{t}}}}}"#,
            iso(t),
            rng.prose_between(40, 120),
            usage_json(rng),
        ))?;
        t += 1_000;
        let result_id = id(rng);
        out.put(format!(
            r#"{{"type":"message","id":"{result_id}","parentId":"{call_id}","timestamp":"{}","message":{{"role":"toolResult","toolCallId":"{call}","toolName":"read","content":[{{"type":"text","text":"{}"}}],"isError":false,"timestamp":{t}}}}}"#,
            iso(t),
            rng.prose_between(500, 4_500),
        ))?;
        t += 3_000;
        let answer_id = id(rng);
        out.put(format!(
            r#"{{"type":"message","id":"{answer_id}","parentId":"{result_id}","timestamp":"{}","message":{{"role":"assistant","content":[{{"type":"text","text":"{}"}}],"api":"anthropic-messages","provider":"anthropic","model":"claude-sonnet-4-5","usage":{},"stopReason":"stop","timestamp":{t}}}}}"#,
            iso(t),
            rng.prose_between(100, 600),
            usage_json(rng),
        ))?;
        assistant += 2;
        parent = format!("\"{answer_id}\"");
        t += 10_000;
        turn += 1;
    }
    out.out.flush()?;
    drop(out);
    Ok((std::fs::metadata(path)?.len(), assistant, t))
}

/// A file written line by line, counting its bytes.
struct Lines {
    out: BufWriter<File>,
    bytes: u64,
}

impl Lines {
    fn put(&mut self, line: String) -> std::io::Result<()> {
        self.bytes += line.len() as u64 + 1;
        writeln!(self.out, "{line}")
    }
}

fn usage_json(rng: &mut Rng) -> String {
    let (input, output, read, write) =
        (rng.below(3_000), 20 + rng.below(800), rng.below(40_000), rng.below(2_000));
    let cost = (input as f64 * 3.0 + output as f64 * 15.0 + read as f64 * 0.3 + write as f64 * 3.75) / 1e6;
    format!(
        r#"{{"input":{input},"output":{output},"cacheRead":{read},"cacheWrite":{write},"totalTokens":{},"cost":{{"total":{cost:.6}}}}}"#,
        input + output + read + write
    )
}

/// `sessions.json`: (key, session id, last update, last heartbeat sent) per session.
fn write_session_index(path: &Path, sessions: &[(String, String, i64, Option<i64>)]) -> anyhow::Result<()> {
    let mut map = serde_json::Map::new();
    for (key, session, updated, beat) in sessions {
        let mut entry = serde_json::json!({
            "sessionId": session,
            "updatedAt": updated,
            "sessionFile": format!("{session}.jsonl"),
            "chatType": "direct",
            "modelProvider": "anthropic",
            "model": "claude-sonnet-4-5",
            "inputTokens": 1200, "outputTokens": 300, "totalTokens": 1500, "contextTokens": 200000,
        });
        if let Some(beat) = beat {
            entry["lastHeartbeatText"] = "All quiet.".into();
            entry["lastHeartbeatSentAt"] = (*beat).into();
        }
        map.insert(key.clone(), entry);
    }
    std::fs::write(path, serde_json::to_string_pretty(&map)?)?;
    Ok(())
}
