//! Work tracking (SPEC section 8): the inbox, tasks and their lifecycle, delivery modes,
//! agents' reports, token usage and budgets, and the judgement of workflows and projects.
//!
//! Everything here is pure: no I/O and no clock. Work is event-sourced: a command
//! ([`Ops`]) checks its arguments against the configuration and the [`Board`] at a given
//! instant and returns the events to append, or a [`WorkError`] and nothing to write; the
//! board is the fold of the stored events ([`Board::apply`]). The command line, the HTTP
//! write API and the daemon do the appending, the reading and the printing.
//!
//! # Layout
//! - `task`: [`Task`], [`Status`] and the table of allowed moves.
//! - `owner`: who may own work (the table of [`crate::config::check_owner`]).
//! - `event`: the work events' types and the shape of their data.
//! - `board`: [`Board`], the fold of the event log.
//! - `ops`: the commands ([`Ops`]).
//! - `request`: one command as a value ([`Request`]), for the CLI and the write API alike.
//! - `usage`: pricing, usage totals and budget spend.
//! - `judge`: workflows' and projects' levels.
//! - `error`: [`WorkError`].

mod board;
mod error;
pub mod event;
mod judge;
mod ops;
#[cfg(test)]
mod owner;
mod request;
mod task;
#[cfg(test)]
mod testing;
mod usage;

pub use board::{ActiveMode, AgentReport, Board};
pub use error::WorkError;
pub use judge::{Judgement, judge_project, judge_workflow};
pub use ops::{
    AgentReportInput, Assignment, AutoTriage, DEFAULT_CURRENCY, MAX_CHILDREN, MAX_COST, MAX_NAME_BYTES,
    MAX_TEXT_BYTES, MAX_TITLE_BYTES, MAX_TOKENS, Ops, Triage, UsageInput, parse_choice,
};
pub use request::Request;
pub use task::{Status, TITLE_CHARS, Task, Via, describe_moves, moves, title_of};
pub use usage::{
    Totals, UsageRecord, UsageTotals, cost, in_scope, money, price_for, spent, today, totals, window_start,
};

/// The entity id of a task that does not exist yet: the event log stores the event with
/// `{seq}` replaced by the event's own seq, so the new task is `t42`.
pub const NEW_ID: &str = "t{seq}";
