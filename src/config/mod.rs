//! The owner's configuration: desired state, rules and settings, loaded and validated whole.
//!
//! `load` reads `mission-control.yaml`, every `*.yaml` under `desired/` and `rules/` (or the
//! built-in default rules when the workspace has no `rules/`), and either returns a complete
//! [`Config`] or every error it found, each as `PATH:LINE:COL: message`. A `Config` is
//! immutable; the daemon shares it behind an `Arc` and swaps it whole on reload, so a bad edit
//! never leaves half a configuration running.
//!
//! # Layout
//! - `raw`: the documents as written (serde + JSON Schema), positions kept.
//! - `yaml`: splitting files into documents and positioned parse errors.
//! - `fastyaml`: a reader for plain documents that gives serde-saphyr's value or steps aside.
//! - `validate`: raw documents into the types below, collecting every error.

mod fastyaml;
pub mod raw;
mod validate;
mod yaml;

pub use validate::{SUBAGENT_ROLES, check_owner, expand_home};

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

pub use raw::{
    AgentRole, Boundary, Classification, DesiredState, Domain, Level, Mode, Priority, ProjectStatus,
};

use crate::condition::Condition;
use crate::schedule::{Cron, Schedule};

/// The default health rules shipped in `rules/health.yaml`, compiled into the binary. They
/// always apply (SPEC section 3): a workspace `HealthRule` with the same id replaces one, and
/// settings `health: {defaults: false}` turns them all off.
pub const BUILTIN_HEALTH_RULES: (&str, &str) = ("rules/health.yaml", include_str!("../../rules/health.yaml"));

/// The other example rules shipped in `rules/` (alerting to the log, triage, prices, a
/// budget), compiled into the binary for workspaces that have no `rules/` folder at all.
pub const BUILTIN_RULES: &[(&str, &str)] = &[
    ("rules/alerts.yaml", include_str!("../../rules/alerts.yaml")),
    ("rules/triage.yaml", include_str!("../../rules/triage.yaml")),
    ("rules/prices.yaml", include_str!("../../rules/prices.yaml")),
    ("rules/budgets.yaml", include_str!("../../rules/budgets.yaml")),
];

/// The settings file name at the workspace root.
pub const SETTINGS_FILE: &str = "mission-control.yaml";

/// One problem found while loading, at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error, Serialize)]
#[error("{path}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: &str, line: u32, column: u32, message: impl Into<String>) -> ConfigError {
        ConfigError { path: path.to_string(), line, column, message: message.into() }
    }
}

/// Everything wrong with a load, sorted by file and position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} configuration error(s)", .0.len())]
pub struct LoadErrors(pub Vec<ConfigError>);

/// The kinds of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    Routine,
    Integration,
    Output,
    Agent,
    Workflow,
    Project,
    Silence,
    HealthRule,
    AlertRule,
    Receiver,
    TriageRule,
    Price,
    Budget,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::Routine,
        Kind::Integration,
        Kind::Output,
        Kind::Agent,
        Kind::Workflow,
        Kind::Project,
        Kind::Silence,
        Kind::HealthRule,
        Kind::AlertRule,
        Kind::Receiver,
        Kind::TriageRule,
        Kind::Price,
        Kind::Budget,
    ];

    /// The name written in `kind:`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Routine => "Routine",
            Kind::Integration => "Integration",
            Kind::Output => "Output",
            Kind::Agent => "Agent",
            Kind::Workflow => "Workflow",
            Kind::Project => "Project",
            Kind::Silence => "Silence",
            Kind::HealthRule => "HealthRule",
            Kind::AlertRule => "AlertRule",
            Kind::Receiver => "Receiver",
            Kind::TriageRule => "TriageRule",
            Kind::Price => "Price",
            Kind::Budget => "Budget",
        }
    }

    /// The lower-case form used in references, the API, the CLI and `entity_type`.
    pub fn lower(self) -> &'static str {
        match self {
            Kind::Routine => "routine",
            Kind::Integration => "integration",
            Kind::Output => "output",
            Kind::Agent => "agent",
            Kind::Workflow => "workflow",
            Kind::Project => "project",
            Kind::Silence => "silence",
            Kind::HealthRule => "healthrule",
            Kind::AlertRule => "alertrule",
            Kind::Receiver => "receiver",
            Kind::TriageRule => "triagerule",
            Kind::Price => "price",
            Kind::Budget => "budget",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn from_lower(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.lower() == name)
    }

    /// Kinds that are entities with a health level of their own.
    pub fn is_entity(self) -> bool {
        matches!(
            self,
            Kind::Routine
                | Kind::Integration
                | Kind::Output
                | Kind::Agent
                | Kind::Workflow
                | Kind::Project
                | Kind::Budget
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.lower())
    }
}

