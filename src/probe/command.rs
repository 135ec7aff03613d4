//! The `command` probe: argv run without a shell, success means exit status 0 within the
//! timeout.
//!
//! The command runs in the workspace with stdin closed, in a process group of its own, so a
//! timeout can kill everything it started (a shell script's children included), not only the
//! process we spawned. stdout and stderr are read concurrently with the wait, so a chatty
//! command cannot block on a full pipe; only the last 64 KiB of each are kept, the rest is read
//! and dropped. A probe that is cancelled half-way (a reload, shutdown) kills the group too,
//! and so does the end of a run: nothing a command started outlives it.
//! The command inherits the daemon's environment except the `MC_CRED_*` credential variables.
//! [`run_in_group`], which does all of this, is shared with the `command` alert receiver
//! (`alert::deliver`), which also feeds the command its stdin.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

use super::{Started, timeout_error, truncate_chars};
use crate::config::CommandProbe;
use crate::state::Observation;

/// Output kept per stream (SPEC: output capped at 64 KiB).
const KEEP_BYTES: usize = 64 * 1024;
/// Longest stderr line quoted in the error.
const ERROR_LINE_CHARS: usize = 200;
/// After a kill, how long to wait for the pipes to close so the output can be kept.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);

pub(super) async fn run(spec: &CommandProbe, workspace: &Path) -> Observation {
    let started = Started::now();
    let Some((program, args)) = spec.run.split_first() else {
        return started.finish("command", Some("cannot start: empty command".to_string()));
    };
    let mut command = Command::new(program);
    command.args(args).current_dir(workspace);
    match run_in_group(command, None, spec.timeout).await {
        Ran::CannotStart(e) => started.finish("command", Some(format!("cannot start: {e}"))),
        Ran::CannotWait(e) => started.finish("command", Some(format!("cannot wait: {e}"))),
        Ran::TimedOut => started.finish("command", Some(timeout_error(spec.timeout))),
        Ran::Exited { status, stdout, stderr } => {
            let mut observation = started.finish("command", None);
            observation.exit_code = status.code();
            if !status.success() {
                observation.ok = Some(false);
                observation.error = Some(exit_error(status, &stderr, &stdout));
            }
            observation
        }
    }
}

/// How a command run by [`run_in_group`] ended.
#[derive(Debug)]
pub(crate) enum Ran {
    CannotStart(std::io::Error),
    CannotWait(std::io::Error),
    /// Still running at the timeout; its whole process group was killed.
    TimedOut,
    /// It exited; the last [`KEEP_BYTES`] of each stream.
    Exited {
        status: ExitStatus,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
}

/// Runs `command` in a process group of its own, without the `MC_CRED_*` variables, with
/// `stdin` written to it and then closed (no input: stdin is closed from the start), and waits
/// at most `timeout`. Shared by the command probe and the command alert receiver, so both
/// kill whatever the command started, on a timeout and when the caller is cancelled.
pub(crate) async fn run_in_group(mut command: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Ran {
    // Credentials are handed out one at a time, at the moment of use; a command gets none of
    // them by inheritance.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with(crate::credentials::ENV_PREFIX)) {
            command.env_remove(name);
        }
    }
    let mut child = match command
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Ran::CannotStart(e),
    };
    // The group id equals the child's pid (process_group(0)); taken now, because tokio
    // forgets the pid once the child has been reaped. Declared after `child`, so when a
    // cancelled run drops both, the group is killed before the leader is reaped.
    let mut group = GroupKill(child.id());
    let (input, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let mut output = std::pin::pin!(async move {
        // Written alongside the reads: a command that answers before it has read all its
        // input must not deadlock against us on full pipes.
        let ((), out, err) = tokio::join!(feed(input, stdin), read_tail(stdout), read_tail(stderr));
        (out, err)
    });

    let deadline = Instant::now() + timeout;
    let mut status: Option<std::io::Result<ExitStatus>> = None;
    let mut captured: Option<(Vec<u8>, Vec<u8>)> = None;
    while status.is_none() || captured.is_none() {
        tokio::select! {
            s = child.wait(), if status.is_none() => status = Some(s),
            o = &mut output, if captured.is_none() => captured = Some(o),
            () = tokio::time::sleep_until(deadline) => break,
        }
    }

    let status = match status {
        Some(Ok(status)) => status,
        Some(Err(e)) => {
            group.kill();
            return Ran::CannotWait(e);
        }
        None => {
            group.kill();
            // Reap it, so no zombie is left behind; SIGKILL cannot be ignored, so this is quick.
            let _ = child.wait().await;
            return Ran::TimedOut;
        }
    };
    let (stdout, stderr) = match captured {
        Some(captured) => {
            // The leader is reaped and its output closed, but a child that let go of the
            // output (`cmd >/dev/null 2>&1 &`) may still run: the run is over, so its group
            // goes too (the fault tests found such children outliving every probe run). Done
            // now, not later: while the group has members its id cannot be reused, and once
            // it has none the id comes round again only after the whole pid space.
            group.kill();
            captured
        }
        None => {
            // The command exited but something it left behind still holds its output open:
            // clean up the group, then keep what was written.
            group.kill();
            tokio::time::timeout(DRAIN_AFTER_KILL, &mut output).await.unwrap_or_default()
        }
    };
    Ran::Exited { status, stdout, stderr }
}

