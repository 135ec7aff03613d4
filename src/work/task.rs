//! A task and its lifecycle (SPEC section 8): the statuses, the exact table of allowed moves,
//! and the refusal that names where a task can go instead.
//!
//! Some moves belong to a command of their own: an inbox item becomes `triaged` only by
//! triage (which classifies it) and a task becomes `assigned` only by assign (which names the
//! owner and the contract). The table says which command makes each move ([`Via`]), so
//! `task ID --status assigned` is refused while `assign ID ...` is the way there.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::WorkError;
use crate::config::{Classification, Domain, Priority};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Inbox,
    Triaged,
    Planned,
    Assigned,
    Active,
    Review,
    Done,
    Archived,
    Blocked,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Inbox,
        Status::Triaged,
        Status::Planned,
        Status::Assigned,
        Status::Active,
        Status::Review,
        Status::Done,
        Status::Archived,
        Status::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Inbox => "inbox",
            Status::Triaged => "triaged",
            Status::Planned => "planned",
            Status::Assigned => "assigned",
            Status::Active => "active",
            Status::Review => "review",
            Status::Done => "done",
            Status::Archived => "archived",
            Status::Blocked => "blocked",
        }
    }

    /// Finished work: a workflow step whose task is here counts as done.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Done | Status::Archived)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(text: &str) -> Result<Status, String> {
        Status::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown status {text:?}; write one of {}", names.join(", "))
        })
    }
}

/// The command that makes a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `triage`: inbox → triaged, with a classification.
    Triage,
    /// `assign`: triaged or planned → assigned, with an owner and a contract.
    Assign,
    /// `task ID --status S`: every other move.
    Status,
}

/// The moves out of `from` (SPEC section 8), each with the command that makes it.
/// `blocked_from` is where a blocked task came from: the only way back.
pub fn moves(from: Status, blocked_from: Option<Status>) -> Vec<(Status, Via)> {
    use Status::*;
    let mut out = match from {
        Inbox => vec![(Triaged, Via::Triage)],
        Triaged => vec![(Planned, Via::Status), (Assigned, Via::Assign)],
        Planned => vec![(Assigned, Via::Assign), (Blocked, Via::Status)],
        Assigned => vec![(Active, Via::Status), (Blocked, Via::Status)],
        Active => vec![(Review, Via::Status), (Blocked, Via::Status)],
        Review => vec![(Active, Via::Status), (Done, Via::Status)],
        Done => vec![],
        // Only the three statuses that may block can be returned to; anything else in
        // `blocked_from` came from a damaged snapshot and leaves archiving as the way out.
        Blocked => blocked_from
            .filter(|s| matches!(s, Planned | Assigned | Active))
            .map(|s| vec![(s, Via::Status)])
            .unwrap_or_default(),
        Archived => return vec![],
    };
    out.push((Archived, Via::Status));
    out
}

/// `from assigned it can go to active, blocked or archived`.
pub fn describe_moves(from: Status, moves: &[(Status, Via)]) -> String {
    let names: Vec<String> = moves
        .iter()
        .map(|(to, via)| match via {
            Via::Triage => format!("{to} (by triage)"),
            Via::Assign => format!("{to} (by assign)"),
            Via::Status => to.to_string(),
        })
        .collect();
    match names.as_slice() {
        [] => format!("from {from} it cannot move"),
        [one] => format!("from {from} it can go to {one}"),
        [init @ .., last] => format!("from {from} it can go to {} or {last}", init.join(", ")),
    }
}

/// A piece of work: an inbox item from the moment it is captured, a task once triaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    /// `t{seq}`: the seq of the event that created it.
    pub id: String,
    /// The seq of the creating event: the board's order.
    pub seq: u64,
    pub title: String,
    /// The raw text as captured.
    pub text: String,
    /// Where the item came from: `cli`, `api`, `telegram`, ...
    pub source: String,
    pub status: Status,
    /// Where a blocked task came from, and so the only status it may return to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_from: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocker: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundaries: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_criteria: Option<String>,
    /// The task this one was split from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The tasks this one was split into, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    /// The triage rule that classified it, when triage was automatic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage_rule: Option<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl Task {
    /// A fresh inbox item.
    pub fn new(id: &str, seq: u64, text: &str, source: &str, at: DateTime<Utc>) -> Task {
        Task {
            id: id.to_string(),
            seq,
            title: title_of(text),
            text: text.to_string(),
            source: source.to_string(),
            status: Status::Inbox,
            blocked_from: None,
            project: None,
            domain: None,
            priority: None,
            classification: None,
            owner: None,
            repo: None,
            branch: None,
            blocker: None,
            depends_on: Vec::new(),
            test_status: None,
            expected_output: None,
            boundaries: None,
            review_criteria: None,
            parent: None,
            children: Vec::new(),
            triage_rule: None,
            created: at,
            updated: at,
        }
    }

    /// The moves this task can make now.
    pub fn moves(&self) -> Vec<(Status, Via)> {
        moves(self.status, self.blocked_from)
    }

    /// Whether `via` may take the task to `to`; the refusal names where it can go instead.
    pub fn check_move(&self, to: Status, via: Via) -> Result<(), WorkError> {
        let moves = self.moves();
        if moves.contains(&(to, via)) {
            Ok(())
        } else {
            Err(WorkError::Refused { id: self.id.clone(), from: self.status, moves })
        }
    }

    /// Moves the task, keeping what a blocked task needs to find its way back. The caller has
    /// checked the move.
    pub(crate) fn move_to(&mut self, to: Status, blocker: Option<&str>, at: DateTime<Utc>) {
        if to == Status::Blocked {
            self.blocked_from = Some(self.status);
            self.blocker = blocker.map(str::to_string);
        } else {
            self.blocked_from = None;
            self.blocker = None;
        }
        self.status = to;
        self.updated = at;
    }
}

