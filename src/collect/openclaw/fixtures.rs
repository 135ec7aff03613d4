//! Synthetic OpenClaw homes: the generator behind `tests/fixtures/openclaw/`, and helpers to
//! materialise a fixture (or a large home) in a temporary directory.
//!
//! One scenario, written in each of OpenClaw's layouts the way its own writers would write it
//! (field names, key order, `JSON.stringify` formatting, atomic rewrites), 36 hours of an
//! operation with three agents and nine cron jobs, reproducing each known failure:
//!
//! - the gateway restarts at 04:58-05:03 on day 1: the daily status due at 05:00 UTC is
//!   skipped (its `nextRunAtMs` jumps to the next day, no run line), and the every-15-minutes
//!   inbox sweep is caught up late and fired twice;
//! - the nightly backup started at 06:15 on day 1 and never finished: `runningAtMs` stays set;
//! - agent `research`'s hourly heartbeat stops with the restart; agent `main`'s 30-minute
//!   heartbeat loops every minute in the last hour; agent `ops`'s heartbeat is disabled
//!   (`0m`) yet fires every two minutes;
//! - drift of every kind against `tests/fixtures/openclaw/desired.yaml`;
//! - transcripts whose token totals the scenario knows to the token.
//!
//! The JSON layouts are committed as they are written; the SQLite layout is committed as
//! `state.sql` (text) and built into `state/openclaw.sqlite` when a test materialises it.
//! `MC_WRITE_FIXTURES=1 cargo test --lib collect::openclaw::fixtures` rewrites the committed
//! files; a test fails when they drift from the generator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::ledger::stagger_offset_ms;
use super::{Layout, Tokens};

/// A JSON value that keeps its keys in the order written, rendered as `JSON.stringify` does.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl From<&str> for J {
    fn from(s: &str) -> J {
        J::Str(s.to_string())
    }
}
impl From<String> for J {
    fn from(s: String) -> J {
        J::Str(s)
    }
}
impl From<i64> for J {
    fn from(n: i64) -> J {
        J::Int(n)
    }
}
impl From<u64> for J {
    fn from(n: u64) -> J {
        J::Int(n as i64)
    }
}
impl From<f64> for J {
    fn from(n: f64) -> J {
        J::Num(n)
    }
}
impl From<bool> for J {
    fn from(b: bool) -> J {
        J::Bool(b)
    }
}
impl<T: Into<J>> From<Option<T>> for J {
    fn from(o: Option<T>) -> J {
        o.map_or(J::Null, Into::into)
    }
}

/// An object from `(key, value)` pairs; `J::Null` values are left out, as `JSON.stringify`
/// leaves out `undefined`.
pub fn obj(pairs: Vec<(&str, J)>) -> J {
    J::Obj(pairs.into_iter().filter(|(_, v)| *v != J::Null).map(|(k, v)| (k.to_string(), v)).collect())
}

impl J {
    /// `JSON.stringify(value)`.
    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None, 0);
        out
    }

    /// `JSON.stringify(value, null, 2)`.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(2), 0);
        out
    }

    fn write(&self, out: &mut String, indent: Option<usize>, depth: usize) {
        let newline = |out: &mut String, depth: usize| {
            if let Some(n) = indent {
                out.push('\n');
                out.push_str(&" ".repeat(n * depth));
            }
        };
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(n) => out.push_str(&n.to_string()),
            J::Num(n) => out.push_str(&n.to_string()),
            J::Str(s) => out.push_str(&serde_json::to_string(s).expect("string")),
            J::Arr(items) if items.is_empty() => out.push_str("[]"),
            J::Obj(pairs) if pairs.is_empty() => out.push_str("{}"),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    item.write(out, indent, depth + 1);
                }
                newline(out, depth);
                out.push(']');
            }
            J::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    out.push_str(&serde_json::to_string(k).expect("key"));
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                    v.write(out, indent, depth + 1);
                }
                newline(out, depth);
                out.push('}');
            }
        }
    }
}

// The jobs of the scenario.
pub const DAILY: &str = "5d1c0a3e-7b2f-4c8e-9a61-2f0d3b7c9e14";
pub const SWEEP: &str = "a8e4f2c1-3d5b-4a7e-8c90-6b1f2e3d4c5a";
pub const SWEEP_COPY: &str = "c2b7d9e0-1f4a-4e6b-b3c8-7d5e9f0a1b2c";
pub const BACKUP: &str = "e9f1a2b3-c4d5-4e6f-8a7b-9c0d1e2f3a4b";
pub const DIGEST: &str = "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7081";
pub const HOURLY: &str = "7f8e9d0c-1b2a-4394-8576-a4b3c2d1e0f9";
pub const CLEANUP: &str = "3c4d5e6f-7a8b-49c0-9d1e-2f3a4b5c6d7e";
pub const SCRATCH: &str = "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
pub const REMINDER: &str = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8";
/// Declared in `desired.yaml`, absent from every home.
pub const MISSING: &str = "0d9c8b7a-6f5e-4d3c-b2a1-f0e9d8c7b6a5";

/// Where the owner's real home was: SQLite keys its cron store by this path.
const REAL_HOME: &str = "/home/owner/.openclaw";

/// A fixture home's name for a layout.
pub fn fixture_name(layout: Layout) -> &'static str {
    match layout {
        Layout::JsonInline => "v2026-4-15",
        Layout::JsonSplit => "v2026-5-28",
        Layout::Sqlite | Layout::Empty => "v2026-6-11",
    }
}

/// The first day of the scenario in a layout's era (each a Monday).
pub fn day0(layout: Layout) -> DateTime<Utc> {
    let (y, m, d) = match layout {
        Layout::JsonInline => (2026, 4, 13),
        Layout::JsonSplit => (2026, 6, 1),
        Layout::Sqlite | Layout::Empty => (2026, 6, 15),
    };
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("day0")
}

/// One cron job of the scenario.
#[derive(Debug, Clone)]
pub struct FixtureJob {
    pub id: &'static str,
    pub agent: &'static str,
    pub name: &'static str,
    pub enabled: bool,
    pub created_at_ms: i64,
    pub schedule: J,
    pub payload: J,
    pub state: J,
    /// Run-log entries, oldest first.
    pub runs: Vec<J>,
}

/// One session of an agent.
#[derive(Debug, Clone)]
pub struct FixtureSession {
    pub key: String,
    pub id: String,
    /// The transcript file name (`<id>.jsonl`, or an archived name).
    pub file: String,
    /// `sessions.json` entry; None for an archived transcript no longer indexed.
    pub entry: Option<J>,
    pub lines: Vec<J>,
}

