//! The board: tasks, the inbox, the active mode, agents' reports and usage, as the fold of the
//! event log (SPEC section 7: work is event-sourced).
//!
//! [`Board::apply`] folds one stored event. It never fails and never panics: an event of an
//! unknown type, with data that does not parse, about a task that does not exist, or asking
//! for a move the lifecycle does not allow from the task's status *now* is skipped, because
//! a replay must always finish and two writers may each have acted on a board that was
//! already out of date. The board remembers the last `seq` it has seen and skips anything at
//! or below it, so it can be restored from the live-state snapshot and fed only what follows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::event::{self, AgentStatus, Assigned, Blocked, ItemCreated, ModeChanged, StatusChanged, Triaged};
use super::task::{Status, Task, Via};
use super::usage::UsageRecord;
use crate::config::Mode;
use crate::events::Event;

/// The work state at `last_seq`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Board {
    /// The last event seen (folded or skipped).
    pub last_seq: u64,
    /// Every task by id, inbox items included; [`Board::tasks`] gives them in creation order.
    pub tasks: BTreeMap<String, Task>,
    pub mode: Option<ActiveMode>,
    /// The last report of each agent, by agent id.
    pub agents: BTreeMap<String, AgentReport>,
    /// Usage records, oldest first; see [`Board::prune_usage`].
    pub usage: Vec<UsageRecord>,
}

/// The delivery mode set last, and since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActiveMode {
    pub mode: Mode,
    pub since: DateTime<Utc>,
}

/// An agent's last report about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentReport {
    /// The event's timestamp.
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub report: AgentStatus,
}

