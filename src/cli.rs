//! The command line: raw arguments (clap) become a command, and each command reports an
//! [`Outcome`] that `main` turns into the exit status.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use mission_control::config;
use mission_control::observe::PingKind;
use mission_control::work::{
    AgentReportInput, Assignment, Ops, Request, Status, Triage, UsageInput, WorkError, parse_choice,
};

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
    /// Chat command: The overall level and what is unhealthy.
    Status {
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// Chat command: What happened today, in the settings' time zone.
    Today {
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// Chat command: The most valuable next action, by the ranking in the README.
    Next {
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// Chat command: Projects with their levels and open tasks.
    Projects {
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// Chat command: Blocked tasks and workflow steps.
    Blocked {
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// Chat command: Tasks waiting for review.
    Review {
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// Chat command: Unhealthy entities with their evidence and their runbook's next step.
    Server {
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// Chat command: Recent decisions (DECISIONS.md), newest first.
    Decisions {
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// Chat command: one owner's open tasks (default: the orchestrator).
    Mytasks {
        owner: Option<String>,
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// The inbox: untriaged items (chat command), or `inbox add TEXT` to add one.
    Inbox {
        #[command(subcommand)]
        action: Option<InboxAction>,
        /// Print JSON for programs instead of text for a phone.
        #[arg(long)]
        json: bool,
    },
    /// Triage one item by hand (ID --class --priority --domain), all untriaged items by the
    /// TriageRules (--auto), or with no arguments list what waits for triage.
    Triage {
        /// The item's id (t42).
        id: Option<String>,
        /// Classification: task, bug, project_note, decision_candidate, automation_idea,
        /// backoffice_item, research_item, support_debug_item, archive.
        #[arg(long = "class", requires = "id")]
        class: Option<String>,
        /// Priority: urgent, high, medium, low, someday.
        #[arg(long, requires = "id")]
        priority: Option<String>,
        /// Domain: backend, frontend, infra, qa, automation, integration, backoffice.
        #[arg(long, requires = "id")]
        domain: Option<String>,
        /// Owner (an agent, Subagent:<Role>, Automation:<name>, Human:<name>).
        #[arg(long, requires = "id")]
        owner: Option<String>,
        /// The project it belongs to (a Project id).
        #[arg(long, requires = "id")]
        project: Option<String>,
        /// Triage every untriaged item by the TriageRules.
        #[arg(long, conflicts_with = "id")]
        auto: bool,
        #[arg(long)]
        json: bool,
    },
    /// Split an item or task into child tasks.
    Split {
        id: String,
        /// The children's titles.
        #[arg(long = "into", num_args = 1..)]
        into: Vec<String>,
    },
    /// Assign a task (all four are required), or with no arguments list what waits for an owner.
    Assign {
        id: Option<String>,
        #[arg(long, requires = "id")]
        owner: Option<String>,
        #[arg(long = "expected-output", requires = "id")]
        expected_output: Option<String>,
        #[arg(long, requires = "id")]
        boundaries: Option<String>,
        #[arg(long = "review-criteria", requires = "id")]
        review_criteria: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Move a task along its lifecycle.
    Task {
        id: String,
        /// The new status: triaged, planned, assigned, active, review, done, archived, blocked.
        #[arg(long)]
        status: String,
        /// Why it is blocked (with --status blocked).
        #[arg(long)]
        blocker: Option<String>,
    },
    /// The active delivery mode.
    Mode {
        #[command(subcommand)]
        action: ModeAction,
    },
    /// Token usage and its cost.
    Usage {
        #[command(subcommand)]
        action: UsageAction,
    },
    /// An agent's self-report.
    Agent {
        #[command(subcommand)]
        action: AgentAction,
    },
    /// The OpenClaw gateway's home (settings openclaw.home).
    Openclaw {
        #[command(subcommand)]
        action: OpenclawAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum OpenclawAction {
    /// Print the desired YAML (routines observed through openclaw_cron) for the cron jobs found
    /// in the OpenClaw home, or write it to desired/openclaw.yaml with --write.
    Import {
        #[arg(long)]
        write: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum InboxAction {
    /// Add a raw inbox item; prints its id.
    Add {
        /// The item's text.
        text: String,
        /// Where it came from (telegram, email, cli, ...).
        #[arg(long)]
        source: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModeAction {
    /// Set the active mode: Planning, Building, Debugging, Reviewing, Reporting, Monitoring.
    Set { mode: String },
}

#[derive(Debug, Subcommand)]
pub enum UsageAction {
    /// Record a model's token usage; priced by the Price rules unless --cost is given.
    Record {
        #[arg(long)]
        model: String,
        /// The agent's id or name.
        #[arg(long)]
        agent: String,
        #[arg(long)]
        task: Option<String>,
        /// Input tokens.
        #[arg(long, allow_hyphen_values = true)]
        input: i64,
        /// Output tokens.
        #[arg(long, allow_hyphen_values = true)]
        output: i64,
        #[arg(long = "cache-read", allow_hyphen_values = true)]
        cache_read: Option<i64>,
        #[arg(long = "cache-write", allow_hyphen_values = true)]
        cache_write: Option<i64>,
        /// The cost, when known (else priced).
        #[arg(long, allow_hyphen_values = true)]
        cost: Option<f64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentAction {
    /// Report an agent's status (idle, working, blocked, error, ...).
    Report {
        id: String,
        #[arg(long)]
        status: String,
        #[arg(long)]
        task: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        mode: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        tokens: Option<i64>,
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
        Command::Status { json } => chat(&cli.workspace, "status", None, json),
        Command::Today { json } => chat(&cli.workspace, "today", None, json),
        Command::Next { json } => chat(&cli.workspace, "next", None, json),
        Command::Projects { json } => chat(&cli.workspace, "projects", None, json),
        Command::Blocked { json } => chat(&cli.workspace, "blocked", None, json),
        Command::Review { json } => chat(&cli.workspace, "review", None, json),
        Command::Server { json } => chat(&cli.workspace, "server", None, json),
        Command::Decisions { json } => chat(&cli.workspace, "decisions", None, json),
        Command::Mytasks { owner, json } => chat(&cli.workspace, "mytasks", owner.as_deref(), json),
        Command::Inbox { action: Some(InboxAction::Add { text, source }), .. } => {
            work(&cli.workspace, Request::AddItem { text, source: source.or(Some("cli".to_string())) })
        }
        Command::Inbox { action: None, json } => chat(&cli.workspace, "inbox", None, json),
        Command::Triage { auto: true, .. } => work(&cli.workspace, Request::AutoTriage),
        Command::Triage { id: Some(id), class, priority, domain, owner, project, .. } => {
            let triage = (|| {
                let required = |value: Option<String>, flag: &'static str| {
                    value.ok_or_else(|| {
                        WorkError::invalid(flag, "is required to triage by hand (or use --auto)")
                    })
                };
                Ok::<_, WorkError>(Triage {
                    classification: parse_choice("--class", &required(class, "--class")?)?,
                    priority: parse_choice("--priority", &required(priority, "--priority")?)?,
                    domain: parse_choice("--domain", &required(domain, "--domain")?)?,
                    owner,
                    project,
                })
            })();
            match triage {
                Ok(triage) => work(&cli.workspace, Request::Triage { id, triage }),
                Err(e) => refuse(&e),
            }
        }
        Command::Triage { json, .. } => chat(&cli.workspace, "triage", None, json),
        Command::Split { id, into } => work(&cli.workspace, Request::Split { id, titles: into }),
        Command::Assign { id: Some(id), owner, expected_output, boundaries, review_criteria, .. } => {
            let assignment = Assignment {
                owner: owner.unwrap_or_default(),
                expected_output: expected_output.unwrap_or_default(),
                boundaries: boundaries.unwrap_or_default(),
                review_criteria: review_criteria.unwrap_or_default(),
            };
            work(&cli.workspace, Request::Assign { id, assignment })
        }
        Command::Assign { json, .. } => chat(&cli.workspace, "assign", None, json),
        Command::Task { id, status, blocker } => match status.parse::<Status>() {
            Ok(status) => work(&cli.workspace, Request::SetStatus { id, status, blocker }),
            Err(e) => refuse(&WorkError::invalid("--status", e)),
        },
        Command::Mode { action: ModeAction::Set { mode } } => match parse_choice("MODE", &mode) {
            Ok(mode) => work(&cli.workspace, Request::SetMode(mode)),
            Err(e) => refuse(&e),
        },
        Command::Usage {
            action: UsageAction::Record { model, agent, task, input, output, cache_read, cache_write, cost },
        } => {
            let usage = UsageInput {
                model,
                agent,
                task,
                input_tokens: input,
                output_tokens: output,
                cache_read_tokens: cache_read,
                cache_write_tokens: cache_write,
                cost,
            };
            work(&cli.workspace, Request::Usage(usage))
        }
        Command::Openclaw { action: OpenclawAction::Import { write } } => {
            openclaw_import(&cli.workspace, write)
        }
        Command::Agent { action: AgentAction::Report { id, status, task, model, mode, tokens } } => {
            let mode = match mode.map(|m| parse_choice("--mode", &m)).transpose() {
                Ok(mode) => mode,
                Err(e) => return refuse(&e),
            };
            let report = AgentReportInput { status, task, model, mode, tokens };
            work(&cli.workspace, Request::AgentReport { id, report })
        }
    }
}

/// A chat command's answer: text for a phone, or JSON with `--json`.
fn chat(workspace: &std::path::Path, name: &str, arg: Option<&str>, json: bool) -> anyhow::Result<Outcome> {
    check_workspace(workspace)?;
    // The running daemon answers from the state it holds; without one, the state is restored
    // here from the snapshot and the log.
    if let Some(answer) = mission_control::report::ask_daemon(workspace, name, arg, json) {
        println!("{answer}");
        return Ok(Outcome::Ok);
    }
    let reply = match mission_control::report::chat(workspace, name, arg, json, chrono::Utc::now())? {
        Ok(reply) => reply,
        Err(problem) => {
            eprintln!("error: {problem}");
            return Ok(Outcome::Problem);
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&reply.json)?);
    } else {
        println!("{}", reply.text);
    }
    Ok(Outcome::Ok)
}

/// `openclaw import`: the jobs found, as desired routines.
fn openclaw_import(workspace: &std::path::Path, write: bool) -> anyhow::Result<Outcome> {
    check_workspace(workspace)?;
    let now = chrono::Utc::now();
    let config = match config::load(workspace, now) {
        Ok(config) => config,
        Err(errors) => return print_load_errors(&errors, "nothing was imported"),
    };
    let home = config.settings.openclaw_home.clone();
    let (yaml, jobs) = match mission_control::collect::watch::import(&config, &home, now) {
        Ok(found) => found,
        Err(problem) => {
            eprintln!("error: {problem}");
            return Ok(Outcome::Problem);
        }
    };
    if !write {
        print!("{yaml}");
        return Ok(Outcome::Ok);
    }
    let path = workspace.join("desired").join("openclaw.yaml");
    if path.exists() {
        eprintln!("error: {} exists; print with `openclaw import` and merge by hand", path.display());
        return Ok(Outcome::Problem);
    }
    std::fs::create_dir_all(workspace.join("desired"))?;
    std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {} ({} jobs)", path.display(), jobs.len());
    Ok(Outcome::Ok)
}

/// A work command refused: its reason on stderr, exit status 1, nothing written.
fn refuse(error: &WorkError) -> anyhow::Result<Outcome> {
    eprintln!("error: {}", mission_control::redact::redact(&error.to_string()));
    Ok(Outcome::Problem)
}

/// Runs a work command against the board as the daemon would have it (snapshot plus log),
/// appends its events durably, and prints what it did.
fn work(workspace: &std::path::Path, request: Request) -> anyhow::Result<Outcome> {
    check_workspace(workspace)?;
    let now = chrono::Utc::now();
    let engine = match mission_control::report::current_engine(workspace, now)? {
        Ok(engine) => engine,
        Err(errors) => return print_load_errors(&errors, "nothing was written"),
    };
    let config = engine.config().clone();
    let ops = Ops::new(&config, engine.board(), now, "cli");
    let events = match request.events(&ops) {
        Ok(events) => events,
        Err(e) => return refuse(&e),
    };
    if events.is_empty() {
        println!("nothing to do");
        return Ok(Outcome::Ok);
    }
    let log = mission_control::events::open_workspace_log(workspace, &config.settings)?;
    let stored = log.append(events)?;
    let mut out = std::io::stdout().lock();
    match &request {
        // The new item's id alone, for scripts: `id=$(mission-control inbox add ...)`.
        Request::AddItem { .. } => writeln!(out, "{}", stored[0].entity_id)?,
        Request::AutoTriage => {
            let auto = ops.auto_triage();
            for (task, rule) in &auto.triaged {
                writeln!(out, "{task}: triaged by {rule}")?;
            }
            for task in &auto.unmatched {
                writeln!(out, "{task}: no rule matched; triage it by hand")?;
            }
        }
        _ => {
            for event in &stored {
                let id =
                    if event.entity_type == "task" { format!("{} ", event.entity_id) } else { String::new() };
                writeln!(out, "{id}{}", mission_control::redact::redact(&event.message))?;
            }
        }
    }
    Ok(Outcome::Ok)
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
