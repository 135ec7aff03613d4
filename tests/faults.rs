//! Faults against the real binary (issue 14): probe targets that hang, dribble or never end;
//! command probes that ignore SIGTERM and fork; a full disk under the event log; a desired
//! file that cannot be read or is caught half-saved; the wall clock jumping; and ten thousand
//! open connections. Each test starts `mission-control run` on a loopback port in a temporary
//! workspace, provokes one fault for real (a tmpfs that fills up, a listener whose backlog is
//! full, a FIFO, capabilities dropped, libfaketime), and judges the daemon from outside: its
//! HTTP answers, its event log, and `/proc/PID` (memory, threads, descriptors, processes).
//!
//! A fault that cannot be provoked fails its test with the reason (never a silent skip): the
//! disk, capability and connection tests need root, as CI has, and the clock test needs
//! libfaketime (`faketime`, installed by `scripts/test.sh`). docs/RELIABILITY.md ("Fault
//! tests") says what each test shows.

mod support;

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// How long a change driven by timers or probes may take on a noisy two-core machine.
const EVENTUALLY: Duration = Duration::from_secs(20);
/// How long something that should happen at once may take there.
const PROMPTLY: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The daemon as seen from /proc

/// A field of `/proc/PID/status` (`VmRSS`, `Threads`), as its first number.
fn proc_status(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Resident memory in MiB.
fn rss_mib(pid: i32) -> u64 {
    proc_status(pid, "VmRSS") / 1024
}

/// Open file descriptors.
fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(Iterator::count).unwrap_or(0)
}

/// One process as `/proc/PID/stat` describes it.
#[derive(Debug, Clone, Copy)]
struct Proc {
    pid: i32,
    ppid: i32,
    state: char,
}

fn proc_stat(pid: i32) -> Option<Proc> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let rest = text.rsplit_once(") ")?.1;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Proc { pid, ppid, state })
}

/// Every process on the machine.
fn processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_stat)
        .collect()
}

/// Whether `pid` runs (a zombie has ended: only its exit status waits to be collected).
fn running(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|p| !matches!(p.state, 'Z' | 'X'))
}

// ---------------------------------------------------------------------------------------------
// (a) Probe targets that hang, answer slowly, or never end

/// How a [`BadServer`] treats each connection, after reading the request.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// Never answers; holds the connection open until the client closes it.
    Hang,
    /// Starts the head, then sends one byte of a never-ending header every 100 ms.
    SlowHeaders,
    /// Sends a complete head promising a megabyte, then one byte of it every 100 ms.
    SlowBody,
    /// Sends a head without length, then a body as fast as the client takes it, forever.
    EndlessBody,
}

/// An HTTP target that misbehaves, on plain threads, counting what happens to its connections.
struct BadServer {
    url: String,
    accepted: Arc<AtomicUsize>,
    /// Connections the client (the daemon's probe) closed or reset.
    closed_by_client: Arc<AtomicUsize>,
    /// The most body bytes one connection took before the client stopped reading.
    most_sent: Arc<AtomicU64>,
}

impl BadServer {
    fn start(how: Misbehaviour) -> BadServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a misbehaving server");
        let addr = listener.local_addr().expect("its address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed_by_client = Arc::new(AtomicUsize::new(0));
        let most_sent = Arc::new(AtomicU64::new(0));
        let (a, c, m) = (accepted.clone(), closed_by_client.clone(), most_sent.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                let (c, m) = (c.clone(), m.clone());
                std::thread::spawn(move || {
                    if misbehave(stream, how, &m) {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        BadServer { url: format!("http://{addr}/"), accepted, closed_by_client, most_sent }
    }
}

/// Serves one connection the bad way; true once the client has gone away.
fn misbehave(mut stream: TcpStream, how: Misbehaviour, most_sent: &AtomicU64) -> bool {
    // Nothing here may outlive the test by much: a client that neither reads nor closes for a
    // minute counts as still there.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return true,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let drip = |stream: &mut TcpStream, first: &[u8]| -> bool {
        if stream.write_all(first).is_err() {
            return true;
        }
        loop {
            std::thread::sleep(Duration::from_millis(100));
            if stream.write_all(b"a").is_err() {
                return true;
            }
        }
    };
    match how {
        Misbehaviour::Hang => loop {
            match stream.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        },
        Misbehaviour::SlowHeaders => drip(&mut stream, b"HTTP/1.1 200 OK\r\nx-slow: "),
        Misbehaviour::SlowBody => drip(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000000\r\n\r\n",
        ),
        Misbehaviour::EndlessBody => {
            let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n";
            if stream.write_all(head).is_err() {
                return true;
            }
            let chunk = vec![b'z'; 64 * 1024];
            let mut sent = 0u64;
            loop {
                if stream.write_all(&chunk).is_err() {
                    most_sent.fetch_max(sent, Ordering::SeqCst);
                    return true;
                }
                sent += chunk.len() as u64;
                most_sent.fetch_max(sent, Ordering::SeqCst);
            }
        }
    }
}

/// A loopback listener whose accept queue is full, so a new connection's SYN is dropped and
/// `connect` hangs: the nearest a test can come to a host that does not answer without
/// sending traffic off the machine. The queued connections are kept in the returned value.
struct FullBacklog {
    address: String,
    _listener: std::os::fd::OwnedFd,
    _queued: Vec<TcpStream>,
}

impl FullBacklog {
    fn new() -> FullBacklog {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket calls on a descriptor this function owns; the address structs are
        // initialised before use and sized as the calls expect.
        let (listener, address) = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let rc = libc::bind(fd, (&raw const addr).cast(), len);
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            // A backlog of 0: the kernel queues one connection and drops the SYNs after it.
            assert_eq!(libc::listen(fd, 0), 0, "listen: {}", std::io::Error::last_os_error());
            let mut bound: libc::sockaddr_in = std::mem::zeroed();
            let mut len = len;
            let rc = libc::getsockname(fd, (&raw mut bound).cast(), &mut len);
            assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
            (owned, SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, u16::from_be(bound.sin_port))))
        };
        let mut queued = Vec::new();
        for _ in 0..8 {
            match TcpStream::connect_timeout(&address, Duration::from_millis(500)) {
                Ok(stream) => queued.push(stream),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return FullBacklog {
                        address: address.to_string(),
                        _listener: listener,
                        _queued: queued,
                    };
                }
                Err(e) => panic!("filling the backlog of {address}: {e}"),
            }
        }
        panic!(
            "cannot provoke a hanging connect: {address} accepted {} connections without a full backlog",
            queued.len()
        );
    }
}

