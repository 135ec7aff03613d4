//! The daemon: `mission-control run`.
//!
//! One task (the reconciler) owns the [`Engine`]; everything else talks to it through a
//! channel or the event log. Pings are appended to the log by the HTTP handlers (or by CLI
//! processes) and reach the reconciler through the writer's broadcast, so the log is the one
//! source of truth and a restart replays exactly what was acknowledged. The reconciler sleeps
//! until the earliest of: an entity's deadline, a probe falling due, a pending publication of
//! live state. With nothing due it sleeps indefinitely, which is what keeps an idle daemon
//! at no CPU.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc, watch};
use tracing::{info, warn};

use crate::alert::deliver::DeliveryContext;
use crate::alert::manager::{self as alerts, AlertBook};
use crate::alert::outbox::{self, Delivery, Outbox};
use crate::config::{self, Config, EntityKey, Probe};
use crate::engine::{self, Engine};
use crate::events::{EventFilter, EventWriter, NewEvent, read_events};
use crate::metrics::Metrics;
use crate::observe::Ping;
use crate::probe::{self, ProbeContext};
use crate::state::{self, LiveState, Observation};

mod snapshot;

pub use snapshot::Published;
use snapshot::write_snapshot;

/// Live state is republished at most this often under load.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// The snapshot file is rewritten at most this often, and so within a second of a change
/// (SPEC section 7). Not oftener: under load every entity changes every second and each write
/// serializes all of them; the event log, not this file, is what makes a change durable.
const WRITE_EVERY: Duration = Duration::from_millis(900);
/// The alert book: pending and firing alerts and whom they notified.
const ALERTS_FILE: &str = "alerts.json";
/// How soon the reconciler tries again to store events the log refused (a full disk).
const RETRY_STORE_EVERY: Duration = Duration::from_secs(1);
/// The most refused events kept for another try; past it the oldest are dropped.
const MAX_UNSTORED: usize = 10_000;

