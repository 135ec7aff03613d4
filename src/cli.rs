//! The command line: raw arguments (clap) become a command, and each command reports an
//! [`Outcome`] that `main` turns into the exit status.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use mission_control::config;
use mission_control::observe::PingKind;

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
        Command::Plan { hours } => answer(mission_control::report::plan(&cli.workspace, hours)?),
        Command::Why { entity } => answer(mission_control::report::why(&cli.workspace, &entity)?),
        Command::Events { since, types, entity, limit, follow, json } => {
            events(&cli.workspace, since.as_deref(), types, entity.as_deref(), limit, follow, json)
        }
        Command::Validate => validate(&cli.workspace),
        Command::Schema { write } => schema(&cli.workspace, write),
    }
}

/// Prints a report's answer: its text on stdout, or what kept it from being given on stderr.
fn answer(answer: mission_control::report::Answer) -> anyhow::Result<Outcome> {
    use mission_control::report::Answer;
    match answer {
        Answer::Text(text) => {
            print!("{}", mission_control::redact::redact(&text));
            Ok(Outcome::Ok)
        }
        Answer::Invalid(errors) => print_load_errors(&errors, "run `mission-control validate`"),
        Answer::Problem(problem) => {
            eprintln!("error: {}", mission_control::redact::redact(&problem));
            Ok(Outcome::Problem)
        }
    }
}

/// Prints every load error on stderr, redacted, then how many and what followed from them.
fn print_load_errors(errors: &config::LoadErrors, consequence: &str) -> anyhow::Result<Outcome> {
    let mut stderr = std::io::stderr().lock();
    for error in &errors.0 {
        writeln!(stderr, "{}", mission_control::redact::redact(&error.to_string()))?;
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
            print!("{}", mission_control::report::effective_health_rules(&config));
            Ok(Outcome::Ok)
        }
        Err(errors) => print_load_errors(&errors, "the configuration was not accepted"),
    }
}

fn schema(workspace: &std::path::Path, write: bool) -> anyhow::Result<Outcome> {
    let schemas = mission_control::schema::all();
    if write {
        check_workspace(workspace)?;
        let dir = workspace.join("schemas");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, value) in &schemas {
            let path = dir.join(name);
            std::fs::write(&path, mission_control::schema::render(value))
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
    let options = mission_control::daemon::Options { workspace, listen, once };
    match runtime.block_on(mission_control::daemon::run(options, shutdown_signal())) {
        Ok(()) => Ok(Outcome::Ok),
        Err(mission_control::daemon::StartError::Config(errors)) => {
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
        Ok(config) => match mission_control::engine::Engine::ping_target(&config, id) {
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
    let body = message.unwrap_or_default().as_bytes();
    let received = mission_control::web::Received::new(kind, rid, body);
    let event = mission_control::web::heartbeat_event(&key, &received, "cli");
    let log = mission_control::events::open_workspace_log(workspace, &settings)?;
    log.append(vec![event])?;
    Ok(Outcome::Ok)
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
    use mission_control::events::{Event, EventFilter, read_events};
    check_workspace(workspace)?;
    let since = since
        .map(|s| mission_control::events::parse_since(s, chrono::Utc::now()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let entity = entity
        .map(mission_control::events::parse_entity)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--entity: {e}"))?;
    let state_dir = workspace.join("state");
    // Protected entities that are not activated never appear, whatever the log holds.
    let config = config::load(workspace, chrono::Utc::now()).ok();
    let tz = config.as_ref().map_or(chrono_tz::UTC, |c| c.settings.timezone);
    let visible =
        |event: &Event| config.as_ref().is_none_or(|c| !mission_control::web::api::hidden(c, event));
    let filter = EventFilter { since, kinds: types, entity, ..EventFilter::default() };
    // With --since, the first `limit` after it; without, the newest `limit` (like tail).
    let found = match (since, limit) {
        (Some(_), Some(n)) => mission_control::events::head_events(&state_dir, &filter, n, visible)?,
        (None, Some(n)) => mission_control::events::tail_events(&state_dir, &filter, n, u64::MAX, visible)?,
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
        writeln!(out, "{}", mission_control::redact::redact(&line))
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
            last = mission_control::events::EventLog::open(
                &state_dir,
                mission_control::events::LogOptions::default(),
            )?
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
