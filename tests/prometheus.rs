//! The metrics as the real Prometheus sees them (Debian package `prometheus`): a Prometheus
//! server started here scrapes the daemon every second and answers queries on
//! `mission_control_entity_health`; `promtool check metrics` finds nothing in `/metrics`; the
//! example scrape config and alerting rules pass `promtool`.
//!
//! These tests fail, never skip, when `prometheus` or `promtool` is missing:
//! `bash scripts/test.sh` installs the package.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{Daemon, Prometheus, Workspace, http_client, prometheus_tool, wait_for};

/// How long anything here may take before it counts as a failure.
const DEADLINE: Duration = Duration::from_secs(30);

/// A routine to ping, one left silent (due every second, so stale within two), and an
/// integration probed every second on a closed port, so probe metrics have series.
fn workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.write(
        "desired/things.yaml",
        concat!(
            "kind: Routine\nid: pinged\nevery: 1h\n",
            "---\nkind: Routine\nid: silent\nevery: 1s\ngrace: 1s\n",
            "---\nkind: Integration\nid: closed-port\nevery: 1s\nobserve:\n  tcp:\n    address: 127.0.0.1:1\n    timeout: 1s\n",
        ),
    );
    workspace
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus")
}

#[tokio::test]
async fn prometheus_scrapes_entity_health() {
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    assert_eq!(daemon.get("/ping/pinged").await.status, 200);

    let storage = tempfile::tempdir().expect("tempdir");
    let prometheus =
        Prometheus::start(storage.path(), &[daemon.addr], &[examples().join("alerts.yml")]).await;
    let value_of = |result: &[(Value, String)], id: &str| {
        result.iter().find(|(labels, _)| labels["entity_id"] == id).map(|(_, value)| value.clone())
    };
    wait_for(DEADLINE, "prometheus to see routine/pinged healthy", async || {
        let healthy = prometheus.query(r#"mission_control_entity_health{level="healthy"}"#).await;
        (value_of(&healthy, "pinged").as_deref() == Some("1")).then_some(())
    })
    .await;
    wait_for(DEADLINE, "prometheus to see routine/silent stale", async || {
        let stale = prometheus.query(r#"mission_control_entity_health{level="stale"}"#).await;
        (value_of(&stale, "silent").as_deref() == Some("1")).then_some(())
    })
    .await;
    let stale = prometheus.query(r#"mission_control_entity_health{level="stale"}"#).await;
    assert_eq!(value_of(&stale, "pinged").as_deref(), Some("0"), "{stale:?}");
    let healthy = prometheus.query(r#"mission_control_entity_health{level="healthy"}"#).await;
    assert_eq!(value_of(&healthy, "silent").as_deref(), Some("0"), "{healthy:?}");
    let labels = &healthy.iter().find(|(l, _)| l["entity_id"] == "pinged").expect("pinged").0;
    assert_eq!(labels["entity_type"], "routine");
    assert_eq!(labels["job"], "mission-control");
    let up = prometheus.query(r#"up{job="mission-control"}"#).await;
    assert_eq!(up.first().map(|(_, v)| v.as_str()), Some("1"), "{up:?}");

    // The example alerting rules load and evaluate against the real series.
    wait_for(DEADLINE, "the example rules evaluated", async || {
        let body: Value = serde_json::from_str(
            &http_client()
                .get(format!("{}/api/v1/rules", prometheus.base))
                .send()
                .await
                .expect("rules")
                .text()
                .await
                .expect("body"),
        )
        .expect("json");
        let rules: Vec<&Value> = body["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        let names: Vec<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
        assert!(names.contains(&"MissionControlEntityUnhealthy"), "{body}");
        let ok = rules.iter().all(|r| r["health"] == "ok");
        let pending = rules.iter().any(|r| {
            r["name"] == "MissionControlEntityUnhealthy"
                && r["alerts"].as_array().into_iter().flatten().any(|a| a["labels"]["entity_id"] == "silent")
        });
        (ok && pending).then_some(())
    })
    .await;
}

#[tokio::test]
async fn promtool_finds_nothing_in_the_metrics() {
    let workspace = workspace();
    let daemon = Daemon::start(&workspace).await;
    for path in ["/ping/pinged/start", "/ping/pinged", "/ping/pinged/3", "/ping/silent/log"] {
        assert_eq!(daemon.get(path).await.status, 200, "{path}");
    }
    // Wait until every kind of series is there: probes (histograms too), health, signals.
    let text = wait_for(DEADLINE, "probe, health and signal series", async || {
        let text = daemon.metrics().await;
        (text.contains("mission_control_probe_duration_seconds_bucket{")
            && text.contains("mission_control_probes_total{")
            && text.contains("mission_control_reconcile_duration_seconds_count")
            && text.contains(r#"level="stale"} 1"#)
            && text.contains("mission_control_entity_last_signal_timestamp_seconds{"))
        .then_some(text)
    })
    .await;
    let mut promtool = Command::new(prometheus_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    promtool.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = promtool.wait_with_output().expect("promtool");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}\non:\n{text}"
    );
}

fn promtool(args: &[&str]) {
    let out = Command::new(prometheus_tool("promtool"))
        .args(args)
        .current_dir(examples())
        .output()
        .expect("promtool starts");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn example_scrape_config_and_alerting_rules_pass_promtool() {
    promtool(&["check", "config", "prometheus.yml"]);
    promtool(&["check", "rules", "alerts.yml"]);
    promtool(&["test", "rules", "alerts.test.yml"]);
}
