//! Drift between the routines declared in `desired/` and the cron jobs OpenClaw has, as
//! live-state mismatches (SPEC section 5, `{entity, field, desired, observed}`), and the
//! reverse: [`import_yaml`] writes the desired documents for the jobs found.
//!
//! A routine names its job with `observe: {openclaw_cron: {job: ID}}`. Each of these is a
//! mismatch:
//!
//! | drift | entity | field | desired | observed |
//! | --- | --- | --- | --- | --- |
//! | declared but missing | `routine/ID` | `openclaw.job` | the job id | null |
//! | present but undeclared | `openclaw_job/JOB` | `declared` | null | the job's name and schedule |
//! | schedule differs | `routine/ID` | `schedule` | `0 7 * * *` or `every 15m` | the job's |
//! | time zone differs | `routine/ID` | `timezone` | the routine's zone | the job's (`tz`, else the gateway's) |
//! | enabled while paused, or the reverse | `routine/ID` | `enabled` | `true` for an active routine | the job's `enabled` |
//! | duplicated | `routine/ID` | `openclaw.copies` | the job id | every job with that id, or the same agent, name and schedule |
//!
//! The system-owned `Heartbeat (<agent>)` jobs of 2026.9 are OpenClaw's own and never count
//! as undeclared.

use std::collections::BTreeSet;

use chrono_tz::Tz;
use serde_json::json;

use super::{Job, JobSchedule, instant_ms};
use crate::config::{DesiredState, Entity, Probe, Spec, valid_id};
use crate::schedule::Schedule;
use crate::state::Mismatch;

/// The mismatches between the routines among `entities` and `jobs`. `gateway_tz` is the zone
/// OpenClaw evaluates a job without `tz` in.
pub fn drift<'a>(
    entities: impl IntoIterator<Item = &'a Entity>,
    jobs: &[Job],
    gateway_tz: Tz,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut declared = BTreeSet::new();
    for entity in entities {
        let (Spec::Routine(routine), false) = (&entity.spec, entity.inert) else { continue };
        let Probe::OpenclawCron { job: job_id } = &routine.observe else { continue };
        declared.insert(job_id.clone());
        let key = entity.key.to_string();
        let mismatch = |field: &str, desired: serde_json::Value, observed: serde_json::Value| Mismatch {
            entity: key.clone(),
            field: field.to_string(),
            desired,
            observed,
        };
        let Some(job) = jobs.iter().find(|j| j.id == *job_id) else {
            out.push(mismatch("openclaw.job", json!(job_id), serde_json::Value::Null));
            continue;
        };
        let copies: Vec<&Job> = jobs
            .iter()
            .filter(|j| {
                j.id == job.id
                    || (j.agent_id == job.agent_id && j.name == job.name && j.schedule == job.schedule)
            })
            .collect();
        if copies.len() > 1 {
            declared.extend(copies.iter().map(|j| j.id.clone()));
            out.push(mismatch(
                "openclaw.copies",
                json!(job_id),
                json!(copies.iter().map(|j| j.id.as_str()).collect::<Vec<_>>()),
            ));
        }
        let desired_schedule = describe_routine(&routine.schedule);
        let observed_schedule = describe_job(&job.schedule);
        if normalise(&desired_schedule) != normalise(&observed_schedule) {
            out.push(mismatch("schedule", json!(desired_schedule), json!(observed_schedule)));
        }
        if let (Schedule::Cron { tz, .. }, JobSchedule::Cron { tz: job_tz, .. }) =
            (&routine.schedule, &job.schedule)
        {
            let observed = job_tz.clone().unwrap_or_else(|| gateway_tz.name().to_string());
            if observed != tz.name() {
                out.push(mismatch("timezone", json!(tz.name()), json!(observed)));
            }
        }
        let want_enabled = entity.meta.desired == DesiredState::Active;
        if job.enabled != want_enabled {
            out.push(mismatch("enabled", json!(want_enabled), json!(job.enabled)));
        }
    }
    for job in jobs {
        if declared.contains(&job.id) || job.heartbeat_agent().is_some() {
            continue;
        }
        declared.insert(job.id.clone());
        out.push(Mismatch {
            entity: format!("openclaw_job/{}", job.id),
            field: "declared".to_string(),
            desired: serde_json::Value::Null,
            observed: json!({"name": job.name, "schedule": describe_job(&job.schedule), "enabled": job.enabled}),
        });
    }
    out
}

/// A routine's schedule as OpenClaw would write it: the cron text, or `every <duration>`.
fn describe_routine(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Cron { cron, .. } => cron.source().to_string(),
        Schedule::Every(d) => format!("every {}", humantime::format_duration(*d)),
    }
}

