//! The harness of the daemon's integration tests: a temporary workspace, the real
//! `mission-control` binary started on an ephemeral port, an HTTP client for it, and readers
//! for what it leaves on disk (`state/events.jsonl`, `state/mission-control.json`).
//!
//! Timing conditions are polled against a deadline ([`wait_for`]), never slept for: CI is a
//! noisy two-core machine, so every deadline is generous while the assertions about *when*
//! something happened compare recorded instants instead. A daemon is killed when its
//! [`Daemon`] guard drops, and its stderr is printed when the test is failing.
//!
//! The pure helpers ([`parse_listening_line`], [`read_listening_line`], [`parse_events`],
//! [`metric_value`]) and the test doubles ([`FlipServer`], [`RecordingServer`]) have their own
//! tests in `tests/daemon.rs` (`mod harness`) and `tests/alerting.rs` (`mod harness`).

#![allow(dead_code)] // each test crate uses a different part of the harness

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

/// How long a daemon may take to print its `listening on` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a daemon may take to answer `/readyz` 200 once it listens.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a daemon may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one CLI command may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(50);

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mission-control")
}

/// Environment variables that would change what the binary does behind the test's back: the
/// workspace default and HTTP proxies (a proxy would swallow requests to 127.0.0.1).
const SCRUBBED_ENV: &[&str] = &[
    "MISSION_CONTROL_WORKSPACE",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

// ---------------------------------------------------------------------------------------------
// Workspace

/// A fresh workspace in a temporary folder, removed on drop.
///
/// It starts with a `mission-control.yaml` that turns the OpenClaw collector off, so a test
/// never reads the `~/.openclaw` of the machine it runs on.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        let dir = tempfile::Builder::new()
            .prefix("mc-daemon-test-")
            .tempdir()
            .expect("create a temporary workspace");
        let workspace = Workspace { dir };
        workspace.write("mission-control.yaml", "openclaw:\n  enabled: false\n");
        workspace
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn events_path(&self) -> PathBuf {
        self.state_dir().join("events.jsonl")
    }

    pub fn snapshot_path(&self) -> PathBuf {
        self.state_dir().join("mission-control.json")
    }

    /// Writes a workspace file (creating its folders) by writing a temporary file beside the
    /// workspace root and renaming it into place, so a watching daemon never loads half a file.
    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create folders");
        let tmp = self.path().join(format!(".harness-write-{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("rename into {}: {e}", path.display()));
    }

    /// Writes a file with a given modification time (for outputs judged by age). The time is set
    /// before the file is renamed into place, so a running daemon never sees it with the time of
    /// its writing (the example-workspace dashboard test saw `reports/usage.csv` fresh that way).
    pub fn write_with_mtime(&self, relative: &str, text: &str, modified: std::time::SystemTime) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create folders");
        let tmp = self.path().join(format!(".harness-write-{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        let file = std::fs::File::options().write(true).open(&tmp).expect("open to set mtime");
        file.set_modified(modified).expect("set mtime");
        drop(file);
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("rename into {}: {e}", path.display()));
    }

    /// Every event in `state/events.jsonl`; see [`read_events`].
    pub fn events(&self, tail: Tail) -> Vec<Value> {
        read_events(&self.state_dir(), tail)
    }

    /// The live-state snapshot on disk, parsed.
    pub fn snapshot(&self) -> Value {
        let path = self.snapshot_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{text}", path.display()))
    }

    /// The binary as a CLI command on this workspace (not yet run).
    pub fn cli(&self) -> Command {
        let mut command = Command::new(binary());
        command.arg("--workspace").arg(self.path());
        for name in SCRUBBED_ENV {
            command.env_remove(name);
        }
        command
    }

    /// Runs `mission-control ping ID ARGS..` to its end (at most [`CLI_TIMEOUT`]).
    pub fn cli_ping(&self, id: &str, args: &[&str]) -> std::process::Output {
        let mut command = self.cli();
        command.arg("ping").arg(id).args(args);
        run_with_timeout(command, CLI_TIMEOUT)
    }
}

/// Runs a command to its end, killing it and panicking if it outlives `timeout` (a CLI that
/// hangs on a lock must fail the test, not hang it).
pub fn run_with_timeout(mut command: Command, timeout: Duration) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {command:?}: {e}"));
    let out = StderrTail::default();
    out.drain(child.stdout.take().expect("piped stdout"));
    let err = StderrTail::default();
    err.drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {timeout:?}\nstderr:\n{}", err.text());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The drain threads finish once the pipes close, which the exit has caused.
    let drained = Instant::now() + Duration::from_secs(5);
    while (Arc::strong_count(&out.0) > 1 || Arc::strong_count(&err.0) > 1) && Instant::now() < drained {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::process::Output { status, stdout: out.text().into_bytes(), stderr: err.text().into_bytes() }
}

impl Default for Workspace {
    fn default() -> Workspace {
        Workspace::new()
    }
}

// ---------------------------------------------------------------------------------------------
// Events on disk

/// What [`parse_events`] does with a last line that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Every line must be a complete JSON object ending in a newline.
    Strict,
    /// A last line without its newline that does not parse (a write torn by a crash) is dropped.
    MayBeTorn,
}

