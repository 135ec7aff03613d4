//! The reconciler's state machine, without I/O: entity states, the fold of events into them,
//! evaluation, transitions, deadlines, and the live-state snapshot.
//!
//! The daemon owns one [`Engine`] in a single task and feeds it events, probe results and the
//! clock; the CLI builds one from the snapshot and the log to answer `why` and `plan` with the
//! same logic. Every method takes `now`; nothing here reads the clock or touches a file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{
    BuildKeyHasher, Config, DesiredState, Entity, EntityKey, Kind, Level, OutputContract, Probe, Spec,
};
use crate::events::{Event, NewEvent};
use crate::health::{self, Verdict};
use crate::observe::{self, Ping, PingKind};
use crate::state::{self, EntityState, LiveState, Mismatch, Observation};
use crate::work::{self, Board};

/// The event `source` of everything the reconciler writes.
pub const SOURCE: &str = "reconciler";

pub struct Engine {
    config: Arc<Config>,
    states: BTreeMap<EntityKey, Arc<EntityState>>,
    /// Each judged entity's next wakeup, and the same ordered by time.
    wakeups: HashMap<EntityKey, DateTime<Utc>, BuildKeyHasher>,
    timeline: BTreeSet<(DateTime<Utc>, EntityKey)>,
    /// Each entity named in a `depends_on`, with the entities that name it: a level change
    /// updates the inhibition of its dependents only, not of every entity.
    dependents: HashMap<EntityKey, Vec<EntityKey>, BuildKeyHasher>,
    last_seq: u64,
    /// The owner's work: tasks, agent reports, usage (the fold of the work events).
    /// Shared with readers (chat commands) until the next work event copies it on write.
    board: Arc<Board>,
    /// Desired routines against the OpenClaw jobs, as the collector last found them.
    openclaw_mismatches: Vec<Mismatch>,
    /// Missing repositories and branches, from the git collector's last look.
    git_mismatches: Vec<Mismatch>,
    pub workspace_revision: Option<String>,
}

