//! The command line: raw arguments (clap) become a command, and each command reports an
//! [`Outcome`] that `main` turns into the exit status.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config;

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
        Command::Validate => validate(&cli.workspace),
        Command::Schema { write } => schema(&cli.workspace, write),
    }
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
        Err(errors) => {
            let mut stderr = std::io::stderr().lock();
            for error in &errors.0 {
                writeln!(stderr, "{}", crate::redact::redact(&error.to_string()))?;
            }
            writeln!(stderr, "{} error(s); the configuration was not accepted", errors.0.len())?;
            Ok(Outcome::Problem)
        }
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
