//! The work commands (SPEC sections 8 and 9) as pure functions: each checks its arguments
//! against the configuration and the board at `now` and returns the events to append, or a
//! [`WorkError`] and nothing to write. The command line and the HTTP write API both call
//! these; neither decides anything about work on its own.
//!
//! New tasks are written with the entity id [`NEW_ID`](super::NEW_ID); the event log replaces
//! it with `t{seq}` at append time, so ids are unique across every writer without a lock of
//! their own. The events are stamped with `now` so that a command's outcome does not depend
//! on when the append happens.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::NEW_ID;
use super::board::Board;
use super::error::WorkError;
use super::event::{
    self, AgentStatus, Assigned, ItemCreated, ModeChanged, Split, StatusChanged, Triaged, UsageRecorded,
};
use super::task::{Status, Task, Via};
use super::usage::{cost, price_for, round6};
use crate::condition::Value;
use crate::config::check_owner;
use crate::config::{Classification, Config, Domain, EntityKey, Kind, Mode, Priority, Spec, valid_id};
use crate::events::NewEvent;

/// Longest inbox text and longest free-text field (expected output, boundaries, ...), in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Longest title of a split child, in bytes.
pub const MAX_TITLE_BYTES: usize = 256;
/// Most children one split may create.
pub const MAX_CHILDREN: usize = 50;
/// Longest name (owner, model, agent, source, status word), in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most tokens one record or report may carry: far above any real call, so only a typo or a
/// unit mistake reaches it.
pub const MAX_TOKENS: i64 = 10_000_000_000;
/// Highest cost one usage record may carry.
pub const MAX_COST: f64 = 1_000_000.0;
/// The currency of usage no price matched.
pub const DEFAULT_CURRENCY: &str = "USD";

/// How to triage one item by hand.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triage {
    pub classification: Classification,
    pub priority: Priority,
    pub domain: Domain,
    #[serde(default)]
    pub owner: Option<String>,
    /// A `Project` id; the task takes the project's `repo` and `branch`.
    #[serde(default)]
    pub project: Option<String>,
}

/// What `assign` requires: every field, non-empty.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Assignment {
    pub owner: String,
    pub expected_output: String,
    pub boundaries: String,
    pub review_criteria: String,
}

/// A usage record as given. Counts are signed so that a negative number is refused by name
/// instead of failing to parse.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageInput {
    pub model: String,
    /// An agent id or name.
    pub agent: String,
    pub task: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    /// Given by the caller; priced from the `Price` rules when absent.
    pub cost: Option<f64>,
}

/// An agent's report about itself.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentReportInput {
    /// A short word: `idle`, `working`, `blocked`, ...
    pub status: String,
    pub task: Option<String>,
    pub model: Option<String>,
    pub mode: Option<Mode>,
    pub tokens: Option<i64>,
}

/// The outcome of automatic triage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AutoTriage {
    /// One `task.triaged` per matched item.
    pub events: Vec<NewEvent>,
    /// `(task, rule)` for each matched item.
    pub triaged: Vec<(String, String)>,
    /// Items no rule matched; they stay in the inbox.
    pub unmatched: Vec<String>,
}

/// The commands, over one configuration and one board at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Ops<'a> {
    pub config: &'a Config,
    pub board: &'a Board,
    pub now: DateTime<Utc>,
    /// The events' `source`: `cli` or `api`.
    pub writer: &'a str,
}