impl Engine {
    /// Starts from a snapshot (or nothing): entities keep what the snapshot knew of them.
    pub fn new(config: Arc<Config>, snapshot: Option<LiveState>, now: DateTime<Utc>) -> Engine {
        let mut previous: HashMap<(String, String), EntityState> = HashMap::new();
        let mut last_seq = 0;
        let mut board = Board::default();
        if let Some(mut snapshot) = snapshot {
            last_seq = snapshot.summary.last_event_seq;
            // The board covers exactly the snapshot's seq; an older snapshot without one
            // starts an empty board there (its work events are not replayed).
            board = snapshot.work.take().unwrap_or_default();
            board.last_seq = last_seq;
            // The snapshot file keeps the tasks once, in the live state's list.
            board.tasks =
                std::mem::take(&mut snapshot.tasks).into_iter().map(|t| (t.id.clone(), t)).collect();
            for s in snapshot
                .agents
                .into_iter()
                .chain(snapshot.subagents)
                .chain(snapshot.workflows)
                .chain(snapshot.routines)
                .chain(snapshot.integrations)
                .chain(snapshot.outputs)
                .chain(snapshot.projects)
                .chain(snapshot.budgets)
            {
                previous.insert((s.kind.clone(), s.id.clone()), Arc::unwrap_or_clone(s));
            }
        }
        let mut engine = Engine {
            config: config.clone(),
            states: BTreeMap::new(),
            wakeups: HashMap::default(),
            timeline: BTreeSet::new(),
            dependents: HashMap::default(),
            last_seq,
            board: Arc::new(board),
            openclaw_mismatches: Vec::new(),
            git_mismatches: Vec::new(),
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
        self.states.get(key).map(|s| &**s)
    }

    /// The owner's work as folded so far.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The board as it is now, shared: the engine copies it only when a work event next
    /// changes it while this is held.
    pub fn shared_board(&self) -> Arc<Board> {
        self.board.clone()
    }

    /// Swaps in a new configuration, keeping what is known of entities that remain.
    pub fn set_config(&mut self, config: Arc<Config>, now: DateTime<Utc>) {
        let previous = std::mem::take(&mut self.states)
            .into_values()
            .map(|s| ((s.kind.clone(), s.id.clone()), Arc::unwrap_or_clone(s)))
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
        self.dependents.clear();
        for entity in config.visible_entities() {
            for dependency in &entity.meta.depends_on {
                self.dependents.entry(dependency.clone()).or_default().push(entity.key.clone());
            }
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
            // What agents reported and the current step are observations, not configuration.
            let observed: Vec<(String, serde_json::Value)> = state
                .details
                .iter()
                .filter(|(k, _)| k.starts_with("reported_") || *k == "current_step")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            state.details = details(entity);
            state.details.extend(observed);
            if state.first_seen.is_none() {
                state.first_seen = Some(now);
            }
            self.states.insert(entity.key.clone(), Arc::new(state));
        }
    }

    /// Folds one event of the log. Returns the entities whose level it may change.
    pub fn apply_event(&mut self, event: &Event) -> Vec<EntityKey> {
        if event.seq <= self.last_seq {
            return Vec::new();
        }
        self.last_seq = event.seq;
        if event.kind == "heartbeat.received" {
            return self.apply_heartbeat(event).into_iter().collect();
        }
        if event.kind == "cron.run" {
            return self.apply_cron_run(event).into_iter().collect();
        }
        if !Board::folds(event) || !Arc::make_mut(&mut self.board).apply(event) {
            return Vec::new();
        }
        let mut changed = Vec::new();
        if event.kind == "agent.status_changed" {
            changed.extend(self.apply_report(event));
        }
        // Work events move workflows, projects and (with usage) budgets.
        let usage = event.kind == "usage.recorded";
        if usage {
            // Usage is kept for the longest budget window and the two weeks the cost chart shows.
            let longest = self.config.budgets.iter().map(|b| b.window).max().unwrap_or_default();
            let keep = longest.max(std::time::Duration::from_secs(15 * 86_400));
            if let Ok(keep) = chrono::Duration::from_std(keep) {
                Arc::make_mut(&mut self.board).prune_usage(event.timestamp - keep);
            }
        }
        changed.extend(
            self.states
                .keys()
                .filter(|k| {
                    matches!(k.kind, Kind::Workflow | Kind::Project) || (usage && k.kind == Kind::Budget)
                })
                .cloned(),
        );
        changed
    }

    /// A finished OpenClaw cron run is its routine's signal: `ok` a success, `error` a failure,
    /// `skipped` a run that did not do its work (rule `run-skipped`).
    fn apply_cron_run(&mut self, event: &Event) -> Option<EntityKey> {
        let key = EntityKey::new(Kind::from_lower(&event.entity_type)?, event.entity_id.clone());
        let entity = self.config.entity(&key)?.clone();
        let state = self.states.get_mut(&key).map(Arc::make_mut)?;
        let error =
            event.data.as_ref().and_then(|d| d.get("error")).and_then(|e| e.as_str()).map(String::from);
        let ok = match event.status.as_str() {
            "ok" => Some(true),
            "error" => Some(false),
            _ => None,
        };
        let observation = Observation {
            ok,
            error: error.or_else(|| (ok == Some(false)).then(|| "the run failed".to_string())),
            ..Observation::new(event.timestamp, if event.status == "skipped" { "skipped" } else { "cron" })
        };
        observe::apply_probe(&entity, state, observation);
        // A skipped run still fired: the schedule moves on from it.
        state.last_run = Some(state.last_run.map_or(event.timestamp, |t| t.max(event.timestamp)));
        Some(key)
    }

    /// What the OpenClaw collector found: ledgers of routines, heartbeats and activity of
    /// agents, drift. Returns the entities to evaluate again.
    pub fn apply_openclaw(&mut self, observed: crate::collect::watch::Observed) -> Vec<EntityKey> {
        let mut changed = Vec::new();
        for (key, ledger) in observed.ledgers {
            if let Some(state) = self.states.get_mut(&key).map(Arc::make_mut) {
                state.ledger = Some(Box::new(ledger));
                changed.push(key);
            }
        }
        for (key, heartbeat) in observed.heartbeats {
            if let Some(state) = self.states.get_mut(&key).map(Arc::make_mut) {
                state.heartbeat = Some(Box::new(heartbeat));
                changed.push(key);
            }
        }
        for (key, at) in observed.activity {
            let Some(entity) = self.config.entity(&key).cloned() else { continue };
            let Some(state) = self.states.get_mut(&key).map(Arc::make_mut) else { continue };
            if state.last_signal.is_none_or(|t| t < at) {
                observe::apply_probe(
                    &entity,
                    state,
                    Observation { ok: Some(true), ..Observation::new(at, "activity") },
                );
                changed.push(key);
            }
        }
        self.openclaw_mismatches = observed.mismatches;
        changed.sort();
        changed.dedup();
        changed
    }

    /// What the git collector found: each project's repository facts as its `git` detail,
    /// and the missing repositories and branches as mismatches. Returns the projects whose
    /// facts changed.
    pub fn apply_git(&mut self, findings: &[crate::collect::git::Finding]) -> Vec<EntityKey> {
        let mut changed = Vec::new();
        for finding in findings {
            let Some(key) = &finding.target.project else { continue };
            let Some(state) = self.states.get_mut(key).map(Arc::make_mut) else { continue };
            let facts = serde_json::to_value(&finding.facts).unwrap_or_default();
            if state.details.get("git") != Some(&facts) {
                state.details.insert("git".to_string(), facts);
                changed.push(key.clone());
            }
        }
        // A project that no longer names a repository loses its facts.
        let named: std::collections::HashSet<&EntityKey> =
            findings.iter().filter_map(|f| f.target.project.as_ref()).collect();
        for (key, state) in &mut self.states {
            if key.kind == Kind::Project && !named.contains(key) && state.details.contains_key("git") {
                Arc::make_mut(state).details.remove("git");
                changed.push(key.clone());
            }
        }
        self.git_mismatches = crate::collect::git::mismatches(findings);
        changed
    }

    /// An agent's self-report is its signal: a failure word (`error`, `failed`, `stuck`, ...)
    /// is a failed observation, anything else a successful one.
    fn apply_report(&mut self, event: &Event) -> Option<EntityKey> {
        let key = EntityKey::new(Kind::Agent, event.entity_id.clone());
        let entity = self.config.entity(&key)?.clone();
        let state = self.states.get_mut(&key).map(Arc::make_mut)?;
        let status = event.status.to_ascii_lowercase();
        let ok = !matches!(status.as_str(), "error" | "failed" | "failing" | "crashed" | "stuck");
        let observation = Observation {
            ok: Some(ok),
            error: (!ok).then(|| format!("the agent reported {}", event.status)),
            ..Observation::new(event.timestamp, "report")
        };
        observe::apply_probe(&entity, state, observation);
        if let Some(data) = event.data.as_ref().and_then(|d| d.as_object()) {
            for field in ["status", "task", "model", "mode", "tokens", "cost"] {
                if let Some(value) = data.get(field).filter(|v| !v.is_null()) {
                    state.details.insert(format!("reported_{field}"), value.clone());
                }
            }
        }
        Some(key)
    }

    fn apply_heartbeat(&mut self, event: &Event) -> Option<EntityKey> {
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
        let Some(state) = self.states.get_mut(key).map(Arc::make_mut) else { return false };
        observe::apply_ping(&entity, state, ping);
        true
    }

    pub fn apply_probe(&mut self, key: &EntityKey, observation: Observation) -> Option<NewEvent> {
        let entity = self.config.entity(key)?.clone();
        let state = self.states.get_mut(key).map(Arc::make_mut)?;
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
        let events = keys.iter().flat_map(|k| self.evaluate(k, now)).collect();
        self.update_inhibition();
        events
    }

    /// Re-evaluates one entity; returns its transition, if its level changed (and that of the
    /// project it is labelled with, if that changed in turn).
    pub fn evaluate(&mut self, key: &EntityKey, now: DateTime<Utc>) -> Vec<NewEvent> {
        let Some(entity) = self.config.entity(key).cloned() else { return Vec::new() };
        let judged_from_work = match &entity.spec {
            Spec::Workflow(w) if health::is_judged(&entity) => Some(work::judge_workflow(w, &self.board)),
            Spec::Project(_) if health::is_judged(&entity) => {
                let labelled = self.labelled(&key.id);
                let labelled: Vec<(&str, Level)> = labelled.iter().map(|(k, l)| (k.as_str(), *l)).collect();
                Some(work::judge_project(&key.id, &labelled, &self.board))
            }
            _ => None,
        };
        let budget_wakeup = match &entity.spec {
            Spec::Budget(b) => Some(self.measure_budget(key, b, now)),
            _ => None,
        };
        let Some(state) = self.states.get_mut(key).map(Arc::make_mut) else { return Vec::new() };
        let judged = health::judge(&self.config, &entity, state, now);
        let verdict = match judged_from_work {
            Some(judgement) => {
                if let Some(step) = &judgement.current_step {
                    state.details.insert("current_step".to_string(), step.clone().into());
                } else {
                    state.details.remove("current_step");
                }
                Verdict {
                    level: judgement.level,
                    reason: judgement.reason,
                    message: judgement.message,
                    rule: None,
                    evidence: None,
                }
            }
            None => {
                let verdict = judged.verdict;
                // A stopped or runaway heartbeat (OpenClaw) weighs like a rule that holds.
                match state.heartbeat.as_ref().and_then(|h| Some((h.level?, h))) {
                    Some((level, h)) if level > verdict.level && health::is_rule_judged(&entity) => Verdict {
                        level,
                        reason: h.reason.clone().unwrap_or_else(|| "Heartbeat".to_string()),
                        message: h.message.clone(),
                        rule: None,
                        evidence: state.last.clone(),
                    },
                    _ => verdict,
                }
            }
        };
        let expectation = judged.expectation;
        state.expected_at = expectation.as_ref().map(|e| e.expected_at);
        state.deadline = expectation.as_ref().map(|e| e.deadline);
        state.missed_runs = expectation.map_or(0, |e| u64::from(e.missed_runs));
        state.last_checked = Some(now);
        let wakeup = judged.wakeup.or(budget_wakeup.flatten());
        let event = record(state, verdict, now);
        if event.is_some() {
            // A level change can hold back (or release) the alerts of dependents.
            self.update_inhibition_of_dependents(key);
        }
        self.schedule(key, wakeup);
        let mut events: Vec<NewEvent> = event.into_iter().collect();
        // A project takes the worst level of the entities labelled with it.
        if !events.is_empty()
            && let Some(project) = entity.meta.labels.get("project")
        {
            let project = EntityKey::new(Kind::Project, project.clone());
            if project != *key {
                events.extend(self.evaluate(&project, now));
            }
        }
        events
    }

    fn schedule(&mut self, key: &EntityKey, wakeup: Option<DateTime<Utc>>) {
        if self.wakeups.get(key) == wakeup.as_ref() {
            return;
        }
        if let Some(old) = self.wakeups.remove(key) {
            self.timeline.remove(&(old, key.clone()));
        }
        if let Some(at) = wakeup {
            self.wakeups.insert(key.clone(), at);
            self.timeline.insert((at, key.clone()));
        }
    }

    /// The judged entities labelled `project: ID`, with their levels.
    fn labelled(&self, project: &str) -> Vec<(String, Level)> {
        self.states
            .iter()
            .filter(|(k, s)| k.kind != Kind::Project && s.labels.get("project").is_some_and(|p| p == project))
            .filter(|(k, _)| self.config.entity(k).is_some_and(|e| health::is_judged(e)))
            .map(|(k, s)| (k.to_string(), s.health))
            .collect()
    }

    /// Measures a budget's spend into its state (a successful observation: the spend is
    /// known); returns when the spend next changes with no new usage (the window moving on).
    fn measure_budget(
        &mut self,
        key: &EntityKey,
        budget: &crate::config::Budget,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let tz = self.config.settings.timezone;
        let spent = work::spent(budget, &self.board.usage, now, tz);
        let state = self.states.get_mut(key).map(Arc::make_mut)?;
        state.spent = Some(spent);
        state.last_signal =
            self.board.usage.iter().filter(|r| work::in_scope(&budget.scope, &r.usage)).map(|r| r.at).max();
        state.last = Some(Arc::new(Observation { ok: Some(true), ..Observation::new(now, "budget") }));
        // The window moves on: a calendar window starts afresh at local midnight, a rolling
        // one loses its oldest record when that ages out.
        let start = work::window_start(budget.window, now, tz);
        let oldest = self
            .board
            .usage
            .iter()
            .filter(|r| r.at >= start && r.at <= now && work::in_scope(&budget.scope, &r.usage))
            .map(|r| r.at)
            .min()?;
        let secs = budget.window.as_secs();
        if secs > 0 && secs % 86_400 == 0 {
            let day = std::time::Duration::from_secs(86_400);
            let today = work::window_start(day, now, tz);
            Some(work::window_start(day, today + chrono::Duration::hours(36), tz))
        } else {
            Some(oldest + chrono::Duration::from_std(budget.window).ok()? + chrono::Duration::milliseconds(1))
        }
    }

    /// Every visible entity with its state, for alert evaluation.
    pub fn entities(&self) -> impl Iterator<Item = (&Entity, &EntityState)> {
        self.states.iter().filter_map(|(k, s)| Some((self.config.entity(k)?.as_ref(), &**s)))
    }

    /// Marks entities whose dependencies are stale or failed: their alerts are held back.
    fn update_inhibition(&mut self) {
        let unhealthy: BTreeSet<String> = self
            .states
            .iter()
            .filter(|(_, s)| matches!(s.health, Level::Stale | Level::Failed))
            .map(|(k, _)| k.to_string())
            .collect();
        // Only a state whose flag changes is written: the others stay shared with the state
        // last published.
        for state in self.states.values_mut() {
            let inhibited = state.depends_on.iter().any(|d| unhealthy.contains(d));
            if state.inhibited != inhibited {
                Arc::make_mut(state).inhibited = inhibited;
            }
        }
    }

    /// [`Engine::update_inhibition`] for the entities that depend on `key` alone: what one
    /// level change can affect, at a cost that does not grow with the number of entities.
    fn update_inhibition_of_dependents(&mut self, key: &EntityKey) {
        let Some(dependents) = self.dependents.get(key) else { return };
        for dependent in dependents {
            let Some(state) = self.states.get(dependent) else { continue };
            let inhibited = state.depends_on.iter().any(|d| {
                EntityKey::parse(d)
                    .and_then(|k| self.states.get(&k))
                    .is_some_and(|s| matches!(s.health, Level::Stale | Level::Failed))
            });
            if state.inhibited != inhibited
                && let Some(state) = self.states.get_mut(dependent)
            {
                Arc::make_mut(state).inhibited = inhibited;
            }
        }
    }

    /// Puts every stored instant (entity states and their wakeups) on a wall clock that jumped
    /// by `by`; see [`EntityState::shift_clock`].
    pub fn shift_clock(&mut self, by: chrono::Duration) {
        self.states.values_mut().for_each(|state| Arc::make_mut(state).shift_clock(by));
        self.wakeups.values_mut().for_each(|at| *at += by);
        self.timeline = self.wakeups.iter().map(|(key, at)| (*at, key.clone())).collect();
    }

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
                Spec::Budget(_) => &mut live.budgets,
            };
            list.push(s.clone());
        }
        live.mismatches.extend(self.openclaw_mismatches.iter().cloned());
        live.mismatches.extend(self.git_mismatches.iter().cloned());
        live.summary.overall_health = overall;
        // The mode set last wins over the orchestrator's declared one.
        live.summary.active_mode = self.board.mode.as_ref().map(|m| format!("{:?}", m.mode)).or_else(|| {
            self.config.orchestrator().and_then(|o| {
                if let Spec::Agent(a) = &o.spec { a.mode.map(|m| format!("{m:?}")) } else { None }
            })
        });
        self.work_view(&mut live, now);
        live
    }

    /// Tasks, the inbox and usage, as live state shows them; and the board to restore from.
    fn work_view(&self, live: &mut LiveState, now: DateTime<Utc>) {
        let tz = self.config.settings.timezone;
        live.tasks = self.board.tasks().into_iter().cloned().collect();
        let inbox = self.board.inbox();
        live.inbox.raw = self.board.tasks.len() as u64;
        live.inbox.untriaged = inbox.len() as u64;
        live.inbox.triaged =
            self.board.tasks.values().filter(|t| t.status == work::Status::Triaged).count() as u64;
        live.inbox.urgent = self
            .board
            .tasks
            .values()
            .filter(|t| !t.status.is_finished() && t.priority == Some(crate::config::Priority::Urgent))
            .count() as u64;
        live.inbox.newest = inbox
            .iter()
            .rev()
            .take(10)
            .map(|t| state::InboxItem {
                id: t.id.clone(),
                text: t.text.clone(),
                source: Some(t.source.clone()),
                created: Some(t.created),
            })
            .collect();
        let today = work::totals(work::today(&self.board.usage, now, tz), tz);
        let currency =
            today.currencies.first().cloned().unwrap_or_else(|| work::DEFAULT_CURRENCY.to_string());
        live.usage = state::Usage {
            input_tokens: today.all.input_tokens,
            output_tokens: today.all.output_tokens,
            total_tokens: today.all.total_tokens,
            estimated_cost: today.all.estimated_cost,
            currency: currency.clone(),
            by_model: today.by_model.iter().map(|(m, t)| (m.clone(), t.estimated_cost)).collect(),
            by_agent: today.by_agent.iter().map(|(a, t)| (a.clone(), t.estimated_cost)).collect(),
            by_day: BTreeMap::new(),
        };
        let fortnight = work::window_start(std::time::Duration::from_secs(14 * 86_400), now, tz);
        for record in self.board.usage.iter().filter(|r| r.at >= fortnight && r.at <= now) {
            let day = record.at.with_timezone(&tz).date_naive().to_string();
            let cost =
                live.usage.by_day.entry(day).or_default().entry(record.usage.model.clone()).or_default();
            *cost += record.usage.estimated_cost;
        }
        live.summary.daily_estimated_cost = today.all.estimated_cost;
        live.summary.currency = currency;
    }
}

