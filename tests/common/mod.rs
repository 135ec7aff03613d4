//! Shared by the integration tests that run the real daemon: start it in a workspace on an
//! ephemeral port, talk HTTP to it, read its server-sent events, stop it when dropped.
//!
//! A daemon that does not start is a test failure with its stderr in the message, never a
//! skip.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long anything in these tests may take before it counts as a failure.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// The binary under test.
pub fn mc(workspace: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mission-control"));
    cmd.arg("--workspace").arg(workspace).env_remove("MISSION_CONTROL_WORKSPACE");
    cmd
}

/// A running `mission-control run`; killed when dropped.
pub struct Daemon {
    child: Child,
    /// Where it listens (an unspecified address is replaced by loopback, to connect to).
    pub addr: SocketAddr,
    stderr: PathBuf,
}

impl Daemon {
    /// Starts the daemon on `listen` (`127.0.0.1:0` for a free port) and waits for its
    /// `listening on ADDR` line.
    pub fn start(workspace: &Path, listen: &str, env: &[(&str, &str)]) -> Daemon {
        let stderr = workspace.join("daemon.stderr");
        let mut cmd = mc(workspace);
        cmd.args(["run", "--listen", listen])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        for (name, value) in env {
            cmd.env(name, value);
        }
        let mut child = cmd.spawn().expect("the daemon binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, first) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = sender.send(lines.next());
            // Keep draining, so the daemon never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match first.recv_timeout(DEADLINE) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the daemon did not print `listening on ADDR` ({other:?}); stderr:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
        };
        let mut addr: SocketAddr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the daemon: {line:?}"));
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let daemon = Daemon { child, addr, stderr };
        daemon.wait_ready();
        daemon
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Blocks until `/readyz` answers 200 and live state is published.
    fn wait_ready(&self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let ready = raw(self.addr, "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .is_ok_and(|r| r.status == 200)
                && raw(self.addr, "GET /api/v1/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .is_ok_and(|r| r.status == 200 && r.body.starts_with('{'));
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "the daemon never became ready; stderr:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `request` as bytes (for requests an HTTP client would refuse to send) and reads the
/// response until the server closes the connection.
pub fn raw(addr: SocketAddr, request: &str) -> std::io::Result<RawResponse> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    stream.write_all(request.as_bytes())?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(RawResponse { status, head: head.to_string(), body: body.to_string() })
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Reads server-sent events off a streaming response.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        SseReader { response, buffer: String::new() }
    }

    /// The next event (comments skipped), or `None` when none comes within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent { id: None, event: None, data: String::new() };
                let mut any = false;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.event = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        event.data.push_str(v.trim_start());
                        any = true;
                    }
                }
                if any {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?;
            match chunk.expect("stream readable") {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => return None,
            }
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, failing with `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
