//! The reconciler's state machine, without I/O: entity states, the fold of events into them,
//! evaluation, transitions, deadlines, and the live-state snapshot.
//!
//! The daemon owns one [`Engine`] in a single task and feeds it events, probe results and the
//! clock; the CLI builds one from the snapshot and the log to answer `why` and `plan` with the
//! same logic. Every method takes `now`; nothing here reads the clock or touches a file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, DesiredState, Entity, EntityKey, Kind, Level, OutputContract, Probe, Spec};
use crate::events::{Event, NewEvent};
use crate::health::{self, Verdict};
use crate::observe::{self, Ping, PingKind};
use crate::state::{self, EntityState, LiveState, Mismatch, Observation};

/// The event `source` of everything the reconciler writes.
pub const SOURCE: &str = "reconciler";

pub struct Engine {
    config: Arc<Config>,
    states: BTreeMap<EntityKey, EntityState>,
    /// Each judged entity's next wakeup, and the same ordered by time.
    wakeups: HashMap<EntityKey, DateTime<Utc>>,
    timeline: BTreeSet<(DateTime<Utc>, EntityKey)>,
    last_seq: u64,
    pub workspace_revision: Option<String>,
}

impl Engine {
    /// Starts from a snapshot (or nothing): entities keep what the snapshot knew of them.
    pub fn new(config: Arc<Config>, snapshot: Option<LiveState>, now: DateTime<Utc>) -> Engine {
        let mut previous: HashMap<(String, String), EntityState> = HashMap::new();
        let mut last_seq = 0;
        if let Some(snapshot) = snapshot {
            last_seq = snapshot.summary.last_event_seq;
            for s in snapshot
                .agents
                .into_iter()
                .chain(snapshot.subagents)
                .chain(snapshot.workflows)
                .chain(snapshot.routines)
                .chain(snapshot.integrations)
                .chain(snapshot.outputs)
                .chain(snapshot.projects)
            {
                previous.insert((s.kind.clone(), s.id.clone()), s);
            }
        }
        let mut engine = Engine {
            config: config.clone(),
            states: BTreeMap::new(),
            wakeups: HashMap::new(),
            timeline: BTreeSet::new(),
            last_seq,
            workspace_revision: None,
        };
        engine.adopt(config, previous, now);
        engine
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn state(&self, key: &EntityKey) -> Option<&EntityState> {
        self.states.get(key)
    }

    /// Swaps in a new configuration, keeping what is known of entities that remain.
    pub fn set_config(&mut self, config: Arc<Config>, now: DateTime<Utc>) {
        let previous = std::mem::take(&mut self.states)
            .into_values()
            .map(|s| ((s.kind.clone(), s.id.clone()), s))
            .collect();
        self.wakeups.clear();
        self.timeline.clear();
        self.adopt(config, previous, now);
    }

    fn adopt(
        &mut self,
        config: Arc<Config>,
        mut previous: HashMap<(String, String), EntityState>,
        now: DateTime<Utc>,
    ) {
        self.config = config.clone();
        for entity in config.visible_entities() {
            let key = (entity.key.kind.lower().to_string(), entity.key.id.clone());
            let mut state = previous.remove(&key).unwrap_or_else(|| observe::fresh(entity, now));
            // Descriptive fields follow the configuration; observations stay.
            state.name = entity.display_name().to_string();
            state.desired = entity.meta.desired;
            state.owner = entity.meta.owner.clone();
            state.labels = entity.meta.labels.clone();
            state.depends_on = entity.meta.depends_on.iter().map(ToString::to_string).collect();
            state.schedule = describe_schedule(entity);
            state.probe = describe_probe(entity, &config.workspace);
            state.details = details(entity);
            if state.first_seen.is_none() {
                state.first_seen = Some(now);
            }
            self.states.insert(entity.key.clone(), state);
        }
    }

    /// Folds one event of the log. Returns the entity it changed, if any.
    pub fn apply_event(&mut self, event: &Event) -> Option<EntityKey> {
        if event.seq <= self.last_seq {
            return None;
        }
        self.last_seq = event.seq;
        if event.kind != "heartbeat.received" {
            return None;
        }
        let kind = Kind::from_lower(&event.entity_type)?;
        let key = EntityKey::new(kind, event.entity_id.clone());
        let data = event.data.as_ref();
        let exit_code = data.and_then(|d| d.get("exit_code")).and_then(serde_json::Value::as_u64);
        let ping = Ping {
            kind: PingKind::from_status(&event.status, exit_code)?,
            at: event.timestamp,
            rid: data.and_then(|d| d.get("rid")).and_then(|r| r.as_str()).map(String::from),
            message: data
                .and_then(|d| d.get("body"))
                .and_then(|b| b.as_str())
                .map(|b| b.chars().take(200).collect()),
        };
        self.apply_ping(&key, &ping).then_some(key)
    }

    /// Folds a ping that did not come through the log (`record_pings: false`).
    pub fn apply_ping(&mut self, key: &EntityKey, ping: &Ping) -> bool {
        let Some(entity) = self.config.entity(key).cloned() else { return false };
        let Some(state) = self.states.get_mut(key) else { return false };
        observe::apply_ping(&entity, state, ping);
        true
    }

    pub fn apply_probe(&mut self, key: &EntityKey, observation: Observation) -> Option<NewEvent> {
        let entity = self.config.entity(key)?.clone();
        let state = self.states.get_mut(key)?;
        let failed = observation.ok == Some(false);
        let error = observation.error.clone();
        let probe = observation.kind.clone();
        observe::apply_probe(&entity, state, observation);
        // The first failure in a row is recorded; the rest are counted, not logged, so a
        // service that is down for a day does not fill the log.
        (failed && state.consecutive_failures == 1).then(|| {
            NewEvent::new(
                "probe.failed",
                SOURCE,
                key.kind.lower(),
                &key.id,
                "failed",
                format!("{probe} probe failed: {}", error.unwrap_or_default()),
            )
            .with_data(serde_json::json!({"probe": probe, "consecutive_failures": 1}))
        })
    }

    /// Re-evaluates every entity; returns the transitions as events.
    pub fn evaluate_all(&mut self, now: DateTime<Utc>) -> Vec<NewEvent> {
        let keys: Vec<EntityKey> = self.states.keys().cloned().collect();
        let events = keys.iter().filter_map(|k| self.evaluate(k, now)).collect();
        self.update_inhibition();
        events
    }

    /// Re-evaluates one entity; returns its transition, if its level changed.
    pub fn evaluate(&mut self, key: &EntityKey, now: DateTime<Utc>) -> Option<NewEvent> {
        let entity = self.config.entity(key)?.clone();
        let state = self.states.get_mut(key)?;
        let verdict = health::evaluate(&self.config, &entity, state, now);
        let expectation =
            health::is_judged(&entity).then(|| health::expectation(&entity, state, now)).flatten();
        state.expected_at = expectation.as_ref().map(|e| e.expected_at);
        state.deadline = expectation.as_ref().map(|e| e.deadline);
        state.missed_runs = expectation.map_or(0, |e| u64::from(e.missed_runs));
        state.last_checked = Some(now);
        let wakeup = health::next_wakeup(&entity, state, now);
        let event = record(state, verdict, now);
        if event.is_some() {
            // A level change can hold back (or release) the alerts of dependents.
            self.update_inhibition();
        }
        if let Some(old) = self.wakeups.remove(key) {
            self.timeline.remove(&(old, key.clone()));
        }
        if let Some(at) = wakeup {
            self.wakeups.insert(key.clone(), at);
            self.timeline.insert((at, key.clone()));
        }
        event
    }

    /// Every visible entity with its state, for alert evaluation.
    pub fn entities(&self) -> impl Iterator<Item = (&Entity, &EntityState)> {
        self.states.iter().filter_map(|(k, s)| Some((self.config.entity(k)?.as_ref(), s)))
    }

    /// Marks entities whose dependencies are stale or failed: their alerts are held back.
    fn update_inhibition(&mut self) {
        let unhealthy: BTreeSet<String> = self
            .states
            .iter()
            .filter(|(_, s)| matches!(s.health, Level::Stale | Level::Failed))
            .map(|(k, _)| k.to_string())
            .collect();
        for state in self.states.values_mut() {
            state.inhibited = state.depends_on.iter().any(|d| unhealthy.contains(d));
        }
    }

    /// The earliest wakeup of any entity.
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        self.timeline.first().map(|(at, _)| *at)
    }

