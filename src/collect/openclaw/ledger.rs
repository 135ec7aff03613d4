//! The schedule ledger: every time a job was expected to fire, and what happened then.
//!
//! OpenClaw's failures are silent: a run due while the gateway restarts is skipped (the job's
//! `nextRunAtMs` jumps to the following slot and no run line is written), a restart can fire a
//! job twice, a job whose `runningAtMs` stays set never fires again. None of that leaves an
//! error behind; only the expected fire times, laid next to the runs that did happen, show it.
//! [`ledger`] does that for one job, as a pure function of the job, its runs and the time.
//!
//! # Expected fire times, as OpenClaw computes them
//!
//! - `cron`: the expression's fire times in the job's `tz` (the gateway's zone when absent:
//!   the `default_tz` given here), through [`crate::schedule`] (a six-field expression whose
//!   seconds are `0` is read as five fields). Each fire is moved by a stable per-job offset:
//!   the first four bytes of SHA-256 of the job id, big-endian, modulo `staggerMs`; without
//!   `staggerMs`, a recurring top-of-the-hour expression (minute `0`, an hour field with `*`)
//!   gets a 5-minute window. A start anywhere in the window counts as on time.
//! - `every`: OpenClaw plans the next run `everyMs` after the last run *started*, and falls
//!   back to the grid `anchorMs + k * everyMs` (anchor: the creation time) when that is past.
//!   The ledger follows the same chain: after a run the next slot is that run's start plus the
//!   period; after a missed slot, the next grid point.
//! - `at`: the one instant, once.
//!
//! # Marks
//!
//! A slot owns the runs that started from a little before it (a quarter of the period, at
//! most an hour) up to a little before the next slot. Its first run marks it **early** (before
//! the window), **ran** (within the window plus two minutes of timer slack) or **late**
//! (later: a catch-up after a restart is late, not missed); every further run is a
//! **duplicate**. A slot without a run is **missed** once its deadline (the window's end plus
//! the routine's grace) has passed, **running** while a run that started in it is still in
//! flight, and **pending** before that. A job's own `lastRunAtMs` stands in for a run line the
//! ledger does not have.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::sha256;
use super::{Job, JobSchedule, Run, RunStatus, instant_ms};
use crate::condition::Value;
use crate::schedule::{Cron, Schedule};

/// How early a run may start and still count as on time (clock granularity).
const EARLY_TOLERANCE: TimeDelta = TimeDelta::seconds(10);
/// How late a run may start and still count as on time: the cron timer's slack.
const ON_TIME_TOLERANCE: TimeDelta = TimeDelta::minutes(2);
/// The widest early window before a slot.
const MAX_EARLY_SPAN: TimeDelta = TimeDelta::hours(1);
/// OpenClaw's default stagger window for recurring top-of-the-hour jobs.
const TOP_OF_HOUR_STAGGER_MS: i64 = 300_000;
/// How long a run marker may stay set when the job has no timeout: OpenClaw's own limit.
const STUCK_WITHOUT_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
/// Slots examined at most; a window holding more starts later.
const MAX_SLOTS: usize = 20_000;

/// What happened at one expected fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Ran,
    Late,
    Early,
    Missed,
    Running,
    Pending,
}

/// One expected fire time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slot {
    /// The fire time, stagger offset included.
    pub expected_at: DateTime<Utc>,
    /// After this, a slot without a run is missed.
    pub deadline: DateTime<Utc>,
    pub mark: Mark,
    /// When the slot's run started, and how it ended.
    pub started_at: Option<DateTime<Utc>>,
    pub status: Option<RunStatus>,
    /// Start times of further runs in the same slot.
    pub duplicates: Vec<DateTime<Utc>>,
}

/// The ledger of one job over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ledger {
    pub job_id: String,
    pub slots: Vec<Slot>,
    pub missed_runs: u32,
    /// Missed slots in a row, ending with the latest slot that is due.
    pub consecutive_missed: u32,
    pub duplicate_runs: u32,
    pub late_runs: u32,
    pub early_runs: u32,
    /// How long the current run has been in flight, when it has outlived the job's timeout
    /// (or two hours for a job without one).
    #[serde(with = "opt_duration")]
    pub stuck_for: Option<Duration>,
    /// How long the current run has been in flight.
    #[serde(with = "opt_duration")]
    pub running_for: Option<Duration>,
    /// The next fire time not yet settled, and its deadline.
    pub next_expected: Option<DateTime<Utc>>,
    pub next_deadline: Option<DateTime<Utc>>,
    /// Why no slots could be laid out (a disabled job, a schedule this reader cannot expand).
    pub note: Option<String>,
}