/// `kind/id`, the name of an entity everywhere outside YAML.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityKey {
    pub kind: Kind,
    pub id: String,
}

impl EntityKey {
    pub fn new(kind: Kind, id: impl Into<String>) -> EntityKey {
        EntityKey { kind, id: id.into() }
    }

    /// Parses `routine/daily-status`.
    pub fn parse(text: &str) -> Option<EntityKey> {
        let (kind, id) = text.split_once('/')?;
        let kind = Kind::from_lower(kind).filter(|k| k.is_entity())?;
        valid_id(id).then(|| EntityKey::new(kind, id))
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.id)
    }
}

impl Serialize for EntityKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `^[a-z0-9][a-z0-9._-]{0,62}$`
pub fn valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// A validated configuration. Cheap to share: the daemon holds it in an `Arc`.
#[derive(Debug, Clone)]
pub struct Config {
    pub workspace: PathBuf,
    pub settings: Settings,
    /// Every desired entity, sorted by kind and id, including inert ones (see [`Entity::inert`]).
    pub entities: Vec<Arc<Entity>>,
    pub silences: Vec<Silence>,
    pub health_rules: Vec<HealthRule>,
    pub alert_rules: Vec<AlertRule>,
    pub receivers: Vec<Receiver>,
    /// Sorted by `order`, then id.
    pub triage_rules: Vec<TriageRule>,
    pub prices: Vec<Price>,
    pub budgets: Vec<Budget>,
    /// Whether the example rules (alerts, triage, prices, budget) came from the binary because
    /// the workspace has no `rules/`. The default health rules are built in either way.
    pub builtin_rules: bool,
    /// Every file read, relative to the workspace.
    pub files: Vec<String>,
    index: HashMap<EntityKey, usize, BuildKeyHasher>,
}

/// The hasher of entity keys in the maps the reconciler reads at every evaluation: the
/// multiply-rotate hash rustc uses for its own tables (FxHash), several times faster than
/// the default SipHash on keys this short. The keys come from the owner's configuration, not
/// from the network, so SipHash's resistance to chosen collisions buys nothing here.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildKeyHasher;

impl std::hash::BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Config {
    pub fn entity(&self, key: &EntityKey) -> Option<&Arc<Entity>> {
        self.index.get(key).map(|&i| &self.entities[i])
    }

    /// Entities that are watched and shown: everything but protected, non-activated ones.
    pub fn visible_entities(&self) -> impl Iterator<Item = &Arc<Entity>> {
        self.entities.iter().filter(|e| !e.inert)
    }

    /// The orchestrator agent, whose name is a valid task owner.
    pub fn orchestrator(&self) -> Option<&Arc<Entity>> {
        self.entities.iter().find(|e| matches!(&e.spec, Spec::Agent(a) if a.role == AgentRole::Orchestrator))
    }
}