    /// Entities whose wakeup is at or before `now`.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<EntityKey> {
        self.timeline.iter().take_while(|(at, _)| *at <= now).map(|(_, k)| k.clone()).collect()
    }

    /// The pulled probes of judged entities: (entity, probe, period).
    pub fn pulled_probes(&self) -> Vec<(EntityKey, Probe, std::time::Duration)> {
        self.config
            .visible_entities()
            .filter(|e| health::is_judged(e))
            .filter_map(|e| {
                let (probe, every) = match &e.spec {
                    Spec::Routine(r) => (r.observe.clone(), r.probe_every),
                    Spec::Integration(i) => (i.observe.clone()?, i.every),
                    Spec::Output(o) => (
                        Probe::File(crate::config::FileProbe {
                            path: o.location.clone(),
                            min_size: o.min_size,
                        }),
                        o.check_every,
                    ),
                    _ => return None,
                };
                matches!(probe, Probe::File(_) | Probe::Command(_) | Probe::Http(_) | Probe::Tcp(_))
                    .then(|| (e.key.clone(), probe, every))
            })
            .collect()
    }

    /// Whether `id` can receive pings: a visible routine or integration, in that order.
    pub fn ping_target(config: &Config, id: &str) -> Option<EntityKey> {
        [Kind::Routine, Kind::Integration]
            .into_iter()
            .map(|k| EntityKey::new(k, id))
            .find(|k| config.entity(k).is_some_and(|e| !e.inert))
    }

    /// The live state (SPEC section 7).
    pub fn snapshot(&self, now: DateTime<Utc>) -> LiveState {
        let mut live = LiveState {
            version: state::VERSION,
            generated_at: Some(now),
            workspace_revision: self.workspace_revision.clone(),
            ..LiveState::default()
        };
        live.summary.last_event_seq = self.last_seq;
        live.summary.currency = "USD".to_string();
        let mut overall: Option<Level> = None;
        for (key, s) in &self.states {
            let Some(entity) = self.config.entity(key) else { continue };
            if health::is_judged(entity) {
                live.summary.counts.add(s.health);
                overall = Some(overall.map_or(s.health, |o| o.max(s.health)));
                if s.health == Level::Stale {
                    live.summary.stale_signals += 1;
                }
            }
            live.mismatches.extend(mismatches(entity, s));
            let list = match &entity.spec {
                Spec::Agent(a) if a.role == crate::config::AgentRole::Subagent => &mut live.subagents,
                Spec::Agent(_) => &mut live.agents,
                Spec::Workflow(_) => &mut live.workflows,
                Spec::Routine(_) => &mut live.routines,
                Spec::Integration(_) => &mut live.integrations,
                Spec::Output(_) => &mut live.outputs,
                Spec::Project(_) => &mut live.projects,
            };
            list.push(s.clone());
        }
        live.summary.overall_health = overall;
        live.summary.active_mode = self
            .config
            .orchestrator()
            .and_then(|o| if let Spec::Agent(a) = &o.spec { a.mode.map(|m| format!("{m:?}")) } else { None });
        live
    }
}