/// What a fixture home holds, and what reading it must find.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub layout: Layout,
    pub day0: DateTime<Utc>,
    /// The instant the fixture was "taken": day 1, 12:00 UTC.
    pub now: DateTime<Utc>,
    pub jobs: Vec<FixtureJob>,
    pub agents: BTreeMap<&'static str, Vec<FixtureSession>>,
    pub config: String,
    /// Token totals of assistant messages, by agent and by model.
    pub usage_by_agent: BTreeMap<String, Tokens>,
    pub usage_by_model: BTreeMap<String, Tokens>,
    pub assistant_messages: usize,
    /// The sum of the costs the transcripts carry.
    pub given_cost: f64,
    /// Heartbeat prompts per agent.
    pub heartbeats: BTreeMap<String, usize>,
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A short stable id, as OpenClaw's transcripts use (8 hex digits).
fn short_id(seed: &str) -> String {
    super::sha256::hex(&super::sha256::digest(seed.as_bytes()))[..8].to_string()
}

/// A stable UUID-shaped id.
fn uuid(seed: &str) -> String {
    let h = super::sha256::hex(&super::sha256::digest(seed.as_bytes()));
    format!("{}-{}-4{}-8{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

const HEARTBEAT_PROMPT: &str =
    "Read HEARTBEAT.md if it exists (workspace context). If nothing needs attention, reply HEARTBEAT_OK.";

struct Transcript {
    session: String,
    lines: Vec<J>,
    parent: Option<String>,
    n: usize,
}

impl Transcript {
    fn new(session: &str, at: DateTime<Utc>) -> Transcript {
        let header = obj(vec![
            ("type", "session".into()),
            ("version", J::Int(3)),
            ("id", session.into()),
            ("timestamp", iso(at).into()),
            ("cwd", format!("{REAL_HOME}/workspace").into()),
        ]);
        Transcript { session: session.to_string(), lines: vec![header], parent: None, n: 0 }
    }

    fn push(&mut self, at: DateTime<Utc>, message: J) {
        self.n += 1;
        let id = short_id(&format!("{}#{}", self.session, self.n));
        // `parentId` is null on a first message, so it is kept even then.
        self.lines.push(J::Obj(vec![
            ("type".into(), "message".into()),
            ("id".into(), id.clone().into()),
            ("parentId".into(), self.parent.clone().into()),
            ("timestamp".into(), iso(at).into()),
            ("message".into(), message),
        ]));
        self.parent = Some(id);
    }

    fn user(&mut self, at: DateTime<Utc>, text: &str) {
        let content = J::Arr(vec![obj(vec![("type", "text".into()), ("text", text.into())])]);
        self.push(at, obj(vec![("role", "user".into()), ("content", content), ("timestamp", ms(at).into())]));
    }
}

/// Usage as pi-ai writes it on an assistant message.
struct Reply<'a> {
    provider: &'a str,
    model: &'a str,
    text: &'a str,
    tokens: Tokens,
    /// Dollars per million tokens (input, output, cache read, cache write) to state a cost;
    /// None writes no cost, leaving it to Mission Control's prices.
    rates: Option<[f64; 4]>,
}

fn assistant(t: &mut Transcript, s: &mut Scenario, agent: &str, at: DateTime<Utc>, r: Reply<'_>) {
    let tk = r.tokens;
    let cost = r.rates.map(|[i, o, cr, cw]| {
        let part = |n: u64, rate: f64| ((n as f64) * rate / 1_000_000.0 * 1e8).round() / 1e8;
        let parts =
            [part(tk.input, i), part(tk.output, o), part(tk.cache_read, cr), part(tk.cache_write, cw)];
        let total = ((parts.iter().sum::<f64>()) * 1e8).round() / 1e8;
        s.given_cost += total;
        obj(vec![
            ("input", parts[0].into()),
            ("output", parts[1].into()),
            ("cacheRead", parts[2].into()),
            ("cacheWrite", parts[3].into()),
            ("total", total.into()),
        ])
    });
    let usage = obj(vec![
        ("input", tk.input.into()),
        ("output", tk.output.into()),
        ("cacheRead", tk.cache_read.into()),
        ("cacheWrite", tk.cache_write.into()),
        ("totalTokens", tk.total.into()),
        ("cost", cost.unwrap_or(J::Null)),
    ]);
    let content = J::Arr(vec![obj(vec![("type", "text".into()), ("text", r.text.into())])]);
    let api = if r.provider == "openai" { "openai-responses" } else { "anthropic-messages" };
    t.push(
        at,
        obj(vec![
            ("role", "assistant".into()),
            ("content", content),
            ("api", api.into()),
            ("provider", r.provider.into()),
            ("model", r.model.into()),
            ("usage", usage),
            ("stopReason", "stop".into()),
            ("timestamp", ms(at).into()),
        ]),
    );
    s.assistant_messages += 1;
    s.usage_by_agent.entry(agent.to_string()).or_default().add(&tk);
    s.usage_by_model.entry(r.model.to_string()).or_default().add(&tk);
}

fn tokens(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Tokens {
    Tokens { input, output, cache_read, cache_write, total: input + output + cache_read + cache_write }
}

const SONNET: [f64; 4] = [3.0, 15.0, 0.3, 3.75];

fn heartbeat(t: &mut Transcript, s: &mut Scenario, agent: &str, at: DateTime<Utc>, model: &str) {
    t.user(at, HEARTBEAT_PROMPT);
    let reply = Reply {
        provider: if model.starts_with("gpt") { "openai" } else { "anthropic" },
        model,
        text: "HEARTBEAT_OK",
        tokens: tokens(3_180, 9, 41_250, 0),
        rates: None,
    };
    assistant(t, s, agent, at + TimeDelta::seconds(4), reply);
    *s.heartbeats.entry(agent.to_string()).or_default() += 1;
}

impl Scenario {
    /// The scenario in `layout`'s era.
    pub fn new(layout: Layout) -> Scenario {
        let d0 = day0(layout);
        let h = |hours: i64, minutes: i64, seconds: i64| {
            d0 + TimeDelta::hours(hours) + TimeDelta::minutes(minutes) + TimeDelta::seconds(seconds)
        };
        let now = h(36, 0, 0);
        let mut s = Scenario {
            layout,
            day0: d0,
            now,
            jobs: Vec::new(),
            agents: BTreeMap::new(),
            config: String::new(),
            usage_by_agent: BTreeMap::new(),
            usage_by_model: BTreeMap::new(),
            assistant_messages: 0,
            given_cost: 0.0,
            heartbeats: BTreeMap::new(),
        };
        let legacy = layout == Layout::JsonInline;
        let restart_end = h(29, 3, 0);

        // Run-log entries, as the gateway appends them when a run finishes.
        let run = |job: &str,
                   start: DateTime<Utc>,
                   secs: i64,
                   status: &str,
                   next: Option<DateTime<Utc>>,
                   extra: Vec<(&str, J)>| {
            let end = start + TimeDelta::seconds(secs);
            let session = uuid(&format!("{job}@{start}"));
            let mut pairs = vec![
                ("ts", J::Int(ms(end))),
                ("jobId", job.into()),
                ("action", "finished".into()),
                ("status", status.into()),
            ];
            pairs.extend(extra);
            pairs.extend([
                ("delivered", J::Bool(status == "ok")),
                ("deliveryStatus", if status == "ok" { "delivered".into() } else { "not-delivered".into() }),
                ("sessionId", session.clone().into()),
                ("sessionKey", format!("agent:main:cron:{job}:run:{session}").into()),
                ("runAtMs", J::Int(ms(start))),
                ("durationMs", J::Int(secs * 1000)),
                ("nextRunAtMs", next.map(ms).into()),
                ("model", "claude-sonnet-4-5".into()),
                ("provider", "anthropic".into()),
                (
                    "usage",
                    obj(vec![
                        ("input_tokens", J::Int(2_400)),
                        ("output_tokens", J::Int(310)),
                        ("total_tokens", J::Int(2_710)),
                    ]),
                ),
            ]);
            obj(pairs)
        };
        let state = |next: Option<DateTime<Utc>>,
                     running: Option<DateTime<Utc>>,
                     last: Option<DateTime<Utc>>,
                     status: Option<&str>,
                     error: Option<&str>,
                     duration: Option<i64>,
                     errors: i64| {
            let status_key = if legacy { "lastStatus" } else { "lastRunStatus" };
            obj(vec![
                ("nextRunAtMs", next.map(ms).into()),
                ("runningAtMs", running.map(ms).into()),
                ("lastRunAtMs", last.map(ms).into()),
                (status_key, status.into()),
                ("lastError", error.into()),
                ("lastDurationMs", duration.into()),
                ("consecutiveErrors", J::Int(errors)),
            ])
        };
        let cron = |expr: &str, tz: Option<&str>| {
            obj(vec![("kind", "cron".into()), ("expr", expr.into()), ("tz", tz.into())])
        };
        let every = |every_ms: i64, anchor: DateTime<Utc>| {
            obj(vec![
                ("kind", "every".into()),
                ("everyMs", J::Int(every_ms)),
                ("anchorMs", J::Int(ms(anchor))),
            ])
        };
        let turn = |message: &str, timeout: Option<i64>| {
            obj(vec![
                ("kind", "agentTurn".into()),
                ("message", message.into()),
                ("timeoutSeconds", timeout.into()),
            ])
        };
        let created = ms(d0 - TimeDelta::days(20));

        // Daily status, 07:00 Berlin (05:00 UTC in summer): day 0 ran; day 1 was due during
        // the restart and skipped, `nextRunAtMs` jumping a day ahead.
        let daily_run = h(5, 0, 2);
        s.jobs.push(FixtureJob {
            id: DAILY,
            agent: "main",
            name: "Daily status",
            enabled: true,
            created_at_ms: created,
            schedule: cron("0 7 * * *", Some("Europe/Berlin")),
            payload: turn("Compile yesterday's work into the morning status.", None),
            state: state(Some(h(53, 0, 0)), None, Some(daily_run), Some("ok"), None, Some(41_000), 0),
            runs: vec![run(
                DAILY,
                daily_run,
                41,
                "ok",
                Some(h(29, 0, 0)),
                vec![("summary", "Status sent.".into())],
            )],
        });

        // Inbox sweep, every 15 minutes: on the grid until the restart, then caught up late
        // and fired twice, then every 15 minutes from the catch-up.
        let mut sweep_runs = Vec::new();
        let mut t = h(0, 15, 3);
        while t < h(28, 58, 0) {
            sweep_runs.push(run(SWEEP, t, 8, "ok", Some(t + TimeDelta::minutes(15)), vec![]));
            t += TimeDelta::minutes(15);
        }
        let catch_up = h(29, 3, 10);
        sweep_runs.push(run(SWEEP, catch_up, 8, "ok", Some(catch_up + TimeDelta::minutes(15)), vec![]));
        sweep_runs.push(run(SWEEP, catch_up + TimeDelta::seconds(2), 8, "ok", None, vec![]));
        let mut t = catch_up + TimeDelta::seconds(2) + TimeDelta::minutes(15);
        let mut last_sweep = catch_up;
        while t + TimeDelta::seconds(8) < now {
            sweep_runs.push(run(SWEEP, t, 8, "ok", Some(t + TimeDelta::minutes(15)), vec![]));
            last_sweep = t;
            t += TimeDelta::minutes(15);
        }
        s.jobs.push(FixtureJob {
            id: SWEEP,
            agent: "ops",
            name: "Inbox sweep",
            enabled: true,
            created_at_ms: created,
            schedule: every(900_000, d0),
            payload: turn("Triage new inbox items.", Some(300)),
            state: state(
                Some(last_sweep + TimeDelta::minutes(15)),
                None,
                Some(last_sweep),
                Some("ok"),
                None,
                Some(8_000),
                0,
            ),
            runs: sweep_runs,
        });

        // The same sweep created a second time by the agent at 08:00 on day 1.
        let copy_anchor = h(32, 0, 0);
        let mut copy_runs = Vec::new();
        let mut t = copy_anchor + TimeDelta::minutes(15) + TimeDelta::seconds(5);
        let mut last_copy = None;
        while t + TimeDelta::seconds(8) < now {
            copy_runs.push(run(SWEEP_COPY, t, 8, "ok", Some(t + TimeDelta::minutes(15)), vec![]));
            last_copy = Some(t);
            t += TimeDelta::minutes(15);
        }
        s.jobs.push(FixtureJob {
            id: SWEEP_COPY,
            agent: "ops",
            name: "Inbox sweep",
            enabled: true,
            created_at_ms: ms(copy_anchor),
            schedule: every(900_000, d0),
            payload: turn("Triage new inbox items.", Some(300)),
            state: state(
                last_copy.map(|t| t + TimeDelta::minutes(15)),
                None,
                last_copy,
                Some("ok"),
                None,
                Some(8_000),
                0,
            ),
            runs: copy_runs,
        });

        // Nightly backup at 06:15 UTC: day 1's run started and never finished.
        let backup_run = h(6, 15, 4);
        s.jobs.push(FixtureJob {
            id: BACKUP,
            agent: "main",
            name: "Nightly backup",
            enabled: true,
            created_at_ms: created,
            schedule: cron("15 6 * * *", Some("UTC")),
            payload: turn("Run the backup script and report.", Some(1_800)),
            state: state(
                Some(h(54, 15, 0)),
                Some(h(30, 15, 3)),
                Some(backup_run),
                Some("ok"),
                None,
                Some(1_200_000),
                0,
            ),
            runs: vec![run(
                BACKUP,
                backup_run,
                1_200,
                "ok",
                Some(h(30, 15, 0)),
                vec![("summary", "Backup done.".into())],
            )],
        });

        // Weekly digest, Mondays 09:30 UTC: ran on day 0 and failed.
        let digest_run = h(9, 30, 1);
        s.jobs.push(FixtureJob {
            id: DIGEST,
            agent: "research",
            name: "Weekly digest",
            enabled: true,
            created_at_ms: created,
            schedule: cron("30 9 * * 1", Some("UTC")),
            payload: turn("Write the weekly research digest.", None),
            state: state(
                Some(h(177, 30, 0)),
                None,
                Some(digest_run),
                Some("error"),
                Some("rate limited"),
                Some(12_000),
                1,
            ),
            runs: vec![run(
                DIGEST,
                digest_run,
                12,
                "error",
                Some(h(177, 30, 0)),
                vec![("error", "rate limited".into())],
            )],
        });

        // Hourly report at the top of every hour, spread by OpenClaw's default stagger.
        let offset = TimeDelta::milliseconds(stagger_offset_ms(HOURLY, 300_000));
        let mut hourly_runs = Vec::new();
        let mut last_hourly = None;
        for hour in 0..36 {
            let start = h(hour, 0, 0) + offset;
            if (h(28, 58, 0)..restart_end).contains(&start) || start + TimeDelta::seconds(30) >= now {
                continue;
            }
            hourly_runs.push(run(HOURLY, start, 30, "ok", Some(h(hour + 1, 0, 0) + offset), vec![]));
            last_hourly = Some(start);
        }
        s.jobs.push(FixtureJob {
            id: HOURLY,
            agent: "main",
            name: "Hourly report",
            enabled: true,
            created_at_ms: created,
            schedule: cron("0 * * * *", None),
            payload: obj(vec![("kind", "systemEvent".into()), ("text", "Post the hourly report.".into())]),
            state: state(Some(h(36, 0, 0) + offset), None, last_hourly, Some("ok"), None, Some(30_000), 0),
            runs: hourly_runs,
        });

        // Old cleanup: disabled, though the desired state wants it active.
        s.jobs.push(FixtureJob {
            id: CLEANUP,
            agent: "main",
            name: "Old cleanup",
            enabled: false,
            created_at_ms: created,
            schedule: cron("0 3 * * *", Some("UTC")),
            payload: obj(vec![("kind", "systemEvent".into()), ("text", "Clean up old files.".into())]),
            state: obj(vec![]),
            runs: vec![],
        });

        // Scratch experiment, hourly, declared nowhere; sometimes skipped.
        let mut scratch_runs = Vec::new();
        let mut t = h(0, 20, 1);
        while t + TimeDelta::seconds(5) < now {
            let skipped = scratch_runs.len() % 7 == 3;
            let extra = if skipped { vec![("error", J::from("disabled by guard"))] } else { vec![] };
            scratch_runs.push(run(
                SCRATCH,
                t,
                5,
                if skipped { "skipped" } else { "ok" },
                Some(t + TimeDelta::hours(1)),
                extra,
            ));
            t += TimeDelta::hours(1);
        }
        s.jobs.push(FixtureJob {
            id: SCRATCH,
            agent: "research",
            name: "Scratch experiment",
            enabled: true,
            created_at_ms: created,
            schedule: every(3_600_000, h(0, 20, 0)),
            payload: turn("Try the new summariser.", None),
            state: state(Some(t), None, Some(t - TimeDelta::hours(1)), Some("ok"), None, Some(5_000), 0),
            runs: scratch_runs,
        });

        // Launch reminder, one shot at 09:00 on day 1; OpenClaw disables it after its run.
        let reminder = h(33, 0, 0);
        let at_schedule = if legacy {
            obj(vec![("kind", "at".into()), ("atMs", J::Int(ms(reminder)))])
        } else {
            obj(vec![("kind", "at".into()), ("at", iso(reminder).into())])
        };
        s.jobs.push(FixtureJob {
            id: REMINDER,
            agent: "main",
            name: "Launch reminder",
            enabled: false,
            created_at_ms: ms(h(20, 0, 0)),
            schedule: at_schedule,
            payload: obj(vec![
                ("kind", "systemEvent".into()),
                ("text", "Remind the owner of the launch.".into()),
            ]),
            state: state(
                None,
                None,
                Some(reminder + TimeDelta::seconds(2)),
                Some("ok"),
                None,
                Some(3_000),
                0,
            ),
            runs: vec![run(REMINDER, reminder + TimeDelta::seconds(2), 3, "ok", None, vec![])],
        });

        s.config = "// OpenClaw gateway configuration (JSON5).\n{\n  gateway: {port: 18789},\n  agents: {\n    defaults: {\n      \
             model: {primary: 'anthropic/claude-sonnet-4-5'},\n      heartbeat: {every: '30m', target: 'last'},\n    },\n    \
             list: [\n      {id: 'main', default: true, heartbeat: {every: '30m'}},\n      \
             {id: 'ops', heartbeat: {every: '0m'}}, // paused while the inbox is quiet\n      \
             {id: 'research', heartbeat: {every: '1h'}, model: 'openai/gpt-5-mini'},\n    ],\n  },\n  \
             cron: {enabled: true},\n}\n"
        .to_string();
        s.sessions(&h);
        s
    }

    fn sessions(&mut self, h: &dyn Fn(i64, i64, i64) -> DateTime<Utc>) {
        let sonnet = |text: &'static str, t: Tokens, cost: bool| Reply {
            provider: "anthropic",
            model: "claude-sonnet-4-5",
            text,
            tokens: t,
            rates: cost.then_some(SONNET),
        };
        // Agent main: a conversation, heartbeats every 30 minutes, then a loop every minute.
        let main_id = uuid("main-session");
        let mut t = Transcript::new(&main_id, h(7, 55, 0));
        t.user(h(8, 0, 0), "Plan the week: launch, backups, digest.");
        assistant(
            &mut t,
            self,
            "main",
            h(8, 0, 21),
            sonnet("Here is the plan ...", tokens(5_120, 880, 12_000, 2_048), true),
        );
        t.user(h(14, 10, 0), "Move the launch to Thursday.");
        assistant(&mut t, self, "main", h(14, 10, 9), sonnet("Moved.", tokens(1_030, 95, 18_400, 0), true));
        let mut beat = h(29, 30, 0);
        while beat <= h(34, 30, 0) {
            heartbeat(&mut t, self, "main", beat, "claude-sonnet-4-5");
            beat += TimeDelta::minutes(30);
        }
        for minute in 0..60 {
            heartbeat(&mut t, self, "main", h(35, minute, 0), "claude-sonnet-4-5");
        }
        let main_entry = obj(vec![
            ("sessionId", main_id.clone().into()),
            ("updatedAt", J::Int(ms(h(35, 59, 4)))),
            ("systemSent", J::Bool(true)),
            ("chatType", "direct".into()),
            ("modelProvider", "anthropic".into()),
            ("model", "claude-sonnet-4-5".into()),
            ("lastHeartbeatText", "Backup still running since 06:15.".into()),
            ("lastHeartbeatSentAt", J::Int(ms(h(32, 0, 0)))),
        ]);
        let mut main = vec![FixtureSession {
            key: "agent:main:main".into(),
            id: main_id.clone(),
            file: format!("{main_id}.jsonl"),
            entry: Some(main_entry),
            lines: t.lines,
        }];
        // The daily status run's isolated session.
        let run_id = uuid(&format!("{DAILY}@{}", h(5, 0, 2)));
        let mut t = Transcript::new(&run_id, h(5, 0, 2));
        t.user(h(5, 0, 3), "Compile yesterday's work into the morning status.");
        assistant(&mut t, self, "main", h(5, 0, 40), sonnet("Status: ...", tokens(2_400, 310, 0, 0), false));
        main.push(FixtureSession {
            key: format!("agent:main:cron:{DAILY}:run:{run_id}"),
            id: run_id.clone(),
            file: format!("{run_id}.jsonl"),
            entry: Some(obj(vec![
                ("sessionId", run_id.clone().into()),
                ("updatedAt", J::Int(ms(h(5, 0, 43)))),
                ("model", "claude-sonnet-4-5".into()),
            ])),
            lines: t.lines,
        });
        self.agents.insert("main", main);

        // Agent ops: heartbeat disabled, yet firing every two minutes in the last hour.
        let ops_id = uuid("ops-session");
        let mut t = Transcript::new(&ops_id, h(10, 0, 0));
        t.user(h(10, 0, 0), "Sweep the inbox now.");
        assistant(
            &mut t,
            self,
            "ops",
            h(10, 0, 12),
            sonnet("Three items triaged.", tokens(900, 120, 6_000, 0), true),
        );
        for k in 0..30 {
            heartbeat(&mut t, self, "ops", h(35, 2 * k, 0), "claude-sonnet-4-5");
        }
        self.agents.insert(
            "ops",
            vec![FixtureSession {
                key: "agent:ops:main".into(),
                id: ops_id.clone(),
                file: format!("{ops_id}.jsonl"),
                entry: Some(obj(vec![
                    ("sessionId", ops_id.clone().into()),
                    ("updatedAt", J::Int(ms(h(35, 58, 4)))),
                ])),
                lines: t.lines,
            }],
        );

        // Agent research: hourly heartbeats that stop with the restart; an archived session.
        let res_id = uuid("research-session");
        let mini = |text: &'static str, t: Tokens| Reply {
            provider: "openai",
            model: "gpt-5-mini",
            text,
            tokens: t,
            rates: None,
        };
        let mut t = Transcript::new(&res_id, h(0, 0, 0));
        for hour in 0..29 {
            heartbeat(&mut t, self, "research", h(hour, 30, 0), "gpt-5-mini");
            if hour == 9 {
                t.user(h(9, 40, 0), "Why did the digest fail?");
                assistant(
                    &mut t,
                    self,
                    "research",
                    h(9, 40, 30),
                    mini("The provider rate-limited us.", tokens(7_400, 650, 0, 0)),
                );
            }
        }
        let old_id = uuid("research-old");
        let mut old = Transcript::new(&old_id, h(-3, 0, 0));
        old.user(h(-3, 0, 0), "Collect sources on agent reliability.");
        assistant(
            &mut old,
            self,
            "research",
            h(-2, 59, 0),
            mini("Twelve sources collected.", tokens(15_000, 2_200, 0, 0)),
        );
        let archived_at = h(0, 0, 0).format("%Y-%m-%dT%H-%M-%S%.3fZ");
        self.agents.insert(
            "research",
            vec![
                FixtureSession {
                    key: "agent:research:main".into(),
                    id: res_id.clone(),
                    file: format!("{res_id}.jsonl"),
                    entry: Some(obj(vec![
                        ("sessionId", res_id.clone().into()),
                        ("updatedAt", J::Int(ms(h(28, 30, 4)))),
                        ("modelProvider", "openai".into()),
                        ("model", "gpt-5-mini".into()),
                        ("lastHeartbeatText", "Digest failed: rate limited.".into()),
                        ("lastHeartbeatSentAt", J::Int(ms(h(26, 30, 0)))),
                    ])),
                    lines: t.lines,
                },
                FixtureSession {
                    key: "agent:research:main".into(),
                    id: old_id.clone(),
                    file: format!("{old_id}.jsonl.reset.{archived_at}"),
                    entry: None,
                    lines: old.lines,
                },
            ],
        );
    }

    /// Writes the home into `dir` (which must exist) as the layout's writers would.
    pub fn write(&self, dir: &Path) {
        let write = |rel: &str, text: &str| {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write");
        };
        write("openclaw.json", &self.config);
        for (agent, sessions) in &self.agents {
            let index: Vec<(String, J)> =
                sessions.iter().filter_map(|s| Some((s.key.clone(), s.entry.clone()?))).collect();
            write(&format!("agents/{agent}/sessions/sessions.json"), &J::Obj(index).pretty());
            for s in sessions {
                let text: String = s.lines.iter().map(|l| l.compact() + "\n").collect();
                write(&format!("agents/{agent}/sessions/{}", s.file), &text);
            }
        }
        match self.layout {
            Layout::JsonInline | Layout::JsonSplit => {
                let split = self.layout == Layout::JsonSplit;
                let jobs: Vec<J> = self.jobs.iter().map(|j| self.job_json(j, !split)).collect();
                write("cron/jobs.json", &obj(vec![("version", J::Int(1)), ("jobs", J::Arr(jobs))]).pretty());
                if split {
                    let states: Vec<(String, J)> = self
                        .jobs
                        .iter()
                        .map(|j| {
                            let entry = obj(vec![
                                ("updatedAtMs", J::Int(ms(self.now - TimeDelta::minutes(1)))),
                                ("scheduleIdentity", schedule_identity(j).into()),
                                ("state", j.state.clone()),
                            ]);
                            (j.id.to_string(), entry)
                        })
                        .collect();
                    write(
                        "cron/jobs-state.json",
                        &obj(vec![("version", J::Int(1)), ("jobs", J::Obj(states))]).pretty(),
                    );
                }
                for j in &self.jobs {
                    let mut text: String = j.runs.iter().map(|r| r.compact() + "\n").collect();
                    if self.layout == Layout::JsonInline && j.id == SCRATCH {
                        // A line torn by a crash, then the appends that followed it, and a run
                        // being written right now.
                        let cut = text.find('\n').map_or(0, |i| i + 1);
                        text.insert_str(cut, "{\"ts\":17761,\"jobId\":\"9a0b1c2d-3e4f\n");
                        text.push_str("{\"ts\":");
                    }
                    if !text.is_empty() {
                        write(&format!("cron/runs/{}.jsonl", j.id), &text);
                    }
                }
            }
            Layout::Sqlite | Layout::Empty => write("state.sql", &self.state_sql()),
        }
    }

    /// A job as `jobs.json` keeps it, with its state inline or empty.
    fn job_json(&self, j: &FixtureJob, inline_state: bool) -> J {
        obj(vec![
            ("id", j.id.into()),
            ("agentId", j.agent.into()),
            ("name", j.name.into()),
            ("enabled", J::Bool(j.enabled)),
            ("createdAtMs", J::Int(j.created_at_ms)),
            ("updatedAtMs", J::Int(j.created_at_ms)),
            ("schedule", j.schedule.clone()),
            (
                "sessionTarget",
                if j.payload_kind() == "agentTurn" { "isolated".into() } else { "main".into() },
            ),
            ("wakeMode", "now".into()),
            ("payload", j.payload.clone()),
            (
                "delivery",
                if j.payload_kind() == "agentTurn" {
                    obj(vec![("mode", "announce".into())])
                } else {
                    J::Null
                },
            ),
            ("state", if inline_state { j.state.clone() } else { obj(vec![]) }),
        ])
    }

    /// The 2026.6 state database as SQL text: its schema (the tables read here) and rows.
    fn state_sql(&self) -> String {
        let store_key = format!("{REAL_HOME}/cron/jobs.json");
        let mut sql = String::from(STATE_SCHEMA_2026_6);
        let created = ms(self.now - TimeDelta::minutes(1));
        sql.push_str(&format!(
            "INSERT INTO schema_meta VALUES ('primary','global',1,NULL,'2026.6.11',{created},{created});\n"
        ));
        for (order, j) in self.jobs.iter().enumerate() {
            let get = |o: &J, k: &str| match o {
                J::Obj(pairs) => {
                    pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or(J::Null)
                }
                _ => J::Null,
            };
            let sched = &j.schedule;
            let job_json = self.job_json(j, false);
            sql.push_str(&format!(
                "INSERT INTO cron_jobs (store_key, job_id, name, enabled, created_at_ms, agent_id, schedule_kind, \
                 schedule_expr, schedule_tz, every_ms, anchor_ms, at, stagger_ms, session_target, wake_mode, payload_kind, \
                 payload_message, payload_timeout_seconds, next_run_at_ms, running_at_ms, last_run_at_ms, last_run_status, \
                 last_error, last_duration_ms, consecutive_errors, job_json, state_json, runtime_updated_at_ms, \
                 schedule_identity, sort_order, updated_at) VALUES ({});\n",
                [
                    sql_text(&store_key),
                    sql_text(j.id),
                    sql_text(j.name),
                    i64::from(j.enabled).to_string(),
                    j.created_at_ms.to_string(),
                    sql_text(j.agent),
                    sql_j(&get(sched, "kind")),
                    sql_j(&get(sched, "expr")),
                    sql_j(&get(sched, "tz")),
                    sql_j(&get(sched, "everyMs")),
                    sql_j(&get(sched, "anchorMs")),
                    sql_j(&get(sched, "at")),
                    sql_j(&get(sched, "staggerMs")),
                    sql_text(if j.payload_kind() == "agentTurn" { "isolated" } else { "main" }),
                    sql_text("now"),
                    sql_text(j.payload_kind()),
                    sql_j(&get(&j.payload, "message")),
                    sql_j(&get(&j.payload, "timeoutSeconds")),
                    sql_j(&get(&j.state, "nextRunAtMs")),
                    sql_j(&get(&j.state, "runningAtMs")),
                    sql_j(&get(&j.state, "lastRunAtMs")),
                    sql_j(&get(&j.state, "lastRunStatus")),
                    sql_j(&get(&j.state, "lastError")),
                    sql_j(&get(&j.state, "lastDurationMs")),
                    sql_j(&get(&j.state, "consecutiveErrors")),
                    sql_text(&job_json.compact()),
                    sql_text(&j.state.compact()),
                    created.to_string(),
                    sql_text(&schedule_identity(j)),
                    order.to_string(),
                    j.created_at_ms.to_string(),
                ]
                .join(", ")
            ));
            for (seq, r) in j.runs.iter().enumerate() {
                let f = |k: &str| sql_j(&get(r, k));
                let total = sql_j(&get(&get(r, "usage"), "total_tokens"));
                sql.push_str(&format!(
                    "INSERT INTO cron_run_logs (store_key, job_id, seq, ts, status, error, summary, delivery_status, \
                     delivered, session_id, session_key, run_at_ms, duration_ms, next_run_at_ms, model, provider, \
                     total_tokens, entry_json, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, \
                     {}, {}, {}, {}, {}, {});\n",
                    sql_text(&store_key),
                    sql_text(j.id),
                    seq + 1,
                    f("ts"),
                    f("status"),
                    f("error"),
                    f("summary"),
                    f("deliveryStatus"),
                    if get(r, "delivered") == J::Bool(true) { "1" } else { "0" },
                    f("sessionId"),
                    f("sessionKey"),
                    f("runAtMs"),
                    f("durationMs"),
                    f("nextRunAtMs"),
                    f("model"),
                    f("provider"),
                    total,
                    sql_text(&r.compact()),
                    f("ts"),
                ));
            }
        }
        sql
    }
}