/// Writes `data` to the command's stdin and closes it. A command that exits without reading
/// it all breaks the pipe; that is its business, its exit status tells.
async fn feed(input: Option<impl AsyncWrite + Unpin>, data: Option<Vec<u8>>) {
    if let (Some(mut input), Some(data)) = (input, data) {
        let _ = input.write_all(&data).await;
        let _ = input.shutdown().await;
    }
}

/// `exit status 3: <last line of stderr>`; stdout's last line when stderr has none.
pub(crate) fn exit_error(status: ExitStatus, stderr: &[u8], stdout: &[u8]) -> String {
    use std::os::unix::process::ExitStatusExt;
    let head = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "failed".to_string(),
    };
    match last_line(stderr).or_else(|| last_line(stdout)) {
        // Redacted before it is cut, so a secret cut in half cannot slip past the patterns.
        Some(line) => format!("{head}: {}", truncate_chars(&crate::redact::redact(&line), ERROR_LINE_CHARS)),
        None => head,
    }
}

fn last_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes).lines().map(str::trim).rfind(|l| !l.is_empty()).map(str::to_string)
}

/// Reads a stream to its end, keeping its last [`KEEP_BYTES`].
async fn read_tail(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let Some(mut stream) = stream else { return Vec::new() };
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                // Trim in batches, so a long stream is not copied on every read.
                if kept.len() > 2 * KEEP_BYTES {
                    kept.drain(..kept.len() - KEEP_BYTES);
                }
            }
        }
    }
    if kept.len() > KEEP_BYTES {
        kept.drain(..kept.len() - KEEP_BYTES);
    }
    kept
}

/// Kills the command's whole process group when told to or when dropped (at most once).
/// `kill_on_drop` alone would reach only the leader when a probe is cancelled half-way.
struct GroupKill(Option<u32>);

impl GroupKill {
    fn kill(&mut self) {
        kill_group(self.0.take());
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends SIGKILL to the whole process group the command leads.
fn kill_group(group: Option<u32>) {
    let Some(pgid) = group.and_then(|g| libc::pid_t::try_from(g).ok()).filter(|&g| g > 1) else {
        return;
    };
    // SAFETY: kill(2) only takes two integers and touches no memory of this process. `pgid` is
    // the pid of a child we spawned with process_group(0), so -pgid names its group and never
    // our own group or every process (-1); a group that is already gone yields ESRCH, ignored.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn probe(argv: &[&str], timeout: Duration) -> CommandProbe {
        CommandProbe {
            run: argv.iter().map(|s| s.to_string()).collect(),
            timeout,
            every: Duration::from_secs(60),
        }
    }

    fn sh(script: &str, timeout: Duration) -> CommandProbe {
        probe(&["sh", "-c", script], timeout)
    }

    #[tokio::test]
    async fn exit_zero_succeeds_in_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marker"), "").unwrap();
        let observation = run(&sh("test -f marker && echo fine", Duration::from_secs(10)), dir.path()).await;
        assert_eq!(observation.kind, "command");
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
        assert_eq!(observation.exit_code, Some(0));
        assert!(observation.error.is_none());
        assert!(observation.latency_seconds.is_some());
    }

    #[tokio::test]
    async fn non_zero_exit_quotes_the_last_stderr_line() {
        let dir = tempfile::tempdir().unwrap();
        let script =
            "echo out; echo 'first problem' >&2; echo '  disk full on /data  ' >&2; echo >&2; exit 3";
        let observation = run(&sh(script, Duration::from_secs(10)), dir.path()).await;
        assert_eq!(observation.ok, Some(false));
        assert_eq!(observation.exit_code, Some(3));
        assert_eq!(observation.error.as_deref(), Some("exit status 3: disk full on /data"));
    }

