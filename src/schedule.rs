//! Schedule math: when a routine or output is expected to run, and where it stands at an instant.
//!
//! A [`Schedule`] is either a standard 5-field crontab evaluated in an IANA time zone or a fixed
//! period. croner parses the crontab fields (in its strict mode, after we have checked the text
//! against Vixie cron's grammar ourselves); the fire times are computed here, because croner's
//! defaults differ from the contract in ways that matter: it treats only an exact `*` as an
//! unrestricted day field, skips runs that fall into a DST gap for anything but single-time
//! jobs, and accepts Quartz extensions (`L`, `W`, `#`, `?`).
//!
//! # Wall-clock semantics
//!
//! A cron job names wall-clock minutes. Time is walked in UTC, span by span, where a span is a
//! stretch over which the zone's offset does not change; each span shows a range of wall-clock
//! times, and the walk remembers the latest wall-clock time shown so far (its *reach*).
//!
//! * A matching minute fires when the wall clock first shows it.
//! * **Gap** (clocks spring forward): matching minutes that the clock skips fire at the first
//!   instant after the gap (02:30 Europe/Berlin on 2026-03-29 fires at 03:00 CEST, 01:00 UTC).
//!   A run landing on an instant that already fires is not doubled.
//! * **Fold** (clocks fall back): the clock shows a range of minutes a second time. As in Vixie
//!   cron, a *fixed-time* job does not run again then (02:00 or 02:30 daily fires once, at the
//!   first occurrence), while a *wildcard* job (its minute or hour field starts with `*`, such
//!   as `0 * * * *` or `*/15 * * * *`) runs on both, so it keeps firing every real hour or
//!   quarter hour.
//!
//! Day-of-month and day-of-week combine as in Vixie cron: with OR when both are restricted, and
//! with AND when either field starts with `*` (so a plain `*` simply leaves the other field to
//! decide, and `*/2` in one field narrows the other).

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

const MINUTE: i64 = 60;
const DAY: i64 = 86_400;
/// How far ahead (or back) a fire time is looked for before a schedule counts as never firing.
const HORIZON: i64 = 1_830 * DAY;
/// How far before the first instant of interest the span walk starts, so that the wall-clock
/// reach is right by the time it matters. In the tz database shipped with chrono-tz 0.10 no
/// offset change is larger than 24 hours and no two changes since 1900 are closer than a week,
/// so anything shown more than two days earlier is below every wall-clock time still to come.
const LOOKBACK: i64 = 2 * DAY;
/// Missed runs are counted up to this many; beyond it the exact number tells nobody anything.
const MAX_MISSED_RUNS: usize = 1_000;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum CronError {
    #[error("cron needs 5 fields (minute hour day-of-month month day-of-week), found {0}")]
    FieldCount(usize),
    #[error("invalid cron expression: {0}")]
    Invalid(String),
}

/// A parsed standard 5-field crontab expression; it keeps its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    source: String,
    /// Bit `m` set when minute `m` (0-59) matches.
    minutes: u64,
    /// Bit `h` set when hour `h` (0-23) matches.
    hours: u32,
    /// Bit `d` set when day of month `d` (1-31) matches.
    days_of_month: u32,
    /// Bit `m` set when month `m` (1-12) matches.
    months: u16,
    /// Bit `w` set when weekday `w` (0 Sunday - 6 Saturday) matches.
    days_of_week: u8,
    /// Vixie cron's DOM_STAR / DOW_STAR: the field starts with `*`.
    dom_star: bool,
    dow_star: bool,
    /// Vixie cron's wildcard job: its minute or hour field starts with `*`, so it runs again
    /// when a fold repeats wall-clock minutes.
    repeats_in_fold: bool,
}

/// What one crontab field accepts.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names, the first standing for `min`.
    names: &'static [&'static str],
}

const FIELDS: [FieldSpec; 5] = [
    FieldSpec { name: "minute", min: 0, max: 59, names: &[] },
    FieldSpec { name: "hour", min: 0, max: 23, names: &[] },
    FieldSpec { name: "day-of-month", min: 1, max: 31, names: &[] },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    },
    FieldSpec {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    },
];

impl Cron {
    /// Parses standard 5-field crontab. Six- or seven-field forms (seconds, years) are rejected with FieldCount.
    /// Nicknames @hourly @daily @midnight @weekly @monthly @yearly @annually are accepted; @reboot is rejected.
    /// `1-5` in day-of-week is Monday..Friday; 0 and 7 are Sunday; names (MON, jan) accepted.
    /// Day-of-month and day-of-week combine with OR when both are restricted (Vixie cron); when either is `*`, only the other applies.
    /// (Precisely as Vixie cron: a day field that starts with `*`, such as `*/2`, makes the two combine with AND.)
    ///
    /// Quartz and croner extensions (`L`, `W`, `#`, `?`, a `+` prefix, `5/10` steps) are not
    /// standard crontab and are rejected, as is an expression that can never fire (`0 0 30 2 *`).
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let tokens: Vec<&str> = expr.split_whitespace().collect();
        let expanded;
        let fields: Vec<&str> = match tokens[..] {
            [only] if only.starts_with('@') => {
                expanded = expand_nickname(only)?;
                expanded.split_whitespace().collect()
            }
            _ if tokens.iter().any(|t| t.starts_with('@')) => {
                return Err(CronError::Invalid(format!(
                    "`{}`: a nickname such as @daily stands alone, without other fields",
                    expr.trim()
                )));
            }
            _ => tokens,
        };
        if fields.len() != 5 {
            return Err(CronError::FieldCount(fields.len()));
        }

        let mut normalised = Vec::with_capacity(5);
        for (spec, text) in FIELDS.iter().zip(&fields) {
            normalised.push(normalise_field(spec, text)?);
        }
        let normalised = normalised.join(" ");

