//! How a task of the board reads in a reply: its line, its JSON, the orders work is listed
//! in, whose it is, and the command line that moves it on.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::render::{ago, code, esc, word};
use crate::config::{Domain, Priority};
use crate::work::{Board, Status, Task};

/// `mytasks` groups: what is moving first, what waits on the owner last.
pub const MINE_ORDER: [Status; 6] =
    [Status::Active, Status::Review, Status::Blocked, Status::Assigned, Status::Planned, Status::Triaged];

/// `next` and `assign`: the status whose next move is closest to finished work first.
pub const ACTION_ORDER: [Status; 5] =
    [Status::Review, Status::Active, Status::Assigned, Status::Planned, Status::Triaged];

/// Not finished and out of the inbox: work someone can do something about.
pub fn is_open(t: &Task) -> bool {
    !matches!(t.status, Status::Done | Status::Archived | Status::Inbox)
}

/// Urgent first; a task without a priority after `low`, before `someday`.
pub fn priority_rank(p: Option<Priority>) -> u8 {
    match p {
        Some(Priority::Urgent) => 0,
        Some(Priority::High) => 1,
        Some(Priority::Medium) => 2,
        Some(Priority::Low) => 3,
        None => 4,
        Some(Priority::Someday) => 5,
    }
}

/// Where a status stands in [`ACTION_ORDER`] (others last).
pub fn action_rank(s: Status) -> usize {
    ACTION_ORDER.iter().position(|x| *x == s).unwrap_or(ACTION_ORDER.len())
}

/// Whether the task waits on a task of its `depends_on` that is not finished.
pub fn waits_on_open(board: &Board, t: &Task) -> bool {
    t.depends_on.iter().any(|d| board.task(d).is_some_and(|d| !d.status.is_finished()))
}

/// `` `t5` Fix the login — high · Subagent:QA · updated 3h ago ``.
pub fn line(t: &Task, now: DateTime<Utc>) -> String {
    let mut parts = Vec::new();
    if let Some(p) = t.priority {
        parts.push(word(&p));
    }
    if let Some(owner) = &t.owner {
        parts.push(esc(owner));
    }
    parts.push(format!("updated {}", ago(t.updated, now)));
    format!("{} {} — {}", code(&t.id), esc(&t.title), parts.join(" · "))
}

/// The task as the JSON forms show it.
pub fn json(t: &Task) -> Value {
    json!({
        "id": t.id,
        "title": t.title,
        "status": t.status,
        "priority": t.priority,
        "classification": t.classification,
        "domain": t.domain,
        "owner": t.owner,
        "project": t.project,
        "blocker": t.blocker,
        "expected_output": t.expected_output,
        "review_criteria": t.review_criteria,
        "source": t.source,
        "created": t.created,
        "updated": t.updated,
    })
}

/// Whether a task's owner is the one asked for: without regard to case, and a bare role
/// (`QA`) names its subagent (`Subagent:QA`) as well as `Human:`/`Automation:` names.
pub fn owner_matches(owner: &str, wanted: &[String]) -> bool {
    let bare = owner.split_once(':').map(|(_, name)| name);
    wanted.iter().any(|w| owner.eq_ignore_ascii_case(w) || bare.is_some_and(|b| b.eq_ignore_ascii_case(w)))
}

/// The subagent that usually owns work of a domain.
fn suggested_owner(domain: Option<Domain>) -> Option<&'static str> {
    match domain? {
        Domain::Backend => Some("Subagent:Backend"),
        Domain::Frontend => Some("Subagent:Frontend"),
        Domain::Infra => Some("Subagent:Infra"),
        Domain::Qa => Some("Subagent:QA"),
        Domain::Backoffice => Some("Subagent:Backoffice"),
        Domain::Automation | Domain::Integration => None,
    }
}

/// Longest value put into a suggested command line; longer ones are left as a placeholder.
const PREFILL_CHARS: usize = 60;

/// `mission-control assign t7 --owner Subagent:Backend --expected-output T --boundaries T
/// --review-criteria T`, with what the task already knows filled in.
pub fn assign_command(t: &Task) -> String {
    let owner = t.owner.as_deref().or(suggested_owner(t.domain));
    let fill = |value: Option<&str>, placeholder: &str| match value {
        Some(v) if !v.trim().is_empty() && v.chars().count() <= PREFILL_CHARS => shell_word(v),
        _ => placeholder.to_string(),
    };
    format!(
        "mission-control assign {} --owner {} --expected-output {} --boundaries T --review-criteria T",
        t.id,
        fill(owner, "O"),
        fill(t.expected_output.as_deref(), "T"),
    )
}

/// A value as one shell word: bare when it is safe, else in single quotes.
pub fn shell_word(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '/' | '@' | '+' | '-'));
    if safe { value.to_string() } else { format!("'{}'", value.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_match_by_role_and_case() {
        let wanted = |w: &str| vec![w.to_string()];
        assert!(owner_matches("Subagent:QA", &wanted("qa")));
        assert!(owner_matches("Subagent:QA", &wanted("subagent:qa")));
        assert!(owner_matches("Fakker", &wanted("FAKKER")));
        assert!(owner_matches("Human:Khaled", &wanted("khaled")));
        assert!(!owner_matches("Subagent:QA", &wanted("Backend")));
        assert!(!owner_matches("Subagent:QA", &wanted("Subagent")));
    }

    #[test]
    fn assign_lines_fill_in_what_is_known() {
        let at = DateTime::UNIX_EPOCH;
        let mut t = Task::new("t7", 7, "Fix it", "cli", at);
        assert_eq!(
            assign_command(&t),
            "mission-control assign t7 --owner O --expected-output T --boundaries T --review-criteria T"
        );
        t.domain = Some(Domain::Qa);
        t.expected_output = Some("a green run's log".into());
        assert_eq!(
            assign_command(&t),
            "mission-control assign t7 --owner Subagent:QA --expected-output 'a green run'\\''s log' \
             --boundaries T --review-criteria T"
        );
    }

    #[test]
    fn ranks() {
        assert!(priority_rank(Some(Priority::Low)) < priority_rank(None));
        assert!(priority_rank(None) < priority_rank(Some(Priority::Someday)));
        assert_eq!(action_rank(Status::Review), 0);
        assert_eq!(action_rank(Status::Blocked), ACTION_ORDER.len());
    }
}
