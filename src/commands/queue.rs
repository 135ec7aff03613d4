//! The intake queues: `inbox` (untriaged items, newest first), `triage` (the same items, oldest
//! first, with what the triage rules would set and the command to triage each by hand) and
//! `assign` (triaged and planned tasks without an owner, by priority, with the command to
//! assign each).
//!
//! `triage` asks the real automatic triage ([`crate::work::Ops::auto_triage`]) which rule
//! would take each item, so what it shows is what `mission-control triage --auto` would do.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::render::{Lines, ago, code, esc, word};
use super::task::{self, assign_command, is_open, priority_rank, shell_word};
use super::{Reply, View, source};
use crate::config::TriageRule;
use crate::work::{Board, Ops, Status, Task};

/// `inbox`.
pub fn inbox(view: &View) -> Reply {
    let Some(board) = view.board else { return no_work(view, "Inbox", "items") };
    let mut items = board.inbox();
    items.reverse();
    let mut lines = Lines::new();
    match items.first() {
        None => lines.line("*Inbox*: empty"),
        Some(newest) => lines.line(format!(
            "*Inbox*: {} untriaged, newest {}",
            items.len(),
            ago(newest.created, view.now)
        )),
    }
    for (shown, t) in items.iter().enumerate() {
        if lines.is_full() {
            lines.hidden(items.len() - shown);
            break;
        }
        lines.item(item_line(t, view));
    }
    let json = view.json(|| {
        json!({
            "source": source(true),
            "count": items.len(),
            "items": items.iter().map(|t| task::json(t)).collect::<Vec<_>>(),
        })
    });
    Reply { text: lines.finish(), json }
}

/// `` `t12` the server is down — telegram · 5m ago ``.
fn item_line(t: &Task, view: &View) -> String {
    format!("{} {} — {} · {}", code(&t.id), esc(&t.title), esc(&t.source), ago(t.created, view.now))
}

/// `triage`.
pub fn triage(view: &View) -> Reply {
    let Some(board) = view.board else { return no_work(view, "Triage", "items") };
    let items = board.inbox();
    let rules = view.config.map(|config| matching_rules(config, board, view));
    let matched = rules.as_ref().map_or(0, |r| r.len());
    let mut lines = Lines::new();
    lines.line(match (items.len(), &rules) {
        (0, _) => "*Triage*: nothing waits for triage".to_string(),
        (n, None) => format!("*Triage*: {n} waiting (the configuration does not load, so no rule is tried)"),
        (n, Some(_)) if matched > 0 => {
            format!(
                "*Triage*: {n} waiting, {matched} match a rule: `mission-control triage --auto` applies them"
            )
        }
        (n, Some(_)) => format!("*Triage*: {n} waiting, none matches a rule"),
    });
    let mut out = Vec::new();
    for t in &items {
        let rule = rules.as_ref().and_then(|r| r.get(t.id.as_str()).copied());
        let command = triage_command(t, rule);
        let said = match (rule, &rules) {
            (Some(rule), _) => format!("rule {}: {}", code(&rule.id), esc(&describe(rule))),
            (None, Some(_)) => "no rule matches".to_string(),
            (None, None) => "rules not tried".to_string(),
        };
        lines.item(format!("{}\n   {said}\n   {}", item_line(t, view), code(&command)));
        let mut item = task::json(t);
        item["rule"] = rule.map(|r| r.id.clone()).into();
        item["set"] = rule.map_or(Value::Null, |r| {
            json!({
                "classification": r.classification,
                "priority": r.priority,
                "domain": r.domain,
                "owner": r.owner,
                "expected_output": r.expected_output,
            })
        });
        item["command"] = command.into();
        out.push(item);
    }
    let json = json!({"source": source(true), "count": items.len(), "matched": matched, "items": out});
    Reply { text: lines.finish(), json }
}

/// The rule `triage --auto` would apply to each inbox item, by item id.
fn matching_rules<'a>(
    config: &'a crate::config::Config,
    board: &Board,
    view: &View,
) -> HashMap<String, &'a TriageRule> {
    let auto = Ops::new(config, board, view.now, "chat").auto_triage();
    auto.triaged
        .into_iter()
        .filter_map(|(task, rule)| Some((task, config.triage_rules.iter().find(|r| r.id == rule)?)))
        .collect()
}

/// `bug, high, backend, owner Subagent:Backend`.
fn describe(rule: &TriageRule) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(rule.classification.map(|c| word(&c)));
    parts.extend(rule.priority.map(|p| word(&p)));
    parts.extend(rule.domain.map(|d| word(&d)));
    parts.extend(rule.owner.as_ref().map(|o| format!("owner {o}")));
    if parts.is_empty() { "sets nothing".to_string() } else { parts.join(", ") }
}

