//! The events of work tracking: their `type`s and the shape of their `data`. The commands in
//! `ops` write these structs and the board in `board` reads them back, so there is one
//! definition of each event's data. Readers are lenient where it costs nothing (absent
//! optional keys, extra keys), and an event whose data does not parse is skipped by the fold.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::task::Status;
use crate::config::{Classification, Domain, Mode, Priority};

/// A raw item captured into the inbox, or a child task created by a split.
pub const ITEM_CREATED: &str = "inbox.item_created";
/// An inbox item classified, by hand or by a triage rule.
pub const TRIAGED: &str = "task.triaged";
/// A task split into children (the children follow as [`ITEM_CREATED`] events).
pub const SPLIT: &str = "task.split";
/// A task given an owner and a contract.
pub const ASSIGNED: &str = "task.assigned";
/// A task moved along its lifecycle.
pub const STATUS_CHANGED: &str = "task.status_changed";
/// A [`STATUS_CHANGED`] to `blocked`: written for every block, with the same data (`from`,
/// `to`, `blocker`); the fold needs only `blocker`.
pub const BLOCKED: &str = "task.blocked";
/// The active delivery mode changed.
pub const MODE_CHANGED: &str = "mode.changed";
/// An agent's report about itself.
pub const AGENT_STATUS_CHANGED: &str = "agent.status_changed";
/// Tokens spent by a model for an agent.
pub const USAGE_RECORDED: &str = "usage.recorded";

/// `entity_type` of task events.
pub const TASK_ENTITY: &str = "task";
/// `entity_type` of agent reports.
pub const AGENT_ENTITY: &str = "agent";
/// `entity_type` and `entity_id` of mode changes: `workspace/mode`.
pub const WORKSPACE_ENTITY: &str = "workspace";
pub const MODE_ENTITY_ID: &str = "mode";
/// `entity_type` of usage records; the `entity_id` is the agent.
pub const USAGE_ENTITY: &str = "usage";

/// Data of [`ITEM_CREATED`]. The event's `status` is `inbox`, or `triaged` for a child of a
/// triaged task, which then carries the parent's classification here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ItemCreated {
    pub text: String,
    pub source: String,
    /// Set for split children; otherwise the title is derived from the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

/// Data of [`TRIAGED`]. A triage rule may leave any of the three classifiers unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Triaged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
    /// A `Project` id; its `repo` and `branch` are copied in at triage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The triage rule's id, when triage was automatic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// Data of [`SPLIT`], on the parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Split {
    /// The children's titles, in order.
    pub children: Vec<String>,
}

/// Data of [`ASSIGNED`]: every field is required by `assign`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Assigned {
    pub owner: String,
    pub expected_output: String,
    pub boundaries: String,
    pub review_criteria: String,
}

/// Data of [`STATUS_CHANGED`]. The fold checks the move from the task's status when the event
/// is read; `from` is what the writer saw, kept for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusChanged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Status>,
    pub to: Status,
    /// Required, non-empty, when `to` is `blocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocker: Option<String>,
}

/// Data of [`BLOCKED`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Blocked {
    pub blocker: String,
}

/// Data of [`MODE_CHANGED`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModeChanged {
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Mode>,
}

/// Data of [`AGENT_STATUS_CHANGED`]; the event's `entity_id` is the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentStatus {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

/// Data of [`USAGE_RECORDED`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsageRecorded {
    pub model: String,
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The routine the tokens were spent for (the OpenClaw collector knows it from the job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routine: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// All four counts together.
    pub total_tokens: u64,
    pub estimated_cost: f64,
    pub currency: String,
    /// False when no `Price` matched the model and no cost was given: the cost is then 0.
    #[serde(default = "yes")]
    pub priced: bool,
}

fn yes() -> bool {
    true
}