/// Parses an event log's text: one JSON object a line. Panics on a line that does not parse,
/// except the torn last line that [`Tail::MayBeTorn`] allows.
pub fn parse_events(text: &str, tail: Tail) -> Vec<Value> {
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    let mut events = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let last = index + 1 == lines.len();
        match serde_json::from_str::<Value>(line) {
            Ok(value) if value.is_object() => {
                if last && !complete && tail == Tail::Strict {
                    panic!("event log: the last line has no newline: {line}");
                }
                events.push(value);
            }
            _ if last && !complete && tail == Tail::MayBeTorn => {}
            Ok(_) | Err(_) => panic!(
                "event log line {} is not a JSON object{}: {line:?}",
                index + 1,
                if last && !complete { " (a torn last line, which this reader refuses)" } else { "" }
            ),
        }
    }
    events
}

/// Reads `DIR/events.jsonl` (a missing file is an empty log) with [`parse_events`].
pub fn read_events(state_dir: &Path, tail: Tail) -> Vec<Value> {
    let path = state_dir.join("events.jsonl");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let text =
                String::from_utf8(bytes).unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", path.display()));
            parse_events(&text, tail)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

/// Panics unless every event's `seq` is strictly greater than the one before (hence unique).
pub fn assert_seq_strictly_increasing(events: &[Value]) {
    let mut previous: Option<u64> = None;
    for (index, event) in events.iter().enumerate() {
        let seq =
            event["seq"].as_u64().unwrap_or_else(|| panic!("event {index} has no integer seq: {event}"));
        if let Some(previous) = previous {
            assert!(seq > previous, "seq {seq} at line {} does not follow {previous}", index + 1);
        }
        previous = Some(seq);
    }
}

/// An event's `timestamp`, parsed.
pub fn event_time(event: &Value) -> DateTime<Utc> {
    time_field(event, "timestamp").unwrap_or_else(|| panic!("event without a timestamp: {event}"))
}

/// An RFC 3339 field of a JSON object, parsed; `None` when absent or null.
pub fn time_field(value: &Value, field: &str) -> Option<DateTime<Utc>> {
    let text = value.get(field)?.as_str()?;
    let parsed = DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{field} {text:?} is not RFC 3339: {e}"));
    Some(parsed.with_timezone(&Utc))
}

/// Whether an event is about `kind/id` and of type `kind_of_event`.
pub fn is_event(event: &Value, kind_of_event: &str, entity_type: &str, entity_id: &str) -> bool {
    event["type"] == kind_of_event && event["entity_type"] == entity_type && event["entity_id"] == entity_id
}

// ---------------------------------------------------------------------------------------------
// Waiting

/// Polls `check` every [`POLL`] until it returns `Some`, and returns that; `None` when
/// `timeout` passes first. The check runs at least once, and once more at the deadline.
pub async fn try_wait_for<T>(timeout: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        tokio::time::sleep(POLL.min(left)).await;
    }
}