fn http_integration(id: &str, url: &str, timeout: &str, extra: &str) -> String {
    format!(
        "kind: Integration\nid: {id}\nevery: 1s\nfailure_threshold: 2\nobserve:\n  http:\n    url: \"{url}\"\n    timeout: {timeout}\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_targets_that_hang_dribble_or_never_end_fail_in_bounded_time_and_memory() {
    let hang = BadServer::start(Misbehaviour::Hang);
    let slow_headers = BadServer::start(Misbehaviour::SlowHeaders);
    let slow_body = BadServer::start(Misbehaviour::SlowBody);
    let endless = BadServer::start(Misbehaviour::EndlessBody);
    let backlog = FullBacklog::new();
    let workspace = Workspace::new();
    workspace.write(
        "desired/integrations.yaml",
        &documents(&[
            http_integration("hangs", &hang.url, "1s", ""),
            http_integration("slow-headers", &slow_headers.url, "1s", ""),
            http_integration("slow-body", &slow_body.url, "1s", ""),
            // An endless body is cut at 1 MiB long before this timeout, then judged.
            http_integration("endless", &endless.url, "30s", "    expect:\n      body_contains: never-sent\n"),
            format!(
                "kind: Integration\nid: no-answer\nevery: 1s\nfailure_threshold: 2\nobserve:\n  tcp:\n    address: \"{}\"\n    timeout: 1s\n",
                backlog.address
            ),
        ]),
    );
    let daemon = Daemon::start(&workspace).await;
    let pid = daemon.pid();

    let expected = [
        ("hangs", "timeout after 1s"),
        ("slow-headers", "timeout after 1s"),
        ("slow-body", "timeout after 1s"),
        ("endless", "body does not contain \"never-sent\""),
        ("no-answer", "timeout after 1s"),
    ];
    for (id, error) in expected {
        let failed = daemon.wait_health("integration", id, "failed", EVENTUALLY).await;
        assert_eq!(failed["reason"], "ProbeFailing", "{id}: {failed:#}");
        let evidence = &failed["evidence"];
        assert_eq!(evidence["ok"], false, "{id}: {failed:#}");
        assert_eq!(evidence["error"], error, "{id}: the reason names the fault: {failed:#}");
        // Bounded time: a probe ends at its timeout (the endless one once it has its megabyte).
        let latency = evidence["latency_seconds"].as_f64().unwrap_or(f64::MAX);
        assert!(latency < 3.0, "{id}: the failed probe took {latency:.2}s: {failed:#}");
    }

    // Let several more rounds run against the bad targets, then look at what they cost.
    let rounds_from = hang.accepted.load(Ordering::SeqCst);
    wait_for(EVENTUALLY, "five more rounds of probes", async || {
        (hang.accepted.load(Ordering::SeqCst) >= rounds_from + 5).then_some(())
    })
    .await;
    let rss = rss_mib(pid);
    let threads = proc_status(pid, "Threads");
    let fds = open_fds(pid);
    println!("after the bad rounds: rss {rss} MiB, {threads} threads, {fds} descriptors");
    assert!(rss < 200, "resident memory {rss} MiB after probing an endless body for seconds");
    assert!(threads < 64, "{threads} threads: hung probes pile up");
    assert!(fds < 128, "{fds} descriptors open: connections of timed-out probes leak");
    // Every timed-out connection was closed by the daemon (the one in flight may be open).
    for (name, server) in [("hangs", &hang), ("slow-headers", &slow_headers), ("slow-body", &slow_body)] {
        wait_for(PROMPTLY, &format!("{name}: the daemon closes what it gave up on"), async || {
            let accepted = server.accepted.load(Ordering::SeqCst);
            (server.closed_by_client.load(Ordering::SeqCst) + 2 >= accepted).then_some(())
        })
        .await;
    }
    let most = endless.most_sent.load(Ordering::SeqCst);
    assert!(
        most < 32 * 1024 * 1024,
        "one probe took {} MiB of an endless body; it should stop reading after 1 MiB",
        most / (1024 * 1024)
    );
    // The daemon answers all the while.
    assert_eq!(daemon.get("/healthz").await.status, 200);
    assert_eq!(daemon.get("/api/v1/state").await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// (b) Command probes that ignore SIGTERM and fork

/// A command probe that runs `script` with `sh -c`.
fn command_integration(id: &str, script: &str, timeout: &str) -> String {
    let script = serde_json::to_string(script).expect("a string");
    format!(
        "kind: Integration\nid: {id}\nevery: 1s\nfailure_threshold: 1\nobserve:\n  command:\n    run: [sh, -c, {script}]\n    timeout: {timeout}\n"
    )
}

/// Whether `pid` runs one of the probe scripts' processes (all of them say `300` in their
/// command line), so a recorded pid reused by an unrelated process is not mistaken for ours.
fn runs_a_probe_process(pid: i32) -> bool {
    running(pid)
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline.windows(3).any(|w| w == b"300"))
}

/// Every pid the probe scripts recorded in `dir` (one file per run, one pid a line).
fn recorded_pids(dir: &Path) -> BTreeSet<i32> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeSet::new() };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect::<Vec<i32>>())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_probes_that_ignore_sigterm_and_fork_leave_nothing_behind() {
    let workspace = Workspace::new();
    let pids = workspace.path().join("pids");
    std::fs::create_dir_all(&pids).expect("create the pid folder");
    // Each run records its own pid and its children's in pids/<its pid>. Every process ignores
    // SIGTERM (an ignored signal stays ignored across fork and exec), and one child forks again
    // and detaches its output, as a daemonising script would.
    let stubborn = format!(
        "trap '' TERM INT HUP; f={dir}/$$; echo $$ >> $f; \
         sleep 300 & echo $! >> $f; \
         sh -c 'sleep 300 </dev/null >/dev/null 2>&1 & echo $! >> {dir}/$PPID.grandchild; wait' & echo $! >> $f; \
         sleep 300",
        dir = pids.display()
    );
    // Exits 0 at once, leaving a child that holds none of its output open.
    let leaves_a_child = format!(
        "trap '' TERM INT HUP; sleep 300 </dev/null >/dev/null 2>&1 & echo $! >> {dir}/left.$$; exit 0",
        dir = pids.display()
    );
    // Still running when the daemon is told to stop.
    let outlives = format!(
        "trap '' TERM INT HUP; f={dir}/long.$$; echo $$ >> $f; sleep 300 & echo $! >> $f; wait",
        dir = pids.display()
    );
    workspace.write(
        "desired/integrations.yaml",
        &documents(&[
            command_integration("stubborn", &stubborn, "1s"),
            command_integration("leaves-a-child", &leaves_a_child, "10s"),
            command_integration("outlives", &outlives, "1h"),
        ]),
    );
    let mut daemon = Daemon::start(&workspace).await;
    let pid = daemon.pid();

    let failed = daemon.wait_health("integration", "stubborn", "failed", EVENTUALLY).await;
    assert_eq!(failed["evidence"]["error"], "timeout after 1s", "{failed:#}");
    let healthy = daemon.wait_health("integration", "leaves-a-child", "healthy", EVENTUALLY).await;
    assert_eq!(healthy["evidence"]["exit_code"], 0, "{healthy:#}");

    // Several rounds: the processes of finished runs are all gone, whatever they did with
    // SIGTERM or their output; only the run in flight of each probe may have some.
    let files = |prefix: &str| -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&pids) else { return Vec::new() };
        entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
            .collect()
    };
    let stubborn_runs = || files("").into_iter().filter(|p| p.extension().is_none()).count();
    wait_for(EVENTUALLY, "three runs of each short probe", async || {
        (stubborn_runs() >= 3 && files("left.").len() >= 3).then_some(())
    })
    .await;
    let alive_in = |paths: Vec<PathBuf>| -> Vec<i32> {
        paths
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .flat_map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect::<Vec<i32>>())
            .filter(|&p| runs_a_probe_process(p))
            .collect()
    };
    let stubborn_files = || {
        let mut all = files("");
        all.retain(|p| !p.to_string_lossy().contains("/left.") && !p.to_string_lossy().contains("/long."));
        all
    };
    // A run of `stubborn` is four processes; one of `leaves-a-child` leaves one for as long as
    // its shell takes to exit.
    wait_for(PROMPTLY, "at most the run in flight of each probe running", async || {
        let (stubborn, left) = (alive_in(stubborn_files()), alive_in(files("left.")));
        (stubborn.len() <= 4 && left.len() <= 1).then_some(())
    })
    .await;
    // A run that just ended is a zombie for the moment it takes to reap it: only one still
    // there half a second later is left unreaped.
    let zombies = || -> BTreeSet<i32> {
        processes().into_iter().filter(|p| p.ppid == pid && p.state == 'Z').map(|p| p.pid).collect()
    };
    let first = zombies();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let unreaped: Vec<i32> = first.intersection(&zombies()).copied().collect();
    assert!(unreaped.is_empty(), "zombies of the daemon: {unreaped:?}");
    assert!(running(pid), "the daemon runs");

    // Stopping the daemon stops what its probes started, the long one included.
    let before_stop = recorded_pids(&pids);
    assert!(
        before_stop.iter().any(|p| runs_a_probe_process(*p)),
        "the long-running probe should be running now: {before_stop:?}"
    );
    daemon.sigterm();
    let status = daemon.wait_exit(STOP_TIMEOUT).await;
    assert!(status.success(), "the daemon exited with {status}");
    let gone = try_wait_for(PROMPTLY, async || {
        recorded_pids(&pids).into_iter().all(|p| !runs_a_probe_process(p)).then_some(())
    })
    .await;
    if gone.is_none() {
        let alive: Vec<Proc> = recorded_pids(&pids)
            .into_iter()
            .filter(|&p| runs_a_probe_process(p))
            .filter_map(proc_stat)
            .collect();
        let files: Vec<(String, String)> = std::fs::read_dir(&pids)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap_or_default(),
                )
            })
            .collect();
        panic!("probe processes outlive the daemon: {alive:?}\nrecorded: {files:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// (c) The event log's disk full

/// A tmpfs of a given size mounted for the length of a test; unmounted (lazily if still busy)
/// when dropped. Mounting needs root (CAP_SYS_ADMIN), which CI has.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let target = CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
        let options = CString::new(format!("size={size},mode=0700")).expect("options");
        // SAFETY: mount(2) with NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                c"mc-fault-test".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            panic!(
                "cannot mount a {size} tmpfs at {}: {}. This test fills a real filesystem and needs \
                 root (CAP_SYS_ADMIN), as CI runs it",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        Tmpfs { path: path.to_path_buf() }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = CString::new(self.path.as_os_str().as_bytes()).expect("a path without NUL");
        // SAFETY: umount2(2) with a NUL-terminated path; MNT_DETACH only when still busy.
        unsafe {
            if libc::umount2(target.as_ptr(), 0) != 0 {
                libc::umount2(target.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

/// Fills the filesystem holding `dir` with one file until the next write fails, and returns
/// that file's path.
fn fill_disk(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create the filler");
    let chunk = vec![0xa5u8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // The rest, byte by byte, so not even a partial page is left.
    while let Ok(1) = file.write(&[0xa5]) {}
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_pings_with_503_keeps_the_log_whole_and_recovers() {
    let workspace = Workspace::new();
    workspace.write(
        "desired/routines.yaml",
        &documents(&[
            routine("r", "1h", "1h", ""),
            // Turns stale while the disk is full: its transition must reach the log afterwards.
            routine("late", "1s", "2s", ""),
        ]),
    );
    let mount = Tmpfs::mount(&workspace.state_dir(), "1m");
    let daemon = Daemon::start(&workspace).await;
    let body = "x".repeat(2000);
    for i in 0..5 {
        let reply = daemon.post(&format!("/ping/r?rid=before-{i}"), body.clone()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(daemon.post("/ping/late", "").await.status, 200);
    daemon.wait_health("routine", "late", "healthy", PROMPTLY).await;

    let filler = fill_disk(&mount.path);
    // The log's last page may still hold a ping or two; the first refusal comes soon after,
    // and every ping after it is refused too.
    let (mut acknowledged, mut refused) = (Vec::new(), Vec::new());
    for i in 0..40 {
        let rid = format!("full-{i}");
        let reply = daemon.post(&format!("/ping/r?rid={rid}"), body.clone()).await;
        match reply.status {
            200 if refused.is_empty() => acknowledged.push(rid),
            503 => {
                let error: Value = serde_json::from_str(&reply.body).expect("a JSON error");
                assert_eq!(error["error"], "not_recorded", "{error}");
                let detail = error["detail"].as_str().unwrap_or_default();
                assert!(detail.contains("No space left on device"), "the answer says why: {error}");
                refused.push(rid);
            }
            status => panic!("ping {rid} on a full disk: {status} {}", reply.body),
        }
        if refused.len() == 5 {
            break;
        }
    }
    assert_eq!(
        refused.len(),
        5,
        "pings on a full disk are refused with 503 (acknowledged: {acknowledged:?})"
    );
    // Smaller pings take what is left of the last page, until not even an empty one fits: then
    // nothing the daemon writes fits either.
    for size in [1000, 500, 250, 100, 0, 0] {
        let rid = format!("small-{size}-{}", acknowledged.len() + refused.len());
        let reply = daemon.post(&format!("/ping/r?rid={rid}"), "y".repeat(size)).await;
        match reply.status {
            200 => acknowledged.push(rid),
            503 => refused.push(rid),
            status => panic!("ping {rid} on a full disk: {status} {}", reply.body),
        }
    }
    assert!(refused.last().is_some_and(|rid| rid.starts_with("small-0")), "an empty ping is refused too");
    // Nothing half-written: the log ends with a whole line and parses strictly, and no
    // temporary file of the snapshot lies about.
    let text = std::fs::read_to_string(workspace.events_path()).expect("read the log");
    assert!(
        text.ends_with('\n'),
        "the log ends inside a line: {:?}",
        &text[text.len().saturating_sub(200)..]
    );
    let events = parse_events(&text, Tail::Strict);
    assert!(
        events.iter().all(|e| !refused.iter().any(|rid| e["data"]["rid"] == rid.as_str())),
        "a refused ping is in the log"
    );
    // The daemon stays up and serves what it has; its log says why it refuses.
    daemon.wait_health("routine", "late", "stale", EVENTUALLY).await;
    assert_eq!(daemon.get("/healthz").await.status, 200);
    assert_eq!(daemon.get("/readyz").await.status, 200);
    assert!(
        daemon.stderr_all().contains("No space left on device"),
        "the daemon's log names the cause:\n{}",
        daemon.stderr()
    );
    let leftovers = wait_for(PROMPTLY, "no half-written temporary files", async || {
        let names: Vec<String> = std::fs::read_dir(&mount.path)
            .expect("list state/")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        names.is_empty().then_some(names)
    })
    .await;
    assert!(leftovers.is_empty());

    // Space returns: pings are taken again, and what the daemon could not store meanwhile
    // (the stale transition) is stored now.
    std::fs::remove_file(&filler).expect("free the space");
    let reply = daemon.post("/ping/r?rid=after", "").await;
    assert_eq!(reply.status, 200, "a ping once space returns: {}", reply.body);
    wait_for_event(&workspace, PROMPTLY, "late's stale transition in the log", |e| {
        is_event(e, "health.changed", "routine", "late") && e["data"]["to"] == "stale"
    })
    .await;
    // The page the outbox could not take while the disk was full is queued and delivered now,
    // not only at the receiver's next repeat hours later.
    wait_for_event(&workspace, EVENTUALLY, "late's alert delivered once space returned", |e| {
        e["type"] == "alert.delivered" && e["entity_id"] == "late"
    })
    .await;
    let events = workspace.events(Tail::Strict);
    assert_seq_strictly_increasing(&events);
    let rids: BTreeSet<&str> = events.iter().filter_map(|e| e["data"]["rid"].as_str()).collect();
    for rid in ["before-0", "before-4", "after"].into_iter().chain(acknowledged.iter().map(String::as_str)) {
        assert!(rids.contains(rid), "acknowledged ping {rid} is in the log");
    }
    wait_for(PROMPTLY, "the snapshot written again", async || {
        let text = std::fs::read_to_string(workspace.snapshot_path()).ok()?;
        let snapshot: Value = serde_json::from_str(&text).ok()?;
        (snapshot["summary"]["last_event_seq"].as_u64() >= events.last().and_then(|e| e["seq"].as_u64()))
            .then_some(())
    })
    .await;
    drop(daemon);
}

// ---------------------------------------------------------------------------------------------
// (d) A desired file that cannot be read, or is caught half-saved

/// Capabilities that let root read any file whatever its mode (linux/capability.h).
const CAP_DAC_OVERRIDE: libc::c_ulong = 1;
const CAP_DAC_READ_SEARCH: libc::c_ulong = 2;

/// Makes `command` run without the two capabilities above, as a daemon not run by root would:
/// a file of mode 000 is then unreadable to it although it runs as uid 0.
fn without_dac_override(command: &mut std::process::Command) {
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2),
    // which is async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(|| {
            for cap in [CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH] {
                if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Panics with the reason unless a process started [`without_dac_override`] is refused a file
/// of mode 000 (needs root with CAP_SETPCAP, as CI has).
fn assert_mode_000_is_unreadable_without_dac_override(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("unreadable-probe");
    std::fs::write(&probe, "secret\n").expect("write the probe file");
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o000)).expect("chmod 000");
    let mut cat = std::process::Command::new("cat");
    cat.arg(&probe);
    without_dac_override(&mut cat);
    let output = cat.output().unwrap_or_else(|e| {
        panic!("cannot start a process without CAP_DAC_OVERRIDE ({e}); this test needs root with CAP_SETPCAP")
    });
    std::fs::remove_file(&probe).expect("remove the probe file");
    assert!(
        !output.status.success(),
        "a process without CAP_DAC_OVERRIDE still read a mode-000 file; cannot make a file unreadable here"
    );
}

fn make_fifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: mkfifo(3) with a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}: {}", path.display(), std::io::Error::last_os_error());
}

/// The first `config.rejected` after `after`, and its errors.
async fn wait_rejected(workspace: &Workspace, after: u64, what: &str) -> Vec<String> {
    let rejected = wait_for_event(workspace, EVENTUALLY, what, |e| {
        e["type"] == "config.rejected" && e["seq"].as_u64() > Some(after)
    })
    .await;
    rejected["data"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("config.rejected lists its errors: {rejected}"))
        .iter()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect()
}

async fn wait_loaded(workspace: &Workspace, after: u64, what: &str) -> u64 {
    let loaded = wait_for_event(workspace, EVENTUALLY, what, |e| {
        e["type"] == "config.loaded" && e["seq"].as_u64() > Some(after)
    })
    .await;
    loaded["seq"].as_u64().expect("a seq")
}

fn last_seq(workspace: &Workspace) -> u64 {
    workspace.events(Tail::MayBeTorn).last().and_then(|e| e["seq"].as_u64()).unwrap_or(0)
}

/// The last good configuration still runs: ready, its entities served, a ping to one of them
/// folded into live state.
async fn assert_last_good_runs(daemon: &Daemon, ids: &[&str]) {
    assert_eq!(daemon.get("/readyz").await.status, 200);
    for id in ids {
        assert!(daemon.entity("routine", id).await.is_some(), "routine/{id} is still served");
    }
    let reply = daemon.post(&format!("/ping/{}", ids[0]), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    wait_for(PROMPTLY, "the ping folded by the reconciler", async || {
        let entity = daemon.entity("routine", ids[0]).await?;
        (entity["health"] == "healthy").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desired_file_that_cannot_be_read_is_rejected_and_the_last_good_config_runs_on() {
    let workspace = Workspace::new();
    assert_mode_000_is_unreadable_without_dac_override(workspace.path());
    workspace.write("desired/routines.yaml", &documents(&[routine("kept", "1h", "1h", "")]));
    let daemon = Daemon::start_adjusted(&workspace, "127.0.0.1:0", &[], without_dac_override).await;
    daemon.wait_entity("routine", "kept", PROMPTLY).await;

    // A FIFO where a file should be: reading it would wait for a writer forever.
    let before = last_seq(&workspace);
    make_fifo(&workspace.path().join("desired/pipe.yaml"));
    daemon.sighup();
    let errors = wait_rejected(&workspace, before, "config.rejected for the FIFO").await;
    assert!(
        errors.iter().any(|e| e.starts_with("desired/pipe.yaml:1:1: ") && e.contains("not a regular file")),
        "the FIFO is named: {errors:?}"
    );
    assert_last_good_runs(&daemon, &["kept"]).await;
    // `validate` says the same, and ends.
    let mut validate = workspace.cli();
    validate.arg("validate");
    let output = run_with_timeout(validate, CLI_TIMEOUT);
    assert_eq!(output.status.code(), Some(1), "validate finds the problem");
    assert!(String::from_utf8_lossy(&output.stderr).contains("desired/pipe.yaml:1:1: "), "{output:?}");
    std::fs::remove_file(workspace.path().join("desired/pipe.yaml")).expect("remove the FIFO");

    // A file the daemon may not read (mode 000, and the daemon has no capability to override it).
    use std::os::unix::fs::PermissionsExt;
    let locked = workspace.path().join("desired/locked.yaml");
    std::fs::write(&locked, routine("locked", "1h", "1h", "")).expect("write locked.yaml");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod 000");
    let before = last_seq(&workspace);
    daemon.sighup();
    let errors = wait_rejected(&workspace, before, "config.rejected for the unreadable file").await;
    assert!(
        errors.iter().any(|e| e.starts_with("desired/locked.yaml:1:1: cannot read file: ")
            && e.contains("Permission denied")),
        "the unreadable file is named with the reason: {errors:?}"
    );
    assert_last_good_runs(&daemon, &["kept"]).await;
    assert!(daemon.entity("routine", "locked").await.is_none(), "nothing of the unreadable file is taken");

    // Readable again: taken whole.
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let before = last_seq(&workspace);
    daemon.sighup();
    wait_loaded(&workspace, before, "config.loaded once the file is readable").await;
    daemon.wait_entity("routine", "locked", PROMPTLY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_caught_half_saved_is_rejected_until_the_save_completes() {
    let workspace = Workspace::new();
    let full = documents(&[
        routine("a", "1h", "1h", ""),
        routine("b", "1h", "1h", ""),
        routine("c", "1h", "1h", ""),
        routine("d", "1h", "1h", ""),
    ]);
    workspace.write(
        "desired/routines.yaml",
        &documents(&[routine("a", "1h", "1h", ""), routine("b", "1h", "1h", "")]),
    );
    let daemon = Daemon::start(&workspace).await;
    daemon.wait_entity("routine", "b", PROMPTLY).await;

    // An editor that saves in place: truncate, write part, stall (longer than the reload's
    // debounce), write the rest. The part ends inside a key of the third document.
    let cut = full.find("id: c").expect("routine c") + "id: c\nev".len();
    let before = last_seq(&workspace);
    let path = workspace.path().join("desired/routines.yaml");
    let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(&path).expect("open to save");
    file.write_all(&full.as_bytes()[..cut]).expect("write the first part");
    file.sync_all().expect("sync");
    let errors = wait_rejected(&workspace, before, "config.rejected for the half-saved file").await;
    assert!(
        errors.iter().any(|e| e.starts_with("desired/routines.yaml:")),
        "the error is placed in the file: {errors:?}"
    );
    // Nothing of the half file is taken: not a, b and half of c, but the last good a and b.
    assert_last_good_runs(&daemon, &["a", "b"]).await;
    assert!(daemon.entity("routine", "c").await.is_none(), "half a file is not taken");

    let rejected_at = last_seq(&workspace);
    file.write_all(&full.as_bytes()[cut..]).expect("write the rest");
    file.sync_all().expect("sync");
    drop(file);
    wait_loaded(&workspace, rejected_at, "config.loaded once the save completes").await;
    for id in ["a", "b", "c", "d"] {
        daemon.wait_entity("routine", id, PROMPTLY).await;
    }
}

// ---------------------------------------------------------------------------------------------
// (f) Ten thousand open connections

/// This process's open-files limit (soft, hard).
fn nofile_limit() -> (u64, u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit(2) writes the struct it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    (limit.rlim_cur, limit.rlim_max)
}

/// Raises this process's soft open-files limit to its hard one, and panics with the reason
/// unless that allows `needed` descriptors.
fn allow_open_files(needed: u64) {
    let (soft, hard) = nofile_limit();
    if soft < hard {
        let limit = libc::rlimit { rlim_cur: hard, rlim_max: hard };
        // SAFETY: setrlimit(2) reads the struct it is given.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
    }
    assert!(
        hard >= needed,
        "this test opens {needed} descriptors in one process, but the hard limit is {hard}: \
         raise it (`ulimit -Hn {needed}` as root) before running the tests"
    );
}

/// Makes the daemon start with a soft open-files limit of 1024 (the usual default) under the
/// test's hard limit: serving thousands of connections is then up to the daemon itself.
fn with_default_soft_nofile(command: &mut std::process::Command) {
    let (_, hard) = nofile_limit();
    // SAFETY: the closure runs in the child between fork and exec and only calls setrlimit(2),
    // which is async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: 1024.min(hard), rlim_max: hard };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Reads until the end of an HTTP head; returns the head and what came after it.
async fn read_head(stream: &mut tokio::net::TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 2048];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = bytes.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&bytes).into_owned(), rest));
        }
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(&buffer[..n]);
    }
}

/// What each kind of long-lived connection is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Held {
    /// `GET /api/v1/events/stream`, its head read: a live event stream.
    Stream,
    /// A ping answered `200`, then nothing: an idle keep-alive connection.
    IdleAfterPing,
    /// A ping whose head stops half-way.
    StalledHead,
    /// A ping whose body stops half-way.
    StalledBody,
}

/// Opens one connection of kind `held` to `addr`.
async fn hold(addr: SocketAddr, held: Held) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the daemon");
    let request: &[u8] = match held {
        Held::Stream => {
            b"GET /api/v1/events/stream HTTP/1.1\r\nhost: test\r\naccept: text/event-stream\r\n\r\n"
        }
        Held::IdleAfterPing => b"POST /ping/r HTTP/1.1\r\nhost: test\r\ncontent-length: 2\r\n\r\nhi",
        Held::StalledHead => b"POST /ping/r HTTP/1.1\r\nhost: test\r\ncontent-le",
        Held::StalledBody => b"POST /ping/r HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nfirst ten.",
    };
    stream.write_all(request).await.expect("send the request");
    if matches!(held, Held::Stream | Held::IdleAfterPing) {
        let (head, _) = read_head(&mut stream).await.expect("the answer's head");
        assert!(head.starts_with("HTTP/1.1 200"), "{held:?}: {head}");
        if held == Held::IdleAfterPing {
            use tokio::io::AsyncReadExt;
            // The `OK` body (two bytes), if it did not come with the head.
            let mut body = [0u8; 2];
            let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut body)).await;
        }
    }
    stream
}

/// Reads `stream` until `needle` shows up; false when `timeout` passes first.
async fn sees(stream: &mut tokio::net::TcpStream, needle: &str, timeout: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => {
                seen.extend_from_slice(&buffer[..n]);
                if String::from_utf8_lossy(&seen).contains(needle) {
                    return true;
                }
            }
            _ => return false,
        }
    }
}