impl FixtureJob {
    fn payload_kind(&self) -> &str {
        match &self.payload {
            J::Obj(pairs) => pairs.iter().find(|(k, _)| k == "kind").and_then(|(_, v)| match v {
                J::Str(s) => Some(s.as_str()),
                _ => None,
            }),
            _ => None,
        }
        .unwrap_or("systemEvent")
    }
}

/// OpenClaw's schedule identity: the JSON text of `{version, enabled, schedule}`.
fn schedule_identity(j: &FixtureJob) -> String {
    obj(vec![("version", J::Int(1)), ("enabled", J::Bool(j.enabled)), ("schedule", j.schedule.clone())])
        .compact()
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn sql_j(v: &J) -> String {
    match v {
        J::Null => "NULL".into(),
        J::Bool(b) => i64::from(*b).to_string(),
        J::Int(n) => n.to_string(),
        J::Num(n) => n.to_string(),
        J::Str(s) => sql_text(s),
        other => sql_text(&other.compact()),
    }
}

/// The tables of OpenClaw 2026.6's state database that hold cron jobs and runs, as its schema
/// declares them (other tables left out).
const STATE_SCHEMA_2026_6: &str = "\
CREATE TABLE schema_meta (meta_key TEXT NOT NULL PRIMARY KEY, role TEXT NOT NULL, schema_version INTEGER NOT NULL,
  agent_id TEXT, app_version TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE cron_run_logs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
  status TEXT, error TEXT, summary TEXT, diagnostics_summary TEXT, delivery_status TEXT, delivery_error TEXT,
  delivered INTEGER, session_id TEXT, session_key TEXT, run_id TEXT, run_at_ms INTEGER, duration_ms INTEGER,
  next_run_at_ms INTEGER, model TEXT, provider TEXT, total_tokens INTEGER, entry_json TEXT NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (store_key, job_id, seq));