/// [`try_wait_for`] that panics naming `what` when `timeout` passes.
pub async fn wait_for<T>(timeout: Duration, what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    match try_wait_for(timeout, check).await {
        Some(value) => value,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// Waits until an event in the workspace's log satisfies `matches` and returns it.
pub async fn wait_for_event(
    workspace: &Workspace,
    timeout: Duration,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(timeout, what, async || workspace.events(Tail::MayBeTorn).into_iter().find(|e| matches(e))).await
}

// ---------------------------------------------------------------------------------------------
// Starting the daemon

/// The address in the daemon's first stdout line, `listening on 127.0.0.1:PORT`.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    line.trim_end_matches(['\r', '\n']).strip_prefix("listening on ")?.parse().ok()
}

/// Reads the first line of `reader` on a thread and parses it as the `listening on` line,
/// giving up after `timeout`. The thread then keeps draining `reader` so a chatty child never
/// blocks on a full pipe.
pub fn read_listening_line(
    reader: impl Read + Send + 'static,
    timeout: Duration,
) -> Result<SocketAddr, String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut first = String::new();
        let result = match reader.read_line(&mut first) {
            Ok(0) => Err("stdout closed before the `listening on` line".to_string()),
            Ok(_) => parse_listening_line(&first)
                .ok_or_else(|| format!("first stdout line is not `listening on ADDR`: {first:?}")),
            Err(e) => Err(format!("cannot read stdout: {e}")),
        };
        let _ = sender.send(result);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    match receiver.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("no `listening on` line within {timeout:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the stdout reader died".to_string()),
    }
}

/// An HTTP client for tests: no proxy, bounded time, no redirects.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build an HTTP client")
}

/// Polls `GET {base}/readyz` until it answers 200; the error says what it answered last.
pub async fn wait_ready(client: &reqwest::Client, base: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match client.get(format!("{base}/readyz")).send().await {
            Ok(response) if response.status() == reqwest::StatusCode::OK => return Ok(()),
            Ok(response) => format!("status {}", response.status()),
            Err(e) => format!("error {e}"),
        };
        if Instant::now() >= deadline {
            return Err(format!("/readyz not 200 within {timeout:?}; last: {last}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last bytes of a child's stderr, kept for failure messages.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<Vec<u8>>>);

impl StderrTail {
    const KEEP: usize = 64 * 1024;

    fn drain(&self, mut reader: impl Read + Send + 'static) {
        let tail = self.0.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                        tail.extend_from_slice(&buffer[..n]);
                        if tail.len() > Self::KEEP {
                            let excess = tail.len() - Self::KEEP;
                            tail.drain(..excess);
                        }
                    }
                }
            }
        });
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// Everything read through its [`Capture::tee`] readers, kept whole.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// A reader that passes `inner` through, keeping a copy of every byte read.
    pub fn tee<R: Read>(&self, inner: R) -> Tee<R> {
        Tee { inner, capture: self.clone() }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// See [`Capture::tee`].
pub struct Tee<R> {
    inner: R,
    capture: Capture,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.capture.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&buffer[..n]);
        Ok(n)
    }
}

/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// A running `mission-control run`, killed (SIGKILL) when dropped.
pub struct Daemon {
    child: Child,
    exited: Option<ExitStatus>,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub client: reqwest::Client,
    stderr: StderrTail,
    /// Everything written on stdout and stderr, unbounded, for tests that search all of it.
    stdout_all: Capture,
    stderr_all: Capture,
}

impl Daemon {
    /// Starts `mission-control --workspace DIR run --listen 127.0.0.1:0`, reads the bound port
    /// from its first stdout line and waits for `/readyz`. Panics (failing the test) when any
    /// step does not happen in time.
    pub async fn start(workspace: &Workspace) -> Daemon {
        Daemon::start_with(workspace, "127.0.0.1:0", &[]).await
    }