/// Whether the daemon has closed `stream` (an answer before the close is allowed: a 408).
async fn closed_by_daemon(stream: &mut tokio::net::TcpStream, timeout: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_open_connections_keep_memory_bounded_and_new_requests_served() {
    // Event streams stay open as long as their clients want; ping connections only as long as
    // a request is under way (an idle or stalled one is cut after ten seconds). So the streams
    // are opened first, the stalled pings last, and the ten thousand are judged at once.
    const IDLE: usize = 200;
    const STREAMS: usize = 8_500;
    const STALLED_HEAD: usize = 750;
    const STALLED_BODY: usize = 750;
    const TOTAL: usize = STREAMS + STALLED_HEAD + STALLED_BODY;
    allow_open_files((IDLE + TOTAL) as u64 + 1_000);
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("r", "1h", "1h", ""));
    let daemon = Daemon::start_adjusted(&workspace, "127.0.0.1:0", &[], with_default_soft_nofile).await;
    let pid = daemon.pid();
    let rss_before = rss_mib(pid);

    // Opened 200 at a time. The pings answered before the streams open: each stored ping is an
    // event that every open stream would carry.
    let opened_at = Instant::now();
    let plan: Vec<Held> = std::iter::repeat_n(Held::IdleAfterPing, IDLE)
        .chain(std::iter::repeat_n(Held::Stream, STREAMS))
        .chain(std::iter::repeat_n(Held::StalledHead, STALLED_HEAD))
        .chain(std::iter::repeat_n(Held::StalledBody, STALLED_BODY))
        .collect();
    let mut held: Vec<(Held, tokio::net::TcpStream)> = Vec::with_capacity(IDLE + TOTAL);
    let mut stalled_from = None;
    // The stalled pings, which need no answer, go 1,000 at a time to open them quickly.
    let (answered, stalled) = plan.split_at(IDLE + STREAMS);
    for batch in answered.chunks(200).chain(stalled.chunks(1_000)) {
        if batch[0] == Held::StalledHead && stalled_from.is_none() {
            stalled_from = Some(Instant::now());
        }
        let mut tasks = tokio::task::JoinSet::new();
        for &kind in batch {
            let addr = daemon.addr;
            tasks.spawn(async move { (kind, hold(addr, kind).await) });
        }
        match tokio::time::timeout(Duration::from_secs(30), tasks.join_all()).await {
            Ok(opened) => held.extend(opened),
            Err(_) => panic!(
                "could open only {} of {} connections (the next 200 took over 30s); the daemon's stderr:\n{}",
                held.len(),
                IDLE + TOTAL,
                daemon.stderr()
            ),
        }
    }
    let stalled_for = stalled_from.map_or(Duration::ZERO, |t| t.elapsed());
    println!(
        "{} connections opened in {:.1}s, the stalled ones in {:.1}s",
        IDLE + TOTAL,
        opened_at.elapsed().as_secs_f64(),
        stalled_for.as_secs_f64()
    );

    // All ten thousand are open in the daemon at once (the stalled pings were opened within its
    // ten seconds' patience), and it still serves new requests promptly.
    assert!(
        stalled_for < Duration::from_secs(5),
        "opening the {} stalled pings took {stalled_for:?}, so the first may be cut already: the \
         machine is too slow for this test to hold {TOTAL} connections at once",
        STALLED_HEAD + STALLED_BODY
    );
    // The last connections may still wait in the listen backlog for the daemon to accept them.
    let fds = wait_for(Duration::from_secs(4), "every connection accepted", async || {
        let fds = open_fds(pid);
        (fds >= TOTAL).then_some(fds)
    })
    .await;
    let rss = rss_mib(pid);
    println!("{fds} descriptors; resident memory {rss_before} MiB before, {rss} MiB with them");
    for path in ["/healthz", "/readyz", "/api/v1/state", "/metrics"] {
        let asked = Instant::now();
        let reply = tokio::time::timeout(PROMPTLY, daemon.get(path)).await;
        let reply = reply.unwrap_or_else(|_| panic!("GET {path} not answered within {PROMPTLY:?}"));
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        println!("GET {path} while crowded: {:.0} ms", asked.elapsed().as_secs_f64() * 1000.0);
    }
    let reply = tokio::time::timeout(PROMPTLY, daemon.post("/ping/r?rid=while-crowded", "")).await;
    assert_eq!(reply.expect("a new ping is answered promptly").status, 200);
    // Bounded memory: a few tens of KiB a connection, far from a leak's growth.
    assert!(rss < rss_before + 400, "{rss} MiB resident with {TOTAL} connections open");
    // The streams are live: the new ping reaches them.
    let mut streams: Vec<&mut tokio::net::TcpStream> =
        held.iter_mut().filter(|(kind, _)| *kind == Held::Stream).map(|(_, s)| s).collect();
    let step = streams.len() / 20;
    for stream in streams.iter_mut().step_by(step) {
        assert!(sees(stream, "while-crowded", EVENTUALLY).await, "an open stream did not get the new event");
    }

    // Idle and stalled pings are cut off (slow clients time out); the streams are not.
    let mut cut = tokio::task::JoinSet::new();
    let mut kept = Vec::new();
    for (kind, mut stream) in held {
        if kind == Held::Stream {
            kept.push(stream);
        } else {
            cut.spawn(async move { (kind, closed_by_daemon(&mut stream, Duration::from_secs(30)).await) });
        }
    }
    let mut open_still = std::collections::BTreeMap::new();
    for (kind, closed) in cut.join_all().await {
        if !closed {
            *open_still.entry(format!("{kind:?}")).or_insert(0) += 1;
        }
    }
    assert!(open_still.is_empty(), "connections the daemon never closed: {open_still:?}");
    let reply = daemon.post("/ping/r?rid=after-the-cut", "").await;
    assert_eq!(reply.status, 200);
    let step = kept.len() / 10;
    for stream in kept.iter_mut().step_by(step) {
        assert!(
            sees(stream, "after-the-cut", EVENTUALLY).await,
            "a stream was cut with the idle connections"
        );
    }

    // Closing them all gives every descriptor back.
    drop(kept);
    let fds = wait_for(EVENTUALLY, "the daemon's descriptors back to a few", async || {
        let fds = open_fds(pid);
        (fds < 200).then_some(fds)
    })
    .await;
    println!("descriptors after closing: {fds}; resident memory {} MiB", rss_mib(pid));
    assert_eq!(daemon.get("/healthz").await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// (e) The wall clock jumping forward and back

/// libfaketime's preload library (Debian package `faketime`, which `scripts/test.sh` installs).
fn libfaketime() -> PathBuf {
    let candidates =
        ["/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime", "/usr/lib/faketime"];
    candidates
        .iter()
        .map(|dir| Path::new(dir).join("libfaketime.so.1"))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("libfaketime not found in {candidates:?}: install the Debian package `faketime` (scripts/test.sh does)"))
}

/// Environment that runs a process on a wall clock shifted by the offset in `offset_file`
/// (`+3600` is an hour ahead), read again at every clock reading, while its monotonic clock
/// stays the real one: as a real jump of the wall clock (a manual `date -s`, an NTP step)
/// leaves CLOCK_MONOTONIC alone.
fn faketime_env(offset_file: &Path) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), libfaketime().display().to_string()),
        ("FAKETIME_TIMESTAMP_FILE".into(), offset_file.display().to_string()),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// Sets the jump: the wall clock of processes started with [`faketime_env`] is `seconds` ahead.
