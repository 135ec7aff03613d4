//! Prometheus metrics (SPEC section 11), registered once in a typed struct.
//!
//! Label values come from the configuration (entity kinds and ids, probe kinds, receiver ids)
//! or from small fixed sets (levels, outcomes), never from request input, so the number of
//! series is bounded by the configuration. Series of entities that leave the configuration are
//! removed on reload.
//!
//! The two per-entity families (`entity_health`, `entity_last_signal_timestamp_seconds`) are
//! not prometheus-crate vectors: at ten thousand entities their 60,000 series would cost tens
//! of megabytes and a scrape tens of milliseconds through the crate's general encoder. They
//! are one sorted table, replaced whole at each publication and written straight as text.
//!
//! Every metric is in the output from the start: a labelled metric with no series yet shows
//! its `# HELP` and `# TYPE` lines (the prometheus crate would leave it out), so a scrape
//! always lists the whole set of SPEC section 11, and label sets known in advance (ping
//! kinds) start at 0 so `rate()` and `increase()` see the first increment.

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::{Arc, RwLock};

use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::config::Level;
use crate::state::EntityState;

const LEVELS: [Level; 5] = [Level::Healthy, Level::Unknown, Level::Warning, Level::Stale, Level::Failed];

pub fn level_name(level: Level) -> &'static str {
    level.as_str()
}

/// Every metric the process exports.
pub struct Metrics {
    /// Checks at start that no two metrics share a name; [`Metrics::collectors`] renders.
    registry: Registry,
    /// Each judged entity's level and last signal, sorted by kind and id.
    entities: RwLock<Vec<Arc<EntityState>>>,
    pub overall_health: IntGaugeVec,
    pub probe_duration: HistogramVec,
    pub probes_total: IntCounterVec,
    pub heartbeats_total: IntCounterVec,
    pub events_total: IntCounterVec,
    pub alerts_firing: IntGauge,
    pub notifications_total: IntCounterVec,
    pub reconcile_duration: Histogram,
    pub config_last_reload_successful: IntGauge,
    pub config_last_reload_success_timestamp: Gauge,
    pub tokens_total: IntCounterVec,
    pub estimated_cost_total: prometheus::CounterVec,
    pub inbox_items: IntGaugeVec,
    pub tasks: IntGaugeVec,
    pub build_info: IntGaugeVec,
    /// Chat commands answered or ignored, by channel (`telegram`, `api`).
    pub chat_commands_total: IntCounterVec,
    /// The (model, agent) pairs with series: usage names them, so they are capped.
    usage_series: std::sync::Mutex<HashSet<(String, String)>>,
}

/// At most this many (model, agent) pairs get series of their own; the rest count as `other`.
const MAX_USAGE_SERIES: usize = 256;