    /// [`Daemon::start`] with extra environment variables for the daemon process (credentials
    /// as `MC_CRED_<NAME>`, `RUST_LOG`).
    pub async fn start_with_env(workspace: &Workspace, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(workspace, "127.0.0.1:0", env).await
    }

    /// [`Daemon::start_with_env`] listening on `listen` (`0.0.0.0:0` to test a non-loopback
    /// daemon; the client still connects through loopback).
    pub async fn start_with(workspace: &Workspace, listen: &str, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_adjusted(workspace, listen, env, |_| {}).await
    }

    /// [`Daemon::start_with`], letting `adjust` change the command before it is spawned (the
    /// fault tests set resource limits and drop capabilities in the child with `pre_exec`).
    pub async fn start_adjusted(
        workspace: &Workspace,
        listen: &str,
        env: &[(&str, &str)],
        adjust: impl FnOnce(&mut Command),
    ) -> Daemon {
        let mut command = workspace.cli();
        command
            .args(["run", "--listen", listen])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        adjust(&mut command);
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot spawn {}: {e}", binary()));
        let stderr = StderrTail::default();
        let (stdout_all, stderr_all) = (Capture::default(), Capture::default());
        stderr.drain(stderr_all.tee(child.stderr.take().expect("piped stderr")));
        let stdout = stdout_all.tee(child.stdout.take().expect("piped stdout"));
        let addr = tokio::task::spawn_blocking(move || read_listening_line(stdout, START_TIMEOUT))
            .await
            .expect("listening-line reader");
        let mut daemon = Daemon {
            child,
            exited: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            base: String::new(),
            client: http_client(),
            stderr,
            stdout_all,
            stderr_all,
        };
        match addr {
            Ok(mut addr) => {
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                daemon.addr = addr;
                daemon.base = format!("http://{addr}");
            }
            Err(e) => daemon.fail(&format!("the daemon did not start: {e}")),
        }
        if let Err(e) = wait_ready(&daemon.client, &daemon.base, READY_TIMEOUT).await {
            daemon.fail(&format!("the daemon is not ready: {e}"));
        }
        daemon
    }

    /// Panics with `message` and the exit status if the daemon died; the guard's drop prints
    /// its stderr.
    fn fail(&mut self, message: &str) -> ! {
        let status = self.child.try_wait().ok().flatten();
        panic!("{message} (exit status: {status:?})");
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits in i32")
    }

    /// What the daemon wrote on stderr so far (the last 64 KiB).
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Everything the daemon wrote on stdout so far, the `listening on` line included.
    pub fn stdout_all(&self) -> String {
        self.stdout_all.text()
    }

    /// Everything the daemon wrote on stderr so far (unlike [`Daemon::stderr`], not cut).
    pub fn stderr_all(&self) -> String {
        self.stderr_all.text()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        self.send(self.client.post(self.url(path)).body(body)).await
    }

    pub async fn head(&self, path: &str) -> Reply {
        self.send(self.client.head(self.url(path))).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap_or_else(|e| panic!("request to the daemon failed: {e}"));
        let status = response.status().as_u16();
        let body =
            response.text().await.unwrap_or_else(|e| panic!("reading the daemon's answer failed: {e}"));
        Reply { status, body }
    }

    /// `GET /api/v1/state`, parsed; panics unless it is 200 and JSON.
    pub async fn state(&self) -> Value {
        let reply = self.get("/api/v1/state").await;
        assert_eq!(reply.status, 200, "GET /api/v1/state: {}", reply.body);
        serde_json::from_str(&reply.body)
            .unwrap_or_else(|e| panic!("/api/v1/state is not JSON: {e}\n{}", reply.body))
    }

    /// One entity of the live state (`kind` in lower case: `routine`, `integration`, `output`).
    pub async fn entity(&self, kind: &str, id: &str) -> Option<Value> {
        entity_in(&self.state().await, kind, id)
    }

