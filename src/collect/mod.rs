//! Collectors: observed state that Mission Control reads from other programs' own files,
//! rather than from pings or probes.
//!
//! A collector never writes where it reads. It is incremental (it remembers offsets and row
//! ids between ticks, so a large file is not parsed again on every tick), tolerant (a missing,
//! truncated, malformed or locked file is a problem to report and to read again on the next
//! tick, never a panic), and pure apart from the reading: what the facts mean (a missed run,
//! a runaway heartbeat, drift from the desired state) is decided by functions that take the
//! time as a parameter.
//!
//! # Layout
//! - [`openclaw`]: the OpenClaw gateway's home (SPEC section 14): cron jobs and their runs in
//!   all three storage layouts, heartbeats, session transcripts and token usage; the schedule
//!   ledger, heartbeat judgement and drift against `desired/`.
//! - [`git`]: the repositories and branches that projects and open tasks name.
//! - [`watch`]: the collector as the daemon runs it, every `openclaw.every`.

pub mod git;
pub mod openclaw;
pub mod watch;