/// What the HTTP layer reads. It never writes: changes go through the log or the channel.
pub struct Shared {
    pub workspace: PathBuf,
    pub config: RwLock<Arc<Config>>,
    /// The live state last published; `None` before the first publication.
    pub live: RwLock<Option<Arc<Published>>>,
    pub ready: AtomicBool,
    pub writer: EventWriter,
    pub metrics: Arc<Metrics>,
    pub inputs: mpsc::Sender<Input>,
    /// The last event seq folded into the published live state: a reader that must see its
    /// own write waits on it (`?min_seq=`).
    pub published_seq: watch::Sender<u64>,
}

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        self.config.read().map(|c| c.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The live state last published; `None` before the first publication.
    pub fn published(&self) -> Option<Arc<Published>> {
        self.live.read().map(|p| p.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The redacted JSON of the live state last published (made on first use).
    pub fn published_bytes(&self) -> Option<Arc<Vec<u8>>> {
        self.published().map(|p| p.bytes())
    }
}

/// Messages to the reconciler.
pub enum Input {
    /// A probe's result, stamped with the configuration generation it ran under.
    ProbeResult(EntityKey, Option<Observation>, u64),
    /// A ping that was not written to the log (`events.record_pings: false`).
    Ping(EntityKey, Ping),
    Reload(&'static str),
    /// What the OpenClaw collector found in its last scan.
    Openclaw(Box<crate::collect::watch::Observed>),
    /// The repositories the git collector should look at now.
    GitTargets(tokio::sync::oneshot::Sender<Vec<crate::collect::git::Target>>),
    /// What the git collector found.
    Git(Vec<crate::collect::git::Finding>),
    /// A copy of the live state and the board, for a chat command's answer; with the day's
    /// digest too when asked (`today`).
    View(tokio::sync::oneshot::Sender<(View, Option<Arc<Today>>)>, bool),
    /// A work command from the write API, checked against the engine's board and stored.
    Work(
        crate::work::Request,
        tokio::sync::oneshot::Sender<Result<Vec<Arc<crate::events::Event>>, crate::web::write::WorkFailure>>,
    ),
}

/// A chat command's answer from the daemon's own state: the reconciler hands over a copy of
/// the live state and the board, and the docs layer and today's events are read off the
/// async workers. `None` when the daemon is stopping.
/// The live state and the board as last published, shared (never copied per reader).
type View = (Arc<LiveState>, Arc<crate::work::Board>);

pub async fn chat(
    shared: &Arc<Shared>,
    command: crate::commands::Command,
    wants_json: bool,
) -> Option<crate::commands::Reply> {
    let (reply, view) = tokio::sync::oneshot::channel();
    let is_today = matches!(command, crate::commands::Command::Today);
    shared.inputs.send(Input::View(reply, is_today)).await.ok()?;
    let ((live, board), today) = view.await.ok()?;
    let (workspace, config) = (shared.workspace.clone(), shared.config());
    tokio::task::spawn_blocking(move || {
        let day = today.as_ref().map(|t| &t.digest);
        let known =
            crate::report::Known { config: Some(&config), live: Some(&live), board: Some(&board), day };
        crate::report::chat_with(&workspace, known, &command, wants_json, Utc::now())
    })
    .await
    .ok()
}

/// `today`'s digest of the local day's events: built from the log when a `today` first asks
/// for it (and again after a reload or past midnight), then kept up to date as the reconciler
/// folds each event, so the command never re-reads the day.
#[derive(Debug, Clone)]
pub struct Today {
    /// Local midnight, in the configured time zone, that the day starts at.
    midnight: DateTime<Utc>,
    /// The last seq folded in.
    last_seq: u64,
    digest: crate::commands::DayDigest,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the configuration is invalid")]
    Config(config::LoadErrors),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub struct Options {
    pub workspace: PathBuf,
    pub listen: Option<String>,
    pub once: bool,
}

/// Runs the daemon until `shutdown` resolves (or, with `once`, for one reconcile).
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let now = Utc::now();
    let workspace = options.workspace.clone();
    let config = Arc::new(config::load(&workspace, now).map_err(StartError::Config)?);
    let log = crate::events::open_workspace_log(&workspace, &config.settings).map_err(anyhow::Error::from)?;
    let writer = EventWriter::spawn(log);
    let mut subscription = writer.subscribe();
    let metrics = Arc::new(Metrics::new());
    metrics.config_last_reload_successful.set(1);
    metrics.config_last_reload_success_timestamp.set(now.timestamp() as f64);

    let snapshot_path = workspace.join("state").join(state::FILE);
    let mut engine = Engine::new(config.clone(), state::read(&snapshot_path), now);
    engine.workspace_revision = git_head(&workspace);
    let missed = read_events(
        &workspace.join("state"),
        &EventFilter { since_seq: Some(engine.last_seq()), ..EventFilter::default() },
    )
    .map_err(anyhow::Error::from)?;
    for event in &missed {
        engine.apply_event(event);
    }
    let mut startup = vec![config_loaded(&config, engine.workspace_revision.as_deref())];
    let probe_cx = Arc::new(ProbeContext::new(&config).map_err(anyhow::Error::from)?);

    if options.once {
        for (key, probe, _) in engine.pulled_probes() {
            if let Some(observation) = probe::run(&probe, &probe_cx).await {
                startup.extend(engine.apply_probe(&key, observation));
            }
        }
        startup.extend(engine.evaluate_all(Utc::now()));
        let mut alerting = Alerting::open(&workspace, &config)?;
        startup.extend(alerting.evaluate(&engine, None));
        let stored = writer.append_many(startup).await.map_err(anyhow::Error::from)?;
        for event in &stored {
            engine.apply_event(event);
        }
        outbox::deliver_once(&alerting.outbox, &alerting.cx, &config, &writer, &metrics).await;
        let mut live = engine.snapshot(Utc::now());
        live.alerts.firing = alerts::firing(&alerting.book);
        write_snapshot(&snapshot_path, &live, engine.board()).map_err(anyhow::Error::from)?;
        return Ok(());
    }

    raise_open_files_limit();
    tune_allocator();
    let address = options.listen.clone().unwrap_or_else(|| config.settings.listen.clone());
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| StartError::Listen { address: address.clone(), source })?;
    let bound = listener.local_addr().map_err(anyhow::Error::from)?;
    // The first line on stdout says where the daemon listens (tests and scripts read it).
    println!("listening on {bound}");
    info!(address = %bound, workspace = %workspace.display(), "listening");

    let (inputs, receiver) = mpsc::channel(1024);
    let shared = Arc::new(Shared {
        workspace: workspace.clone(),
        config: RwLock::new(config.clone()),
        live: RwLock::new(None),
        ready: AtomicBool::new(false),
        writer: writer.clone(),
        metrics: metrics.clone(),
        inputs: inputs.clone(),
        published_seq: watch::channel(0).0,
    });

    startup.extend(engine.evaluate_all(now));
    // Changes that happened while the daemon was down are notified now, once.
    let mut alerting = Alerting::open(&workspace, &config)?;
    let config_source: outbox::ConfigSource = {
        let shared = shared.clone();
        Arc::new(move || shared.config())
    };
    alerting.start(config_source, writer.clone(), metrics.clone());
    startup.extend(alerting.evaluate(&engine, None));
    writer.append_many(startup).await.map_err(anyhow::Error::from)?;

    let stop = Arc::new(Notify::new());
    let watchers = Watchers::start(&workspace, &config, inputs.clone(), writer.clone());
    let web = tokio::spawn(crate::web::serve(listener, shared.clone(), stop.clone()));
    let signals = tokio::spawn(reload_on_sighup(inputs.clone()));
    let collector = {
        let (source, inputs) = (shared.clone(), inputs.clone());
        tokio::spawn(crate::collect::watch::run(
            move || source.config(),
            workspace.join("state"),
            move |observed| {
                let inputs = inputs.clone();
                async move { inputs.send(Input::Openclaw(Box::new(observed))).await.is_ok() }
            },
        ))
    };
    let git = {
        let (source, asks, inputs) = (shared.clone(), inputs.clone(), inputs.clone());
        tokio::spawn(crate::collect::git::run(
            move || source.config().settings.git_every,
            move || {
                let asks = asks.clone();
                async move {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    asks.send(Input::GitTargets(reply)).await.ok()?;
                    answer.await.ok()
                }
            },
            move |findings| {
                let inputs = inputs.clone();
                async move { inputs.send(Input::Git(findings)).await.is_ok() }
            },
        ))
    };
    let telegram = config
        .settings
        .telegram_commands
        .clone()
        .map(|settings| tokio::spawn(crate::telegram::listen(shared.clone(), settings)));

    let mut reconciler = Reconciler {
        engine,
        shared: shared.clone(),
        probe_cx,
        generation: 0,
        probes: probe::ProbeSchedule::default(),
        semaphore: Arc::new(Semaphore::new(config.settings.probe_concurrency)),
        dirty: true,
        published_at: None,
        view: None,
        today: None,
        written_at: None,
        file_dirty: true,
        snapshot_path,
        alerting,
        unstored: Vec::new(),
        retry_store_at: None,
        clock: (Utc::now(), boot_clock()),
        last_jump: None,
        trim_pending: true,
    };
    reconciler.schedule_probes(Instant::now());
    shared.ready.store(true, Ordering::SeqCst);
    // Command-line processes ask the running daemon instead of restoring the state themselves.
    let state_dir = workspace.join("state");
    if let Err(e) = crate::presence::announce(&state_dir, bound) {
        warn!(error = %e, "cannot write state/{}; commands restore the state themselves", crate::presence::FILE);
    }
    reconciler.run(receiver, &mut subscription, shutdown).await;
    crate::presence::withdraw(&state_dir);

    stop.notify_waiters();
    signals.abort();
    if let Some(telegram) = telegram {
        telegram.abort();
    }
    collector.abort();
    git.abort();
    drop(watchers);
    let _ = web.await;
    Ok(())
}

struct Reconciler {
    engine: Engine,
    shared: Arc<Shared>,
    probe_cx: Arc<ProbeContext>,
    /// Counts accepted reloads; probe results carry the one they started under.
    generation: u64,
    /// Pulled probes: what, how often, when next.
    probes: probe::ProbeSchedule,
    semaphore: Arc<Semaphore>,
    dirty: bool,
    published_at: Option<Instant>,
    /// What the chat commands read: the state last published, shared.
    view: Option<View>,
    /// The day's digest for `today`, once one asked.
    today: Option<Arc<Today>>,
    written_at: Option<Instant>,
    file_dirty: bool,
    snapshot_path: PathBuf,
    alerting: Alerting,
    /// Events the log refused, oldest first, and when to offer them again.
    unstored: Vec<NewEvent>,
    retry_store_at: Option<Instant>,
    /// The wall clock and the boot clock read together at the last pass, to see the wall
    /// clock jump.
    clock: (DateTime<Utc>, Duration),
    /// The last jump of the wall clock and when it was seen (boot clock).
    last_jump: Option<(chrono::Duration, Duration)>,
    /// A configuration was loaded since the last publication: the memory its parse used is
    /// handed back once the state built from it is published.
    trim_pending: bool,
}

/// The alert book, its file, the outbox and the delivery task.
struct Alerting {
    book: AlertBook,
    path: PathBuf,
    outbox: Outbox,
    cx: Arc<DeliveryContext>,
    delivery: Option<Delivery>,
    /// Notifications the outbox could not take (a full disk), oldest first, and when to offer
    /// them again: the book already counts them as sent, so dropping them would lose them
    /// until the receiver's `repeat_interval`.
    unqueued: Vec<crate::alert::payload::Notification>,
    retry_at: Option<Instant>,
}

impl Alerting {
    fn open(workspace: &Path, config: &Config) -> anyhow::Result<Alerting> {
        let state_dir = workspace.join("state");
        let path = state_dir.join(ALERTS_FILE);
        let book =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let outbox = Outbox::open(&state_dir)?;
        let credentials = crate::credentials::Credentials::new(&config.settings, workspace);
        let cx = Arc::new(DeliveryContext::new(credentials)?);
        Ok(Alerting { book, path, outbox, cx, delivery: None, unqueued: Vec::new(), retry_at: None })
    }

    fn start(&mut self, config: outbox::ConfigSource, writer: EventWriter, metrics: Arc<Metrics>) {
        self.delivery = Some(outbox::spawn(self.outbox.clone(), self.cx.clone(), config, writer, metrics));
    }

    /// Evaluates the alerts; queues notifications durably (outbox first, then the book, then
    /// the delivery task) and returns the events to record.
    fn evaluate(&mut self, engine: &Engine, now: Option<DateTime<Utc>>) -> Vec<NewEvent> {
        let now = now.unwrap_or_else(Utc::now);
        let config = engine.config().clone();
        let outcome = alerts::evaluate(&mut self.book, &config, engine.entities(), now);
        let mut queued = Vec::new();
        let waiting = std::mem::take(&mut self.unqueued);
        for n in waiting.iter().chain(&outcome.notifications) {
            let receiver = config.receivers.iter().find(|r| r.id == n.receiver);
            match self.outbox.put(n, receiver) {
                Ok(Some(entry)) => queued.push(entry),
                Ok(None) => {}
                Err(e) => {
                    warn!(error = %e, receiver = %n.receiver, "cannot queue a notification; will try again");
                    self.unqueued.push(n.clone());
                }
            }
        }
        self.retry_at = (!self.unqueued.is_empty()).then(|| Instant::now() + RETRY_STORE_EVERY);
        if outcome.changed || !queued.is_empty() {
            match serde_json::to_vec_pretty(&self.book) {
                Ok(bytes) => {
                    if let Err(e) = state::write_atomic(&self.path, &bytes) {
                        warn!(error = %e, "cannot write the alert book");
                    }
                }
                Err(e) => warn!(error = %e, "cannot serialize the alert book"),
            }
        }
        if let Some(delivery) = &self.delivery {
            delivery.send(queued);
        }
        outcome.events
    }

    fn next_wakeup(&self, config: &Config) -> Option<DateTime<Utc>> {
        alerts::next_wakeup(&self.book, config, Utc::now())
    }
}

impl Reconciler {
    async fn run(
        &mut self,
        mut inputs: mpsc::Receiver<Input>,
        subscription: &mut broadcast::Receiver<Arc<crate::events::Event>>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let mut outgoing: Vec<NewEvent> = Vec::new();
            let sleep = self.next_timer();
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                input = inputs.recv() => match input {
                    Some(input) => {
                        self.follow_clock();
                        self.handle(input, &mut outgoing).await;
                        // Take what else is queued (a round of probe results) in this pass.
                        for _ in 0..1024 {
                            match inputs.try_recv() {
                                Ok(input) => self.handle(input, &mut outgoing).await,
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                received = subscription.recv() => match received {
                    Ok(event) => {
                        self.follow_clock();
                        self.fold(&event, &mut outgoing);
                        // Drain what else is queued, so a burst of pings is one publication.
                        for _ in 0..4096 {
                            match subscription.try_recv() {
                                Ok(event) => self.fold(&event, &mut outgoing),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        warn!(skipped, "event subscription lagged; re-reading the log");
                        self.replay(&mut outgoing);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                () = sleep_until(sleep) => {
                    self.follow_clock();
                }
            }
            let pass = Instant::now();
            self.on_timers(&mut outgoing).await;
            let transitions =
                outgoing.iter().any(|e| e.kind == "health.changed" || e.kind.starts_with("config."));
            let alert_due = self.alerting.next_wakeup(self.engine.config()).is_some_and(|t| t <= Utc::now())
                || self.alerting.retry_at.is_some_and(|t| t <= Instant::now());
            if transitions || alert_due {
                outgoing.extend(self.alerting.evaluate(&self.engine, None));
                self.dirty = true;
            }
            self.emit(outgoing).await;
            self.publish(false);
            self.shared.metrics.reconcile_duration.observe(pass.elapsed().as_secs_f64());
        }
        // Final state: fold every acknowledged event (the broadcast's rest, then the log),
        // evaluate, store what that produced, and only then write the snapshot.
        let mut outgoing = std::mem::take(&mut self.unstored);
        while let Ok(event) = subscription.try_recv() {
            self.fold(&event, &mut outgoing);
        }
        self.replay(&mut outgoing);
        outgoing.extend(self.engine.evaluate_all(Utc::now()));
        outgoing.extend(self.alerting.evaluate(&self.engine, None));
        if !outgoing.is_empty() {
            match self.shared.writer.append_many(outgoing).await {
                Ok(stored) => stored.iter().for_each(|e| {
                    self.engine.apply_event(e);
                }),
                Err(e) => warn!(error = %e, "cannot store final events"),
            }
        }
        self.publish(true);
    }

    /// Notices a jump of the wall clock (an NTP step, `date -s`): between two passes the wall
    /// clock moved more, or less, than the boot clock, which counts real time (suspend
    /// included). Every stored instant is then moved by the difference, so no deadline comes
    /// early after a jump forward (no false `stale`) and none comes late after a jump back.
    ///
    /// Returns the wall time it read: a deadline judged against that reading is judged on the
    /// clock the stored instants were just moved to, even when the clock steps again a moment
    /// later (the next pass sees that step before judging anything).
    fn follow_clock(&mut self) -> DateTime<Utc> {
        let now = (Utc::now(), boot_clock());
        let (wall, boot) = self.clock;
        self.clock = now;
        if boot.is_zero() || now.1.is_zero() {
            return now.0;
        }
        let Ok(real) = chrono::Duration::from_std(now.1.saturating_sub(boot)) else { return now.0 };
        let jump = (now.0 - wall) - real;
        if jump.abs() < CLOCK_JUMP {
            return now.0;
        }
        warn!(
            seconds = jump.num_milliseconds() as f64 / 1000.0,
            "the wall clock jumped; moving deadlines with it"
        );
        self.engine.shift_clock(jump);
        self.alerting.book.shift_clock(jump);
        self.last_jump = Some((jump, now.1));
        self.dirty = true;
        self.file_dirty = true;
        now.0
    }

    /// An event stamped on the old clock but folded just after a jump (a ping in flight while
    /// the clock stepped) is put on the new clock as the stored instants were: on the old
    /// clock it lies about the jump's length away from now, which a fresh event cannot.
    fn on_current_clock<'e>(
        &self,
        event: &'e crate::events::Event,
    ) -> std::borrow::Cow<'e, crate::events::Event> {
        use std::borrow::Cow;
        let Some((jump, seen)) = self.last_jump else { return Cow::Borrowed(event) };
        if boot_clock().saturating_sub(seen) > JUMP_IN_FLIGHT {
            return Cow::Borrowed(event);
        }
        let now = Utc::now();
        let half = jump.abs() / 2;
        let stale_stamp = if jump < chrono::Duration::zero() {
            event.timestamp > now + half
        } else {
            event.timestamp < now - half
        };
        if !stale_stamp {
            return Cow::Borrowed(event);
        }
        let mut moved = event.clone();
        moved.timestamp += jump;
        Cow::Owned(moved)
    }

    fn next_timer(&self) -> Option<Instant> {
        let now_wall = Utc::now();
        let now = Instant::now();
        let wake =
            self.engine.next_wakeup().map(|at| now + (at - now_wall).to_std().unwrap_or(Duration::ZERO));
        let probe = self.probes.next_due();
        let publish = self.dirty.then(|| self.published_at.map_or(now, |t| t + PUBLISH_EVERY));
        let write = self.file_dirty.then(|| self.written_at.map_or(now, |t| t + WRITE_EVERY));
        let alert = self
            .alerting
            .next_wakeup(self.engine.config())
            .map(|at| now + (at - now_wall).to_std().unwrap_or(Duration::ZERO));
        [wake, probe, publish, write, alert, self.retry_store_at, self.alerting.retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Folds an event of the broadcast, first reading from the log any events before it that
    /// the broadcast did not carry (written by other processes while nobody caught up).
    fn fold(&mut self, event: &crate::events::Event, outgoing: &mut Vec<NewEvent>) {
        let last = self.engine.last_seq();
        if event.seq <= last {
            return;
        }
        if event.seq > last + 1 {
            let filter = EventFilter { since_seq: Some(last), ..EventFilter::default() };
            match read_events(&self.shared.workspace.join("state"), &filter) {
                Ok(missed) => {
                    missed.iter().filter(|e| e.seq < event.seq).for_each(|e| self.fold_one(e, outgoing))
                }
                Err(e) => warn!(error = %e, "cannot read events missed by the broadcast"),
            }
        }
        self.fold_one(event, outgoing);
    }

    fn fold_one(&mut self, event: &crate::events::Event, outgoing: &mut Vec<NewEvent>) {
        if let Some(today) = &mut self.today
            && event.seq > today.last_seq
        {
            // As the log has it (before any clock shift), like the digest built from the log.
            let today = Arc::make_mut(today);
            today.last_seq = event.seq;
            if event.timestamp >= today.midnight && !crate::web::api::hidden(self.engine.config(), event) {
                today.digest.add(event);
            }
        }
        let event = &*self.on_current_clock(event);
        self.shared.metrics.events_total.with_label_values(&[&event.kind]).inc();
        if event.kind == "heartbeat.received" {
            self.shared.metrics.heartbeats_total.with_label_values(&[&event.status]).inc();
        }
        let seen = self.engine.last_seq();
        let changed = self.engine.apply_event(event);
        if event.kind == "usage.recorded"
            && event.seq > seen
            && let Some(usage) = event
                .data
                .clone()
                .and_then(|d| serde_json::from_value::<crate::work::event::UsageRecorded>(d).ok())
        {
            self.shared.metrics.record_usage(&usage);
        }
        for key in changed {
            outgoing.extend(self.engine.evaluate(&key, Utc::now()));
        }
        // Published state records the last seq it covers, which readers may wait for.
        self.dirty = true;
    }

    /// The day's digest for `today`, built from the log when there is none for the local day
    /// of `now` yet; the events after it come through [`Reconciler::fold_one`].
    fn today(&mut self, now: DateTime<Utc>) -> Arc<Today> {
        let config = self.engine.config().clone();
        let day = std::time::Duration::from_secs(86_400);
        let midnight = crate::work::window_start(day, now, config.settings.timezone);
        if let Some(today) = self.today.as_ref().filter(|t| t.midnight == midnight) {
            return today.clone();
        }
        // Events past the last folded seq are left to the fold, which counts each once.
        let last_seq = self.engine.last_seq();
        let events = crate::report::today_events(&self.shared.workspace, Some(&config), now);
        let digest = crate::commands::DayDigest::of(events.iter().filter(|e| e.seq <= last_seq));
        let today = Arc::new(Today { midnight, last_seq, digest });
        self.today = Some(today.clone());
        today
    }

    /// Re-reads the log after the last folded seq (after a lagging broadcast).
    fn replay(&mut self, outgoing: &mut Vec<NewEvent>) {
        let filter = EventFilter { since_seq: Some(self.engine.last_seq()), ..EventFilter::default() };
        match read_events(&self.shared.workspace.join("state"), &filter) {
            Ok(events) => events.iter().for_each(|e| self.fold_one(e, outgoing)),
            Err(e) => warn!(error = %e, "cannot re-read the event log"),
        }
    }

    async fn handle(&mut self, input: Input, outgoing: &mut Vec<NewEvent>) {
        match input {
            Input::ProbeResult(key, observation, generation) => {
                self.probes.finished(&key);
                // A result of a probe started under an older configuration says nothing about
                // the entity as it is defined now (its URL may have been fixed meanwhile).
                let Some(observation) = observation.filter(|_| generation == self.generation) else { return };
                self.record_probe(&key, &observation);
                outgoing.extend(self.engine.apply_probe(&key, observation));
                outgoing.extend(self.engine.evaluate(&key, Utc::now()));
                self.dirty = true;
            }
            Input::Ping(key, ping) => {
                if self.engine.apply_ping(&key, &ping) {
                    outgoing.extend(self.engine.evaluate(&key, Utc::now()));
                    self.dirty = true;
                }
            }
            Input::Reload(why) => self.reload(why, outgoing),
            Input::Openclaw(observed) => {
                let mut observed = *observed;
                let events = std::mem::take(&mut observed.events);
                if !events.is_empty()
                    && let Err(e) = self.shared.writer.append_many(events).await
                {
                    warn!(error = %e, "cannot store what the OpenClaw collector found");
                }
                let now = Utc::now();
                for key in self.engine.apply_openclaw(observed) {
                    outgoing.extend(self.engine.evaluate(&key, now));
                }
                self.dirty = true;
            }
            Input::GitTargets(reply) => {
                let targets = crate::collect::git::targets(
                    self.engine.config(),
                    self.engine.board(),
                    &self.shared.workspace,
                );
                let _ = reply.send(targets);
            }
            Input::Git(findings) => {
                let now = Utc::now();
                for key in self.engine.apply_git(&findings) {
                    outgoing.extend(self.engine.evaluate(&key, now));
                }
                self.dirty = true;
            }
            Input::View(reply, with_today) => {
                let view = match &self.view {
                    Some(view) if !self.dirty => view.clone(),
                    _ => {
                        self.publish_state(Instant::now());
                        self.view.clone().expect("just published")
                    }
                };
                let today = with_today.then(|| self.today(Utc::now()));
                let _ = reply.send((view, today));
            }
            Input::Work(request, reply) => {
                use crate::web::write::WorkFailure;
                let config = self.engine.config().clone();
                let ops = crate::work::Ops::new(&config, self.engine.board(), Utc::now(), "api");
                let answer = match request.events(&ops) {
                    Err(e) => Err(WorkFailure::Refused(e)),
                    Ok(events) if events.is_empty() => Ok(Vec::new()),
                    Ok(events) => self
                        .shared
                        .writer
                        .append_many(events)
                        .await
                        .map_err(|e| WorkFailure::NotStored(e.to_string())),
                };
                // The board takes the stored events now, not when the broadcast brings them
                // back: the next command, checked against it, must see this one.
                if let Ok(stored) = &answer {
                    stored.iter().for_each(|event| self.fold(event, outgoing));
                }
                let _ = reply.send(answer);
            }
        }
    }

    fn record_probe(&self, key: &EntityKey, observation: &Observation) {
        let result = match observation.ok {
            Some(true) => "success",
            Some(false) => "failure",
            None => "none",
        };
        let m = &self.shared.metrics;
        m.probes_total.with_label_values(&[key.kind.lower(), &observation.kind, result]).inc();
        if let Some(latency) = observation.latency_seconds {
            m.probe_duration.with_label_values(&[key.kind.lower(), &observation.kind]).observe(latency);
        }
    }

    fn reload(&mut self, why: &'static str, outgoing: &mut Vec<NewEvent>) {
        let now = Utc::now();
        let metrics = &self.shared.metrics;
        match config::load(&self.shared.workspace, now) {
            Ok(config) => {
                let config = Arc::new(config);
                info!(trigger = why, entities = config.entities.len(), "configuration reloaded");
                self.engine.workspace_revision = git_head(&self.shared.workspace);
                self.engine.set_config(config.clone(), now);
                self.generation += 1;
                // Its time zone and which entities are hidden may have changed.
                self.today = None;
                // Probes resolve credentials with the settings of the configuration they run under.
                match ProbeContext::new(&config) {
                    Ok(cx) => self.probe_cx = Arc::new(cx),
                    Err(e) => warn!(error = %e, "keeping the previous probe context"),
                }
                if let Ok(mut shared) = self.shared.config.write() {
                    *shared = config.clone();
                }
                metrics.config_last_reload_successful.set(1);
                metrics.config_last_reload_success_timestamp.set(now.timestamp() as f64);
                outgoing.push(config_loaded(&config, self.engine.workspace_revision.as_deref()));
                outgoing.extend(self.engine.evaluate_all(now));
                self.schedule_probes(Instant::now());
                self.trim_pending = true;
            }
            Err(errors) => {
                warn!(
                    trigger = why,
                    errors = errors.0.len(),
                    "configuration rejected; the last good one keeps running"
                );
                metrics.config_last_reload_successful.set(0);
                let list: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
                let first = list.first().cloned().unwrap_or_default();
                outgoing.push(
                    NewEvent::new(
                        "config.rejected",
                        engine::SOURCE,
                        "workspace",
                        "config",
                        "rejected",
                        format!("{} error(s); keeping the last good configuration: {first}", list.len()),
                    )
                    .with_data(serde_json::json!({ "errors": list, "trigger": why })),
                );
            }
        }
        self.dirty = true;
    }

    /// (Re)builds the probe schedule; probes of entities that remain keep their next time.
    fn schedule_probes(&mut self, now: Instant) {
        self.probes.rebuild(self.engine.pulled_probes(), now);
    }

    async fn on_timers(&mut self, outgoing: &mut Vec<NewEvent>) {
        for (key2, probe) in self.probes.take_due(Instant::now()) {
            let (cx, semaphore, inputs) =
                (self.probe_cx.clone(), self.semaphore.clone(), self.shared.inputs.clone());
            let generation = self.generation;
            tokio::spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let observation = probe::run(&probe, &cx).await;
                let _ = inputs.send(Input::ProbeResult(key2, observation, generation)).await;
            });
        }
        // Deadlines are judged on a clock reading checked for a jump just now: a wall clock
        // that stepped since the top of this pass (after the check there) would otherwise
        // make every deadline come early at once.
        let now_wall = self.follow_clock();
        for key in self.engine.due(now_wall) {
            // A file-observed entity is looked at right at its deadline, so a file written a
            // moment before it is not missed by a probe that ran earlier.
            if let Some(probe @ Probe::File(_)) = self.probes.probe(&key).cloned() {
                if let Some(observation) = probe::run(&probe, &self.probe_cx).await {
                    outgoing.extend(self.engine.apply_probe(&key, observation));
                }
            }
            outgoing.extend(self.engine.evaluate(&key, now_wall));
            self.dirty = true;
        }
    }

    /// Stores the reconciler's events, in order, before the state that follows from them is
    /// published or written: a crash can lose a snapshot, never the transition behind it.
    ///
    /// Events the log refuses (a full disk) are kept, stamped with the time they happened, and
    /// offered again first at the next pass or after [`RETRY_STORE_EVERY`]: live state already
    /// shows the transitions, and dropping them would leave the log without them for good (the
    /// fault tests found a `health.changed` lost that way).
    async fn emit(&mut self, outgoing: Vec<NewEvent>) {
        let mut events = std::mem::take(&mut self.unstored);
        events.extend(outgoing);
        if events.is_empty() {
            return;
        }
        self.dirty = true;
        match self.shared.writer.append_many(events.clone()).await {
            Ok(_) => self.retry_store_at = None,
            Err(e) => {
                warn!(error = %e, events = events.len(), "cannot append events; will try again");
                let now = Utc::now();
                events.iter_mut().filter(|e| e.timestamp.is_none()).for_each(|e| e.timestamp = Some(now));
                if events.len() > MAX_UNSTORED {
                    let dropped = events.len() - MAX_UNSTORED;
                    warn!(dropped, "too many events waiting to be stored; dropping the oldest");
                    events.drain(..dropped);
                }
                self.unstored = events;
                self.retry_store_at = Some(Instant::now() + RETRY_STORE_EVERY);
            }
        }
    }

    /// Publishes live state for the API and metrics, and writes the snapshot file, each at
    /// most at its own pace (or now, when `force`).
    fn publish(&mut self, force: bool) {
        let now = Instant::now();
        let publish_due = self.dirty && (force || self.published_at.is_none_or(|t| now >= t + PUBLISH_EVERY));
        // The state published now, reused when the file is due in the same pass.
        let mut published: Option<Arc<LiveState>> = None;
        if publish_due || force {
            published = Some(self.publish_state(now));
        }
        let write_due = self.file_dirty && (force || self.written_at.is_none_or(|t| now >= t + WRITE_EVERY));
        if write_due {
            let live = published.unwrap_or_else(|| Arc::new(self.live_state()));
            if let Err(e) = write_snapshot(&self.snapshot_path, &live, self.engine.board()) {
                warn!(error = %e, path = %self.snapshot_path.display(), "cannot write live state");
            }
            self.file_dirty = false;
            self.written_at = Some(now);
        }
    }

    /// Publishes the live state now (the API's bytes, the metrics, the chat commands' view)
    /// and returns it (not redacted: the file writer redacts as it writes).
    fn publish_state(&mut self, now: Instant) -> Arc<LiveState> {
        let live = self.live_state();
        self.shared.metrics.alerts_firing.set(live.alerts.firing.len() as i64);
        self.update_metrics(&live);
        self.shared.metrics.set_work(self.engine.board());
        let live = Arc::new(live);
        let published = Some(Arc::new(Published::new(live.clone())));
        match self.shared.live.write() {
            Ok(mut shared) => *shared = published,
            Err(poisoned) => *poisoned.into_inner() = published,
        }
        self.shared.published_seq.send_replace(live.summary.last_event_seq);
        self.view = Some((live.clone(), self.engine.shared_board()));
        self.dirty = false;
        self.published_at = Some(now);
        self.file_dirty = true;
        if std::mem::take(&mut self.trim_pending) {
            release_free_memory();
        }
        live
    }

    /// The engine's snapshot with the firing alerts.
    fn live_state(&self) -> LiveState {
        let mut live = self.engine.snapshot(Utc::now());
        live.alerts.firing = alerts::firing(&self.alerting.book);
        live
    }

    fn update_metrics(&mut self, live: &LiveState) {
        let m = &self.shared.metrics;
        let config = self.engine.config();
        // Entities another daemon judges (settings `select`) are that daemon's series.
        let selected = |s: &crate::state::EntityState| {
            config.settings.select.is_none()
                || config::Kind::from_lower(&s.kind)
                    .and_then(|k| config.entity(&EntityKey::new(k, s.id.clone())))
                    .is_none_or(|e| e.selected)
        };
        let rows = live.shared_entities().filter(|s| selected(s)).cloned().collect();
        m.set_entities(rows);
        if let Some(overall) = live.summary.overall_health {
            m.set_overall(overall);
        }
    }
}

/// A difference between the wall clock and the boot clock this large is a jump, not drift.
const CLOCK_JUMP: chrono::Duration = chrono::Duration::seconds(2);

/// How long after a jump events stamped on the old clock may still arrive.
const JUMP_IN_FLIGHT: Duration = Duration::from_secs(10);

/// Hands memory the allocator holds free back to the system. Loading a configuration parses
/// every document into trees that are dropped once compiled, and glibc keeps those pages
/// (tens of MB at 10,000 entities) unless asked; called after loads, not on a hot path.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim(3) takes no pointers and only returns free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Large buffers (`/metrics` is 4 MB at 10,000 entities, the state's JSON 8 MB) get pages of
/// their own that go back to the system when freed. By default glibc raises that threshold to
/// the largest buffer freed so far, and from then on keeps up to twice that much free in each
/// thread's arena: every scrape left the daemon about 9 MB bigger.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt(3) takes no pointers; it only sets the allocator's thresholds.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * 1024);
    }
}

/// Time since boot, suspend included (CLOCK_BOOTTIME): real time, whatever the wall clock does.
fn boot_clock() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime(2) only writes the struct it is given.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } == 0;
    if ok {
        Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
    } else {
        Duration::ZERO
    }
}

/// Raises the soft limit on open files to the hard one, as servers do: the usual soft default
/// of 1024 would stop the daemon at about a thousand connections (event streams, pings), which
/// the fault tests reached.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit(2) and setrlimit(2) only read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= limit.rlim_max {
            return;
        }
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            info!(from = limit.rlim_cur, to = limit.rlim_max, "raised the open-files limit");
        } else {
            warn!(error = %std::io::Error::last_os_error(), "cannot raise the open-files limit");
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn config_loaded(config: &Config, revision: Option<&str>) -> NewEvent {
    NewEvent::new(
        "config.loaded",
        engine::SOURCE,
        "workspace",
        "config",
        "loaded",
        format!(
            "loaded {} entities, {} health rules, {} alert rules from {} files",
            config.entities.len(),
            config.health_rules.len(),
            config.alert_rules.len(),
            config.files.len()
        ),
    )
    .with_data(serde_json::json!({ "files": config.files.len(), "revision": revision, "builtin_rules": config.builtin_rules }))
}

/// The workspace's git HEAD commit, read from `.git` without running git.
pub fn git_head(workspace: &Path) -> Option<String> {
    let git = workspace.join(".git");
    let git = if git.is_file() {
        // A worktree: `.git` is a file naming the real git dir.
        let text = std::fs::read_to_string(&git).ok()?;
        let dir = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
        if dir.is_absolute() { dir } else { workspace.join(dir) }
    } else {
        git
    };
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:") else { return Some(head.to_string()) };
    let reference = reference.trim();
    let common = std::fs::read_to_string(git.join("commondir"))
        .ok()
        .map(|c| git.join(c.trim()))
        .unwrap_or(git.clone());
    for dir in [&git, &common] {
        if let Ok(id) = std::fs::read_to_string(dir.join(reference)) {
            return Some(id.trim().to_string());
        }
        if let Ok(packed) = std::fs::read_to_string(dir.join("packed-refs")) {
            let found =
                packed.lines().find_map(|l| l.strip_suffix(reference).map(|id| id.trim().to_string()));
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

async fn reload_on_sighup(inputs: mpsc::Sender<Input>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else { return };
    while hangups.recv().await.is_some() {
        if inputs.send(Input::Reload("SIGHUP")).await.is_err() {
            return;
        }
    }
}

/// File watches: the configuration (debounced, plus a polling backstop) and the event log
/// (so pings written by CLI processes reach the reconciler). Dropping it stops them.
struct Watchers {
    _config: Option<notify::RecommendedWatcher>,
    _log: Option<notify::RecommendedWatcher>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Watchers {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

impl Watchers {
    fn start(
        workspace: &Path,
        config: &Config,
        inputs: mpsc::Sender<Input>,
        writer: EventWriter,
    ) -> Watchers {
        let mut tasks = Vec::new();
        let config_watch = match watch_config(workspace, config.settings.reload_debounce, inputs.clone()) {
            Ok((watcher, task)) => {
                tasks.push(task);
                Some(watcher)
            }
            Err(e) => {
                warn!(error = %e, "cannot watch the configuration; relying on polling and SIGHUP");
                None
            }
        };

        // The polling backstop: a fingerprint of every configuration file's size and mtime.
        let (root, period) = (workspace.to_path_buf(), config.settings.reload_poll_interval);
        let poll_inputs = inputs.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = fingerprint(&root);
            loop {
                tokio::time::sleep(period).await;
                let now = fingerprint(&root);
                if now != last {
                    last = now;
                    if poll_inputs.send(Input::Reload("poll")).await.is_err() {
                        return;
                    }
                }
            }
        }));

        // CLI processes append to the log; a change of the file makes the writer catch up,
        // which broadcasts their events to the reconciler.
        let changed = Arc::new(Notify::new());
        let log_watch = {
            let changed = changed.clone();
            let state = workspace.join("state");
            let mut watcher =
                notify::recommended_watcher(move |_: notify::Result<notify::Event>| changed.notify_one());
            watcher
                .as_mut()
                .map_err(|e| e.to_string())
                .and_then(|w| {
                    use notify::Watcher;
                    w.watch(&state, notify::RecursiveMode::NonRecursive).map_err(|e| e.to_string())
                })
                .map_err(|e| warn!(error = %e, "cannot watch the event log; CLI pings are seen at the next daemon write"))
                .ok();
            watcher.ok()
        };
        tasks.push(tokio::spawn(async move {
            loop {
                changed.notified().await;
                if let Err(e) = writer.catch_up().await {
                    warn!(error = %e, "cannot read events written by other processes");
                }
                // Coalesce bursts: at most 20 catch-ups a second.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
        Watchers { _config: config_watch, _log: log_watch, tasks }
    }
}

fn is_config_path(workspace: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(workspace) else { return false };
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
    match first.as_deref() {
        Some("desired" | "rules") => true,
        Some(config::SETTINGS_FILE) => rel.components().count() == 1,
        _ => false,
    }
}

/// Watches the configuration and asks for a reload once changes have been quiet for
/// `debounce`. The debounce is a timer in the runtime rather than a debouncer thread, because
/// such a thread wakes several times a second forever, and an idle daemon must not.
fn watch_config(
    workspace: &Path,
    debounce: Duration,
    inputs: mpsc::Sender<Input>,
) -> Result<(notify::RecommendedWatcher, tokio::task::JoinHandle<()>), notify::Error> {
    use notify::event::ModifyKind;
    use notify::{EventKind, Watcher};
    let root = workspace.canonicalize().unwrap_or_else(|_| workspace.to_path_buf());
    let filter_root = root.clone();
    let changed = Arc::new(Notify::new());
    let signal = changed.clone();
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        let Ok(event) = result else { return };
        // Only changes count: reading the files during a reload raises access events, which
        // would otherwise trigger the next reload, forever.
        let change = matches!(
            event.kind,
            EventKind::Create(_)
                | EventKind::Remove(_)
                | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
        );
        if change && let Some(path) = event.paths.iter().find(|p| is_config_path(&filter_root, p)) {
            tracing::debug!(path = %path.display(), "configuration file changed");
            signal.notify_one();
        }
    })?;
    // The root only for the settings file (not recursively: target/ and state/ are busy).
    watcher.watch(&root, notify::RecursiveMode::NonRecursive)?;
    for folder in ["desired", "rules"] {
        let dir = root.join(folder);
        if dir.is_dir() {
            watcher.watch(&dir, notify::RecursiveMode::Recursive)?;
        }
    }
    let task = tokio::spawn(async move {
        loop {
            changed.notified().await;
            // Wait until the editor is done: `debounce` without a further change.
            while tokio::time::timeout(debounce, changed.notified()).await.is_ok() {}
            if inputs.send(Input::Reload("watch")).await.is_err() {
                return;
            }
        }
    });
    Ok((watcher, task))
}

/// Size and modification time of every configuration file, to notice changes by polling.
fn fingerprint(workspace: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![workspace.join("desired"), workspace.join("rules")];
    let settings = workspace.join(config::SETTINGS_FILE);
    if let Ok(meta) = std::fs::metadata(&settings) {
        out.push((settings, meta.len(), meta.modified().ok()));
    }
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => stack.push(path),
                Ok(meta) => out.push((path, meta.len(), meta.modified().ok())),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}
