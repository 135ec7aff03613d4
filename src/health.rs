//! Health evaluation: pure functions of (configuration, entity state, now).
//!
//! [`evaluate`] applies the health rules of SPEC section 5 to the condition fields of an
//! entity ([`Fields`]); [`explain`] does the same and keeps every step for `why`;
//! [`judge`] gives the verdict with the expectation and wakeup worked out alongside it;
//! [`next_wakeup`] says when the verdict could change with no new observation (an expected
//! run's deadline, a run's `max_runtime`, an agent's `stale_after`), which is what lets the
//! daemon sleep on a timer instead of polling. Nothing here reads the clock.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::condition::{Value, render_template};
use crate::config::{Config, DesiredState, Entity, Level, OutputContract, Spec};
use crate::schedule::{self, Expectation};
use crate::state::{EntityState, Observation};

/// The decision about one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub level: Level,
    pub reason: String,
    pub message: String,
    pub rule: Option<String>,
    pub evidence: Option<std::sync::Arc<Observation>>,
}

/// Whether an entity is judged and counted at all: active and visible. Workflows and projects
/// are judged from the work board (SPEC section 8), budgets from their spend.
pub fn is_judged(entity: &Entity) -> bool {
    entity.meta.desired == DesiredState::Active && !entity.inert && entity.selected
}

/// Whether health rules decide the entity's level; workflows and projects are judged from
/// their tasks instead (`crate::work::judge_workflow`, `judge_project`).
pub fn is_rule_judged(entity: &Entity) -> bool {
    is_judged(entity) && !matches!(entity.spec, Spec::Workflow(_) | Spec::Project(_))
}

/// Where a routine or output stands against its schedule or age contract.
pub fn expectation(entity: &Entity, state: &EntityState, now: DateTime<Utc>) -> Option<Expectation> {
    let anchor = state.last_run.or(state.first_seen).unwrap_or(now);
    match &entity.spec {
        Spec::Routine(r) => schedule::expectation(&r.schedule, anchor, r.grace, now),
        Spec::Output(o) => match &o.contract {
            OutputContract::Due(schedule) => {
                let anchor = state.last_success.or(state.first_seen).unwrap_or(now);
                schedule::expectation(schedule, anchor, o.grace, now)
            }
            OutputContract::MaxAge(max_age) => {
                let anchor = state.last_success.or(state.first_seen).unwrap_or(now);
                let expected_at = anchor + chrono::Duration::from_std(*max_age).ok()?;
                let deadline = expected_at + chrono::Duration::from_std(o.grace).ok()?;
                Some(Expectation {
                    expected_at,
                    deadline,
                    late: expected_at < now && now <= deadline,
                    overdue: now > deadline,
                    missed_runs: 0,
                })
            }
        },
        _ => None,
    }
}

fn duration_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    (to - from).to_std().map(Value::Duration).unwrap_or(Value::Duration(Duration::ZERO))
}

fn time(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The condition fields of an entity at `now` (the table "Condition fields" in the README).
pub struct Fields<'a> {
    entity: &'a Entity,
    state: &'a EntityState,
    expectation: Option<Expectation>,
    now: DateTime<Utc>,
}

/// An entity judged at one instant: its schedule's expectation worked out once, for the
/// verdict, the state's fields and the next wakeup alike.
pub struct Judged {
    pub verdict: Verdict,
    pub expectation: Option<Expectation>,
    pub wakeup: Option<DateTime<Utc>>,
}

/// Decides the entity's level and when it could next change without a new observation.
pub fn judge(config: &Config, entity: &Entity, state: &EntityState, now: DateTime<Utc>) -> Judged {
    let expectation = is_judged(entity).then(|| expectation(entity, state, now)).flatten();
    let verdict = decide(config, entity, state, now, expectation.clone(), false).verdict;
    let wakeup = wakeup(entity, state, now, expectation.as_ref());
    Judged { verdict, expectation, wakeup }
}