impl Ledger {
    /// The ledger's condition fields (SPEC section 4): `missed_runs`, `consecutive_missed`,
    /// `duplicate_runs`, `late_runs`, `early_runs`, `stuck_for`, `running_for`,
    /// `expected_at` and `deadline` (of the next unsettled slot).
    pub fn field(&self, name: &str) -> Value {
        let time = |t: Option<DateTime<Utc>>| {
            t.map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        };
        match name {
            "missed_runs" => Value::Number(f64::from(self.missed_runs)),
            "consecutive_missed" => Value::Number(f64::from(self.consecutive_missed)),
            "duplicate_runs" => Value::Number(f64::from(self.duplicate_runs)),
            "late_runs" => Value::Number(f64::from(self.late_runs)),
            "early_runs" => Value::Number(f64::from(self.early_runs)),
            "stuck_for" => self.stuck_for.map_or(Value::Null, Value::Duration),
            "running_for" => self.running_for.map_or(Value::Null, Value::Duration),
            "expected_at" => time(self.next_expected),
            "deadline" => time(self.next_deadline),
            _ => Value::Null,
        }
    }
}

/// Lays out the expected fire times of `job` in (`since`, `now`] and marks each with the
/// runs that started then. `runs` may be in any order and may include runs of other jobs;
/// `grace` is the routine's; `default_tz` is the gateway's zone, for cron jobs without `tz`.
pub fn ledger(
    job: &Job,
    runs: &[Run],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
    default_tz: Tz,
) -> Ledger {
    let running_for = job
        .state
        .running_at_ms
        .and_then(instant_ms)
        .filter(|t| *t <= now)
        .and_then(|t| (now - t).to_std().ok());
    let limit = job.run_timeout().unwrap_or(STUCK_WITHOUT_TIMEOUT);
    let mut ledger = Ledger {
        job_id: job.id.clone(),
        slots: Vec::new(),
        missed_runs: 0,
        consecutive_missed: 0,
        duplicate_runs: 0,
        late_runs: 0,
        early_runs: 0,
        stuck_for: running_for.filter(|r| *r > limit),
        running_for,
        next_expected: None,
        next_deadline: None,
        note: None,
    };
    if !job.enabled {
        ledger.note = Some("the job is disabled: no runs are expected".into());
        return ledger;
    }
    let grace = TimeDelta::from_std(grace).unwrap_or(TimeDelta::zero());
    let since = match job.created_at_ms.and_then(instant_ms) {
        Some(created) if created > since => created,
        _ => since,
    };
    // The starts the slots can use. A slot owns no run that started before its early window,
    // and the first slot comes after `since`: an older start matters only as the last one
    // before the window (an `every` chain continues from it), or as the job's own record of
    // its last run. The daemon lays every routine's ledger at each tick over a history of up
    // to 2,000 runs a job, so runs are sifted by time (kept in the run) before their job id
    // (a string elsewhere in memory) is compared, newest first, and only the starts kept
    // become instants.
    let representable = |ms: &i64| {
        (DateTime::<Utc>::MIN_UTC.timestamp_millis()..=DateTime::<Utc>::MAX_UTC.timestamp_millis())
            .contains(ms)
    };
    let keep_from = since.timestamp_millis() - (MAX_EARLY_SPAN + EARLY_TOLERANCE).num_milliseconds() - 1_000;
    let last = job.state.last_run_at_ms.filter(representable);
    let mut starts: Vec<(i64, Option<RunStatus>)> = Vec::new();
    let mut older: Option<i64> = None;
    let mut near_last = false;
    for r in runs.iter().rev() {
        let t = r.started_at_ms();
        let near = last.is_some_and(|l| (t - l).abs() <= 1_000);
        let wanted = t >= keep_from || near || older.is_none_or(|o| t > o);
        if !wanted || !representable(&t) || r.job_id != job.id {
            continue;
        }
        near_last |= near;
        if t >= keep_from {
            starts.push((t, r.status));
        } else if older.is_none_or(|o| t > o) {
            older = Some(t);
        }
    }
    // The job's own record of its last run stands in for a run line the ledger lacks.
    if let Some(last) = last
        && !near_last
        && job.state.running_at_ms != Some(last)
    {
        if last >= keep_from {
            starts.push((last, job.state.last_run_status));
        } else if older.is_none_or(|o| last > o) {
            older = Some(last);
        }
    }
    starts.reverse();
    starts.sort_by_key(|(t, _)| *t);
    // Only the time of the older start counts (where the chain continues), not its status.
    let starts: Vec<(DateTime<Utc>, Option<RunStatus>)> = older
        .map(|t| (t, None))
        .into_iter()
        .chain(starts)
        .filter_map(|(t, status)| Some((instant_ms(t)?, status)))
        .collect();
    let running_since = job.state.running_at_ms.and_then(instant_ms);

    let plan = match Plan::of(job, default_tz) {
        Ok(plan) => plan,
        Err(note) => {
            ledger.note = Some(note);
            return ledger;
        }
    };
    let mut slot = plan.first_after(since, &starts);
    let mut next_run = starts.partition_point(|(t, _)| *t < slot.as_ref().map_or(now, |s| s.owns_from));
    while let Some(s) = slot.take() {
        if ledger.slots.len() >= MAX_SLOTS {
            ledger.note = Some(format!("only the first {MAX_SLOTS} slots are examined"));
            break;
        }
        // The slot's runs: from its own start up to the next slot's, which for `every`
        // depends on this slot's first run.
        let first = starts.get(next_run).filter(|(t, _)| *t <= now).copied();
        let mut following = plan.after(&s, None);
        let first = first.filter(|(t, _)| following.as_ref().is_none_or(|n| *t < n.owns_from));
        if let Some((t, _)) = first {
            following = plan.after(&s, Some(t));
        }
        let owns_until = following
            .as_ref()
            .map_or(now + TimeDelta::seconds(1), |n| n.owns_from.min(now + TimeDelta::seconds(1)));
        let first_of_mine = next_run;
        while starts.get(next_run).is_some_and(|(t, _)| *t < owns_until) {
            next_run += 1;
        }
        let mine = &starts[first_of_mine..next_run];
        if s.expected_at > now && mine.is_empty() {
            ledger.next_expected.get_or_insert(s.expected_at);
            ledger.next_deadline.get_or_insert(s.deadline(grace));
            break;
        }
        let deadline = s.deadline(grace);
        let mark = match mine.first() {
            Some((t, _)) if *t < s.on_time_from => Mark::Early,
            Some((t, _)) if *t <= s.on_time_until + s.late_tolerance => Mark::Ran,
            Some(_) => Mark::Late,
            None if running_since.is_some_and(|r| r >= s.owns_from && r < owns_until) => Mark::Running,
            None if now > deadline => Mark::Missed,
            None => Mark::Pending,
        };
        match mark {
            Mark::Early => ledger.early_runs += 1,
            Mark::Late => ledger.late_runs += 1,
            Mark::Missed => ledger.missed_runs += 1,
            _ => {}
        }
        if matches!(mark, Mark::Pending | Mark::Running) {
            ledger.next_expected.get_or_insert(s.expected_at);
            ledger.next_deadline.get_or_insert(deadline);
        }
        let duplicates: Vec<DateTime<Utc>> = mine.iter().skip(1).map(|(t, _)| *t).collect();
        ledger.duplicate_runs += duplicates.len() as u32;
        ledger.slots.push(Slot {
            expected_at: s.expected_at,
            deadline,
            mark,
            started_at: mine.first().map(|(t, _)| *t),
            status: mine.first().and_then(|(_, st)| *st),
            duplicates,
        });
        slot = following;
    }
    ledger.consecutive_missed = ledger
        .slots
        .iter()
        .rev()
        .skip_while(|s| matches!(s.mark, Mark::Pending | Mark::Running))
        .take_while(|s| s.mark == Mark::Missed)
        .count() as u32;
    ledger
}

