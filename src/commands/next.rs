//! `next`: the most valuable action that nothing blocks, and the four after it.
//!
//! # Ranking
//!
//! 1. A `failed` entity that has a runbook: do the runbook's first step.
//! 2. A `stale` entity that has a runbook: do the runbook's first step.
//! 3. A `failed` entity, then a `stale` one, without a runbook: look into it
//!    (`mission-control why KIND/ID`).
//! 4. An `urgent` task that is not blocked: in review first, then active, assigned, planned,
//!    triaged.
//! 5. A `high` task that is not blocked, in the same order.
//! 6. Untriaged inbox items: triage them (one action for all of them).
//! 7. A triaged or planned task without an owner: assign it (`medium` first, then `low`, then
//!    unprioritised).
//! 8. Any other `medium`, then `low`, then unprioritised task that is not blocked, in the
//!    order of 4.
//!
//! Within a rank, entities that have been at their level longest come first, and tasks that
//! were updated longest ago. Never recommended: paused and retired entities; workflows and
//! projects (their level comes from other entities and tasks); an entity whose alerts are held
//! back by an unhealthy dependency (the dependency comes first); blocked tasks and tasks
//! waiting on an unfinished task they depend on; `someday` tasks; finished work.
//!
//! Without live state, `next` reads the open items (`- [ ] ...`) of `TASKS.md`, ranked by the
//! first priority word in them (urgent, high, medium, low), in file order otherwise.

use serde::Serialize;
use serde_json::json;

use super::docs::{Runbook, open_items};
use super::entity;
use super::render::{Lines, ago, code, docs_text, esc, from_docs, level_dot, level_name, word};
use super::task::{action_rank, assign_command, is_open, priority_rank, waits_on_open};
use super::{Reply, View, source};
use crate::config::{Level, Priority};
use crate::work::{Board, Status, Task};

/// The top action and this many after it.
const SHOWN: usize = 5;

/// One recommended action.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Action {
    /// The ranking rule (1-8) it comes from.
    rank: u8,
    verb: &'static str,
    /// `kind/id`, a task id, or `inbox`.
    target: String,
    name: String,
    why: String,
    /// The runbook's first step.
    step: Option<String>,
    runbook: Option<String>,
    command: Option<String>,
}

impl Action {
    fn headline(&self) -> String {
        format!("{} {} {} — {}", self.verb, code(&self.target), esc(&self.name), esc(&self.why))
    }

    /// What to do now: the runbook's step, else the command.
    fn how(&self) -> Option<String> {
        match (&self.step, &self.runbook, &self.command) {
            (Some(step), Some(runbook), _) => {
                Some(format!("{} (runbook: {})", docs_text(step), esc(runbook)))
            }
            (Some(step), None, _) => Some(docs_text(step)),
            (None, Some(runbook), Some(command)) => {
                Some(format!("runbook: {} · {}", esc(runbook), code(command)))
            }
            (None, _, Some(command)) => Some(code(command)),
            _ => None,
        }
    }
}

/// `next`.
pub fn next(view: &View) -> Reply {
    if view.live.is_none() && view.board.is_none() {
        return next_docs(view);
    }
    let mut actions = entity_actions(view);
    if let Some(board) = view.board {
        actions.extend(task_actions(view, board));
    }
    // Stable: each rank keeps the order it was built in.
    actions.sort_by_key(|a| a.rank);
    let more = actions.len().saturating_sub(SHOWN);
    actions.truncate(SHOWN);

    let mut lines = Lines::new();
    match actions.first() {
        None => lines.line(format!(
            "{} *Next*: nothing waits on you: no failed or stale entity, no open task, an empty inbox",
            level_dot(Level::Healthy)
        )),
        Some(top) => {
            lines.line(format!("*Next*: {}", top.headline()));
            if let Some(how) = top.how() {
                lines.line(format!("   {how}"));
            }
        }
    }
    lines.heading("*Then*");
    for (i, a) in actions.iter().enumerate().skip(1) {
        lines.item(format!("{}. {}", i + 1, a.headline()));
    }
    lines.hidden(more);
    let json = json!({"source": source(true), "actions": actions, "more": more});
    Reply { text: lines.finish(), json }
}

