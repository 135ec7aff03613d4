//! Alerting (SPEC section 11) as the owner meets it: the real binary in a temporary workspace
//! whose routine goes silent, judged by what its receivers get. The receivers are a recording
//! webhook and a fake Telegram Bot API on loopback ([`RecordingServer`]), and a real
//! Alertmanager (Debian package `prometheus-alertmanager`) that the test starts itself.
//!
//! Every workspace has `rules/`, so the built-in rules are not loaded: each test writes the
//! shipped health rules and the alert rule and receivers it needs. The routine pings every
//! second with one second of grace, so it turns stale two seconds after its last ping and a
//! test takes seconds. Once a test has healed it, a [`Pinger`] keeps it healthy.
//!
//! A routine never pinged is anchored at the daemon's start, so a start-up slower than two
//! seconds can make it stale (and notify) before the test's first ping. Such an episode is
//! not the test's: notices are judged by their `alert.starts_at`, which is at or after the
//! ping that started the test's episode.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use support::*;

/// How long a change driven by a ping may take to show ("at once", on a noisy machine).
const PROMPTLY: Duration = Duration::from_secs(3);
/// How long a change driven by timers, retries or another process may take.
const EVENTUALLY: Duration = Duration::from_secs(20);
/// How long a test watches for something that must not happen.
const QUIET: Duration = Duration::from_secs(4);

/// The shipped health rules; a workspace with `rules/` must bring its own.
const HEALTH_RULES: &str = include_str!("../rules/health.yaml");
const RULE: &str = "stale-or-failed";
/// Fast retries, so a test sees several attempts in seconds.
const RETRY: &str = "retry: {initial: 200ms, max: 1s, give_up_after: 5m}\n";
const TELEGRAM_OK: &str =
    r#"{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":12345,"type":"private"}}}"#;
const TELEGRAM_429: &str =
    r#"{"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{"retry_after":1}}"#;

fn ms(n: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::milliseconds(n)
}

fn secs(n: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(n)
}

// ---------------------------------------------------------------------------------------------
// Workspaces

fn alert_rule(receivers: &[&str]) -> String {
    format!(
        "kind: AlertRule\nid: {RULE}\nmatch:\n  level: [stale, failed]\nfor: 0s\nrepeat_interval: 4h\n\
         send_resolved: true\nreceivers: [{}]\n",
        receivers.join(", ")
    )
}

fn webhook_receiver(id: &str, url: &str, credential: Option<&str>) -> String {
    let credential = credential.map(|c| format!("  credential: {c}\n")).unwrap_or_default();
    format!("kind: Receiver\nid: {id}\nwebhook:\n  url: \"{url}\"\n{credential}{RETRY}")
}

fn alertmanager_receiver(id: &str, url: &str) -> String {
    format!("kind: Receiver\nid: {id}\nalertmanager:\n  url: \"{url}\"\n{RETRY}")
}

fn telegram_receiver(id: &str, api_base: &str) -> String {
    format!(
        "kind: Receiver\nid: {id}\ntelegram:\n  credential: tg_bot\n  chat_id: 12345\n  api_base: \"{api_base}\"\n{RETRY}"
    )
}

fn log_receiver(id: &str) -> String {
    format!("kind: Receiver\nid: {id}\nlog: {{}}\n")
}

/// A silence of `routine/id` for a day.
fn silence(id: &str, routine_id: &str) -> String {
    let expires = (Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    format!("kind: Silence\nid: {id}\nmatch:\n  id: [{routine_id}]\nexpires: \"{expires}\"\nreason: test\n")
}

/// A workspace watching routine `routine_id` (every 1s, grace 1s) with the shipped health
/// rules and `stale-or-failed` alerting the `receivers` (id, document); `desired` documents
/// join the routine.
fn alerting_workspace(routine_id: &str, receivers: &[(&str, String)], desired: &[String]) -> Workspace {
    let workspace = Workspace::new();
    workspace.write("rules/health.yaml", HEALTH_RULES);
    let ids: Vec<&str> = receivers.iter().map(|(id, _)| *id).collect();
    let mut rules = vec![alert_rule(&ids)];
    rules.extend(receivers.iter().map(|(_, document)| document.clone()));
    workspace.write("rules/alerts.yaml", &documents(&rules));
    let mut docs = vec![routine(routine_id, "1s", "1s", "")];
    docs.extend_from_slice(desired);
    workspace.write("desired/routines.yaml", &documents(&docs));
    workspace
}

fn outbox_dir(workspace: &Workspace) -> PathBuf {
    workspace.state_dir().join("outbox")
}

/// The queued notifications: `state/outbox/*.json`, with their text.
fn outbox_files(workspace: &Workspace) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(outbox_dir(workspace)) else { return Vec::new() };
    let mut files: Vec<(PathBuf, String)> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "json"))
        .filter_map(|path| std::fs::read_to_string(&path).ok().map(|text| (path, text)))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------------
