//! The `mission-control` binary: parses arguments, runs the command, picks the exit status
//! (0 ok, 1 the command found a problem, 2 usage or runtime error).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mission_control::cli::Cli::parse();
    match mission_control::cli::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(error) => {
            let message = format!("{error:#}");
            eprintln!("error: {}", mission_control::redact::redact(&message));
            ExitCode::from(2)
        }
    }
}
