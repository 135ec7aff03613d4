//! The `alertmanager` receiver: Alertmanager's API v2, `POST {url}/api/v2/alerts` with a
//! one-alert array (SPEC section 11).
//!
//! Alertmanager knows an alert by its label set, so the labels must be the same on every
//! re-send and on the resolve: `alertname` (the rule), `entity_type`, `entity_id`, `level`
//! (the level it fired at, also on the resolve) and the entity's labels, which never
//! override those four. Alertmanager refuses a whole request over one label name outside
//! `[a-zA-Z_][a-zA-Z0-9_]*`, so entity label names are mapped into that set the way
//! Prometheus relabelling does (`app.kubernetes.io/name` → `app_kubernetes_io_name`), and
//! labels with an empty value, which Alertmanager treats as absent, are left out. A firing
//! alert has no `endsAt`: Alertmanager keeps it for its resolve timeout, and the outbox
//! re-sends it every minute.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{DeliveryContext, DeliveryError, post_json, redacted_json};
use crate::alert::payload::{Notification, NotificationStatus};
use crate::metrics::level_name;

pub(super) async fn send(
    url: &str,
    credential: Option<&str>,
    n: &Notification,
    cx: &DeliveryContext,
    now: DateTime<Utc>,
) -> Result<(), DeliveryError> {
    let url = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
    post_json(cx, &url, credential, redacted_json(body(n, now)), now).await
}

/// The request body: `[{labels, annotations, startsAt, endsAt?, generatorURL?}]`.
fn body(n: &Notification, now: DateTime<Utc>) -> Value {
    let alert = &n.alert;
    let firing_level = level_name(n.firing_level());
    let mut labels: BTreeMap<String, String> = BTreeMap::from([
        ("alertname".to_string(), alert.rule.clone()),
        ("entity_type".to_string(), alert.entity_type.clone()),
        ("entity_id".to_string(), alert.entity_id.clone()),
        ("level".to_string(), firing_level.to_string()),
    ]);
    for (key, value) in &alert.labels {
        if let Some(name) = label_name(key).filter(|_| !value.is_empty()) {
            labels.entry(name).or_insert_with(|| value.clone());
        }
    }
    let summary = match n.status {
        NotificationStatus::Firing => format!("{} is {firing_level}", n.entity()),
        NotificationStatus::Resolved => format!("{} is no longer {firing_level}", n.entity()),
    };
    let description = if alert.message.is_empty() { alert.reason.clone() } else { alert.message.clone() };
    let mut annotations = json!({ "summary": summary, "description": description });
    if let Some(runbook) = &n.runbook {
        annotations["runbook"] = json!(runbook);
    }
    let mut am = json!({ "labels": labels, "annotations": annotations, "startsAt": alert.starts_at });
    if n.status == NotificationStatus::Resolved {
        // A resolve without an end time would read as "firing"; the time we learned of it will do.
        am["endsAt"] = json!(alert.ends_at.unwrap_or(now));
    }
    if let Some(url) = &n.dashboard_url {
        am["generatorURL"] = json!(url);
    }
    json!([am])
}

/// A label name Alertmanager accepts: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name(key: &str) -> Option<String> {
    let mut name: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::super::deliver;
    use super::super::testing::{context, receiver, serve, set_credential};
    use super::*;
    use crate::alert::payload::tests::{firing, resolved};
    use crate::config::ReceiverTarget;

    fn alertmanager(url: &str, credential: Option<&str>) -> crate::config::Receiver {
        receiver(
            "am",
            ReceiverTarget::Alertmanager { url: url.to_string(), credential: credential.map(str::to_string) },
        )
    }

    #[tokio::test]
    async fn firing_posts_labels_annotations_and_no_end() {
        let (base, log) = serve(200, &[], "").await;
        set_credential("deliver_test_am_bearer", "am-secret-value-1");
        let mut n = firing("am");
        n.alert.labels.insert("level".to_string(), "must-not-override".to_string());
        n.alert.labels.insert("app.kubernetes.io/name".to_string(), "gateway".to_string());
        n.alert.labels.insert("empty".to_string(), String::new());
        deliver(
            &alertmanager(&format!("{base}/"), Some("deliver_test_am_bearer")),
            &n,
            &context(),
            Utc::now(),
        )
        .await
        .expect("delivered");

        let received = log.lock().unwrap()[0].clone();
        assert_eq!(received.path, "/api/v2/alerts");
        assert_eq!(received.header("authorization").as_deref(), Some("Bearer am-secret-value-1"));
        assert_eq!(
            received.json(),
            json!([{
                "labels": {"alertname": "stale-or-failed", "entity_type": "routine", "entity_id": "daily-status",
                           "level": "stale", "team": "ops", "app_kubernetes_io_name": "gateway"},
                "annotations": {"summary": "routine/daily-status is stale",
                                "description": "no signal since 06:59; expected by 07:00 + 15m grace",
                                "runbook": "Daily status"},
                "startsAt": "2026-11-25T07:15:00Z",
                "generatorURL": "http://mc.example/mission-control"
            }])
        );
    }

    #[tokio::test]
    async fn resolve_keeps_the_label_set_and_adds_the_end() {
        let (base, log) = serve(200, &[], "").await;
        let mut n = resolved("am");
        (n.runbook, n.dashboard_url) = (None, None);
        deliver(&alertmanager(&base, None), &n, &context(), Utc::now()).await.expect("delivered");

        let body = log.lock().unwrap()[0].json();
        let alert = &body[0];
        assert_eq!(alert["labels"]["level"], "stale", "the label set must match the firing alert's");
        assert_eq!(alert["endsAt"], "2026-11-25T08:02:00Z");
        assert_eq!(alert["startsAt"], "2026-11-25T07:15:00Z");
        assert_eq!(alert["annotations"]["summary"], "routine/daily-status is no longer stale");
        assert!(alert["annotations"].get("runbook").is_none());
        assert!(alert.get("generatorURL").is_none());
    }

    #[tokio::test]
    async fn bad_request_is_permanent() {
        let (base, _log) = serve(400, &[], "{\"code\":400,\"message\":\"invalid label set\"}").await;
        let err =
            deliver(&alertmanager(&base, None), &firing("am"), &context(), Utc::now()).await.unwrap_err();
        assert!(err.is_permanent());
        assert!(err.to_string().contains("invalid label set"), "{err}");
    }

    #[test]
    fn label_names_are_mapped_into_what_alertmanager_accepts() {
        let table = [
            ("team", Some("team")),
            ("app.kubernetes.io/name", Some("app_kubernetes_io_name")),
            ("9lives", Some("_9lives")),
            ("é", Some("_")),
            ("", None),
        ];
        for (key, expected) in table {
            assert_eq!(label_name(key).as_deref(), expected, "{key}");
        }
    }
}