/// `mission-control triage t5 --class task --priority medium --domain infra`, with `C`, `P`
/// and `D` where no rule decides.
fn triage_command(t: &Task, rule: Option<&TriageRule>) -> String {
    let class = rule.and_then(|r| r.classification).map_or("C".to_string(), |c| word(&c));
    let priority = rule.and_then(|r| r.priority).map_or("P".to_string(), |p| word(&p));
    let domain = rule.and_then(|r| r.domain).map_or("D".to_string(), |d| word(&d));
    let mut command =
        format!("mission-control triage {} --class {class} --priority {priority} --domain {domain}", t.id);
    if let Some(owner) = rule.and_then(|r| r.owner.as_deref()) {
        command.push_str(&format!(" --owner {}", shell_word(owner)));
    }
    command
}

/// `assign`.
pub fn assign(view: &View) -> Reply {
    let Some(board) = view.board else { return no_work(view, "Assign", "tasks") };
    let mut tasks: Vec<&Task> = board
        .tasks
        .values()
        .filter(|t| is_open(t) && matches!(t.status, Status::Triaged | Status::Planned) && t.owner.is_none())
        .collect();
    tasks.sort_by_key(|t| (priority_rank(t.priority), t.seq));
    let mut lines = Lines::new();
    lines.line(match tasks.len() {
        0 => "*Assign*: no triaged or planned task waits for an owner".to_string(),
        1 => "*Assign*: 1 task waits for an owner".to_string(),
        n => format!("*Assign*: {n} tasks wait for an owner"),
    });
    let mut out = Vec::new();
    for t in &tasks {
        let mut facts: Vec<String> = Vec::new();
        facts.extend(t.priority.map(|p| word(&p)));
        facts.extend(t.domain.map(|d| word(&d)));
        facts.push(format!("{} {}", t.status, ago(t.updated, view.now)));
        let command = assign_command(t);
        lines.item(format!(
            "{} {} — {}\n   {}",
            code(&t.id),
            esc(&t.title),
            facts.join(" · "),
            code(&command)
        ));
        let mut item = task::json(t);
        item["command"] = command.into();
        out.push(item);
    }
    let json = json!({"source": source(true), "count": tasks.len(), "tasks": out});
    Reply { text: lines.finish(), json }
}

/// No board: nothing has been captured, or the daemon never ran.
fn no_work(view: &View, title: &str, field: &str) -> Reply {
    let first = if view.live.is_none() { "_no live state yet_" } else { "_no work recorded yet_" };
    let text = format!("{first}\n*{title}*: empty; capture work with `inbox TEXT`");
    let mut json = json!({"source": "none", "count": 0});
    json[field] = json!([]);
    Reply { text, json }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{Fixture, assert_reply};
    use crate::commands::{Command, answer};

    #[test]
    fn inbox_newest_first() {
        let f = Fixture::new();
        let r = answer(&Command::Inbox, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "*Inbox*: 2 untriaged, newest 10m ago");
        assert_eq!(lines[1], "`t6` hello there — telegram · 10m ago");
        assert_eq!(lines[2], "`t5` the server is down — cli · 1h ago");
        assert_eq!(r.json["count"], 2);
        assert_eq!(r.json["items"][0]["id"], "t6");
    }

    #[test]
    fn triage_with_rules_and_commands() {
        let f = Fixture::new();
        let r = answer(&Command::Triage, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(
            lines[0],
            "*Triage*: 2 waiting, 1 match a rule: `mission-control triage --auto` applies them"
        );
        assert_eq!(lines[1], "`t5` the server is down — cli · 1h ago");
        assert_eq!(lines[2], "   rule `server-work-is-infra`: task, medium, infra");
        assert_eq!(lines[3], "   `mission-control triage t5 --class task --priority medium --domain infra`");
        assert_eq!(lines[4], "`t6` hello there — telegram · 10m ago");
        assert_eq!(lines[5], "   no rule matches");
        assert_eq!(lines[6], "   `mission-control triage t6 --class C --priority P --domain D`");
        assert_eq!(r.json["items"][0]["rule"], "server-work-is-infra");
        assert_eq!(r.json["items"][0]["set"]["domain"], "infra");
        assert_eq!(r.json["items"][1]["rule"], serde_json::Value::Null);
    }

    #[test]
    fn assign_by_priority() {
        let f = Fixture::new();
        let r = answer(&Command::Assign, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "*Assign*: 2 tasks wait for an owner");
        assert!(lines[1].starts_with("`t7` Deploy the thing — high · infra · planned"), "{}", r.text);
        assert_eq!(
            lines[2],
            "   `mission-control assign t7 --owner Subagent:Infra --expected-output T --boundaries T --review-criteria T`"
        );
        assert!(
            lines[3].starts_with("`t2` renew the disk warranty — low · backoffice · triaged"),
            "{}",
            r.text
        );
        assert_eq!(r.json["tasks"][1]["id"], "t2");
    }

    #[test]
    fn queues_without_live_state() {
        let f = Fixture::docs_only();
        for command in [Command::Inbox, Command::Triage, Command::Assign] {
            let r = answer(&command, &f.view());
            assert_reply(&r);
            assert!(r.text.starts_with("_no live state yet_\n*"), "{}", r.text);
            assert_eq!(r.json["source"], "none");
            assert_eq!(r.json["count"], 0);
        }
    }
}
