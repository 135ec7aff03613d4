//! The command line: raw arguments (clap) become a command, and each command reports an
//! [`Outcome`] that `main` turns into the exit status.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config;
use crate::observe::PingKind;

#[derive(Debug, Parser)]
#[command(name = "mission-control", version, about = "Keeps watch over a personal AI-agent operation")]
pub struct Cli {
    /// The workspace folder (desired/, rules/, state/, mission-control.yaml).
    #[arg(long, global = true, env = "MISSION_CONTROL_WORKSPACE", default_value = ".")]
    pub workspace: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: reconcile, serve HTTP, record events, write live state.
    Run {
        /// Address to listen on (default: the settings' `listen`, else 127.0.0.1:9797).
        #[arg(long)]
        listen: Option<String>,
        /// Reconcile once (every pulled probe once), write state and events, and exit.
        #[arg(long)]
        once: bool,
    },
    /// Record a heartbeat ping for a routine or integration (works with or without the daemon).
    Ping {
        /// The routine's (or integration's) id.
        id: String,
        /// A run started.
        #[arg(long, group = "ping_kind")]
        start: bool,
        /// The run failed.
        #[arg(long, group = "ping_kind")]
        fail: bool,
        /// The run ended with this exit status (0 is success).
        #[arg(long, group = "ping_kind", value_name = "N", value_parser = clap::value_parser!(u8))]
        exit: Option<u8>,
        /// Log a message without changing the run's state.
        #[arg(long, group = "ping_kind")]
        log: bool,
        /// Pairs a start with its finish.
        #[arg(long)]
        rid: Option<String>,
        /// Text kept with the ping (redacted).
        #[arg(long)]
        message: Option<String>,
    },
    /// What is due next, and which alerts would fire now.
    Plan {
        /// How far ahead to look.
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
    /// Read the event log, oldest first.
    Events {
        /// Only events since this duration ago (`1h`) or time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only events of this type (repeatable), e.g. health.changed.
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        /// Only events of this entity, as kind/id (routine/daily-status, workspace/config).
        #[arg(long)]
        entity: Option<String>,
        /// At most this many: the newest ones, or with --since the first ones after it.
        #[arg(long)]
        limit: Option<usize>,
        /// Keep printing new events as they are written.
        #[arg(long)]
        follow: bool,
        /// One JSON object a line, as stored.
        #[arg(long)]
        json: bool,
    },
    /// How an entity's level was decided: rules, fields, evidence.
    Why {
        /// The entity as kind/id, e.g. routine/daily-status.
        entity: String,
    },
    /// Load everything and report every error as PATH:LINE:COL: message.
    Validate,
    /// Print the JSON Schemas generated from the types, or rewrite schemas/ with --write.
    Schema {
        /// Write the schemas into the workspace's schemas/ folder.
        #[arg(long)]
        write: bool,
    },
}

/// How a command ended, when it ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The check or command found a problem (invalid config, refused transition).
    Problem,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Problem => 1,
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Run { listen, once } => run_daemon(cli.workspace, listen, once),
        Command::Ping { id, start, fail, exit, log, rid, message } => {
            let kind = match (start, fail, exit, log) {
                (true, ..) => PingKind::Start,
                (_, true, ..) => PingKind::Fail,
                (_, _, Some(code), _) => PingKind::Exit(code),
                (.., true) => PingKind::Log,
                _ => PingKind::Success,
            };
            ping(&cli.workspace, &id, kind, rid.as_deref(), message.as_deref())
        }
        Command::Plan { hours } => crate::report::plan(&cli.workspace, hours),
        Command::Why { entity } => crate::report::why(&cli.workspace, &entity),
        Command::Events { since, types, entity, limit, follow, json } => {
            events(&cli.workspace, since.as_deref(), types, entity.as_deref(), limit, follow, json)
        }
        Command::Validate => validate(&cli.workspace),
        Command::Schema { write } => schema(&cli.workspace, write),
    }
}