    #[tokio::test]
    async fn long_error_lines_are_cut_and_stdout_stands_in_for_empty_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let observation =
            run(&sh("printf 'x%.0s' $(seq 500); exit 1", Duration::from_secs(10)), dir.path()).await;
        let error = observation.error.unwrap();
        assert_eq!(error, format!("exit status 1: {}…", "x".repeat(ERROR_LINE_CHARS)));
    }

    #[tokio::test]
    async fn missing_program_cannot_start() {
        let dir = tempfile::tempdir().unwrap();
        let observation =
            run(&probe(&["./definitely-not-a-program"], Duration::from_secs(10)), dir.path()).await;
        assert_eq!(observation.ok, Some(false));
        assert!(observation.error.unwrap().starts_with("cannot start: "));
        assert_eq!(observation.exit_code, None);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!("sleep 30 & echo $! > '{}'; wait", pidfile.display());
        let begun = std::time::Instant::now();
        let observation = run(&sh(&script, Duration::from_millis(300)), dir.path()).await;
        assert!(begun.elapsed() < Duration::from_secs(3), "took {:?}", begun.elapsed());
        assert_eq!(observation.ok, Some(false));
        assert_eq!(observation.error.as_deref(), Some("timeout after 300ms"));
        assert_eq!(observation.exit_code, None);

        assert_gone_soon(&pidfile).await;
    }

    /// The process whose pid is in `pidfile` ends within 2 s.
    pub(crate) async fn assert_gone_soon(pidfile: &Path) {
        let pid: libc::pid_t = std::fs::read_to_string(pidfile).unwrap().trim().parse().unwrap();
        let gone_by = std::time::Instant::now() + Duration::from_secs(2);
        // It is not our child, so init reaps it and /proc/<pid> disappears; an init that does
        // not reap leaves a zombie, which is just as dead.
        while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
            assert!(std::time::Instant::now() < gone_by, "process {pid} still runs");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn is_zombie(pid: libc::pid_t) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn cancelled_probe_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!("sleep 30 & echo $! > '{}'; wait", pidfile.display());
        let spec = sh(&script, Duration::from_secs(60));
        let cancelled = tokio::time::timeout(Duration::from_millis(300), run(&spec, dir.path())).await;
        assert!(cancelled.is_err(), "the probe should still be running");
        assert_gone_soon(&pidfile).await;
    }

    #[tokio::test]
    async fn credential_variables_are_not_inherited() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: std serialises its own environment access; the name is unique to this test.
        unsafe { std::env::set_var("MC_CRED_COMMAND_TEST_INHERIT_1", "inherited-value") };
        let observation = run(
            &sh("test -z \"$MC_CRED_COMMAND_TEST_INHERIT_1\" && test -n \"$PATH\"", Duration::from_secs(10)),
            dir.path(),
        )
        .await;
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
    }

    #[tokio::test]
    async fn large_output_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        let observation = run(
            &sh("head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2", Duration::from_secs(20)),
            dir.path(),
        )
        .await;
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
    }

    #[tokio::test]
    async fn background_leftovers_holding_the_pipes_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("leftover.pid");
        let script = format!("sleep 30 & echo $! > '{}'; echo started", pidfile.display());
        let begun = std::time::Instant::now();
        let observation = run(&sh(&script, Duration::from_millis(500)), dir.path()).await;
        assert!(begun.elapsed() < Duration::from_secs(3), "took {:?}", begun.elapsed());
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
        assert_eq!(observation.exit_code, Some(0));
        assert_gone_soon(&pidfile).await;
    }

    #[tokio::test]
    async fn background_leftovers_that_let_go_of_the_output_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("leftover.pid");
        let script =
            format!("trap '' TERM; sleep 30 </dev/null >/dev/null 2>&1 & echo $! > '{}'", pidfile.display());
        let observation = run(&sh(&script, Duration::from_secs(10)), dir.path()).await;
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
        assert_gone_soon(&pidfile).await;
    }

    #[tokio::test]
    async fn tails_keep_the_last_bytes() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let kept = read_tail(Some(&data[..])).await;
        assert_eq!(kept.len(), KEEP_BYTES);
        assert_eq!(kept[..], data[data.len() - KEEP_BYTES..]);
    }
}