/// Ranks 1-3: failed and stale entities, with a runbook first.
fn entity_actions(view: &View) -> Vec<Action> {
    let candidates = entity::at_levels(
        view,
        &["integration", "routine", "output", "agent"],
        &[Level::Failed, Level::Stale],
    );
    candidates
        .into_iter()
        .filter(|e| !e.inhibited)
        .map(|e| {
            let runbook = entity::runbook(view, e);
            let rank = match (runbook.declared(), e.health) {
                (true, Level::Failed) => 1,
                (true, _) => 2,
                (false, _) => 3,
            };
            let mut why = format!("{} ({})", level_name(e.health), e.reason);
            if let Some(since) = e.since {
                why.push_str(&format!(", {}", ago(since, view.now)));
            }
            let key = entity::key(e);
            Action {
                rank,
                verb: if rank == 3 { "Look into" } else { "Fix" },
                name: if e.name.is_empty() { e.id.clone() } else { e.name.clone() },
                why,
                step: runbook.step().map(str::to_string),
                runbook: runbook.name().map(str::to_string),
                command: match runbook {
                    Runbook::Step { .. } => None,
                    _ => Some(format!("mission-control why {key}")),
                },
                target: key,
            }
        })
        .collect()
}

/// Ranks 4-8: tasks and the inbox.
fn task_actions(view: &View, board: &Board) -> Vec<Action> {
    let mut ranked: Vec<(u8, &Task)> = board
        .tasks
        .values()
        .filter(|t| is_open(t) && t.status != Status::Blocked && !waits_on_open(board, t))
        .filter(|t| t.priority != Some(Priority::Someday))
        .map(|t| {
            let rank = match t.priority {
                Some(Priority::Urgent) => 4,
                Some(Priority::High) => 5,
                _ if matches!(t.status, Status::Triaged | Status::Planned) && t.owner.is_none() => 7,
                _ => 8,
            };
            (rank, t)
        })
        .collect();
    ranked.sort_by(|(ra, a), (rb, b)| {
        let key = |r: u8, t: &Task| {
            let (status, priority) = (action_rank(t.status), usize::from(priority_rank(t.priority)));
            if r <= 5 { (status, priority) } else { (priority, status) }
        };
        ra.cmp(rb).then(key(*ra, a).cmp(&key(*rb, b))).then(a.updated.cmp(&b.updated)).then(a.seq.cmp(&b.seq))
    });
    let mut out: Vec<Action> = ranked.into_iter().map(|(rank, t)| task_action(view, rank, t)).collect();
    let inbox = board.inbox();
    if let Some(oldest) = inbox.first() {
        let auto = view.config.is_some_and(|c| !c.triage_rules.is_empty());
        out.push(Action {
            rank: 6,
            verb: "Triage",
            target: "inbox".to_string(),
            name: if inbox.len() == 1 { "1 item".to_string() } else { format!("{} items", inbox.len()) },
            why: format!("oldest {}", ago(oldest.created, view.now)),
            step: None,
            runbook: None,
            command: Some(
                if auto { "mission-control triage --auto" } else { "mission-control triage" }.to_string(),
            ),
        });
    }
    out
}

fn task_action(view: &View, rank: u8, t: &Task) -> Action {
    let (verb, command) = match t.status {
        Status::Review => ("Review", Some(format!("mission-control task {} --status done", t.id))),
        Status::Active => ("Follow up on", Some(format!("mission-control task {} --status review", t.id))),
        Status::Assigned => ("Start", Some(format!("mission-control task {} --status active", t.id))),
        _ => ("Assign", Some(assign_command(t))),
    };
    let mut why = Vec::new();
    why.push(t.priority.map_or_else(|| "no priority".to_string(), |p| word(&p)));
    why.push(format!("{} since {}", t.status, ago(t.updated, view.now)));
    if let Some(owner) = &t.owner {
        why.push(owner.clone());
    }
    Action {
        rank,
        verb,
        target: t.id.clone(),
        name: t.title.clone(),
        why: why.join(", "),
        step: None,
        runbook: None,
        command,
    }
}