fn set_clock_offset(offset_file: &Path, seconds: i64) {
    let tmp = offset_file.with_extension("tmp");
    std::fs::write(&tmp, format!("{seconds:+}\n")).expect("write the clock offset");
    std::fs::rename(&tmp, offset_file).expect("move the clock offset into place");
}

/// Panics unless a process under [`faketime_env`] sees the offset (libfaketime works here).
fn assert_faketime_shifts_the_clock(offset_file: &Path) {
    set_clock_offset(offset_file, 3600);
    let mut date = std::process::Command::new("date");
    date.arg("+%s").envs(faketime_env(offset_file));
    let output = date.output().expect("run date under libfaketime");
    let seen: i64 = String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(0);
    let real = chrono::Utc::now().timestamp();
    set_clock_offset(offset_file, 0);
    assert!(
        (seen - real - 3600).abs() <= 5,
        "libfaketime does not shift the clock here (date said {seen}, real {real}): {output:?}"
    );
}

/// The instants (test's monotonic clock) at which each routine was first seen `stale`.
async fn watch_stale(daemon: &Daemon, ids: &[&str], until: Instant) -> Vec<(String, Instant)> {
    let mut seen: Vec<(String, Instant)> = Vec::new();
    while Instant::now() < until {
        let state = daemon.state().await;
        for id in ids {
            if entity_in(&state, "routine", id).is_some_and(|e| e["health"] == "stale")
                && !seen.iter().any(|(s, _)| s == id)
            {
                seen.push((id.to_string(), Instant::now()));
            }
        }
        tokio::time::sleep(POLL).await;
    }
    seen
}