impl Fields<'_> {
    pub fn expectation(&self) -> Option<&Expectation> {
        self.expectation.as_ref()
    }

    pub fn get(&self, path: &str) -> Value {
        let s = self.state;
        if let Some(rest) = path.strip_prefix("entity.") {
            let pointer = format!("/{}", rest.replace('.', "/"));
            return self.entity.document_field(&pointer).map_or(Value::Null, |v| Value::from(&v));
        }
        if let Some(rest) = path.strip_prefix("last.") {
            let Some(last) = &s.last else { return Value::Null };
            return match rest {
                "ok" => last.ok.map_or(Value::Null, Value::Bool),
                "latency" => last
                    .latency_seconds
                    .and_then(|l| Duration::try_from_secs_f64(l).ok())
                    .map_or(Value::Null, Value::Duration),
                "status" => last.status.map_or(Value::Null, |v| Value::Number(f64::from(v))),
                "exit_code" => last.exit_code.map_or(Value::Null, |v| Value::Number(f64::from(v))),
                "error" => last.error.clone().map_or(Value::Null, Value::String),
                "kind" => Value::String(last.kind.clone()),
                "at" => time(last.at),
                "file" => last.file.clone().map_or(Value::Null, Value::String),
                "size" => last.size.map_or(Value::Null, |v| Value::Number(v as f64)),
                _ => Value::Null,
            };
        }
        let e = self.expectation.as_ref();
        match path {
            "kind" => Value::String(s.kind.clone()),
            "id" => Value::String(s.id.clone()),
            "observed" => Value::Bool(s.last_signal.is_some()),
            "age" => s.last_signal.map_or(Value::Null, |t| duration_between(t, self.now)),
            "last_signal" => s.last_signal.map_or(Value::Null, time),
            "consecutive_failures" => Value::Number(s.consecutive_failures as f64),
            "consecutive_successes" => Value::Number(s.consecutive_successes as f64),
            "failing" => Value::Bool(s.failing),
            "expected_at" => e.map_or(Value::Null, |e| time(e.expected_at)),
            "deadline" => e.map_or(Value::Null, |e| time(e.deadline)),
            "late" => e.map_or(Value::Null, |e| Value::Bool(e.late)),
            "overdue" => e.map_or(Value::Null, |e| Value::Bool(e.overdue)),
            // An OpenClaw routine counts its missed runs on the job's schedule ledger.
            "missed_runs" => match &s.ledger {
                Some(l) => Value::Number(f64::from(l.missed_runs)),
                None => e.map_or(Value::Null, |e| Value::Number(f64::from(e.missed_runs))),
            },
            "consecutive_missed" => {
                s.ledger.as_ref().map_or(Value::Null, |l| Value::Number(f64::from(l.consecutive_missed)))
            }
            "duplicate_runs" => {
                s.ledger.as_ref().map_or(Value::Null, |l| Value::Number(f64::from(l.duplicate_runs)))
            }
            "late_runs" => s.ledger.as_ref().map_or(Value::Null, |l| Value::Number(f64::from(l.late_runs))),
            "stuck_for" => s
                .ledger
                .as_ref()
                .and_then(|l| l.stuck_for_seconds)
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                .map_or(Value::Null, Value::Duration),
            "running_for" => s.running_since.map_or(Value::Null, |t| duration_between(t, self.now)),
            "spent" => s.spent.map_or(Value::Null, Value::Number),
            "ratio" => match (&self.entity.spec, s.spent) {
                (Spec::Budget(b), Some(spent)) => b
                    .fail_at
                    .or(b.warn_at)
                    .filter(|l| *l > 0.0)
                    .map_or(Value::Null, |l| Value::Number(spent / l)),
                _ => Value::Null,
            },
            _ => Value::Null,
        }
    }
}

/// One health rule's part in a decision, for `why`.
#[derive(Debug, Clone)]
pub struct RuleTrace {
    pub rule: String,
    pub condition: String,
    pub level: Level,
    pub held: bool,
    /// The fields the condition reads, with their values.
    pub inputs: Vec<(String, Value)>,
}

/// The decision with every step that led to it.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub verdict: Verdict,
    pub traces: Vec<RuleTrace>,
    pub expectation: Option<Expectation>,
}

/// Decides the entity's level (SPEC section 5).
pub fn evaluate(config: &Config, entity: &Entity, state: &EntityState, now: DateTime<Utc>) -> Verdict {
    judge(config, entity, state, now).verdict
}

pub fn explain(config: &Config, entity: &Entity, state: &EntityState, now: DateTime<Utc>) -> Explanation {
    let expectation = is_judged(entity).then(|| expectation(entity, state, now)).flatten();
    decide(config, entity, state, now, expectation, true)
}