/// One expected fire time and the windows around it.
#[derive(Debug, Clone)]
struct PlannedSlot {
    /// The fire time without the stagger offset.
    base: DateTime<Utc>,
    expected_at: DateTime<Utc>,
    /// Runs from here on belong to this slot (until the next slot's `owns_from`).
    owns_from: DateTime<Utc>,
    /// A run starting in [on_time_from, on_time_until] is on time (plus timer slack).
    on_time_from: DateTime<Utc>,
    on_time_until: DateTime<Utc>,
    /// How late a run may start past `on_time_until` and still be on time.
    late_tolerance: TimeDelta,
}

impl PlannedSlot {
    fn deadline(&self, grace: TimeDelta) -> DateTime<Utc> {
        self.on_time_until + grace
    }
}

/// How a job's fire times are laid out.
enum Plan {
    Cron { schedule: Schedule, offset: TimeDelta, window: TimeDelta },
    Every { every: TimeDelta, anchor: DateTime<Utc> },
    At { at: DateTime<Utc> },
}

impl Plan {
    fn of(job: &Job, default_tz: Tz) -> Result<Plan, String> {
        match &job.schedule {
            JobSchedule::Cron { expr, tz, stagger_ms } => {
                let fields: Vec<&str> = expr.split_whitespace().collect();
                let five = match fields.as_slice() {
                    [sec, rest @ ..] if rest.len() == 5 && *sec == "0" => rest.join(" "),
                    _ => expr.clone(),
                };
                let cron = Cron::parse(&five).map_err(|e| format!("cannot expand the schedule: {e}"))?;
                let tz = match tz {
                    Some(name) => name.parse::<Tz>().map_err(|_| format!("unknown time zone {name:?}"))?,
                    None => default_tz,
                };
                let window_ms = stagger_ms.unwrap_or_else(|| {
                    let f: Vec<&str> = five.split_whitespace().collect();
                    if f.len() == 5 && f[0] == "0" && f[1].contains('*') { TOP_OF_HOUR_STAGGER_MS } else { 0 }
                });
                Ok(Plan::Cron {
                    schedule: Schedule::Cron { cron, tz },
                    offset: TimeDelta::milliseconds(stagger_offset_ms(&job.id, window_ms)),
                    window: TimeDelta::milliseconds(window_ms.max(0)),
                })
            }
            JobSchedule::Every { every_ms, anchor_ms } => {
                let anchor =
                    anchor_ms.or(job.created_at_ms).and_then(instant_ms).unwrap_or(DateTime::UNIX_EPOCH);
                Ok(Plan::Every { every: TimeDelta::milliseconds((*every_ms).max(1)), anchor })
            }
            JobSchedule::At { at_ms } => {
                instant_ms(*at_ms).map(|at| Plan::At { at }).ok_or_else(|| "`at` is out of range".to_string())
            }
            JobSchedule::Invalid { reason } => Err(format!("cannot expand the schedule: {reason}")),
        }
    }