CREATE TABLE cron_jobs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
  enabled INTEGER NOT NULL, delete_after_run INTEGER, created_at_ms INTEGER NOT NULL, agent_id TEXT, session_key TEXT,
  schedule_kind TEXT NOT NULL, schedule_expr TEXT, schedule_tz TEXT, every_ms INTEGER, anchor_ms INTEGER, at TEXT,
  stagger_ms INTEGER, session_target TEXT NOT NULL, wake_mode TEXT NOT NULL, payload_kind TEXT NOT NULL,
  payload_message TEXT, payload_model TEXT, payload_timeout_seconds INTEGER, next_run_at_ms INTEGER,
  running_at_ms INTEGER, last_run_at_ms INTEGER, last_run_status TEXT, last_error TEXT, last_duration_ms INTEGER,
  consecutive_errors INTEGER, consecutive_skipped INTEGER, schedule_error_count INTEGER, job_json TEXT NOT NULL,
  state_json TEXT NOT NULL DEFAULT '{}', runtime_updated_at_ms INTEGER, schedule_identity TEXT,
  sort_order INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL, PRIMARY KEY (store_key, job_id));
CREATE TABLE task_runs (task_id TEXT NOT NULL PRIMARY KEY, runtime TEXT NOT NULL, task_kind TEXT, source_id TEXT,
  requester_session_key TEXT, owner_key TEXT NOT NULL, scope_kind TEXT NOT NULL, child_session_key TEXT,
  parent_flow_id TEXT, parent_task_id TEXT, agent_id TEXT, requester_agent_id TEXT, run_id TEXT, label TEXT,
  task TEXT NOT NULL, status TEXT NOT NULL, delivery_status TEXT NOT NULL, notify_policy TEXT NOT NULL,
  created_at INTEGER NOT NULL, started_at INTEGER, ended_at INTEGER, last_event_at INTEGER, cleanup_after INTEGER,
  error TEXT, progress_summary TEXT, terminal_summary TEXT, terminal_outcome TEXT);
