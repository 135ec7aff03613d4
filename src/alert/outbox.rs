//! The persistent outbox: every notification is a file under `state/outbox/` before its first
//! attempt, and stays there until it is delivered or given up, so neither a receiver that is
//! down nor a daemon restart loses it.
//!
//! Delivery is ordered per receiver: only the oldest waiting notification of a receiver is
//! attempted, so a receiver that comes back hears "firing" before "resolved", and a receiver
//! that is down is retried with one backoff, not once per queued notification. Attempts back
//! off exponentially with jitter, honour a receiver's `retry_after`, and stop at
//! `give_up_after` with an `alert.delivery_failed` event.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};

use super::deliver::{DeliveryContext, deliver};
use super::payload::{Notification, NotificationStatus};
use crate::config::{Config, Receiver};
use crate::events::{EventWriter, NewEvent};
use crate::metrics::Metrics;

/// One queued notification and its delivery history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub notification: Notification,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub give_up_at: DateTime<Utc>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// The folder of queued notifications.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn open(state_dir: &Path) -> std::io::Result<Outbox> {
        let dir = state_dir.join("outbox");
        std::fs::create_dir_all(&dir)?;
        Ok(Outbox { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        // Ids are generated hex; anything else is refused rather than used in a path.
        let safe: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
        self.dir.join(format!("{safe}.json"))
    }

    /// Queues a notification durably. Returns false when it is already queued (the same id
    /// re-created after a crash), so it is never queued twice.
    pub fn put(
        &self,
        notification: &Notification,
        receiver: Option<&Receiver>,
    ) -> std::io::Result<Option<Entry>> {
        let path = self.path(&notification.notification_id);
        if path.exists() {
            return Ok(None);
        }
        let give_up_after = receiver.map_or(Duration::from_secs(24 * 3600), |r| r.give_up_after);
        let entry = Entry {
            notification: notification.clone(),
            attempts: 0,
            next_attempt_at: notification.created_at,
            give_up_at: later(notification.created_at, give_up_after),
            last_error: None,
        };
        self.write(&entry)?;
        Ok(Some(entry))
    }

    fn write(&self, entry: &Entry) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        crate::state::write_atomic(&self.path(&entry.notification.notification_id), &bytes)
    }

    fn remove(&self, id: &str) {
        let _ = std::fs::remove_file(self.path(id));
    }

    /// Everything queued, oldest first. Unreadable files are skipped with a warning, not lost:
    /// they stay on disk for a person to look at.
    pub fn load(&self) -> Vec<Entry> {
        let mut entries = Vec::new();
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return entries };
        for file in dir.flatten() {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string()))
            {
                Ok(entry) => entries.push(entry),
                Err(e) => warn!(path = %path.display(), error = %e, "unreadable outbox entry left in place"),
            }
        }
        entries.sort_by(|a, b| {
            (a.notification.created_at, &a.notification.notification_id)
                .cmp(&(b.notification.created_at, &b.notification.notification_id))
        });
        entries
    }
}

/// The next wait after a failed attempt: exponential from `initial`, capped at `max`, with
/// ±20 % jitter so receivers that failed together do not retry together; a receiver's own
/// `retry_after` wins when it is longer.
pub fn backoff(receiver: &Receiver, attempts: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let exponent = attempts.saturating_sub(1).min(30);
    let base = receiver.retry_initial.saturating_mul(1u32 << exponent.min(20)).min(receiver.retry_max);
    let jittered = base.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0));
    // A receiver's own wait is honoured, but never beyond a day: the value comes from the
    // network and must not push a retry past any sensible horizon (or overflow a timestamp).
    retry_after.map_or(jittered, |r| r.min(MAX_RETRY_AFTER).max(jittered.min(receiver.retry_max)))
}

/// The longest `retry_after` a receiver can impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// `at + wait`, saturating far in the future instead of overflowing.
fn later(at: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|w| at.checked_add_signed(w))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A cheap jitter source in [-1, 1]; delivery timing needs spread, not unpredictability.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 2001) / 1000.0 - 1.0
}

/// Handle to the delivery task.
#[derive(Clone)]
pub struct Delivery {
    queue: mpsc::UnboundedSender<Entry>,
    wake: Arc<Notify>,
}

impl Delivery {
    /// Hands freshly queued entries to the delivery task (after they are on disk).
    pub fn send(&self, entries: Vec<Entry>) {
        for entry in entries {
            let _ = self.queue.send(entry);
        }
        self.wake.notify_one();
    }
}

/// Where the delivery task reads the current configuration.
pub type ConfigSource = Arc<dyn Fn() -> Arc<Config> + Send + Sync>;