    /// Polls the live state until `kind/id` is listed (readiness may come before the first
    /// published state), and returns it.
    pub async fn wait_entity(&self, kind: &str, id: &str, timeout: Duration) -> Value {
        let what = format!("{kind}/{id} in live state");
        wait_for(timeout, &what, async || self.entity(kind, id).await).await
    }

    /// Polls the live state until `kind/id` has health `level`, and returns that entity; the
    /// panic on timeout shows the entity as last seen.
    pub async fn wait_health(&self, kind: &str, id: &str, level: &str, timeout: Duration) -> Value {
        let mut last = None;
        let found = try_wait_for(timeout, async || {
            let entity = self.entity(kind, id).await;
            let hit = entity.as_ref().filter(|e| e["health"] == level).cloned();
            last = entity;
            hit
        })
        .await;
        found.unwrap_or_else(|| panic!("{kind}/{id} not {level} within {timeout:?}; last seen: {last:#?}"))
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200, "GET /metrics: {}", reply.body);
        reply.body
    }

    fn signal(&self, signal: libc::c_int) {
        if self.exited.is_some() {
            panic!("signal {signal} sent to a daemon that has exited");
        }
        // SAFETY: kill(2) with the pid of our own child, which is not reaped yet (so the pid
        // cannot have been reused).
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}): {}", self.pid(), std::io::Error::last_os_error());
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    pub fn sighup(&self) {
        self.signal(libc::SIGHUP);
    }

    /// SIGKILL, then reaps the process.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        self.exited = Some(self.child.wait().expect("reap the killed daemon"));
    }

    /// Waits for the daemon to exit on its own (after a signal).
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.exited {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exited = Some(status);
                return status;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("the daemon did not exit within {timeout:?}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM, then waits for the exit; panics unless it exits successfully.
    pub async fn stop(mut self) -> ExitStatus {
        self.sigterm();
        let status = self.wait_exit(STOP_TIMEOUT).await;
        if !status.success() {
            self.fail(&format!("the daemon exited with {status} after SIGTERM"));
        }
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- stderr of the daemon on {} ---\n{}", self.base, self.stderr.text());
        }
    }
}

/// `state[kind + "s"]` entry with this id.
pub fn entity_in(state: &Value, kind: &str, id: &str) -> Option<Value> {
    state[format!("{kind}s")].as_array()?.iter().find(|e| e["id"] == id).cloned()
}

/// Every id listed anywhere in the live state's entity lists.
pub fn all_entity_ids(state: &Value) -> Vec<String> {
    let lists = ["agents", "subagents", "workflows", "routines", "integrations", "outputs", "projects"];
    lists
        .iter()
        .filter_map(|list| state[*list].as_array())
        .flatten()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect()
}

/// The value of an unlabelled sample `name` in Prometheus text (`name 1` or `name{} 1`).
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let rest = rest.strip_prefix("{}").unwrap_or(rest);
        let value = rest.strip_prefix(' ')?.split_whitespace().next()?;
        value.parse().ok()
    })
}

// ---------------------------------------------------------------------------------------------
// A target for HTTP probes

/// A tiny HTTP server whose answer status a test can flip, counting the requests it serves.
/// It runs on its own thread with blocking I/O, so it works under any tokio runtime.
pub struct FlipServer {
    pub url: String,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
}

impl FlipServer {
    pub fn start(status: u16) -> FlipServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the flip server");
        let addr = listener.local_addr().expect("flip server address");
        let shared_status = Arc::new(AtomicU16::new(status));
        let hits = Arc::new(AtomicUsize::new(0));
        let (status_for_thread, hits_for_thread) = (shared_status.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let status = status_for_thread.clone();
                let hits = hits_for_thread.clone();
                std::thread::spawn(move || serve_one(stream, &status, &hits));
            }
        });
        FlipServer { url: format!("http://{addr}/health"), status: shared_status, hits }
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Answers every request on one connection (keep-alive) until the client closes it.
fn serve_one(stream: std::net::TcpStream, status: &AtomicU16, hits: &AtomicUsize) {
    use std::io::Write;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut content_length = 0usize;
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let code = status.load(Ordering::SeqCst);
        hits.fetch_add(1, Ordering::SeqCst);
        let text = format!("status {code}\n");
        let response = format!(
            "HTTP/1.1 {code} Flip\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A receiver that records what it is sent

/// One request a [`RecordingServer`] received, and what it answered.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When the whole request had been read, on the wall clock (comparable with the daemon's
    /// timestamps) and on the monotonic one (for gaps between requests).
    pub at: DateTime<Utc>,
    pub instant: Instant,
    /// The status it was answered with.
    pub answered: u16,
}

impl Recorded {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{} {} body is not JSON: {e}\n{}", self.method, self.path, self.body))
    }
}