// Pings

/// Pings `routine/id` over HTTP and returns the instant the daemon recorded (`last_signal`).
async fn ping(daemon: &Daemon, id: &str) -> DateTime<Utc> {
    let sent = now();
    let reply = daemon.post(&format!("/ping/{id}"), "").await;
    assert_eq!(reply.status, 200, "POST /ping/{id}: {}", reply.body);
    wait_for(PROMPTLY, &format!("the ping of routine/{id} in live state"), async || {
        let entity = daemon.entity("routine", id).await?;
        time_field(&entity, "last_signal").filter(|t| *t >= sent - ms(5))
    })
    .await
}

/// Keeps a routine healthy by pinging it every 500 ms until dropped.
struct Pinger(tokio::task::JoinHandle<()>);

impl Pinger {
    fn start(daemon: &Daemon, id: &str) -> Pinger {
        let (client, url) = (daemon.client.clone(), daemon.url(&format!("/ping/{id}")));
        Pinger(tokio::spawn(async move {
            loop {
                let _ = client.post(&url).send().await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }))
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook notices

/// A webhook notification as the fake receiver got it.
#[derive(Debug, Clone)]
struct Notice {
    request: Recorded,
    body: Value,
}

impl Notice {
    fn status(&self) -> &str {
        self.body["status"].as_str().unwrap_or("")
    }

    fn notification_id(&self) -> &str {
        self.body["notification_id"].as_str().unwrap_or("")
    }
}

/// The webhook notices about `routine/id` of the episode that started at or after `since`
/// (see the module documentation), oldest first. Panics on a body that is not JSON.
fn notices(server: &RecordingServer, id: &str, since: DateTime<Utc>) -> Vec<Notice> {
    server
        .requests()
        .into_iter()
        .map(|request| Notice { body: request.json(), request })
        .filter(|n| n.body["alert"]["entity_id"] == id)
        .filter(|n| time_field(&n.body["alert"], "starts_at").is_none_or(|t| t >= since - ms(10)))
        .collect()
}

fn with_status<'a>(notices: &'a [Notice], status: &str) -> Vec<&'a Notice> {
    notices.iter().filter(|n| n.status() == status).collect()
}

/// Waits until the episode since `since` has a notice with `status` answered with `answered`.
async fn wait_notice(
    server: &RecordingServer,
    id: &str,
    since: DateTime<Utc>,
    status: &str,
    answered: u16,
    timeout: Duration,
) -> Notice {
    let what = format!("a {status} webhook about routine/{id} answered {answered}");
    let found = try_wait_for(timeout, async || {
        notices(server, id, since)
            .into_iter()
            .find(|n| n.status() == status && n.request.answered == answered)
    })
    .await;
    found.unwrap_or_else(|| {
        panic!("timed out after {timeout:?} waiting for {what}; got: {:#?}", bodies(server))
    })
}

/// Every body the server got, for failure messages.
fn bodies(server: &RecordingServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .map(|r| format!("{} {} -> {}: {}", r.method, r.path, r.answered, r.body))
        .collect()
}

/// Says so when a slow start-up made an episode before the test's own (which is then ignored).
fn note_earlier_episodes(server: &RecordingServer, id: &str, since: DateTime<Utc>) {
    let all = server.requests().len();
    let ours = notices(server, id, since).len();
    if all > ours {
        eprintln!("note: {} notice(s) of an episode before the test's first ping were ignored", all - ours);
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> =
        value.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    keys.sort_unstable();
    keys
}

/// Checks a webhook body against the format of SPEC section 11, key for key.
fn assert_webhook_format(notice: &Notice, status: &str, receiver: &str, entity_id: &str) {
    let body = &notice.body;
    assert_eq!(
        keys(body),
        ["alert", "notification_id", "receiver", "sent_at", "status", "version"],
        "top-level keys: {body:#}"
    );
    assert_eq!(body["version"], "1", "{body:#}");
    assert_eq!(body["receiver"], receiver, "{body:#}");
    assert_eq!(body["status"], status, "{body:#}");
    assert!(!notice.notification_id().is_empty(), "notification_id: {body:#}");
    let alert = &body["alert"];
    assert_eq!(
        keys(alert),
        [
            "ends_at",
            "entity_id",
            "entity_type",
            "id",
            "labels",
            "level",
            "message",
            "previous_level",
            "reason",
            "rule",
            "starts_at"
        ],
        "alert keys: {body:#}"
    );
    assert_eq!(alert["id"], format!("{RULE}/routine/{entity_id}"), "{body:#}");
    assert_eq!(alert["rule"], RULE, "{body:#}");
    assert_eq!(alert["entity_type"], "routine", "{body:#}");
    assert_eq!(alert["entity_id"], entity_id, "{body:#}");
    assert!(alert["level"].is_string(), "level: {body:#}");
    assert!(alert["previous_level"].is_string(), "previous_level: {body:#}");
    assert!(alert["reason"].is_string(), "reason: {body:#}");
    assert!(alert["message"].as_str().is_some_and(|m| !m.is_empty()), "message: {body:#}");
    assert_eq!(alert["labels"], serde_json::json!({}), "a routine without labels: {body:#}");
    let starts_at = time_field(alert, "starts_at").unwrap_or_else(|| panic!("starts_at: {body:#}"));
    let sent_at = time_field(body, "sent_at").unwrap_or_else(|| panic!("sent_at: {body:#}"));
    assert!(sent_at >= starts_at - ms(10), "sent_at {sent_at} before starts_at {starts_at}");
    assert!(sent_at <= notice.request.at + ms(10), "sent_at {sent_at} after it was received");
    match status {
        "firing" => assert!(alert["ends_at"].is_null(), "a firing alert has no end: {body:#}"),
        _ => {
            let ends_at = time_field(alert, "ends_at")
                .unwrap_or_else(|| panic!("ends_at of a resolved alert: {body:#}"));
            assert!(ends_at >= starts_at, "ends_at {ends_at} before starts_at {starts_at}");
            assert!(ends_at <= notice.request.at + ms(10), "ends_at {ends_at} after it was received");
        }
    }
    let content_type = notice.request.header("content-type").unwrap_or("");
    assert!(content_type.starts_with("application/json"), "content-type {content_type:?}");
    assert_eq!(notice.request.method, "POST", "{:?}", notice.request);
    assert_eq!(notice.request.path, "/hook", "{:?}", notice.request);
}

fn events_of(workspace: &Workspace, kind: &str, entity_id: &str) -> Vec<Value> {
    workspace
        .events(Tail::MayBeTorn)
        .into_iter()
        .filter(|e| is_event(e, kind, "routine", entity_id))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. One firing webhook on time, one resolved after the ping

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_routine_fires_one_webhook_within_a_second_of_its_deadline_and_resolves_once() {
    let hook = RecordingServer::start(200, "");
    let workspace =
        alerting_workspace("r", &[("hook", webhook_receiver("hook", &hook.url("/hook"), None))], &[]);
    let daemon = Daemon::start(&workspace).await;

    let pinged = ping(&daemon, "r").await;
    let deadline = pinged + secs(2);
    let firing = wait_notice(&hook, "r", pinged, "firing", 200, EVENTUALLY).await;
    let received = firing.request.at;
    assert!(received >= deadline - ms(10), "fired at {received}, before the deadline {deadline}");
    assert!(
        received <= deadline + secs(1) + ms(500),
        "fired {:.3}s after the deadline {deadline}; the contract is within 1s (+0.5s slack)",
        secs_between(received, deadline)
    );
    assert_webhook_format(&firing, "firing", "hook", "r");
    let alert = &firing.body["alert"];
    assert_eq!(alert["level"], "stale", "{alert:#}");
    assert_eq!(alert["previous_level"], "healthy", "{alert:#}");
    assert_eq!(alert["reason"], "Overdue", "{alert:#}");
    let starts_at = time_field(alert, "starts_at").expect("starts_at");
    assert!(
        starts_at >= deadline - ms(10) && starts_at <= received,
        "starts_at {starts_at}, deadline {deadline}"
    );

    let healed = ping(&daemon, "r").await;
    let _pinger = Pinger::start(&daemon, "r");
    let resolved = wait_notice(&hook, "r", pinged, "resolved", 200, EVENTUALLY).await;
    assert_webhook_format(&resolved, "resolved", "hook", "r");
    assert_eq!(resolved.body["alert"]["id"], alert["id"], "the same alert");
    assert_eq!(resolved.body["alert"]["starts_at"], alert["starts_at"], "the same episode");
    assert_ne!(resolved.notification_id(), firing.notification_id(), "a new notification");
    let ends_at = time_field(&resolved.body["alert"], "ends_at").expect("ends_at");
    assert!(ends_at >= healed - ms(10), "ends_at {ends_at} is not before the healing ping {healed}");

    tokio::time::sleep(QUIET).await;
    let ours = notices(&hook, "r", pinged);
    let statuses: Vec<&str> = ours.iter().map(Notice::status).collect();
    assert_eq!(statuses, ["firing", "resolved"], "exactly one of each: {:#?}", bodies(&hook));
    note_earlier_episodes(&hook, "r", pinged);
    assert!(hook.requests().iter().all(|r| r.method == "POST" && r.path == "/hook"), "{:#?}", bodies(&hook));

    // The event log tells the same story.
    let alert_id = format!("{RULE}/routine/r");
    let fired: Vec<Value> = events_of(&workspace, "alert.firing", "r")
        .into_iter()
        .filter(|e| event_time(e) >= deadline - ms(10))
        .collect();
    assert_eq!(fired.len(), 1, "one alert.firing for the episode: {fired:#?}");
    assert_eq!(fired[0]["data"]["alert_id"], alert_id.as_str(), "{:#}", fired[0]);
    assert_eq!(fired[0]["data"]["silenced"], false, "{:#}", fired[0]);
    assert_eq!(fired[0]["data"]["inhibited"], false, "{:#}", fired[0]);
    let resolved_events: Vec<Value> = events_of(&workspace, "alert.resolved", "r")
        .into_iter()
        .filter(|e| event_time(e) >= healed - ms(10))
        .collect();
    assert_eq!(resolved_events.len(), 1, "one alert.resolved: {resolved_events:#?}");
    for notice in [&firing, &resolved] {
        wait_for_event(&workspace, PROMPTLY, "alert.delivered for the notice", |e| {
            e["type"] == "alert.delivered"
                && e["data"]["notification_id"] == notice.notification_id()
                && e["data"]["receiver"] == "hook"
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. A restart while firing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_while_firing_sends_nothing_new() {
    let hook = RecordingServer::start(200, "");
    let workspace =
        alerting_workspace("r", &[("hook", webhook_receiver("hook", &hook.url("/hook"), None))], &[]);
    let daemon = Daemon::start(&workspace).await;

    let pinged = ping(&daemon, "r").await;
    let firing = wait_notice(&hook, "r", pinged, "firing", 200, EVENTUALLY).await;
    // Stop only once the delivery is on record: what was delivered must never be re-sent.
    wait_for_event(&workspace, PROMPTLY, "alert.delivered of the firing notice", |e| {
        e["type"] == "alert.delivered" && e["data"]["notification_id"] == firing.notification_id()
    })
    .await;
    daemon.stop().await;

    let restarted = now();
    let daemon = Daemon::start(&workspace).await;
    daemon.wait_health("routine", "r", "stale", PROMPTLY).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let ours = notices(&hook, "r", pinged);
    assert_eq!(
        with_status(&ours, "firing").len(),
        1,
        "still exactly one firing webhook: {:#?}",
        bodies(&hook)
    );
    assert_eq!(with_status(&ours, "resolved").len(), 0, "nothing resolved: {:#?}", bodies(&hook));
    let sent_after_restart: Vec<String> =
        hook.requests().into_iter().filter(|r| r.at >= restarted).map(|r| r.body).collect();
    assert!(sent_after_restart.is_empty(), "the restarted daemon sent: {sent_after_restart:#?}");
    assert!(daemon.entity("routine", "r").await.is_some_and(|e| e["health"] == "stale"), "still stale");
}

// ---------------------------------------------------------------------------------------------
// 3. A receiver down across a restart

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_for_a_receiver_down_across_a_restart_is_delivered_once_it_is_back() {
    let hook = RecordingServer::start(200, "");
    let workspace =
        alerting_workspace("r", &[("hook", webhook_receiver("hook", &hook.url("/hook"), None))], &[]);
    let daemon = Daemon::start(&workspace).await;

    let pinged = ping(&daemon, "r").await;
    // Down from now on (an earlier episode, see the module documentation, got through).
    hook.answer(503, "down");
    let failed_attempts = wait_for(EVENTUALLY, "two failed attempts of the firing notice", async || {
        let failed: Vec<Notice> =
            notices(&hook, "r", pinged).into_iter().filter(|n| n.request.answered == 503).collect();
        (failed.len() >= 2).then_some(failed)
    })
    .await;
    let id = failed_attempts[0].notification_id().to_owned();
    assert!(!id.is_empty(), "{:#}", failed_attempts[0].body);
    for attempt in &failed_attempts {
        assert_eq!(attempt.status(), "firing", "{:#}", attempt.body);
        assert_eq!(attempt.notification_id(), id, "a retried notification keeps its id");
    }
    daemon.stop().await;

    let queued = outbox_files(&workspace);
    assert!(
        queued.iter().any(|(_, text)| text.contains(&id)),
        "state/outbox/ holds notification {id} after the stop: {queued:#?}"
    );
    let attempts_before_restart = hook.requests().len();

    hook.answer(200, "");
    let daemon = Daemon::start(&workspace).await;
    let delivered = wait_notice(&hook, "r", pinged, "firing", 200, EVENTUALLY).await;
    assert_eq!(delivered.notification_id(), id, "the queued notification, by its id");
    assert_webhook_format(&delivered, "firing", "hook", "r");
    wait_for_event(&workspace, PROMPTLY, "alert.delivered of the queued notification", |e| {
        e["type"] == "alert.delivered"
            && e["data"]["notification_id"] == id.as_str()
            && e["data"]["receiver"] == "hook"
    })
    .await;
    wait_for(PROMPTLY, "an empty outbox", async || outbox_files(&workspace).is_empty().then_some(())).await;

    tokio::time::sleep(Duration::from_secs(2)).await;
    let ours = notices(&hook, "r", pinged);
    let successes: Vec<&Notice> = ours.iter().filter(|n| n.request.answered == 200).collect();
    assert_eq!(successes.len(), 1, "exactly one successful delivery: {:#?}", bodies(&hook));
    assert!(ours.iter().all(|n| n.status() == "firing" && n.notification_id() == id), "{:#?}", bodies(&hook));
    assert!(hook.requests().len() > attempts_before_restart, "delivered after the restart");
    assert!(outbox_files(&workspace).is_empty(), "the outbox stays empty: {:#?}", outbox_files(&workspace));
    drop(daemon);
}

// ---------------------------------------------------------------------------------------------
// 4. A silence

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_holds_the_notification_back_and_the_log_records_it() {
    let hook = RecordingServer::start(200, "");
    let workspace = alerting_workspace(
        "r",
        &[("hook", webhook_receiver("hook", &hook.url("/hook"), None))],
        &[silence("s", "r")],
    );
    let daemon = Daemon::start(&workspace).await;

    let pinged = ping(&daemon, "r").await;
    let deadline = pinged + secs(2);
    daemon.wait_health("routine", "r", "stale", EVENTUALLY).await;
    let fired = wait_for_event(&workspace, PROMPTLY, "alert.firing marked silenced", |e| {
        is_event(e, "alert.firing", "routine", "r") && event_time(e) >= deadline - ms(10)
    })
    .await;
    assert_eq!(fired["data"]["silenced"], true, "{fired:#}");
    assert_eq!(fired["data"]["alert_id"], format!("{RULE}/routine/r"), "{fired:#}");

    let quiet_until = Instant::now() + QUIET;
    while Instant::now() < quiet_until {
        assert!(hook.requests().is_empty(), "a silenced alert notified: {:#?}", bodies(&hook));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(hook.requests().is_empty(), "a silenced alert notified: {:#?}", bodies(&hook));
}

// ---------------------------------------------------------------------------------------------
// 5. A real Alertmanager

/// A real Alertmanager on a free loopback port with a null receiver, killed on drop.
struct Alertmanager {
    child: Child,
    base: String,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts it and waits for `/-/ready`; panics (failing the test) when it cannot. A port
    /// taken between choosing and binding it is retried with another.
    async fn start() -> Alertmanager {
        let binary = alertmanager_binary();
        let client = http_client();
        let mut last_error = String::new();
        for _ in 0..3 {
            let dir =
                tempfile::Builder::new().prefix("mc-alertmanager-").tempdir().expect("temporary folder");
            let config = dir.path().join("alertmanager.yml");
            std::fs::write(&config, "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
                .expect("write the Alertmanager configuration");
            let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("create its log");
            let port = free_port();
            let child = Command::new(&binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut am =
                Alertmanager { child, base: format!("http://127.0.0.1:{port}"), client: client.clone(), dir };
            match am.wait_ready(Duration::from_secs(30)).await {
                Ok(()) => return am,
                Err(e) => last_error = format!("{e}\n{}", am.log()),
            }
        }
        panic!("Alertmanager did not start: {last_error}");
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Err(format!("it exited with {status}"));
            }
            if let Ok(response) = self.client.get(format!("{}/-/ready", self.base)).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("/-/ready not 200 within {timeout:?}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// `GET /api/v2/alerts` (by default active, silenced, inhibited and unprocessed ones).
    async fn alerts(&self) -> Vec<Value> {
        let response = self
            .client
            .get(format!("{}/api/v2/alerts", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /api/v2/alerts: {e}"));
        assert_eq!(response.status(), reqwest::StatusCode::OK, "GET /api/v2/alerts");
        let text = response.text().await.expect("read the alerts");
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("alerts are not JSON: {e}\n{text}"));
        body.as_array().cloned().unwrap_or_else(|| panic!("alerts are a list: {body}"))
    }

    /// The alerts of `stale-or-failed` about `routine/id`.
    async fn alerts_about(&self, id: &str) -> Vec<Value> {
        self.alerts()
            .await
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == RULE && a["labels"]["entity_id"] == id)
            .collect()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- Alertmanager log ---\n{}", self.log());
        }
    }
}

/// Whether Alertmanager holds the alert as active: not ended, state active.
fn is_active(alert: &Value) -> bool {
    let ended = time_field(alert, "endsAt").is_some_and(|t| t <= now());
    !ended && alert["status"]["state"] == "active"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_alertmanager_shows_the_alert_active_then_resolved() {
    let alertmanager = Alertmanager::start().await;
    let workspace = alerting_workspace("r", &[("am", alertmanager_receiver("am", &alertmanager.base))], &[]);
    let daemon = Daemon::start(&workspace).await;

    let pinged = ping(&daemon, "r").await;
    let mut seen = Vec::new();
    let active = try_wait_for(EVENTUALLY, async || {
        seen = alertmanager.alerts_about("r").await;
        seen.iter()
            .find(|a| is_active(a) && time_field(a, "startsAt").is_some_and(|t| t >= pinged - ms(10)))
            .cloned()
    })
    .await
    .unwrap_or_else(|| panic!("no active alert about routine/r in Alertmanager; it holds: {seen:#?}"));
    let labels = &active["labels"];
    assert_eq!(labels["alertname"], RULE, "{active:#}");
    assert_eq!(labels["entity_type"], "routine", "{active:#}");
    assert_eq!(labels["entity_id"], "r", "{active:#}");
    assert_eq!(labels["level"], "stale", "{active:#}");

    ping(&daemon, "r").await;
    let _pinger = Pinger::start(&daemon, "r");
    let resolved = try_wait_for(EVENTUALLY, async || {
        seen = alertmanager.alerts_about("r").await;
        (!seen.iter().any(is_active)).then_some(())
    })
    .await;
    assert!(resolved.is_some(), "the alert is still active in Alertmanager after the ping: {seen:#?}");
}

// ---------------------------------------------------------------------------------------------
// 6. Telegram

/// A fake Telegram bot token assembled at run time (digits, a colon, 35 characters), so no
/// literal secret sits in the repository.
fn planted_telegram_token() -> String {
    let mut token = "57".repeat(4);
    token.push('3');
    token.push(':');
    token.push_str("AAF");
    token.push_str(&"q9ZxW3vK".repeat(4));
    token
}

fn send_message_path(token: &str) -> String {
    format!("/bot{token}/sendMessage")
}

/// The `sendMessage` calls the fake Bot API got.
fn telegram_messages(server: &RecordingServer, token: &str) -> Vec<Recorded> {
    let path = send_message_path(token);
    server.requests().into_iter().filter(|r| r.method == "POST" && r.path == path).collect()
}

fn assert_chat_id(body: &Value) {
    let chat_id = &body["chat_id"];
    assert!(chat_id == 12345 || chat_id == "12345", "chat_id 12345: {body:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_bot_api_receives_the_message() {
    let telegram = RecordingServer::start(200, TELEGRAM_OK);
    let token = planted_telegram_token();
    let workspace =
        alerting_workspace("nightly-backup", &[("tg", telegram_receiver("tg", &telegram.base))], &[]);
    let daemon = Daemon::start_with_env(&workspace, &[("MC_CRED_TG_BOT", &token)]).await;

    ping(&daemon, "nightly-backup").await;
    let message = wait_for(EVENTUALLY, "a sendMessage about the stale routine", async || {
        telegram_messages(&telegram, &token).into_iter().find(|r| r.body.to_lowercase().contains("stale"))
    })
    .await;
    let body = message.json();
    assert_chat_id(&body);
    let text = body["text"].as_str().unwrap_or_else(|| panic!("text: {body:#}"));
    assert!(text.contains("nightly-backup"), "the text names the routine: {text}");
    assert!(text.to_lowercase().contains("stale"), "the text says stale: {text}");
    assert!(text.chars().count() < 4096, "{} characters", text.chars().count());
    let all = telegram.requests();
    assert!(
        all.iter().all(|r| r.path == send_message_path(&token)),
        "only sendMessage: {:?}",
        all.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    wait_for_event(&workspace, PROMPTLY, "alert.delivered to tg", |e| {
        e["type"] == "alert.delivered" && e["data"]["receiver"] == "tg"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_429_is_retried_no_sooner_than_retry_after() {
    let telegram = RecordingServer::start(200, TELEGRAM_OK);
    telegram.answer_once(429, TELEGRAM_429);
    let token = planted_telegram_token();
    let workspace =
        alerting_workspace("nightly-backup", &[("tg", telegram_receiver("tg", &telegram.base))], &[]);
    let daemon = Daemon::start_with_env(&workspace, &[("MC_CRED_TG_BOT", &token)]).await;

    ping(&daemon, "nightly-backup").await;
    let (refused, retried) = wait_for(EVENTUALLY, "a 429 and the attempt after it", async || {
        let messages = telegram_messages(&telegram, &token);
        (messages.len() >= 2).then(|| (messages[0].clone(), messages[1].clone()))
    })
    .await;
    assert_eq!(refused.answered, 429, "the first call was refused");
    let gap = retried.instant.duration_since(refused.instant);
    assert!(
        gap >= Duration::from_secs(1),
        "retried {gap:?} after a 429 with retry_after 1 (retry.initial is 200ms)"
    );
    assert_eq!(retried.answered, 200, "the retry succeeds");
    assert_eq!(retried.body, refused.body, "the same message is retried");
    assert_chat_id(&retried.json());
    wait_for_event(&workspace, PROMPTLY, "alert.delivered to tg", |e| {
        e["type"] == "alert.delivered" && e["data"]["receiver"] == "tg"
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 7. Secrets on no surface

/// Every regular file under `dir`, recursively, with its bytes as text.
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files.push((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    files.sort();
    files
}

/// Panics naming the surface and the secret when `text` contains any of `secrets`.
fn assert_no_secret(surface: &str, text: &str, secrets: &[(&str, &str)]) {
    for (name, secret) in secrets {
        assert!(!text.contains(secret), "{name} leaked into {surface}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_appear_on_no_surface() {
    let tg_token = planted_telegram_token();
    let tg_secret_half = tg_token.split_once(':').expect("a bot token has a colon").1.to_owned();
    let hook_token = planted_sk_key();
    let secrets = [
        ("the Telegram token", tg_token.as_str()),
        ("its secret half", &tg_secret_half),
        ("the webhook key", &hook_token),
    ];

    let hook = RecordingServer::start(200, "");
    let telegram = RecordingServer::start(200, TELEGRAM_OK);
    let workspace = alerting_workspace(
        "r",
        &[
            ("hook", webhook_receiver("hook", &hook.url("/hook"), Some("hook_token"))),
            ("tg", telegram_receiver("tg", &telegram.base)),
            ("log", log_receiver("log")),
        ],
        &[],
    );
    let env = [
        ("MC_CRED_TG_BOT", tg_token.as_str()),
        ("MC_CRED_HOOK_TOKEN", &hook_token),
        ("RUST_LOG", "info,mission_control=debug"),
    ];
    let daemon = Daemon::start_with_env(&workspace, &env).await;
    let mut surfaces: Vec<(String, String)> = Vec::new();

    // Firing, with the webhook down so the notification waits in the outbox.
    let pinged = ping(&daemon, "r").await;
    hook.answer(503, "down");
    wait_for(EVENTUALLY, "a failed webhook attempt", async || {
        notices(&hook, "r", pinged).into_iter().find(|n| n.request.answered == 503)
    })
    .await;
    let queued = outbox_files(&workspace);
    assert!(!queued.is_empty(), "a notification waits in state/outbox/ while the webhook is down");
    let firing_files = files_under(&workspace.state_dir());
    assert!(
        firing_files.iter().any(|(path, _)| path.ends_with("state/alerts.json")),
        "state/alerts.json while firing: {:?}",
        firing_files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    surfaces
        .extend(firing_files.into_iter().map(|(path, text)| (format!("{} (firing)", path.display()), text)));
    surfaces.push(("/api/v1/state (firing)".into(), daemon.get("/api/v1/state").await.body));
    surfaces.push(("/metrics (firing)".into(), daemon.metrics().await));

    hook.answer(200, "");
    wait_notice(&hook, "r", pinged, "firing", 200, EVENTUALLY).await;
    wait_for(EVENTUALLY, "the Telegram message", async || {
        telegram_messages(&telegram, &tg_token).into_iter().find(|r| r.answered == 200)
    })
    .await;

    // Resolved.
    let healed = ping(&daemon, "r").await;
    let _pinger = Pinger::start(&daemon, "r");
    wait_notice(&hook, "r", pinged, "resolved", 200, EVENTUALLY).await;
    wait_for_event(&workspace, EVENTUALLY, "alert.delivered of the resolved notice to tg", |e| {
        e["type"] == "alert.delivered" && e["data"]["receiver"] == "tg" && event_time(e) >= healed - ms(10)
    })
    .await;
    for path in
        ["/api/v1/state", "/metrics", "/api/v1/events", "/mission-control", "/api/v1/entities/routine/r"]
    {
        surfaces.push((path.to_owned(), daemon.get(path).await.body));
    }
    drop(_pinger);
    let daemon_stdout_stderr = {
        let mut daemon = daemon;
        daemon.sigterm();
        daemon.wait_exit(STOP_TIMEOUT).await;
        (daemon.stdout_all(), daemon.stderr_all())
    };

    for required in ["events.jsonl", "mission-control.json"] {
        assert!(workspace.state_dir().join(required).is_file(), "state/{required} exists");
    }
    surfaces
        .extend(files_under(&workspace.state_dir()).into_iter().map(|(p, t)| (p.display().to_string(), t)));
    assert!(
        daemon_stdout_stderr.1.contains(&format!("{RULE}/routine/r")),
        "the log receiver's notices are in the captured stderr (else that surface was not checked)"
    );
    surfaces.push(("the daemon's stdout".into(), daemon_stdout_stderr.0));
    surfaces.push(("the daemon's stderr".into(), daemon_stdout_stderr.1));
    for request in hook.requests() {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {hook_token}").as_str()),
            "the webhook carries its credential as a bearer token"
        );
        surfaces.push((format!("a webhook body ({})", request.answered), request.body.clone()));
        surfaces.push(("a webhook path".into(), request.path.clone()));
        let other_headers: Vec<String> = request
            .headers
            .iter()
            .filter(|(name, _)| name != "authorization")
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        surfaces.push(("the webhook's other headers".into(), other_headers.join("\n")));
    }
    for request in telegram.requests() {
        surfaces.push(("a Telegram body".into(), request.body.clone()));
    }
    for (surface, text) in &surfaces {
        assert_no_secret(surface, text, &secrets);
    }
}

// ---------------------------------------------------------------------------------------------
// The harness additions themselves

mod harness {
    use super::support::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn recording_server_records_requests_and_answers_queued_then_standing() {
        let server = RecordingServer::start(200, "{\"ok\":true}");
        server.answer_once(429, "slow down");
        let client = http_client();
        let first = client
            .post(server.url("/a?b=1"))
            .header("Authorization", "Bearer x")
            .body("{\"n\":1}")
            .send()
            .await
            .expect("first request");
        assert_eq!(first.status().as_u16(), 429);
        assert_eq!(first.text().await.expect("body"), "slow down");
        let second = client.post(server.url("/a")).body("two").send().await.expect("second request");
        assert_eq!(second.status().as_u16(), 200);
        assert_eq!(second.headers()["content-type"], "application/json");
        server.answer(503, "");
        let third = client.get(server.url("/c")).send().await.expect("third request");
        assert_eq!(third.status().as_u16(), 503);

        let requests = server.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!((requests[0].method.as_str(), requests[0].path.as_str()), ("POST", "/a?b=1"));
        assert_eq!(requests[0].header("authorization"), Some("Bearer x"));
        assert_eq!(requests[0].json()["n"], 1);
        assert_eq!(requests[1].body, "two");
        assert_eq!(
            requests.iter().map(|r| r.answered).collect::<Vec<_>>(),
            [429, 200, 503],
            "what each was answered"
        );
        assert!(requests[0].instant <= requests[1].instant && requests[0].at <= requests[2].at);
        assert!(requests[2].body.is_empty());
    }

    #[test]
    fn tee_keeps_everything_read_through_it() {
        use std::io::Read;
        let capture = Capture::default();
        let mut reader = capture.tee(std::io::Cursor::new(b"listening on x\nmore".to_vec()));
        let mut text = String::new();
        reader.read_to_string(&mut text).expect("read");
        assert_eq!(capture.text(), text);
    }
}
