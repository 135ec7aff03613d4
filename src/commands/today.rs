//! `today`: what happened since local midnight, from the day's events: health transitions,
//! runs per routine, work on tasks, usage and its cost, alerts; then the first lines of the
//! orchestrator's memory for the day, when it wrote one.
//!
//! A run is a finished signal: a `heartbeat.received` success, fail or exit (exit status 0 is a
//! success), or a `cron.run` from the OpenClaw collector; starts and log pings are not runs.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::docs::first_lines;
use super::health::cost_text;
use super::render::{Lines, clock, code, count, docs_text, esc};
use super::{Reply, View};
use crate::events::Event;
use crate::work::event::{self as work_event, UsageRecorded};

/// How many lines of the memory file are shown.
const MEMORY_LINES: usize = 10;

#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
struct Runs {
    ok: u64,
    failed: u64,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
struct TaskCounts {
    created: u64,
    triaged: u64,
    assigned: u64,
    moved: u64,
    done: u64,
}

impl TaskCounts {
    fn total(&self) -> u64 {
        self.created + self.triaged + self.assigned + self.moved
    }
}

/// What `today` reports of the day's events, folded one event at a time. The daemon keeps one
/// as it folds the log, so `today` answers without reading the day's events again (a day of
/// pings is tens of thousands); the command line folds the events it read.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    /// Events folded.
    events: u64,
    /// The `health.changed` events, oldest first.
    transitions: Vec<Event>,
    /// Finished runs by entity type, then id.
    runs: BTreeMap<String, BTreeMap<String, Runs>>,
    tasks: TaskCounts,
    /// `usage.recorded`: records, tokens, cost by currency.
    records: u64,
    tokens: u64,
    cost: BTreeMap<String, f64>,
    firing: usize,
    resolved: usize,
}

impl Digest {
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Event>) -> Digest {
        let mut digest = Digest::default();
        events.into_iter().for_each(|e| digest.add(e));
        digest
    }

    /// Folds one more event of the day.
    pub fn add(&mut self, e: &Event) {
        self.events += 1;
        match e.kind.as_str() {
            "health.changed" => self.transitions.push(e.clone()),
            "alert.firing" => self.firing += 1,
            "alert.resolved" => self.resolved += 1,
            work_event::USAGE_RECORDED => {
                if let Some(u) = e.data.as_ref().and_then(|d| UsageRecorded::deserialize(d).ok()) {
                    self.records += 1;
                    self.tokens = self.tokens.saturating_add(u.total_tokens);
                    *self.cost.entry(u.currency).or_insert(0.0) += u.estimated_cost;
                }
            }
            _ => {}
        }
        if let Some(ok) = run_outcome(e) {
            let ids = match self.runs.get_mut(&e.entity_type) {
                Some(ids) => ids,
                None => self.runs.entry(e.entity_type.clone()).or_default(),
            };
            let r = match ids.get_mut(&e.entity_id) {
                Some(r) => r,
                None => ids.entry(e.entity_id.clone()).or_default(),
            };
            if ok {
                r.ok += 1;
            } else {
                r.failed += 1;
            }
        }
        if e.entity_type == work_event::TASK_ENTITY {
            count_task(&mut self.tasks, e);
        }
    }
}

