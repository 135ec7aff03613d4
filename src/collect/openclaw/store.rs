//! The JSON cron store, `cron/jobs.json` (and `cron/jobs-state.json`), and the job shape
//! shared by every layout.
//!
//! # What OpenClaw writes (reference)
//!
//! `cron/jobs.json` is `{"version": 1, "jobs": [job, ...]}`, written whole through a temporary
//! file and a rename (so a reader sees the old file or the new one), pretty-printed JSON;
//! OpenClaw reads it with a JSON5 fallback, so hand edits may carry comments or trailing
//! commas, and a bare array of jobs is accepted too. A job:
//!
//! - `id` (older stores: `jobId`), `agentId` (optional: the default agent), `name`,
//!   `description`, `enabled` (default true), `deleteAfterRun`, `createdAtMs`, `updatedAtMs`,
//!   `sessionTarget` (`main`, `isolated`, `current`, `session:<key>`), `wakeMode`.
//! - `schedule`, by `kind`: `{kind: "at", at}` where `at` is an ISO time (a bare date is
//!   midnight UTC, a time without zone is UTC) or digits of epoch milliseconds, older stores
//!   `atMs`; `{kind: "every", everyMs, anchorMs}` (the anchor falls back to `createdAtMs`);
//!   `{kind: "cron", expr, tz, staggerMs}` (older stores `cron` for `expr`; no `tz` means
//!   the gateway's local zone). Numbers may be numeric strings. Without `kind`, the kind
//!   follows from the fields present.
//! - `payload`: `{kind: "systemEvent", text}` or `{kind: "agentTurn", message, model,
//!   timeoutSeconds, ...}`; the run timeout is `timeoutSeconds`, else 60 minutes for agent
//!   turns and 10 minutes otherwise; 0 disables it.
//! - `state` (all optional, times in epoch milliseconds): `nextRunAtMs`, `runningAtMs` (set
//!   while a run is in flight; the gateway clears it at start-up and treats one older than two
//!   hours as stale), `lastRunAtMs`, `lastRunStatus` (`ok` | `error` | `skipped`; older stores
//!   only `lastStatus`), `lastError`, `lastErrorReason`, `lastDurationMs`,
//!   `consecutiveErrors`, `consecutiveSkipped`, `scheduleErrorCount`, `lastDeliveryStatus`,
//!   `lastDelivered`, `lastFailureAlertAtMs`.
//!
//! From 2026.4.20 the runtime state moved out: `jobs.json` keeps `state: {}` and
//! `cron/jobs-state.json` (beside the store: `<name>-state.json`) holds `{"version": 1,
//! "jobs": {<jobId>: {updatedAtMs, scheduleIdentity, state}}}`. `scheduleIdentity` is a JSON
//! text of `{version, enabled, schedule}`; when it no longer matches the job, OpenClaw drops
//! the stored `nextRunAtMs`. Without a state file, inline states are read as before.
//!
//! Unknown fields are ignored everywhere; a job without an id is reported and skipped.

use serde_json::{Map, Value};

use super::{Job, JobSchedule, JobState, RunStatus};

/// The jobs of a `jobs.json` text, with a message for each entry that is not a job.
pub fn parse_jobs(text: &str) -> Result<(Vec<Job>, Vec<String>), String> {
    let value = parse_json5(text)?;
    let rows = match &value {
        Value::Array(rows) => rows.as_slice(),
        Value::Object(o) => match o.get("jobs") {
            Some(Value::Array(rows)) => rows.as_slice(),
            Some(_) => return Err("`jobs` is not a list".into()),
            None => &[],
        },
        _ => return Err("neither an object with `jobs` nor a list".into()),
    };
    let mut jobs = Vec::new();
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match row
            .as_object()
            .ok_or_else(|| "not an object".to_string())
            .and_then(|o| job_from(o, o.get("state")))
        {
            Ok(job) => jobs.push(job),
            Err(e) => problems.push(format!("job {i}: {e}")),
        }
    }
    Ok((jobs, problems))
}

/// The states of a `jobs-state.json` text, by job id.
pub fn parse_states(text: &str) -> Result<Map<String, Value>, String> {
    let value = parse_json5(text)?;
    match value.get("jobs") {
        Some(Value::Object(jobs)) => Ok(jobs.clone()),
        _ => Err("no `jobs` object".into()),
    }
}

/// Applies the split state file to jobs read from `jobs.json` (2026.4.20 to 5.28).
pub fn merge_states(jobs: &mut [Job], states: &Map<String, Value>) {
    for job in jobs {
        let Some(entry) = states.get(&job.id).and_then(Value::as_object) else {
            job.state = JobState::default();
            continue;
        };
        job.state = entry.get("state").map(state_from).unwrap_or_default();
    }
}