/// Prints every load error on stderr, redacted, then how many and what followed from them.
pub fn print_load_errors(errors: &config::LoadErrors, consequence: &str) -> anyhow::Result<Outcome> {
    let mut stderr = std::io::stderr().lock();
    for error in &errors.0 {
        writeln!(stderr, "{}", crate::redact::redact(&error.to_string()))?;
    }
    writeln!(stderr, "{} error(s); {consequence}", errors.0.len())?;
    Ok(Outcome::Problem)
}

fn check_workspace(workspace: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(workspace.is_dir(), "workspace {} is not a folder", workspace.display());
    Ok(())
}

fn validate(workspace: &std::path::Path) -> anyhow::Result<Outcome> {
    check_workspace(workspace)?;
    match config::load(workspace, chrono::Utc::now()) {
        Ok(config) => {
            let visible = config.visible_entities().count();
            let rules = config.health_rules.len() + config.alert_rules.len() + config.triage_rules.len();
            println!(
                "ok: {} entities ({} watched), {} rules, {} receivers, {} silences{}",
                config.entities.len(),
                visible,
                rules,
                config.receivers.len(),
                config.silences.len(),
                if config.builtin_rules { " (built-in default rules)" } else { "" }
            );
            Ok(Outcome::Ok)
        }
        Err(errors) => print_load_errors(&errors, "the configuration was not accepted"),
    }
}

fn schema(workspace: &std::path::Path, write: bool) -> anyhow::Result<Outcome> {
    let schemas = crate::schema::all();
    if write {
        check_workspace(workspace)?;
        let dir = workspace.join("schemas");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, value) in &schemas {
            let path = dir.join(name);
            std::fs::write(&path, crate::schema::render(value))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    } else {
        let all: serde_json::Map<String, serde_json::Value> =
            schemas.into_iter().map(|(name, value)| (name.to_string(), value)).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(Outcome::Ok)
}

fn run_daemon(workspace: PathBuf, listen: Option<String>, once: bool) -> anyhow::Result<Outcome> {
    check_workspace(&workspace)?;
    init_tracing();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let options = crate::daemon::Options { workspace, listen, once };
    match runtime.block_on(crate::daemon::run(options, shutdown_signal())) {
        Ok(()) => Ok(Outcome::Ok),
        Err(crate::daemon::StartError::Config(errors)) => {
            print_load_errors(&errors, "the daemon did not start")
        }
        Err(other) => Err(other.into()),
    }
}

/// Logs go to stderr (stdout is for the `listening on` line and command output);
/// `RUST_LOG` sets the level, default info.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// Appends a `heartbeat.received` event, durably, as the HTTP ping route does.
fn ping(
    workspace: &std::path::Path,
    id: &str,
    kind: PingKind,
    rid: Option<&str>,
    message: Option<&str>,
) -> anyhow::Result<Outcome> {
    check_workspace(workspace)?;
    // A ping must not be lost to a configuration being edited: with an invalid configuration
    // the ping is still recorded for a well-formed id, with a warning.
    let (key, settings) = match config::load(workspace, chrono::Utc::now()) {
        Ok(config) => match crate::engine::Engine::ping_target(&config, id) {
            Some(key) => (key, config.settings.clone()),
            None => {
                eprintln!("error: no routine or integration named {id:?}");
                return Ok(Outcome::Problem);
            }
        },
        Err(errors) => {
            anyhow::ensure!(config::valid_id(id), "{id:?} is not a valid id");
            eprintln!(
                "warning: the configuration is invalid ({} errors); recording the ping for routine/{id} anyway",
                errors.0.len()
            );
            (config::EntityKey::new(config::Kind::Routine, id), config::default_settings(workspace))
        }
    };
    let body = axum::body::Bytes::from(message.unwrap_or_default().to_string());
    let event = crate::web::heartbeat_event(&key, kind, rid, &body, "cli");
    let log = crate::events::open_workspace_log(workspace, &settings)?;
    log.append(vec![event])?;
    Ok(Outcome::Ok)
}

/// Parses `--since`: a duration ago (`90m`) or an RFC 3339 time.
pub fn parse_since(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    humantime::parse_duration(text)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| now - d)
        .ok_or_else(|| {
            format!(
                "--since takes a duration such as 1h or a time such as 2026-11-25T07:00:00Z, not {text:?}"
            )
        })
}