/// `today`.
pub fn today(view: &View) -> Reply {
    let folded;
    let day = match view.today {
        Some(day) => day,
        None => {
            folded = Digest::of(view.today_events);
            &folded
        }
    };
    let transitions: Vec<&Event> = day.transitions.iter().rev().collect();
    let runs: BTreeMap<String, Runs> = day
        .runs
        .iter()
        .flat_map(|(kind, ids)| ids.iter().map(move |(id, r)| (format!("{kind}/{id}"), *r)))
        .collect();
    let tasks = &day.tasks;
    let (records, tokens, cost) = (day.records, day.tokens, &day.cost);
    let (firing, resolved) = (day.firing, day.resolved);
    let memory: Vec<&str> = view.memory.map(|m| first_lines(m, MEMORY_LINES)).unwrap_or_default();

    let local = view.now.with_timezone(&view.tz);
    let mut lines = Lines::new();
    let mut head = format!("*Today*, {} ({})", local.format("%a %-d %b"), view.tz.name());
    if day.events == 0 {
        head.push_str(": nothing recorded yet");
    } else {
        let (ok, failed) = runs.values().fold((0, 0), |(o, f), r| (o + r.ok, f + r.failed));
        let mut parts = vec![plural(transitions.len() as u64, "transition")];
        parts.push(match failed {
            0 => plural(ok + failed, "run"),
            f => format!("{} ({f} failed)", plural(ok + failed, "run")),
        });
        parts.push(format!("{}, {} done", plural(tasks.total(), "task change"), tasks.done));
        parts.push(cost_text(cost));
        head.push_str(&format!(": {}", parts.join(" · ")));
    }
    lines.line(head);
    if tasks.total() > 0 {
        lines.line(format!(
            "*Tasks*: {} created · {} triaged · {} assigned · {} moved · {} done",
            tasks.created, tasks.triaged, tasks.assigned, tasks.moved, tasks.done
        ));
    }
    if records > 0 {
        lines.line(format!(
            "*Usage*: {} · {} tokens · {}",
            plural(records, "record"),
            count(tokens),
            cost_text(cost)
        ));
    }
    if firing + resolved > 0 {
        lines.line(format!("*Alerts*: {firing} firing · {resolved} resolved"));
    }

    lines.heading("*Transitions*");
    for e in &transitions {
        let data = e.data.as_ref();
        let field = |k: &str| data.and_then(|d| d.get(k)).and_then(Value::as_str).unwrap_or("?");
        lines.item(format!(
            "{} {} {} → {} ({})",
            clock(e.timestamp, view.tz),
            code(&format!("{}/{}", e.entity_type, e.entity_id)),
            esc(field("from")),
            esc(&e.status),
            esc(field("reason")),
        ));
    }
    let mut run_list: Vec<(&String, &Runs)> = runs.iter().collect();
    run_list.sort_by(|a, b| b.1.failed.cmp(&a.1.failed).then_with(|| a.0.cmp(b.0)));
    lines.heading("*Runs*");
    for (entity, r) in &run_list {
        let text = match (r.ok, r.failed) {
            (ok, 0) => format!("{ok} ok"),
            (0, f) => format!("{f} failed"),
            (ok, f) => format!("{ok} ok, {f} failed"),
        };
        lines.item(format!("{}: {text}", code(entity)));
    }
    lines.heading(format!("From {}'s memory:", esc(&orchestrator(view))));
    for line in &memory {
        lines.item(docs_text(line));
    }

    let json = json!({
        "source": if view.live.is_some() || day.events > 0 { "live" } else { "none" },
        "date": local.date_naive().to_string(),
        "timezone": view.tz.name(),
        "transitions": transitions.iter().map(|e| {
            let data = e.data.as_ref();
            json!({
                "at": e.timestamp,
                "entity": format!("{}/{}", e.entity_type, e.entity_id),
                "from": data.and_then(|d| d.get("from")).cloned(),
                "to": e.status,
                "reason": data.and_then(|d| d.get("reason")).cloned(),
                "message": e.message,
            })
        }).collect::<Vec<_>>(),
        "runs": run_list.iter().map(|(entity, r)| json!({"entity": entity, "ok": r.ok, "failed": r.failed})).collect::<Vec<_>>(),
        "tasks": tasks,
        "usage": {"records": records, "tokens": tokens, "cost": cost},
        "alerts": {"firing": firing, "resolved": resolved},
        "memory": memory,
    });
    Reply { text: lines.finish(), json }
}

