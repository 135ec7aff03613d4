//! Observations folded into an entity's [`EntityState`]: pings, probe results, file checks.
//!
//! Folding is pure and order-tolerant where it can be (times only move forward), so the
//! daemon, a restarted daemon replaying the log, and the CLI computing `why` from the log all
//! arrive at the same state.

use chrono::{DateTime, Utc};

use crate::config::{Entity, Spec};
use crate::state::{EntityState, Observation};

/// What a heartbeat ping says (SPEC section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingKind {
    Success,
    Start,
    Fail,
    Exit(u8),
    Log,
}

impl PingKind {
    /// The event `status` and metric label of this kind.
    pub fn status(self) -> &'static str {
        match self {
            PingKind::Success => "success",
            PingKind::Start => "start",
            PingKind::Fail => "fail",
            PingKind::Exit(_) => "exit",
            PingKind::Log => "log",
        }
    }

    /// Reads a kind back from an event's status and exit code.
    pub fn from_status(status: &str, exit_code: Option<u64>) -> Option<PingKind> {
        Some(match status {
            "success" => PingKind::Success,
            "start" => PingKind::Start,
            "fail" => PingKind::Fail,
            "log" => PingKind::Log,
            "exit" => PingKind::Exit(u8::try_from(exit_code?).ok()?),
            _ => return None,
        })
    }
}

/// A ping as it is folded.
#[derive(Debug, Clone)]
pub struct Ping {
    pub kind: PingKind,
    pub at: DateTime<Utc>,
    pub rid: Option<String>,
    pub message: Option<String>,
}

