//! Judging workflows and projects (SPEC section 8) from the board, like any other entity.
//!
//! A workflow is `unknown` until at least one of its steps is linked (`task:`) to a task that
//! exists. A step is blocked when its own task is blocked; the steps that depend on it, directly
//! or not, simply wait and are named in the message rather than reported as blocked
//! themselves, so the warning points at the one thing to unblock. A step is done when its task
//! is `done` (or `archived`, which only follows `done` or abandonment). The current step is
//! the first step, in the order written, that is not done and whose dependencies all are.
//!
//! A project takes the worst of the levels of the entities labelled `project: ID` and a
//! `warning` for each blocked task of the project; the first cause at the worst level is the
//! one reported.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::board::Board;
use super::task::{Status, Task};
use crate::config::{Level, Workflow, WorkflowStep};

/// A workflow's or a project's level and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub level: Level,
    /// CamelCase: `NotLinked`, `StepBlocked`, `TaskBlocked`, `WorstEntity`, `NothingTracked`,
    /// `Healthy`.
    pub reason: String,
    pub message: String,
    /// Workflows only: the step to work on now; `None` when every step is done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step: Option<String>,
}

impl Judgement {
    fn new(level: Level, reason: &str, message: String, current_step: Option<String>) -> Judgement {
        Judgement { level, reason: reason.to_string(), message, current_step }
    }
}

pub fn judge_workflow(workflow: &Workflow, board: &Board) -> Judgement {
    let task_of = |step: &WorkflowStep| step.task.as_deref().and_then(|id| board.task(id));
    if !workflow.steps.iter().any(|s| task_of(s).is_some()) {
        return Judgement::new(Level::Unknown, "NotLinked", "no step is linked to a task yet".into(), None);
    }
    let steps: HashMap<&str, &WorkflowStep> = workflow.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let done = |step: &WorkflowStep| task_of(step).is_some_and(|t| t.status.is_finished());
    let ready =
        |step: &WorkflowStep| step.depends_on.iter().all(|d| steps.get(d.as_str()).is_some_and(|s| done(s)));
    let current = workflow.steps.iter().find(|s| !done(s) && ready(s));
    let current_step = current.map(|s| s.id.clone());

    let blocked: Vec<(&WorkflowStep, &Task)> = workflow
        .steps
        .iter()
        .filter_map(|s| task_of(s).filter(|t| t.status == Status::Blocked).map(|t| (s, t)))
        .collect();
    if let Some((step, task)) = blocked.first() {
        let mut message = format!(
            "step {} is blocked: {} (task {})",
            step.id,
            task.blocker.as_deref().unwrap_or("no blocker given"),
            task.id
        );
        if blocked.len() > 1 {
            let others: Vec<&str> = blocked[1..].iter().map(|(s, _)| s.id.as_str()).collect();
            message.push_str(&format!("; also blocked: {}", others.join(", ")));
        }
        let waiting = waiting_on(workflow, blocked.iter().map(|(s, _)| s.id.as_str()).collect());
        if !waiting.is_empty() {
            message.push_str(&format!("; waiting on it: {}", waiting.join(", ")));
        }
        return Judgement::new(Level::Warning, "StepBlocked", message, current_step);
    }
    let message = match current {
        Some(step) => format!(
            "at step {}{}",
            step.id,
            step.title.as_deref().map(|t| format!(": {t}")).unwrap_or_default()
        ),
        None if workflow.steps.iter().all(done) => "every step is done".to_string(),
        None => "no step can start: every open step waits on an unfinished one".to_string(),
    };
    Judgement::new(Level::Healthy, "Healthy", message, current_step)
}

/// The steps that depend, directly or through other steps, on any of `blocked`, in the order
/// written. Iterates to a fixed point rather than recursing, so a long chain costs no stack.
fn waiting_on(workflow: &Workflow, blocked: BTreeSet<&str>) -> Vec<String> {
    let mut reached = blocked.clone();
    loop {
        let before = reached.len();
        for step in &workflow.steps {
            if step.depends_on.iter().any(|d| reached.contains(d.as_str())) {
                reached.insert(step.id.as_str());
            }
        }
        if reached.len() == before {
            break;
        }
    }
    workflow
        .steps
        .iter()
        .filter(|s| reached.contains(s.id.as_str()) && !blocked.contains(s.id.as_str()))
        .map(|s| s.id.clone())
        .collect()
}