/// A job's schedule in the same terms.
fn describe_job(schedule: &JobSchedule) -> String {
    match schedule {
        JobSchedule::Cron { expr, .. } => {
            let fields: Vec<&str> = expr.split_whitespace().collect();
            match fields.as_slice() {
                [sec, rest @ ..] if rest.len() == 5 && *sec == "0" => rest.join(" "),
                _ => fields.join(" "),
            }
        }
        JobSchedule::Every { every_ms, .. } => {
            format!(
                "every {}",
                humantime::format_duration(std::time::Duration::from_millis((*every_ms).max(0) as u64))
            )
        }
        JobSchedule::At { at_ms } => format!(
            "at {}",
            instant_ms(*at_ms)
                .map_or_else(|| at_ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        ),
        JobSchedule::Invalid { reason } => format!("invalid ({reason})"),
    }
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Desired-state YAML for the jobs found: one `Routine` per recurring job, observing it
/// through `openclaw_cron`, paused when the job is disabled. One-shot and unreadable jobs,
/// and OpenClaw's own heartbeat jobs, become comments. `gateway_tz` fills in a cron job
/// without `tz`.
pub fn import_yaml(jobs: &[Job], gateway_tz: Tz) -> String {
    let mut out = String::from(
        "# yaml-language-server: $schema=../schemas/desired.schema.json\n\
         # Routines for the OpenClaw cron jobs found; written by `mission-control openclaw import`.\n",
    );
    let mut ids = BTreeSet::new();
    for job in jobs {
        if let Some(agent) = job.heartbeat_agent() {
            out.push_str(&format!(
                "# skipped {}: the heartbeat of agent {agent}, owned by OpenClaw\n",
                quote(&job.id)
            ));
            continue;
        }
        let schedule = match &job.schedule {
            JobSchedule::Cron { tz, .. } => format!(
                "schedule: {}\ntimezone: {}\n",
                quote(&describe_job(&job.schedule)),
                quote(tz.as_deref().unwrap_or(gateway_tz.name()))
            ),
            JobSchedule::Every { every_ms, .. } if *every_ms >= 1000 => format!(
                "every: {}\n",
                quote(
                    &humantime::format_duration(std::time::Duration::from_secs((*every_ms / 1000) as u64))
                        .to_string()
                )
            ),
            other => {
                out.push_str(&format!(
                    "# skipped {}: {} is not a recurring schedule a routine can declare\n",
                    quote(&job.id),
                    describe_job(other)
                ));
                continue;
            }
        };
        let id = unique_id(&routine_id(job), &mut ids);
        out.push_str("---\nkind: Routine\n");
        out.push_str(&format!("id: {id}\nname: {}\n", quote(&job.name)));
        if let Some(agent) = &job.agent_id {
            out.push_str(&format!("labels: {{openclaw_agent: {}}}\n", quote(agent)));
        }
        if !job.enabled {
            out.push_str("desired: paused\n");
        }
        out.push_str(&schedule);
        out.push_str(&format!("observe:\n  openclaw_cron: {{job: {}}}\n", quote(&job.id)));
    }
    out
}

/// A routine id from the job's name (or id): lower case, runs of other characters as `-`.
fn routine_id(job: &Job) -> String {
    let slug = |text: &str| {
        let mut s = String::new();
        for c in text.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                s.push(c);
            } else if !s.ends_with('-') && !s.is_empty() {
                s.push('-');
            }
        }
        s.trim_end_matches('-').chars().take(63).collect::<String>()
    };
    [slug(&job.name), slug(&job.id)]
        .into_iter()
        .find(|s| valid_id(s))
        .unwrap_or_else(|| "openclaw-job".to_string())
}

fn unique_id(base: &str, taken: &mut BTreeSet<String>) -> String {
    let mut id = base.to_string();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        let suffix = format!("-{n}");
        id = format!("{}{suffix}", &base[..base.len().min(63 - suffix.len())]);
        n += 1;
    }
    id
}

