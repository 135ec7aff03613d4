//! Where a running daemon answers: `state/daemon.json`, written once the daemon listens and
//! removed when it stops, so a command-line process can ask it instead of restoring the
//! state itself.
//!
//! The file is a hint, never trusted alone: a reader checks that the process it names is
//! alive, and a caller that cannot get an answer from the address goes on without the daemon.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file's name inside `state/`.
pub const FILE: &str = "daemon.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    pub pid: u32,
    /// The address the daemon bound.
    pub listen: SocketAddr,
}

impl Presence {
    /// The address to reach the daemon at from this machine: a wildcard bind is reached on
    /// loopback.
    pub fn address(&self) -> SocketAddr {
        let ip = match self.listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.listen.port())
    }
}

/// Records that this process listens at `listen` (atomically, owner-only).
pub fn announce(state_dir: &Path, listen: SocketAddr) -> std::io::Result<()> {
    let presence = Presence { pid: std::process::id(), listen };
    let mut bytes = serde_json::to_vec(&presence).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    crate::state::write_atomic(&state_dir.join(FILE), &bytes)
}

/// Removes the file if it still names this process (a second daemon on the same `state/`
/// may have replaced it).
pub fn withdraw(state_dir: &Path) {
    let path = state_dir.join(FILE);
    if read_file(&path).is_some_and(|p| p.pid == std::process::id()) {
        let _ = std::fs::remove_file(path);
    }
}

/// The running daemon of `state_dir`, if its file names a live process.
pub fn find(state_dir: &Path) -> Option<Presence> {
    let presence = read_file(&state_dir.join(FILE))?;
    let pid = libc::pid_t::try_from(presence.pid).ok().filter(|pid| *pid > 0)?;
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    alive.then_some(presence)
}

fn read_file(path: &Path) -> Option<Presence> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() > 4096 {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_found_and_withdrawn() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(find(dir.path()), None, "nothing announced");
        let listen: SocketAddr = "0.0.0.0:9797".parse().expect("address");
        announce(dir.path(), listen).expect("announce");
        let found = find(dir.path()).expect("this process is alive");
        assert_eq!(found.listen, listen);
        assert_eq!(found.address(), "127.0.0.1:9797".parse::<SocketAddr>().expect("address"));
        withdraw(dir.path());
        assert!(!dir.path().join(FILE).exists());
    }

    #[test]
    fn a_dead_or_foreign_process_is_not_found_and_not_withdrawn() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A child that has exited and been reaped: its pid names no process.
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        let text = format!(r#"{{"pid":{pid},"listen":"127.0.0.1:1"}}"#);
        std::fs::write(dir.path().join(FILE), &text).expect("write");
        assert_eq!(find(dir.path()), None);
        withdraw(dir.path());
        assert!(dir.path().join(FILE).exists(), "another process's file stays");
        std::fs::write(dir.path().join(FILE), "not json").expect("write");
        assert_eq!(find(dir.path()), None);
    }
}