impl<'a> Ops<'a> {
    pub fn new(config: &'a Config, board: &'a Board, now: DateTime<Utc>, writer: &'a str) -> Ops<'a> {
        Ops { config, board, now, writer }
    }

    /// `inbox add TEXT [--source S]`: a raw item; the source defaults to the writer.
    pub fn add_item(&self, text: &str, source: Option<&str>) -> Result<Vec<NewEvent>, WorkError> {
        let text = required("TEXT", text, MAX_TEXT_BYTES)?;
        let source = required("--source", source.unwrap_or(self.writer), MAX_NAME_BYTES)?;
        let message = format!("new inbox item from {source}: {}", super::task::title_of(&text));
        let data = ItemCreated { text, source, ..ItemCreated::default() };
        Ok(vec![self.event(event::ITEM_CREATED, event::TASK_ENTITY, NEW_ID, "inbox", message, &data)])
    }

    /// `triage ID --class C --priority P --domain D [--owner O]`: an inbox item by hand.
    pub fn triage(&self, id: &str, triage: &Triage) -> Result<Vec<NewEvent>, WorkError> {
        let task = self.task(id)?;
        task.check_move(Status::Triaged, Via::Triage)?;
        let owner = triage.owner.as_deref().map(|o| self.owner(o)).transpose()?;
        let (project, repo, branch) = match triage.project.as_deref() {
            Some(p) => {
                let (repo, branch) = self.project(p)?;
                (Some(p.to_string()), repo, branch)
            }
            None => (None, None, None),
        };
        let data = Triaged {
            classification: Some(triage.classification),
            priority: Some(triage.priority),
            domain: Some(triage.domain),
            owner,
            project,
            repo,
            branch,
            ..Triaged::default()
        };
        let message = format!("triaged as {}", describe_triage(&data));
        Ok(vec![self.event(event::TRIAGED, event::TASK_ENTITY, &task.id, "triaged", message, &data)])
    }

    /// `triage --auto`: every inbox item through the triage rules (already sorted by order);
    /// the first rule whose condition holds over `text` and `source` classifies the item.
    pub fn auto_triage(&self) -> AutoTriage {
        let mut out = AutoTriage::default();
        for task in self.board.inbox() {
            let fields = |path: &str| match path {
                "text" => Value::from(task.text.as_str()),
                "source" => Value::from(task.source.as_str()),
                _ => Value::Null,
            };
            let Some(rule) = self.config.triage_rules.iter().find(|r| r.when.eval(&fields)) else {
                out.unmatched.push(task.id.clone());
                continue;
            };
            let data = Triaged {
                classification: rule.classification,
                priority: rule.priority,
                domain: rule.domain,
                owner: rule.owner.clone(),
                expected_output: rule.expected_output.clone(),
                rule: Some(rule.id.clone()),
                ..Triaged::default()
            };
            let message = format!("triaged by rule {} as {}", rule.id, describe_triage(&data));
            out.events.push(self.event(
                event::TRIAGED,
                event::TASK_ENTITY,
                &task.id,
                "triaged",
                message,
                &data,
            ));
            out.triaged.push((task.id.clone(), rule.id.clone()));
        }
        out
    }

    /// `split ID --into TITLE...`: a `task.split` on the parent, then one new task per title.
    ///
    /// The parent stays where it is and lists its children. A child of a triaged (or further
    /// along) task starts `triaged` with the parent's classification, priority, domain and
    /// project; a child of an untriaged item starts in the inbox, since there is nothing to
    /// inherit yet.
    pub fn split(&self, id: &str, titles: &[String]) -> Result<Vec<NewEvent>, WorkError> {
        let parent = self.task(id)?;
        if matches!(parent.status, Status::Done | Status::Archived) {
            return Err(WorkError::invalid(
                "ID",
                format!("task {id} is {}; only open work can be split", parent.status),
            ));
        }
        if titles.is_empty() {
            return Err(WorkError::invalid("--into", "give at least one title"));
        }
        if titles.len() > MAX_CHILDREN {
            return Err(WorkError::invalid(
                "--into",
                format!("{} titles; one split makes at most {MAX_CHILDREN}", titles.len()),
            ));
        }
        let titles =
            titles.iter().map(|t| required("--into", t, MAX_TITLE_BYTES)).collect::<Result<Vec<_>, _>>()?;
        let inherit = parent.status != Status::Inbox;
        let child_status = if inherit { Status::Triaged } else { Status::Inbox };
        let message = format!("split into {} tasks: {}", titles.len(), titles.join("; "));
        let mut events = vec![self.event(
            event::SPLIT,
            event::TASK_ENTITY,
            &parent.id,
            parent.status.as_str(),
            message,
            &Split { children: titles.clone() },
        )];
        for title in titles {
            let message = format!("split from {}: {title}", parent.id);
            let data = ItemCreated {
                text: title.clone(),
                source: parent.source.clone(),
                title: Some(title),
                parent: Some(parent.id.clone()),
                classification: parent.classification.filter(|_| inherit),
                priority: parent.priority.filter(|_| inherit),
                domain: parent.domain.filter(|_| inherit),
                project: parent.project.clone().filter(|_| inherit),
                repo: parent.repo.clone().filter(|_| inherit),
                branch: parent.branch.clone().filter(|_| inherit),
            };
            events.push(self.event(
                event::ITEM_CREATED,
                event::TASK_ENTITY,
                NEW_ID,
                child_status.as_str(),
                message,
                &data,
            ));
        }
        Ok(events)
    }

    /// `assign ID --owner O --expected-output T --boundaries T --review-criteria T`.
    pub fn assign(&self, id: &str, assignment: &Assignment) -> Result<Vec<NewEvent>, WorkError> {
        let task = self.task(id)?;
        task.check_move(Status::Assigned, Via::Assign)?;
        let data = Assigned {
            owner: self.owner(&assignment.owner)?,
            expected_output: required("--expected-output", &assignment.expected_output, MAX_TEXT_BYTES)?,
            boundaries: required("--boundaries", &assignment.boundaries, MAX_TEXT_BYTES)?,
            review_criteria: required("--review-criteria", &assignment.review_criteria, MAX_TEXT_BYTES)?,
        };
        let message = format!("assigned to {}: {}", data.owner, super::task::title_of(&data.expected_output));
        Ok(vec![self.event(event::ASSIGNED, event::TASK_ENTITY, &task.id, "assigned", message, &data)])
    }

    /// `task ID --status S [--blocker TEXT]`: a move that is not triage or assign. A move to
    /// `blocked` needs the blocker; no other move takes one.
    pub fn set_status(
        &self,
        id: &str,
        to: Status,
        blocker: Option<&str>,
    ) -> Result<Vec<NewEvent>, WorkError> {
        let task = self.task(id)?;
        task.check_move(to, Via::Status)?;
        let blocker = match (to, blocker) {
            (Status::Blocked, Some(b)) => Some(required("--blocker", b, MAX_TEXT_BYTES)?),
            (Status::Blocked, None) => {
                return Err(WorkError::invalid("--blocker", "a move to blocked needs the blocker's text"));
            }
            (_, Some(_)) => {
                return Err(WorkError::invalid("--blocker", "only a move to blocked takes a blocker"));
            }
            (_, None) => None,
        };
        let message = match &blocker {
            Some(b) => format!("{} → {to}: {b}", task.status),
            None => format!("{} → {to}", task.status),
        };
        let data = StatusChanged { from: Some(task.status), to, blocker };
        // A block has its own type, so a reader of the log finds blockers without the data.
        let kind = if to == Status::Blocked { event::BLOCKED } else { event::STATUS_CHANGED };
        Ok(vec![self.event(kind, event::TASK_ENTITY, &task.id, to.as_str(), message, &data)])
    }

    /// `mode set MODE`. Setting the mode that is already active writes nothing.
    pub fn set_mode(&self, mode: Mode) -> Result<Vec<NewEvent>, WorkError> {
        let from = self.board.mode.as_ref().map(|m| m.mode);
        if from == Some(mode) {
            return Ok(vec![]);
        }
        let name = choice_name(&mode);
        let message = match from {
            Some(from) => format!("mode {} → {name}", choice_name(&from)),
            None => format!("mode set to {name}"),
        };
        let data = ModeChanged { mode, from };
        Ok(vec![self.event(
            event::MODE_CHANGED,
            event::WORKSPACE_ENTITY,
            event::MODE_ENTITY_ID,
            &name,
            message,
            &data,
        )])
    }

    /// `usage record --model M --agent A [--task T] --input N --output N [--cost X]`. Without a
    /// cost the record is priced by the most specific matching `Price`; with none, it costs 0
    /// and is marked `priced: false`.
    pub fn record_usage(&self, input: &UsageInput) -> Result<Vec<NewEvent>, WorkError> {
        let model = required("--model", &input.model, MAX_NAME_BYTES)?;
        let agent = self.usage_agent(&input.agent)?;
        let task = input.task.as_deref().map(|t| self.task(t).map(|t| t.id.clone())).transpose()?;
        let input_tokens = count("--input", input.input_tokens)?;
        let output_tokens = count("--output", input.output_tokens)?;
        let cache_read_tokens = count("--cache-read", input.cache_read_tokens.unwrap_or(0))?;
        let cache_write_tokens = count("--cache-write", input.cache_write_tokens.unwrap_or(0))?;
        let price = price_for(&self.config.prices, &model);
        let (estimated_cost, priced) = match (input.cost, price) {
            (Some(c), _) if !c.is_finite() || !(0.0..=MAX_COST).contains(&c) => {
                return Err(WorkError::invalid(
                    "--cost",
                    format!("{c} is not a cost between 0 and {MAX_COST}"),
                ));
            }
            (Some(c), _) => (round6(c), true),
            (None, Some(p)) => {
                (cost(p, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens), true)
            }
            (None, None) => (0.0, false),
        };
        let currency = price.map_or(DEFAULT_CURRENCY, |p| p.currency.as_str()).to_string();
        let total_tokens = [input_tokens, output_tokens, cache_read_tokens, cache_write_tokens]
            .into_iter()
            .fold(0u64, u64::saturating_add);
        let mut message = format!("{model} for {agent}: {total_tokens} tokens, {estimated_cost} {currency}");
        if !priced {
            message.push_str(" (no price for this model)");
        }
        let data = UsageRecorded {
            model,
            agent,
            task,
            routine: None,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            total_tokens,
            estimated_cost,
            currency,
            priced,
        };
        Ok(vec![self.event(
            event::USAGE_RECORDED,
            event::USAGE_ENTITY,
            &data.agent,
            "recorded",
            message,
            &data,
        )])
    }

    /// `agent report ID --status S [--task T] [--model M] [--tokens N]`: the agent must be a
    /// watched `Agent` of the desired state (by id or name).
    pub fn agent_report(&self, id: &str, report: &AgentReportInput) -> Result<Vec<NewEvent>, WorkError> {
        let agent = self.agent_id(id).ok_or_else(|| WorkError::UnknownAgent(id.to_string()))?;
        let status = required("--status", &report.status, 32)?;
        if !status.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
            return Err(WorkError::invalid(
                "--status",
                format!("{status:?} is not one word; write a status such as idle, working or blocked"),
            ));
        }
        let task = report.task.as_deref().map(|t| self.task(t).map(|t| t.id.clone())).transpose()?;
        let model = report.model.as_deref().map(|m| required("--model", m, MAX_NAME_BYTES)).transpose()?;
        let tokens = report.tokens.map(|t| count("--tokens", t)).transpose()?;
        let mut message = format!("{agent} reports {status}");
        if let Some(task) = &task {
            message.push_str(&format!(" on {task}"));
        }
        if let Some(model) = &model {
            message.push_str(&format!(" ({model})"));
        }
        let data = AgentStatus { status: status.clone(), task, model, mode: report.mode, tokens, cost: None };
        Ok(vec![self.event(
            event::AGENT_STATUS_CHANGED,
            event::AGENT_ENTITY,
            &agent,
            &status,
            message,
            &data,
        )])
    }