/// A YAML scalar: JSON string syntax is valid YAML.
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::openclaw::JobState;

    fn job(id: &str, name: &str, schedule: JobSchedule, enabled: bool) -> Job {
        Job {
            id: id.into(),
            agent_id: Some("main".into()),
            name: name.into(),
            enabled,
            schedule,
            state: JobState::default(),
            payload_kind: None,
            timeout_seconds: None,
            created_at_ms: None,
        }
    }

    fn cron(expr: &str, tz: Option<&str>) -> JobSchedule {
        JobSchedule::Cron { expr: expr.into(), tz: tz.map(str::to_string), stagger_ms: None }
    }

    fn config(desired: &str) -> crate::config::Config {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("desired")).expect("mkdir");
        std::fs::write(dir.path().join("desired/r.yaml"), desired).expect("write");
        crate::config::load(dir.path(), chrono::Utc::now()).unwrap_or_else(|e| panic!("{:?}", e.0))
    }

    const DESIRED: &str = "\
kind: Routine\nid: daily\nschedule: \"0 7 * * *\"\ntimezone: Europe/Berlin\nobserve: {openclaw_cron: {job: daily-job}}\n---\n\
kind: Routine\nid: gone\nevery: 15m\nobserve: {openclaw_cron: {job: gone-job}}\n---\n\
kind: Routine\nid: moved\nschedule: \"0 7 * * *\"\ntimezone: Europe/Berlin\nobserve: {openclaw_cron: {job: moved-job}}\n---\n\
kind: Routine\nid: quiet\nevery: 1h\ndesired: paused\nobserve: {openclaw_cron: {job: quiet-job}}\n---\n\
kind: Routine\nid: wanted\nevery: 1h\nobserve: {openclaw_cron: {job: wanted-job}}\n---\n\
kind: Routine\nid: twice\nevery: 30m\nobserve: {openclaw_cron: {job: twice-job}}\n---\n\
kind: Routine\nid: pinged\nevery: 30m\n";

    #[test]
    fn every_kind_of_drift() {
        let c = config(DESIRED);
        let jobs = [
            job("daily-job", "Daily", cron("0 0 7 * * *", Some("Europe/Berlin")), true),
            job("moved-job", "Moved", cron("0 8 * * *", None), true),
            job("quiet-job", "Quiet", JobSchedule::Every { every_ms: 3_600_000, anchor_ms: None }, true),
            job("wanted-job", "Wanted", JobSchedule::Every { every_ms: 3_600_000, anchor_ms: None }, false),
            job("twice-job", "Twice", JobSchedule::Every { every_ms: 1_800_000, anchor_ms: None }, true),
            job("twice-copy", "Twice", JobSchedule::Every { every_ms: 1_800_000, anchor_ms: None }, true),
            job("stray", "Stray", cron("*/5 * * * *", None), true),
            job("hb", "Heartbeat (main)", JobSchedule::Every { every_ms: 1_800_000, anchor_ms: None }, true),
        ];
        let found: Vec<(String, String, String, String)> =
            drift(c.entities.iter().map(|e| e.as_ref()), &jobs, chrono_tz::UTC)
                .into_iter()
                .map(|m| (m.entity, m.field, m.desired.to_string(), m.observed.to_string()))
                .collect();
        let expected: Vec<(String, String, String, String)> = [
            ("routine/gone", "openclaw.job", "\"gone-job\"", "null"),
            ("routine/moved", "schedule", "\"0 7 * * *\"", "\"0 8 * * *\""),
            ("routine/moved", "timezone", "\"Europe/Berlin\"", "\"UTC\""),
            ("routine/quiet", "enabled", "false", "true"),
            ("routine/twice", "openclaw.copies", "\"twice-job\"", "[\"twice-job\",\"twice-copy\"]"),
            ("routine/wanted", "enabled", "true", "false"),
            (
                "openclaw_job/stray",
                "declared",
                "null",
                "{\"enabled\":true,\"name\":\"Stray\",\"schedule\":\"*/5 * * * *\"}",
            ),
        ]
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn import_writes_loadable_routines() {
        let jobs = [
            job("j1", "Daily status!", cron("0 7 * * *", Some("Europe/Berlin")), true),
            job("j2", "Daily status!", cron("30 7 * * *", None), false),
            job("j3", "Sweep", JobSchedule::Every { every_ms: 900_000, anchor_ms: None }, true),
            job("j4", "Once", JobSchedule::At { at_ms: 1_777_618_800_000 }, true),
            job("hb", "Heartbeat (main)", JobSchedule::Every { every_ms: 1_800_000, anchor_ms: None }, true),
        ];
        let yaml = import_yaml(&jobs, chrono_tz::UTC);
        assert!(yaml.contains("# skipped \"j4\": at 2026-05-01T07:00:00Z"), "{yaml}");
        let c = config(&yaml);
        let ids: Vec<String> = c
            .entities
            .iter()
            .filter(|e| e.key.kind == crate::config::Kind::Routine)
            .map(|e| e.key.to_string())
            .collect();
        assert_eq!(ids, vec!["routine/daily-status", "routine/daily-status-2", "routine/sweep"]);
        // The imported routines match the jobs: no drift but nothing for the one-shot.
        let left = drift(c.entities.iter().map(|e| e.as_ref()), &jobs, chrono_tz::UTC);
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].entity, "openclaw_job/j4");
    }
}