        // Strict croner: exactly five fields, no seconds or years, no sloppy `5/10` steps, and
        // day fields combined with OR; the Vixie star rule is applied by `day_matches` below.
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .dom_and_dow(false)
            .alternative_weekdays(false)
            .sloppy_ranges(false)
            .build();
        let parsed =
            parser.parse(&normalised).map_err(|e| CronError::Invalid(format!("`{}`: {e}", expr.trim())))?;
        let pattern = &parsed.pattern;
        let bits = |values: Vec<u16>| values.into_iter().fold(0u64, |acc, v| acc | (1u64 << v));
        let dow_bits = bits(pattern.days_of_week.values());
        let cron = Cron {
            source: expr.trim().to_string(),
            minutes: bits(pattern.minutes.values()),
            hours: bits(pattern.hours.values()) as u32,
            days_of_month: bits(pattern.days.values()) as u32,
            months: bits(pattern.months.values()) as u16,
            // croner already folds 7 into 0; folding again costs nothing and does not rely on it.
            days_of_week: ((dow_bits | (dow_bits >> 7)) & 0x7f) as u8,
            dom_star: fields[2].starts_with('*'),
            dow_star: fields[4].starts_with('*'),
            repeats_in_fold: fields[0].starts_with('*') || fields[1].starts_with('*'),
        };
        if cron.minutes == 0 || cron.hours == 0 || cron.months == 0 || cron.days_of_week == 0 {
            return Err(CronError::Invalid(format!("`{}` matches no time at all", expr.trim())));
        }
        if !cron.can_fire() {
            return Err(CronError::Invalid(format!(
                "`{}` never fires: none of its months has any of its days of the month",
                expr.trim()
            )));
        }
        Ok(cron)
    }

    /// The expression as written (surrounding whitespace removed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first fire time strictly after `after`, evaluated in `tz`, returned in UTC.
    /// DST gap (spring forward): a local fire time that does not exist fires at the first valid instant after the gap
    /// (e.g. 02:30 Europe/Berlin on 2026-03-29 fires at 03:00 local = 01:00 UTC). DST fold (fall back): a local time that
    /// occurs twice fires once, at its first occurrence (wildcard jobs fire at both, see the module docs).
    /// Returns None only if no fire time exists within ~5 years.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let after = after.timestamp();
        let mut found = None;
        self.fires_forward(tz, after, after.saturating_add(HORIZON), |t| {
            found = Some(t);
            ControlFlow::Break(())
        });
        found.and_then(instant)
    }

    /// The latest fire time at or before `at` (same DST rules), or None within ~5 years.
    pub fn latest_at_or_before(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let at = at.timestamp();
        // Most schedules fire daily or more often; widen the window only when they do not.
        for window in [2 * DAY, 64 * DAY, HORIZON] {
            let floor = at.saturating_sub(window);
            let mut latest = None;
            walk_spans(tz, floor.saturating_sub(LOOKBACK), at, |span, reach| {
                if let Some(t) = self.last_fire_in(span, reach, floor, at) {
                    latest = Some(t);
                }
                ControlFlow::Continue(())
            });
            if let Some(t) = latest {
                return instant(t);
            }
        }
        None
    }

    /// Hands every fire time in (`after`, `until`] (Unix seconds) to `visit`, in order, until
    /// `visit` breaks.
    fn fires_forward(&self, tz: Tz, after: i64, until: i64, mut visit: impl FnMut(i64) -> ControlFlow<()>) {
        let mut last = i64::MIN;
        walk_spans(tz, after.saturating_sub(LOOKBACK), until, |span, reach| {
            if span.start > after
                && span.start <= until
                && let Some(reach) = reach
                && self.skipped_match(span, reach)
                && span.start > last
            {
                last = span.start;
                visit(span.start)?;
            }
            let mut from = span.local_start().max(after.saturating_add(span.offset).saturating_add(1));
            if !self.repeats_in_fold
                && let Some(reach) = reach
            {
                from = from.max(reach);
            }
            // A minute L fires at L - offset, which must not pass `until`.
            let limit = span.local_end().min(until.saturating_add(span.offset).saturating_add(1));
            let mut cursor = ceil_minute(from);
            while let Some(local) = self.next_local(cursor, limit) {
                let t = local - span.offset;
                if t > last {
                    last = t;
                    visit(t)?;
                }
                cursor = local + MINUTE;
            }
            ControlFlow::Continue(())
        });
    }

    /// The latest fire time within `span` that lies in (`floor`, `at`].
    fn last_fire_in(&self, span: Span, reach: Option<i64>, floor: i64, at: i64) -> Option<i64> {
        let mut lowest = span.local_start().max(floor.saturating_add(span.offset).saturating_add(1));
        if !self.repeats_in_fold
            && let Some(reach) = reach
        {
            lowest = lowest.max(reach);
        }
        let highest = (span.local_end() - 1).min(at.saturating_add(span.offset));
        if let Some(local) = self.prev_local(highest, lowest) {
            return Some(local - span.offset);
        }
        let gap_fires = span.start > floor
            && span.start <= at
            && reach.is_some_and(|reach| self.skipped_match(span, reach));
        gap_fires.then_some(span.start)
    }

    /// Whether the clock, arriving at `span` with `reach`, jumped over a matching minute.
    fn skipped_match(&self, span: Span, reach: i64) -> bool {
        span.local_start() > reach && self.next_local(reach, span.local_start()).is_some()
    }

    /// The first matching wall-clock minute at or after `from` and before `limit` (local
    /// seconds, the wall clock read as if it were UTC).
    fn next_local(&self, from: i64, limit: i64) -> Option<i64> {
        let from = ceil_minute(from);
        if from >= limit {
            return None;
        }
        let start = DateTime::from_timestamp(from, 0)?.naive_utc();
        let mut date = start.date();
        let mut minute = start.hour() * 60 + start.minute();
        loop {
            let day_start = date.and_time(NaiveTime::MIN).and_utc().timestamp();
            if day_start >= limit {
                return None;
            }
            if self.months >> date.month() & 1 == 0 {
                // A month the schedule leaves out is passed over whole.
                date = first_of_next_month(date)?;
                minute = 0;
                continue;
            }
            if self.dom_star || self.dow_star {
                // The day of the month must match: go straight to the next one that does.
                let later = self.days_of_month & (!0u32 << date.day());
                match date.with_day(later.trailing_zeros()) {
                    Some(day) if later != 0 => {
                        if day != date {
                            (date, minute) = (day, 0);
                            continue;
                        }
                    }
                    _ => {
                        (date, minute) = (first_of_next_month(date)?, 0);
                        continue;
                    }
                }
            }
            if self.day_matches(date)
                && let Some(m) = self.next_minute_of_day(minute)
            {
                let local = day_start + i64::from(m) * MINUTE;
                return (local < limit).then_some(local);
            }
            date = date.succ_opt()?;
            minute = 0;
        }
    }

    /// The last matching wall-clock minute at or before `to` and at or after `lowest`.
    fn prev_local(&self, to: i64, lowest: i64) -> Option<i64> {
        let to = floor_minute(to);
        if to < lowest {
            return None;
        }
        let end = DateTime::from_timestamp(to, 0)?.naive_utc();
        let mut date = end.date();
        let mut minute = end.hour() * 60 + end.minute();
        loop {
            let day_start = date.and_time(NaiveTime::MIN).and_utc().timestamp();
            if day_start + DAY <= lowest {
                return None;
            }
            if self.months >> date.month() & 1 == 0 {
                // A month the schedule leaves out is passed over whole.
                date = date.with_day(1)?.pred_opt()?;
                minute = 24 * 60 - 1;
                continue;
            }
            if self.dom_star || self.dow_star {
                // The day of the month must match: go straight back to the last one that does.
                let earlier = self.days_of_month & (u32::MAX >> (31 - date.day()));
                if earlier <= 1 {
                    (date, minute) = (date.with_day(1)?.pred_opt()?, 24 * 60 - 1);
                    continue;
                }
                let day = date.with_day(31 - earlier.leading_zeros())?;
                if day != date {
                    (date, minute) = (day, 24 * 60 - 1);
                    continue;
                }
            }
            if self.day_matches(date)
                && let Some(m) = self.prev_minute_of_day(minute)
            {
                let local = day_start + i64::from(m) * MINUTE;
                return (local >= lowest).then_some(local);
            }
            date = date.pred_opt()?;
            minute = 24 * 60 - 1;
        }
    }

    fn next_minute_of_day(&self, start: u32) -> Option<u32> {
        let (first_hour, first_minute) = (start / 60, start % 60);
        (first_hour..24).filter(|h| self.hours >> h & 1 == 1).find_map(|h| {
            let mask = if h == first_hour { self.minutes & (!0u64 << first_minute) } else { self.minutes };
            (mask != 0).then(|| h * 60 + mask.trailing_zeros())
        })
    }

    fn prev_minute_of_day(&self, end: u32) -> Option<u32> {
        let (last_hour, last_minute) = (end / 60, end % 60);
        (0..=last_hour.min(23)).rev().filter(|h| self.hours >> h & 1 == 1).find_map(|h| {
            let mask =
                if h == last_hour { self.minutes & ((1u64 << (last_minute + 1)) - 1) } else { self.minutes };
            (mask != 0).then(|| h * 60 + 63 - mask.leading_zeros())
        })
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if self.months >> date.month() & 1 == 0 {
            return false;
        }
        let dom = self.days_of_month >> date.day() & 1 == 1;
        let dow = self.days_of_week >> date.weekday().num_days_from_sunday() & 1 == 1;
        if self.dom_star || self.dow_star { dom && dow } else { dom || dow }
    }

    /// Whether some calendar day can match. With OR semantics the weekday always comes round;
    /// with AND every month-day pair that exists falls on every weekday over the years.
    fn can_fire(&self) -> bool {
        if !(self.dom_star || self.dow_star) {
            return true;
        }
        const DAYS_IN_MONTH: [u32; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        (1..=12u32)
            .filter(|m| self.months >> m & 1 == 1)
            .any(|m| self.days_of_month & (((1u64 << (DAYS_IN_MONTH[m as usize] + 1)) - 2) as u32) != 0)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn expand_nickname(nickname: &str) -> Result<String, CronError> {
    let fields = match nickname.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@reboot" => {
            return Err(CronError::Invalid(
                "@reboot runs at boot, not on a schedule; give the times as 5 fields".to_string(),
            ));
        }
        _ => {
            return Err(CronError::Invalid(format!(
                "unknown nickname `{nickname}` (known: @hourly @daily @midnight @weekly @monthly @yearly @annually)"
            )));
        }
    };
    Ok(fields.to_string())
}