fn later(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// A fresh state for an entity seen for the first time at `now`.
pub fn fresh(entity: &Entity, now: DateTime<Utc>) -> EntityState {
    EntityState {
        kind: entity.key.kind.lower().to_string(),
        id: entity.key.id.clone(),
        name: entity.display_name().to_string(),
        desired: entity.meta.desired,
        health: crate::config::Level::Unknown,
        reason: "NeverObserved".to_string(),
        message: "no signal yet".to_string(),
        rule: None,
        since: Some(now),
        previous_health: None,
        last_checked: None,
        last_signal: None,
        evidence: None,
        owner: entity.meta.owner.clone(),
        labels: entity.meta.labels.clone(),
        depends_on: entity.meta.depends_on.iter().map(ToString::to_string).collect(),
        inhibited: false,
        first_seen: Some(now),
        last_success: None,
        last_run: None,
        consecutive_failures: 0,
        consecutive_successes: 0,
        failing: false,
        running_since: None,
        running_rid: None,
        last: None,
        expected_at: None,
        deadline: None,
        missed_runs: 0,
        spent: None,
        ledger: None,
        heartbeat: None,
        schedule: None,
        probe: None,
        details: serde_json::Map::new(),
    }
}

/// Failures and recoveries in a row before an entity is `failing` or no longer.
fn thresholds(entity: &Entity) -> (u64, u64) {
    match &entity.spec {
        Spec::Integration(i) => (u64::from(i.failure_threshold), u64::from(i.recovery_threshold)),
        _ => (1, 1),
    }
}

fn count(entity: &Entity, state: &mut EntityState, ok: bool) {
    let (fail_after, recover_after) = thresholds(entity);
    if ok {
        state.consecutive_successes += 1;
        state.consecutive_failures = 0;
        if state.consecutive_successes >= recover_after {
            state.failing = false;
        }
    } else {
        state.consecutive_failures += 1;
        state.consecutive_successes = 0;
        if state.consecutive_failures >= fail_after {
            state.failing = true;
        }
    }
}

/// Folds a heartbeat ping.
pub fn apply_ping(entity: &Entity, state: &mut EntityState, ping: &Ping) {
    state.last_signal = later(state.last_signal, ping.at);
    let mut observation = Observation { rid: ping.rid.clone(), ..Observation::new(ping.at, "ping") };
    let ok = match ping.kind {
        PingKind::Log => return,
        PingKind::Start => {
            state.running_since = Some(ping.at);
            state.running_rid = ping.rid.clone();
            return;
        }
        PingKind::Success => true,
        PingKind::Fail => {
            observation.kind = "fail".to_string();
            observation.error =
                Some(ping.message.clone().unwrap_or_else(|| "the run reported failure".to_string()));
            false
        }
        PingKind::Exit(code) => {
            observation.kind = "exit".to_string();
            observation.exit_code = Some(i32::from(code));
            if code != 0 {
                observation.error = Some(format!("exit status {code}"));
            }
            code == 0
        }
    };
    observation.ok = Some(ok);
    // A finish ends the run it belongs to: the one with its rid (compared without case, as
    // rids are usually UUIDs), or any run when either side has none. A failure ends the open
    // run whatever its rid (Healthchecks pairs the same way).
    let pairs = match (&state.running_rid, &ping.rid) {
        (Some(running), Some(finished)) => !ok || running.eq_ignore_ascii_case(finished),
        _ => true,
    };
    if pairs && state.running_since.is_some_and(|since| since <= ping.at) {
        if let Some(since) = state.running_since {
            observation.latency_seconds = Some((ping.at - since).num_milliseconds() as f64 / 1000.0);
        }
        state.running_since = None;
        state.running_rid = None;
    }
    state.last_run = later(state.last_run, ping.at);
    if ok {
        state.last_success = later(state.last_success, ping.at);
    }
    count(entity, state, ok);
    state.last = Some(std::sync::Arc::new(observation));
}

/// Folds the result of a pulled probe (http, tcp, command, file).
pub fn apply_probe(entity: &Entity, state: &mut EntityState, observation: Observation) {
    state.last_checked = Some(observation.at);
    if observation.kind == "file" {
        apply_file(state, observation);
        return;
    }
    state.last_signal = later(state.last_signal, observation.at);
    if let Some(ok) = observation.ok {
        count(entity, state, ok);
        if ok {
            state.last_success = later(state.last_success, observation.at);
        }
        state.last_run = later(state.last_run, observation.at);
    }
    state.last = Some(std::sync::Arc::new(observation));
}

/// A file is a signal at its modification time: a new newest file is a new run.
fn apply_file(state: &mut EntityState, observation: Observation) {
    match (observation.ok, observation.modified) {
        (Some(true), Some(modified)) => {
            if state.last_success.is_none_or(|s| modified > s) {
                state.consecutive_successes += 1;
                state.consecutive_failures = 0;
            }
            state.last_signal = later(state.last_signal, modified);
            state.last_success = later(state.last_success, modified);
            state.last_run = later(state.last_run, modified);
        }
        (Some(false), modified) => {
            if let Some(modified) = modified {
                state.last_signal = later(state.last_signal, modified);
            }
            state.consecutive_failures += 1;
            state.consecutive_successes = 0;
        }
        _ => {}
    }
    state.last = Some(std::sync::Arc::new(observation));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EntityKey, Kind};

    fn routine() -> Entity {
        // Each test its own workspace: tests run in parallel threads of one process.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("desired")).expect("mkdir");
        std::fs::write(dir.path().join("desired/r.yaml"), "kind: Routine\nid: r\nevery: 1m\n")
            .expect("write");
        let config = crate::config::load(dir.path(), Utc::now()).expect("config");
        config.entity(&EntityKey::new(Kind::Routine, "r")).expect("entity").as_ref().clone()
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    fn ping(kind: PingKind, s: i64, rid: Option<&str>) -> Ping {
        Ping { kind, at: at(s), rid: rid.map(String::from), message: None }
    }

    #[test]
    fn start_then_finish_pairs_by_rid() {
        let r = routine();
        let mut s = fresh(&r, at(0));
        apply_ping(&r, &mut s, &ping(PingKind::Start, 10, Some("a")));
        assert_eq!(s.running_since, Some(at(10)));
        apply_ping(&r, &mut s, &ping(PingKind::Success, 20, Some("b")));
        assert_eq!(s.running_since, Some(at(10)), "another run's finish does not end this one");
        apply_ping(&r, &mut s, &ping(PingKind::Success, 30, Some("a")));
        assert_eq!(s.running_since, None);
        assert_eq!(s.last.as_ref().and_then(|l| l.latency_seconds), Some(20.0));
        assert_eq!(s.last_run, Some(at(30)));
    }

    #[test]
    fn rids_compare_without_case_and_a_failure_ends_any_run() {
        let r = routine();
        let mut s = fresh(&r, at(0));
        apply_ping(&r, &mut s, &ping(PingKind::Start, 10, Some("3F2504E0-4F89")));
        apply_ping(&r, &mut s, &ping(PingKind::Success, 20, Some("3f2504e0-4f89")));
        assert_eq!(s.running_since, None, "the same rid in another case ends the run");
        apply_ping(&r, &mut s, &ping(PingKind::Start, 30, Some("a")));
        apply_ping(&r, &mut s, &ping(PingKind::Fail, 40, Some("b")));
        assert_eq!(s.running_since, None, "a failure with another rid ends the open run");
        apply_ping(&r, &mut s, &ping(PingKind::Start, 50, Some("a")));
        apply_ping(&r, &mut s, &ping(PingKind::Exit(3), 60, Some("b")));
        assert_eq!(s.running_since, None, "a non-zero exit with another rid ends the open run");
        apply_ping(&r, &mut s, &ping(PingKind::Start, 70, Some("a")));
        apply_ping(&r, &mut s, &ping(PingKind::Exit(0), 80, Some("b")));
        assert_eq!(s.running_since, Some(at(70)), "a success of another run does not");
    }

    #[test]
    fn fail_and_exit_codes() {
        let r = routine();
        let mut s = fresh(&r, at(0));
        apply_ping(&r, &mut s, &ping(PingKind::Exit(3), 5, None));
        assert_eq!(s.last.as_ref().and_then(|l| l.ok), Some(false));
        assert_eq!(s.last.as_ref().and_then(|l| l.exit_code), Some(3));
        assert_eq!(s.consecutive_failures, 1);
        apply_ping(&r, &mut s, &ping(PingKind::Exit(0), 6, None));
        assert_eq!(s.last.as_ref().and_then(|l| l.ok), Some(true));
        assert_eq!(s.consecutive_successes, 1);
        apply_ping(&r, &mut s, &ping(PingKind::Fail, 7, None));
        assert_eq!(s.last_success, Some(at(6)));
        assert_eq!(s.last_run, Some(at(7)));
    }

    #[test]
    fn log_pings_change_nothing_but_the_signal_time() {
        let r = routine();
        let mut s = fresh(&r, at(0));
        apply_ping(&r, &mut s, &ping(PingKind::Log, 5, None));
        assert_eq!(s.last_signal, Some(at(5)));
        assert!(s.last.is_none() && s.last_run.is_none());
    }

    #[test]
    fn old_signals_never_move_times_back() {
        let r = routine();
        let mut s = fresh(&r, at(0));
        apply_ping(&r, &mut s, &ping(PingKind::Success, 50, None));
        apply_ping(&r, &mut s, &ping(PingKind::Success, 40, None));
        assert_eq!(s.last_run, Some(at(50)));
        assert_eq!(s.last_signal, Some(at(50)));
    }

    #[test]
    fn ping_kinds_round_trip_through_event_status() {
        for kind in [PingKind::Success, PingKind::Start, PingKind::Fail, PingKind::Exit(7), PingKind::Log] {
            let code = match kind {
                PingKind::Exit(c) => Some(u64::from(c)),
                _ => None,
            };
            assert_eq!(PingKind::from_status(kind.status(), code), Some(kind));
        }
        assert_eq!(PingKind::from_status("exit", Some(256)), None);
    }
}