/// Longest title derived from an item's text, in characters.
pub const TITLE_CHARS: usize = 80;

/// A title from raw text: its first non-empty line, cut at [`TITLE_CHARS`] characters.
pub fn title_of(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    if line.chars().count() <= TITLE_CHARS {
        return line.to_string();
    }
    let mut title: String = line.chars().take(TITLE_CHARS - 1).collect();
    title.push('…');
    title
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    /// SPEC section 8, written out pair by pair: (from, to, command).
    const SPEC_MOVES: &[(Status, Status, Via)] = &[
        (Inbox, Triaged, Via::Triage),
        (Triaged, Planned, Via::Status),
        (Triaged, Assigned, Via::Assign),
        (Planned, Assigned, Via::Assign),
        (Assigned, Active, Via::Status),
        (Active, Review, Via::Status),
        (Review, Active, Via::Status),
        (Review, Done, Via::Status),
        (Planned, Blocked, Via::Status),
        (Assigned, Blocked, Via::Status),
        (Active, Blocked, Via::Status),
        (Inbox, Archived, Via::Status),
        (Triaged, Archived, Via::Status),
        (Planned, Archived, Via::Status),
        (Assigned, Archived, Via::Status),
        (Active, Archived, Via::Status),
        (Review, Archived, Via::Status),
        (Done, Archived, Via::Status),
        (Blocked, Archived, Via::Status),
    ];

    fn task(status: Status, blocked_from: Option<Status>) -> Task {
        let mut t = Task::new("t12", 12, "x", "cli", DateTime::UNIX_EPOCH);
        t.status = status;
        t.blocked_from = blocked_from;
        t
    }

    #[test]
    fn every_pair_is_allowed_exactly_when_the_spec_lists_it() {
        for from in Status::ALL {
            // A blocked task is tried from each place it may have come from.
            let origins: Vec<Option<Status>> =
                if from == Blocked { vec![Some(Planned), Some(Assigned), Some(Active)] } else { vec![None] };
            for blocked_from in origins {
                for to in Status::ALL {
                    for via in [Via::Triage, Via::Assign, Via::Status] {
                        let spec = SPEC_MOVES.contains(&(from, to, via))
                            || (from == Blocked && Some(to) == blocked_from && via == Via::Status);
                        let allowed = task(from, blocked_from).check_move(to, via).is_ok();
                        assert_eq!(
                            allowed, spec,
                            "{from} -> {to} via {via:?} (blocked from {blocked_from:?})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn blocked_goes_back_only_where_it_came_from() {
        let t = task(Blocked, Some(Assigned));
        assert!(t.check_move(Assigned, Via::Status).is_ok());
        assert!(t.check_move(Active, Via::Status).is_err());
        assert!(t.check_move(Planned, Via::Status).is_err());
        // A damaged snapshot with no origin still lets the task be archived.
        let lost = task(Blocked, None);
        assert_eq!(lost.moves(), vec![(Archived, Via::Status)]);
    }

    #[test]
    fn refusals_name_the_status_and_the_ways_out() {
        let cases = [
            (
                task(Assigned, None),
                Done,
                Via::Status,
                "task t12 is assigned; from assigned it can go to active, blocked or archived",
            ),
            (
                task(Inbox, None),
                Triaged,
                Via::Status,
                "task t12 is inbox; from inbox it can go to triaged (by triage) or archived",
            ),
            (
                task(Triaged, None),
                Assigned,
                Via::Status,
                "task t12 is triaged; from triaged it can go to planned, assigned (by assign) or archived",
            ),
            (
                task(Blocked, Some(Active)),
                Review,
                Via::Status,
                "task t12 is blocked; from blocked it can go to active or archived",
            ),
            (task(Done, None), Active, Via::Status, "task t12 is done; from done it can go to archived"),
            (
                task(Archived, None),
                Archived,
                Via::Status,
                "task t12 is archived; from archived it cannot move",
            ),
            (
                task(Active, None),
                Active,
                Via::Status,
                "task t12 is active; from active it can go to review, blocked or archived",
            ),
        ];
        for (t, to, via, message) in cases {
            assert_eq!(t.check_move(to, via).map_err(|e| e.to_string()), Err(message.to_string()));
        }
    }

    #[test]
    fn moving_into_and_out_of_blocked_keeps_the_way_back() {
        let mut t = task(Active, None);
        t.move_to(Blocked, Some("waiting for the API key"), DateTime::UNIX_EPOCH);
        assert_eq!((t.blocked_from, t.blocker.as_deref()), (Some(Active), Some("waiting for the API key")));
        t.move_to(Active, None, DateTime::UNIX_EPOCH);
        assert_eq!((t.status, t.blocked_from, t.blocker), (Active, None, None));
    }

    #[test]
    fn statuses_parse_and_print_lower_case() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::json!(s.as_str())));
        }
        let err = "Active".parse::<Status>().unwrap_err();
        assert!(err.starts_with("unknown status \"Active\"; write one of inbox, triaged"), "{err}");
    }

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(title_of("\n  fix the backup  \nmore"), "fix the backup");
        let long = "x".repeat(200);
        let title = title_of(&long);
        assert_eq!(title.chars().count(), TITLE_CHARS);
        assert!(title.ends_with('…'));
        assert_eq!(title_of("   "), "");
    }
}