/// Without the reconciler's jump detection, a jump forward turned every routine `stale` at
/// once (and paged), and a jump back postponed every deadline by the jump; the reconciler now
/// moves the engine's and the alert book's stored instants by a jump it sees against the boot
/// clock (docs/RELIABILITY.md, "Fault tests", (e)).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_clock_jumping_forward_and_back_raises_no_false_stale_and_misses_no_deadline() {
    let workspace = Workspace::new();
    let offset_file = workspace.path().join("clock-offset");
    assert_faketime_shifts_the_clock(&offset_file);
    workspace.write(
        "desired/routines.yaml",
        &documents(&[
            // Pinged every second all along: never stale, whatever the wall clock does.
            routine("steady", "20s", "5s", ""),
            // Pinged twice, then never: stale 6 s (every + grace) after its last ping, in real
            // time, whatever the wall clock did in between.
            routine("quiet", "4s", "2s", ""),
        ]),
    );
    let env = faketime_env(&offset_file);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let daemon = Daemon::start_with_env(&workspace, &env).await;

    let ping = async |id: &str| {
        let reply = daemon.post(&format!("/ping/{id}"), "").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    };
    ping("steady").await;
    ping("quiet").await;
    daemon.wait_health("routine", "quiet", "healthy", PROMPTLY).await;

    // An hour forward: neither routine is late in real time, so neither may turn stale.
    set_clock_offset(&offset_file, 3600);
    let forward = Instant::now();
    let mut stale = Vec::new();
    for _ in 0..3 {
        ping("steady").await;
        stale.extend(
            watch_stale(&daemon, &["steady", "quiet"], Instant::now() + Duration::from_secs(1)).await,
        );
    }
    assert!(stale.is_empty(), "stale right after the clock jumped forward: {stale:?}");
    // The last ping of `quiet`, stamped an hour ahead.
    ping("quiet").await;
    let last_quiet = Instant::now();

    // And back: `quiet`'s deadline is 6 s after its last ping in real time, not an hour later.
    set_clock_offset(&offset_file, 0);
    let mut stale = Vec::new();
    while Instant::now() < last_quiet + Duration::from_secs(12) {
        ping("steady").await;
        stale.extend(
            watch_stale(&daemon, &["steady", "quiet"], Instant::now() + Duration::from_secs(1)).await,
        );
        if stale.iter().any(|(id, _)| id == "quiet") {
            break;
        }
    }
    assert!(!stale.iter().any(|(id, _)| id == "steady"), "steady turned stale: {stale:?}");
    let quiet = stale.iter().find(|(id, _)| id == "quiet").map(|(_, at)| *at);
    let quiet = quiet.unwrap_or_else(|| {
        panic!("quiet not stale 12 s after its last ping: the jump back postponed its deadline")
    });
    let after = quiet.duration_since(last_quiet).as_secs_f64();
    assert!(after >= 5.0, "quiet stale {after:.1}s after its last ping, before its deadline (6 s)");
    let jumps = forward.elapsed();
    println!("quiet stale {after:.1}s after its last ping; the test's jumps took {jumps:?}");
    // No alert fired for anything but `quiet`.
    let fired: Vec<String> = workspace
        .events(Tail::MayBeTorn)
        .iter()
        .filter(|e| e["type"] == "alert.firing")
        .map(|e| {
            format!("{}/{}", e["entity_type"].as_str().unwrap_or("?"), e["entity_id"].as_str().unwrap_or("?"))
        })
        .collect();
    assert!(fired.iter().all(|a| a == "routine/quiet"), "alerts fired: {fired:?}");
}