    fn event(
        &self,
        kind: &str,
        entity_type: &str,
        entity_id: &str,
        status: &str,
        message: String,
        data: &impl Serialize,
    ) -> NewEvent {
        // The data types are plain structs of strings, numbers and enums: they always serialize.
        let data = serde_json::to_value(data).unwrap_or_default();
        NewEvent::new(kind, self.writer, entity_type, entity_id, status, message).with_data(data).at(self.now)
    }

    fn task(&self, id: &str) -> Result<&'a Task, WorkError> {
        self.board.task(id).ok_or_else(|| WorkError::UnknownTask(id.to_string()))
    }

    fn owner(&self, owner: &str) -> Result<String, WorkError> {
        let owner = required("--owner", owner, MAX_NAME_BYTES)?;
        check_owner(self.config, &owner).map_err(|message| WorkError::invalid("--owner", message))?;
        Ok(owner)
    }

    /// The repo and branch a watched `Project` declares.
    fn project(&self, id: &str) -> Result<(Option<String>, Option<String>), WorkError> {
        match self.config.entity(&EntityKey::new(Kind::Project, id)).filter(|e| !e.inert).map(|e| &e.spec) {
            Some(Spec::Project(p)) => Ok((p.repo.clone(), p.branch.clone())),
            _ => Err(WorkError::invalid("--project", format!("unknown project {id:?}"))),
        }
    }

    /// The id of a watched agent named by id or (case-insensitively) by name.
    fn agent_id(&self, name: &str) -> Option<String> {
        self.config
            .visible_entities()
            .find(|e| {
                matches!(e.spec, Spec::Agent(_))
                    && (e.key.id == name
                        || e.meta.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            })
            .map(|e| e.key.id.clone())
    }

    /// Usage may come from agents the desired state does not declare (an OpenClaw agent seen
    /// by the collector), but a declared one is always recorded under its id, so budgets
    /// scoped `agent/ID` count it whichever name the caller used.
    fn usage_agent(&self, agent: &str) -> Result<String, WorkError> {
        let agent = required("--agent", agent, MAX_NAME_BYTES)?;
        match self.agent_id(&agent) {
            Some(id) => Ok(id),
            None if valid_id(&agent) => Ok(agent),
            None => Err(WorkError::invalid(
                "--agent",
                format!("{agent:?} is neither a declared agent nor an id like backend or my-agent"),
            )),
        }
    }
}

