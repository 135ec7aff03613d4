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

use serde::de::MapAccess;
use serde_json::{Map, Value};

use super::lenient::{Field, Fields, Object, parse_line, skip};
use super::{Run, RunStatus, Tokens};

/// The fields of a run-log entry that make a [`Run`], from a line or from a tree.
#[derive(Debug, Default)]
struct Entry<'a> {
    action: Field<'a>,
    job_id: Field<'a>,
    ts: Field<'a>,
    run_at_ms: Field<'a>,
    status: Field<'a>,
    error: Field<'a>,
    summary: Field<'a>,
    duration_ms: Field<'a>,
    next_run_at_ms: Field<'a>,
    model: Field<'a>,
    provider: Field<'a>,
    session_key: Field<'a>,
    usage: Object<Usage<'a>>,
}

/// `usage` of a run-log entry (the provider's spelling).
#[derive(Debug, Default)]
struct Usage<'a> {
    input: Field<'a>,
    output: Field<'a>,
    cache_read: Field<'a>,
    cache_write: Field<'a>,
    total: Field<'a>,
}

impl<'de> Fields<'de> for Entry<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let slot = match key {
            "action" => &mut self.action,
            "jobId" => &mut self.job_id,
            "ts" => &mut self.ts,
            "runAtMs" => &mut self.run_at_ms,
            "status" => &mut self.status,
            "error" => &mut self.error,
            "summary" => &mut self.summary,
            "durationMs" => &mut self.duration_ms,
            "nextRunAtMs" => &mut self.next_run_at_ms,
            "model" => &mut self.model,
            "provider" => &mut self.provider,
            "sessionKey" => &mut self.session_key,
            "usage" => {
                self.usage = map.next_value()?;
                return Ok(());
            }
            _ => return skip(map),
        };
        *slot = map.next_value()?;
        Ok(())
    }
}

impl<'de> Fields<'de> for Usage<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let slot = match key {
            "input_tokens" => &mut self.input,
            "output_tokens" => &mut self.output,
            "cache_read_tokens" => &mut self.cache_read,
            "cache_write_tokens" => &mut self.cache_write,
            "total_tokens" => &mut self.total,
            _ => return skip(map),
        };
        *slot = map.next_value()?;
        Ok(())
    }
}

impl<'a> Entry<'a> {
    fn of(o: &'a Map<String, Value>) -> Entry<'a> {
        let f = |k: &str| Field::of(o.get(k));
        Entry {
            action: f("action"),
            job_id: f("jobId"),
            ts: f("ts"),
            run_at_ms: f("runAtMs"),
            status: f("status"),
            error: f("error"),
            summary: f("summary"),
            duration_ms: f("durationMs"),
            next_run_at_ms: f("nextRunAtMs"),
            model: f("model"),
            provider: f("provider"),
            session_key: f("sessionKey"),
            usage: match o.get("usage") {
                None => Object::Absent,
                Some(Value::Object(u)) => {
                    let f = |k: &str| Field::of(u.get(k));
                    Object::Is(Usage {
                        input: f("input_tokens"),
                        output: f("output_tokens"),
                        cache_read: f("cache_read_tokens"),
                        cache_write: f("cache_write_tokens"),
                        total: f("total_tokens"),
                    })
                }
                Some(_) => Object::Other,
            },
        }
    }

    fn run(&self, job_id: Option<&str>) -> Option<Run> {
        if let Field::Str(action) = &self.action
            && action != "finished"
        {
            return None;
        }
        let job_id = self.job_id.text().or_else(|| job_id.map(str::to_string))?;
        Some(Run {
            job_id,
            finished_at_ms: self.ts.integer()?,
            run_at_ms: self.run_at_ms.integer(),
            status: self.status.str().and_then(RunStatus::parse),
            error: self.error.text(),
            summary: self.summary.text(),
            duration_ms: self.duration_ms.integer(),
            next_run_at_ms: self.next_run_at_ms.integer(),
            model: self.model.text(),
            provider: self.provider.text(),
            usage: self.usage.get().map(Usage::tokens),
            session_key: self.session_key.text(),
        })
    }
}

impl Usage<'_> {
    fn tokens(&self) -> Tokens {
        let count = |f: &Field| f.integer().map_or(0, |n| n.max(0) as u64);
        let mut t = Tokens {
            input: count(&self.input),
            output: count(&self.output),
            cache_read: count(&self.cache_read),
            cache_write: count(&self.cache_write),
            total: count(&self.total),
        };
        if t.total == 0 {
            t.total = t.input + t.output + t.cache_read + t.cache_write;
        }
        t
    }
}

/// A finished run from a run-log object; None when the object is not one (another action,
/// no job id, no time). `job_id` fills in when the object itself has none (SQLite rows).
pub fn run_from(o: &Map<String, Value>, job_id: Option<&str>) -> Option<Run> {
    Entry::of(o).run(job_id)
}

/// A finished run from one line of `cron/runs/<job>.jsonl`, read without building a tree of
/// it; `Ok(None)` when the line is an object but not a finished run, an error when it is not
/// a JSON object.
pub fn run_from_line(line: &str) -> Result<Option<Run>, serde_json::Error> {
    parse_line::<Entry>(line).map(|e| e.run(None))
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
    fn a_line_reads_as_its_tree_does() {
        for line in [
            r#"{"ts":2000,"jobId":"j","action":"finished","status":"ok","runAtMs":1000,"durationMs":900,"model":"m","usage":{"input_tokens":10,"output_tokens":5},"unknown":[1,{"a":null}]}"#,
            r#"{"ts":"2000.7","jobId":" j ","status":"failed","error":"rate \"limited\"","usage":"none","sessionKey":"agent:main:cron:j:run:r"}"#,
            r#"{"ts":1,"jobId":"j","action":"started"}"#,
            r#"{"ts":1,"jobId":"j","action":5,"ts":2}"#,
            r#"{"ts":1}"#,
            r#"{"jobId":"j","ts":true}"#,
        ] {
            assert_eq!(run_from_line(line).expect("an object"), run_from(&obj(line), None), "{line}");
        }
        assert!(run_from_line("[1]").is_err() && run_from_line("{").is_err());
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