    fn slot(&self, base: DateTime<Utc>, period: TimeDelta) -> PlannedSlot {
        let (offset, window) = match self {
            Plan::Cron { offset, window, .. } => (*offset, *window),
            _ => (TimeDelta::zero(), TimeDelta::zero()),
        };
        // Tolerances never exceed a fraction of the period, or a job every few seconds would
        // have slots that swallow their neighbours' runs.
        let early_tolerance = EARLY_TOLERANCE.min(period / 4);
        let early_span = (period / 4).clamp(early_tolerance, MAX_EARLY_SPAN);
        let on_time_from = base - early_tolerance;
        PlannedSlot {
            base,
            expected_at: base + offset,
            owns_from: on_time_from - early_span,
            on_time_from,
            on_time_until: base + window.max(offset),
            late_tolerance: ON_TIME_TOLERANCE.min(period / 2),
        }
    }

    /// The first slot after `since`.
    fn first_after(
        &self,
        since: DateTime<Utc>,
        starts: &[(DateTime<Utc>, Option<RunStatus>)],
    ) -> Option<PlannedSlot> {
        match self {
            Plan::Cron { schedule, .. } => {
                let base = schedule.next_after(since)?;
                Some(self.slot(base, self.period_after(base)))
            }
            Plan::Every { every, anchor } => {
                // The chain continues from the last run started before the window, if any.
                let last = starts.iter().rev().find(|(t, _)| *t <= since).map(|(t, _)| *t + *every);
                let grid = if since < *anchor {
                    *anchor
                } else {
                    let k = (since - *anchor).num_milliseconds() / every.num_milliseconds() + 1;
                    *anchor + TimeDelta::milliseconds(k.saturating_mul(every.num_milliseconds()))
                };
                let base = last.filter(|t| *t > since).unwrap_or(grid);
                Some(self.slot(base, *every))
            }
            Plan::At { at } => (*at > since).then(|| self.slot(*at, TimeDelta::hours(4))),
        }
    }