/// `expectation` is the entity's at `now`, None when it is not judged.
fn decide(
    config: &Config,
    entity: &Entity,
    state: &EntityState,
    now: DateTime<Utc>,
    expectation: Option<Expectation>,
    trace: bool,
) -> Explanation {
    let not_judged = |reason: &str, message: &str| Explanation {
        verdict: Verdict {
            level: Level::Unknown,
            reason: reason.to_string(),
            message: message.to_string(),
            rule: None,
            evidence: None,
        },
        traces: Vec::new(),
        expectation: None,
    };
    match entity.meta.desired {
        DesiredState::Paused => return not_judged("Paused", "desired state is paused; not evaluated"),
        DesiredState::Retired => return not_judged("Retired", "desired state is retired; not evaluated"),
        DesiredState::Active => {}
    }
    if !entity.selected {
        return not_judged("NotSelected", "judged by another daemon: outside this one's settings `select`");
    }
    if !is_rule_judged(entity) {
        return not_judged("NotObserved", "judged from its tasks, not by health rules");
    }
    let f = Fields { entity, state, expectation, now };
    let lookup = |path: &str| f.get(path);
    let mut traces = Vec::new();
    let mut worst: Option<&crate::config::HealthRule> = None;
    for rule in config.health_rules.iter().filter(|r| r.selector.matches(entity)) {
        let held = rule.when.eval(&lookup);
        if trace {
            let inputs = rule.when.paths().into_iter().map(|p| (p.clone(), f.get(&p))).collect();
            traces.push(RuleTrace {
                rule: rule.id.clone(),
                condition: rule.when.source().to_string(),
                level: rule.level,
                held,
                inputs,
            });
        }
        if held && worst.is_none_or(|w| rule.level > w.level) {
            worst = Some(rule);
        }
    }
    let verdict = match worst {
        Some(rule) => {
            let reads_running = rule.when.paths().iter().any(|p| p == "running_for");
            let evidence = if reads_running {
                state.running_since.map(|at| {
                    Observation { rid: state.running_rid.clone(), ..Observation::new(at, "start") }.into()
                })
            } else {
                state.last.clone()
            };
            Verdict {
                level: rule.level,
                reason: rule.reason.clone(),
                message: render_template(&rule.message, &lookup),
                rule: Some(rule.id.clone()),
                evidence,
            }
        }
        None => fallback(entity, state),
    };
    Explanation { verdict, traces, expectation: f.expectation }
}

/// The level when no rule holds (SPEC section 5): `unknown` until something is observed,
/// `healthy` only while the latest observation succeeded, and `warning` (`Degraded`) when it
/// failed, so a failure below a threshold never reads as healthy.
fn fallback(entity: &Entity, state: &EntityState) -> Verdict {
    let verdict = |level: Level, reason: &str, message: String| Verdict {
        level,
        reason: reason.to_string(),
        message,
        rule: None,
        evidence: state.last.clone(),
    };
    let Some(last) = &state.last else {
        return match state.running_since {
            Some(since) => verdict(
                Level::Unknown,
                "Running",
                format!("a run started {}; no finish yet", since.to_rfc3339_opts(SecondsFormat::Secs, true)),
            ),
            None if state.last_signal.is_some() => verdict(
                Level::Unknown,
                "NoOutcome",
                "signals came, but none yet that says whether it works".to_string(),
            ),
            None => verdict(Level::Unknown, "NeverObserved", never_observed(entity)),
        };
    };
    if last.ok.is_none() {
        // An observation without an outcome (a file probe that found nothing yet) is no
        // evidence of success: the deadline rules judge its absence when it matters.
        let message = match (&last.error, last.kind.as_str()) {
            (Some(error), "file") => format!("{error} yet"),
            (Some(error), _) => error.clone(),
            (None, _) => "the latest observation says nothing of success".to_string(),
        };
        return verdict(Level::Unknown, "NoOutcome", message);
    }
    if last.ok == Some(true) {
        let message = match (&entity.spec, state.spent) {
            (Spec::Budget(b), Some(spent)) => {
                let limit =
                    |name: &str, at: Option<f64>| at.map(|v| format!("; {name} at {v}")).unwrap_or_default();
                format!(
                    "spent {} {} in the window{}{}",
                    crate::work::money(spent),
                    b.currency,
                    limit("warns", b.warn_at),
                    limit("fails", b.fail_at)
                )
            }
            _ => healthy_message(state),
        };
        return verdict(Level::Healthy, "Healthy", message);
    }
    let error = last.error.as_deref().unwrap_or("the observation failed");
    let message = match &entity.spec {
        Spec::Integration(i) => format!(
            "{} of {} failed probes: {error}",
            state.consecutive_failures.min(u64::from(i.failure_threshold)),
            i.failure_threshold
        ),
        _ => format!("the latest observation failed: {error}"),
    };
    verdict(Level::Warning, "Degraded", message)
}

