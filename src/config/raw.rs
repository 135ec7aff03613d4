//! Raw configuration documents exactly as the owner writes them in YAML.
//!
//! These types only describe shape: every struct denies unknown keys, optional keys stay
//! `Option` so that validation can tell "absent" from "default", and every value a later
//! check may reject is wrapped in [`At`] so its line and column survive parsing. No enum
//! here is internally tagged and nothing is flattened, because serde buffers such values
//! and serde-saphyr then loses their positions. The JSON Schemas in `schemas/` are
//! generated from these types, so they are the editor-facing contract as well.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value with the line and column (1-based) where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub line: u32,
    pub column: u32,
}

impl<T> At<T> {
    pub fn new(value: T, line: u32, column: u32) -> At<T> {
        At { value, line, column }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        let line = super::yaml::absolute_line(u32::try_from(spanned.referenced.line()).unwrap_or(u32::MAX));
        let column = u32::try_from(spanned.referenced.column()).unwrap_or(u32::MAX);
        Ok(At { value: spanned.value, line, column })
    }
}

impl<T: Serialize> Serialize for At<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: JsonSchema> JsonSchema for At<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// Only the `kind` of a document, read first to pick the type for the whole document.
#[derive(Debug, Deserialize)]
pub struct Header {
    pub kind: Option<At<String>>,
}

/// Declares a document struct with the keys its family shares, written once here instead
/// of through `#[serde(flatten)]`, which would lose positions.
macro_rules! desired_document {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub kind: String,
            /// `^[a-z0-9][a-z0-9._-]{0,62}$`, unique per kind.
            pub id: At<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// The orchestrator's name, `Subagent:<Role>`, `Automation:<name>` or `Human:<name>`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub owner: Option<At<String>>,
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            pub labels: BTreeMap<String, String>,
            /// `active` (default), `paused` or `retired`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub desired: Option<DesiredState>,
            /// Other entities as `kind/id`, e.g. `integration/telegram`.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub depends_on: Vec<At<String>>,
            /// A heading in RUNBOOKS.md, or a path.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub runbook: Option<String>,
            $($(#[$fmeta])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>,)*
        }
    };
}