fn name(n: &str) -> String {
    format!("mission_control_{n}")
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let m = Metrics {
            entities: RwLock::new(Vec::new()),
            overall_health: IntGaugeVec::new(
                Opts::new(name("overall_health"), "1 for the overall health level, 0 for the others"),
                &["level"],
            )
            .expect("metric"),
            probe_duration: HistogramVec::new(
                HistogramOpts::new(name("probe_duration_seconds"), "Duration of pulled probes")
                    .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                &["entity_type", "probe"],
            )
            .expect("metric"),
            probes_total: IntCounterVec::new(
                Opts::new(name("probes_total"), "Pulled probes run, by result"),
                &["entity_type", "probe", "result"],
            )
            .expect("metric"),
            heartbeats_total: IntCounterVec::new(
                Opts::new(name("heartbeats_total"), "Heartbeat pings received, by kind"),
                &["kind"],
            )
            .expect("metric"),
            events_total: IntCounterVec::new(
                Opts::new(
                    name("events_total"),
                    "Events recorded in the log (by any writer) and seen by the daemon, by type",
                ),
                &["type"],
            )
            .expect("metric"),
            alerts_firing: IntGauge::new(name("alerts_firing"), "Alerts firing now").expect("metric"),
            notifications_total: IntCounterVec::new(
                Opts::new(name("notifications_total"), "Notification attempts, by receiver and outcome"),
                &["receiver", "outcome"],
            )
            .expect("metric"),
            reconcile_duration: Histogram::with_opts(
                HistogramOpts::new(
                    name("reconcile_duration_seconds"),
                    "Duration of the reconciler's work after a wakeup: evaluation, events, publication",
                )
                .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0]),
            )
            .expect("metric"),
            config_last_reload_successful: IntGauge::new(
                name("config_last_reload_successful"),
                "1 if the last configuration load succeeded, 0 if it was rejected",
            )
            .expect("metric"),
            config_last_reload_success_timestamp: Gauge::new(
                name("config_last_reload_success_timestamp_seconds"),
                "Unix time of the last successful configuration load",
            )
            .expect("metric"),
            tokens_total: IntCounterVec::new(
                Opts::new(name("tokens_total"), "Tokens used, by model, agent and direction"),
                &["model", "agent", "direction"],
            )
            .expect("metric"),
            estimated_cost_total: prometheus::CounterVec::new(
                Opts::new(name("estimated_cost_total"), "Estimated spend, by model and currency"),
                &["model", "currency"],
            )
            .expect("metric"),
            inbox_items: IntGaugeVec::new(Opts::new(name("inbox_items"), "Inbox items by state"), &["state"])
                .expect("metric"),
            tasks: IntGaugeVec::new(
                Opts::new(name("tasks"), "Tasks by status and domain"),
                &["status", "domain"],
            )
            .expect("metric"),
            build_info: IntGaugeVec::new(
                Opts::new(name("build_info"), "Always 1; the version of this build"),
                &["version"],
            )
            .expect("metric"),
            chat_commands_total: IntCounterVec::new(
                Opts::new(
                    name("chat_commands_total"),
                    "Chat commands by channel and outcome (answered, ignored, failed)",
                ),
                &["channel", "outcome"],
            )
            .expect("metric"),
            registry,
            usage_series: std::sync::Mutex::new(HashSet::new()),
        };
        for c in m.collectors() {
            m.registry.register(c).expect("metric registered once");
        }
        for kind in ["success", "start", "fail", "exit", "log"] {
            m.heartbeats_total.with_label_values(&[kind]);
        }
        m.build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        m
    }

    /// Every metric, in the order of SPEC section 11.
    fn collectors(&self) -> Vec<Box<dyn Collector>> {
        let m = self;
        vec![
            Box::new(m.overall_health.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.probe_duration.clone()),
            Box::new(m.probes_total.clone()),
            Box::new(m.heartbeats_total.clone()),
            Box::new(m.events_total.clone()),
            Box::new(m.alerts_firing.clone()),
            Box::new(m.notifications_total.clone()),
            Box::new(m.reconcile_duration.clone()),
            Box::new(m.config_last_reload_successful.clone()),
            Box::new(m.config_last_reload_success_timestamp.clone()),
            Box::new(m.tokens_total.clone()),
            Box::new(m.estimated_cost_total.clone()),
            Box::new(m.inbox_items.clone()),
            Box::new(m.tasks.clone()),
            Box::new(m.build_info.clone()),
            Box::new(m.chat_commands_total.clone()),
        ]
    }

    /// Counts a usage record's tokens and cost. Models and agents come from usage records, not
    /// only the configuration, so past [`MAX_USAGE_SERIES`] pairs they are counted as `other`.
    pub fn record_usage(&self, usage: &crate::work::event::UsageRecorded) {
        let pair = (usage.model.clone(), usage.agent.clone());
        let (model, agent) = {
            let mut seen = self.usage_series.lock().unwrap_or_else(|e| e.into_inner());
            if seen.contains(&pair) || seen.len() < MAX_USAGE_SERIES {
                seen.insert(pair.clone());
                pair
            } else {
                ("other".to_string(), "other".to_string())
            }
        };
        for (direction, tokens) in [
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_tokens),
            ("cache_write", usage.cache_write_tokens),
        ] {
            self.tokens_total.with_label_values(&[&model, &agent, direction]).inc_by(tokens);
        }
        if usage.estimated_cost.is_finite() && usage.estimated_cost > 0.0 {
            self.estimated_cost_total
                .with_label_values(&[&model, &usage.currency])
                .inc_by(usage.estimated_cost);
        }
    }

    /// The inbox and task gauges from the board.
    pub fn set_work(&self, board: &crate::work::Board) {
        use crate::work::Status;
        let inbox = board.tasks.values().filter(|t| t.status == Status::Inbox).count();
        let triaged = board.tasks.values().filter(|t| t.status == Status::Triaged).count();
        let urgent = board
            .tasks
            .values()
            .filter(|t| !t.status.is_finished() && t.priority == Some(crate::config::Priority::Urgent))
            .count();
        for (state, n) in
            [("raw", board.tasks.len()), ("untriaged", inbox), ("triaged", triaged), ("urgent", urgent)]
        {
            self.inbox_items.with_label_values(&[state]).set(n as i64);
        }
        let mut counts: std::collections::BTreeMap<(&str, String), i64> = std::collections::BTreeMap::new();
        for task in board.tasks.values() {
            let domain = task.domain.map_or("none".to_string(), |d| {
                serde_json::to_value(d).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
            });
            *counts.entry((task.status.as_str(), domain)).or_default() += 1;
        }
        self.tasks.reset();
        for ((status, domain), n) in counts {
            self.tasks.with_label_values(&[status, &domain]).set(n);
        }
    }

    /// Replaces the per-entity series (each entity's level and last signal): one row per
    /// judged entity, in any order. The states are the published ones, shared, not copied;
    /// they come as a few runs already sorted by id (one per kind), which a stable sort merges
    /// in close to linear time.
    pub fn set_entities(&self, mut rows: Vec<Arc<EntityState>>) {
        rows.sort_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
        if let Ok(mut entities) = self.entities.write() {
            *entities = rows;
        }
    }

    pub fn set_overall(&self, level: Level) {
        for l in LEVELS {
            self.overall_health.with_label_values(&[level_name(l)]).set(i64::from(l == level));
        }
    }

    /// The text exposition format 0.0.4, metrics sorted by name.
    pub fn render(&self) -> String {
        let mut families: Vec<_> = self.collectors().iter().flat_map(|c| c.collect()).collect();
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let encoder = TextEncoder::new();
        let entities = self.entities.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut buffer = Vec::with_capacity(4096 + entities.len() * 500);
        let mut entities_written = false;
        for family in &families {
            // The table's two families sort just before `mission_control_events_total`.
            if !entities_written && family.name() > ENTITY_LAST_SIGNAL {
                write_entities(&entities, &mut buffer);
                entities_written = true;
            }
            if family.get_metric().is_empty() {
                let kind = match family.get_field_type() {
                    MetricType::COUNTER => "counter",
                    MetricType::GAUGE => "gauge",
                    MetricType::HISTOGRAM => "histogram",
                    MetricType::SUMMARY => "summary",
                    MetricType::UNTYPED => "untyped",
                };
                let help = family.help().replace('\\', "\\\\").replace('\n', "\\n");
                buffer.extend(
                    format!("# HELP {} {help}\n# TYPE {} {kind}\n", family.name(), family.name()).bytes(),
                );
            } else if let Err(e) = encoder.encode(std::slice::from_ref(family), &mut buffer) {
                tracing::warn!(metric = family.name(), error = %e, "cannot encode a metric");
            }
        }
        if !entities_written {
            write_entities(&entities, &mut buffer);
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

const ENTITY_HEALTH: &str = "mission_control_entity_health";
const ENTITY_LAST_SIGNAL: &str = "mission_control_entity_last_signal_timestamp_seconds";

/// The entity table as two families, in the crate's format (labels in name order).
fn write_entities(rows: &[Arc<EntityState>], out: &mut Vec<u8>) {
    out.reserve(rows.len() * 500 + 512);
    let _ = write!(
        out,
        "# HELP {ENTITY_HEALTH} 1 for the entity's current health level, 0 for the others\n# TYPE {ENTITY_HEALTH} gauge\n"
    );
    for row in rows {
        let (kind, id) = (escape_label(&row.kind), escape_label(&row.id));
        // 50,000 lines at 10,000 entities: copied piece by piece, not through `write!`.
        for level in LEVELS {
            for piece in [ENTITY_HEALTH, "{entity_id=\"", &id, "\",entity_type=\"", &kind, "\",level=\""] {
                out.extend_from_slice(piece.as_bytes());
            }
            out.extend_from_slice(level_name(level).as_bytes());
            out.extend_from_slice(if level == row.health { b"\"} 1\n" } else { b"\"} 0\n" });
        }
    }
    let _ = write!(
        out,
        "# HELP {ENTITY_LAST_SIGNAL} Unix time of the entity's last signal (ping, probe, report)\n# TYPE {ENTITY_LAST_SIGNAL} gauge\n"
    );
    for row in rows {
        if let Some(at) = row.last_signal.map(|t| t.timestamp_millis() as f64 / 1000.0) {
            let (kind, id) = (escape_label(&row.kind), escape_label(&row.id));
            let _ = writeln!(out, "{ENTITY_LAST_SIGNAL}{{entity_id=\"{id}\",entity_type=\"{kind}\"}} {at}");
        }
    }
}

/// A label value as the exposition format writes it.
fn escape_label(value: &str) -> std::borrow::Cow<'_, str> {
    if value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
    } else {
        value.into()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_series_are_a_state_set_and_removable() {
        let m = Metrics::new();
        let row = |id: &str, level: &str, last_signal: Option<&str>| -> Arc<EntityState> {
            let state = serde_json::json!({
                "kind": "routine", "id": id, "name": id, "desired": "active", "health": level,
                "reason": "Test", "message": "", "last_signal": last_signal,
            });
            Arc::new(serde_json::from_value(state).expect("an entity state"))
        };
        m.set_entities(vec![
            row("b\"\\\n", "healthy", None),
            row("a", "stale", Some("1970-01-01T00:00:01.500Z")),
        ]);
        let text = m.render();
        assert!(text.contains(
            r#"mission_control_entity_health{entity_id="a",entity_type="routine",level="stale"} 1"#
        ));
        assert!(text.contains(
            r#"mission_control_entity_health{entity_id="a",entity_type="routine",level="healthy"} 0"#
        ));
        assert!(text.contains(
            r#"mission_control_entity_last_signal_timestamp_seconds{entity_id="a",entity_type="routine"} 1.5"#
        ));
        assert!(text.contains(r#"{entity_id="b\"\\\n",entity_type="routine",level="healthy"} 1"#), "{text}");
        let health_at = text.find("# TYPE mission_control_entity_health").expect("health");
        let signal_at = text.find("# TYPE mission_control_entity_last_signal").expect("signal");
        let events_at = text.find("# TYPE mission_control_events_total").expect("events");
        assert!(health_at < signal_at && signal_at < events_at, "families sorted by name");
        m.set_entities(Vec::new());
        assert!(!m.render().contains(r#"entity_id="a""#));
    }

    #[test]
    fn every_spec_metric_is_rendered_before_it_has_series() {
        let text = Metrics::new().render();
        for (metric, kind) in [
            ("entity_health", "gauge"),
            ("entity_last_signal_timestamp_seconds", "gauge"),
            ("overall_health", "gauge"),
            ("probe_duration_seconds", "histogram"),
            ("probes_total", "counter"),
            ("heartbeats_total", "counter"),
            ("events_total", "counter"),
            ("alerts_firing", "gauge"),
            ("notifications_total", "counter"),
            ("reconcile_duration_seconds", "histogram"),
            ("config_last_reload_successful", "gauge"),
            ("config_last_reload_success_timestamp_seconds", "gauge"),
            ("tokens_total", "counter"),
            ("estimated_cost_total", "counter"),
            ("inbox_items", "gauge"),
            ("tasks", "gauge"),
            ("build_info", "gauge"),
        ] {
            let name = format!("mission_control_{metric}");
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name} missing:\n{text}");
            assert_eq!(text.matches(&format!("# HELP {name} ")).count(), 1, "{name}");
        }
        assert!(text.contains("mission_control_heartbeats_total{kind=\"fail\"} 0"));
    }
}