/// Parses a command-line word into one of the work enums by its serde name (`bug`, `high`,
/// `backend`, `Building`, `active`); the error lists the accepted words.
pub fn parse_choice<T: DeserializeOwned>(field: &'static str, text: &str) -> Result<T, WorkError> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(text))
        .map_err(|e| WorkError::invalid(field, e.to_string()))
}

/// The serde name of an enum value, as [`parse_choice`] reads it.
fn choice_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn describe_triage(t: &Triaged) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(c) = &t.classification {
        parts.push(choice_name(c));
    }
    if let Some(p) = &t.priority {
        parts.push(format!("{} priority", choice_name(p)));
    }
    if let Some(d) = &t.domain {
        parts.push(choice_name(d));
    }
    if let Some(o) = &t.owner {
        parts.push(format!("owner {o}"));
    }
    if parts.is_empty() { "unclassified".to_string() } else { parts.join(", ") }
}

/// A required text: trimmed, non-empty, at most `max` bytes.
fn required(field: &'static str, text: &str, max: usize) -> Result<String, WorkError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(WorkError::invalid(field, "must not be empty"));
    }
    if text.len() > max {
        return Err(WorkError::invalid(field, format!("{} bytes; at most {max}", text.len())));
    }
    Ok(text.to_string())
}