";

/// Where the committed fixtures live.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openclaw")
}

/// A copy of a committed fixture home in a temporary directory, its SQL text built into the
/// database the layout keeps. The home is `<tempdir>/home`.
pub fn materialise(layout: Layout) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    copy_dir(&fixtures_dir().join(fixture_name(layout)), &home);
    let sql = home.join("state.sql");
    if sql.exists() {
        let text = std::fs::read_to_string(&sql).expect("sql");
        std::fs::remove_file(&sql).expect("rm");
        build_db(&home.join("state/openclaw.sqlite"), &text);
    }
    tmp
}

/// Creates a database from SQL text (in rollback-journal mode, as a plain file).
pub fn build_db(path: &Path, sql: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let conn = rusqlite::Connection::open(path).expect("create db");
    conn.execute_batch(&format!("BEGIN;\n{sql}\nCOMMIT;")).expect("load sql");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture").filter_map(Result::ok) {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every file under `dir` with the SHA-256 of its contents, by relative path.
pub fn checksums(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read").filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                let rel = path.strip_prefix(dir).expect("under").to_string_lossy().into_owned();
                out.insert(rel, super::sha256::hex(&super::sha256::digest(&bytes)));
            }
        }
    }
    out
}

/// Moves a home's transcripts into per-agent databases as OpenClaw 2026.8.1 keeps them
/// (`session_nodes`, `session_windows`, `transcript_events`), removing the files.
pub fn move_transcripts_to_agent_dbs(home: &Path) {
    for agent in std::fs::read_dir(home.join("agents")).expect("agents").filter_map(Result::ok) {
        let sessions_dir = agent.path().join("sessions");
        let index: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            &std::fs::read_to_string(sessions_dir.join("sessions.json")).expect("index"),
        )
        .expect("index json");
        let db = agent.path().join("agent/openclaw-agent.sqlite");
        std::fs::create_dir_all(db.parent().expect("parent")).expect("mkdir");
        let conn = rusqlite::Connection::open(&db).expect("db");
        conn.execute_batch(
            "CREATE TABLE schema_meta (meta_key TEXT NOT NULL PRIMARY KEY, role TEXT NOT NULL, schema_version INTEGER NOT NULL,
               agent_id TEXT, app_version TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
             INSERT INTO schema_meta VALUES ('primary', 'agent', 19, NULL, '2026.8.1', 0, 0);
             CREATE TABLE session_nodes (session_key TEXT NOT NULL PRIMARY KEY, current_session_id TEXT NOT NULL,
               entry_json TEXT NOT NULL, updated_at INTEGER NOT NULL);
             CREATE TABLE session_windows (session_id TEXT NOT NULL PRIMARY KEY, session_key TEXT NOT NULL,
               created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
             CREATE TABLE transcript_events (session_id TEXT NOT NULL, seq INTEGER NOT NULL, event_json TEXT NOT NULL,
               created_at INTEGER NOT NULL, PRIMARY KEY (session_id, seq));",
        )
        .expect("schema");
        for (key, entry) in &index {
            let id = entry["sessionId"].as_str().expect("id");
            conn.execute(
                "INSERT INTO session_nodes VALUES (?1, ?2, ?3, 0)",
                rusqlite::params![key, id, entry.to_string()],
            )
            .expect("node");
        }
        for file in std::fs::read_dir(&sessions_dir).expect("sessions").filter_map(Result::ok) {
            let name = file.file_name().to_string_lossy().into_owned();
            let Some(id) = super::sessions::transcript_session_id(&name) else { continue };
            let key = index
                .iter()
                .find(|(_, e)| e["sessionId"] == id)
                .map_or_else(|| format!("archived:{id}"), |(k, _)| k.clone());
            conn.execute(
                "INSERT OR IGNORE INTO session_windows VALUES (?1, ?2, 0, 0)",
                rusqlite::params![id, key],
            )
            .expect("window");
            let text = std::fs::read_to_string(file.path()).expect("transcript");
            for (seq, line) in text.lines().enumerate() {
                conn.execute(
                    "INSERT INTO transcript_events VALUES (?1, ?2, ?3, 0)",
                    rusqlite::params![id, seq as i64 + 1, line],
                )
                .expect("event");
            }
            std::fs::remove_file(file.path()).expect("rm transcript");
        }
        std::fs::remove_file(sessions_dir.join("sessions.json")).expect("rm index");
    }
}