/// Settings with every default applied.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub listen: String,
    #[serde(serialize_with = "ser_tz")]
    pub timezone: Tz,
    pub public_url: Option<String>,
    pub credentials_file: Option<PathBuf>,
    pub events_max_bytes: u64,
    pub events_keep: usize,
    pub record_pings: bool,
    pub write_token: Option<String>,
    pub ping_key: Option<String>,
    #[serde(serialize_with = "ser_duration")]
    pub reload_debounce: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub reload_poll_interval: Duration,
    pub openclaw_home: PathBuf,
    pub openclaw_enabled: bool,
    /// How often the OpenClaw home is read.
    #[serde(serialize_with = "ser_duration")]
    pub openclaw_every: Duration,
    /// How often the git collector looks at the repositories named by projects and tasks.
    #[serde(serialize_with = "ser_duration")]
    pub git_every: Duration,
    pub humans: Option<Vec<String>>,
    pub probe_concurrency: usize,
    pub max_body_bytes: usize,
    pub ping_body_bytes: usize,
    /// Whether the built-in default health rules apply.
    pub health_defaults: bool,
    /// The Telegram command listener, when configured.
    pub telegram_commands: Option<TelegramCommands>,
    /// The entities this daemon judges; `None` is all.
    #[serde(skip)]
    pub select: Option<Selector>,
}

/// `telegram_commands`: the bot whose chats the daemon answers itself.
#[derive(Debug, Clone, Serialize)]
pub struct TelegramCommands {
    /// Credential reference of the bot token.
    pub credential: String,
    pub allowed_chat_ids: Vec<String>,
    pub api_base: String,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9797";

/// Common keys of every desired entity.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub desired: DesiredState,
    pub depends_on: Vec<EntityKey>,
    pub runbook: Option<String>,
}

/// A desired entity: routine, integration, output, agent, workflow or project.
#[derive(Debug, Clone)]
pub struct Entity {
    pub key: EntityKey,
    pub meta: Meta,
    pub spec: Spec,
    /// Protected and not activated: never probed, evaluated or shown anywhere.
    pub inert: bool,
    /// Matched by the settings' `select` (true without one): judged by this daemon. The
    /// others are shown as not judged here (reason `NotSelected`), never probed or alerted.
    pub selected: bool,
    /// The document with defaults applied, as condition fields `entity.*` see it: compact
    /// JSON text, read by [`Entity::document_field`]. Kept as text because a
    /// `serde_json::Value` tree per entity cost more memory than the rest of the entity
    /// (about 2 kB each).
    pub document: Box<str>,
    /// Where the document was written, for messages.
    pub source: String,
}

impl Entity {
    /// The document's value at a JSON pointer (`/observe/url`), if any. A default rule reads
    /// `entity.latency_warning` at every probe result, so only the top-level field the pointer
    /// names first is built; the others are skipped unparsed.
    pub fn document_field(&self, pointer: &str) -> Option<serde_json::Value> {
        document::field(&self.document, pointer)
    }

    pub fn boundary(&self) -> Boundary {
        match &self.spec {
            Spec::Integration(i) => i.boundary,
            Spec::Project(p) => p.boundary,
            _ => Boundary::Core,
        }
    }

