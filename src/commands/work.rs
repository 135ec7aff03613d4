//! The work lists: `blocked` (what is stuck and on what), `mytasks [OWNER]` (one owner's open
//! work by status) and `review` (what waits for a reviewer, with its contract). Without a
//! board they read the lines of `TASKS.md`.

use serde_json::json;

use super::docs::{lines_mentioning, open_items};
use super::entity;
use super::render::{Lines, ago, code, docs_text, esc, from_docs};
use super::task::{self, MINE_ORDER, is_open, owner_matches, priority_rank};
use super::{Reply, View, source};
use crate::config::Spec;
use crate::work::{Board, Status, Task};

/// `blocked`.
pub fn blocked(view: &View) -> Reply {
    let Some(board) = view.board else {
        return docs_mentioning(view, "Blocked", "blocked");
    };
    let workflows: Vec<_> = entity::visible(view)
        .into_iter()
        .filter(|e| e.kind == "workflow" && entity::judged(e) && e.reason == "StepBlocked")
        .collect();
    let mut tasks: Vec<&Task> = board.tasks.values().filter(|t| t.status == Status::Blocked).collect();
    tasks.sort_by_key(|t| (priority_rank(t.priority), t.updated, t.seq));
    let mut lines = Lines::new();
    lines.line(match (tasks.len(), workflows.len()) {
        (0, 0) => "*Blocked*: nothing is blocked".to_string(),
        (t, w) => format!("*Blocked*: {}, {}", count(t, "task"), count(w, "workflow")),
    });
    for e in &workflows {
        lines.item(entity::line(e));
    }
    for (shown, t) in tasks.iter().enumerate() {
        if lines.is_full() {
            lines.hidden(tasks.len() - shown);
            break;
        }
        let mut facts = vec![format!("blocker: {}", esc(t.blocker.as_deref().unwrap_or("not given")))];
        facts.extend(t.owner.as_deref().map(esc));
        facts.push(format!("since {}", ago(t.updated, view.now)));
        lines.item(format!("{} {} — {}", code(&t.id), esc(&t.title), facts.join(" · ")));
    }
    let json = view.json(|| {
        json!({
            "source": source(true),
            "workflows": workflows.iter().map(|e| entity::json(e)).collect::<Vec<_>>(),
            "tasks": tasks.iter().map(|t| task::json(t)).collect::<Vec<_>>(),
        })
    });
    Reply { text: lines.finish(), json }
}