/// What an entity never observed waits for, and how to give it that.
fn never_observed(entity: &Entity) -> String {
    match &entity.spec {
        Spec::Agent(_) => format!(
            "no report yet; the agent reports with `mission-control agent report {} --status working` \
             or POST /api/v1/agents/{}/report",
            entity.key.id, entity.key.id
        ),
        _ => "no signal yet".to_string(),
    }
}

fn healthy_message(state: &EntityState) -> String {
    match (&state.last, state.last_signal) {
        (Some(last), _) if last.kind == "file" => match (&last.file, last.size) {
            (Some(file), Some(size)) => format!("{file}, {size} bytes"),
            _ => "file present".to_string(),
        },
        (_, Some(at)) => format!("last signal {}", at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        _ => "ok".to_string(),
    }
}

/// When the verdict could change without a new observation, strictly after `now`.
pub fn next_wakeup(entity: &Entity, state: &EntityState, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let expectation = is_judged(entity).then(|| expectation(entity, state, now)).flatten();
    wakeup(entity, state, now, expectation.as_ref())
}

/// [`next_wakeup`] with the entity's expectation at `now` already worked out.
fn wakeup(
    entity: &Entity,
    state: &EntityState,
    now: DateTime<Utc>,
    expectation: Option<&Expectation>,
) -> Option<DateTime<Utc>> {
    if !is_judged(entity) {
        return None;
    }
    // A deadline is passed one millisecond after it: `overdue` means strictly later.
    let tick = chrono::Duration::milliseconds(1);
    let mut candidates: Vec<DateTime<Utc>> = Vec::new();
    if let Some(e) = expectation {
        candidates.push(e.expected_at + tick);
        candidates.push(e.deadline + tick);
        if e.overdue {
            // Count the next missed run when its own deadline passes.
            if let Some(next) = entity.schedule().and_then(|s| s.next_after(now))
                && let Ok(grace) = chrono::Duration::from_std(entity.grace().unwrap_or_default())
            {
                candidates.push(next + grace + tick);
            }
        }
    }
    if let (Spec::Routine(r), Some(since)) = (&entity.spec, state.running_since)
        && let Some(max) = r.max_runtime.and_then(|m| chrono::Duration::from_std(m).ok())
    {
        candidates.push(since + max + tick);
    }
    if let (Spec::Agent(a), Some(last)) = (&entity.spec, state.last_signal)
        && let Ok(after) = chrono::Duration::from_std(a.stale_after)
    {
        candidates.push(last + after + tick);
    }
    candidates.into_iter().filter(|t| *t > now).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EntityKey, Kind};
    use crate::observe::{Ping, PingKind, apply_ping, apply_probe, fresh};

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    /// A workspace with the default rules and the given desired documents.
    fn config(desired: &str) -> Config {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("desired")).expect("mkdir");
        std::fs::write(dir.path().join("desired/x.yaml"), desired).expect("write");
        crate::config::load(dir.path(), at(0)).unwrap_or_else(|e| panic!("{:?}", e.0))
    }

    fn entity<'a>(c: &'a Config, kind: Kind, id: &str) -> &'a Entity {
        c.entity(&EntityKey::new(kind, id)).expect("entity")
    }

    fn ping(kind: PingKind, s: i64) -> Ping {
        Ping { kind, at: at(s), rid: None, message: None }
    }

    #[test]
    fn routine_every_period_goes_stale_after_grace() {
        let c = config("kind: Routine\nid: r\nevery: 60s\ngrace: 30s\n");
        let r = entity(&c, Kind::Routine, "r");
        let mut s = fresh(r, at(0));
        assert_eq!(evaluate(&c, r, &s, at(1)).reason, "NeverObserved");
        apply_ping(r, &mut s, &ping(PingKind::Success, 10));
        let table = [
            (11, Level::Healthy, "Healthy"),
            (70, Level::Healthy, "Healthy"),
            (100, Level::Healthy, "Healthy"),
            (101, Level::Stale, "Overdue"),
        ];
        for (t, level, reason) in table {
            let v = evaluate(&c, r, &s, at(t));
            assert_eq!((v.level, v.reason.as_str()), (level, reason), "at +{t}s");
        }
        assert_eq!(next_wakeup(r, &s, at(11)), Some(at(70) + chrono::Duration::milliseconds(1)));
        assert_eq!(next_wakeup(r, &s, at(71)), Some(at(100) + chrono::Duration::milliseconds(1)));
    }

    #[test]
    fn never_pinged_routine_goes_stale_after_its_first_expected_run() {
        let c = config("kind: Routine\nid: r\nevery: 60s\ngrace: 30s\n");
        let r = entity(&c, Kind::Routine, "r");
        let s = fresh(r, at(0));
        assert_eq!(evaluate(&c, r, &s, at(90)).level, Level::Unknown);
        assert_eq!(evaluate(&c, r, &s, at(91)).level, Level::Stale);
    }

    #[test]
    fn cron_routine_in_a_time_zone() {
        // 07:00 Europe/Berlin on 2026-11-25 is 06:00 UTC.
        let c =
            config("kind: Routine\nid: r\nschedule: \"0 7 * * *\"\ntimezone: Europe/Berlin\ngrace: 15m\n");
        let r = entity(&c, Kind::Routine, "r");
        let mut s = fresh(r, at(0));
        let t = |text: &str| DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc);
        apply_ping(
            r,
            &mut s,
            &Ping { kind: PingKind::Success, at: t("2026-11-24T06:01:00Z"), rid: None, message: None },
        );
        let e = expectation(r, &s, t("2026-11-25T06:10:00Z")).expect("expectation");
        assert_eq!(e.expected_at, t("2026-11-25T06:00:00Z"));
        assert_eq!(e.deadline, t("2026-11-25T06:15:00Z"));
        assert!(e.late && !e.overdue);
        assert_eq!(evaluate(&c, r, &s, t("2026-11-25T06:15:00Z")).level, Level::Healthy);
        let v = evaluate(&c, r, &s, t("2026-11-25T06:15:01Z"));
        assert_eq!((v.level, v.rule.as_deref()), (Level::Stale, Some("overdue")));
        assert!(v.message.contains("2026-11-25T06:00:00Z"), "{}", v.message);
    }

    #[test]
    fn failures_and_max_runtime() {
        let c = config("kind: Routine\nid: r\nevery: 1h\nmax_runtime: 10m\n");
        let r = entity(&c, Kind::Routine, "r");
        let mut s = fresh(r, at(0));
        apply_ping(r, &mut s, &ping(PingKind::Fail, 5));
        assert_eq!(evaluate(&c, r, &s, at(6)).reason, "RunFailed");
        apply_ping(r, &mut s, &ping(PingKind::Exit(0), 7));
        assert_eq!(evaluate(&c, r, &s, at(8)).level, Level::Healthy);
        apply_ping(r, &mut s, &ping(PingKind::Exit(2), 9));
        let v = evaluate(&c, r, &s, at(10));
        assert_eq!(v.reason, "RunFailed");
        assert_eq!(v.evidence.and_then(|e| e.exit_code), Some(2));
        apply_ping(r, &mut s, &ping(PingKind::Success, 20));
        apply_ping(r, &mut s, &ping(PingKind::Start, 100));
        assert_eq!(evaluate(&c, r, &s, at(700)).level, Level::Healthy);
        let v = evaluate(&c, r, &s, at(701));
        assert_eq!((v.level, v.reason.as_str()), (Level::Failed, "MaxRuntimeExceeded"));
        assert_eq!(v.evidence.map(|e| e.kind.clone()), Some("start".to_string()));
        assert_eq!(next_wakeup(r, &s, at(101)), Some(at(700) + chrono::Duration::milliseconds(1)));
    }

    fn probe(ok: bool, s: i64, latency: f64) -> Observation {
        Observation {
            at: at(s),
            kind: "http".into(),
            ok: Some(ok),
            latency_seconds: Some(latency),
            status: Some(if ok { 200 } else { 500 }),
            exit_code: None,
            error: (!ok).then(|| "status 500 not in 200-399".to_string()),
            rid: None,
            file: None,
            size: None,
            modified: None,
        }
    }

    #[test]
    fn integration_thresholds_and_latency() {
        let c = config(concat!(
            "kind: Integration\nid: i\nfailure_threshold: 3\nrecovery_threshold: 2\nlatency_warning: 1s\n",
            "observe: {http: {url: \"http://127.0.0.1:1/\"}}\n"
        ));
        let i = entity(&c, Kind::Integration, "i");
        let mut s = fresh(i, at(0));
        let steps: [(bool, f64, Level, &str); 7] = [
            (false, 0.1, Level::Warning, "Degraded"),
            (false, 0.1, Level::Warning, "Degraded"),
            (false, 0.1, Level::Failed, "ProbeFailing"),
            (true, 0.1, Level::Failed, "ProbeFailing"),
            (true, 0.1, Level::Healthy, "Healthy"),
            (true, 2.0, Level::Warning, "SlowResponse"),
            (true, 0.2, Level::Healthy, "Healthy"),
        ];
        for (n, (ok, latency, level, reason)) in steps.into_iter().enumerate() {
            apply_probe(i, &mut s, probe(ok, n as i64, latency));
            let v = evaluate(&c, i, &s, at(n as i64));
            assert_eq!((v.level, v.reason.as_str()), (level, reason), "step {n}");
            if n == 0 {
                assert_eq!(v.message, "1 of 3 failed probes: status 500 not in 200-399");
                assert_eq!(v.evidence.and_then(|e| e.status), Some(500));
            }
        }
    }

    #[test]
    fn without_rules_a_failure_is_degraded_never_healthy() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("desired")).expect("mkdir");
        std::fs::write(dir.path().join("mission-control.yaml"), "health: {defaults: false}\n")
            .expect("write");
        std::fs::write(
            dir.path().join("desired/x.yaml"),
            "kind: Routine\nid: r\nevery: 1h\n---\nkind: Integration\nid: i\nobserve: {tcp: {address: \"127.0.0.1:1\"}}\n",
        )
        .expect("write");
        let c = crate::config::load(dir.path(), at(0)).unwrap_or_else(|e| panic!("{:?}", e.0));
        assert!(c.health_rules.is_empty());
        let r = entity(&c, Kind::Routine, "r");
        let mut s = fresh(r, at(0));
        assert_eq!(evaluate(&c, r, &s, at(1)).reason, "NeverObserved");
        apply_ping(r, &mut s, &ping(PingKind::Start, 2));
        assert_eq!(evaluate(&c, r, &s, at(3)).reason, "Running");
        assert_eq!(evaluate(&c, r, &s, at(3)).level, Level::Unknown);
        apply_ping(r, &mut s, &ping(PingKind::Exit(3), 4));
        let v = evaluate(&c, r, &s, at(5));
        assert_eq!((v.level, v.reason.as_str()), (Level::Warning, "Degraded"));
        assert_eq!(v.message, "the latest observation failed: exit status 3");
        // No deadline rule: a routine that never pings again stays where it is.
        apply_ping(r, &mut s, &ping(PingKind::Success, 6));
        assert_eq!(evaluate(&c, r, &s, at(100_000)).level, Level::Healthy);
        let i = entity(&c, Kind::Integration, "i");
        let mut s = fresh(i, at(0));
        for n in 0..5 {
            apply_probe(i, &mut s, probe(false, n, 0.1));
            assert_eq!(evaluate(&c, i, &s, at(n)).level, Level::Warning, "probe {n}");
        }
    }

    fn file(s: i64, modified: i64, size: u64, ok: Option<bool>) -> Observation {
        Observation {
            at: at(s),
            kind: "file".into(),
            ok,
            latency_seconds: None,
            status: None,
            exit_code: None,
            error: (ok == Some(false)).then(|| "too small".to_string()),
            rid: None,
            file: Some("out/a.txt".into()),
            size: Some(size),
            modified: Some(at(modified)),
        }
    }

    #[test]
    fn output_max_age_and_min_size() {
        let c = config("kind: Output\nid: o\nlocation: out/*.txt\nmax_age: 60s\ngrace: 0s\nmin_size: 5\n");
        let o = entity(&c, Kind::Output, "o");
        let mut s = fresh(o, at(0));
        apply_probe(o, &mut s, file(10, 5, 100, Some(true)));
        assert_eq!(evaluate(&c, o, &s, at(65)).level, Level::Healthy);
        assert_eq!(evaluate(&c, o, &s, at(66)).reason, "Overdue");
        apply_probe(o, &mut s, file(70, 69, 100, Some(true)));
        assert_eq!(evaluate(&c, o, &s, at(70)).level, Level::Healthy);
        apply_probe(o, &mut s, file(80, 79, 1, Some(false)));
        assert_eq!(evaluate(&c, o, &s, at(80)).reason, "OutputInvalid");
    }

    #[test]
    fn a_missing_output_file_is_never_healthy() {
        let c = config("kind: Output\nid: o\nlocation: out/*.txt\nmax_age: 60s\ngrace: 0s\n");
        let o = entity(&c, Kind::Output, "o");
        let mut s = fresh(o, at(0));
        let nothing = |s: i64| Observation {
            ok: None,
            error: Some("no file matches out/*.txt".into()),
            file: None,
            size: None,
            modified: None,
            ..file(s, 0, 0, None)
        };
        apply_probe(o, &mut s, nothing(1));
        let verdict = evaluate(&c, o, &s, at(2));
        assert_eq!((verdict.level, verdict.reason.as_str()), (Level::Unknown, "NoOutcome"));
        assert_eq!(verdict.message, "no file matches out/*.txt yet");
        assert_eq!(evaluate(&c, o, &s, at(61)).level, Level::Stale, "its absence is judged at the deadline");
        // A file that was there and is gone again is not healthy either.
        apply_probe(o, &mut s, file(3, 2, 10, Some(true)));
        assert_eq!(evaluate(&c, o, &s, at(4)).level, Level::Healthy);
        apply_probe(o, &mut s, nothing(5));
        assert_eq!(evaluate(&c, o, &s, at(6)).level, Level::Unknown);
    }

    #[test]
    fn output_due_by_cron() {
        let c = config("kind: Output\nid: o\nlocation: out/*.txt\ndue: \"0 8 * * *\"\ngrace: 30m\n");
        let o = entity(&c, Kind::Output, "o");
        let t = |text: &str| DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc);
        let mut s = fresh(o, t("2026-11-20T00:00:00Z"));
        let mut obs = file(0, 0, 10, Some(true));
        obs.modified = Some(t("2026-11-24T08:05:00Z"));
        obs.at = t("2026-11-25T08:00:00Z");
        apply_probe(o, &mut s, obs);
        assert_eq!(evaluate(&c, o, &s, t("2026-11-25T08:30:00Z")).level, Level::Healthy);
        assert_eq!(evaluate(&c, o, &s, t("2026-11-25T08:30:01Z")).level, Level::Stale);
    }

    #[test]
    fn agents_go_stale_after_silence_and_paused_entities_are_not_judged() {
        let c = config(
            "kind: Agent\nid: a\nstale_after: 10m\n---\nkind: Routine\nid: p\nevery: 1m\ndesired: paused\n",
        );
        let a = entity(&c, Kind::Agent, "a");
        let mut s = fresh(a, at(0));
        assert_eq!(evaluate(&c, a, &s, at(10_000)).level, Level::Unknown);
        s.last_signal = Some(at(0));
        assert_eq!(evaluate(&c, a, &s, at(1)).reason, "NoOutcome", "a signal that says nothing of success");
        s.last = Some(Observation { kind: "report".into(), ok: Some(true), ..probe(true, 0, 0.0) }.into());
        assert_eq!(evaluate(&c, a, &s, at(600)).level, Level::Healthy);
        assert_eq!(evaluate(&c, a, &s, at(601)).reason, "AgentSilent");
        let p = entity(&c, Kind::Routine, "p");
        let v = evaluate(&c, p, &fresh(p, at(0)), at(10_000));
        assert_eq!((v.level, v.reason.as_str()), (Level::Unknown, "Paused"));
        assert_eq!(next_wakeup(p, &fresh(p, at(0)), at(1)), None);
    }

    #[test]
    fn explain_lists_every_rule_with_its_inputs() {
        let c = config("kind: Routine\nid: r\nevery: 60s\ngrace: 30s\n");
        let r = entity(&c, Kind::Routine, "r");
        let s = fresh(r, at(0));
        let e = explain(&c, r, &s, at(200));
        assert_eq!(e.verdict.rule.as_deref(), Some("overdue"));
        let overdue = e.traces.iter().find(|t| t.rule == "overdue").expect("trace");
        assert!(overdue.held);
        assert_eq!(overdue.inputs, vec![("overdue".to_string(), Value::Bool(true))]);
        assert!(e.traces.iter().any(|t| t.rule == "run-failed" && !t.held));
    }
}