/// A project from the levels of the entities labelled `project: ID` (as `kind/id`, level) and
/// the blockers of its tasks.
pub fn judge_project(project: &str, labelled: &[(&str, Level)], board: &Board) -> Judgement {
    let tasks: Vec<&Task> =
        board.tasks().into_iter().filter(|t| t.project.as_deref() == Some(project)).collect();
    if labelled.is_empty() && tasks.is_empty() {
        return Judgement::new(
            Level::Unknown,
            "NothingTracked",
            format!("no entity is labelled project: {project} and no task belongs to it"),
            None,
        );
    }
    let mut worst = Judgement::new(
        Level::Healthy,
        "Healthy",
        format!("nothing blocked; labelled entities: {}, tasks: {}", labelled.len(), tasks.len()),
        None,
    );
    // The first entity at the worst level, in the order given.
    if let Some((entity, level)) = labelled
        .iter()
        .fold(None, |w: Option<&(&str, Level)>, e| if w.is_some_and(|w| w.1 >= e.1) { w } else { Some(e) })
        && *level > Level::Healthy
    {
        worst = Judgement::new(*level, "WorstEntity", format!("{entity} is {}", Level::as_str(*level)), None);
    }
    let blocked: Vec<&&Task> = tasks.iter().filter(|t| t.status == Status::Blocked).collect();
    if let Some(task) = blocked.first()
        && Level::Warning > worst.level
    {
        let mut message = format!(
            "task {} ({}) is blocked: {}",
            task.id,
            task.title,
            task.blocker.as_deref().unwrap_or("no blocker given")
        );
        if blocked.len() > 1 {
            message.push_str(&format!("; {} more blocked", blocked.len() - 1));
        }
        worst = Judgement::new(Level::Warning, "TaskBlocked", message, None);
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::testing::at;

    fn step(id: &str, depends_on: &[&str], task: Option<&str>) -> WorkflowStep {
        WorkflowStep {
            id: id.into(),
            title: Some(format!("do {id}")),
            owner: None,
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            expected_output: None,
            task: task.map(str::to_string),
        }
    }

    /// The example's weekly release: freeze, then test and notes, then ship, then approve.
    fn release(links: [Option<&str>; 5]) -> Workflow {
        let [freeze, test, notes, ship, approve] = links;
        Workflow {
            expected_output: None,
            steps: vec![
                step("freeze", &[], freeze),
                step("test", &["freeze"], test),
                step("notes", &["freeze"], notes),
                step("ship", &["test", "notes"], ship),
                step("approve", &["ship"], approve),
            ],
        }
    }

    fn board(tasks: &[(&str, Status, Option<&str>, Option<&str>)]) -> Board {
        let mut board = Board::default();
        for (i, (id, status, blocker, project)) in tasks.iter().enumerate() {
            let mut t = Task::new(id, i as u64 + 1, &format!("task {id}"), "cli", at(0));
            t.status = *status;
            t.blocker = blocker.map(str::to_string);
            t.project = project.map(str::to_string);
            board.tasks.insert(id.to_string(), t);
        }
        board
    }

    #[test]
    fn workflows() {
        use Status::*;
        let tasks = board(&[
            ("t1", Done, None, None),
            ("t2", Active, None, None),
            ("t3", Blocked, Some("waiting for the changelog"), None),
            ("t4", Review, None, None),
            ("t5", Done, None, None),
            ("t6", Done, None, None),
            ("t7", Archived, None, None),
            ("t8", Blocked, Some("no deploy key"), None),
        ]);
        // (links of freeze, test, notes, ship, approve; level, reason, message, current step)
        type Case = ([Option<&'static str>; 5], Level, &'static str, &'static str, Option<&'static str>);
        let cases: &[Case] = &[
            ([None; 5], Level::Unknown, "NotLinked", "no step is linked to a task yet", None),
            (
                [Some("t99"), None, None, None, None],
                Level::Unknown,
                "NotLinked",
                "no step is linked to a task yet",
                None,
            ),
            (
                [Some("t1"), None, None, None, None],
                Level::Healthy,
                "Healthy",
                "at step test: do test",
                Some("test"),
            ),
            (
                [Some("t1"), Some("t2"), Some("t3"), None, None],
                Level::Warning,
                "StepBlocked",
                "step notes is blocked: waiting for the changelog (task t3); waiting on it: ship, approve",
                Some("test"),
            ),
            (
                [Some("t1"), Some("t8"), Some("t3"), None, None],
                Level::Warning,
                "StepBlocked",
                "step test is blocked: no deploy key (task t8); also blocked: notes; waiting on it: ship, approve",
                Some("test"),
            ),
            (
                [Some("t1"), Some("t5"), Some("t6"), Some("t8"), None],
                Level::Warning,
                "StepBlocked",
                "step ship is blocked: no deploy key (task t8); waiting on it: approve",
                Some("ship"),
            ),
            (
                [Some("t1"), Some("t2"), Some("t4"), None, None],
                Level::Healthy,
                "Healthy",
                "at step test: do test",
                Some("test"),
            ),
            (
                [Some("t1"), Some("t5"), Some("t2"), None, None],
                Level::Healthy,
                "Healthy",
                "at step notes: do notes",
                Some("notes"),
            ),
            (
                [Some("t1"), Some("t5"), Some("t6"), Some("t7"), Some("t1")],
                Level::Healthy,
                "Healthy",
                "every step is done",
                None,
            ),
        ];
        for (links, level, reason, message, current) in cases {
            let j = judge_workflow(&release(*links), &tasks);
            assert_eq!(
                (j.level, j.reason.as_str(), j.message.as_str(), j.current_step.as_deref()),
                (*level, *reason, *message, *current),
                "{links:?}"
            );
        }
    }

    #[test]
    fn a_workflow_unblocks_when_its_task_does() {
        let mut tasks =
            board(&[("t1", Status::Done, None, None), ("t2", Status::Blocked, Some("flaky test"), None)]);
        let wf = release([Some("t1"), Some("t2"), None, None, None]);
        assert_eq!(judge_workflow(&wf, &tasks).reason, "StepBlocked");
        if let Some(t) = tasks.tasks.get_mut("t2") {
            t.status = Status::Active;
            t.blocker = None;
        }
        let j = judge_workflow(&wf, &tasks);
        assert_eq!(
            (j.level, j.reason.as_str(), j.current_step.as_deref()),
            (Level::Healthy, "Healthy", Some("test"))
        );
    }

    #[test]
    fn projects() {
        use Status::*;
        let tasks = board(&[
            ("t1", Active, None, Some("mc")),
            ("t2", Blocked, Some("waiting for review"), Some("mc")),
            ("t3", Blocked, Some("elsewhere"), Some("other")),
            ("t4", Blocked, Some("also"), Some("mc")),
        ]);
        let none = board(&[]);
        // (project, labelled entities, board; level, reason, message)
        type Case<'a> = (&'a str, &'a [(&'a str, Level)], &'a Board, Level, &'a str, &'a str);
        let cases: &[Case] = &[
            (
                "mc",
                &[],
                &none,
                Level::Unknown,
                "NothingTracked",
                "no entity is labelled project: mc and no task belongs to it",
            ),
            (
                "mc",
                &[("routine/a", Level::Healthy)],
                &none,
                Level::Healthy,
                "Healthy",
                "nothing blocked; labelled entities: 1, tasks: 0",
            ),
            (
                "mc",
                &[("routine/a", Level::Healthy), ("output/b", Level::Stale), ("integration/c", Level::Stale)],
                &none,
                Level::Stale,
                "WorstEntity",
                "output/b is stale",
            ),
            (
                "mc",
                &[("routine/a", Level::Unknown)],
                &none,
                Level::Unknown,
                "WorstEntity",
                "routine/a is unknown",
            ),
            (
                "mc",
                &[("routine/a", Level::Healthy)],
                &tasks,
                Level::Warning,
                "TaskBlocked",
                "task t2 (task t2) is blocked: waiting for review; 1 more blocked",
            ),
            (
                "mc",
                &[("routine/a", Level::Failed)],
                &tasks,
                Level::Failed,
                "WorstEntity",
                "routine/a is failed",
            ),
            (
                "mc",
                &[("routine/a", Level::Warning)],
                &tasks,
                Level::Warning,
                "WorstEntity",
                "routine/a is warning",
            ),
            ("other", &[], &tasks, Level::Warning, "TaskBlocked", "task t3 (task t3) is blocked: elsewhere"),
            (
                "quiet",
                &[],
                &tasks,
                Level::Unknown,
                "NothingTracked",
                "no entity is labelled project: quiet and no task belongs to it",
            ),
        ];
        for (project, labelled, board, level, reason, message) in cases {
            let j = judge_project(project, labelled, board);
            assert_eq!(
                (j.level, j.reason.as_str(), j.message.as_str()),
                (*level, *reason, *message),
                "{project} {labelled:?}"
            );
            assert_eq!(j.current_step, None);
        }
    }
}