/// `mytasks [OWNER]`: the owner defaults to the orchestrator.
pub fn mytasks(view: &View, owner: Option<&str>) -> Reply {
    let Some(owner) = owner.map(str::to_string).or_else(|| orchestrator(view)) else {
        let text = "*My tasks*: whose? Say `mytasks OWNER`, e.g. `mytasks QA` (no orchestrator is known)";
        return Reply { text: text.to_string(), json: json!({"source": "none", "owner": null, "count": 0}) };
    };
    let wanted = aliases(view, &owner);
    let Some(board) = view.board else { return mytasks_docs(view, &owner, &wanted) };
    let mine: Vec<&Task> = board
        .tasks
        .values()
        .filter(|t| is_open(t) && t.owner.as_deref().is_some_and(|o| owner_matches(o, &wanted)))
        .collect();
    let groups: Vec<(Status, Vec<&Task>)> = MINE_ORDER
        .iter()
        .map(|&status| {
            let mut group: Vec<&Task> = mine.iter().copied().filter(|t| t.status == status).collect();
            group.sort_by_key(|t| (priority_rank(t.priority), t.updated, t.seq));
            (status, group)
        })
        .filter(|(_, group)| !group.is_empty())
        .collect();
    let mut lines = Lines::new();
    let summary: Vec<String> = groups.iter().map(|(s, g)| format!("{} {s}", g.len())).collect();
    lines.line(match mine.len() {
        0 => format!("*Tasks of* {}: none open", esc(&owner)),
        n => format!("*Tasks of* {}: {n} open ({})", esc(&owner), summary.join(", ")),
    });
    for (status, group) in &groups {
        lines.heading(format!("*{}*", capitalized(status.as_str())));
        for (shown, t) in group.iter().enumerate() {
            if lines.is_full() {
                lines.hidden(group.len() - shown);
                break;
            }
            let mut line = task::line(t, view.now);
            if let Some(blocker) = t.blocker.as_deref() {
                line.push_str(&format!(" · blocker: {}", esc(blocker)));
            }
            lines.item(line);
        }
    }
    let json = view.json(|| {
        json!({
            "source": source(true),
            "owner": owner,
            "count": mine.len(),
            "groups": groups.iter().map(|(status, group)| json!({
                "status": status,
                "tasks": group.iter().map(|t| task::json(t)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    });
    Reply { text: lines.finish(), json }
}

fn mytasks_docs(view: &View, owner: &str, wanted: &[String]) -> Reply {
    let Some(text) = view.docs.tasks.as_deref() else {
        let mut reply = super::health::nothing("TASKS.md", "capture work with `inbox TEXT`");
        reply.json["owner"] = owner.into();
        return reply;
    };
    let found: Vec<&str> =
        open_items(text).into_iter().filter(|line| wanted.iter().any(|w| mentions(line, w))).collect();
    let mut lines = Lines::new();
    lines.line(from_docs("TASKS.md", view.live.is_some()));
    lines.line(format!("*Tasks of* {}: {} open", esc(owner), found.len()));
    for line in &found {
        lines.item(format!("• {}", docs_text(line)));
    }
    let json = json!({"source": source(false), "file": "TASKS.md", "owner": owner, "lines": found});
    Reply { text: lines.finish(), json }
}

/// The orchestrator's name: from the configuration, else from the live state's agents.
fn orchestrator(view: &View) -> Option<String> {
    if let Some(o) = view.config.and_then(|c| c.orchestrator()) {
        return Some(o.display_name().to_string());
    }
    view.live?
        .agents
        .iter()
        .find(|a| a.details.get("role").and_then(|r| r.as_str()) == Some("orchestrator"))
        .map(|a| if a.name.is_empty() { a.id.clone() } else { a.name.clone() })
}

/// The names an owner goes by: as asked, and an agent's id and name for either of them.
fn aliases(view: &View, owner: &str) -> Vec<String> {
    let mut out = vec![owner.to_string()];
    let agents =
        view.config.into_iter().flat_map(|c| c.entities.iter()).filter(|e| matches!(e.spec, Spec::Agent(_)));
    for agent in agents {
        if agent.key.id.eq_ignore_ascii_case(owner) || agent.display_name().eq_ignore_ascii_case(owner) {
            out.push(agent.key.id.clone());
            out.push(agent.display_name().to_string());
        }
    }
    out
}

/// Whether `line` names `who` as a whole word (`QA` in `Subagent:QA`, not in `QAT`), or by
/// the bare name of a `Role:name` owner.
fn mentions(line: &str, who: &str) -> bool {
    let who = who.split_once(':').map_or(who, |(_, name)| name).to_lowercase();
    if who.is_empty() {
        return false;
    }
    let line = line.to_lowercase();
    line.match_indices(&who).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + who.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// `review`: oldest first, with what was promised and how it will be judged.
pub fn review(view: &View) -> Reply {
    let Some(board) = view.board else {
        return docs_mentioning(view, "Review", "review");
    };
    let tasks = in_review(board);
    let mut lines = Lines::new();
    lines.line(match tasks.first() {
        None => "*Review*: nothing waits for review".to_string(),
        Some(oldest) => format!(
            "*Review*: {} waiting, oldest since {}",
            count(tasks.len(), "task"),
            ago(oldest.updated, view.now)
        ),
    });
    for (shown, t) in tasks.iter().enumerate() {
        if lines.is_full() {
            lines.hidden(tasks.len() - shown);
            break;
        }
        lines.item(format!(
            "{}\n   expected: {}\n   criteria: {}",
            task::line(t, view.now),
            esc(t.expected_output.as_deref().unwrap_or("not given")),
            esc(t.review_criteria.as_deref().unwrap_or("not given")),
        ));
    }
    let json = view.json(|| {
        json!({
            "source": source(true),
            "count": tasks.len(),
            "tasks": tasks.iter().map(|t| task::json(t)).collect::<Vec<_>>(),
        })
    });
    Reply { text: lines.finish(), json }
}

fn in_review(board: &Board) -> Vec<&Task> {
    let mut tasks: Vec<&Task> = board.tasks.values().filter(|t| t.status == Status::Review).collect();
    tasks.sort_by_key(|t| (t.updated, t.seq));
    tasks
}

/// Without a board: the lines of `TASKS.md` that mention `word`.
fn docs_mentioning(view: &View, title: &str, word: &str) -> Reply {
    let Some(text) = view.docs.tasks.as_deref() else {
        return super::health::nothing("TASKS.md", "capture work with `inbox TEXT`");
    };
    let found = lines_mentioning(text, word);
    let mut lines = Lines::new();
    lines.line(from_docs("TASKS.md", view.live.is_some()));
    lines.line(format!("*{title}* (lines of `TASKS.md` that mention \"{word}\"): {}", found.len()));
    for line in &found {
        lines.item(format!("• {}", docs_text(line)));
    }
    let json = json!({"source": source(false), "file": "TASKS.md", "lines": found});
    Reply { text: lines.finish(), json }
}

/// `1 task`, `2 tasks`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{Fixture, assert_reply};
    use crate::commands::{Command, answer};

    #[test]
    fn blocked_live_and_docs() {
        let f = Fixture::new();
        let r = answer(&Command::Blocked, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "*Blocked*: 1 task, 1 workflow");
        assert!(
            lines[1].starts_with("🟡 `workflow/release` (Weekly release): warning (StepBlocked) step test")
        );
        assert_eq!(
            lines[2],
            "`t3` flaky test runner — blocker: waiting for a new runner · Subagent:QA · since 3h ago"
        );
        assert_eq!(lines.len(), 3);
        assert_eq!(r.json["tasks"][0]["blocker"], "waiting for a new runner");
        assert_eq!(r.json["workflows"][0]["entity"], "workflow/release");

        let d = Fixture::docs_only();
        let r = answer(&Command::Blocked, &d.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "_from_ `TASKS.md` _(no live state yet)_");
        assert_eq!(lines[1], "*Blocked* (lines of `TASKS.md` that mention \"blocked\"): 1");
        assert_eq!(lines[2], "• Order the new disk (Fakker, medium) blocked: waiting for the budget");
    }

    #[test]
    fn mytasks_by_status() {
        let f = Fixture::new();
        let r = answer(&Command::MyTasks(None), &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "*Tasks of* Fakker: 1 open (1 active)");
        assert_eq!(lines[1], "*Active*");
        assert!(lines[2].starts_with("`t4` write release notes — medium · Fakker · updated"), "{}", r.text);

        let r = answer(&Command::MyTasks(Some("qa".into())), &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "*Tasks of* qa: 1 open (1 blocked)");
        assert_eq!(lines[1], "*Blocked*");
        assert!(lines[2].ends_with("· blocker: waiting for a new runner"), "{}", lines[2]);
        assert_eq!(r.json["groups"][0]["status"], "blocked");

        let r = answer(&Command::MyTasks(Some("Subagent:Backend".into())), &f.view());
        let groups: Vec<&str> =
            r.json["groups"].as_array().into_iter().flatten().filter_map(|g| g["status"].as_str()).collect();
        assert_eq!(groups, ["review"]);

        let d = Fixture::docs_only();
        let r = answer(&Command::MyTasks(Some("QA".into())), &d.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "_from_ `TASKS.md` _(no live state yet)_");
        assert_eq!(lines[1], "*Tasks of* QA: 1 open");
        assert_eq!(lines[2], "• Run the full test suite (Subagent:QA, high)");
        let r = answer(&Command::MyTasks(None), &d.view());
        assert!(r.text.starts_with("*My tasks*: whose?"), "{}", r.text);
    }

    #[test]
    fn review_oldest_first_with_contract() {
        let f = Fixture::new();
        let r = answer(&Command::Review, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "*Review*: 1 task waiting, oldest since 2h ago");
        assert!(lines[1].starts_with("`t1` login is broken — urgent · Subagent:Backend"), "{}", r.text);
        assert_eq!(lines[2], "   expected: a fix with a test");
        assert_eq!(lines[3], "   criteria: CI green, login works");
        assert_eq!(r.json["tasks"][0]["review_criteria"], "CI green, login works");

        let d = Fixture::docs_only();
        let r = answer(&Command::Review, &d.view());
        assert_reply(&r);
        assert!(r.text.starts_with("_from_ `TASKS.md` _(no live state yet)_\n*Review* (lines of `TASKS.md` that mention \"review\"): 0"), "{}", r.text);
    }

    #[test]
    fn whole_word_mentions() {
        assert!(mentions("Run tests (Subagent:QA, high)", "QA"));
        assert!(mentions("Run tests (Subagent:QA, high)", "Subagent:QA"));
        assert!(!mentions("QATAR trip", "QA"));
        assert!(mentions("ask fakker", "Fakker"));
    }
}