/// A token count: not negative, not absurd.
fn count(field: &'static str, n: i64) -> Result<u64, WorkError> {
    u64::try_from(n).ok().filter(|&n| n <= MAX_TOKENS.unsigned_abs()).ok_or_else(|| {
        WorkError::invalid(field, format!("{n} is not a token count between 0 and {MAX_TOKENS}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Classification as C;
    use crate::config::Domain as D;
    use crate::config::Priority as P;
    use crate::work::testing::{at, config, example_config, stored};

    fn triage(classification: C, priority: P, domain: D) -> Triage {
        Triage { classification, priority, domain, owner: None, project: None }
    }

    fn assignment(owner: &str) -> Assignment {
        Assignment {
            owner: owner.into(),
            expected_output: "a fix with a test".into(),
            boundaries: "only the API".into(),
            review_criteria: "tests pass".into(),
        }
    }

    /// Runs a command against the board, stores its events and folds them.
    fn run(
        board: &mut Board,
        config: &Config,
        command: impl FnOnce(&Ops) -> Result<Vec<NewEvent>, WorkError>,
    ) -> Result<Vec<crate::events::Event>, WorkError> {
        let events = command(&Ops::new(config, board, at(100 + board.last_seq as i64), "cli"))?;
        Ok(stored(board, events))
    }

    #[test]
    fn a_task_through_the_commands() {
        let c = example_config();
        let mut b = Board::default();
        let added =
            run(&mut b, &c, |o| o.add_item("  the login page is broken  ", Some("telegram"))).expect("add");
        assert_eq!(
            (added[0].entity_id.as_str(), added[0].kind.as_str(), added[0].source.as_str()),
            ("t1", "inbox.item_created", "cli")
        );
        assert_eq!(
            added[0].data,
            Some(serde_json::json!({"text": "the login page is broken", "source": "telegram"}))
        );
        assert_eq!(added[0].message, "new inbox item from telegram: the login page is broken");
        let triaged = run(&mut b, &c, |o| {
            o.triage(
                "t1",
                &Triage {
                    owner: Some("Fakker".into()),
                    project: Some("mission-control".into()),
                    ..triage(C::Bug, P::High, D::Frontend)
                },
            )
        })
        .expect("triage");
        assert_eq!(
            triaged[0].data,
            Some(serde_json::json!({"classification": "bug", "priority": "high", "domain": "frontend",
                                    "owner": "Fakker", "project": "mission-control", "repo": ".", "branch": "main"}))
        );
        assert_eq!(triaged[0].message, "triaged as bug, high priority, frontend, owner Fakker");
        run(&mut b, &c, |o| o.assign("t1", &assignment("Subagent:Frontend"))).expect("assign");
        run(&mut b, &c, |o| o.set_status("t1", Status::Active, None)).expect("active");
        let blocked = run(&mut b, &c, |o| o.set_status("t1", Status::Blocked, Some(" no test account ")))
            .expect("block");
        assert_eq!(
            blocked[0].data,
            Some(serde_json::json!({"from": "active", "to": "blocked", "blocker": "no test account"}))
        );
        assert_eq!(blocked[0].message, "active → blocked: no test account");
        run(&mut b, &c, |o| o.set_status("t1", Status::Active, None)).expect("unblock");
        run(&mut b, &c, |o| o.set_status("t1", Status::Review, None)).expect("review");
        run(&mut b, &c, |o| o.set_status("t1", Status::Done, None)).expect("done");
        let t = b.task("t1").expect("task");
        assert_eq!(
            (t.status, t.owner.as_deref(), t.repo.as_deref()),
            (Status::Done, Some("Subagent:Frontend"), Some("."))
        );
        assert_eq!(t.updated, at(100 + 7));
    }

    #[test]
    fn refused_commands_name_the_field_or_the_id() {
        let c = example_config();
        let mut b = Board::default();
        run(&mut b, &c, |o| o.add_item("fix it", None)).expect("add");
        run(&mut b, &c, |o| o.add_item("another", None)).expect("add");
        run(&mut b, &c, |o| o.triage("t2", &triage(C::Task, P::Low, D::Infra))).expect("triage");
        let ops = Ops::new(&c, &b, at(0), "cli");
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        let cases: Vec<(Result<Vec<NewEvent>, WorkError>, &str)> = vec![
            (ops.add_item(" \n\t ", None), "TEXT: must not be empty"),
            (ops.add_item(&long, None), "TEXT: 4097 bytes; at most 4096"),
            (ops.add_item("ok", Some(" ")), "--source: must not be empty"),
            (ops.triage("t99", &triage(C::Bug, P::High, D::Backend)), "unknown task t99"),
            (
                ops.triage("t2", &triage(C::Bug, P::High, D::Backend)),
                "task t2 is triaged; from triaged it can go to planned, assigned (by assign) or archived",
            ),
            (
                ops.triage(
                    "t1",
                    &Triage { owner: Some("Bob".into()), ..triage(C::Bug, P::High, D::Backend) },
                ),
                "--owner: \"Bob\" is not an agent (by name or id), Subagent:<Role>, Automation:<name> or Human:<name>",
            ),
            (
                ops.triage(
                    "t1",
                    &Triage { project: Some("nope".into()), ..triage(C::Bug, P::High, D::Backend) },
                ),
                "--project: unknown project \"nope\"",
            ),
            (
                ops.assign("t1", &assignment("Fakker")),
                "task t1 is inbox; from inbox it can go to triaged (by triage) or archived",
            ),
            (ops.assign("t2", &assignment("")), "--owner: must not be empty"),
            (
                ops.assign("t2", &assignment("Human:Bob")),
                "--owner: human \"Bob\" is not listed in the settings' `humans` (Khaled)",
            ),
            (
                ops.assign("t2", &Assignment { review_criteria: " ".into(), ..assignment("Human:Khaled") }),
                "--review-criteria: must not be empty",
            ),
            (
                ops.set_status("t1", Status::Triaged, None),
                "task t1 is inbox; from inbox it can go to triaged (by triage) or archived",
            ),
            (
                ops.set_status("t2", Status::Assigned, None),
                "task t2 is triaged; from triaged it can go to planned, assigned (by assign) or archived",
            ),
            (
                ops.set_status("t2", Status::Blocked, Some("x")),
                "task t2 is triaged; from triaged it can go to planned, assigned (by assign) or archived",
            ),
            (
                ops.set_status("t2", Status::Planned, Some("x")),
                "--blocker: only a move to blocked takes a blocker",
            ),
            (ops.set_status("t3", Status::Archived, None), "unknown task t3"),
            (ops.split("t1", &[]), "--into: give at least one title"),
            (ops.split("t1", &["a".into(), "  ".into()]), "--into: must not be empty"),
            (ops.split("t7", &["a".into()]), "unknown task t7"),
        ];
        for (result, message) in cases {
            assert_eq!(result.map_err(|e| e.to_string()), Err(message.to_string()));
        }
        // Blocking needs the blocker's text.
        run(&mut b, &c, |o| o.set_status("t2", Status::Planned, None)).expect("plan");
        let ops = Ops::new(&c, &b, at(0), "cli");
        assert_eq!(
            ops.set_status("t2", Status::Blocked, Some("  ")).map_err(|e| e.to_string()),
            Err("--blocker: must not be empty".to_string())
        );
        assert_eq!(
            ops.set_status("t2", Status::Blocked, None).map_err(|e| e.to_string()),
            Err("--blocker: a move to blocked needs the blocker's text".to_string())
        );
        // Finished work cannot be split.
        run(&mut b, &c, |o| o.set_status("t2", Status::Archived, None)).expect("archive");
        let ops = Ops::new(&c, &b, at(0), "cli");
        assert_eq!(
            ops.split("t2", &["a".into()]).map_err(|e| e.to_string()),
            Err("ID: task t2 is archived; only open work can be split".to_string())
        );
    }

    #[test]
    fn splitting_a_triaged_task_makes_triaged_children() {
        let c = example_config();
        let mut b = Board::default();
        run(&mut b, &c, |o| o.add_item("billing page", Some("telegram"))).expect("add");
        run(&mut b, &c, |o| {
            o.triage(
                "t1",
                &Triage { project: Some("mission-control".into()), ..triage(C::Task, P::High, D::Frontend) },
            )
        })
        .expect("triage");
        let events =
            run(&mut b, &c, |o| o.split("t1", &["the API".into(), "the page".into()])).expect("split");
        assert_eq!(
            events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["task.split", "inbox.item_created", "inbox.item_created"]
        );
        assert_eq!(events[0].data, Some(serde_json::json!({"children": ["the API", "the page"]})));
        let parent = b.task("t1").expect("parent");
        assert_eq!(
            (parent.status, parent.children.clone()),
            (Status::Triaged, vec!["t4".to_string(), "t5".to_string()])
        );
        for (id, title) in [("t4", "the API"), ("t5", "the page")] {
            let child = b.task(id).expect("child");
            assert_eq!(child.status, Status::Triaged);
            assert_eq!(
                (child.title.as_str(), child.parent.as_deref(), child.source.as_str()),
                (title, Some("t1"), "telegram")
            );
            assert_eq!(
                (child.classification, child.priority, child.domain),
                (Some(C::Task), Some(P::High), Some(D::Frontend))
            );
            assert_eq!(
                (child.project.as_deref(), child.branch.as_deref()),
                (Some("mission-control"), Some("main"))
            );
        }
        // A child of an untriaged item waits in the inbox with nothing inherited.
        run(&mut b, &c, |o| o.add_item("raw idea", None)).expect("add");
        run(&mut b, &c, |o| o.split("t6", &["part one".into()])).expect("split");
        let child = b.task("t8").expect("child of an inbox item");
        assert_eq!(
            (child.status, child.classification, child.parent.as_deref()),
            (Status::Inbox, None, Some("t6"))
        );
    }

    #[test]
    fn auto_triage_with_the_default_rules() {
        let c = config("", None);
        let mut b = Board::default();
        let items = [
            ("the backup cron crashed", "cli"),     // bug (10) before infra (20)
            ("deploy the new gateway", "cli"),      // infra
            ("automate the weekly report", "cli"),  // automation idea
            ("should we move to Postgres?", "cli"), // decision, no domain
            ("URGENT: call the bank", "telegram"),  // urgent from telegram (5)
            ("urgent: call the bank", "cli"),       // not from telegram: nothing matches
            ("buy milk", "telegram"),               // nothing matches
        ];
        for (text, source) in items {
            run(&mut b, &c, |o| o.add_item(text, Some(source))).expect("add");
        }
        let auto = Ops::new(&c, &b, at(50), "cli").auto_triage();
        assert_eq!(
            auto.triaged,
            [
                ("t1", "broken-things-are-bugs"),
                ("t2", "server-work-is-infra"),
                ("t3", "ideas-to-automate"),
                ("t4", "decisions"),
                ("t5", "urgent-from-telegram")
            ]
            .map(|(t, r)| (t.to_string(), r.to_string()))
        );
        assert_eq!(auto.unmatched, ["t6", "t7"]);
        assert_eq!(
            auto.events[0].data,
            Some(
                serde_json::json!({"classification": "bug", "priority": "high", "domain": "backend", "rule": "broken-things-are-bugs"})
            )
        );
        assert_eq!(
            auto.events[0].message,
            "triaged by rule broken-things-are-bugs as bug, high priority, backend"
        );
        stored(&mut b, auto.events);
        let t4 = b.task("t4").expect("t4");
        assert_eq!(
            (t4.status, t4.classification, t4.domain, t4.triage_rule.as_deref()),
            (Status::Triaged, Some(C::DecisionCandidate), None, Some("decisions"))
        );
        assert_eq!(b.task("t5").and_then(|t| t.priority), Some(P::Urgent));
        assert_eq!(b.inbox().iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["t6", "t7"]);
        // A second pass finds only what is still untriaged.
        let again = Ops::new(&c, &b, at(60), "cli").auto_triage();
        assert!(again.events.is_empty());
        assert_eq!(again.unmatched, ["t6", "t7"]);
    }

    #[test]
    fn usage_is_priced_and_checked() {
        let c = example_config();
        let b = Board::default();
        let ops = Ops::new(&c, &b, at(0), "api");
        let input = |model: &str, input_tokens: i64, output_tokens: i64, cost: Option<f64>| UsageInput {
            model: model.into(),
            agent: "Backend".into(),
            input_tokens,
            output_tokens,
            cost,
            ..UsageInput::default()
        };
        let data = |r: Result<Vec<NewEvent>, WorkError>| r.expect("record").remove(0).data.expect("data");
        let priced = data(ops.record_usage(&input("example-large-2", 1_000_000, 100_000, None)));
        assert_eq!(
            priced,
            serde_json::json!({"model": "example-large-2", "agent": "backend", "input_tokens": 1_000_000,
                "output_tokens": 100_000, "cache_read_tokens": 0, "cache_write_tokens": 0,
                "total_tokens": 1_100_000, "estimated_cost": 4.5, "currency": "USD", "priced": true})
        );
        let cached = data(ops.record_usage(&UsageInput {
            cache_read_tokens: Some(1_000_000),
            ..input("example-large-2", 0, 0, None)
        }));
        assert_eq!(
            (cached["estimated_cost"].as_f64(), cached["total_tokens"].as_u64()),
            (Some(0.3), Some(1_000_000))
        );
        let given = data(ops.record_usage(&input("example-small-1", 10, 10, Some(0.25))));
        assert_eq!((given["estimated_cost"].as_f64(), given["priced"].as_bool()), (Some(0.25), Some(true)));
        let unknown = ops.record_usage(&input("mystery-9", 500, 5, None)).expect("record").remove(0);
        assert_eq!(
            (unknown.data.as_ref().map(|d| (d["estimated_cost"].as_f64(), d["priced"].as_bool()))),
            Some((Some(0.0), Some(false)))
        );
        assert_eq!(unknown.message, "mystery-9 for backend: 505 tokens, 0 USD (no price for this model)");
        assert_eq!(
            (unknown.entity_type.as_str(), unknown.entity_id.as_str(), unknown.source.as_str()),
            ("usage", "backend", "api")
        );

        let refused = [
            (input("m", -1, 0, None), "--input: -1 is not a token count between 0 and 10000000000"),
            (
                input("m", 0, MAX_TOKENS + 1, None),
                "--output: 10000000001 is not a token count between 0 and 10000000000",
            ),
            (
                UsageInput { cache_write_tokens: Some(-5), ..input("m", 0, 0, None) },
                "--cache-write: -5 is not a token count between 0 and 10000000000",
            ),
            (input("m", 1, 1, Some(-0.5)), "--cost: -0.5 is not a cost between 0 and 1000000"),
            (input("m", 1, 1, Some(f64::NAN)), "--cost: NaN is not a cost between 0 and 1000000"),
            (input("m", 1, 1, Some(2e6)), "--cost: 2000000 is not a cost between 0 and 1000000"),
            (input(" ", 1, 1, None), "--model: must not be empty"),
            (
                UsageInput { agent: "Some Agent".into(), ..input("m", 1, 1, None) },
                "--agent: \"Some Agent\" is neither a declared agent nor an id like backend or my-agent",
            ),
            (UsageInput { task: Some("t5".into()), ..input("m", 1, 1, None) }, "unknown task t5"),
        ];
        for (usage, message) in refused {
            assert_eq!(ops.record_usage(&usage).map_err(|e| e.to_string()), Err(message.to_string()));
        }
        // An agent the configuration does not declare is recorded by its id.
        let undeclared =
            data(ops.record_usage(&UsageInput { agent: "openclaw-main".into(), ..input("m", 1, 1, None) }));
        assert_eq!(undeclared["agent"], "openclaw-main");
    }

    #[test]
    fn agent_reports() {
        let c = example_config();
        let mut b = Board::default();
        run(&mut b, &c, |o| o.add_item("x", None)).expect("add");
        let report = AgentReportInput {
            status: "working".into(),
            task: Some("t1".into()),
            model: Some("example-large-2".into()),
            tokens: Some(1200),
            ..AgentReportInput::default()
        };
        let events = run(&mut b, &c, |o| o.agent_report("Backend", &report)).expect("report");
        assert_eq!((events[0].entity_id.as_str(), events[0].status.as_str()), ("backend", "working"));
        assert_eq!(events[0].message, "backend reports working on t1 (example-large-2)");
        assert_eq!(b.agents["backend"].report.tokens, Some(1200));
        let ops = Ops::new(&c, &b, at(0), "cli");
        let refused = [
            ("nobody", report.clone(), "unknown agent \"nobody\": it is not an Agent of the desired state"),
            (
                "backend",
                AgentReportInput { status: "".into(), ..report.clone() },
                "--status: must not be empty",
            ),
            (
                "backend",
                AgentReportInput { status: "on fire".into(), ..report.clone() },
                "--status: \"on fire\" is not one word; write a status such as idle, working or blocked",
            ),
            ("backend", AgentReportInput { task: Some("t9".into()), ..report.clone() }, "unknown task t9"),
            (
                "backend",
                AgentReportInput { tokens: Some(-3), ..report.clone() },
                "--tokens: -3 is not a token count between 0 and 10000000000",
            ),
        ];
        for (agent, r, message) in refused {
            assert_eq!(ops.agent_report(agent, &r).map_err(|e| e.to_string()), Err(message.to_string()));
        }
    }

    #[test]
    fn modes() {
        let c = example_config();
        let mut b = Board::default();
        let first = run(&mut b, &c, |o| o.set_mode(Mode::Building)).expect("mode");
        assert_eq!(
            (first[0].entity_type.as_str(), first[0].entity_id.as_str(), first[0].status.as_str()),
            ("workspace", "mode", "Building")
        );
        assert_eq!(first[0].message, "mode set to Building");
        assert!(run(&mut b, &c, |o| o.set_mode(Mode::Building)).expect("same").is_empty());
        let second = run(&mut b, &c, |o| o.set_mode(Mode::Debugging)).expect("mode");
        assert_eq!(second[0].data, Some(serde_json::json!({"mode": "Debugging", "from": "Building"})));
        assert_eq!(b.mode.as_ref().map(|m| m.mode), Some(Mode::Debugging));
    }

    #[test]
    fn choices_parse_by_their_serde_names() {
        assert_eq!(parse_choice::<C>("--class", "support_debug_item"), Ok(C::SupportDebugItem));
        assert_eq!(parse_choice::<Mode>("MODE", "Reporting"), Ok(Mode::Reporting));
        assert_eq!(parse_choice::<Status>("--status", "review"), Ok(Status::Review));
        let err = parse_choice::<P>("--priority", "asap").map_err(|e| e.to_string());
        assert_eq!(err, Err("--priority: unknown variant `asap`, expected one of `urgent`, `high`, `medium`, `low`, `someday`".to_string()));
        assert_eq!(parse_choice::<D>("--domain", "qa").ok(), Some(D::Qa));
    }

    #[test]
    fn api_field_names() {
        let e = WorkError::invalid("--expected-output", "must not be empty");
        assert_eq!(e.field().as_deref(), Some("expected_output"));
        assert_eq!(WorkError::invalid("TEXT", "x").field().as_deref(), Some("text"));
        assert!(WorkError::UnknownTask("t1".into()).is_not_found());
    }
}