/// Applies a verdict; returns the `health.changed` event when the level changed.
fn record(state: &mut EntityState, verdict: Verdict, now: DateTime<Utc>) -> Option<NewEvent> {
    let from = state.health;
    let changed = from != verdict.level;
    state.reason = verdict.reason.clone();
    state.message = verdict.message.clone();
    state.rule = verdict.rule.clone();
    state.evidence = verdict.evidence.clone();
    if !changed {
        return None;
    }
    state.previous_health = Some(from);
    state.health = verdict.level;
    state.since = Some(now);
    let level = |l: Level| crate::metrics::level_name(l);
    Some(
        NewEvent::new(
            "health.changed",
            SOURCE,
            &state.kind,
            &state.id,
            level(verdict.level),
            verdict.message,
        )
        .with_data(serde_json::json!({
            "from": level(from),
            "to": level(verdict.level),
            "reason": verdict.reason,
            "rule": verdict.rule,
            "evidence": verdict.evidence,
        })),
    )
}

/// Desired against observed, for one entity.
fn mismatches(entity: &Entity, s: &EntityState) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let key = entity.key.to_string();
    if entity.meta.desired != DesiredState::Active
        && let (Some(signal), Some(since)) = (s.last_signal, s.since)
        && signal > since
    {
        out.push(Mismatch {
            entity: key.clone(),
            field: "desired".to_string(),
            desired: serde_json::to_value(entity.meta.desired).unwrap_or_default(),
            observed: serde_json::json!("still signalling"),
        });
    }
    if let Spec::Output(o) = &entity.spec
        && s.health == Level::Stale
    {
        let desired = match &o.contract {
            OutputContract::Due(_) => {
                format!("a file newer than {}", s.expected_at.map(|t| t.to_rfc3339()).unwrap_or_default())
            }
            OutputContract::MaxAge(age) => format!("younger than {}", crate::duration::human(*age)),
        };
        out.push(Mismatch {
            entity: key,
            field: "freshness".to_string(),
            desired: serde_json::json!(desired),
            observed: s
                .last_success
                .map_or(serde_json::json!("missing"), |t| serde_json::json!(t.to_rfc3339())),
        });
    }
    out
}