/// Rewrites a 2026.6 state database as 2026.8 and later keep it: `cron_jobs` with only the
/// JSON columns, the runs moved from `cron_run_logs` into `task_runs` with `detail_json`.
pub fn migrate_state_db_to_2026_8(db: &Path) {
    let conn = rusqlite::Connection::open(db).expect("db");
    conn.execute_batch(
        "BEGIN;
         CREATE TABLE cron_jobs_new (store_key TEXT NOT NULL, job_id TEXT NOT NULL, declaration_key TEXT,
           owner_agent_id TEXT, name TEXT NOT NULL, description TEXT, enabled INTEGER NOT NULL, agent_id TEXT,
           payload_kind TEXT NOT NULL, job_json TEXT NOT NULL, state_json TEXT NOT NULL DEFAULT '{}',
           runtime_updated_at_ms INTEGER, schedule_identity TEXT, sort_order INTEGER NOT NULL DEFAULT 0,
           updated_at INTEGER NOT NULL, PRIMARY KEY (store_key, job_id));
         INSERT INTO cron_jobs_new SELECT store_key, job_id, NULL, agent_id, name, description, enabled, agent_id,
           payload_kind, job_json, state_json, runtime_updated_at_ms, schedule_identity, sort_order, updated_at FROM cron_jobs;
         DROP TABLE cron_jobs;
         ALTER TABLE cron_jobs_new RENAME TO cron_jobs;
         ALTER TABLE task_runs ADD COLUMN detail_json TEXT;
         INSERT INTO task_runs (task_id, runtime, source_id, owner_key, scope_kind, child_session_key, run_id, task,
           status, delivery_status, notify_policy, created_at, started_at, ended_at, last_event_at, error,
           terminal_summary, detail_json)
         SELECT 'cron-runlog-import:' || job_id || ':' || ts || ':1', 'cron', job_id, '', 'system', session_key,
           'cron-runlog-import:' || job_id || ':' || ts || ':1', job_id,
           CASE status WHEN 'ok' THEN 'succeeded' ELSE 'failed' END, 'not_applicable', 'silent',
           COALESCE(run_at_ms, ts), run_at_ms, ts, ts, error, summary,
           json_set(json_remove(entry_json, '$.ts', '$.jobId', '$.action', '$.sessionKey'), '$.kind', 'cron-run',
             '$.storeKey', store_key)
         FROM cron_run_logs;
         DROP TABLE cron_run_logs;
         UPDATE schema_meta SET schema_version = 15, app_version = '2026.8.1';
         COMMIT;",
    )
    .expect("migrate");
}