/// Starts the delivery task with what the outbox already holds (a restart resumes it).
pub fn spawn(
    outbox: Outbox,
    cx: Arc<DeliveryContext>,
    config: ConfigSource,
    writer: EventWriter,
    metrics: Arc<Metrics>,
) -> Delivery {
    let (queue, mut incoming) = mpsc::unbounded_channel::<Entry>();
    let wake = Arc::new(Notify::new());
    let handle = Delivery { queue, wake: wake.clone() };
    let (done_tx, mut done_rx) =
        mpsc::unbounded_channel::<(Entry, Result<(), String>, Option<Duration>, bool)>();
    // Per receiver, oldest first. Loaded before the caller can queue anything new, so an
    // entry is never both loaded from disk and received from the channel.
    let mut queues: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for entry in outbox.load() {
        enqueue(&mut queues, entry);
    }
    tokio::spawn(async move {
        let mut busy: HashSet<String> = HashSet::new();
        loop {
            let now = Utc::now();
            let current = config();
            for (receiver_id, entries) in &mut queues {
                if busy.contains(receiver_id) {
                    continue;
                }
                let Some(head) = entries.first().cloned() else { continue };
                if head.next_attempt_at > now {
                    continue;
                }
                let Some(receiver) = current.receivers.iter().find(|r| &r.id == receiver_id).cloned() else {
                    // The receiver is not in the configuration now. A reload may bring it back
                    // (an editor that rewrites a file, a checkout), so wait for it until the
                    // notification would be given up anyway.
                    if head.give_up_at <= now {
                        entries.remove(0);
                        outbox.remove(&head.notification.notification_id);
                        record_outcome(
                            &writer,
                            &metrics,
                            &head,
                            Some("the receiver is no longer configured"),
                        )
                        .await;
                    } else if let Some(first) = entries.first_mut() {
                        first.next_attempt_at = later(now, Duration::from_secs(30)).min(first.give_up_at);
                    }
                    continue;
                };
                busy.insert(receiver_id.clone());
                let (cx, done) = (cx.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let result = deliver(&receiver, &head.notification, &cx, Utc::now()).await;
                    let (retry_after, permanent) = match &result {
                        Ok(()) => (None, false),
                        Err(e) => (e.retry_after(), e.is_permanent()),
                    };
                    let _ = done.send((head, result.map_err(|e| e.to_string()), retry_after, permanent));
                });
            }
            queues.retain(|_, q| !q.is_empty());
            let next = queues
                .iter()
                .filter(|(r, _)| !busy.contains(*r))
                .filter_map(|(_, q)| q.first().map(|e| e.next_attempt_at))
                .min();
            let sleep = async {
                match next {
                    Some(at) => {
                        tokio::time::sleep((at - Utc::now()).to_std().unwrap_or(Duration::ZERO)).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(entry) = incoming.recv() => {
                    enqueue(&mut queues, entry);
                    while let Ok(entry) = incoming.try_recv() {
                        enqueue(&mut queues, entry);
                    }
                }
                Some((entry, result, retry_after, permanent)) = done_rx.recv() => {
                    let receiver_id = entry.notification.receiver.clone();
                    busy.remove(&receiver_id);
                    let queue = queues.entry(receiver_id.clone()).or_default();
                    let Some(position) = queue.iter().position(|e| e.notification.notification_id == entry.notification.notification_id) else { continue };
                    let receiver = config().receivers.iter().find(|r| r.id == receiver_id).cloned();
                    match settle(&outbox, &writer, &metrics, entry, result, retry_after, permanent, receiver.as_ref()).await {
                        Some(retry) => queue[position] = retry,
                        None => {
                            queue.remove(position);
                        }
                    }
                }
                () = wake.notified() => {}
                () = sleep => {}
            }
        }
    });
    handle
}

/// Applies the result of an attempt: delivered or given up (the entry leaves the outbox,
/// `None`), or to be retried later (the updated entry, already rewritten on disk).
#[allow(clippy::too_many_arguments)]
async fn settle(
    outbox: &Outbox,
    writer: &EventWriter,
    metrics: &Metrics,
    mut entry: Entry,
    result: Result<(), String>,
    retry_after: Option<Duration>,
    permanent: bool,
    receiver: Option<&Receiver>,
) -> Option<Entry> {
    let error = match result {
        Ok(()) => {
            outbox.remove(&entry.notification.notification_id);
            record_outcome(writer, metrics, &entry, None).await;
            return None;
        }
        Err(error) => error,
    };
    let now = Utc::now();
    entry.attempts += 1;
    entry.last_error = Some(error.clone());
    let wait =
        receiver.map_or(Duration::from_secs(60), |r| backoff(r, entry.attempts, retry_after, jitter()));
    entry.next_attempt_at = later(now, wait);
    if permanent || entry.next_attempt_at > entry.give_up_at {
        outbox.remove(&entry.notification.notification_id);
        record_outcome(writer, metrics, &entry, Some(&error)).await;
        return None;
    }
    let receiver_id = &entry.notification.receiver;
    metrics.notifications_total.with_label_values(&[receiver_id, "retry"]).inc();
    warn!(receiver = %receiver_id, attempts = entry.attempts, error = %error, retry_in = ?wait, "notification not delivered; will retry");
    if let Err(e) = outbox.write(&entry) {
        warn!(error = %e, "cannot update the outbox entry");
    }
    Some(entry)
}

/// One pass over the outbox without a delivery task (`run --once`): each receiver's due
/// notifications are attempted in order until one fails.
pub async fn deliver_once(
    outbox: &Outbox,
    cx: &DeliveryContext,
    config: &Config,
    writer: &EventWriter,
    metrics: &Metrics,
) {
    let mut blocked: HashSet<String> = HashSet::new();
    for entry in outbox.load() {
        let receiver_id = entry.notification.receiver.clone();
        if blocked.contains(&receiver_id) || entry.next_attempt_at > Utc::now() {
            blocked.insert(receiver_id);
            continue;
        }
        let Some(receiver) = config.receivers.iter().find(|r| r.id == receiver_id) else { continue };
        let result = deliver(receiver, &entry.notification, cx, Utc::now()).await;
        let (retry_after, permanent) = match &result {
            Ok(()) => (None, false),
            Err(e) => (e.retry_after(), e.is_permanent()),
        };
        if settle(
            outbox,
            writer,
            metrics,
            entry,
            result.map_err(|e| e.to_string()),
            retry_after,
            permanent,
            Some(receiver),
        )
        .await
        .is_some()
        {
            blocked.insert(receiver_id);
        }
    }
}

/// Adds an entry to its receiver's queue unless that notification is already queued.
fn enqueue(queues: &mut BTreeMap<String, Vec<Entry>>, entry: Entry) {
    let queue = queues.entry(entry.notification.receiver.clone()).or_default();
    if !queue.iter().any(|e| e.notification.notification_id == entry.notification.notification_id) {
        queue.push(entry);
    }
}

/// Counts and records the end of a notification: delivered (`error` None) or given up.
async fn record_outcome(writer: &EventWriter, metrics: &Metrics, entry: &Entry, error: Option<&str>) {
    let n = &entry.notification;
    let status = status_name(n.status);
    let (kind, outcome, attempts, message) = match error {
        None => {
            info!(receiver = %n.receiver, alert = %n.alert.id, status, "notification delivered");
            (
                "alert.delivered",
                "delivered",
                entry.attempts + 1,
                format!("{} {status} delivered to {}", n.alert.id, n.receiver),
            )
        }
        Some(error) => {
            warn!(receiver = %n.receiver, alert = %n.alert.id, error = %error, "notification given up");
            let message = format!("{} {status} not delivered to {}: {error}", n.alert.id, n.receiver);
            ("alert.delivery_failed", "failed", entry.attempts, message)
        }
    };
    metrics.notifications_total.with_label_values(&[&n.receiver, outcome]).inc();
    let mut data = serde_json::json!({
        "alert_id": n.alert.id,
        "notification_id": n.notification_id,
        "receiver": n.receiver,
        "attempts": attempts,
    });
    if let Some(error) = error {
        data["error"] = error.into();
    }
    let event = NewEvent::new(
        kind,
        super::manager::SOURCE,
        &n.alert.entity_type,
        &n.alert.entity_id,
        status,
        message,
    )
    .with_data(data);
    if let Err(e) = writer.append(event).await {
        warn!(error = %e, "cannot record the end of a notification");
    }
}

fn status_name(status: NotificationStatus) -> &'static str {
    match status {
        NotificationStatus::Firing => "firing",
        NotificationStatus::Resolved => "resolved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReceiverTarget;

    fn receiver() -> Receiver {
        Receiver {
            id: "hook".into(),
            target: ReceiverTarget::Log,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3600),
        }
    }

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let r = receiver();
        let table = [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (40, 60.0)];
        for (attempts, secs) in table {
            assert_eq!(backoff(&r, attempts, None, 0.0), Duration::from_secs_f64(secs), "attempt {attempts}");
        }
        assert_eq!(backoff(&r, 1, Some(Duration::from_secs(3)), 0.0), Duration::from_secs(3));
        let spread = backoff(&r, 3, None, 1.0);
        assert!(spread > Duration::from_secs(4) && spread <= Duration::from_secs_f64(4.8));
    }

    #[test]
    fn entries_survive_on_disk_and_are_never_queued_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Outbox::open(dir.path()).expect("open");
        let n: Notification = serde_json::from_value(serde_json::json!({
            "notification_id": "00ff", "receiver": "hook", "status": "firing",
            "alert": {"id": "a/routine/r", "rule": "a", "entity_type": "routine", "entity_id": "r",
                      "level": "stale", "previous_level": "healthy", "reason": "Overdue", "message": "m",
                      "starts_at": "2026-11-25T07:00:00Z", "ends_at": null, "labels": {}},
            "runbook": null, "dashboard_url": null, "created_at": "2026-11-25T07:00:00Z"
        }))
        .expect("notification");
        assert!(outbox.put(&n, Some(&receiver())).expect("put").is_some());
        assert!(outbox.put(&n, Some(&receiver())).expect("put").is_none());
        let loaded = Outbox::open(dir.path()).expect("open").load();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].notification, n);
        assert_eq!(loaded[0].give_up_at - loaded[0].next_attempt_at, chrono::Duration::hours(1));
        std::fs::write(dir.path().join("outbox/garbage.json"), "{").expect("write");
        assert_eq!(outbox.load().len(), 1, "an unreadable entry is skipped, not fatal");
    }
}