/// Declares a rules document: `kind`, `id`, and the descriptive keys.
macro_rules! rules_document {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub kind: String,
            pub id: At<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            pub labels: BTreeMap<String, String>,
            $($(#[$fmeta])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>,)*
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    #[default]
    Active,
    Paused,
    Retired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Boundary {
    #[default]
    Core,
    External,
    Protected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    Orchestrator,
    Subagent,
    Automation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProjectStatus {
    Active,
    Paused,
    Archived,
}

/// Delivery modes (SPEC section 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Mode {
    Planning,
    Building,
    Debugging,
    Reviewing,
    Reporting,
    Monitoring,
}

/// How an entity is observed: exactly one key may be set.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observe {
    /// Observed through pings to `/ping/{id}` or `mission-control ping ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatProbe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileProbe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandProbe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpProbe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openclaw_cron: Option<OpenclawCronProbe>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatProbe {}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileProbe {
    /// A path or glob, relative to the workspace or absolute.
    pub path: At<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandProbe {
    /// The program and its arguments; no shell is involved.
    pub run: At<Vec<String>>,
    /// Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<At<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<At<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    pub url: At<String>,
    /// Default GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<At<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, At<HeaderValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Default 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<At<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<HttpExpect>,
}

/// A header value: a literal, or a credential reference formatted into the value.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum HeaderValue {
    Literal(String),
    Credential(CredentialHeader),
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialHeader {
    pub credential: String,
    /// `{}` is replaced by the credential's value, e.g. `Bearer {}`. Default `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    /// Accepted statuses: numbers or ranges such as `"200-299"`. Default 200-399.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<At<StatusSpec>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// A condition over `status`, `body`, `latency`, `headers.<name>` of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<At<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusSpec {
    Code(u16),
    Range(String),
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    /// `host:port`.
    pub address: At<String>,
    /// Default 5s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<At<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenclawCronProbe {
    /// The OpenClaw cron job id.
    pub job: At<String>,
}

desired_document! {
    /// A scheduled job that must signal on time.
    Routine {
        /// Standard 5-field cron. Exactly one of `schedule` or `every`.
        schedule: At<String>,
        /// A fixed period, at least 1s.
        every: At<String>,
        /// IANA time zone; default the settings' timezone.
        timezone: At<String>,
        /// Default 5m.
        grace: At<String>,
        max_runtime: At<String>,
        /// Default `heartbeat: {}`.
        observe: At<Observe>,
    }
}

desired_document! {
    /// An external or core service the operation depends on.
    Integration {
        #[serde(rename = "type")]
        type_: String,
        purpose: String,
        boundary: Boundary,
        /// Default false for `protected`, true otherwise.
        activated: bool,
        /// A credential reference name, never a value.
        credential: At<String>,
        observe: At<Observe>,
        /// Default 1m.
        every: At<String>,
        /// Default 3.
        failure_threshold: At<u32>,
        /// Default 1.
        recovery_threshold: At<u32>,
        latency_warning: At<String>,
    }
}

desired_document! {
    /// A generated artefact (report, summary, export) that must exist and be fresh.
    Output {
        #[serde(rename = "type")]
        type_: String,
        trigger: At<String>,
        /// A path or glob, relative to the workspace or absolute.
        location: At<String>,
        /// Cron: after each fire time plus grace, a newer file must exist.
        due: At<String>,
        max_age: At<String>,
        /// Default 15m.
        grace: At<String>,
        timezone: At<String>,
        min_size: u64,
    }
}

desired_document! {
    /// The orchestrator, a subagent or an automation.
    Agent {
        role: AgentRole,
        /// The parent agent's id, for subagents.
        parent: At<String>,
        scope: String,
        model: String,
        mode: Mode,
        /// Default 30m.
        stale_after: At<String>,
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStep {
    pub id: At<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<At<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<At<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

desired_document! {
    /// A multi-step piece of work with dependencies between steps.
    Workflow {
        expected_output: String,
        steps: Vec<WorkflowStep>,
    }
}

desired_document! {
    Project {
        status: ProjectStatus,
        boundary: Boundary,
        activated: bool,
        repo: String,
        branch: String,
    }
}

/// Which entities a rule or silence applies to; an empty selector matches everything.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Lower-case kinds: routine, integration, output, agent, workflow, project, budget.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<At<String>>,
    /// Ids, `*` globs allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id: Vec<At<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundary: Vec<Boundary>,
    /// Alert rules and silences only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub level: Vec<At<Level>>,
}

/// Health levels, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Healthy,
    Unknown,
    Warning,
    Stale,
    Failed,
}

impl Level {
    /// The level's word, as written in YAML, the API and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Healthy => "healthy",
            Level::Unknown => "unknown",
            Level::Warning => "warning",
            Level::Stale => "stale",
            Level::Failed => "failed",
        }
    }
}

desired_document! {
    /// Holds notifications back for matching entities until it expires.
    Silence {
        #[serde(rename = "match")]
        match_: Selector,
        /// RFC 3339, required, at most 30 days ahead.
        expires: At<String>,
        reason: String,
    }
}

rules_document! {
    /// Sets `level` on matching entities while `when` holds.
    HealthRule {
        #[serde(rename = "match")]
        match_: Selector,
        when: At<String>,
        level: At<Level>,
        /// CamelCase.
        reason: At<String>,
        /// `{{path}}` inserts a field.
        message: String,
    }
}

rules_document! {
    AlertRule {
        #[serde(rename = "match")]
        match_: Selector,
        /// Default 0s.
        #[serde(rename = "for")]
        for_: At<String>,
        /// Default 4h; 0s never repeats.
        repeat_interval: At<String>,
        /// Default true.
        send_resolved: bool,
        receivers: Vec<At<String>>,
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlTarget {
    pub url: At<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<At<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramTarget {
    pub credential: At<String>,
    pub chat_id: At<ChatId>,
    /// Default https://api.telegram.org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<At<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ChatId {
    Number(i64),
    Name(String),
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandTarget {
    pub run: At<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<At<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogTarget {}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<At<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<At<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub give_up_after: Option<At<String>>,
}

rules_document! {
    /// Where notifications go: exactly one of the targets.
    Receiver {
        webhook: UrlTarget,
        alertmanager: UrlTarget,
        telegram: TelegramTarget,
        command: CommandTarget,
        log: LogTarget,
        retry: Retry,
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<At<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    Task,
    Bug,
    ProjectNote,
    DecisionCandidate,
    AutomationIdea,
    BackofficeItem,
    ResearchItem,
    SupportDebugItem,
    Archive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Urgent,
    High,
    Medium,
    Low,
    Someday,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    Backend,
    Frontend,
    Infra,
    Qa,
    Automation,
    Integration,
    Backoffice,
}

rules_document! {
    /// Classifies raw inbox items: the first rule by `order` whose `when` holds sets the fields.
    TriageRule {
        /// A condition over `text` and `source`.
        when: At<String>,
        set: TriageSet,
        order: i64,
    }
}

rules_document! {
    /// Prices per million tokens for a model name or glob.
    Price {
        model: At<String>,
        input_per_mtok: f64,
        output_per_mtok: f64,
        cache_read_per_mtok: f64,
        cache_write_per_mtok: f64,
        /// Default USD.
        currency: String,
    }
}

rules_document! {
    /// A spending limit over a window.
    Budget {
        /// `all`, `agent/ID`, `routine/ID` or `model/NAME`.
        scope: At<String>,
        /// Default 1d, in the settings' timezone.
        window: At<String>,
        warn_at: f64,
        fail_at: f64,
        currency: String,
    }
}

/// `mission-control.yaml`: every key optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Default 127.0.0.1:9797.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<At<String>>,
    /// IANA time zone, default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<At<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<At<String>>,
    /// A YAML map of credential references to values; must be mode 0600 and outside the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<At<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<ReloadSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openclaw: Option<OpenclawSettings>,
    /// The git collector, for projects and tasks that name a `repo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSettings>,
    /// Names allowed in `Human:<name>` owners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub humans: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthSettings>,
    /// Answers the chat commands over Telegram itself, so the owner can ask `server` while
    /// the orchestrator is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_commands: Option<TelegramCommandSettings>,
    /// The entities this daemon judges (default all): the others are neither probed nor
    /// alerted here, for one daemon per host over one shared workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<Selector>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramCommandSettings {
    /// Credential reference of the bot token.
    pub credential: At<String>,
    /// The only chats answered; every other update is ignored (and counted).
    pub allowed_chat_ids: Vec<ChatId>,
    /// Default https://api.telegram.org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<At<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthSettings {
    /// Whether the built-in default health rules apply; default true. A workspace
    /// `HealthRule` with a default's id replaces that one default either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// Rotate the log past this size; default 64 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Rotated files kept; default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<usize>,
    /// Write a `heartbeat.received` event per ping; default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_pings: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Credential reference of the bearer token the write API requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_token: Option<At<String>>,
    /// Credential reference of a key that ping paths must carry: `/ping/{key}/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_key: Option<At<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReloadSettings {
    /// Default 500ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce: Option<At<String>>,
    /// Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<At<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenclawSettings {
    /// Default `OPENCLAW_STATE_DIR`, else ~/.openclaw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How often the home is read; default 15s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<At<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitSettings {
    /// How often the repositories of projects and open tasks are looked at; default 1m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<At<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Probes run at once; default 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_concurrency: Option<usize>,
    /// Largest request body the API accepts; default 65536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// Bytes of a ping body kept (the rest is read and discarded); default 100000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_body_bytes: Option<usize>,
}
