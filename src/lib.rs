//! Mission Control: keeps watch over a personal AI-agent operation.
//!
//! The owner declares desired state as YAML (`desired/`, `rules/`); this crate loads and
//! validates it, observes what really happens, judges every entity's health, and reports.
//! The binary in `main.rs` only parses arguments and picks exit codes; everything else is here
//! so tests and benchmarks can call it.
//!
//! # Layout
//! - [`config`]: raw documents, loading and validation (every error, with its place).
//! - [`condition`]: the small, total expression language of health and triage rules.
//! - [`schedule`]: cron in time zones and fixed periods; expected runs and deadlines.
//! - [`events`]: the append-only JSONL event log shared by the daemon and CLI processes.
//! - [`state`]: the live-state snapshot and its atomic writer.
//! - [`redact`]: the one redactor every output passes through, and the literal-secret scan.
//! - [`schema`]: JSON Schemas generated from the types above.
//! - [`cli`]: the command line.

pub mod cli;
pub mod condition;
pub mod config;
pub mod events;
pub mod redact;
pub mod schedule;
pub mod schema;
pub mod state;
