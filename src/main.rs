//! The `mission-control` binary: parses arguments, runs the command, picks the exit status
//! (0 ok, 1 the command found a problem, 2 usage or runtime error).

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if !matches!(cli.command, cli::Command::Run { .. }) {
        // A short-lived command whose reader goes away (`| head`) ends quietly, as other
        // tools do. The daemon keeps Rust's default (SIGPIPE ignored): a client that hangs up
        // must never stop it.
        // SAFETY: setting a signal disposition before any thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(error) => {
            let message = format!("{error:#}");
            eprintln!("error: {}", mission_control::redact::redact(&message));
            ExitCode::from(2)
        }
    }
}
