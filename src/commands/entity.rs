//! How a watched entity (routine, integration, output, agent, workflow, project, budget) reads in a
//! reply: which ones are shown, in what order, on one line, with its evidence and runbook, and
//! as JSON.
//!
//! Protected entities that are not activated never reach the live state; [`visible`] drops
//! them once more by the configuration, so a snapshot written by an older build cannot leak
//! one into a reply.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::View;
use super::docs::{self, Runbook};
use super::render::{code, esc, level_dot, level_name};
use crate::config::{DesiredState, EntityKey, Level};
use crate::state::{EntityState, LiveState, Observation};

/// Every entity of the live state, in the snapshot's order, without protected, non-activated
/// ones.
pub fn visible<'a>(view: &View<'a>) -> Vec<&'a EntityState> {
    let Some(live) = view.live else { return Vec::new() };
    lists(live)
        .into_iter()
        .flatten()
        .map(|s| &**s)
        .filter(|e| {
            let inert = || {
                let config = view.config?;
                let key = EntityKey::parse(&key(e))?;
                Some(config.entity(&key)?.inert)
            };
            !inert().unwrap_or(false)
        })
        .collect()
}

fn lists(live: &LiveState) -> [&Vec<std::sync::Arc<EntityState>>; 8] {
    [
        &live.agents,
        &live.subagents,
        &live.workflows,
        &live.routines,
        &live.integrations,
        &live.outputs,
        &live.projects,
        &live.budgets,
    ]
}

/// Whether the entity is judged at all: paused and retired ones count nowhere.
pub fn judged(e: &EntityState) -> bool {
    e.desired == DesiredState::Active
}

/// Judged entities at one of `levels`, worst first (see [`worst_first`]).
pub fn at_levels<'a>(view: &View<'a>, kinds: &[&str], levels: &[Level]) -> Vec<&'a EntityState> {
    let mut out: Vec<&EntityState> = visible(view)
        .into_iter()
        .filter(|e| judged(e) && levels.contains(&e.health))
        .filter(|e| kinds.is_empty() || kinds.contains(&e.kind.as_str()))
        .collect();
    worst_first(&mut out);
    out
}

/// Worst level first; within a level, the longest at it first (no `since` last), then kind
/// and id.
pub fn worst_first(list: &mut [&EntityState]) {
    list.sort_by(|a, b| {
        Reverse(a.health)
            .cmp(&Reverse(b.health))
            .then_with(|| since_key(a.since).cmp(&since_key(b.since)))
            .then_with(|| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)))
    });
}

fn since_key(since: Option<DateTime<Utc>>) -> (bool, Option<DateTime<Utc>>) {
    (since.is_none(), since)
}

/// `routine/daily-status`.
pub fn key(e: &EntityState) -> String {
    format!("{}/{}", e.kind, e.id)
}

/// `` `routine/daily-status` (Daily status report) ``: the name only when it says more.
pub fn label(e: &EntityState) -> String {
    if e.name.trim().is_empty() || e.name == e.id {
        code(&key(e))
    } else {
        format!("{} ({})", code(&key(e)), esc(&e.name))
    }
}

/// `🔴 `routine/x` (Name): failed (Overdue) no signal since 06:59`.
pub fn line(e: &EntityState) -> String {
    let mut out =
        format!("{} {}: {} ({})", level_dot(e.health), label(e), level_name(e.health), esc(&e.reason));
    if !e.message.trim().is_empty() {
        out.push(' ');
        out.push_str(&esc(&e.message));
    }
    out
}

/// The entity's runbook as `RUNBOOKS.md` has it.
pub fn runbook(view: &View, e: &EntityState) -> Runbook {
    let Some(config) = view.config else { return Runbook::Unknown };
    let name = EntityKey::parse(&key(e))
        .and_then(|k| config.entity(&k))
        .and_then(|entity| entity.meta.runbook.clone());
    match name {
        Some(name) => docs::runbook(view.docs.runbooks.as_deref(), &name),
        None => Runbook::None,
    }
}

/// `evidence: error connection refused · HTTP 503 · latency 1.2s · http 5m ago`, when the
/// entity has any.
pub fn evidence_line(e: &EntityState, now: DateTime<Utc>) -> Option<String> {
    let o = e.evidence.as_ref()?;
    let mut parts = Vec::new();
    if let Some(error) = o.error.as_deref().filter(|x| !x.trim().is_empty()) {
        parts.push(format!("error {}", esc(error)));
    }
    if let Some(status) = o.status {
        parts.push(format!("HTTP {status}"));
    }
    if let Some(exit) = o.exit_code {
        parts.push(format!("exit {exit}"));
    }
    if let Some(latency) = o.latency_seconds.filter(|l| l.is_finite() && *l >= 0.0) {
        parts
            .push(format!("latency {}", crate::duration::human(std::time::Duration::from_secs_f64(latency))));
    }
    parts.push(format!("{} {}", esc(&o.kind), super::render::ago(o.at, now)));
    Some(format!("evidence: {}", parts.join(" · ")))
}

/// The entity as the JSON forms show it.
pub fn json(e: &EntityState) -> Value {
    json!({
        "entity": key(e),
        "name": e.name,
        "level": level_name(e.health),
        "reason": e.reason,
        "message": e.message,
        "since": e.since,
    })
}

/// The evidence fields `server` shows.
pub fn evidence_json(o: &Observation) -> Value {
    json!({
        "at": o.at,
        "kind": o.kind,
        "error": o.error,
        "status": o.status,
        "exit_code": o.exit_code,
        "latency_seconds": o.latency_seconds,
    })
}

/// The runbook as the JSON forms show it.
pub fn runbook_json(r: &Runbook) -> Value {
    json!({"name": r.name(), "step": r.step(), "declared": r.declared()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{Fixture, entity};

    #[test]
    fn order_and_visibility() {
        let f = Fixture::new();
        let view = f.view();
        let keys: Vec<String> =
            at_levels(&view, &[], &[Level::Failed, Level::Stale, Level::Warning, Level::Unknown])
                .iter()
                .map(|e| key(e))
                .collect();
        assert_eq!(
            keys,
            [
                "integration/openclaw-gateway",
                "routine/daily-status",
                "project/mission-control",
                "output/usage-export",
                "workflow/release",
                "agent/backend"
            ]
        );
        // A protected entity in a snapshot is still never shown.
        let mut f = Fixture::new();
        f.live
            .integrations
            .push(entity("integration", "paperclip", Level::Failed, "ProbeFailing", "x").into());
        assert!(!visible(&f.view()).iter().any(|e| e.id == "paperclip"));
    }

    #[test]
    fn names_are_escaped() {
        let e = entity("routine", "a_b", Level::Failed, "Overdue", "late *again*");
        let mut e = e;
        e.name = "a_b*c".into();
        let text = line(&e);
        assert_eq!(text, "🔴 `routine/a_b` (a\\_b\\*c): failed (Overdue) late \\*again\\*");
        assert!(crate::commands::render::tests::check_markdown(&text).is_ok());
    }
}