    /// The slot after `s`, given the start of `s`'s first run when it had one.
    fn after(&self, s: &PlannedSlot, run: Option<DateTime<Utc>>) -> Option<PlannedSlot> {
        match self {
            Plan::Cron { schedule, .. } => {
                let base = schedule.next_after(s.base)?;
                Some(self.slot(base, self.period_after(base)))
            }
            Plan::Every { every, .. } => Some(self.slot(run.unwrap_or(s.base) + *every, *every)),
            Plan::At { .. } => None,
        }
    }

    /// The gap before the fire after `base`, which sizes the early window of `base`'s
    /// successor; an estimate is enough.
    fn period_after(&self, base: DateTime<Utc>) -> TimeDelta {
        match self {
            Plan::Cron { schedule, .. } => {
                schedule.next_after(base).map_or(TimeDelta::hours(4), |n| n - base)
            }
            Plan::Every { every, .. } => *every,
            Plan::At { .. } => TimeDelta::hours(4),
        }
    }
}

/// OpenClaw's stable stagger offset of a job, in milliseconds.
pub fn stagger_offset_ms(job_id: &str, stagger_ms: i64) -> i64 {
    if stagger_ms <= 1 {
        return 0;
    }
    let d = sha256::digest(job_id.as_bytes());
    i64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]])) % stagger_ms
}