/// Checks one field against Vixie cron's grammar (`*`, numbers, names, `a-b`, `*/n`, `a-b/n`,
/// lists) and rewrites names as numbers, so croner sees plain numeric syntax.
fn normalise_field(spec: &FieldSpec, text: &str) -> Result<String, CronError> {
    let invalid = |detail: String| CronError::Invalid(format!("{} field `{text}`: {detail}", spec.name));
    let mut items = Vec::new();
    for item in text.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        let base = if base == "*" {
            base.to_string()
        } else {
            let (low, high) = match base.split_once('-') {
                Some((low, high)) => (low, Some(high)),
                None => (base, None),
            };
            let low_value = field_value(spec, low, false).map_err(invalid)?;
            match high {
                None => {
                    if step.is_some() {
                        return Err(invalid(format!(
                            "a step needs `*` or a range before it, such as `*/{0}` or `{low}-{1}/{0}`",
                            step.unwrap_or_default(),
                            spec.max
                        )));
                    }
                    low_value.to_string()
                }
                Some(high) => {
                    let high_value = field_value(spec, high, true).map_err(invalid)?;
                    if high_value < low_value {
                        return Err(invalid(format!("the range {low}-{high} runs backwards")));
                    }
                    format!("{low_value}-{high_value}")
                }
            }
        };
        let item = match step {
            None => base,
            Some(step) => match step.parse::<u32>() {
                Ok(n) if n >= 1 => format!("{base}/{n}"),
                _ => {
                    return Err(invalid(format!("the step `{step}` must be a whole number of at least 1")));
                }
            },
        };
        items.push(item);
    }
    Ok(items.join(","))
}

