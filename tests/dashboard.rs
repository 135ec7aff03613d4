//! The dashboard (`GET /mission-control`, SPEC section 15) against the real daemon, in a real
//! headless Chromium driven through chromedriver's W3C WebDriver API: the example workspace's
//! entities render with data in every panel; a health change made by a ping shows without a
//! reload; a dropped event stream recovers and catches up; a hostile entity name stays text;
//! screenshots at phone and desktop widths land under `target/dashboard/`. Without a browser:
//! the page's headers, its assets, and that it holds no form and no inline script.
//!
//! Chromium and chromedriver are Debian's (`scripts/test.sh` installs them); a test fails, never
//! skips, when they cannot start. The browser runs headless, without sandbox, background
//! networking or first-run pages, in a fresh profile, and with every host but loopback sent to
//! a dead proxy, so it reaches nothing beyond this machine.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use support::*;

/// How long a change may take to reach the page, on a noisy two-core machine.
const EVENTUALLY: Duration = Duration::from_secs(30);
const DESKTOP: (u32, u32) = (1440, 900);
const PHONE: (u32, u32) = (390, 844);

// ---------------------------------------------------------------------------------------------
// The browser

/// A program on `PATH` (or in Debian's places), by the first name that exists.
fn find_program(names: &[&str], also: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .chain(also.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// A chromedriver process (in its own process group, with the browsers it starts) and one
/// browser session. Dropping it kills the group.
struct Browser {
    /// One browser at a time: CI has two cores, and a Chromium starting beside another is slow.
    _turn: tokio::sync::MutexGuard<'static, ()>,
    driver: Child,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    client: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session whose window
    /// is `width` x `height`. Panics (failing the test) when either cannot start.
    async fn start(width: u32, height: u32) -> Browser {
        static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let turn = TURN.lock().await;
        let driver_path = find_program(&["chromedriver"], &["/usr/lib/chromium/chromedriver"]).expect(
            "chromedriver is not installed (Debian: apt-get install chromium-driver; scripts/test.sh does)",
        );
        let chromium = find_program(&["chromium", "chromium-browser"], &["/usr/lib/chromium/chromium"])
            .expect("chromium is not installed (Debian: apt-get install chromium; scripts/test.sh does)");
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            listener.local_addr().expect("address").port()
        };
        let mut command = Command::new(&driver_path);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver =
            command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()));
        let profile = tempfile::Builder::new().prefix("mc-chromium-").tempdir().expect("profile dir");
        // Starting Chromium can take a while on a busy machine; chromedriver itself waits 60 s.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(90))
            .build()
            .expect("a WebDriver client");
        let mut browser = Browser { _turn: turn, driver, session: String::new(), client, _profile: profile };
        let base = format!("http://127.0.0.1:{port}");
        let ready = try_wait_for(Duration::from_secs(20), async || {
            let status = browser.client.get(format!("{base}/status")).send().await.ok()?;
            let body: Value = serde_json::from_str(&status.text().await.ok()?).ok()?;
            body["value"]["ready"].as_bool().filter(|r| *r)
        })
        .await;
        assert!(ready.is_some(), "chromedriver did not become ready on port {port}");
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--no-first-run".to_string(),
            "--no-default-browser-check".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-extensions".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--hide-scrollbars".to_string(),
            // Loopback goes direct; anything else meets a proxy that is not there.
            "--proxy-server=http://127.0.0.1:9".to_string(),
            format!("--user-data-dir={}", browser._profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let created = browser
            .client
            .post(format!("{base}/session"))
            .header("content-type", "application/json")
            .body(capabilities.to_string())
            .send()
            .await;
        let body: Value = match created {
            Ok(response) => {
                serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or(Value::Null)
            }
            Err(e) => panic!("chromedriver did not answer POST /session: {e}"),
        };
        let Some(id) = body["value"]["sessionId"].as_str() else {
            panic!("chromium did not start: {body}");
        };
        browser.session = format!("{base}/session/{id}");
        browser.set_size(width, height).await;
        browser
    }

    /// One WebDriver command; its `value`. Panics on a WebDriver error.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let status = response.status();
        let body: Value =
            serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        assert!(status.is_success(), "webdriver {method} {path}: {status} {body}");
        body["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its return value.
    async fn run(&self, script: &str, args: Value) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args })))
            .await
    }

    /// Polls `script` until it returns something truthy, and returns that.
    async fn wait(&self, what: &str, script: &str, args: Value) -> Value {
        let mut last = Value::Null;
        let found = try_wait_for(EVENTUALLY, async || {
            let value = self.run(script, args.clone()).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            last = value.clone();
            truthy.then_some(value)
        })
        .await;
        match found {
            Some(value) => value,
            None => {
                let text = self.text().await;
                panic!("timed out waiting for {what}; last: {last}\npage text:\n{text}")
            }
        }
    }

    /// The health level the page shows for the entity row with this id (`""` when none).
    async fn level(&self, id: &str) -> String {
        let value = self.run(&format!("{ROW_LEVEL} return level(arguments[0]);"), json!([id])).await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// Waits until the page shows the entity with this id at `level`, without a reload.
    async fn wait_level(&self, id: &str, level: &str) {
        let script = format!("{ROW_LEVEL} return level(arguments[0]) === arguments[1];");
        self.wait(&format!("{id} to show {level}"), &script, json!([id, level])).await;
    }

    async fn text(&self) -> String {
        // textContent, not innerText: the text of collapsed groups counts too.
        self.run("return document.body ? document.body.textContent : '';", json!([]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn set_size(&self, width: u32, height: u32) {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
        let script = "return window.innerWidth === arguments[0];";
        self.wait("the window to take its width", script, json!([width])).await;
    }

    /// A screenshot of the whole page at `width`, written to `path` as PNG.
    async fn screenshot(&self, width: u32, path: &Path) {
        self.set_size(width, 900).await;
        let height = self.run("return document.documentElement.scrollHeight;", json!([])).await;
        let height = height.as_u64().unwrap_or(900).clamp(400, 16_000) as u32;
        self.set_size(width, height).await;
        let png = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64_decode(png.as_str().expect("a screenshot is base64 text"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create the screenshot folder");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    async fn quit(mut self) {
        let _ = self.client.delete(&self.session).send().await;
        self.kill();
    }

    fn kill(&mut self) {
        // The driver leads its own process group, and the browsers it started are in it.
        let group = -i32::try_from(self.driver.id()).expect("pid fits in i32");
        // SAFETY: kill(2) on the process group this test created, whose leader is not reaped yet.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.driver.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}

/// A page function: the level (`healthy`, ...) of the entity row whose id is `id`, or `""`.
const ROW_LEVEL: &str = "const level = (id) => { \
    const e = Array.from(document.querySelectorAll('li.row .id')).find(e => e.textContent === id); \
    const row = e ? e.closest('li.row') : null; \
    const c = row ? Array.from(row.classList).find(c => c.startsWith('l-')) : null; \
    return c ? c.slice(2) : ''; };";

/// Standard base64 (the WebDriver screenshot's encoding).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for sextet in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// Where screenshots go: `target/dashboard/`, beside the test binary's `target/debug/deps/`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe.ancestors().nth(3).expect("target/<profile>/deps/<binary>");
    target.join("dashboard")
}

// ---------------------------------------------------------------------------------------------
// Workspaces

/// Runs the CLI on `workspace` and expects success; its stdout, trimmed.
fn cli(workspace: &Workspace, args: &[&str]) -> String {
    let mut command = workspace.cli();
    command.args(args);
    let out = run_with_timeout(command, CLI_TIMEOUT);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The repository's example workspace, copied, with every probe pointed at this machine: the
/// gateway at a loopback port nobody listens on (it fails, as in the example), Telegram at a
/// loopback server that accepts connections, and probes every second so they settle quickly.
fn example_workspace(telegram: &FlipServer) -> Workspace {
    let workspace = Workspace::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["desired", "rules"] {
        for entry in std::fs::read_dir(root.join(folder)).expect("read the example folder") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read an example file");
            let name = path.file_name().and_then(|n| n.to_str()).expect("a file name");
            workspace.write(&format!("{folder}/{name}"), &text);
        }
    }
    for doc in ["MISSION_CONTROL.md", "PROJECTS.md", "TASKS.md", "DECISIONS.md", "RUNBOOKS.md", "OUTPUTS.md"]
    {
        if let Ok(text) = std::fs::read_to_string(root.join(doc)) {
            workspace.write(doc, &text);
        }
    }
    workspace.write(
        "mission-control.yaml",
        "timezone: Europe/Berlin\nhumans: [Khaled]\nopenclaw:\n  enabled: false\n",
    );
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let telegram_addr = telegram.url.trim_start_matches("http://").trim_end_matches("/health").to_string();
    let integrations = std::fs::read_to_string(root.join("desired/integrations.yaml")).expect("integrations");
    let integrations = integrations
        .replace("http://127.0.0.1:18789/health", &format!("http://{closed}/health"))
        .replace("api.telegram.org:443", &telegram_addr)
        .replace("every: 30s", "every: 1s")
        .replace("every: 1m", "every: 1s");
    assert!(integrations.contains(&telegram_addr), "the example's Telegram probe moved; update this test");
    workspace.write("desired/integrations.yaml", &integrations);
    workspace
}

/// Usage of the last two weeks, written to the log before the daemon starts, as if recorded
/// on each of those days (the command line can only record it now).
fn usage_history(workspace: &Workspace) {
    let models = [("example-large-2", "fakker", 3.0), ("example-small-1", "frontend", 40.0)];
    let mut lines = String::new();
    let mut seq = 0;
    for back in (1..14).rev() {
        let at = chrono::Utc::now() - chrono::Duration::days(back);
        for (i, (model, agent, scale)) in models.iter().enumerate() {
            seq += 1;
            let input = 20_000 + (back as u64 * 7_919 + i as u64 * 3_001) % 60_000;
            let output = input / 8;
            let cost = (input as f64 * scale / 1_000_000.0 * 10.0).round() / 100.0 + 0.05;
            let event = json!({
                "seq": seq,
                "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "type": "usage.recorded", "source": "cli", "entity_type": "usage", "entity_id": agent,
                "status": "recorded", "message": format!("{model} for {agent}"),
                "data": {"model": model, "agent": agent, "input_tokens": input, "output_tokens": output,
                         "cache_read_tokens": 0, "cache_write_tokens": 0, "total_tokens": input + output,
                         "estimated_cost": cost, "currency": "USD", "priced": true},
            });
            lines.push_str(&event.to_string());
            lines.push('\n');
        }
    }
    workspace.write("state/events.jsonl", &lines);
}

/// The reports the example's outputs look for, written before the daemon starts: an output is
/// probed every 30 seconds, so a file written after its first probe could be seen only after
/// the test's patience. The usage export is 30 hours old, past its 26h + 1h contract.
fn write_outputs(workspace: &Workspace) {
    let today = chrono::Local::now().format("%Y-%m-%d");
    workspace.write(&format!("reports/daily-{today}.md"), "# Daily status\n\nAll good, one blocker.\n");
    workspace.write(&format!("reports/backup-{today}.log"), "backup finished: 812 MB\n");
    let old = SystemTime::now() - Duration::from_secs(30 * 3600);
    workspace.write_with_mtime("reports/usage.csv", "day,cost\n", old);
}

/// Drives the example workspace through the command line so every panel has data: pings,
/// inbox items, triage, assignment, moves (one blocked, one in review), the mode, usage, agent
/// reports, and the release workflow linked to its tasks.
fn drive_example(workspace: &Workspace) {
    for (id, args) in [
        ("daily-status", &["--rid", "r1"][..]),
        ("fakker-heartbeat", &[][..]),
        ("inbox-sweep", &[][..]),
        ("weekday-digest", &["--fail", "--message", "digest source timed out"][..]),
    ] {
        let out = workspace.cli_ping(id, args);
        assert!(out.status.success(), "ping {id}: {}", String::from_utf8_lossy(&out.stderr));
    }

    let add = |text: &str, source: &str| cli(workspace, &["inbox", "add", text, "--source", source]);
    let triage = |id: &str, class: &str, priority: &str, domain: &str| {
        cli(
            workspace,
            &[
                "triage",
                id,
                "--class",
                class,
                "--priority",
                priority,
                "--domain",
                domain,
                "--project",
                "mission-control",
            ],
        );
    };
    let assign = |id: &str, owner: &str, output: &str| {
        cli(
            workspace,
            &[
                "assign",
                id,
                "--owner",
                owner,
                "--expected-output",
                output,
                "--boundaries",
                "this repository only",
                "--review-criteria",
                "tests pass and the owner can read it on a phone",
            ],
        );
    };
    let status = |id: &str, to: &str| {
        cli(workspace, &["task", id, "--status", to]);
    };

    let freeze = add("Freeze the release branch", "telegram");
    triage(&freeze, "task", "high", "backend");
    assign(&freeze, "Subagent:Backend", "release branch frozen");
    for to in ["active", "review", "done"] {
        status(&freeze, to);
    }
    let suite = add("Run the full test suite on the release branch", "telegram");
    triage(&suite, "task", "high", "qa");
    assign(&suite, "Subagent:QA", "a green test run");
    status(&suite, "active");
    let notes = add("Write release notes for 0.4", "cli");
    triage(&notes, "task", "medium", "backend");
    status(&notes, "planned");
    let ship = add("Tag and deploy 0.4", "cli");
    triage(&ship, "task", "high", "infra");
    assign(&ship, "Subagent:Infra", "0.4 tagged and running");
    status(&ship, "active");
    cli(workspace, &["task", &ship, "--status", "blocked", "--blocker", "waiting for the staging server"]);
    let gateway = add("Fix the gateway health endpoint", "telegram");
    triage(&gateway, "bug", "urgent", "infra");
    assign(&gateway, "Subagent:Infra", "gateway /health answers 200");
    status(&gateway, "active");
    let chart = add("Cost chart on the dashboard", "cli");
    triage(&chart, "task", "medium", "frontend");
    assign(&chart, "Subagent:Frontend", "an inline SVG chart of the last 14 days");
    status(&chart, "active");
    status(&chart, "review");
    let invoice = add("Automate the weekly invoice reminder", "telegram");
    triage(&invoice, "automation_idea", "low", "backoffice");
    add("Read the OpenClaw changelog for the cron changes", "telegram");
    add("Ask about the staging server's disk", "telegram");

    cli(workspace, &["mode", "set", "Building"]);
    for (model, agent, input, output) in
        [("example-large-2", "fakker", "120000", "8000"), ("example-small-1", "frontend", "300000", "40000")]
    {
        cli(
            workspace,
            &["usage", "record", "--model", model, "--agent", agent, "--input", input, "--output", output],
        );
    }
    for (agent, status, task) in [
        ("fakker", "working", Some(&gateway)),
        ("backend", "idle", None),
        ("frontend", "working", Some(&chart)),
        ("infra", "working", Some(&gateway)),
        ("qa", "stuck", Some(&suite)),
    ] {
        let mut args = vec!["agent", "report", agent, "--status", status];
        if let Some(task) = task {
            args.extend(["--task", task.as_str()]);
        }
        cli(workspace, &args);
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workflows = std::fs::read_to_string(root.join("desired/workflows.yaml")).expect("workflows");
    let mut linked = workflows;
    for (title, task) in [
        ("Freeze the branch", &freeze),
        ("Run the full test suite", &suite),
        ("Write release notes", &notes),
        ("Tag and deploy", &ship),
    ] {
        let line = format!("    title: {title}\n");
        assert!(linked.contains(&line), "the example workflow has no step {title:?}; update this test");
        linked = linked.replace(&line, &format!("{line}    task: {task}\n"));
    }
    workspace.write("desired/workflows.yaml", &linked);
}

// ---------------------------------------------------------------------------------------------
// Tests

/// The example workspace, driven to have data everywhere, in a browser: every panel renders
/// real data, a ping's health change arrives live, and screenshots are taken at both widths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_workspace_renders_live_in_a_browser() {
    let telegram = FlipServer::start(200);
    let workspace = example_workspace(&telegram);
    usage_history(&workspace);
    write_outputs(&workspace);
    let daemon = Daemon::start(&workspace).await;
    drive_example(&workspace);

    // Wait for the daemon to fold all of it: the workflow linked, the gateway failed.
    wait_for(EVENTUALLY, "the workflow to be linked to its tasks", async || {
        let state = daemon.state().await;
        let workflow = entity_in(&state, "workflow", "weekly-release")?;
        (workflow["health"] == "warning").then_some(())
    })
    .await;
    daemon.wait_health("integration", "openclaw-gateway", "failed", EVENTUALLY).await;
    daemon.wait_health("integration", "telegram", "healthy", EVENTUALLY).await;
    daemon.wait_health("output", "usage-export", "stale", EVENTUALLY).await;

    let browser = Browser::start(DESKTOP.0, DESKTOP.1).await;
    browser.goto(&daemon.url("/mission-control")).await;
    browser
        .wait(
            "the page to go live",
            "return document.getElementById('live').dataset.state === 'live';",
            json!([]),
        )
        .await;

    let text = browser.text().await;
    for expected in [
        "Daily status report",
        "Fakker heartbeat",
        "Weekday research digest",
        "OpenClaw gateway",
        "Telegram bot",
        "Daily status report file",
        "Usage export",
        "Weekly release",
        "Mission Control",
        "Fakker",
        "Backend",
        "Tag and deploy 0.4",
        "waiting for the staging server",
        "Cost chart on the dashboard",
        "Automate the weekly invoice reminder",
        "Building",
        "example-large-2",
        "example-small-1",
        "daily-spend",
        "health.changed",
    ] {
        assert!(text.contains(expected), "the page does not show {expected:?}:\n{text}");
    }
    assert!(
        !text.to_lowercase().contains("paperclip"),
        "a protected, non-activated entity is shown:\n{text}"
    );
    let empty = "return Array.from(document.querySelectorAll('.empty'))\
                 .map(e => e.closest('section').id + ': ' + e.textContent);";
    let empty = browser.run(empty, json!([])).await;
    assert_eq!(empty, json!([]), "panels without data");
    let panels = browser
        .run("return Array.from(document.querySelectorAll('main section.panel')).map(s => s.id);", json!([]))
        .await;
    assert_eq!(
        panels,
        json!([
            "summary",
            "mismatches",
            "inbox",
            "agents",
            "workflows",
            "board",
            "ops",
            "outputs",
            "cost",
            "events"
        ])
    );
    let bars = browser.run("return document.querySelectorAll('#cost svg rect').length;", json!([])).await;
    assert!(bars.as_u64().unwrap_or(0) >= 14, "the cost chart has {bars} bars");

    // A health change made by a ping arrives without a reload.
    browser.run("window.__sameDocument = 'yes';", json!([])).await;
    assert_eq!(browser.level("weekday-digest").await, "failed", "before the ping");
    let ping = daemon.post("/ping/weekday-digest", "digest sent").await;
    assert_eq!(ping.status, 200);
    browser.wait_level("weekday-digest", "healthy").await;
    let same = browser.run("return window.__sameDocument;", json!([])).await;
    assert_eq!(same, json!("yes"), "the page was reloaded instead of updated in place");

    // Screenshots: the whole page at desktop and phone widths, every healthy group opened.
    browser.run("document.querySelectorAll('details').forEach(d => d.open = true);", json!([])).await;
    let dir = screenshot_dir();
    browser.screenshot(DESKTOP.0, &dir.join("desktop.png")).await;
    browser.set_size(PHONE.0, 900).await;
    let overflow =
        browser.run("return document.documentElement.scrollWidth - window.innerWidth;", json!([])).await;
    assert_eq!(overflow, json!(0), "the page scrolls sideways on a phone");
    browser.screenshot(PHONE.0, &dir.join("phone.png")).await;
    println!("screenshots in {}", dir.display());
    browser.quit().await;
    drop(daemon);
}

/// The event stream dies with the daemon; the page says so, reconnects when it is back,
/// catches up with what happened meanwhile (a ping recorded by the command line), and goes on
/// updating live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_event_stream_recovers() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("nightly-job", "1h", "5m", "name: Nightly job\n"));
    let mut daemon = Daemon::start(&workspace).await;
    let listen = daemon.addr.to_string();
    let browser = Browser::start(DESKTOP.0, DESKTOP.1).await;
    browser.goto(&daemon.url("/mission-control")).await;
    let live = "return document.getElementById('live').dataset.state === arguments[0];";
    browser.wait("the page to go live", live, json!(["live"])).await;
    browser.run("window.__sameDocument = 'yes';", json!([])).await;

    daemon.kill9();
    browser.wait("the page to notice the stream dropped", live, json!(["reconnecting"])).await;
    // While the daemon is down, the command line records a success.
    let out = workspace.cli_ping("nightly-job", &[]);
    assert!(out.status.success(), "ping: {}", String::from_utf8_lossy(&out.stderr));

    let daemon = Daemon::start_with(&workspace, &listen, &[]).await;
    browser.wait("the stream to reconnect", live, json!(["live"])).await;
    // The ping made while the stream was down shows.
    browser.wait_level("nightly-job", "healthy").await;
    // And the stream goes on: a failure now shows without a reload.
    assert_eq!(daemon.post("/ping/nightly-job/fail", "").await.status, 200);
    browser.wait_level("nightly-job", "failed").await;
    let same = browser.run("return window.__sameDocument;", json!([])).await;
    assert_eq!(same, json!("yes"), "the page was reloaded instead of updated in place");
    browser.quit().await;
}

/// Names and texts from YAML files and the inbox are shown as text, on the first render and
/// after a live refresh: nothing in them runs or becomes markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_entity_name_stays_text() {
    const HOSTILE: &str = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">";
    let workspace = Workspace::new();
    let name = serde_json::to_string(HOSTILE).expect("a YAML string");
    workspace.write("desired/routines.yaml", &routine("hostile", "1h", "5m", &format!("name: {name}\n")));
    let daemon = Daemon::start(&workspace).await;
    cli(&workspace, &["inbox", "add", "<b>bold</b><iframe src=\"/metrics\"></iframe>"]);

    let page = daemon.get("/mission-control").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>window"), "the name was not escaped");
    assert!(page.body.contains("&lt;script&gt;window.__pwned = 1&lt;/script&gt;&lt;img"), "{}", page.body);
    assert!(!page.body.contains("<iframe"), "the inbox text was not escaped");

    let browser = Browser::start(PHONE.0, PHONE.1).await;
    browser.goto(&daemon.url("/mission-control")).await;
    browser
        .wait(
            "the page to go live",
            "return document.getElementById('live').dataset.state === 'live';",
            json!([]),
        )
        .await;
    let check = "return { text: document.body.textContent.includes(arguments[0]), \
                 pwned: window.__pwned === undefined ? null : window.__pwned, \
                 scripts: document.scripts.length, imgs: document.images.length, \
                 iframes: document.querySelectorAll('iframe').length };";
    let seen = browser.run(check, json!([HOSTILE])).await;
    assert_eq!(seen["text"], json!(true), "the name is not shown as text: {seen}");
    assert_eq!(
        (&seen["pwned"], &seen["scripts"], &seen["imgs"], &seen["iframes"]),
        (&json!(null), &json!(1), &json!(0), &json!(0)),
        "{seen}"
    );
    // After a live refresh (a ping makes it healthy) it is still text.
    assert_eq!(daemon.post("/ping/hostile", "").await.status, 200);
    browser.wait_level("hostile", "healthy").await;
    let seen = browser.run(check, json!([HOSTILE])).await;
    assert_eq!(seen["text"], json!(true), "{seen}");
    assert_eq!(
        (&seen["pwned"], &seen["scripts"], &seen["imgs"], &seen["iframes"]),
        (&json!(null), &json!(1), &json!(0), &json!(0)),
        "{seen}"
    );
    browser.quit().await;
}

/// The page and its assets over plain HTTP: the safe headers, the content types and caching of
/// the assets, no form, no inline script, and `?min_seq=` to read a page that has folded a
/// given event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_read_only_with_safe_headers() {
    let workspace = Workspace::new();
    workspace.write("desired/routines.yaml", &routine("backup", "1h", "5m", "name: Backup\n"));
    let daemon = Daemon::start(&workspace).await;
    let response =
        daemon.client.get(daemon.url("/mission-control")).send().await.expect("GET /mission-control");
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    };
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    let csp = header("content-security-policy");
    for directive in
        ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'none'"]
    {
        assert!(csp.contains(directive), "CSP {csp:?} lacks {directive:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    let body = response.text().await.expect("body");
    assert!(body.len() < 200_000, "{} bytes", body.len());
    assert!(body.contains("Backup"));
    assert!(!body.to_lowercase().contains("<form"), "the page holds a form");
    for (i, script) in body.match_indices("<script").map(|(i, _)| &body[i..]).enumerate() {
        let tag = &script[..script.find('>').expect("a closed tag")];
        assert!(tag.contains(" src=\"/mission-control/assets/"), "script {i} is inline: {tag}");
        assert!(script[tag.len() + 1..].starts_with("</script>"), "script {i} has a body");
    }

    // The assets: named by their hash, typed, cached for a year, and nothing else there.
    let marker = "/mission-control/assets/dashboard-";
    let assets: Vec<&str> = body
        .match_indices(marker)
        .map(|(start, _)| &body[start..start + body[start..].find('"').expect("a quoted path")])
        .collect();
    for (ext, content_type) in [("css", "text/css; charset=utf-8"), ("js", "text/javascript; charset=utf-8")]
    {
        let path = assets.iter().find(|p| p.ends_with(&format!(".{ext}"))).expect("a linked asset");
        let asset = daemon.client.get(daemon.url(path)).send().await.expect("asset");
        assert_eq!(asset.status(), 200, "{path}");
        let get = |name: &str| {
            asset.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
        };
        assert_eq!(get("content-type"), content_type, "{path}");
        assert_eq!(get("cache-control"), "public, max-age=31536000, immutable", "{path}");
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
    }
    assert_eq!(daemon.get("/mission-control/assets/dashboard-0.js").await.status, 404);
    assert_eq!(daemon.get("/mission-control/assets/..%2fCargo.toml").await.status, 404);

    // Read your writes: a ping's seq as min_seq gives a page that shows it.
    let ping = daemon.client.post(daemon.url("/ping/backup")).send().await.expect("ping");
    let seq = ping.headers()["x-event-seq"].to_str().expect("seq").to_string();
    let page = daemon.get(&format!("/mission-control?min_seq={seq}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("data-seq=\"{seq}\"")) || page.body.contains("l-healthy"),
        "{}",
        page.body
    );
    assert_eq!(daemon.get("/mission-control?unknown=1").await.status, 400);
}