/// Whether an event is a finished run, and a successful one.
fn run_outcome(e: &Event) -> Option<bool> {
    match (e.kind.as_str(), e.status.as_str()) {
        ("heartbeat.received", "success") | ("cron.run", "ok" | "success") => Some(true),
        ("heartbeat.received", "fail") | ("cron.run", "error" | "fail" | "failed") => Some(false),
        ("heartbeat.received", "exit") => {
            Some(e.data.as_ref().and_then(|d| d.get("exit_code")).and_then(Value::as_i64) == Some(0))
        }
        _ => None,
    }
}

/// Counts a task event.
fn count_task(t: &mut TaskCounts, e: &Event) {
    match e.kind.as_str() {
        work_event::ITEM_CREATED => t.created += 1,
        work_event::TRIAGED => t.triaged += 1,
        work_event::ASSIGNED => t.assigned += 1,
        work_event::STATUS_CHANGED | work_event::BLOCKED => {
            t.moved += 1;
            if e.status == "done" {
                t.done += 1;
            }
        }
        _ => {}
    }
}

/// The orchestrator's name, for "From Fakker's memory".
fn orchestrator(view: &View) -> String {
    view.config
        .and_then(|c| c.orchestrator())
        .map(|o| o.display_name().to_string())
        .unwrap_or_else(|| "the orchestrator".to_string())
}

/// `1 run`, `3 runs`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{Fixture, assert_reply};
    use crate::commands::{Command, answer};

    #[test]
    fn a_day_live() {
        let f = Fixture::new();
        let r = answer(&Command::Today, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(
            lines[0],
            "*Today*, Wed 25 Nov (Europe/Berlin): 2 transitions · 5 runs (2 failed) · 25 task changes, 1 done · 0.48 USD"
        );
        assert_eq!(lines[1], "*Tasks*: 7 created · 5 triaged · 4 assigned · 9 moved · 1 done");
        assert_eq!(lines[2], "*Usage*: 2 records · 1.5k tokens · 0.48 USD");
        assert_eq!(lines[3], "*Alerts*: 1 firing · 0 resolved");
        assert_eq!(lines[4], "*Transitions*");
        assert_eq!(lines[5], "10:30 `routine/daily-status` healthy → stale (Overdue)");
        assert_eq!(lines[6], "09:00 `integration/openclaw-gateway` healthy → failed (ProbeFailing)");
        assert_eq!(lines[7], "*Runs*");
        assert_eq!(lines[8], "`routine/daily-status`: 1 ok, 2 failed");
        assert_eq!(lines[9], "`routine/inbox-sweep`: 2 ok");
        assert_eq!(lines[10], "From Fakker's memory:");
        assert_eq!(lines[11], "2026-11-25");
        assert_eq!(lines[12], "- Shipped the freeze of `release/1.4`.");
        assert_eq!(r.json["runs"][0]["failed"], 2);
        assert_eq!(r.json["transitions"][0]["entity"], "routine/daily-status");
        assert_eq!(r.json["tasks"]["done"], 1);
        assert_eq!(r.json["usage"]["cost"]["USD"], 0.48);
        assert_eq!(r.json["date"], "2026-11-25");
    }

    /// The daemon's digest, folded one event at a time as they arrive, answers as the day's
    /// events folded at once do.
    #[test]
    fn a_digest_kept_event_by_event_answers_the_same() {
        let f = Fixture::new();
        let view = f.view();
        let mut digest = super::Digest::default();
        view.today_events.iter().for_each(|e| digest.add(e));
        let kept = answer(
            &Command::Today,
            &crate::commands::View { today: Some(&digest), today_events: &[], ..view },
        );
        let folded = answer(&Command::Today, &view);
        assert_eq!(kept.text, folded.text);
        assert_eq!(kept.json, folded.json);
    }

    #[test]
    fn a_quiet_day_from_docs_only() {
        let f = Fixture::docs_only();
        let r = answer(&Command::Today, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "*Today*, Wed 25 Nov (Europe/Berlin): nothing recorded yet");
        assert_eq!(lines[1], "From the orchestrator's memory:");
        assert_eq!(lines[2], "2026-11-25");
        assert_eq!(r.json["source"], "none");
        assert_eq!(r.json["transitions"], serde_json::json!([]));
    }
}
