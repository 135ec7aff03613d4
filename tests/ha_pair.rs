//! A highly available pair, as the README's "Running a highly available pair" deploys it: two
//! daemons, each on its own copy of the same desired state and rules with its own `state/`,
//! both sending every alert to both nodes of a two-node Alertmanager cluster (Debian package
//! `prometheus-alertmanager`, started by the test, its nodes gossiping on loopback). The
//! cluster routes to a recording webhook, so the test sees what a person would be paged with.
//!
//! Each daemon notifies each node, so every alert reaches the cluster four times. Alertmanager
//! knows an alert by its label set, which the daemons build from the configuration alone (no
//! host, no start time), so the four copies are one alert; the node that is first in the
//! cluster's order notifies, and the other finds that notification in the log the nodes
//! gossip, so it stays quiet. The test proves exactly one notification per alert with both
//! daemons up, then kills one daemon with SIGKILL and proves the survivor's next alert also
//! arrives exactly once.
//!
//! Two routines make the two alerts: `lost` is never pinged, so both daemons find it stale two
//! seconds after they start; `late` is kept healthy on both by [`Pinger`]s until the kill and
//! left silent after it, so only the survivor sees it go stale.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use support::*;

/// How long a change driven by timers, retries or another process may take.
const EVENTUALLY: Duration = Duration::from_secs(30);
/// How long the two Alertmanager nodes may take to find each other and settle.
const FORMED: Duration = Duration::from_secs(60);

/// Alertmanager's grouping times: short, so a test takes seconds.
const GROUP_WAIT: Duration = Duration::from_secs(1);
const GROUP_INTERVAL: Duration = Duration::from_secs(2);
/// How long the second node in the cluster's order waits for the first one's notification to
/// reach it by gossip before it sends its own (Alertmanager's default is 15s). Gossip on
/// loopback takes milliseconds; five seconds leave room for a loaded machine.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the test watches for a second notification once every copy of an alert is in the
/// cluster: a node that missed the other's notification would send its own within
/// group_wait + peer_timeout of its first copy, and a later flush every group_interval; four
/// seconds more for a noisy machine.
const QUIET: Duration =
    Duration::from_secs(GROUP_WAIT.as_secs() + PEER_TIMEOUT.as_secs() + GROUP_INTERVAL.as_secs() + 4);

/// The shipped health rules; a workspace with `rules/` must bring its own.
const HEALTH_RULES: &str = include_str!("../rules/health.yaml");
const RULE: &str = "stale-or-failed";
/// The two Alertmanager nodes, by the id of the daemon's receiver that sends to each.
const NODES: [&str; 2] = ["am-a", "am-b"];

// ---------------------------------------------------------------------------------------------
// The Alertmanager cluster

/// The configuration of node `name`: everything to the recording webhook at `/{name}` (the
/// path says which node sent a notification), grouped per alert and entity.
fn alertmanager_config(hook: &RecordingServer, name: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: [alertname, entity_type, entity_id]\n  group_wait: {}s\n  \
         group_interval: {}s\n  repeat_interval: 4h\nreceivers:\n  - name: hook\n    webhook_configs:\n      \
         - url: \"{}\"\n        send_resolved: true\n",
        GROUP_WAIT.as_secs(),
        GROUP_INTERVAL.as_secs(),
        hook.url(&format!("/{name}"))
    )
}

/// One Alertmanager node on loopback, killed on drop.
struct Node {
    name: &'static str,
    child: Child,
    /// `http://127.0.0.1:PORT`: the API, and the URL of the daemons' receiver for this node.
    base: String,
    dir: tempfile::TempDir,
}

