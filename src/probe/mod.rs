//! Pulled probes: one run of a `file`, `command`, `http` or `tcp` probe becomes one
//! [`Observation`] (SPEC section 2, `observe`).
//!
//! A probe never fails as a Rust error: whatever goes wrong (a refused connection, a missing
//! credential, a bad glob, a command that hangs) is an observation with `ok = Some(false)` and
//! a short `error`, so the reconciler has one path for every outcome. Every error text passes
//! the redactor before it leaves this module. Pushed signals (heartbeats, OpenClaw cron runs)
//! are not probes: [`run`] returns `None` for them.
//!
//! # Layout
//! - `http`: one request, redirects not followed, expectations on status, body and condition.
//! - `tcp`: a connection that opens within the timeout.
//! - `command`: argv without a shell, in its own process group, killed whole on timeout.
//! - `file`: the newest match of a glob, its size and modification time.
//! - `schedule`: [`ProbeSchedule`], when each probe runs next (a timer queue).

pub(crate) mod command;
mod file;
mod http;
mod schedule;
mod tcp;

pub use schedule::ProbeSchedule;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::{Config, Probe};
use crate::credentials::Credentials;
use crate::state::Observation;

/// The `User-Agent` of HTTP probes.
const USER_AGENT: &str = concat!("mission-control/", env!("CARGO_PKG_VERSION"));

/// What every probe run needs, built once per configuration.
#[derive(Debug, Clone)]
pub struct ProbeContext {
    /// Shared HTTP client: no redirects, no connection reuse.
    pub http: reqwest::Client,
    pub credentials: Credentials,
    /// Commands run here; file matches inside it are shown relative to it.
    pub workspace: PathBuf,
}

/// What can go wrong setting probes up (running one never fails, see [`run`]).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

impl ProbeContext {
    pub fn new(config: &Config) -> Result<ProbeContext, ProbeError> {
        let http = reqwest::Client::builder()
            // A redirect is an answer of its own: the expected status list decides about it.
            .redirect(reqwest::redirect::Policy::none())
            // Every run opens a fresh connection, so it sees what a new client would see
            // (DNS, TCP, TLS) and its latency is comparable from run to run.
            .pool_max_idle_per_host(0)
            .user_agent(USER_AGENT)
            // Probes go straight to their targets, as blackbox_exporter's do: a proxy named in
            // the environment would answer for targets it cannot reach.
            .no_proxy()
            .build()
            .map_err(ProbeError::HttpClient)?;
        Ok(ProbeContext {
            http,
            credentials: Credentials::new(&config.settings, &config.workspace),
            workspace: config.workspace.clone(),
        })
    }
}

/// Runs a pulled probe (file, command, http, tcp). Returns `None` for pushed ones (heartbeat,
/// openclaw_cron). Never panics, never returns an error: every failure is an observation with
/// `ok = Some(false)` and a short, redacted `error`.
pub async fn run(probe: &Probe, cx: &ProbeContext) -> Option<Observation> {
    let mut observation = match probe {
        Probe::Heartbeat | Probe::OpenclawCron { .. } => return None,
        Probe::File(spec) => file::run(spec, &cx.workspace).await,
        Probe::Command(spec) => command::run(spec, &cx.workspace).await,
        Probe::Http(spec) => http::run(spec, cx).await,
        Probe::Tcp(spec) => tcp::run(spec).await,
    };
    if let Some(error) = observation.error.take() {
        observation.error = Some(crate::redact::redact(&error).into_owned());
    }
    Some(observation)
}

/// The start of a timed run: wall-clock time for the record, a monotonic one for latency.
struct Started {
    at: DateTime<Utc>,
    instant: Instant,
}

impl Started {
    fn now() -> Started {
        Started { at: Utc::now(), instant: Instant::now() }
    }

    fn elapsed(&self) -> Duration {
        self.instant.elapsed()
    }

    /// A finished observation: latency set, `ok` from whether there is an error.
    fn finish(&self, kind: &str, error: Option<String>) -> Observation {
        Observation {
            latency_seconds: Some(self.elapsed().as_secs_f64()),
            ok: Some(error.is_none()),
            error,
            ..Observation::new(self.at, kind)
        }
    }
}

/// `timeout after 5s`.
fn timeout_error(timeout: Duration) -> String {
    format!("timeout after {}", crate::duration::human(timeout))
}

/// Text cut to at most `max` chars, marked with `…` when cut.
fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context over an empty workspace with no credentials file.
    pub(crate) fn context(workspace: &std::path::Path) -> ProbeContext {
        let config = crate::config::load(workspace, Utc::now()).expect("empty workspace loads");
        ProbeContext::new(&config).expect("client builds")
    }

    #[tokio::test]
    async fn pushed_probes_are_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let cx = context(dir.path());
        assert!(run(&Probe::Heartbeat, &cx).await.is_none());
        assert!(run(&Probe::OpenclawCron { job: "x".into() }, &cx).await.is_none());
    }

    #[test]
    fn truncation_counts_chars() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "abc…");
        assert_eq!(truncate_chars("ééé", 2), "éé…");
    }

    #[test]
    fn timeouts_read_like_durations() {
        assert_eq!(timeout_error(Duration::from_secs(5)), "timeout after 5s");
        assert_eq!(timeout_error(Duration::from_millis(300)), "timeout after 300ms");
    }
}
