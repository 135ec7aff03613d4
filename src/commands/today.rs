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

#[derive(Debug, Default, serde::Serialize)]
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

/// `today`.
pub fn today(view: &View) -> Reply {
    let events = view.today_events;
    let transitions: Vec<&Event> = events.iter().rev().filter(|e| e.kind == "health.changed").collect();
    let runs = runs(events);
    let tasks = task_counts(events);
    let (records, tokens, cost) = usage(events);
    let firing = events.iter().filter(|e| e.kind == "alert.firing").count();
    let resolved = events.iter().filter(|e| e.kind == "alert.resolved").count();
    let memory: Vec<&str> = view.memory.map(|m| first_lines(m, MEMORY_LINES)).unwrap_or_default();

    let local = view.now.with_timezone(&view.tz);
    let mut lines = Lines::new();
    let mut head = format!("*Today*, {} ({})", local.format("%a %-d %b"), view.tz.name());
    if events.is_empty() {
        head.push_str(": nothing recorded yet");
    } else {
        let (ok, failed) = runs.values().fold((0, 0), |(o, f), r| (o + r.ok, f + r.failed));
        let mut parts = vec![plural(transitions.len() as u64, "transition")];
        parts.push(match failed {
            0 => plural(ok + failed, "run"),
            f => format!("{} ({f} failed)", plural(ok + failed, "run")),
        });
        parts.push(format!("{}, {} done", plural(tasks.total(), "task change"), tasks.done));
        parts.push(cost_text(&cost));
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
            cost_text(&cost)
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
        "source": if view.live.is_some() || !events.is_empty() { "live" } else { "none" },
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

/// Finished runs per entity (`routine/daily-status`).
fn runs(events: &[Event]) -> BTreeMap<String, Runs> {
    let mut out: BTreeMap<String, Runs> = BTreeMap::new();
    for e in events {
        let ok = match (e.kind.as_str(), e.status.as_str()) {
            ("heartbeat.received", "success") | ("cron.run", "ok" | "success") => true,
            ("heartbeat.received", "fail") | ("cron.run", "error" | "fail" | "failed") => false,
            ("heartbeat.received", "exit") => {
                e.data.as_ref().and_then(|d| d.get("exit_code")).and_then(Value::as_i64) == Some(0)
            }
            _ => continue,
        };
        let r = out.entry(format!("{}/{}", e.entity_type, e.entity_id)).or_default();
        if ok {
            r.ok += 1;
        } else {
            r.failed += 1;
        }
    }
    out
}

fn task_counts(events: &[Event]) -> TaskCounts {
    let mut t = TaskCounts::default();
    for e in events.iter().filter(|e| e.entity_type == work_event::TASK_ENTITY) {
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
    t
}

/// Records, tokens and cost by currency of the day's `usage.recorded` events.
fn usage(events: &[Event]) -> (u64, u64, BTreeMap<String, f64>) {
    let (mut records, mut tokens, mut cost) = (0, 0u64, BTreeMap::new());
    for e in events.iter().filter(|e| e.kind == work_event::USAGE_RECORDED) {
        let Some(u) = e.data.as_ref().and_then(|d| UsageRecorded::deserialize(d).ok()) else { continue };
        records += 1;
        tokens = tokens.saturating_add(u.total_tokens);
        *cost.entry(u.currency).or_insert(0.0) += u.estimated_cost;
    }
    (records, tokens, cost)
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