impl Node {
    /// Starts node `name` listening on `web` and gossiping on `gossip` with `peer`.
    fn spawn(name: &'static str, hook: &RecordingServer, web: u16, gossip: u16, peer: u16) -> Node {
        let binary = alertmanager_binary();
        let dir =
            tempfile::Builder::new().prefix(&format!("mc-ha-{name}-")).tempdir().expect("temporary folder");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, alertmanager_config(hook, name))
            .expect("write the Alertmanager configuration");
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("create its log");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .arg(format!("--cluster.listen-address=127.0.0.1:{gossip}"))
            .arg(format!("--cluster.peer=127.0.0.1:{peer}"))
            .arg(format!("--cluster.peer-timeout={}s", PEER_TIMEOUT.as_secs()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Node { name, child, base: format!("http://127.0.0.1:{web}"), dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// The cluster as this node sees it: its status (`settling`, `ready`) and how many peers,
    /// itself included; `None` while its API does not answer.
    async fn cluster(&self, client: &reqwest::Client) -> Option<(String, usize)> {
        let response = client.get(format!("{}/api/v2/status", self.base)).send().await.ok()?;
        let status: Value = serde_json::from_str(&response.text().await.ok()?).ok()?;
        let cluster = &status["cluster"];
        Some((cluster["status"].as_str()?.to_owned(), cluster["peers"].as_array()?.len()))
    }

    /// The alerts of `stale-or-failed` about `routine/id` this node holds.
    async fn alerts_about(&self, client: &reqwest::Client, id: &str) -> Vec<Value> {
        let url = format!("{}/api/v2/alerts", self.base);
        let response = client.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(response.status(), reqwest::StatusCode::OK, "GET {url}");
        let text = response.text().await.unwrap_or_else(|e| panic!("read GET {url}: {e}"));
        let alerts: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url} is not JSON: {e}\n{text}"));
        alerts
            .as_array()
            .unwrap_or_else(|| panic!("GET {url} is not a list: {alerts}"))
            .iter()
            .filter(|a| a["labels"]["alertname"] == RULE && a["labels"]["entity_id"] == id)
            .cloned()
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- log of Alertmanager node {} ({}) ---\n{}", self.name, self.base, self.log());
        }
    }
}

/// Two Alertmanager nodes gossiping with each other on loopback.
struct Cluster {
    nodes: [Node; 2],
    client: reqwest::Client,
}

impl Cluster {
    /// Starts both nodes, each naming the other as its peer, and waits until both see two
    /// members and have settled (before that a node holds its notifications back). Panics,
    /// failing the test, when that does not happen; ports taken between choosing and binding
    /// them are retried with others.
    async fn start(hook: &RecordingServer) -> Cluster {
        let client = http_client();
        let mut last_error = String::new();
        for _ in 0..3 {
            let (web, gossip) = ([free_port(), free_port()], [free_port(), free_port()]);
            let mut cluster = Cluster {
                nodes: [
                    Node::spawn(NODES[0], hook, web[0], gossip[0], gossip[1]),
                    Node::spawn(NODES[1], hook, web[1], gossip[1], gossip[0]),
                ],
                client: client.clone(),
            };
            match cluster.wait_formed().await {
                Ok(()) => return cluster,
                Err(e) => {
                    let logs: Vec<String> =
                        cluster.nodes.iter().map(|n| format!("--- {} ---\n{}", n.name, n.log())).collect();
                    last_error = format!("{e}\n{}", logs.join("\n"));
                }
            }
        }
        panic!("the Alertmanager cluster did not form: {last_error}");
    }