    pub fn display_name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or(&self.key.id)
    }

    /// The schedule of expected runs: a routine's, or an output's `due`.
    pub fn schedule(&self) -> Option<&Schedule> {
        match &self.spec {
            Spec::Routine(r) => Some(&r.schedule),
            Spec::Output(Output { contract: OutputContract::Due(s), .. }) => Some(s),
            _ => None,
        }
    }

    /// How long after an expected signal it may still come (routines and outputs).
    pub fn grace(&self) -> Option<Duration> {
        match &self.spec {
            Spec::Routine(r) => Some(r.grace),
            Spec::Output(o) => Some(o.grace),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Spec {
    Routine(Routine),
    Integration(Integration),
    Output(Output),
    Agent(Agent),
    Workflow(Workflow),
    Project(Project),
    /// A budget of the rules is also an entity: its level follows its spend.
    Budget(Budget),
}

/// How an entity is observed.
#[derive(Debug, Clone)]
pub enum Probe {
    Heartbeat,
    File(FileProbe),
    Command(CommandProbe),
    Http(Box<HttpProbe>),
    Tcp(TcpProbe),
    OpenclawCron { job: String },
}

impl Probe {
    /// The probe's name, as in `observe:` and the `probe` metric label.
    pub fn name(&self) -> &'static str {
        match self {
            Probe::Heartbeat => "heartbeat",
            Probe::File(_) => "file",
            Probe::Command(_) => "command",
            Probe::Http(_) => "http",
            Probe::Tcp(_) => "tcp",
            Probe::OpenclawCron { .. } => "openclaw_cron",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileProbe {
    /// Absolute glob.
    pub path: String,
    pub min_size: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct CommandProbe {
    pub run: Vec<String>,
    pub timeout: Duration,
    pub every: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpProbe {
    /// As written.
    pub url: String,
    /// `url` parsed once: parsing it at every run was some 4% of a probe's CPU.
    pub target: reqwest::Url,
    pub method: String,
    pub headers: Vec<(String, HeaderValue)>,
    pub body: Option<String>,
    pub timeout: Duration,
    /// Inclusive status ranges.
    pub status: Vec<(u16, u16)>,
    pub body_contains: Option<String>,
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone)]
pub enum HeaderValue {
    Literal(String),
    Credential { credential: String, format: String },
}

#[derive(Debug, Clone)]
pub struct TcpProbe {
    pub address: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Routine {
    pub schedule: Schedule,
    pub timezone: Tz,
    pub grace: Duration,
    pub max_runtime: Option<Duration>,
    pub observe: Probe,
    /// How often a pulled probe (file, command, http, tcp) runs; heartbeats are pushed.
    pub probe_every: Duration,
}

#[derive(Debug, Clone)]
pub struct Integration {
    pub type_: Option<String>,
    pub purpose: Option<String>,
    pub boundary: Boundary,
    pub activated: bool,
    pub credential: Option<String>,
    pub observe: Option<Probe>,
    pub every: Duration,
    pub failure_threshold: u32,
    pub recovery_threshold: u32,
    pub latency_warning: Option<Duration>,
}

#[derive(Debug, Clone)]
pub enum OutputContract {
    /// After each fire time plus grace, a file newer than the fire time must exist.
    Due(Schedule),
    MaxAge(Duration),
}

#[derive(Debug, Clone)]
pub struct Output {
    pub type_: Option<String>,
    pub trigger: Option<String>,
    /// Absolute glob.
    pub location: String,
    pub contract: OutputContract,
    pub grace: Duration,
    pub min_size: Option<u64>,
    pub check_every: Duration,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub role: AgentRole,
    pub parent: Option<String>,
    pub scope: Option<String>,
    pub model: Option<String>,
    pub mode: Option<Mode>,
    pub stale_after: Duration,
}

#[derive(Debug, Clone)]
pub struct Workflow {
    pub expected_output: Option<String>,
    pub steps: Vec<WorkflowStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkflowStep {
    pub id: String,
    pub title: Option<String>,
    pub owner: Option<String>,
    pub depends_on: Vec<String>,
    pub expected_output: Option<String>,
    pub task: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub status: ProjectStatus,
    pub boundary: Boundary,
    pub activated: bool,
    pub repo: Option<String>,
    pub branch: Option<String>,
}

/// Which entities a rule applies to.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub kinds: Vec<Kind>,
    pub ids: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub boundaries: Vec<Boundary>,
    pub levels: Vec<Level>,
}

impl Selector {
    /// Whether the entity matches every given key (levels are checked by the caller).
    pub fn matches(&self, entity: &Entity) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&entity.key.kind))
            && (self.ids.is_empty() || self.ids.iter().any(|p| glob_match(p, &entity.key.id)))
            && self.labels.iter().all(|(k, v)| entity.meta.labels.get(k) == Some(v))
            && (self.boundaries.is_empty() || self.boundaries.contains(&entity.boundary()))
    }

    pub fn matches_level(&self, level: Level) -> bool {
        self.levels.is_empty() || self.levels.contains(&level)
    }
}

/// `*` matches any run of characters, `?` one character; everything else is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matching with one backtrack point: linear in practice, never recursive.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[derive(Debug, Clone)]
pub struct Silence {
    pub id: String,
    pub selector: Selector,
    pub expires: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct HealthRule {
    pub id: String,
    pub selector: Selector,
    pub when: Condition,
    pub level: Level,
    pub reason: String,
    pub message: String,
    pub origin: RuleOrigin,
}

/// Where an effective rule comes from, for `validate`, `plan` and `why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOrigin {
    /// A default compiled into the binary.
    BuiltIn,
    /// A workspace file; `replaces_default` when its id is a default's.
    File { path: String, line: u32, replaces_default: bool },
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleOrigin::BuiltIn => f.write_str("built in"),
            RuleOrigin::File { path, line, replaces_default: false } => write!(f, "{path}:{line}"),
            RuleOrigin::File { path, line, replaces_default: true } => {
                write!(f, "{path}:{line}, replacing the built-in default")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlertRule {
    pub id: String,
    pub selector: Selector,
    pub for_: Duration,
    pub repeat_interval: Duration,
    pub send_resolved: bool,
    pub receivers: Vec<String>,
}

impl AlertRule {
    /// Whether this rule's alert fires for the entity at `level`. A rule without `level` in
    /// its selector fires at `stale` and `failed`: an alert for a healthy entity means nothing.
    pub fn fires(&self, entity: &Entity, level: Level) -> bool {
        let level_matches = if self.selector.levels.is_empty() {
            level >= Level::Stale
        } else {
            self.selector.levels.contains(&level)
        };
        level_matches && self.selector.matches(entity)
    }
}

impl Silence {
    /// Whether the silence holds back notifications for the entity at `level` at `now`.
    pub fn holds(&self, entity: &Entity, level: Level, now: DateTime<Utc>) -> bool {
        now < self.expires && self.selector.matches(entity) && self.selector.matches_level(level)
    }
}

#[derive(Debug, Clone)]
pub enum ReceiverTarget {
    Webhook { url: String, credential: Option<String> },
    Alertmanager { url: String, credential: Option<String> },
    Telegram { credential: String, chat_id: String, api_base: String },
    Command { run: Vec<String>, timeout: Duration },
    Log,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub id: String,
    pub target: ReceiverTarget,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
}

#[derive(Debug, Clone)]
pub struct TriageRule {
    pub id: String,
    pub when: Condition,
    pub classification: Option<Classification>,
    pub domain: Option<Domain>,
    pub priority: Option<Priority>,
    pub owner: Option<String>,
    pub expected_output: Option<String>,
    pub order: i64,
}

#[derive(Debug, Clone)]
pub struct Price {
    pub id: String,
    pub model: String,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub cache_read_per_mtok: f64,
    pub cache_write_per_mtok: f64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BudgetScope {
    All,
    Agent(String),
    Routine(String),
    Model(String),
}

#[derive(Debug, Clone)]
pub struct Budget {
    pub id: String,
    pub scope: BudgetScope,
    pub window: Duration,
    pub warn_at: Option<f64>,
    pub fail_at: Option<f64>,
    pub currency: String,
}

/// Loads and validates the workspace. `now` decides which silences are too far ahead.
pub fn load(workspace: &Path, now: DateTime<Utc>) -> Result<Config, LoadErrors> {
    validate::load(workspace, now)
}

/// A workspace's configuration files as text: what [`load`] reads from disk before it parses.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The text of `mission-control.yaml`, when the workspace has one.
    pub settings: Option<String>,
    /// Every YAML file under `desired/` and `rules/`: its path relative to the workspace, and
    /// its text.
    pub files: Vec<(String, String)>,
    /// Whether the workspace has a `rules/` folder; without one the built-in rules apply.
    pub has_rules: bool,
}

/// [`load`] over files already in memory, reading nothing below `workspace` (only
/// `credentials_file`, to tell whether it lies inside it). The fuzz targets and property
/// tests call it; [`load`] does the same once it has read the files.
pub fn load_sources(workspace: &Path, sources: Sources, now: DateTime<Utc>) -> Result<Config, LoadErrors> {
    validate::load_sources(workspace, sources, now)
}

/// Settings with every default, for a workspace whose settings cannot be loaded.
pub fn default_settings(workspace: &Path) -> Settings {
    validate::default_settings(workspace)
}

/// The cron expression of a schedule, for display.
pub fn describe_schedule(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Cron { cron, tz } => format!("{} ({})", cron.source(), tz.name()),
        Schedule::Every(period) => format!("every {}", crate::duration::human(*period)),
    }
}

fn ser_tz<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}

/// Parses a cron string for a caller that already knows it is valid (it passed `load`).
pub fn cron_of(schedule: &Schedule) -> Option<&Cron> {
    match schedule {
        Schedule::Cron { cron, .. } => Some(cron),
        Schedule::Every(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_fields() {
        let text =
            r#"{"id":"a","grace":"5m","observe":{"url":"http://x","n":[1,{"k":"v"}]},"e\"sc":1,"nil":null}"#;
        let field = |pointer: &str| document::field(text, pointer);
        assert_eq!(field("/grace"), Some(serde_json::json!("5m")));
        assert_eq!(field("/observe/url"), Some(serde_json::json!("http://x")));
        assert_eq!(field("/observe/n/1/k"), Some(serde_json::json!("v")));
        assert_eq!(field("/e\"sc"), Some(serde_json::json!(1)));
        assert_eq!(field("/nil"), Some(serde_json::Value::Null));
        assert_eq!(field("/missing"), None);
        assert_eq!(field("/observe/missing"), None);
        assert_eq!(field("/grace/deeper"), None);
        assert_eq!(field("grace"), None);
        assert_eq!(document::field("[1]", "/0"), None);
        assert_eq!(document::field("not json", "/a"), None);
    }

    #[test]
    fn ids() {
        for ok in ["a", "daily-status", "0day", "a.b_c-d"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "-a", "A", "a b", "a/b", &"a".repeat(64)] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn globs() {
        let cases = [
            ("*", "anything", true),
            ("daily-*", "daily-status", true),
            ("daily-*", "weekly-status", false),
            ("*-status", "daily-status", true),
            ("a?c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("exact", "exact", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn entity_keys() {
        assert_eq!(
            EntityKey::parse("routine/daily-status"),
            Some(EntityKey::new(Kind::Routine, "daily-status"))
        );
        assert_eq!(EntityKey::parse("Routine/x"), None);
        assert_eq!(EntityKey::parse("healthrule/x"), None);
        assert_eq!(EntityKey::parse("routine"), None);
    }
}

/// Reading one top-level field of an entity's compact JSON document.
mod document {
    use std::fmt;

    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    use serde_json::Value;

    /// The value at a JSON pointer of a compact JSON document. Only the top-level field the
    /// pointer names first is built; the others are skipped unparsed.
    pub fn field(document: &str, pointer: &str) -> Option<Value> {
        let rest = pointer.strip_prefix('/')?;
        let (first, inner) = match rest.split_once('/') {
            Some((first, inner)) => (first, Some(inner)),
            None => (rest, None),
        };
        let mut reader = serde_json::Deserializer::from_str(document);
        let mut value = TopField(first).deserialize(&mut reader).ok()??;
        match inner {
            None => Some(value),
            Some(inner) => value.pointer_mut(&format!("/{inner}")).map(Value::take),
        }
    }

    /// The value of the top-level field with this name, if the document is an object with it.
    struct TopField<'a>(&'a str);

    impl<'de> DeserializeSeed<'de> for TopField<'_> {
        type Value = Option<Value>;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for TopField<'_> {
        type Value = Option<Value>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a document")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(matches) = map.next_key_seed(KeyIs(self.0))? {
                if matches && found.is_none() {
                    found = Some(map.next_value::<Value>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    /// Whether a key is the given name, compared without copying it.
    struct KeyIs<'a>(&'a str);

    impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
        type Value = bool;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
            deserializer.deserialize_str(self)
        }
    }

    impl Visitor<'_> for KeyIs<'_> {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a field name")
        }

        fn visit_str<E>(self, key: &str) -> Result<bool, E> {
            Ok(key == self.0)
        }
    }
}