/// One number or name of a field. A name at the end of a range may stand for the field's top
/// value (`FRI-SUN` is 5-7).
fn field_value(spec: &FieldSpec, token: &str, range_end: bool) -> Result<u32, String> {
    if token.is_empty() {
        return Err("a number is missing".to_string());
    }
    if let Some(bad) = token.chars().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{bad}` is not standard crontab syntax (use numbers, names, `*`, `,`, `-` and `/`)"
        ));
    }
    if token.chars().all(|c| c.is_ascii_digit()) {
        return match token.parse::<u32>() {
            Ok(n) if (spec.min..=spec.max).contains(&n) => Ok(n),
            _ => Err(format!("{token} is out of range ({}-{})", spec.min, spec.max)),
        };
    }
    let upper = token.to_ascii_uppercase();
    match spec.names.iter().position(|name| *name == upper) {
        Some(0) if range_end && spec.max == 7 => Ok(7),
        Some(i) => Ok(spec.min + i as u32),
        None if spec.names.is_empty() => Err(format!(
            "`{token}` is not a number (Quartz extensions such as L, W and # are not standard crontab)"
        )),
        None => Err(format!(
            "unknown name `{token}` (use {}..{} or numbers)",
            spec.names[0],
            spec.names[spec.names.len() - 1]
        )),
    }
}

/// A stretch of UTC time, [start, end) in Unix seconds, over which the zone's offset is constant.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: i64,
    end: i64,
    offset: i64,
}

impl Span {
    fn local_start(&self) -> i64 {
        self.start + self.offset
    }
    fn local_end(&self) -> i64 {
        self.end + self.offset
    }
}

fn offset_at(tz: Tz, t: i64) -> Option<i64> {
    let utc = DateTime::from_timestamp(t, 0)?.naive_utc();
    Some(i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()))
}

/// The span starting at `start`: until the zone's next offset change, or at most to the end
/// of `start`'s year (UTC), where the next span goes on with the same offset.
fn span_from(tz: Tz, start: i64) -> Option<Span> {
    let year = DateTime::from_timestamp(start, 0)?.year();
    let changes = offset_changes(tz, year)?;
    let next = changes.changes.partition_point(|&(at, _)| at <= start);
    let offset = if next == 0 { changes.first } else { changes.changes[next - 1].1 };
    let end = changes.changes.get(next).map_or(changes.end, |&(at, _)| at);
    Some(Span { start, end, offset })
}

/// The offset changes of one zone within one calendar year (UTC).
#[derive(Debug)]
struct OffsetChanges {
    /// The offset at the start of the year.
    first: i64,
    /// Each change: its instant and the offset from then on, in order.
    changes: Vec<(i64, i64)>,
    /// The start of the next year.
    end: i64,
}

/// The offset changes of `tz` in `year`, found once and kept: chrono-tz does not expose its
/// transition table, so the offset is probed at every midnight of the year and each change is
/// bisected to the second (a change and its reversal never sit within one day, see
/// `LOOKBACK`, so none is missed). Kept per zone and year, a schedule walks from one change to
/// the next instead of probing the zone day by day at every evaluation.
fn offset_changes(tz: Tz, year: i32) -> Option<Arc<OffsetChanges>> {
    type Cache = RwLock<HashMap<(Tz, i32), Arc<OffsetChanges>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    /// Zones times years kept at most (a few hundred bytes each); past it the cache starts over.
    const MAX_KEPT: usize = 4096;
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(found) = cache.read().unwrap_or_else(PoisonError::into_inner).get(&(tz, year)) {
        return Some(found.clone());
    }
    let start = NaiveDate::from_ymd_opt(year, 1, 1)?.and_time(NaiveTime::MIN).and_utc().timestamp();
    let end =
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?.and_time(NaiveTime::MIN).and_utc().timestamp();
    let first = offset_at(tz, start)?;
    let mut changes = Vec::new();
    let (mut at, mut offset) = (start, first);
    while at < end {
        let probe = (at + DAY).min(end);
        let probed = offset_at(tz, probe)?;
        if probed != offset {
            let (mut same, mut changed) = (at, probe);
            while changed - same > 1 {
                let mid = same + (changed - same) / 2;
                if offset_at(tz, mid)? == offset {
                    same = mid;
                } else {
                    changed = mid;
                }
            }
            let after = offset_at(tz, changed)?;
            changes.push((changed, after));
            offset = after;
        }
        at = probe;
    }
    let found = Arc::new(OffsetChanges { first, changes, end });
    let mut kept = cache.write().unwrap_or_else(PoisonError::into_inner);
    if kept.len() >= MAX_KEPT {
        kept.clear();
    }
    kept.insert((tz, year), found.clone());
    Some(found)
}

/// Walks spans from `from` while they start at or before `until`, handing each to `f` with
/// the wall-clock reach so far: the least local time the clock has not yet shown.
fn walk_spans(tz: Tz, from: i64, until: i64, mut f: impl FnMut(Span, Option<i64>) -> ControlFlow<()>) {
    let mut reach: Option<i64> = None;
    let mut t = from;
    while t <= until {
        let Some(span) = span_from(tz, t) else { return };
        if f(span, reach).is_break() {
            return;
        }
        reach = Some(reach.map_or(span.local_end(), |r| r.max(span.local_end())));
        t = span.end;
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (year, month) =
        if date.month() == 12 { (date.year().checked_add(1)?, 1) } else { (date.year(), date.month() + 1) };
    NaiveDate::from_ymd_opt(year, month, 1)
}

fn ceil_minute(t: i64) -> i64 {
    t.saturating_add((MINUTE - t.rem_euclid(MINUTE)) % MINUTE)
}

fn floor_minute(t: i64) -> i64 {
    t - t.rem_euclid(MINUTE)
}

fn instant(t: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t, 0)
}

/// When a routine or output is expected to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Cron { cron: Cron, tz: Tz },
    Every(Duration),
}

impl Schedule {
    /// The next expected run strictly after `t` (for Every: t + period; a zero period never runs).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron { cron, tz } => cron.next_after(t, *tz),
            Schedule::Every(period) => t.checked_add_signed(positive_delta(*period)?),
        }
    }

    /// Fire times in (from, to], at most `limit` of them (for counting missed runs cheaply). For Every, the runs are from + k*period.
    pub fn fires_between(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: usize) -> Vec<DateTime<Utc>> {
        let mut fires = Vec::new();
        if limit == 0 || to <= from {
            return fires;
        }
        match self {
            Schedule::Cron { cron, tz } => {
                cron.fires_forward(*tz, from.timestamp(), to.timestamp(), |t| {
                    fires.extend(instant(t));
                    if fires.len() >= limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                });
            }
            Schedule::Every(period) => {
                let Some(period) = positive_delta(*period) else {
                    return fires;
                };
                let mut t = from.checked_add_signed(period);
                while let Some(run) = t.filter(|run| *run <= to && fires.len() < limit) {
                    fires.push(run);
                    t = run.checked_add_signed(period);
                }
            }
        }
        fires
    }
}

fn positive_delta(period: Duration) -> Option<TimeDelta> {
    TimeDelta::from_std(period).ok().filter(|d| *d > TimeDelta::zero())
}

/// Where a routine stands at instant `now`, the pure core of staleness. `anchor` is the last success signal, or, when there
/// never was one, the instant the routine was first seen (so a routine that never pings goes stale after its first expected
/// run + grace, not never).
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// Next expected run after anchor.
    pub expected_at: DateTime<Utc>,
    /// expected_at + grace.
    pub deadline: DateTime<Utc>,
    /// expected_at < now <= deadline.
    pub late: bool,
    /// now > deadline.
    pub overdue: bool,
    /// Expected runs after anchor whose own deadline (run + grace) has passed by now, capped at 1000.
    pub missed_runs: u32,
}

/// The expectation for a routine anchored at `anchor`, or None when its schedule never fires
/// again (within ~5 years) or the times overflow.
pub fn expectation(
    schedule: &Schedule,
    anchor: DateTime<Utc>,
    grace: Duration,
    now: DateTime<Utc>,
) -> Option<Expectation> {
    let expected_at = schedule.next_after(anchor)?;
    let grace = TimeDelta::from_std(grace).ok()?;
    let deadline = expected_at.checked_add_signed(grace)?;
    let overdue = now > deadline;
    // Runs are in order, so only an overdue first run can be followed by other missed ones.
    let missed_runs = if overdue {
        let cutoff = now.checked_sub_signed(grace)?;
        schedule
            .fires_between(anchor, cutoff, MAX_MISSED_RUNS + 1)
            .into_iter()
            .filter(|run| *run + grace < now)
            .count()
            .min(MAX_MISSED_RUNS) as u32
    } else {
        0
    };
    Some(Expectation { expected_at, deadline, late: expected_at < now && !overdue, overdue, missed_runs })
}

/// Parses an IANA time zone name, suggesting the closest known name for a typo.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    let wanted = name.to_ascii_lowercase();
    let closest = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| (edit_distance(&wanted, &tz.name().to_ascii_lowercase()), tz.name()))
        .min();
    match closest {
        Some((distance, suggestion)) if distance <= 3 => {
            Err(format!("unknown time zone \"{name}\" (did you mean \"{suggestion}\"?)"))
        }
        _ => Err(format!(
            "unknown time zone \"{name}\" (use an IANA name such as \"Europe/Berlin\" or \"UTC\")"
        )),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Australia::Lord_Howe;
    use chrono_tz::Europe::Berlin;
    use chrono_tz::Pacific::Apia;
    use chrono_tz::UTC;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("test instant").with_timezone(&Utc)
    }

    fn cron(expr: &str) -> Cron {
        Cron::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    /// The parsed meaning of an expression, without its source text.
    fn meaning(c: &Cron) -> (u64, u32, u32, u16, u8, bool, bool, bool) {
        (
            c.minutes,
            c.hours,
            c.days_of_month,
            c.months,
            c.days_of_week,
            c.dom_star,
            c.dow_star,
            c.repeats_in_fold,
        )
    }

    #[test]
    fn field_count_is_checked() {
        for (expr, found) in [
            ("* * * * * *", 6),
            ("0 0 12 * * ? 2026", 7),
            ("0 30 9 * * 1-5", 6),
            ("* * * *", 4),
            ("", 0),
            ("   ", 0),
        ] {
            assert_eq!(Cron::parse(expr).unwrap_err(), CronError::FieldCount(found), "{expr:?}");
        }
        assert_eq!(
            CronError::FieldCount(6).to_string(),
            "cron needs 5 fields (minute hour day-of-month month day-of-week), found 6"
        );
    }

    #[test]
    fn invalid_expressions_are_explained() {
        for (expr, needle) in [
            ("61 * * * *", "minute field `61`: 61 is out of range (0-59)"),
            ("* 24 * * *", "hour field `24`: 24 is out of range (0-23)"),
            ("* * 0 * *", "day-of-month field `0`: 0 is out of range (1-31)"),
            ("* * * 13 *", "month field `13`: 13 is out of range (1-12)"),
            ("* * * * 8", "day-of-week field `8`: 8 is out of range (0-7)"),
            ("*/0 * * * *", "the step `0` must be a whole number of at least 1"),
            ("5-1 * * * *", "the range 5-1 runs backwards"),
            ("5/10 * * * *", "a step needs `*` or a range before it"),
            ("1,,2 * * * *", "a number is missing"),
            ("* * L * *", "Quartz extensions"),
            ("* * 15W * *", "Quartz extensions"),
            ("* * * * 5#2", "`#` is not standard crontab syntax"),
            ("* * ? * *", "`?` is not standard crontab syntax"),
            ("* * * * +1", "`+` is not standard crontab syntax"),
            ("* * * * 5L", "unknown name `5L`"),
            ("0 0 * MON *", "unknown name `MON` (use JAN..DEC or numbers)"),
            ("0 0 * * JAN", "unknown name `JAN` (use SUN..SAT or numbers)"),
            ("@reboot", "@reboot runs at boot"),
            ("@fortnightly", "unknown nickname `@fortnightly`"),
            ("@daily 5", "stands alone"),
            ("0 0 30 2 *", "never fires"),
            ("0 0 31 4,6,9,11 *", "never fires"),
        ] {
            match Cron::parse(expr) {
                Err(e @ CronError::Invalid(_)) => {
                    let message = e.to_string();
                    assert!(message.starts_with("invalid cron expression: "), "{expr}: {message}");
                    assert!(message.contains(needle), "{expr}: {message}");
                }
                other => panic!("{expr}: expected an invalid-expression error, got {other:?}"),
            }
        }
    }

    #[test]
    fn equivalent_spellings_mean_the_same() {
        for (a, b) in [
            ("@hourly", "0 * * * *"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@weekly", "0 0 * * 0"),
            ("@monthly", "0 0 1 * *"),
            ("@yearly", "0 0 1 1 *"),
            ("@ANNUALLY", "0 0 1 1 *"),
            ("0 9 * * mon-fri", "0 9 * * 1-5"),
            ("0 9 * * MON,Tue,wed,THU,fri", "0 9 * * 1-5"),
            ("0 9 * * 7", "0 9 * * 0"),
            ("0 9 * * sun", "0 9 * * 0"),
            ("0 9 * * FRI-SUN", "0 9 * * 0,5,6"),
            ("0 9 * * 5-7", "0 9 * * 0,5,6"),
            ("0 9 * jan,Dec *", "0 9 * 1,12 *"),
            ("00 09 01 01 *", "0 9 1 1 *"),
            ("0-59/15 * * * *", "0,15,30,45 * * * *"),
            ("\t0  9 * *  1-5 ", "0 9 * * 1-5"),
        ] {
            assert_eq!(meaning(&cron(a)), meaning(&cron(b)), "{a} vs {b}");
        }
        assert_eq!(cron("  0 9 * * 1-5 ").source(), "0 9 * * 1-5");
        assert_eq!(cron("@daily").source(), "@daily");
    }

    /// Fire sequences: every listed fire time, and nothing else, in (from, to].
    #[rustfmt::skip]
    const SEQUENCES: &[(&str, Tz, &str, &str, &[&str])] = &[
        // */15 in UTC.
        ("*/15 * * * *", UTC, "2026-01-01T10:07:00Z", "2026-01-01T11:01:00Z",
            &["2026-01-01T10:15:00Z", "2026-01-01T10:30:00Z", "2026-01-01T10:45:00Z", "2026-01-01T11:00:00Z"]),
        // 1-5 is Monday to Friday (2026-06-07 is a Sunday).
        ("0 12 * * 1-5", UTC, "2026-06-07T00:00:00Z", "2026-06-14T23:59:00Z",
            &["2026-06-08T12:00:00Z", "2026-06-09T12:00:00Z", "2026-06-10T12:00:00Z", "2026-06-11T12:00:00Z", "2026-06-12T12:00:00Z"]),
        // 0 and 7 are Sunday.
        ("0 12 * * 0", UTC, "2026-06-07T00:00:00Z", "2026-06-14T23:59:00Z",
            &["2026-06-07T12:00:00Z", "2026-06-14T12:00:00Z"]),
        ("0 12 * * 7", UTC, "2026-06-07T00:00:00Z", "2026-06-14T23:59:00Z",
            &["2026-06-07T12:00:00Z", "2026-06-14T12:00:00Z"]),
        // Both day fields restricted: the 1st OR a Monday (2026-07-01 is a Wednesday).
        ("0 9 1 * MON", UTC, "2026-06-28T00:00:00Z", "2026-07-14T00:00:00Z",
            &["2026-06-29T09:00:00Z", "2026-07-01T09:00:00Z", "2026-07-06T09:00:00Z", "2026-07-13T09:00:00Z"]),
        // One day field starts with `*`: Vixie cron ANDs them, so odd-numbered Mondays only.
        ("0 9 */2 * MON", UTC, "2026-06-01T00:00:00Z", "2026-06-30T23:59:00Z",
            &["2026-06-01T09:00:00Z", "2026-06-15T09:00:00Z", "2026-06-29T09:00:00Z"]),
        // Time zones, summer and winter.
        ("30 9 * * *", New_York, "2026-06-15T00:00:00Z", "2026-06-16T23:59:00Z",
            &["2026-06-15T13:30:00Z", "2026-06-16T13:30:00Z"]),
        ("30 9 * * *", New_York, "2026-01-15T00:00:00Z", "2026-01-16T23:59:00Z",
            &["2026-01-15T14:30:00Z", "2026-01-16T14:30:00Z"]),
        ("30 9 * * *", Berlin, "2026-06-15T00:00:00Z", "2026-06-16T23:59:00Z",
            &["2026-06-15T07:30:00Z", "2026-06-16T07:30:00Z"]),
        ("30 9 * * *", Berlin, "2026-01-15T00:00:00Z", "2026-01-16T23:59:00Z",
            &["2026-01-15T08:30:00Z", "2026-01-16T08:30:00Z"]),
        // Berlin springs forward 2026-03-29 at 02:00 CET (01:00 UTC) to 03:00 CEST.
        ("30 2 * * *", Berlin, "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z",
            &["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
        ("0 * * * *", Berlin, "2026-03-28T22:30:00Z", "2026-03-29T02:30:00Z",
            &["2026-03-28T23:00:00Z", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"]),
        ("30 * * * *", Berlin, "2026-03-28T23:45:00Z", "2026-03-29T02:00:00Z",
            &["2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"]),
        // Berlin falls back 2026-10-25 at 03:00 CEST (01:00 UTC) to 02:00 CET: 02:xx happens twice.
        ("30 2 * * *", Berlin, "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z",
            &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
        ("0 2 * * *", Berlin, "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z",
            &["2026-10-25T00:00:00Z", "2026-10-26T01:00:00Z"]),
        ("0 * * * *", Berlin, "2026-10-24T22:30:00Z", "2026-10-25T02:30:00Z",
            &["2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"]),
        ("*/30 * * * *", Berlin, "2026-10-24T23:45:00Z", "2026-10-25T02:00:00Z",
            &["2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"]),
        // New York springs forward 2026-03-08 at 02:00 EST (07:00 UTC) to 03:00 EDT.
        ("30 2 * * *", New_York, "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z",
            &["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]),
        ("0 * * * *", New_York, "2026-03-08T05:30:00Z", "2026-03-08T08:30:00Z",
            &["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"]),
        // New York falls back 2026-11-01 at 02:00 EDT (06:00 UTC) to 01:00 EST: 01:xx happens twice.
        ("30 2 * * *", New_York, "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z",
            &["2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"]),
        ("30 1 * * *", New_York, "2026-10-31T00:00:00Z", "2026-11-02T12:00:00Z",
            &["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]),
        ("0 * * * *", New_York, "2026-11-01T03:30:00Z", "2026-11-01T07:30:00Z",
            &["2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]),
        // A half-hour gap: Lord Howe goes from +10:30 to +11 at 02:00 local on 2026-10-04.
        ("15 2 * * *", Lord_Howe, "2026-10-02T00:00:00Z", "2026-10-04T23:00:00Z",
            &["2026-10-02T15:45:00Z", "2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]),
        // A whole skipped day: Samoa had no 2011-12-30; its noon runs when the day after begins.
        ("0 12 * * *", Apia, "2011-12-29T00:00:00Z", "2011-12-31T00:00:00Z",
            &["2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"]),
    ];

    #[test]
    fn fire_sequences() {
        for &(expr, tz, from, to, expected) in SEQUENCES {
            let schedule = Schedule::Cron { cron: cron(expr), tz };
            let fires: Vec<String> = schedule
                .fires_between(at(from), at(to), 100)
                .iter()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .collect();
            assert_eq!(fires, expected, "{expr} in {tz}");
        }
    }

    /// next_after and latest_at_or_before agree with the sequences from both sides.
    #[test]
    fn next_and_latest_are_symmetric() {
        let second = TimeDelta::seconds(1);
        for &(expr, tz, from, to, expected) in SEQUENCES {
            let c = cron(expr);
            let fires: Vec<DateTime<Utc>> = expected.iter().map(|t| at(t)).collect();
            assert_eq!(c.next_after(at(from), tz), fires.first().copied(), "{expr} in {tz} after {from}");
            for (i, &fire) in fires.iter().enumerate() {
                let context = format!("{expr} in {tz} around {fire}");
                assert_eq!(c.next_after(fire - second, tz), Some(fire), "{context}");
                assert_eq!(c.latest_at_or_before(fire, tz), Some(fire), "{context}");
                assert_eq!(c.latest_at_or_before(fire + second, tz), Some(fire), "{context}");
                if let Some(&following) = fires.get(i + 1) {
                    assert_eq!(c.next_after(fire, tz), Some(following), "{context}");
                    assert_eq!(c.latest_at_or_before(following - second, tz), Some(fire), "{context}");
                }
            }
            if let Some(&last) = fires.last() {
                assert!(
                    c.next_after(last, tz).is_some_and(|t| t > at(to)),
                    "{expr} in {tz}: nothing more before {to}"
                );
            }
        }
    }

    /// The rules restated the slow way: walk UTC minute by minute, let croner judge each
    /// wall-clock minute, and fire on a first showing (or every showing, for wildcard jobs) or
    /// on the first instant after a skipped matching minute.
    fn minute_by_minute(expr: &str, tz: Tz, from: i64, to: i64) -> Vec<i64> {
        let matcher: croner::Cron = expr.parse().expect("croner parses the test expression");
        let matches = |local: i64| {
            let wall = DateTime::from_timestamp(local, 0).expect("in range");
            matcher.is_time_matching(&wall).expect("croner matches")
        };
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let wildcard = fields[0].starts_with('*') || fields[1].starts_with('*');
        let (mut fires, mut reach) = (Vec::new(), None::<i64>);
        let mut t = floor_minute(from - LOOKBACK);
        while t <= to {
            let local = t + offset_at(tz, t).expect("offset");
            if let Some(reach) = reach {
                let skipped = local > reach && (reach..local).step_by(60).any(matches);
                let shown = matches(local) && (wildcard || local >= reach);
                if (skipped || shown) && t > from {
                    fires.push(t);
                }
            }
            reach = Some(reach.map_or(local + MINUTE, |r| r.max(local + MINUTE)));
            t += MINUTE;
        }
        fires
    }

    #[test]
    fn agrees_with_minute_by_minute_reference() {
        let windows: &[(Tz, &str)] = &[
            (Berlin, "2026-03-29T00:00:00Z"),
            (Berlin, "2026-10-25T00:00:00Z"),
            (New_York, "2026-03-08T00:00:00Z"),
            (New_York, "2026-11-01T00:00:00Z"),
            (Lord_Howe, "2026-04-04T00:00:00Z"),
            (Lord_Howe, "2026-10-03T00:00:00Z"),
            // Chile changes its clocks at midnight, so whole days start in a gap or a fold.
            (chrono_tz::America::Santiago, "2026-04-05T00:00:00Z"),
            (chrono_tz::America::Santiago, "2026-09-06T00:00:00Z"),
            (Apia, "2011-12-29T12:00:00Z"),
        ];
        let exprs = [
            "30 2 * * *",
            "0 2 * * *",
            "30 1 * * *",
            "0 * * * *",
            "*/15 * * * *",
            "30 * * * *",
            "15 1-3 * * *",
            "*/20 2 * * *",
            "0 0 * * *",
            "59 23 * * *",
            "0 0,12 * * SUN",
            "0 9 1 * MON",
        ];
        for &(tz, middle) in windows {
            let (from, to) = (at(middle).timestamp() - DAY, at(middle).timestamp() + 2 * DAY);
            for expr in exprs {
                let schedule = Schedule::Cron { cron: cron(expr), tz };
                let fires: Vec<i64> = schedule
                    .fires_between(instant(from).expect("from"), instant(to).expect("to"), 1000)
                    .iter()
                    .map(DateTime::timestamp)
                    .collect();
                assert_eq!(fires, minute_by_minute(expr, tz, from, to), "{expr} in {tz} around {middle}");
            }
        }
    }

    #[test]
    fn rare_schedules_and_the_horizon() {
        let leap_day = cron("0 0 29 2 *");
        assert_eq!(leap_day.next_after(at("2026-03-01T00:00:00Z"), UTC), Some(at("2028-02-29T00:00:00Z")));
        assert_eq!(
            leap_day.latest_at_or_before(at("2026-03-01T00:00:00Z"), UTC),
            Some(at("2024-02-29T00:00:00Z"))
        );
        // 29 February on a Sunday (`*/7` is Sunday, and a starred weekday field ANDs): 2004, then 2032.
        let rare = cron("0 0 29 2 */7");
        assert_eq!(rare.next_after(at("2026-03-01T00:00:00Z"), UTC), None);
        assert_eq!(rare.next_after(at("2028-01-01T00:00:00Z"), UTC), Some(at("2032-02-29T00:00:00Z")));
        assert_eq!(rare.latest_at_or_before(at("2026-03-01T00:00:00Z"), UTC), None);
        assert_eq!(
            rare.latest_at_or_before(at("2033-01-01T00:00:00Z"), UTC),
            Some(at("2032-02-29T00:00:00Z"))
        );
        // Sub-second instants: strictly after, at or before.
        let minutely = cron("* * * * *");
        assert_eq!(minutely.next_after(at("2026-01-01T10:00:00.5Z"), UTC), Some(at("2026-01-01T10:01:00Z")));
        assert_eq!(
            minutely.latest_at_or_before(at("2026-01-01T10:00:59.9Z"), UTC),
            Some(at("2026-01-01T10:00:00Z"))
        );
    }

    #[test]
    fn every_runs_on_its_period() {
        let hourly = Schedule::Every(Duration::from_secs(3600));
        assert_eq!(hourly.next_after(at("2026-01-01T10:00:00Z")), Some(at("2026-01-01T11:00:00Z")));
        assert_eq!(
            hourly.fires_between(at("2026-01-01T10:00:00Z"), at("2026-01-01T13:00:00Z"), 10),
            vec![at("2026-01-01T11:00:00Z"), at("2026-01-01T12:00:00Z"), at("2026-01-01T13:00:00Z")]
        );
        assert_eq!(hourly.fires_between(at("2026-01-01T10:00:00Z"), at("2026-01-02T10:00:00Z"), 2).len(), 2);
        assert!(hourly.fires_between(at("2026-01-01T10:00:00Z"), at("2026-01-01T09:00:00Z"), 10).is_empty());
        let never = Schedule::Every(Duration::ZERO);
        assert_eq!(never.next_after(at("2026-01-01T10:00:00Z")), None);
        assert!(never.fires_between(at("2026-01-01T10:00:00Z"), at("2026-01-02T10:00:00Z"), 10).is_empty());
    }

    #[test]
    fn expectation_over_time() {
        let every_hour = Schedule::Every(Duration::from_secs(3600));
        let daily_berlin = Schedule::Cron { cron: cron("0 7 * * *"), tz: Berlin };
        let five_minutes = Duration::from_secs(300);
        let quarter = Duration::from_secs(900);
        // (schedule, anchor, grace, now, expected_at, late, overdue, missed_runs)
        type Case<'a> = (&'a Schedule, &'a str, Duration, &'a str, &'a str, bool, bool, u32);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (&every_hour, "2026-01-01T10:00:00Z", five_minutes, "2026-01-01T10:30:00Z", "2026-01-01T11:00:00Z", false, false, 0),
            (&every_hour, "2026-01-01T10:00:00Z", five_minutes, "2026-01-01T11:00:00Z", "2026-01-01T11:00:00Z", false, false, 0),
            (&every_hour, "2026-01-01T10:00:00Z", five_minutes, "2026-01-01T11:02:00Z", "2026-01-01T11:00:00Z", true, false, 0),
            (&every_hour, "2026-01-01T10:00:00Z", five_minutes, "2026-01-01T11:05:00Z", "2026-01-01T11:00:00Z", true, false, 0),
            (&every_hour, "2026-01-01T10:00:00Z", five_minutes, "2026-01-01T11:05:01Z", "2026-01-01T11:00:00Z", false, true, 1),
            (&every_hour, "2026-01-01T10:00:00Z", five_minutes, "2026-01-01T13:04:00Z", "2026-01-01T11:00:00Z", false, true, 2),
            (&every_hour, "2026-01-01T10:00:00Z", five_minutes, "2026-01-01T13:10:00Z", "2026-01-01T11:00:00Z", false, true, 3),
            // Anchored exactly on a fire time (07:00 CEST): the next run is the following day's.
            (&daily_berlin, "2026-06-01T05:00:00Z", quarter, "2026-06-01T12:00:00Z", "2026-06-02T05:00:00Z", false, false, 0),
            (&daily_berlin, "2026-06-01T05:00:00Z", quarter, "2026-06-02T05:10:00Z", "2026-06-02T05:00:00Z", true, false, 0),
            (&daily_berlin, "2026-06-01T05:00:00Z", quarter, "2026-06-02T05:16:00Z", "2026-06-02T05:00:00Z", false, true, 1),
            (&daily_berlin, "2026-06-01T05:00:00Z", quarter, "2026-06-05T06:00:00Z", "2026-06-02T05:00:00Z", false, true, 4),
            // A routine first seen mid-afternoon that never pings.
            (&daily_berlin, "2026-06-01T14:00:00Z", quarter, "2026-06-03T04:00:00Z", "2026-06-02T05:00:00Z", false, true, 1),
        ];
        for &(schedule, anchor, grace, now, expected_at, late, overdue, missed_runs) in cases {
            let expected = Expectation {
                expected_at: at(expected_at),
                deadline: at(expected_at) + TimeDelta::from_std(grace).expect("grace"),
                late,
                overdue,
                missed_runs,
            };
            assert_eq!(
                expectation(schedule, at(anchor), grace, at(now)),
                Some(expected),
                "{schedule:?} at {now}"
            );
        }
    }

    #[test]
    fn expectation_edges() {
        // Missed runs are capped.
        let every_second = Schedule::Every(Duration::from_secs(1));
        let e = expectation(
            &every_second,
            at("2026-01-01T00:00:00Z"),
            Duration::ZERO,
            at("2026-01-01T02:00:00Z"),
        );
        assert_eq!(e.map(|e| e.missed_runs), Some(1000));
        let minutely = Schedule::Cron { cron: cron("* * * * *"), tz: UTC };
        let e =
            expectation(&minutely, at("2026-01-01T00:00:00Z"), Duration::ZERO, at("2026-01-10T00:00:00Z"));
        assert_eq!(e.map(|e| e.missed_runs), Some(1000));
        // No run to expect.
        let rare = Schedule::Cron { cron: cron("0 0 29 2 */7"), tz: UTC };
        assert_eq!(
            expectation(&rare, at("2026-03-01T00:00:00Z"), Duration::ZERO, at("2026-03-02T00:00:00Z")),
            None
        );
        assert_eq!(
            expectation(
                &Schedule::Every(Duration::ZERO),
                at("2026-03-01T00:00:00Z"),
                Duration::ZERO,
                at("2026-03-02T00:00:00Z")
            ),
            None
        );
    }

    #[test]
    fn time_zone_names() {
        assert_eq!(parse_tz("Europe/Berlin"), Ok(Berlin));
        assert_eq!(parse_tz("UTC"), Ok(UTC));
        for (name, message) in [
            ("Europe/Berln", "unknown time zone \"Europe/Berln\" (did you mean \"Europe/Berlin\"?)"),
            ("europe/berlin", "unknown time zone \"europe/berlin\" (did you mean \"Europe/Berlin\"?)"),
            ("America/NewYork", "unknown time zone \"America/NewYork\" (did you mean \"America/New_York\"?)"),
            (
                "Mars/Olympus_Mons",
                "unknown time zone \"Mars/Olympus_Mons\" (use an IANA name such as \"Europe/Berlin\" or \"UTC\")",
            ),
        ] {
            assert_eq!(parse_tz(name), Err(message.to_string()), "{name}");
        }
    }

    /// Fire times of a schedule with a fixed minute and hour, found the plain way: every local
    /// day croner matches, at that minute, put on the UTC line (a time in a gap at the end of
    /// the gap, a time in a fold at its first occurrence).
    fn day_by_day(expr: &str, tz: Tz, from: DateTime<Utc>, days: i64) -> Vec<DateTime<Utc>> {
        use chrono::LocalResult;
        let matcher: croner::Cron = expr.parse().expect("croner parses the test expression");
        let fields: Vec<u32> = expr.split_whitespace().take(2).map(|f| f.parse().expect("fixed")).collect();
        let first = from.with_timezone(&tz).date_naive() - TimeDelta::days(2);
        let mut fires = Vec::new();
        for day in 0..days {
            let wall = (first + TimeDelta::days(day)).and_hms_opt(fields[1], fields[0], 0).expect("a time");
            if !matcher.is_time_matching(&wall.and_utc()).expect("croner matches") {
                continue;
            }
            let mut local = wall;
            let fire = loop {
                match tz.from_local_datetime(&local) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => break t.with_timezone(&Utc),
                    LocalResult::None => local += TimeDelta::minutes(1),
                }
            };
            fires.push(fire);
        }
        fires
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

        /// Sparse schedules (a day of the month, a month, a weekday, steps) jump over the days
        /// and months that cannot match; they must land where walking day by day lands.
        #[test]
        fn sparse_schedules_agree_with_walking_day_by_day(
            minute in 0u32..60,
            hour in 0u32..24,
            dom in proptest::sample::select(vec!["*", "1", "15", "29", "31", "1-7", "*/10", "5,20,30", "28-31"]),
            month in proptest::sample::select(vec!["*", "2", "6", "1,7", "*/3", "11-12", "4-9/2"]),
            dow in proptest::sample::select(vec!["*", "0", "1-5", "*/2", "6", "2,4"]),
            tz in proptest::sample::select(vec![UTC, Berlin, New_York, Lord_Howe, chrono_tz::America::Santiago]),
            start in 1_735_689_600i64..1_893_456_000, // 2025-2030
        ) {
            // croner ORs a `*/n` day with a restricted other day; Vixie cron (and we) AND them.
            proptest::prop_assume!(!(dom.starts_with("*/") && dow != "*" || dow.starts_with("*/") && dom != "*"));
            let expr = format!("{minute} {hour} {dom} {month} {dow}");
            let Ok(schedule) = Cron::parse(&expr) else {
                // Refused as never firing (31 February): nothing to compare.
                return Ok(());
            };
            let t = instant(start).expect("an instant");
            let fires = day_by_day(&expr, tz, t, 6 * 366);
            let next = fires.iter().copied().find(|f| *f > t);
            proptest::prop_assert_eq!(schedule.next_after(t, tz), next, "next after {} of {} in {}", t, expr, tz);
            let back = instant(start - 5 * 365 * DAY).expect("an instant");
            let fires = day_by_day(&expr, tz, back, 5 * 366);
            let latest = fires.iter().copied().rfind(|f| *f <= t);
            let found = schedule.latest_at_or_before(t, tz);
            // Within the horizon only: the reference looks back a little further.
            if found.is_some() || latest.is_some_and(|l| (t - l).num_seconds() < HORIZON - 3 * DAY) {
                proptest::prop_assert_eq!(found, latest, "latest at or before {} of {} in {}", t, expr, tz);
            }
        }
    }
}