    /// Waits until both nodes see two members and have settled; an error says what each node
    /// saw last, or that one exited (a port taken by someone else, say).
    async fn wait_formed(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + FORMED;
        let mut seen = Vec::new();
        loop {
            for node in &mut self.nodes {
                if let Some(status) = node.child.try_wait().expect("try_wait") {
                    return Err(format!("node {} exited with {status}", node.name));
                }
            }
            seen.clear();
            for node in &self.nodes {
                seen.push((node.name, node.cluster(&self.client).await));
            }
            let formed = seen
                .iter()
                .all(|(_, c)| c.as_ref().is_some_and(|(status, peers)| status == "ready" && *peers == 2));
            if formed {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no two settled members within {FORMED:?}; (status, peers) per node: {seen:?}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pair

/// The desired state and rules both daemons load, as (path, text): the two routines, the
/// shipped health rules, and `stale-or-failed` sending to one `alertmanager` receiver per node.
fn shared_files(cluster: &Cluster) -> Vec<(&'static str, String)> {
    let retry = "retry: {initial: 200ms, max: 1s, give_up_after: 5m}\n";
    let mut rules = vec![format!(
        "kind: AlertRule\nid: {RULE}\nmatch:\n  level: [stale, failed]\nfor: 0s\nrepeat_interval: 4h\n\
         send_resolved: true\nreceivers: [{}]\n",
        NODES.join(", ")
    )];
    rules.extend(cluster.nodes.iter().map(|node| {
        format!("kind: Receiver\nid: {}\nalertmanager:\n  url: \"{}\"\n{retry}", node.name, node.base)
    }));
    vec![
        ("rules/health.yaml", HEALTH_RULES.to_owned()),
        ("rules/alerts.yaml", documents(&rules)),
        (
            "desired/routines.yaml",
            documents(&[routine("lost", "1s", "1s", ""), routine("late", "2s", "2s", "")]),
        ),
    ]
}

/// One daemon's checkout: a workspace of its own (hence its own `state/`) with `files`.
fn checkout(files: &[(&str, String)]) -> Workspace {
    let workspace = Workspace::new();
    for (path, text) in files {
        workspace.write(path, text);
    }
    workspace
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

/// Starts a daemon on `workspace` and at once keeps its `late` routine healthy (the routine
/// is anchored at the daemon's start, so waiting for the other daemon first could let it go
/// stale).
async fn start_member(workspace: &Workspace) -> (Daemon, Pinger) {
    let daemon = Daemon::start(workspace).await;
    let pinger = Pinger::start(&daemon, "late");
    (daemon, pinger)
}

/// Waits until the daemon on `workspace` has delivered its firing notice about `routine/id`
/// to both nodes.
async fn wait_delivered_to_both_nodes(workspace: &Workspace, daemon: &str, id: &str) {
    for node in NODES {
        let what = format!("{daemon}'s alert.delivered about routine/{id} to {node}");
        wait_for_event(workspace, EVENTUALLY, &what, |e| {
            is_event(e, "alert.delivered", "routine", id) && e["data"]["receiver"] == node
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// What the webhook got

/// One alert in one notification the cluster sent the webhook.
#[derive(Debug, Clone)]
struct Notice {
    /// The node that sent it (the webhook path).
    node: String,
    status: String,
    labels: Value,
    at: DateTime<Utc>,
}

/// The notified alerts about `routine/id`, oldest first. Panics on a body that is not
/// Alertmanager's webhook JSON.
fn notices(hook: &RecordingServer, id: &str) -> Vec<Notice> {
    let mut found = Vec::new();
    for request in hook.requests() {
        let body = request.json();
        let alerts = body["alerts"].as_array().unwrap_or_else(|| panic!("no alerts in {body:#}"));
        for alert in alerts.iter().filter(|a| a["labels"]["entity_id"] == id) {
            found.push(Notice {
                node: request.path.trim_start_matches('/').to_owned(),
                status: alert["status"].as_str().unwrap_or_default().to_owned(),
                labels: alert["labels"].clone(),
                at: request.at,
            });
        }
    }
    found
}

/// Every body the webhook got, for failure messages.
fn bodies(hook: &RecordingServer) -> Vec<String> {
    hook.requests().into_iter().map(|r| format!("{} {} at {}: {}", r.method, r.path, r.at, r.body)).collect()
}

/// Waits for the first notification about `routine/id`.
async fn wait_notice(hook: &RecordingServer, id: &str) -> Notice {
    let found = try_wait_for(EVENTUALLY, async || notices(hook, id).into_iter().next()).await;
    found.unwrap_or_else(|| {
        panic!(
            "no notification about routine/{id} within {EVENTUALLY:?}; the webhook got: {:#?}",
            bodies(hook)
        )
    })
}

/// Watches the webhook for [`QUIET`], then asserts that it got exactly one notification about
/// `routine/id`, firing, with the label set both daemons send; returns it.
async fn assert_notified_once(hook: &RecordingServer, id: &str, when: &str) -> Notice {
    tokio::time::sleep(QUIET).await;
    let ours = notices(hook, id);
    assert_eq!(ours.len(), 1, "{when}: exactly one notification about routine/{id}: {:#?}", bodies(hook));
    let notice = ours[0].clone();
    assert_eq!(notice.status, "firing", "{notice:#?}");
    assert_eq!(
        notice.labels,
        json!({"alertname": RULE, "entity_type": "routine", "entity_id": id, "level": "stale"}),
        "labels with nothing of one daemon's own"
    );
    notice
}

/// Asserts that every node holds exactly one alert about `routine/id`, active: the copies
/// from both daemons merged into one.
async fn assert_one_alert_per_node(cluster: &Cluster, id: &str) {
    for node in &cluster.nodes {
        let alerts = node.alerts_about(&cluster.client, id).await;
        assert_eq!(alerts.len(), 1, "node {} holds one alert about routine/{id}: {alerts:#?}", node.name);
        assert_eq!(alerts[0]["status"]["state"], "active", "node {}: {:#}", node.name, alerts[0]);
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_notifies_once_per_alert_with_both_daemons_up_and_with_one_killed() {
    let hook = RecordingServer::start(200, "");
    let cluster = Cluster::start(&hook).await;
    let files = shared_files(&cluster);
    let (one, two) = (checkout(&files), checkout(&files));
    let (mut first, first_pinger) = start_member(&one).await;
    let (second, second_pinger) = start_member(&two).await;

    // Both up: `lost` goes stale on both daemons, each tells both nodes, one page.
    let lost = wait_notice(&hook, "lost").await;
    wait_delivered_to_both_nodes(&one, "the first daemon", "lost").await;
    wait_delivered_to_both_nodes(&two, "the second daemon", "lost").await;
    assert_one_alert_per_node(&cluster, "lost").await;
    assert_notified_once(&hook, "lost", "both daemons up").await;
    assert!(
        notices(&hook, "late").is_empty(),
        "routine/late notified while both daemons pinged it (a start-up too slow?): {:#?}",
        bodies(&hook)
    );

    // One killed: the survivor alone sees `late` go stale, and its alert still pages once.
    first.kill9();
    let killed = now();
    drop((first_pinger, second_pinger));
    let late = wait_notice(&hook, "late").await;
    assert!(late.at > killed, "routine/late notified at {}, before the kill at {killed}", late.at);
    wait_delivered_to_both_nodes(&two, "the surviving daemon", "late").await;
    assert_one_alert_per_node(&cluster, "late").await;
    assert_notified_once(&hook, "late", "one daemon killed").await;
    let from_the_killed: Vec<Value> = one
        .events(Tail::MayBeTorn)
        .into_iter()
        .filter(|e| is_event(e, "alert.firing", "routine", "late"))
        .collect();
    assert!(from_the_killed.is_empty(), "the killed daemon fired about routine/late: {from_the_killed:#?}");

    // The first alert, still fed by the survivor, paged no more.
    assert_eq!(
        notices(&hook, "lost").len(),
        1,
        "still one notification about routine/lost: {:#?}",
        bodies(&hook)
    );
    eprintln!(
        "lost: notified by node {} at {}; late: notified by node {} at {}, {:.1}s after the kill",
        lost.node,
        lost.at,
        late.node,
        late.at,
        secs_between(late.at, killed)
    );
    drop(second);
}