fn describe_schedule(entity: &Entity) -> Option<String> {
    match &entity.spec {
        Spec::Routine(r) => Some(crate::config::describe_schedule(&r.schedule)),
        Spec::Output(o) => Some(match &o.contract {
            OutputContract::Due(s) => format!("due {}", crate::config::describe_schedule(s)),
            OutputContract::MaxAge(a) => format!("max age {}", crate::duration::human(*a)),
        }),
        _ => None,
    }
}

fn describe_probe(entity: &Entity, workspace: &std::path::Path) -> Option<String> {
    let relative = |path: &str| {
        std::path::Path::new(path)
            .strip_prefix(workspace)
            .map_or(path.to_string(), |p| p.display().to_string())
    };
    let probe = match &entity.spec {
        Spec::Routine(r) => &r.observe,
        Spec::Integration(i) => i.observe.as_ref()?,
        Spec::Output(o) => return Some(format!("file {}", relative(&o.location))),
        _ => return None,
    };
    Some(match probe {
        Probe::Heartbeat => "heartbeat".to_string(),
        Probe::File(f) => format!("file {}", relative(&f.path)),
        Probe::Command(c) => format!("command {}", c.run.join(" ")),
        Probe::Http(h) => format!("http {} {}", h.method, h.url),
        Probe::Tcp(t) => format!("tcp {}", t.address),
        Probe::OpenclawCron { job } => format!("openclaw cron job {job}"),
    })
}

fn details(entity: &Entity) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        if !v.is_null() {
            map.insert(k.to_string(), v);
        }
    };
    match &entity.spec {
        Spec::Agent(a) => {
            put("role", serde_json::to_value(a.role).unwrap_or_default());
            put("parent", serde_json::json!(a.parent));
            put("model", serde_json::json!(a.model));
            put("scope", serde_json::json!(a.scope));
            put("mode", a.mode.map_or(serde_json::Value::Null, |m| serde_json::json!(format!("{m:?}"))));
        }
        Spec::Workflow(w) => {
            put("expected_output", serde_json::json!(w.expected_output));
            put("steps", serde_json::to_value(&w.steps).unwrap_or_default());
        }
        Spec::Project(p) => {
            put("status", serde_json::to_value(p.status).unwrap_or_default());
            put("repo", serde_json::json!(p.repo));
            put("branch", serde_json::json!(p.branch));
        }
        Spec::Integration(i) => {
            put("type", serde_json::json!(i.type_));
            put("purpose", serde_json::json!(i.purpose));
            put("boundary", serde_json::to_value(i.boundary).unwrap_or_default());
        }
        Spec::Output(o) => {
            put("type", serde_json::json!(o.type_));
            put("trigger", serde_json::json!(o.trigger));
        }
        Spec::Routine(_) => {}
    }
    map
}