/// An answer a [`RecordingServer`] gives: status and body (sent as JSON when it parses as JSON).
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: String,
}

#[derive(Default)]
struct Recording {
    requests: Vec<Recorded>,
    /// One-shot answers, used in order before the standing one.
    queued: std::collections::VecDeque<Answer>,
}

/// A tiny HTTP server standing in for a receiver (webhook, Telegram Bot API): it records
/// every request whole and answers with a standing status and body, or with answers queued
/// for the next requests. Like [`FlipServer`] it runs on plain threads.
pub struct RecordingServer {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: String,
    recording: Arc<Mutex<Recording>>,
    standing: Arc<Mutex<Answer>>,
}

impl RecordingServer {
    /// Starts answering every request with `status` and `body`.
    pub fn start(status: u16, body: &str) -> RecordingServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the recording server");
        let addr = listener.local_addr().expect("recording server address");
        let recording = Arc::new(Mutex::new(Recording::default()));
        let standing = Arc::new(Mutex::new(Answer { status, body: body.to_owned() }));
        let (recording_for_thread, standing_for_thread) = (recording.clone(), standing.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let recording = recording_for_thread.clone();
                let standing = standing_for_thread.clone();
                std::thread::spawn(move || serve_recording(stream, &recording, &standing));
            }
        });
        RecordingServer { base: format!("http://{addr}"), recording, standing }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Changes the standing answer.
    pub fn answer(&self, status: u16, body: &str) {
        *self.standing.lock().unwrap_or_else(|e| e.into_inner()) = Answer { status, body: body.to_owned() };
    }

    /// Queues a one-shot answer for the next request not yet answered.
    pub fn answer_once(&self, status: u16, body: &str) {
        let mut recording = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        recording.queued.push_back(Answer { status, body: body.to_owned() });
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.recording.lock().unwrap_or_else(|e| e.into_inner()).requests.clone()
    }
}

/// One HTTP/1.1 request as read off the wire.
struct RawRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (content-length or chunked body); `None` when the connection
/// ends first.
fn read_request(reader: &mut impl BufRead) -> Option<RawRequest> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0u8; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let length = find("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(RawRequest { method, path, headers, body })
}

