//! Heartbeat judgement: is an agent's heartbeat firing as configured?
//!
//! Two failures matter. A heartbeat that **stopped** (after a gateway restart, typically) is
//! an agent nobody is watching: no heartbeat for more than twice the cadence plus grace is
//! `stale`. A heartbeat that fires **while disabled**, or **far faster than configured** (a
//! loop re-triggering itself), is a silent token burn, hundreds of millions of tokens a day:
//! that is `failed` with reason `HeartbeatRunaway`. "Far faster" is more than three times the
//! expected number of beats (plus two, so a manual wake or two never trips it) over the last
//! six periods, at least an hour and at most a day; "while disabled" is two or more beats in
//! the last hour (one may be a targeted wake, which OpenClaw allows).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::HeartbeatConfig;
use crate::config::Level;

/// The runaway factor: beats above this many times the expected count.
const RUNAWAY_FACTOR: f64 = 3.0;
/// Beats tolerated above the factor.
const RUNAWAY_SLACK: f64 = 2.0;
/// Beats within the last hour that make a disabled heartbeat a runaway.
const DISABLED_BEATS: usize = 2;

/// The verdict on one agent's heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub agent_id: String,
    /// None when nothing is wrong.
    pub level: Option<Level>,
    /// `HeartbeatStopped` or `HeartbeatRunaway` when something is wrong.
    pub reason: Option<&'static str>,
    pub message: String,
    pub last_beat: Option<DateTime<Utc>>,
    /// Beats counted in the window, and how many the cadence expects there.
    pub beats_in_window: usize,
    pub expected_in_window: f64,
    /// After this instant without a beat, the heartbeat has stopped.
    pub stale_after: Option<DateTime<Utc>>,
}

