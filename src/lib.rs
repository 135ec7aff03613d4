//! Mission Control: keeps watch over a personal AI-agent operation.
//!
//! The owner declares desired state as YAML (`desired/`, `rules/`); this crate loads and
//! validates it, observes what really happens, judges every entity's health, and reports.
//! The binary (`main.rs` and its command line, `cli.rs`) parses arguments, prints and picks
//! exit codes; everything else is here so tests and benchmarks can call it, and nothing here
//! depends on the command line.
//!
//! # Layout
//! - [`config`]: raw documents, loading and validation (every error, with its place).
//! - [`condition`]: the small, total expression language of health and triage rules.
//! - [`schedule`]: cron in time zones and fixed periods; expected runs and deadlines.
//! - [`events`]: the append-only JSONL event log shared by the daemon and CLI processes.
//! - [`state`]: the live-state snapshot and its atomic writer.
//! - [`duration`]: durations as people write them.
//! - [`redact`]: the one redactor every output passes through, and the literal-secret scan.
//! - [`schema`]: JSON Schemas generated from the types above.
//! - [`observe`]: observations (pings, probe results) folded into an entity's state.
//! - [`health`]: pure evaluation of health rules, explanations and deadlines.
//! - [`engine`]: the reconciler's state machine without I/O.
//! - [`probe`]: pulled probes (http, tcp, command, file); [`credentials`] they may use.
//! - [`alert`]: notifications and their delivery to receivers (webhook, Telegram, ...).
//! - [`daemon`]: the long-running process; [`web`]: its HTTP surface; [`metrics`];
//!   [`presence`]: where a running daemon answers.
//! - [`report`]: `plan`, `why` and the chat commands' view (live state, docs layer, today).
//! - [`commands`]: the twelve chat commands, as text for a phone and JSON.
//! - [`telegram`]: the Telegram command listener, answering the owner without the orchestrator.
//! - [`work`]: the owner's work: inbox, tasks, workflows, usage.

pub mod alert;
pub mod collect;
pub mod commands;
pub mod condition;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod duration;
pub mod engine;
pub mod events;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod presence;
pub mod probe;
pub mod redact;
pub mod report;
pub mod schedule;
pub mod schema;
pub mod state;
pub mod telegram;
pub mod timestamp;
pub mod web;
pub mod work;
