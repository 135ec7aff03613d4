//! Several hosts over one shared workspace (settings `select`): two daemons, each on its own
//! checkout of the same desired state, judge disjoint slices, so each entity is judged (probed,
//! counted, alerted, exported) by exactly one of them; one real Prometheus (Debian package
//! `prometheus`, failing, never skipping, when it is missing) scraping both sees each entity's
//! health from exactly one of them.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use support::*;

const EVENTUALLY: Duration = Duration::from_secs(20);

fn checkout(host: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.write(
        "desired/routines.yaml",
        &documents(&[
            routine("backup-one", "1s", "1s", "labels: {host: one}\n"),
            routine("backup-two", "1s", "1s", "labels: {host: two}\n"),
        ]),
    );
    // Keeps the `openclaw: {enabled: false}` of `Workspace::new`, which this file replaces, so
    // the machine's `~/.openclaw` adds nothing to the entities the tests count.
    workspace.write(
        "mission-control.yaml",
        &format!("openclaw:\n  enabled: false\nselect:\n  labels: {{host: {host}}}\n"),
    );
    workspace
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_judge_disjoint_slices_of_one_workspace() {
    let (one, two) = (checkout("one"), checkout("two"));
    let (first, second) = (Daemon::start(&one).await, Daemon::start(&two).await);
    for (daemon, mine, theirs) in
        [(&first, "backup-one", "backup-two"), (&second, "backup-two", "backup-one")]
    {
        let judged = daemon.wait_health("routine", mine, "stale", EVENTUALLY).await;
        assert_eq!(judged["reason"], "Overdue", "{judged:#}");
        let other = daemon.wait_entity("routine", theirs, EVENTUALLY).await;
        assert_eq!(other["health"], "unknown", "{other:#}");
        assert_eq!(other["reason"], "NotSelected", "{other:#}");
        let state = daemon.state().await;
        assert_eq!(
            state["summary"]["counts"]["stale"], 1,
            "only its own slice counts: {:#}",
            state["summary"]
        );
        let metrics = daemon.metrics().await;
        assert!(metrics.contains(&format!("entity_id=\"{mine}\"")), "{metrics}");
        assert!(!metrics.contains(&format!("entity_id=\"{theirs}\"")), "{metrics}");
    }
    // Pings to the other slice are still recorded but judge nothing here.
    assert_eq!(first.post("/ping/backup-two", "").await.status, 200);
    let other = first.entity("routine", "backup-two").await.expect("listed");
    assert_eq!(other["reason"], "NotSelected");
}

// ---------------------------------------------------------------------------------------------
// One Prometheus scraping both hosts

/// How long Prometheus may take to start and to have scraped both daemons on a busy 2-core CI
/// machine before that counts as a failure (it takes a few seconds when idle).
const SCRAPED: Duration = Duration::from_secs(60);

/// The lists of the live state that hold entities (each with its `kind`, `id` and `labels`).
const ENTITY_LISTS: [&str; 8] =
    ["agents", "subagents", "routines", "integrations", "outputs", "workflows", "projects", "budgets"];

/// Every entity of a live state as `(entity_type, entity_id)`, as the metrics label it, with
/// the host its `host` label puts it on.
fn entities_by_host(state: &Value) -> BTreeMap<(String, String), String> {
    ENTITY_LISTS
        .iter()
        .filter_map(|list| state[*list].as_array())
        .flatten()
        .map(|e| {
            let key =
                (e["kind"].as_str().expect("kind").to_owned(), e["id"].as_str().expect("id").to_owned());
            (key, e["labels"]["host"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// The value of label `name` of a series Prometheus answered.
fn label(labels: &Value, name: &str) -> String {
    labels[name].as_str().unwrap_or_else(|| panic!("no label {name}: {labels}")).to_owned()
}

/// The scrape targets (`instance` labels) each entity's series come from.
fn instances_by_entity(series: &[(Value, String)]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut instances: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for (labels, _) in series {
        let entity = (label(labels, "entity_type"), label(labels, "entity_id"));
        instances.entry(entity).or_default().insert(label(labels, "instance"));
    }
    instances
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_prometheus_scraping_both_hosts_sees_each_entity_from_exactly_one() {
    let (one, two) = (checkout("one"), checkout("two"));
    // Without a `rules/` folder a workspace gets the built-in budget `daily-spend`, which has no
    // host label and so is selected on no host (judged by nobody); a shared workspace has to
    // name the host of each budget, as it does here.
    for checkout in [&one, &two] {
        checkout.write(
            "rules/budgets.yaml",
            "kind: Budget\nid: daily-spend\nscope: all\nwindow: 1d\nwarn_at: 5\nfail_at: 10\nlabels: {host: one}\n",
        );
    }
    let (first, second) = (Daemon::start(&one).await, Daemon::start(&two).await);
    let storage = tempfile::tempdir().expect("tempdir");
    let prometheus = Prometheus::start(storage.path(), &[first.addr, second.addr], &[]).await;
    let instance_of_host = BTreeMap::from([
        ("one".to_owned(), first.addr.to_string()),
        ("two".to_owned(), second.addr.to_string()),
    ]);

    // Both checkouts list the whole desired state (once published; readiness may come first),
    // and each entity's host label names its judge.
    let published = async |daemon: &Daemon| {
        let what = format!("entities in the live state of {}", daemon.addr);
        wait_for(EVENTUALLY, &what, async || {
            Some(entities_by_host(&daemon.state().await)).filter(|e| !e.is_empty())
        })
        .await
    };
    let hosts = published(&first).await;
    assert_eq!(hosts, published(&second).await, "the same desired state on both hosts");
    let expected: BTreeMap<_, BTreeSet<String>> = hosts
        .iter()
        .map(|(entity, host)| {
            let instance =
                instance_of_host.get(host).unwrap_or_else(|| panic!("{entity:?} is on no host: {host:?}"));
            (entity.clone(), BTreeSet::from([instance.clone()]))
        })
        .collect();

    // Every look at Prometheus, early ones too, finds no entity exported by two targets; it
    // waits until the union of both targets' series covers every entity.
    let mut last = BTreeMap::new();
    let covered = try_wait_for(SCRAPED, async || {
        let instances = instances_by_entity(&prometheus.query("mission_control_entity_health").await);
        for (entity, from) in &instances {
            assert_eq!(from.len(), 1, "{entity:?} is exported by more than one daemon: {from:?}");
        }
        last = instances;
        (last.len() == expected.len()).then_some(())
    })
    .await;
    assert!(covered.is_some(), "not every entity seen within {SCRAPED:?}: saw {last:?}, want {expected:?}");
    assert_eq!(last, expected, "each entity from the daemon of its host");

    // Prometheus' own count agrees: one target per entity.
    let targets_per_entity = prometheus
        .query("count by (entity_type, entity_id) (group by (entity_type, entity_id, instance) (mission_control_entity_health))")
        .await;
    assert_eq!(targets_per_entity.len(), expected.len(), "{targets_per_entity:?}");
    assert!(targets_per_entity.iter().all(|(_, count)| count == "1"), "{targets_per_entity:?}");
    let up = prometheus.query(r#"up{job="mission-control"} == 1"#).await;
    assert_eq!(up.len(), 2, "both daemons scraped: {up:?}");

    // Each slice's silent routine turns stale, and only the daemon of its host says so.
    let want_stale: BTreeSet<(String, String)> = [("backup-one", &first), ("backup-two", &second)]
        .into_iter()
        .map(|(id, daemon)| (id.to_owned(), daemon.addr.to_string()))
        .collect();
    let mut stale = BTreeSet::new();
    let all_stale = try_wait_for(SCRAPED, async || {
        stale = prometheus
            .query(r#"mission_control_entity_health{entity_type="routine", level="stale"} == 1"#)
            .await
            .iter()
            .map(|(labels, _)| (label(labels, "entity_id"), label(labels, "instance")))
            .collect();
        (stale == want_stale).then_some(())
    })
    .await;
    assert!(
        all_stale.is_some(),
        "stale routines by instance within {SCRAPED:?}: {stale:?}, want {want_stale:?}"
    );
}
