//! The `command` receiver: runs an argv without a shell, the webhook JSON on its stdin;
//! exit status 0 within the timeout means delivered.
//!
//! It runs the way the command probe does (`probe::command::run_in_group`): in a process
//! group of its own that is killed whole on timeout or when the attempt is cancelled, without
//! the `MC_CRED_*` variables, in the daemon's working directory.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::process::Command;

use super::{DeliveryError, webhook_json};
use crate::alert::payload::Notification;
use crate::probe::command::{Ran, exit_error, run_in_group};

pub(super) async fn send(
    run: &[String],
    timeout: Duration,
    n: &Notification,
    now: DateTime<Utc>,
) -> Result<(), DeliveryError> {
    let Some((program, args)) = run.split_first() else {
        return Err(DeliveryError::CommandStart("empty command".to_string()));
    };
    let mut command = Command::new(program);
    command.args(args);
    match run_in_group(command, Some(webhook_json(n, now)), timeout).await {
        Ran::Exited { status, .. } if status.success() => Ok(()),
        // Already redacted and cut by `exit_error`.
        Ran::Exited { status, stdout, stderr } => {
            Err(DeliveryError::CommandFailed(exit_error(status, &stderr, &stdout)))
        }
        Ran::CannotStart(e) => Err(DeliveryError::CommandStart(format!("{program}: {e}"))),
        Ran::CannotWait(e) => Err(DeliveryError::CommandFailed(format!("cannot wait for {program}: {e}"))),
        Ran::TimedOut => Err(DeliveryError::CommandTimeout(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::deliver;
    use super::super::testing::{context, receiver};
    use super::*;
    use crate::alert::payload::tests::firing;
    use crate::config::ReceiverTarget;

    fn sh(script: &str, timeout: Duration) -> crate::config::Receiver {
        let run = ["sh", "-c", script].map(str::to_string).to_vec();
        receiver("script", ReceiverTarget::Command { run, timeout })
    }

    #[tokio::test]
    async fn the_webhook_json_arrives_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stdin.json");
        let r = sh(&format!("cat > '{}'", file.display()), Duration::from_secs(10));
        let now = Utc::now();
        deliver(&r, &firing("script"), &context(), now).await.expect("exit 0 is delivered");
        let received: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(received, firing("script").webhook_body(now));
    }

    #[tokio::test]
    async fn a_command_that_ignores_stdin_still_succeeds() {
        deliver(&sh("exit 0", Duration::from_secs(10)), &firing("script"), &context(), Utc::now())
            .await
            .expect("delivered");
    }

    #[tokio::test]
    async fn non_zero_exit_quotes_status_and_last_stderr_line_redacted() {
        let script = "cat >/dev/null; echo 'first' >&2; echo 'token=abc Authorization: Bearer abcdefgh12345678' >&2; exit 3";
        let err = deliver(&sh(script, Duration::from_secs(10)), &firing("script"), &context(), Utc::now())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "exit status 3: token=abc Authorization: [REDACTED]");
        assert!(!err.is_permanent());
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!("sleep 30 & echo $! > '{}'; wait", pidfile.display());
        let begun = std::time::Instant::now();
        let err =
            deliver(&sh(&script, Duration::from_millis(300)), &firing("script"), &context(), Utc::now())
                .await
                .unwrap_err();
        assert!(begun.elapsed() < Duration::from_secs(3), "took {:?}", begun.elapsed());
        assert_eq!(err.to_string(), "timeout after 300ms; the command's process group was killed");
        crate::probe::command::tests::assert_gone_soon(&pidfile).await;
    }

    #[tokio::test]
    async fn missing_program_cannot_start() {
        let r = receiver(
            "script",
            ReceiverTarget::Command {
                run: vec!["/nonexistent/notify".to_string()],
                timeout: Duration::from_secs(5),
            },
        );
        let err = deliver(&r, &firing("script"), &context(), Utc::now()).await.unwrap_err();
        assert!(err.to_string().starts_with("cannot start the command: /nonexistent/notify: "), "{err}");
    }
}