mod opt_duration {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&humantime::format_duration(Duration::from_secs(d.as_secs()))),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::openclaw::JobState;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
    }

    fn job(id: &str, schedule: JobSchedule) -> Job {
        Job {
            id: id.into(),
            agent_id: None,
            name: id.into(),
            enabled: true,
            schedule,
            state: JobState::default(),
            payload_kind: Some("agentTurn".into()),
            timeout_seconds: None,
            created_at_ms: None,
        }
    }

    fn cron(expr: &str, tz: &str) -> JobSchedule {
        JobSchedule::Cron { expr: expr.into(), tz: Some(tz.into()), stagger_ms: Some(0) }
    }

    fn run(job: &str, start: &str) -> Run {
        let s = at(start).timestamp_millis();
        Run {
            job_id: job.into(),
            finished_at_ms: s + 30_000,
            run_at_ms: Some(s),
            status: Some(RunStatus::Ok),
            error: None,
            summary: None,
            duration_ms: Some(30_000),
            next_run_at_ms: None,
            model: None,
            provider: None,
            usage: None,
            session_key: None,
        }
    }

    fn marks(l: &Ledger) -> Vec<(String, Mark, usize)> {
        l.slots
            .iter()
            .map(|s| (s.expected_at.format("%d %H:%M").to_string(), s.mark, s.duplicates.len()))
            .collect()
    }

    const FIVE: Duration = Duration::from_secs(300);

    #[test]
    fn daily_job_ran_late_missed_duplicate_early() {
        let j = job("daily", cron("0 7 * * *", "Europe/Berlin"));
        let runs = [
            run("daily", "2026-06-01T05:00:20Z"), // on time (07:00 CEST)
            run("daily", "2026-06-02T05:40:00Z"), // late: a catch-up after a restart
            // 3 June: skipped across a restart, nothing at all.
            run("daily", "2026-06-04T05:00:05Z"), // fired twice after a restart
            run("daily", "2026-06-04T05:00:09Z"),
            run("daily", "2026-06-05T04:30:00Z"), // half an hour early
            run("other", "2026-06-03T05:00:00Z"),
        ];
        let l =
            ledger(&j, &runs, at("2026-05-31T12:00:00Z"), at("2026-06-06T04:00:00Z"), FIVE, chrono_tz::UTC);
        assert_eq!(
            marks(&l),
            vec![
                ("01 05:00".into(), Mark::Ran, 0),
                ("02 05:00".into(), Mark::Late, 0),
                ("03 05:00".into(), Mark::Missed, 0),
                ("04 05:00".into(), Mark::Ran, 1),
                ("05 05:00".into(), Mark::Early, 0),
            ]
        );
        assert_eq!(
            (l.missed_runs, l.consecutive_missed, l.duplicate_runs, l.late_runs, l.early_runs),
            (1, 0, 1, 1, 1)
        );
        assert_eq!(l.next_expected, Some(at("2026-06-06T05:00:00Z")));
        assert_eq!(l.next_deadline, Some(at("2026-06-06T05:05:00Z")));
    }

    #[test]
    fn a_skipped_run_is_missed_one_tick_after_its_grace() {
        let j = job("hourly", cron("30 * * * *", "UTC"));
        let runs = [run("hourly", "2026-06-01T10:30:01Z")];
        let since = at("2026-06-01T10:00:00Z");
        let before = ledger(&j, &runs, since, at("2026-06-01T11:35:00Z"), FIVE, chrono_tz::UTC);
        assert_eq!(before.missed_runs, 0);
        assert_eq!(before.slots[1].mark, Mark::Pending);
        let after = ledger(&j, &runs, since, at("2026-06-01T11:35:01Z"), FIVE, chrono_tz::UTC);
        assert_eq!((after.missed_runs, after.consecutive_missed), (1, 1));
        let two = ledger(&j, &runs, since, at("2026-06-01T12:35:01Z"), FIVE, chrono_tz::UTC);
        assert_eq!((two.missed_runs, two.consecutive_missed), (2, 2));
    }

    #[test]
    fn top_of_hour_stagger() {
        // No staggerMs: a recurring top-of-hour job gets OpenClaw's 5-minute window.
        let j =
            job("hourly-report", JobSchedule::Cron { expr: "0 * * * *".into(), tz: None, stagger_ms: None });
        let offset = stagger_offset_ms("hourly-report", 300_000);
        assert!((0..300_000).contains(&offset));
        let start = at("2026-06-01T10:00:00Z") + TimeDelta::milliseconds(offset);
        let runs = [
            Run { run_at_ms: Some(start.timestamp_millis()), ..run("hourly-report", "2026-06-01T10:00:00Z") },
            run("hourly-report", "2026-06-01T11:04:50Z"),
        ];
        let l =
            ledger(&j, &runs, at("2026-06-01T09:30:00Z"), at("2026-06-01T11:30:00Z"), FIVE, chrono_tz::UTC);
        assert_eq!(l.slots.len(), 2);
        assert_eq!(l.slots[0].expected_at, start);
        assert_eq!(l.slots.iter().map(|s| s.mark).collect::<Vec<_>>(), vec![Mark::Ran, Mark::Ran]);
        // The deadline is the end of the window plus grace.
        assert_eq!(l.slots[0].deadline, at("2026-06-01T10:10:00Z"));
        // A known digest: the offset is the first four bytes of SHA-256("abc") mod the window.
        assert_eq!(stagger_offset_ms("abc", 1_000_000), i64::from(0xba7816bfu32) % 1_000_000);
        assert_eq!(stagger_offset_ms("abc", 1), 0);
    }

    #[test]
    fn every_follows_the_last_start() {
        let j = job(
            "sweep",
            JobSchedule::Every {
                every_ms: 15 * 60_000,
                anchor_ms: Some(at("2026-06-01T10:00:00Z").timestamp_millis()),
            },
        );
        let runs = [
            run("sweep", "2026-06-01T10:15:00Z"),
            run("sweep", "2026-06-01T10:32:00Z"), // late by two minutes: the chain moves
            // 10:47 missed
            run("sweep", "2026-06-01T11:02:00Z"),
            run("sweep", "2026-06-01T11:02:01Z"),
        ];
        let l = ledger(
            &j,
            &runs,
            at("2026-06-01T10:05:00Z"),
            at("2026-06-01T11:10:00Z"),
            Duration::from_secs(60),
            chrono_tz::UTC,
        );
        assert_eq!(
            marks(&l),
            vec![
                ("01 10:15".into(), Mark::Ran, 0),
                ("01 10:30".into(), Mark::Ran, 0),
                ("01 10:47".into(), Mark::Missed, 0),
                ("01 11:02".into(), Mark::Ran, 1),
            ]
        );
    }

    #[test]
    fn one_shot_disabled_unsupported_running_and_stuck() {
        let mut once = job("once", JobSchedule::At { at_ms: at("2026-06-01T09:00:00Z").timestamp_millis() });
        let l =
            ledger(&once, &[], at("2026-06-01T00:00:00Z"), at("2026-06-01T10:00:00Z"), FIVE, chrono_tz::UTC);
        assert_eq!(l.slots.iter().map(|s| s.mark).collect::<Vec<_>>(), vec![Mark::Missed]);
        // Its last run recorded only in its state counts.
        once.state.last_run_at_ms = Some(at("2026-06-01T09:00:01Z").timestamp_millis());
        let l =
            ledger(&once, &[], at("2026-06-01T00:00:00Z"), at("2026-06-01T10:00:00Z"), FIVE, chrono_tz::UTC);
        assert_eq!(l.slots[0].mark, Mark::Ran);

        let mut off = job("off", cron("0 7 * * *", "UTC"));
        off.enabled = false;
        assert!(
            ledger(&off, &[], at("2026-06-01T00:00:00Z"), at("2026-06-03T00:00:00Z"), FIVE, chrono_tz::UTC)
                .slots
                .is_empty()
        );
        let odd = job("odd", cron("0 0 L * *", "UTC"));
        let l =
            ledger(&odd, &[], at("2026-06-01T00:00:00Z"), at("2026-06-03T00:00:00Z"), FIVE, chrono_tz::UTC);
        assert!(l.note.is_some_and(|n| n.contains("cannot expand")));

        // Stuck: the marker has been set for longer than the agent turn's hour.
        let mut stuck = job("stuck", cron("*/30 * * * *", "UTC"));
        stuck.state.running_at_ms = Some(at("2026-06-01T10:00:02Z").timestamp_millis());
        let l =
            ledger(&stuck, &[], at("2026-06-01T09:45:00Z"), at("2026-06-01T10:50:00Z"), FIVE, chrono_tz::UTC);
        assert_eq!(l.slots[0].mark, Mark::Running);
        assert_eq!(l.stuck_for, None);
        let l =
            ledger(&stuck, &[], at("2026-06-01T09:45:00Z"), at("2026-06-01T11:10:00Z"), FIVE, chrono_tz::UTC);
        assert_eq!(l.stuck_for, Some(Duration::from_secs(69 * 60 + 58)));
        assert_eq!(l.field("stuck_for"), Value::Duration(Duration::from_secs(69 * 60 + 58)));
        // The slots after the stuck one are missed: the job never fires again.
        assert_eq!(
            l.slots.iter().map(|s| s.mark).collect::<Vec<_>>(),
            vec![Mark::Running, Mark::Missed, Mark::Missed]
        );
        assert_eq!(l.consecutive_missed, 2);
    }
}