/// Parses an event's entity as `kind/id` (`routine/daily-status`, `workspace/config`): a
/// lower-case kind and an id of the usual pattern. Any kind is accepted, since events also
/// name things that are not desired entities.
pub fn parse_entity(text: &str) -> Result<(String, String), String> {
    let bad = || format!("expected kind/id such as routine/daily-status, not {text:?}");
    let (kind, id) = text.split_once('/').ok_or_else(bad)?;
    let kind_ok =
        !kind.is_empty() && kind.len() <= 32 && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !kind_ok || !config::valid_id(id) {
        return Err(bad());
    }
    Ok((kind.to_string(), id.to_string()))
}

fn events(
    workspace: &std::path::Path,
    since: Option<&str>,
    types: Vec<String>,
    entity: Option<&str>,
    limit: Option<usize>,
    follow: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    use crate::events::{Event, EventFilter, read_events};
    check_workspace(workspace)?;
    let since = since.map(|s| parse_since(s, chrono::Utc::now())).transpose().map_err(anyhow::Error::msg)?;
    let entity = entity.map(parse_entity).transpose().map_err(|e| anyhow::anyhow!("--entity: {e}"))?;
    let state_dir = workspace.join("state");
    // Protected entities that are not activated never appear, whatever the log holds.
    let config = config::load(workspace, chrono::Utc::now()).ok();
    let tz = config.as_ref().map_or(chrono_tz::UTC, |c| c.settings.timezone);
    let visible = |event: &Event| config.as_ref().is_none_or(|c| !crate::web::api::hidden(c, event));
    let filter = EventFilter { since, kinds: types, entity, ..EventFilter::default() };
    // With --since, the first `limit` after it; without, the newest `limit` (like tail).
    let found = match (since, limit) {
        (Some(_), Some(n)) => crate::events::head_events(&state_dir, &filter, n, visible)?,
        (None, Some(n)) => crate::events::tail_events(&state_dir, &filter, n, u64::MAX, visible)?,
        (_, None) => read_events(&state_dir, &filter)?.into_iter().filter(|e| visible(e)).collect(),
    };
    let print = |event: &Event| -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        let line = if json {
            serde_json::to_string(event).map_err(std::io::Error::other)?
        } else {
            format!(
                "{:>6}  {}  {:<20} {:<32} {:<9} {}",
                event.seq,
                event.timestamp.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S"),
                event.kind,
                format!("{}/{}", event.entity_type, event.entity_id),
                event.status,
                event.message
            )
        };
        writeln!(out, "{}", crate::redact::redact(&line))
    };
    // A reader that goes away (`| head`) ends the command quietly, as with other tools.
    let quiet = |result: std::io::Result<()>| match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        other => other.map(|()| true),
    };
    let mut last = 0;
    for event in &found {
        if !quiet(print(event))? {
            return Ok(Outcome::Ok);
        }
        last = event.seq;
    }
    if follow {
        // Follow after the last event shown, or from the end of the log when none was.
        if last == 0 {
            last = crate::events::EventLog::open(&state_dir, crate::events::LogOptions::default())?
                .last_seq()?;
        }
        let mut filter = filter;
        loop {
            filter.since_seq = Some(last);
            for event in read_events(&state_dir, &filter)? {
                last = event.seq;
                if visible(&event) && !quiet(print(&event))? {
                    return Ok(Outcome::Ok);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
    Ok(Outcome::Ok)
}
