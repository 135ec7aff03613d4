//! What a notification says, independent of how it travels: the alert object of SPEC
//! section 11, one [`Notification`] of it to one receiver as the outbox keeps it, and the
//! webhook body every JSON receiver is built from.
//!
//! A notification is persisted before its first attempt and may be delivered after a
//! restart, so everything a receiver needs is in it (runbook, dashboard link) and nothing is
//! looked up again at delivery time. Its `notification_id` is stable across retries, so a
//! receiver can de-duplicate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Level;

/// The alert object of SPEC section 11's webhook JSON, exactly these fields in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertPayload {
    /// `rule/kind/id`, e.g. `stale-or-failed/routine/daily-status`.
    pub id: String,
    pub rule: String,
    pub entity_type: String,
    pub entity_id: String,
    pub level: Level,
    pub previous_level: Level,
    pub reason: String,
    pub message: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// The entity's labels.
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    Firing,
    Resolved,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Firing => "firing",
            NotificationStatus::Resolved => "resolved",
        }
    }
}

/// One notification to one receiver, as kept in the outbox (persisted as JSON, so Serialize +
/// Deserialize).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub notification_id: String,
    pub receiver: String,
    pub status: NotificationStatus,
    pub alert: AlertPayload,
    /// Not part of the webhook body: for Alertmanager annotations and Telegram text.
    pub runbook: Option<String>,
    /// Not part of the webhook body: Alertmanager's `generatorURL`, a link in Telegram text.
    pub dashboard_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Notification {
    /// The webhook body of SPEC section 11 exactly:
    /// `{"version":"1","receiver","status","notification_id","alert":{..},"sent_at"}`;
    /// timestamps RFC 3339 UTC. Not redacted: the sender does that at the edge.
    pub fn webhook_body(&self, sent_at: DateTime<Utc>) -> serde_json::Value {
        serde_json::json!({
            "version": "1",
            "receiver": self.receiver,
            "status": self.status,
            "notification_id": self.notification_id,
            "alert": self.alert,
            "sent_at": sent_at,
        })
    }

    /// `routine/daily-status`.
    pub fn entity(&self) -> String {
        format!("{}/{}", self.alert.entity_type, self.alert.entity_id)
    }

    /// The level the alert fired at. A resolved notice carries the level the entity moved to,
    /// with the firing one as `previous_level`; when the entity is gone it keeps the firing
    /// level. The worse of the two is the firing level in both cases (only a rule that
    /// matches a level but not a worse one, left by getting worse, would fool it).
    pub fn firing_level(&self) -> Level {
        match self.status {
            NotificationStatus::Firing => self.alert.level,
            NotificationStatus::Resolved => self.alert.level.max(self.alert.previous_level),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A firing notification of `stale-or-failed/routine/daily-status` to `receiver`.
    pub(crate) fn firing(receiver: &str) -> Notification {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("fixed time").with_timezone(&Utc);
        Notification {
            notification_id: "0123456789abcdef0123456789abcdef".to_string(),
            receiver: receiver.to_string(),
            status: NotificationStatus::Firing,
            alert: AlertPayload {
                id: "stale-or-failed/routine/daily-status".to_string(),
                rule: "stale-or-failed".to_string(),
                entity_type: "routine".to_string(),
                entity_id: "daily-status".to_string(),
                level: Level::Stale,
                previous_level: Level::Healthy,
                reason: "Overdue".to_string(),
                message: "no signal since 06:59; expected by 07:00 + 15m grace".to_string(),
                starts_at: at("2026-11-25T07:15:00Z"),
                ends_at: None,
                labels: BTreeMap::from([("team".to_string(), "ops".to_string())]),
            },
            runbook: Some("Daily status".to_string()),
            dashboard_url: Some("http://mc.example/mission-control".to_string()),
            created_at: at("2026-11-25T07:15:00Z"),
        }
    }

    /// The same alert, resolved at 08:02 (the entity is healthy again).
    pub(crate) fn resolved(receiver: &str) -> Notification {
        let mut n = firing(receiver);
        n.status = NotificationStatus::Resolved;
        n.alert.level = Level::Healthy;
        n.alert.previous_level = Level::Stale;
        n.alert.ends_at =
            Some(DateTime::parse_from_rfc3339("2026-11-25T08:02:00Z").unwrap().with_timezone(&Utc));
        n
    }

    #[test]
    fn webhook_body_has_the_fields_and_nesting_of_the_spec() {
        let sent_at = DateTime::parse_from_rfc3339("2026-11-25T07:15:01.5Z").unwrap().with_timezone(&Utc);
        let body = firing("ops").webhook_body(sent_at);
        assert_eq!(
            body,
            serde_json::json!({"version":"1","receiver":"ops","status":"firing",
             "notification_id":"0123456789abcdef0123456789abcdef","alert":{
             "id":"stale-or-failed/routine/daily-status","rule":"stale-or-failed",
             "entity_type":"routine","entity_id":"daily-status","level":"stale","previous_level":"healthy",
             "reason":"Overdue","message":"no signal since 06:59; expected by 07:00 + 15m grace",
             "starts_at":"2026-11-25T07:15:00Z","ends_at":null,"labels":{"team":"ops"}},
             "sent_at":"2026-11-25T07:15:01.500Z"})
        );
        let resolved = resolved("ops").webhook_body(sent_at);
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(resolved["alert"]["ends_at"], "2026-11-25T08:02:00Z");
    }

    #[test]
    fn notifications_survive_a_json_round_trip() {
        for n in [firing("ops"), resolved("ops")] {
            let text = serde_json::to_string(&n).unwrap();
            assert_eq!(serde_json::from_str::<Notification>(&text).unwrap(), n);
        }
    }

    #[test]
    fn firing_level_of_a_resolved_notice_is_the_level_that_fired() {
        let table = [
            (NotificationStatus::Firing, Level::Stale, Level::Healthy, Level::Stale),
            (NotificationStatus::Resolved, Level::Healthy, Level::Stale, Level::Stale),
            // The entity disappeared: the notice keeps the firing level.
            (NotificationStatus::Resolved, Level::Failed, Level::Healthy, Level::Failed),
            // Left a failed-only rule by improving to stale.
            (NotificationStatus::Resolved, Level::Stale, Level::Failed, Level::Failed),
        ];
        for (status, level, previous, expected) in table {
            let mut n = firing("ops");
            (n.status, n.alert.level, n.alert.previous_level) = (status, level, previous);
            assert_eq!(n.firing_level(), expected, "{status:?} {level:?} from {previous:?}");
        }
    }
}