/// Parses JSON, falling back to JSON5 as OpenClaw does.
pub fn parse_json5(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).or_else(|_| json5::from_str::<Value>(text).map_err(|e| e.to_string()))
}

/// A job from its stored object; `state` is where its runtime state is (inline, a state file
/// entry, or a database column).
pub fn job_from(o: &Map<String, Value>, state: Option<&Value>) -> Result<Job, String> {
    let id = text(o.get("id")).or_else(|| text(o.get("jobId"))).ok_or("no job id")?;
    let payload = o.get("payload").and_then(Value::as_object);
    Ok(Job {
        name: text(o.get("name")).unwrap_or_else(|| id.clone()),
        agent_id: text(o.get("agentId")),
        enabled: o.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        schedule: match o.get("schedule").and_then(Value::as_object) {
            Some(s) => schedule_from(s),
            // The oldest stores kept the schedule fields on the job itself.
            None => schedule_from(o),
        },
        state: state.map(state_from).unwrap_or_default(),
        payload_kind: payload.and_then(|p| text(p.get("kind"))),
        timeout_seconds: payload.and_then(|p| number(p.get("timeoutSeconds"))),
        created_at_ms: integer(o.get("createdAtMs")),
        id,
    })
}

/// A schedule object, tolerant of older field names and numeric strings.
pub fn schedule_from(s: &Map<String, Value>) -> JobSchedule {
    let kind = text(s.get("kind")).map(|k| k.to_ascii_lowercase());
    let expr = text(s.get("expr")).or_else(|| text(s.get("cron")));
    let at_ms = integer(s.get("atMs")).filter(|ms| *ms > 0);
    let at = text(s.get("at"));
    let every_ms = number(s.get("everyMs"));
    let kind = kind.or_else(|| {
        if at.is_some() || at_ms.is_some() {
            Some("at".into())
        } else if every_ms.is_some() {
            Some("every".into())
        } else {
            expr.as_ref().map(|_| "cron".into())
        }
    });
    match kind.as_deref() {
        Some("at") => match at_ms.or_else(|| at.as_deref().and_then(parse_absolute_ms)) {
            Some(at_ms) => JobSchedule::At { at_ms },
            None => {
                JobSchedule::Invalid { reason: format!("`at` is not a time: {:?}", at.unwrap_or_default()) }
            }
        },
        Some("every") => match every_ms {
            Some(ms) => JobSchedule::Every {
                every_ms: (ms.floor() as i64).max(1),
                anchor_ms: integer(s.get("anchorMs")).map(|a| a.max(0)),
            },
            None => JobSchedule::Invalid { reason: "an `every` schedule without `everyMs`".into() },
        },
        Some("cron") => match expr {
            Some(expr) => JobSchedule::Cron {
                expr,
                tz: text(s.get("tz")),
                stagger_ms: number(s.get("staggerMs")).map(|n| n.floor().max(0.0) as i64),
            },
            None => JobSchedule::Invalid { reason: "a `cron` schedule without `expr`".into() },
        },
        Some(other) => JobSchedule::Invalid { reason: format!("unknown schedule kind {other:?}") },
        None => JobSchedule::Invalid { reason: "no schedule".into() },
    }
}

/// A runtime state object.
pub fn state_from(v: &Value) -> JobState {
    let Some(o) = v.as_object() else {
        return JobState::default();
    };
    JobState {
        next_run_at_ms: integer(o.get("nextRunAtMs")).filter(|t| *t > 0),
        running_at_ms: integer(o.get("runningAtMs")),
        last_run_at_ms: integer(o.get("lastRunAtMs")),
        last_run_status: text(o.get("lastRunStatus"))
            .or_else(|| text(o.get("lastStatus")))
            .and_then(|s| RunStatus::parse(&s)),
        last_error: text(o.get("lastError")),
        last_duration_ms: integer(o.get("lastDurationMs")),
        consecutive_errors: integer(o.get("consecutiveErrors")).and_then(|n| u32::try_from(n).ok()),
    }
}

/// An absolute time as OpenClaw reads one: epoch milliseconds as digits, an ISO date
/// (midnight UTC), an ISO date-time without zone (UTC), or RFC 3339.
pub fn parse_absolute_ms(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse::<i64>().ok().filter(|n| *n > 0);
    }
    let bytes = raw.as_bytes();
    let is_date = |b: &[u8]| {
        b.len() >= 10
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[5..7].iter().all(u8::is_ascii_digit)
            && b[7] == b'-'
            && b[8..10].iter().all(u8::is_ascii_digit)
    };
    let normalised = if is_date(bytes) && bytes.len() == 10 {
        format!("{raw}T00:00:00Z")
    } else if is_date(bytes) && bytes.get(10) == Some(&b'T') && !has_zone(raw) {
        format!("{raw}Z")
    } else {
        raw.to_string()
    };
    chrono::DateTime::parse_from_rfc3339(&normalised).ok().map(|t| t.timestamp_millis())
}