impl Board {
    /// The fold of these events, in order.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Board {
        let mut board = Board::default();
        for event in events {
            board.apply(event);
        }
        board
    }

    /// Whether [`Board::apply`] folds events of this type: the others leave the board as it
    /// is, so a caller sharing the board need not copy it for them.
    pub fn folds(event: &Event) -> bool {
        const FOLDED: [(&str, &str); 9] = [
            (event::ITEM_CREATED, event::TASK_ENTITY),
            (event::TRIAGED, event::TASK_ENTITY),
            (event::SPLIT, event::TASK_ENTITY),
            (event::ASSIGNED, event::TASK_ENTITY),
            (event::STATUS_CHANGED, event::TASK_ENTITY),
            (event::BLOCKED, event::TASK_ENTITY),
            (event::MODE_CHANGED, event::WORKSPACE_ENTITY),
            (event::AGENT_STATUS_CHANGED, event::AGENT_ENTITY),
            (event::USAGE_RECORDED, event::USAGE_ENTITY),
        ];
        FOLDED.contains(&(event.kind.as_str(), event.entity_type.as_str()))
    }

    /// Folds one event; returns whether it changed anything besides `last_seq`.
    pub fn apply(&mut self, event: &Event) -> bool {
        if event.seq <= self.last_seq {
            return false;
        }
        self.last_seq = event.seq;
        let folded = match (event.kind.as_str(), event.entity_type.as_str()) {
            (event::ITEM_CREATED, event::TASK_ENTITY) => self.item_created(event),
            (event::TRIAGED, event::TASK_ENTITY) => self.triaged(event),
            (event::SPLIT, event::TASK_ENTITY) => self.split(event),
            (event::ASSIGNED, event::TASK_ENTITY) => self.assigned(event),
            (event::STATUS_CHANGED, event::TASK_ENTITY) => data::<StatusChanged>(event)
                .and_then(|d| self.change_status(event, d.to, d.blocker.as_deref())),
            (event::BLOCKED, event::TASK_ENTITY) => data::<Blocked>(event)
                .and_then(|d| self.change_status(event, Status::Blocked, Some(&d.blocker))),
            (event::MODE_CHANGED, event::WORKSPACE_ENTITY) => data::<ModeChanged>(event).map(|d| {
                self.mode = Some(ActiveMode { mode: d.mode, since: event.timestamp });
            }),
            (event::AGENT_STATUS_CHANGED, event::AGENT_ENTITY) => data::<AgentStatus>(event).map(|report| {
                self.agents.insert(event.entity_id.clone(), AgentReport { at: event.timestamp, report });
            }),
            (event::USAGE_RECORDED, event::USAGE_ENTITY) => data(event).map(|usage| {
                self.usage.push(UsageRecord { at: event.timestamp, usage });
            }),
            _ => None,
        };
        debug_assert!(folded.is_none() || Self::folds(event), "Board::folds misses {}", event.kind);
        folded.is_some()
    }

    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.get(id)
    }

    /// Every task, oldest first.
    pub fn tasks(&self) -> Vec<&Task> {
        let mut tasks: Vec<&Task> = self.tasks.values().collect();
        tasks.sort_by_key(|t| t.seq);
        tasks
    }

    /// Items still waiting for triage, oldest first.
    pub fn inbox(&self) -> Vec<&Task> {
        self.tasks().into_iter().filter(|t| t.status == Status::Inbox).collect()
    }

    /// Drops usage recorded before `before`: the daemon keeps what its longest budget window
    /// and its reports need, so the snapshot does not grow without end.
    pub fn prune_usage(&mut self, before: DateTime<Utc>) {
        // Records are oldest first: most calls find nothing to drop and return at once.
        if self.usage.first().is_some_and(|r| r.at < before) {
            self.usage.retain(|r| r.at >= before);
        }
    }

    fn item_created(&mut self, event: &Event) -> Option<()> {
        let d: ItemCreated = data(event)?;
        let status = match event.status.as_str() {
            "inbox" => Status::Inbox,
            "triaged" => Status::Triaged,
            _ => return None,
        };
        if self.tasks.contains_key(&event.entity_id) {
            return None;
        }
        let mut task = Task::new(&event.entity_id, event.seq, &d.text, &d.source, event.timestamp);
        task.status = status;
        if let Some(title) = d.title.filter(|t| !t.trim().is_empty()) {
            task.title = title;
        }
        task.classification = d.classification;
        task.priority = d.priority;
        task.domain = d.domain;
        task.project = d.project;
        task.repo = d.repo;
        task.branch = d.branch;
        if let Some(parent) = d.parent.as_deref().and_then(|p| self.tasks.get_mut(p)) {
            parent.children.push(event.entity_id.clone());
            parent.updated = event.timestamp;
        }
        task.parent = d.parent;
        self.tasks.insert(event.entity_id.clone(), task);
        Some(())
    }

    fn triaged(&mut self, event: &Event) -> Option<()> {
        let d: Triaged = data(event)?;
        let task = self.tasks.get_mut(&event.entity_id)?;
        task.check_move(Status::Triaged, Via::Triage).ok()?;
        task.move_to(Status::Triaged, None, event.timestamp);
        task.classification = d.classification.or(task.classification);
        task.priority = d.priority.or(task.priority);
        task.domain = d.domain.or(task.domain);
        task.owner = d.owner.or(task.owner.take());
        task.expected_output = d.expected_output.or(task.expected_output.take());
        task.project = d.project.or(task.project.take());
        task.repo = d.repo.or(task.repo.take());
        task.branch = d.branch.or(task.branch.take());
        task.triage_rule = d.rule;
        Some(())
    }

    fn split(&mut self, event: &Event) -> Option<()> {
        let _: event::Split = data(event)?;
        let task = self.tasks.get_mut(&event.entity_id)?;
        task.updated = event.timestamp;
        Some(())
    }

    fn assigned(&mut self, event: &Event) -> Option<()> {
        let d: Assigned = data(event)?;
        let task = self.tasks.get_mut(&event.entity_id)?;
        task.check_move(Status::Assigned, Via::Assign).ok()?;
        task.move_to(Status::Assigned, None, event.timestamp);
        task.owner = Some(d.owner);
        task.expected_output = Some(d.expected_output);
        task.boundaries = Some(d.boundaries);
        task.review_criteria = Some(d.review_criteria);
        Some(())
    }

    fn change_status(&mut self, event: &Event, to: Status, blocker: Option<&str>) -> Option<()> {
        let blocker = blocker.map(str::trim).filter(|b| !b.is_empty());
        if to == Status::Blocked && blocker.is_none() {
            return None;
        }
        let task = self.tasks.get_mut(&event.entity_id)?;
        task.check_move(to, Via::Status).ok()?;
        task.move_to(to, blocker, event.timestamp);
        Some(())
    }
}