/// A large home for load and incremental-read tests: `jobs` jobs running every `every_min`
/// minutes over `days` days, and one transcript of `messages` assistant messages. Returns
/// the expected (runs, assistant messages).
pub fn write_large_home(
    dir: &Path,
    jobs: usize,
    every_min: i64,
    days: i64,
    messages: usize,
) -> (usize, usize) {
    let start = day0(Layout::JsonInline);
    let mut list = Vec::new();
    let mut runs_total = 0;
    std::fs::create_dir_all(dir.join("cron/runs")).expect("mkdir");
    for n in 0..jobs {
        let id = uuid(&format!("large-{n}"));
        list.push(obj(vec![
            ("id", id.clone().into()),
            ("name", format!("Job {n}").into()),
            ("enabled", J::Bool(true)),
            ("createdAtMs", J::Int(ms(start))),
            (
                "schedule",
                obj(vec![
                    ("kind", "every".into()),
                    ("everyMs", J::Int(every_min * 60_000)),
                    ("anchorMs", J::Int(ms(start))),
                ]),
            ),
            ("payload", obj(vec![("kind", "systemEvent".into()), ("text", "tick".into())])),
            ("state", obj(vec![])),
        ]));
        let mut text = String::new();
        let mut t = start + TimeDelta::minutes(every_min);
        while t < start + TimeDelta::days(days) {
            let line = obj(vec![
                ("ts", J::Int(ms(t) + 1000)),
                ("jobId", id.clone().into()),
                ("action", "finished".into()),
                ("status", "ok".into()),
                ("runAtMs", J::Int(ms(t))),
                ("durationMs", J::Int(1000)),
            ]);
            text.push_str(&line.compact());
            text.push('\n');
            runs_total += 1;
            t += TimeDelta::minutes(every_min);
        }
        std::fs::write(dir.join(format!("cron/runs/{id}.jsonl")), text).expect("runs");
    }
    std::fs::write(
        dir.join("cron/jobs.json"),
        obj(vec![("version", J::Int(1)), ("jobs", J::Arr(list))]).pretty(),
    )
    .expect("jobs");
    let mut s = Scenario::new(Layout::JsonInline);
    let mut t = Transcript::new("large", start);
    for n in 0..messages {
        let at = start + TimeDelta::seconds(n as i64 * 10);
        t.user(at, "Next step?");
        let reply = Reply {
            provider: "anthropic",
            model: "claude-sonnet-4-5",
            text: "Done.",
            tokens: tokens(100, 10, 1000, 0),
            rates: None,
        };
        assistant(&mut t, &mut s, "main", at + TimeDelta::seconds(1), reply);
    }
    let path = dir.join("agents/main/sessions/large.jsonl");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let text: String = t.lines.iter().map(|l| l.compact() + "\n").collect();
    std::fs::write(path, text).expect("transcript");
    (runs_total, messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed fixtures are exactly what the generator writes
    /// (`MC_WRITE_FIXTURES=1` rewrites them).
    #[test]
    fn committed_fixtures_match_the_generator() {
        for layout in [Layout::JsonInline, Layout::JsonSplit, Layout::Sqlite] {
            let committed = fixtures_dir().join(fixture_name(layout));
            if std::env::var_os("MC_WRITE_FIXTURES").is_some() {
                let _ = std::fs::remove_dir_all(&committed);
                std::fs::create_dir_all(&committed).expect("mkdir");
                Scenario::new(layout).write(&committed);
            }
            let tmp = tempfile::tempdir().expect("tempdir");
            Scenario::new(layout).write(tmp.path());
            assert_eq!(
                checksums(&committed),
                checksums(tmp.path()),
                "{} drifted from the generator",
                fixture_name(layout)
            );
        }
    }

    #[test]
    fn json_renders_as_javascript_does() {
        let v = obj(vec![
            ("b", J::Int(1)),
            ("a", J::Arr(vec![J::Num(0.5), J::Null])),
            ("e", obj(vec![])),
            ("s", "x\"y".into()),
        ]);
        assert_eq!(v.compact(), r#"{"b":1,"a":[0.5,null],"e":{},"s":"x\"y"}"#);
        assert_eq!(
            v.pretty(),
            "{\n  \"b\": 1,\n  \"a\": [\n    0.5,\n    null\n  ],\n  \"e\": {},\n  \"s\": \"x\\\"y\"\n}"
        );
    }
}
