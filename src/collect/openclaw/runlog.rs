//! Run-log entries: one line of `cron/runs/<jobId>.jsonl`, or the same entry kept in SQLite
//! (`cron_run_logs.entry_json` from 2026.6, `task_runs.detail_json` from 2026.8).
//!
//! # What OpenClaw writes (reference)
//!
//! The gateway appends one JSON object per line when a run *finishes* (never when it starts):
//! `ts` (epoch ms of the finish), `jobId`, `action: "finished"`, `status` (`ok` | `error` |
//! `skipped`), `error`, `summary`, `delivered`, `deliveryStatus`, `deliveryError`,
//! `sessionId`, `sessionKey`, `runAtMs` (when the run started), `durationMs`, `nextRunAtMs`
//! (the next fire time it planned), `model`, `provider` and `usage: {input_tokens,
//! output_tokens, total_tokens, cache_read_tokens, cache_write_tokens}`. Writes to one file are
//! serialised, so `ts` grows line by line. Past `cron.runLog.maxBytes` (default 2,000,000
//! bytes) the file is rewritten to its last `keepLines` (default 2,000) lines through a
//! temporary file and a rename. Readers skip lines that are not JSON, lack `jobId` or `ts`,
//! or have another `action`.
//!
//! In SQLite the entry is a row of `cron_run_logs` (`store_key`, `job_id`, `seq` growing per
//! job, `ts`, `status`, ..., `entry_json`), pruned per job to the newest 2,000 rows; from
//! 2026.8 `cron_run_logs` is migrated into `task_runs` (`runtime = 'cron'`, `source_id` the job
//! id, `ended_at`, `status` in task terms, `detail_json` `{kind: "cron-run", status, runAtMs,
//! durationMs, nextRunAtMs, model, provider, usage, ...}`) and dropped.

use serde_json::{Map, Value};

use super::store::{integer, text};
use super::{Run, RunStatus, Tokens};

/// A finished run from a run-log object; None when the object is not one (another action,
/// no job id, no time). `job_id` fills in when the object itself has none (SQLite rows).
pub fn run_from(o: &Map<String, Value>, job_id: Option<&str>) -> Option<Run> {
    if let Some(action) = o.get("action").and_then(Value::as_str)
        && action != "finished"
    {
        return None;
    }
    let job_id = text(o.get("jobId")).or_else(|| job_id.map(str::to_string))?;
    Some(Run {
        job_id,
        finished_at_ms: integer(o.get("ts"))?,
        run_at_ms: integer(o.get("runAtMs")),
        status: text(o.get("status")).and_then(|s| RunStatus::parse(&s)),
        error: text(o.get("error")),
        summary: text(o.get("summary")),
        duration_ms: integer(o.get("durationMs")),
        next_run_at_ms: integer(o.get("nextRunAtMs")),
        model: text(o.get("model")),
        provider: text(o.get("provider")),
        usage: o.get("usage").and_then(Value::as_object).map(run_tokens),
        session_key: text(o.get("sessionKey")),
    })
}

fn run_tokens(u: &Map<String, Value>) -> Tokens {
    let count = |k: &str| integer(u.get(k)).map_or(0, |n| n.max(0) as u64);
    let mut t = Tokens {
        input: count("input_tokens"),
        output: count("output_tokens"),
        cache_read: count("cache_read_tokens"),
        cache_write: count("cache_write_tokens"),
        total: count("total_tokens"),
    };
    if t.total == 0 {
        t.total = t.input + t.output + t.cache_read + t.cache_write;
    }
    t
}

/// The runs of one job already handed out, so that a log read again from its start (after a
/// rewrite, or from another layout after an upgrade) yields each run once. Runs of one job
/// finish in order, so the newest finish time and the runs that finished at exactly that
/// millisecond are enough.
#[derive(Debug, Clone, Default)]
pub struct Watermark {
    ts: i64,
    at_ts: Vec<(Option<i64>, Option<RunStatus>, Option<String>)>,
}

impl Watermark {
    /// Whether the run is new; if so it is remembered.
    pub fn admit(&mut self, run: &Run) -> bool {
        let key = (run.run_at_ms, run.status, run.session_key.clone());
        if run.finished_at_ms < self.ts {
            return false;
        }
        if run.finished_at_ms > self.ts {
            self.ts = run.finished_at_ms;
            self.at_ts.clear();
        } else if self.at_ts.contains(&key) {
            return false;
        }
        self.at_ts.push(key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).expect("json")
    }

    #[test]
    fn lines_and_what_is_not_a_run() {
        let run = run_from(
            &obj(
                r#"{"ts":2000,"jobId":"j","action":"finished","status":"ok","runAtMs":1000,"durationMs":900,
                  "model":"m","usage":{"input_tokens":10,"output_tokens":5},"unknown":[1]}"#,
            ),
            None,
        )
        .expect("a run");
        assert_eq!(run.started_at_ms(), 1000);
        assert_eq!(
            run.usage,
            Some(Tokens { input: 10, output: 5, cache_read: 0, cache_write: 0, total: 15 })
        );
        assert_eq!(run.status, Some(RunStatus::Ok));
        assert!(run_from(&obj(r#"{"ts":1,"jobId":"j","action":"started"}"#), None).is_none());
        assert!(run_from(&obj(r#"{"ts":1}"#), None).is_none());
        assert!(run_from(&obj(r#"{"jobId":"j"}"#), None).is_none());
        let from_row = run_from(&obj(r#"{"ts":5,"status":"weird","durationMs":2}"#), Some("k")).expect("row");
        assert_eq!((from_row.job_id.as_str(), from_row.status, from_row.started_at_ms()), ("k", None, 3));
    }

    #[test]
    fn watermark_admits_each_run_once() {
        let run = |ts: i64, at: i64| Run {
            job_id: "j".into(),
            finished_at_ms: ts,
            run_at_ms: Some(at),
            status: Some(RunStatus::Ok),
            error: None,
            summary: None,
            duration_ms: None,
            next_run_at_ms: None,
            model: None,
            provider: None,
            usage: None,
            session_key: None,
        };
        let mut w = Watermark::default();
        assert!(w.admit(&run(10, 1)));
        assert!(w.admit(&run(10, 2)));
        assert!(!w.admit(&run(10, 1)));
        assert!(!w.admit(&run(9, 0)));
        assert!(w.admit(&run(11, 3)));
        assert!(!w.admit(&run(10, 2)));
    }
}