/// Records and answers every request on one connection until the client closes it.
fn serve_recording(stream: std::net::TcpStream, recording: &Mutex<Recording>, standing: &Mutex<Answer>) {
    use std::io::Write;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Some(RawRequest { method, path, headers, body }) = read_request(&mut reader) {
        let (at, instant) = (Utc::now(), Instant::now());
        let answer = {
            let mut recording = recording.lock().unwrap_or_else(|e| e.into_inner());
            let answer = recording
                .queued
                .pop_front()
                .unwrap_or_else(|| standing.lock().unwrap_or_else(|e| e.into_inner()).clone());
            let body = String::from_utf8_lossy(&body).into_owned();
            recording.requests.push(Recorded {
                method,
                path,
                headers,
                body,
                at,
                instant,
                answered: answer.status,
            });
            answer
        };
        let content_type = if serde_json::from_str::<Value>(&answer.body).is_ok() {
            "application/json"
        } else {
            "text/plain"
        };
        let response = format!(
            "HTTP/1.1 {} Recorded\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{}",
            answer.status,
            answer.body.len(),
            answer.body
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Desired-state snippets

/// A heartbeat routine document.
pub fn routine(id: &str, every: &str, grace: &str, extra: &str) -> String {
    format!("kind: Routine\nid: {id}\nevery: {every}\ngrace: {grace}\n{extra}")
}

/// Joins YAML documents into one file.
pub fn documents(docs: &[String]) -> String {
    docs.join("---\n")
}

/// A fake OpenAI-style key assembled at run time, so no literal secret sits in the repository.
pub fn planted_sk_key() -> String {
    let mut key = String::from("sk");
    key.push('-');
    key.push_str("proj");
    key.push_str(&"Zq7Xw2Lm9".repeat(3));
    key
}

/// Time as the tests measure it, comparable with the daemon's timestamps (same machine).
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// `a - b` in fractional seconds, for messages.
pub fn secs_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (a - b).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

// ---------------------------------------------------------------------------------------------
// Peers the tests run for real: Prometheus and Alertmanager from Debian's packages

/// A free loopback port (a race with other binders is retried by the callers that care).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// The path of a binary of the Debian package `prometheus`; a test failure when it is missing.
pub fn prometheus_tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: install the Debian package prometheus (bash scripts/test.sh does)"
            )
        })
}

/// Where the Debian package `prometheus-alertmanager` puts it (or the first on `PATH`).
pub fn alertmanager_binary() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/prometheus-alertmanager");
    if debian.is_file() {
        return debian;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("prometheus-alertmanager"), dir.join("alertmanager")])
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("no Alertmanager binary: install the Debian package prometheus-alertmanager")
        })
}

/// A Prometheus server on a free loopback port with its own storage, scraping `targets` every
/// second as job `mission-control` and evaluating `rule_files`; killed when dropped.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    dir: PathBuf,
}

impl Prometheus {
    pub async fn start(dir: &Path, targets: &[SocketAddr], rule_files: &[PathBuf]) -> Prometheus {
        let config = dir.join("prometheus.yml");
        let targets = targets.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
        let rules: String = rule_files.iter().map(|r| format!("  - {}\n", r.display())).collect();
        let rules = if rules.is_empty() { String::new() } else { format!("rule_files:\n{rules}") };
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n{rules}\
                 scrape_configs:\n  - job_name: mission-control\n    static_configs:\n      - targets: [{targets}]\n"
            ),
        )
        .expect("config");
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new(prometheus_tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={address}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("prometheus.log")).expect("log"))
            .stderr(std::fs::File::create(dir.join("prometheus.err")).expect("log"))
            .spawn()
            .expect("prometheus starts");
        let mut prometheus = Prometheus { child, base: format!("http://{address}"), dir: dir.to_owned() };
        prometheus.wait_ready().await;
        prometheus
    }

    pub fn logs(&self) -> String {
        ["prometheus.log", "prometheus.err"]
            .iter()
            .map(|name| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default())
            .collect()
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = http_client();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.logs());
            }
            let ready = client.get(format!("{}/-/ready", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "prometheus never became ready:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The instant vector of `query`, as `(labels, value)` pairs.
    pub async fn query(&self, query: &str) -> Vec<(Value, String)> {
        let response = http_client()
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", query)])
            .send()
            .await
            .expect("query");
        let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
        assert_eq!(body["status"], "success", "{query}: {body}");
        body["data"]["result"]
            .as_array()
            .expect("vector")
            .iter()
            .map(|r| (r["metric"].clone(), r["value"][1].as_str().expect("value").to_string()))
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file below `root` with its bytes, by path: what a read-only collector must leave as
/// it found it.
pub fn file_contents(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.display().to_string(), std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

impl Daemon {
    /// POSTs a JSON body; the status, the JSON answer and its `X-Event-Seq`.
    pub async fn post_json(&self, path: &str, body: Value) -> (u16, Value, Option<u64>) {
        let answer = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = answer.status().as_u16();
        let seq =
            answer.headers().get("x-event-seq").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let text = answer.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}")), seq)
    }
}
