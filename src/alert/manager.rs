//! Alert evaluation (SPEC section 11): which alerts fire, when they notify, repeat and
//! resolve. Pure: it takes the entities' states and `now`, and returns the notifications to
//! put in the outbox and the events to record; the caller persists the [`AlertBook`].
//!
//! An alert is one (alert rule, entity) pair, `rule/kind/id`. It is pending while the entity
//! sits at a matching level for less than `for`, then firing. A firing alert notifies each
//! receiver once, again every `repeat_interval` (Alertmanager receivers every minute, as
//! Alertmanager expects), and with a resolved notice when the entity leaves the matching
//! levels. A silence or an unhealthy dependency holds notifications back; the event log
//! still records the alert, marked `silenced` or `inhibited`, and a held alert notifies once
//! the hold ends if it is still firing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::payload::{AlertPayload, Notification, NotificationStatus};
use crate::config::{AlertRule, Config, Entity, EntityKey, Level, ReceiverTarget};
use crate::events::NewEvent;
use crate::metrics::level_name;
use crate::state::{EntityState, FiringAlert};

/// Alertmanager forgets alerts not re-sent within its resolve timeout; a minute keeps them.
const ALERTMANAGER_REPEAT: Duration = Duration::from_secs(60);
pub const SOURCE: &str = "alerting";

/// Every pending or firing alert, persisted as `state/alerts.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertBook {
    pub alerts: BTreeMap<String, ActiveAlert>,
}