/// Applies a verdict; returns the `health.changed` event when the level changed.
fn record(state: &mut EntityState, verdict: Verdict, now: DateTime<Utc>) -> Option<NewEvent> {
    let from = state.health;
    if from == verdict.level {
        state.reason = verdict.reason;
        state.message = verdict.message;
        state.rule = verdict.rule;
        state.evidence = verdict.evidence;
        return None;
    }
    state.reason = verdict.reason.clone();
    state.message = verdict.message.clone();
    state.rule = verdict.rule.clone();
    state.evidence = verdict.evidence.clone();
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
    // Named only when there is a mismatch: this runs for every entity at every publication.
    let key = || entity.key.to_string();
    if entity.meta.desired != DesiredState::Active
        && let (Some(signal), Some(since)) = (s.last_signal, s.since)
        && signal > since
    {
        out.push(Mismatch {
            entity: key(),
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
            entity: key(),
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
        Spec::Budget(b) => {
            let scope = match &b.scope {
                crate::config::BudgetScope::All => "all".to_string(),
                crate::config::BudgetScope::Agent(id) => format!("agent/{id}"),
                crate::config::BudgetScope::Routine(id) => format!("routine/{id}"),
                crate::config::BudgetScope::Model(name) => format!("model/{name}"),
            };
            put("scope", scope.into());
            put("window", crate::duration::human(b.window).into());
            put("warn_at", serde_json::json!(b.warn_at));
            put("fail_at", serde_json::json!(b.fail_at));
            put("currency", b.currency.clone().into());
        }
        Spec::Routine(_) => {}
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    fn success(s: i64) -> Ping {
        Ping { kind: PingKind::Success, at: at(s), rid: None, message: None }
    }

    fn inhibited(engine: &Engine, id: &str) -> bool {
        engine.state(&EntityKey::new(Kind::Routine, id)).expect("state").inhibited
    }

    /// A level change updates its dependents' inhibition, and only theirs; a full pass and
    /// the incremental update agree.
    #[test]
    fn a_dependency_going_stale_inhibits_its_dependents_and_healing_releases_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("desired")).expect("mkdir");
        let mut desired = String::from("kind: Routine\nid: base\nevery: 60s\ngrace: 30s\n");
        for id in ["one", "two", "other"] {
            let depends = if id == "other" { "" } else { "depends_on: [routine/base]\n" };
            desired.push_str(&format!("---\nkind: Routine\nid: {id}\nevery: 600s\n{depends}"));
        }
        std::fs::write(dir.path().join("desired/x.yaml"), desired).expect("write");
        let config = Arc::new(crate::config::load(dir.path(), at(0)).unwrap_or_else(|e| panic!("{:?}", e.0)));
        let mut engine = Engine::new(config, None, at(0));
        let base = EntityKey::new(Kind::Routine, "base");
        for id in ["base", "one", "two", "other"] {
            engine.apply_ping(&EntityKey::new(Kind::Routine, id), &success(0));
        }
        engine.evaluate_all(at(1));
        assert!(["one", "two", "other"].iter().all(|id| !inhibited(&engine, id)));

        let events = engine.evaluate(&base, at(100));
        assert_eq!(engine.state(&base).expect("base").health, Level::Stale, "{events:?}");
        assert!(inhibited(&engine, "one") && inhibited(&engine, "two"));
        assert!(!inhibited(&engine, "other"), "an entity that does not depend on base");

        engine.apply_ping(&base, &success(101));
        engine.evaluate(&base, at(101));
        assert_eq!(engine.state(&base).expect("base").health, Level::Healthy);
        assert!(["one", "two", "other"].iter().all(|id| !inhibited(&engine, id)));

        // The incremental update left what a full pass would.
        engine.evaluate(&base, at(200));
        let incremental: Vec<bool> =
            ["one", "two", "other"].iter().map(|id| inhibited(&engine, id)).collect();
        engine.update_inhibition();
        let full: Vec<bool> = ["one", "two", "other"].iter().map(|id| inhibited(&engine, id)).collect();
        assert_eq!(incremental, full);
        assert_eq!(full, [true, true, false]);
    }
}