#[cfg(test)]
mod every_gap {
    use super::*;
    use crate::collect::openclaw::JobState;

    #[test]
    fn an_every_job_that_stops_misses_only_the_slots_since() {
        let anchor = DateTime::parse_from_rfc3339("2026-12-02T09:00:00Z").expect("t").to_utc();
        let job = Job {
            id: "backup".into(),
            agent_id: None,
            name: "backup".into(),
            enabled: true,
            schedule: JobSchedule::Every { every_ms: 2000, anchor_ms: Some(anchor.timestamp_millis()) },
            state: JobState::default(),
            payload_kind: Some("systemEvent".into()),
            timeout_seconds: Some(60.0),
            created_at_ms: Some(anchor.timestamp_millis() - 3_600_000),
        };
        let runs: Vec<Run> = (0..3)
            .map(|i| {
                let at = anchor.timestamp_millis() + 100 + i * 2000;
                Run {
                    job_id: "backup".into(),
                    finished_at_ms: at + 50,
                    run_at_ms: Some(at),
                    status: Some(RunStatus::Ok),
                    error: None,
                    summary: None,
                    duration_ms: Some(50),
                    next_run_at_ms: None,
                    model: None,
                    provider: None,
                    usage: None,
                    session_key: None,
                }
            })
            .collect();
        let now = anchor + TimeDelta::seconds(20);
        let l = ledger(&job, &runs, now - TimeDelta::hours(24), now, Duration::from_secs(2), chrono_tz::UTC);
        assert_eq!((l.missed_runs, l.consecutive_missed, l.slots.len()), (6, 6, 10), "{:?}", l.slots);
    }
}