impl AlertBook {
    /// Puts the book's instants on a wall clock that jumped by `by`, so `for` and
    /// `repeat_interval` keep counting real time.
    pub fn shift_clock(&mut self, by: chrono::Duration) {
        for alert in self.alerts.values_mut() {
            alert.active_since += by;
            if let Some(t) = alert.firing_since.as_mut() {
                *t += by;
            }
            alert.notified.values_mut().for_each(|(at, _)| *at += by);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    pub rule: String,
    pub entity_type: String,
    pub entity_id: String,
    /// When the entity entered a matching level.
    pub active_since: DateTime<Utc>,
    /// When `for` elapsed; `None` while pending.
    pub firing_since: Option<DateTime<Utc>>,
    pub level: Level,
    /// The level before the alert started.
    pub previous_level: Level,
    pub reason: String,
    pub message: String,
    /// Per receiver: when it was last notified of this alert, and how many times.
    #[serde(default)]
    pub notified: BTreeMap<String, (DateTime<Utc>, u32)>,
    #[serde(default)]
    pub silenced: bool,
    #[serde(default)]
    pub inhibited: bool,
}

impl ActiveAlert {
    fn payload(
        &self,
        id: &str,
        labels: BTreeMap<String, String>,
        ends_at: Option<DateTime<Utc>>,
    ) -> AlertPayload {
        AlertPayload {
            id: id.to_string(),
            rule: self.rule.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id.clone(),
            level: self.level,
            previous_level: self.previous_level,
            reason: self.reason.clone(),
            message: self.message.clone(),
            starts_at: self.firing_since.unwrap_or(self.active_since),
            ends_at,
            labels,
        }
    }
}

/// What one evaluation decided.
#[derive(Debug, Default)]
pub struct Outcome {
    pub notifications: Vec<Notification>,
    pub events: Vec<NewEvent>,
    /// The book changed and should be persisted.
    pub changed: bool,
}

/// A stable id: the same alert, status, start, receiver and repeat always give the same id,
/// so a notification re-created after a crash is recognised as the one already queued.
fn notification_id(
    alert_id: &str,
    status: NotificationStatus,
    starts_at: DateTime<Utc>,
    receiver: &str,
    n: u32,
) -> String {
    let text = format!("{alert_id}|{status:?}|{}|{receiver}|{n}", starts_at.timestamp_millis());
    // FNV-1a, 64 bits, twice with different offsets: ids need to be stable, not secret.
    let hash =
        |offset: u64| text.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{:016x}{:016x}", hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4))
}

/// Evaluates every (rule, entity) pair against the entities' current states.
pub fn evaluate<'a>(
    book: &mut AlertBook,
    config: &Config,
    entities: impl Iterator<Item = (&'a Entity, &'a EntityState)>,
    now: DateTime<Utc>,
) -> Outcome {
    let mut out = Outcome::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let entities: Vec<(&Entity, &EntityState)> = entities.collect();
    for rule in &config.alert_rules {
        for (entity, state) in &entities {
            let judged = crate::health::is_judged(entity);
            if !judged || !rule.fires(entity, state.health) {
                continue;
            }
            let id = format!("{}/{}", rule.id, entity.key);
            seen.insert(id.clone());
            step(&mut out, book, config, rule, entity, state, &id, now);
        }
    }
    // Alerts whose entity left the matching levels (or whose rule or entity is gone) resolve.
    let gone: Vec<String> = book.alerts.keys().filter(|id| !seen.contains(*id)).cloned().collect();
    for id in gone {
        let Some(alert) = book.alerts.remove(&id) else { continue };
        out.changed = true;
        let Some(_) = alert.firing_since else { continue };
        let key =
            crate::config::Kind::from_lower(&alert.entity_type).map(|k| EntityKey::new(k, &alert.entity_id));
        let entity = key.as_ref().and_then(|k| config.entity(k));
        let now_state =
            key.as_ref().and_then(|k| entities.iter().find(|(e, _)| &e.key == k).map(|(_, s)| *s));
        let now_level = now_state.map(|s| s.health);
        let rule = config.alert_rules.iter().find(|r| r.id == alert.rule);
        // A resolve names the level that fired as `previous_level` (receivers such as
        // Alertmanager identify the alert by it) and the entity's level now, if it has one.
        let mut resolved = alert.clone();
        resolved.previous_level = alert.level;
        match now_state {
            Some(state) => {
                resolved.level = state.health;
                resolved.reason = state.reason.clone();
                resolved.message = state.message.clone();
            }
            None => resolved.message = "the entity or its alert rule is no longer configured".to_string(),
        }
        out.events.push(
            NewEvent::new(
                "alert.resolved",
                SOURCE,
                &alert.entity_type,
                &alert.entity_id,
                level_name(resolved.level),
                format!("{id} resolved"),
            )
            .with_data(
                serde_json::json!({ "alert_id": id, "rule": alert.rule, "from": level_name(alert.level) }),
            ),
        );
        // unknown → healthy is never news; and only receivers that heard of it hear it end.
        let quiet = alert.level == Level::Unknown && now_level == Some(Level::Healthy);
        let send_resolved = rule.is_none_or(|r| r.send_resolved);
        if quiet || !send_resolved {
            continue;
        }
        let labels = entity.map(|e| e.meta.labels.clone()).unwrap_or_default();
        let runbook = entity.and_then(|e| e.meta.runbook.clone());
        for (receiver, (_, count)) in &alert.notified {
            let payload = resolved.payload(&id, labels.clone(), Some(now));
            out.notifications.push(Notification {
                notification_id: notification_id(
                    &id,
                    NotificationStatus::Resolved,
                    payload.starts_at,
                    receiver,
                    *count,
                ),
                receiver: receiver.clone(),
                status: NotificationStatus::Resolved,
                alert: payload,
                runbook: runbook.clone(),
                dashboard_url: dashboard_url(config),
                created_at: now,
            });
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn step(
    out: &mut Outcome,
    book: &mut AlertBook,
    config: &Config,
    rule: &AlertRule,
    entity: &Entity,
    state: &EntityState,
    id: &str,
    now: DateTime<Utc>,
) {
    let silenced = config.silences.iter().any(|s| s.holds(entity, state.health, now));
    let inhibited = state.inhibited;
    let since = state.since.unwrap_or(now);
    let alert = book.alerts.entry(id.to_string()).or_insert_with(|| {
        out.changed = true;
        ActiveAlert {
            rule: rule.id.clone(),
            entity_type: entity.key.kind.lower().to_string(),
            entity_id: entity.key.id.clone(),
            active_since: since,
            firing_since: None,
            level: state.health,
            previous_level: state.previous_health.unwrap_or(Level::Healthy),
            reason: state.reason.clone(),
            message: state.message.clone(),
            notified: BTreeMap::new(),
            silenced,
            inhibited,
        }
    });
    let level_changed = alert.level != state.health;
    if level_changed {
        alert.previous_level = alert.level;
        alert.level = state.health;
        out.changed = true;
    }
    if alert.reason != state.reason || alert.message != state.message {
        alert.reason = state.reason.clone();
        alert.message = state.message.clone();
        out.changed = true;
    }
    if alert.silenced != silenced || alert.inhibited != inhibited {
        alert.silenced = silenced;
        alert.inhibited = inhibited;
        out.changed = true;
    }
    if alert.firing_since.is_none() {
        let pending_for = (now - alert.active_since).to_std().unwrap_or(Duration::ZERO);
        if pending_for < rule.for_ {
            return;
        }
        // Derived, not `now`: a book rebuilt after a crash computes the same start, and so
        // the same notification ids, as the one that was lost.
        alert.firing_since =
            Some(alert.active_since + chrono::Duration::from_std(rule.for_).unwrap_or_default());
        out.changed = true;
        out.events.push(
            NewEvent::new(
                "alert.firing",
                SOURCE,
                &alert.entity_type,
                &alert.entity_id,
                level_name(alert.level),
                format!("{id} firing: {}", alert.message),
            )
            .with_data(serde_json::json!({
                "alert_id": id,
                "rule": rule.id,
                "reason": alert.reason,
                "receivers": rule.receivers,
                "silenced": silenced,
                "inhibited": inhibited,
            })),
        );
    }
    if silenced || inhibited {
        return;
    }
    for receiver in &rule.receivers {
        let repeat = match config.receivers.iter().find(|r| &r.id == receiver).map(|r| &r.target) {
            Some(ReceiverTarget::Alertmanager { .. }) => Some(ALERTMANAGER_REPEAT),
            _ if rule.repeat_interval.is_zero() => None,
            _ => Some(rule.repeat_interval),
        };
        let due = match alert.notified.get(receiver) {
            None => true,
            // A change of level while firing is news (stale became failed).
            Some(_) if level_changed => true,
            Some((last, _)) => repeat.is_some_and(|r| (now - *last).to_std().unwrap_or(Duration::ZERO) >= r),
        };
        if !due {
            continue;
        }
        let count = alert.notified.get(receiver).map_or(0, |(_, n)| *n);
        let payload = alert.payload(id, entity.meta.labels.clone(), None);
        out.notifications.push(Notification {
            notification_id: notification_id(
                id,
                NotificationStatus::Firing,
                payload.starts_at,
                receiver,
                count,
            ),
            receiver: receiver.clone(),
            status: NotificationStatus::Firing,
            alert: payload,
            runbook: entity.meta.runbook.clone(),
            dashboard_url: dashboard_url(config),
            created_at: now,
        });
        alert.notified.insert(receiver.clone(), (now, count + 1));
        out.changed = true;
    }
}

fn dashboard_url(config: &Config) -> Option<String> {
    config.settings.public_url.as_ref().map(|u| format!("{u}/mission-control"))
}

/// When an evaluation could next have something to do without any entity changing:
/// a pending alert's `for`, a repeat, a silence's expiry.
pub fn next_wakeup(book: &AlertBook, config: &Config, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut times: Vec<DateTime<Utc>> = Vec::new();
    for alert in book.alerts.values() {
        let Some(rule) = config.alert_rules.iter().find(|r| r.id == alert.rule) else { continue };
        let after = |d: Duration| chrono::Duration::from_std(d).ok();
        match alert.firing_since {
            None => times.extend(after(rule.for_).map(|f| alert.active_since + f)),
            Some(_) if !(alert.silenced || alert.inhibited) => {
                for receiver in &rule.receivers {
                    let repeat = match config.receivers.iter().find(|r| &r.id == receiver).map(|r| &r.target)
                    {
                        Some(ReceiverTarget::Alertmanager { .. }) => Some(ALERTMANAGER_REPEAT),
                        _ if rule.repeat_interval.is_zero() => None,
                        _ => Some(rule.repeat_interval),
                    };
                    if let (Some((last, _)), Some(r)) = (alert.notified.get(receiver), repeat.and_then(after))
                    {
                        times.push(*last + r);
                    }
                }
            }
            Some(_) => {}
        }
    }
    times.extend(config.silences.iter().map(|s| s.expires).filter(|t| *t > now));
    times.into_iter().map(|t| t.max(now + chrono::Duration::milliseconds(1))).min()
}

/// The firing alerts, for live state.
pub fn firing(book: &AlertBook) -> Vec<FiringAlert> {
    book.alerts
        .iter()
        .filter_map(|(id, a)| {
            Some(FiringAlert {
                id: id.clone(),
                rule: a.rule.clone(),
                entity_type: a.entity_type.clone(),
                entity_id: a.entity_id.clone(),
                level: a.level,
                starts_at: a.firing_since?,
                silenced: a.silenced,
                inhibited: a.inhibited,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    fn config(extra: &str) -> Config {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("desired")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
        std::fs::write(
            dir.path().join("desired/x.yaml"),
            "kind: Routine\nid: r\nevery: 1m\n---\nkind: Routine\nid: up\nevery: 1m\n---\nkind: Routine\nid: down\nevery: 1m\ndepends_on: [routine/up]\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("rules/a.yaml"),
            format!(
                "kind: Receiver\nid: hook\nwebhook: {{url: \"http://127.0.0.1:9/\"}}\n---\nkind: Receiver\nid: am\nalertmanager: {{url: \"http://127.0.0.1:9\"}}\n---\n{extra}"
            ),
        )
        .expect("write");
        crate::config::load(dir.path(), at(0)).unwrap_or_else(|e| panic!("{:?}", e.0))
    }

    fn state(c: &Config, id: &str, level: Level, since: i64) -> (Entity, EntityState) {
        let e = c.entity(&EntityKey::new(Kind::Routine, id)).expect("entity").as_ref().clone();
        let mut s = crate::observe::fresh(&e, at(0));
        s.health = level;
        s.since = Some(at(since));
        s.reason = format!("{level:?}");
        (e, s)
    }

    fn run(book: &mut AlertBook, c: &Config, states: &[(Entity, EntityState)], t: i64) -> Outcome {
        evaluate(book, c, states.iter().map(|(e, s)| (e, s)), at(t))
    }

    const RULE: &str =
        "kind: AlertRule\nid: bad\nmatch: {level: [stale, failed]}\nrepeat_interval: 1h\nreceivers: [hook]\n";

    #[test]
    fn fires_once_repeats_and_resolves() {
        let c = config(RULE);
        let mut book = AlertBook::default();
        let stale = vec![state(&c, "r", Level::Stale, 10)];
        let o = run(&mut book, &c, &stale, 10);
        assert_eq!(o.notifications.len(), 1);
        assert_eq!(o.notifications[0].alert.id, "bad/routine/r");
        assert_eq!(o.events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["alert.firing"]);
        assert!(run(&mut book, &c, &stale, 20).notifications.is_empty(), "no repeat before the interval");
        let again = run(&mut book, &c, &stale, 10 + 3600);
        assert_eq!(again.notifications.len(), 1, "repeat after 1h");
        assert_ne!(again.notifications[0].notification_id, o.notifications[0].notification_id);
        let healthy = vec![state(&c, "r", Level::Healthy, 4000)];
        let r = run(&mut book, &c, &healthy, 4000);
        assert_eq!(r.notifications.len(), 1);
        assert_eq!(r.notifications[0].status, NotificationStatus::Resolved);
        assert_eq!(r.notifications[0].alert.ends_at, Some(at(4000)));
        assert!(book.alerts.is_empty());
        assert!(run(&mut book, &c, &healthy, 5000).notifications.is_empty());
    }

    #[test]
    fn ids_are_stable_across_a_rebuilt_book() {
        let c = config(RULE);
        let stale = vec![state(&c, "r", Level::Stale, 10)];
        let a = run(&mut AlertBook::default(), &c, &stale, 10);
        let b = run(&mut AlertBook::default(), &c, &stale, 10);
        assert_eq!(a.notifications[0].notification_id, b.notifications[0].notification_id);
    }

    #[test]
    fn a_restored_book_sends_nothing_new() {
        let c = config(RULE);
        let stale = vec![state(&c, "r", Level::Stale, 10)];
        let mut book = AlertBook::default();
        run(&mut book, &c, &stale, 10);
        let text = serde_json::to_string(&book).expect("json");
        let mut restored: AlertBook = serde_json::from_str(&text).expect("json");
        assert!(run(&mut restored, &c, &stale, 30).notifications.is_empty());
    }

    #[test]
    fn for_delays_firing() {
        let c = config("kind: AlertRule\nid: bad\nfor: 5m\nreceivers: [hook]\n");
        let mut book = AlertBook::default();
        let stale = vec![state(&c, "r", Level::Stale, 0)];
        assert!(run(&mut book, &c, &stale, 100).notifications.is_empty());
        assert_eq!(next_wakeup(&book, &c, at(100)), Some(at(300)));
        assert_eq!(run(&mut book, &c, &stale, 300).notifications.len(), 1);
        // Pending alerts that recover vanish without a word.
        let mut book = AlertBook::default();
        run(&mut book, &c, &stale, 100);
        let r = run(&mut book, &c, &[state(&c, "r", Level::Healthy, 150)], 150);
        assert!(r.notifications.is_empty() && r.events.is_empty());
    }

    #[test]
    fn silences_and_inhibition_hold_back_but_record() {
        let silence = "---\nkind: Silence\nid: quiet\nmatch: {id: [r]}\nexpires: \"2027-02-01T00:00:00Z\"\nreason: maintenance\n";
        let dir_config = config(&format!("{RULE}{silence}"));
        let mut book = AlertBook::default();
        let stale = vec![state(&dir_config, "r", Level::Stale, 10)];
        let o = run(&mut book, &dir_config, &stale, 10);
        assert!(o.notifications.is_empty());
        assert_eq!(o.events[0].data.as_ref().and_then(|d| d["silenced"].as_bool()), Some(true));
        // After the silence expires, the still-firing alert notifies.
        let expiry = dir_config.silences[0].expires;
        let later = evaluate(&mut book, &dir_config, stale.iter().map(|(e, s)| (e, s)), expiry);
        assert_eq!(later.notifications.len(), 1);

        let c = config(RULE);
        let mut down = state(&c, "down", Level::Stale, 10);
        down.1.inhibited = true;
        let o = run(&mut AlertBook::default(), &c, &[down], 10);
        assert!(o.notifications.is_empty());
        assert_eq!(o.events[0].data.as_ref().and_then(|d| d["inhibited"].as_bool()), Some(true));
    }

    #[test]
    fn unknown_to_healthy_never_notifies() {
        let c = config("kind: AlertRule\nid: unknowns\nmatch: {level: [unknown]}\nreceivers: [hook]\n");
        let mut book = AlertBook::default();
        assert_eq!(run(&mut book, &c, &[state(&c, "r", Level::Unknown, 0)], 0).notifications.len(), 1);
        let r = run(&mut book, &c, &[state(&c, "r", Level::Healthy, 5)], 5);
        assert!(r.notifications.is_empty());
        assert_eq!(r.events[0].kind, "alert.resolved");
    }

    #[test]
    fn alertmanager_receivers_hear_every_minute() {
        let c = config("kind: AlertRule\nid: bad\nrepeat_interval: 0s\nreceivers: [hook, am]\n");
        let mut book = AlertBook::default();
        let stale = vec![state(&c, "r", Level::Failed, 0)];
        assert_eq!(run(&mut book, &c, &stale, 0).notifications.len(), 2);
        let again = run(&mut book, &c, &stale, 60);
        assert_eq!(again.notifications.iter().map(|n| n.receiver.as_str()).collect::<Vec<_>>(), ["am"]);
    }
}