/// Without live state: the open items of `TASKS.md`, by their priority word.
fn next_docs(view: &View) -> Reply {
    let Some(text) = view.docs.tasks.as_deref() else {
        return super::health::nothing("TASKS.md", "capture work with `inbox TEXT`");
    };
    let mut items = open_items(text);
    items.sort_by_key(|item| docs_priority(item));
    let more = items.len().saturating_sub(SHOWN);
    items.truncate(SHOWN);
    let mut lines = Lines::new();
    lines.line(from_docs("TASKS.md", false));
    match items.first() {
        Some(top) => lines.line(format!("*Next*: {}", docs_text(top))),
        None => lines.line("*Next*: no open item in `TASKS.md`"),
    }
    lines.heading("*Then*");
    for (i, item) in items.iter().enumerate().skip(1) {
        lines.item(format!("{}. {}", i + 1, docs_text(item)));
    }
    lines.hidden(more);
    let actions: Vec<_> = items.iter().map(|text| json!({"text": text})).collect();
    let json = json!({"source": source(false), "file": "TASKS.md", "actions": actions, "more": more});
    Reply { text: lines.finish(), json }
}

/// The first priority word of a line: urgent 0 .. low 3, none 4.
fn docs_priority(line: &str) -> u8 {
    let lower = line.to_lowercase();
    lower
        .split(|c: char| !c.is_alphanumeric())
        .find_map(|w| match w {
            "urgent" => Some(0),
            "high" => Some(1),
            "medium" => Some(2),
            "low" => Some(3),
            _ => None,
        })
        .unwrap_or(4)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{Fixture, assert_reply};
    use crate::commands::{Command, answer};

    #[test]
    fn the_ranking_live() {
        let f = Fixture::new();
        let r = answer(&Command::Next, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(
            lines[0],
            "*Next*: Fix `integration/openclaw-gateway` OpenClaw gateway — failed (ProbeFailing), 2h ago"
        );
        assert_eq!(
            lines[1],
            "   Check the gateway process on the host: `systemctl --user status openclaw-gateway`. \
             (runbook: Gateway down)"
        );
        assert_eq!(lines[2], "*Then*");
        assert!(lines[3].starts_with("2. Fix `routine/daily-status` Daily status report — stale (Overdue)"));
        assert!(lines[4].starts_with("3. Review `t1` login is broken — urgent, review since"), "{}", r.text);
        assert!(lines[5].starts_with("4. Assign `t7` Deploy the thing — high, planned since"), "{}", r.text);
        assert!(lines[6].starts_with("5. Triage `inbox` 2 items — oldest"), "{}", r.text);
        assert_eq!(lines[7], "+2 more");
        let ranks: Vec<u64> =
            r.json["actions"].as_array().into_iter().flatten().filter_map(|a| a["rank"].as_u64()).collect();
        assert_eq!(ranks, [1, 2, 4, 5, 6]);
        assert_eq!(r.json["more"], 2);
        assert_eq!(r.json["actions"][0]["runbook"], "Gateway down");
        assert_eq!(
            r.json["actions"][3]["command"],
            "mission-control assign t7 --owner Subagent:Infra --expected-output T --boundaries T --review-criteria T"
        );
    }

    #[test]
    fn the_rest_of_the_ranking() {
        // Without the failing entities and the inbox, the tail of the ranking shows.
        let mut f = Fixture::new();
        for list in [&mut f.live.integrations, &mut f.live.routines] {
            for e in list.iter_mut() {
                std::sync::Arc::make_mut(e).health = crate::config::Level::Healthy;
            }
        }
        f.board.tasks.retain(|_, t| t.status != crate::work::Status::Inbox);
        let r = answer(&Command::Next, &f.view());
        assert_reply(&r);
        let targets: Vec<&str> =
            r.json["actions"].as_array().into_iter().flatten().filter_map(|a| a["target"].as_str()).collect();
        // urgent review, high planned, low triaged without owner, medium active.
        assert_eq!(targets, ["t1", "t7", "t2", "t4"]);
        let ranks: Vec<u64> =
            r.json["actions"].as_array().into_iter().flatten().filter_map(|a| a["rank"].as_u64()).collect();
        assert_eq!(ranks, [4, 5, 7, 8]);
        assert!(!r.text.contains("+"), "{}", r.text);
    }

    #[test]
    fn from_tasks_md() {
        let f = Fixture::docs_only();
        let r = answer(&Command::Next, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "_from_ `TASKS.md` _(no live state yet)_");
        assert_eq!(lines[1], "*Next*: Freeze the release branch (Subagent:Backend, high)");
        assert_eq!(lines[2], "*Then*");
        assert_eq!(lines[3], "2. Run the full test suite (Subagent:QA, high)");
        assert_eq!(lines[4], "3. Write release notes (Fakker, medium)");
        assert_eq!(lines[5], "4. Renew the backup disk's warranty (Subagent:Backoffice, low)");
        assert_eq!(r.json["more"], 0);
    }
}