/// Judges `config`'s heartbeat from the beats seen (any order) at `now`. `watching_since` is
/// when observation began: a heartbeat never seen is stopped only once twice its cadence plus
/// `grace` has passed since then.
pub fn judge(
    config: &HeartbeatConfig,
    beats: &[DateTime<Utc>],
    watching_since: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Judgement {
    let last_beat = beats.iter().copied().filter(|t| *t <= now).max();
    let mut j = Judgement {
        agent_id: config.agent_id.clone(),
        level: None,
        reason: None,
        message: String::new(),
        last_beat,
        beats_in_window: 0,
        expected_in_window: 0.0,
        stale_after: None,
    };
    let count_since = |from: DateTime<Utc>| beats.iter().filter(|t| **t > from && **t <= now).count();
    let Some(every) = config.every.filter(|_| config.enabled).and_then(|e| TimeDelta::from_std(e).ok())
    else {
        let hour_ago = now - TimeDelta::hours(1);
        j.beats_in_window = count_since(hour_ago);
        if j.beats_in_window >= DISABLED_BEATS {
            j.level = Some(Level::Failed);
            j.reason = Some("HeartbeatRunaway");
            j.message = format!(
                "heartbeat of {} is disabled ({}) but fired {} times in the last hour",
                config.agent_id, config.every_text, j.beats_in_window
            );
        }
        return j;
    };
    let grace = TimeDelta::from_std(grace).unwrap_or(TimeDelta::zero());
    // A last beat from before the watch began still counts: a heartbeat silent for days is
    // stopped the moment it is first looked at.
    let stale_after = last_beat.unwrap_or(watching_since) + every * 2 + grace;
    j.stale_after = Some(stale_after);

    let window = (every * 6).clamp(TimeDelta::hours(1), TimeDelta::hours(24));
    let from = (now - window).max(watching_since);
    let span = now - from;
    j.beats_in_window = count_since(from);
    j.expected_in_window = span.num_milliseconds() as f64 / every.num_milliseconds() as f64;
    if j.beats_in_window as f64 > RUNAWAY_FACTOR * j.expected_in_window + RUNAWAY_SLACK {
        j.level = Some(Level::Failed);
        j.reason = Some("HeartbeatRunaway");
        j.message = format!(
            "heartbeat of {} fired {} times in {}; every {} expects about {:.0}",
            config.agent_id,
            j.beats_in_window,
            humantime::format_duration(span.to_std().unwrap_or_default()),
            config.every_text,
            j.expected_in_window
        );
    } else if now > stale_after {
        j.level = Some(Level::Stale);
        j.reason = Some("HeartbeatStopped");
        j.message = match last_beat {
            Some(t) => format!(
                "no heartbeat from {} since {}; expected every {}",
                config.agent_id,
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                config.every_text
            ),
            None => format!(
                "no heartbeat from {} seen yet; expected every {}",
                config.agent_id, config.every_text
            ),
        };
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
    }

    fn config(every: Option<u64>) -> HeartbeatConfig {
        HeartbeatConfig {
            agent_id: "main".into(),
            enabled: every.is_some(),
            every: every.map(|m| Duration::from_secs(m * 60)),
            every_text: every.map_or("0m".into(), |m| format!("{m}m")),
            prompt: None,
        }
    }

    fn every(start: &str, step_secs: i64, n: i64) -> Vec<DateTime<Utc>> {
        (0..n).map(|i| at(start) + TimeDelta::seconds(i * step_secs)).collect()
    }

    const GRACE: Duration = Duration::from_secs(300);

    #[test]
    fn healthy_stopped_and_never_seen() {
        let since = at("2026-06-01T00:00:00Z");
        let beats = every("2026-06-01T00:30:00Z", 1800, 10); // 00:30 .. 05:00
        let ok = judge(&config(Some(30)), &beats, since, at("2026-06-01T05:10:00Z"), GRACE);
        assert_eq!(ok.level, None);
        assert_eq!(ok.stale_after, Some(at("2026-06-01T06:05:00Z")));
        let stopped = judge(&config(Some(30)), &beats, since, at("2026-06-01T06:05:01Z"), GRACE);
        assert_eq!((stopped.level, stopped.reason), (Some(Level::Stale), Some("HeartbeatStopped")));
        let never = judge(&config(Some(30)), &[], since, at("2026-06-01T01:04:00Z"), GRACE);
        assert_eq!(never.level, None);
        let never = judge(&config(Some(30)), &[], since, at("2026-06-01T01:05:01Z"), GRACE);
        assert_eq!(never.level, Some(Level::Stale));
    }

    #[test]
    fn runaway_and_disabled() {
        let since = at("2026-06-01T00:00:00Z");
        // Every 30 minutes configured, every minute observed.
        let beats = every("2026-06-01T03:00:00Z", 60, 180);
        let j = judge(&config(Some(30)), &beats, since, at("2026-06-01T06:00:00Z"), GRACE);
        assert_eq!((j.level, j.reason), (Some(Level::Failed), Some("HeartbeatRunaway")));
        assert_eq!(j.beats_in_window, 179);
        // Three times the rate plus slack is still tolerated.
        let beats = every("2026-06-01T03:00:10Z", 600, 18);
        assert_eq!(judge(&config(Some(30)), &beats, since, at("2026-06-01T06:00:00Z"), GRACE).level, None);
        // Disabled: one targeted wake is fine, a stream is not.
        let one = [at("2026-06-01T05:30:00Z")];
        assert_eq!(judge(&config(None), &one, since, at("2026-06-01T06:00:00Z"), GRACE).level, None);
        let many = every("2026-06-01T05:10:00Z", 300, 6);
        let j = judge(&config(None), &many, since, at("2026-06-01T06:00:00Z"), GRACE);
        assert_eq!((j.level, j.reason), (Some(Level::Failed), Some("HeartbeatRunaway")));
        // A disabled heartbeat never goes stale.
        assert_eq!(judge(&config(None), &[], since, at("2026-06-09T00:00:00Z"), GRACE).level, None);
    }
}
