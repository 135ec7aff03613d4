//! Several hosts over one shared workspace (settings `select`): two daemons, each on its own
//! checkout of the same desired state, judge disjoint slices, so each entity is judged (probed,
//! counted, alerted, exported) by exactly one of them.

mod support;

use std::time::Duration;

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
    workspace.write("mission-control.yaml", &format!("select:\n  labels: {{host: {host}}}\n"));
    workspace
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_judge_disjoint_slices_of_one_workspace() {
    let (one, two) = (checkout("one"), checkout("two"));
    let (first, second) = (Daemon::start(&one).await, Daemon::start(&two).await);
    for (daemon, mine, theirs) in [(&first, "backup-one", "backup-two"), (&second, "backup-two", "backup-one")] {
        let judged = daemon.wait_health("routine", mine, "stale", EVENTUALLY).await;
        assert_eq!(judged["reason"], "Overdue", "{judged:#}");
        let other = daemon.wait_entity("routine", theirs, EVENTUALLY).await;
        assert_eq!(other["health"], "unknown", "{other:#}");
        assert_eq!(other["reason"], "NotSelected", "{other:#}");
        let state = daemon.state().await;
        assert_eq!(state["summary"]["counts"]["stale"], 1, "only its own slice counts: {:#}", state["summary"]);
        let metrics = daemon.metrics().await;
        assert!(metrics.contains(&format!("entity_id=\"{mine}\"")), "{metrics}");
        assert!(!metrics.contains(&format!("entity_id=\"{theirs}\"")), "{metrics}");
    }
    // Pings to the other slice are still recorded but judge nothing here.
    assert_eq!(first.post("/ping/backup-two", "").await.status, 200);
    let other = first.entity("routine", "backup-two").await.expect("listed");
    assert_eq!(other["reason"], "NotSelected");
}