fn has_zone(raw: &str) -> bool {
    let time = raw.find(['T', 't']).map_or("", |i| &raw[i + 1..]);
    time.ends_with(['Z', 'z']) || time.contains(['+', '-'])
}

/// A non-empty trimmed string.
pub fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// A finite number, or a string holding one.
pub fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A number as whole milliseconds (or a count).
pub fn integer(v: Option<&Value>) -> Option<i64> {
    number(v).map(|f| f.floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_of_every_vintage() {
        let text = r#"{
          // a hand edit, as JSON5 allows
          version: 1,
          jobs: [
            {id: "a", name: "Daily", enabled: true, schedule: {kind: "cron", expr: "0 7 * * *", tz: "Europe/Berlin"},
             payload: {kind: "agentTurn", message: "x", timeoutSeconds: 120},
             state: {nextRunAtMs: 1700000000000, lastStatus: "error", consecutiveErrors: 2, futureField: 1}},
            {jobId: "b", schedule: {everyMs: "900000", anchorMs: 5}, enabled: false},
            {id: "c", schedule: {kind: "at", atMs: 1700000000000}},
            {id: "d", schedule: {kind: "at", at: "2026-05-01"}},
            {id: "e", cron: "*/5 * * * *"},
            {name: "no id"},
            "garbage",
          ],
        }"#;
        let (jobs, problems) = parse_jobs(text).expect("parses");
        assert_eq!(problems, vec!["job 5: no job id".to_string(), "job 6: not an object".to_string()]);
        assert_eq!(jobs.len(), 5);
        let a = &jobs[0];
        assert_eq!(
            a.schedule,
            JobSchedule::Cron {
                expr: "0 7 * * *".into(),
                tz: Some("Europe/Berlin".into()),
                stagger_ms: None
            }
        );
        assert_eq!(a.state.last_run_status, Some(RunStatus::Error));
        assert_eq!(a.state.consecutive_errors, Some(2));
        assert_eq!(a.run_timeout(), Some(std::time::Duration::from_secs(120)));
        assert_eq!(jobs[1].id, "b");
        assert!(!jobs[1].enabled);
        assert_eq!(jobs[1].schedule, JobSchedule::Every { every_ms: 900_000, anchor_ms: Some(5) });
        assert_eq!(jobs[1].run_timeout(), Some(std::time::Duration::from_secs(600)));
        assert_eq!(jobs[2].schedule, JobSchedule::At { at_ms: 1_700_000_000_000 });
        assert_eq!(jobs[3].schedule, JobSchedule::At { at_ms: 1_777_593_600_000 });
        assert_eq!(
            jobs[4].schedule,
            JobSchedule::Cron { expr: "*/5 * * * *".into(), tz: None, stagger_ms: None }
        );
    }

    #[test]
    fn split_state_file() {
        let (mut jobs, _) = parse_jobs(
            r#"{"version":1,"jobs":[{"id":"a","schedule":{"kind":"every","everyMs":60000},"state":{}}]}"#,
        )
        .expect("jobs");
        let states = parse_states(
            r#"{"version":1,"jobs":{"a":{"updatedAtMs":1,"scheduleIdentity":"x","state":{"runningAtMs":42,"lastRunStatus":"ok"}}}}"#,
        )
        .expect("states");
        merge_states(&mut jobs, &states);
        assert_eq!(jobs[0].state.running_at_ms, Some(42));
        assert_eq!(jobs[0].state.last_run_status, Some(RunStatus::Ok));
        assert!(parse_states("{\"version\":1}").is_err());
        assert!(parse_jobs("{\"jobs\": [").is_err());
    }

    #[test]
    fn absolute_times() {
        for (raw, expected) in [
            ("1700000000000", Some(1_700_000_000_000)),
            ("2026-05-01", Some(1_777_593_600_000)),
            ("2026-05-01T07:00:00", Some(1_777_618_800_000)),
            ("2026-05-01T09:00:00+02:00", Some(1_777_618_800_000)),
            ("2026-05-01T07:00:00Z", Some(1_777_618_800_000)),
            ("tomorrow", None),
            ("", None),
        ] {
            assert_eq!(parse_absolute_ms(raw), expected, "{raw}");
        }
    }
}
