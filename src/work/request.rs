//! One work command as a value: what the command line parses and what the write API sends to
//! the reconciler, so both run the same [`Ops`] against the board they know.

use crate::config::Mode;
use crate::events::NewEvent;

use super::{AgentReportInput, Assignment, Ops, Status, Triage, UsageInput, WorkError};

/// A work command and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    AddItem { text: String, source: Option<String> },
    Triage { id: String, triage: Triage },
    AutoTriage,
    Split { id: String, titles: Vec<String> },
    Assign { id: String, assignment: Assignment },
    SetStatus { id: String, status: Status, blocker: Option<String> },
    SetMode(Mode),
    Usage(UsageInput),
    AgentReport { id: String, report: AgentReportInput },
}

impl Request {
    /// The events the command writes, or why it writes nothing. Automatic triage never fails:
    /// items no rule matches stay untriaged.
    pub fn events(&self, ops: &Ops) -> Result<Vec<NewEvent>, WorkError> {
        match self {
            Request::AddItem { text, source } => ops.add_item(text, source.as_deref()),
            Request::Triage { id, triage } => ops.triage(id, triage),
            Request::AutoTriage => Ok(ops.auto_triage().events),
            Request::Split { id, titles } => ops.split(id, titles),
            Request::Assign { id, assignment } => ops.assign(id, assignment),
            Request::SetStatus { id, status, blocker } => ops.set_status(id, *status, blocker.as_deref()),
            Request::SetMode(mode) => ops.set_mode(*mode),
            Request::Usage(usage) => ops.record_usage(usage),
            Request::AgentReport { id, report } => ops.agent_report(id, report),
        }
    }
}