/// The event's data as `T`, or `None` when it is absent or has another shape.
fn data<T: DeserializeOwned>(event: &Event) -> Option<T> {
    T::deserialize(event.data.as_ref()?).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::work::testing::{at, stored};

    fn event(
        seq: u64,
        kind: &str,
        entity_type: &str,
        id: &str,
        status: &str,
        data: serde_json::Value,
    ) -> Event {
        Event {
            seq,
            timestamp: at(seq as i64),
            kind: kind.into(),
            source: "cli".into(),
            entity_type: entity_type.into(),
            entity_id: id.into(),
            status: status.into(),
            message: String::new(),
            data: Some(data),
        }
    }

    fn created(seq: u64, text: &str) -> Event {
        event(
            seq,
            event::ITEM_CREATED,
            "task",
            &format!("t{seq}"),
            "inbox",
            json!({"text": text, "source": "cli"}),
        )
    }

    fn status(seq: u64, id: &str, to: &str, blocker: Option<&str>) -> Event {
        event(seq, event::STATUS_CHANGED, "task", id, to, json!({"to": to, "blocker": blocker}))
    }

    fn triaged(seq: u64, id: &str) -> Event {
        event(
            seq,
            event::TRIAGED,
            "task",
            id,
            "triaged",
            json!({"classification": "bug", "priority": "high", "domain": "backend"}),
        )
    }

    fn assigned(seq: u64, id: &str) -> Event {
        event(
            seq,
            event::ASSIGNED,
            "task",
            id,
            "assigned",
            json!({"owner": "Subagent:Backend", "expected_output": "a fix", "boundaries": "api only",
                   "review_criteria": "tests pass"}),
        )
    }

    fn whole_life() -> Vec<Event> {
        vec![
            created(1, "login is broken\nsince Monday"),
            triaged(2, "t1"),
            status(3, "t1", "planned", None),
            assigned(4, "t1"),
            status(5, "t1", "active", None),
            status(6, "t1", "blocked", Some("waiting for the API key")),
            status(7, "t1", "active", None),
            status(8, "t1", "review", None),
            status(9, "t1", "active", None),
            status(10, "t1", "review", None),
            status(11, "t1", "done", None),
            status(12, "t1", "archived", None),
        ]
    }

    #[test]
    fn a_whole_life() {
        let events = whole_life();
        let mut board = Board::default();
        let mut seen = Vec::new();
        for e in &events {
            assert!(board.apply(e), "event {} was not folded", e.seq);
            seen.push(board.task("t1").map(|t| t.status));
            if e.seq == 6 {
                let t = board.task("t1").expect("task");
                assert_eq!(
                    (t.blocker.as_deref(), t.blocked_from),
                    (Some("waiting for the API key"), Some(Status::Active))
                );
            }
        }
        use Status::*;
        let expected = [
            Inbox, Triaged, Planned, Assigned, Active, Blocked, Active, Review, Active, Review, Done,
            Archived,
        ];
        assert_eq!(seen, expected.map(Some));
        let t = board.task("t1").expect("task");
        assert_eq!(t.title, "login is broken");
        assert_eq!(t.text, "login is broken\nsince Monday");
        assert_eq!(t.classification, Some(crate::config::Classification::Bug));
        assert_eq!(t.owner.as_deref(), Some("Subagent:Backend"));
        assert_eq!(t.review_criteria.as_deref(), Some("tests pass"));
        assert_eq!((t.blocker.as_ref(), t.blocked_from), (None, None));
        assert_eq!((t.created, t.updated), (at(1), at(12)));
        assert_eq!(board.last_seq, 12);
    }

    #[test]
    fn invalid_events_are_skipped() {
        let mut board = Board::from_events(&[created(1, "a"), created(2, "b")]);
        let skipped = [
            // Moves the lifecycle does not allow from where the task is.
            status(3, "t1", "active", None),
            status(4, "t1", "triaged", None),
            status(5, "t1", "assigned", None),
            assigned(6, "t1"),
            // Blocked without a blocker, and from a status that cannot block.
            status(7, "t1", "blocked", None),
            event(8, event::BLOCKED, "task", "t1", "blocked", json!({"blocker": "x"})),
            // Unknown task, unknown type, wrong entity type, bad data, no data.
            status(9, "t99", "archived", None),
            event(10, "task.teleported", "task", "t1", "x", json!({})),
            event(11, event::TRIAGED, "routine", "t1", "triaged", json!({})),
            event(12, event::STATUS_CHANGED, "task", "t1", "x", json!({"to": "flying"})),
            event(13, event::ITEM_CREATED, "task", "t3", "inbox", json!({"text": 7})),
            Event { data: None, ..triaged(14, "t1") },
            // A second creation of an existing id, and a creation in a status it cannot start in.
            created(1, "again"),
            event(15, event::ITEM_CREATED, "task", "t2", "inbox", json!({"text": "dup", "source": "cli"})),
            event(16, event::ITEM_CREATED, "task", "t16", "active", json!({"text": "x", "source": "cli"})),
            event(17, event::MODE_CHANGED, "workspace", "mode", "Sleeping", json!({"mode": "Sleeping"})),
        ];
        let before = board.tasks.clone();
        for e in &skipped {
            assert!(!board.apply(e), "event {} ({}) was folded", e.seq, e.kind);
        }
        assert_eq!(board.tasks, before);
        assert_eq!(board.last_seq, 17);
        // An event already covered is skipped even when it would be valid.
        assert!(!board.apply(&triaged(17, "t1")));
        assert!(board.apply(&triaged(18, "t1")));
    }

    #[test]
    fn task_blocked_is_a_move_to_blocked() {
        let mut board = Board::from_events(&whole_life()[..5]);
        assert!(board.apply(&event(
            6,
            event::BLOCKED,
            "task",
            "t1",
            "blocked",
            json!({"blocker": "disk full"})
        )));
        let t = board.task("t1").expect("task");
        assert_eq!(
            (t.status, t.blocked_from, t.blocker.as_deref()),
            (Status::Blocked, Some(Status::Active), Some("disk full"))
        );
        assert!(!board.apply(&status(7, "t1", "assigned", None)), "back only where it came from");
        assert!(board.apply(&status(8, "t1", "active", None)));
    }

    #[test]
    fn split_children_link_to_the_parent() {
        let mut board = Board::from_events(&[created(1, "build the billing page"), triaged(2, "t1")]);
        let child = |seq: u64, title: &str| {
            event(
                seq,
                event::ITEM_CREATED,
                "task",
                &format!("t{seq}"),
                "triaged",
                json!({"text": title, "title": title, "source": "cli", "parent": "t1",
                       "classification": "bug", "priority": "high", "domain": "backend"}),
            )
        };
        assert!(board.apply(&event(
            3,
            event::SPLIT,
            "task",
            "t1",
            "triaged",
            json!({"children": ["api", "page"]})
        )));
        assert!(board.apply(&child(4, "api")));
        assert!(board.apply(&child(5, "page")));
        let parent = board.task("t1").expect("parent");
        assert_eq!(
            (parent.status, parent.children.clone()),
            (Status::Triaged, vec!["t4".to_string(), "t5".to_string()])
        );
        let c = board.task("t5").expect("child");
        assert_eq!((c.status, c.title.as_str(), c.parent.as_deref()), (Status::Triaged, "page", Some("t1")));
        assert_eq!(c.priority, Some(crate::config::Priority::High));
        // A triaged child goes on to be assigned like any task.
        assert!(board.apply(&assigned(6, "t5")));
    }

    #[test]
    fn mode_agents_and_usage() {
        let events = [
            event(1, event::MODE_CHANGED, "workspace", "mode", "Building", json!({"mode": "Building"})),
            event(
                2,
                event::AGENT_STATUS_CHANGED,
                "agent",
                "backend",
                "working",
                json!({"status": "working", "task": "t9", "model": "example-large-2", "tokens": 1200}),
            ),
            event(
                3,
                event::USAGE_RECORDED,
                "usage",
                "backend",
                "recorded",
                json!({"model": "m", "agent": "backend", "input_tokens": 1, "output_tokens": 2,
                         "total_tokens": 3, "estimated_cost": 0.5, "currency": "USD"}),
            ),
            event(
                4,
                event::MODE_CHANGED,
                "workspace",
                "mode",
                "Reviewing",
                json!({"mode": "Reviewing", "from": "Building"}),
            ),
        ];
        let board = Board::from_events(&events);
        assert_eq!(board.mode, Some(ActiveMode { mode: Mode::Reviewing, since: at(4) }));
        let report = &board.agents["backend"];
        assert_eq!(
            (report.report.status.as_str(), report.report.tokens, report.at),
            ("working", Some(1200), at(2))
        );
        assert_eq!(board.usage.len(), 1);
        assert!(board.usage[0].usage.priced, "priced defaults to true");
        let mut pruned = board.clone();
        pruned.prune_usage(at(4));
        assert!(pruned.usage.is_empty());
    }

    #[test]
    fn a_restored_snapshot_folds_only_what_follows() {
        let events = whole_life();
        let full = Board::from_events(&events);
        let half = Board::from_events(&events[..6]);
        let json = serde_json::to_string(&half).expect("serialize");
        let mut restored: Board = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(restored, half);
        // Re-reading from a little before the snapshot's seq is harmless.
        for e in &events[3..] {
            restored.apply(e);
        }
        assert_eq!(restored, full);
        let empty: Board = serde_json::from_str("{}").expect("an empty snapshot");
        assert_eq!(empty, Board::default());
    }

    #[test]
    fn placeholder_ids_become_real_ids() {
        let mut board = Board::default();
        let events = stored(
            &mut board,
            vec![
                crate::events::NewEvent::new(
                    event::ITEM_CREATED,
                    "cli",
                    "task",
                    crate::work::NEW_ID,
                    "inbox",
                    "",
                )
                .with_data(json!({"text": "x", "source": "cli"})),
            ],
        );
        assert_eq!(events[0].entity_id, "t1");
        assert!(board.task("t1").is_some());
    }
}
