//! Turns raw documents into a [`Config`], collecting every error instead of stopping at the
//! first, so one `validate` run shows the owner everything there is to fix.
//!
//! The work happens in passes: read and parse every file (syntax, unknown and duplicate keys,
//! types, literal secrets), register ids (format, duplicates), convert each document (durations,
//! cron, time zones, conditions, URLs, exactly-one-of keys), then check what spans documents
//! (references, owners, dependency cycles).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;

use super::raw::{self, At};
use super::yaml::{self, Document};
use super::*;
use crate::condition::Condition;
use crate::schedule::{self, Cron, Schedule};

macro_rules! common {
    ($d:expr) => {
        Common {
            name: &$d.name,
            description: &$d.description,
            owner: &$d.owner,
            labels: &$d.labels,
            desired: $d.desired,
            depends_on: &$d.depends_on,
            runbook: &$d.runbook,
        }
    };
}

/// The roles of `Subagent:<Role>`, valid whether or not such an agent is declared.
pub const SUBAGENT_ROLES: [&str; 6] = ["Backend", "Frontend", "Infra", "QA", "Research", "Backoffice"];
const MAX_SILENCE: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// The most of a ping body `limits.ping_body_bytes` may keep: every kept byte is written to
/// the event log and held in memory while the ping is handled.
const MAX_PING_BODY_KEPT: usize = 1024 * 1024;
/// The longest duration any key accepts: far beyond any real schedule, and small enough that
/// adding it to a timestamp can never overflow.
const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 24 * 3600);
/// Periods that drive repeated work (probes, retries) are at least this long, so a typo
/// cannot make the daemon spin.
const MIN_PERIOD: Duration = Duration::from_secs(1);

/// A parsed document and the file it came from.
struct Parsed {
    path: String,
    doc: RawDoc,
}

enum RawDoc {
    Routine(raw::Routine),
    Integration(raw::Integration),
    Output(raw::Output),
    Agent(raw::Agent),
    Workflow(raw::Workflow),
    Project(raw::Project),
    Silence(raw::Silence),
    HealthRule(raw::HealthRule),
    AlertRule(raw::AlertRule),
    Receiver(raw::Receiver),
    TriageRule(raw::TriageRule),
    Price(raw::Price),
    Budget(raw::Budget),
}

impl RawDoc {
    fn kind(&self) -> Kind {
        match self {
            RawDoc::Routine(_) => Kind::Routine,
            RawDoc::Integration(_) => Kind::Integration,
            RawDoc::Output(_) => Kind::Output,
            RawDoc::Agent(_) => Kind::Agent,
            RawDoc::Workflow(_) => Kind::Workflow,
            RawDoc::Project(_) => Kind::Project,
            RawDoc::Silence(_) => Kind::Silence,
            RawDoc::HealthRule(_) => Kind::HealthRule,
            RawDoc::AlertRule(_) => Kind::AlertRule,
            RawDoc::Receiver(_) => Kind::Receiver,
            RawDoc::TriageRule(_) => Kind::TriageRule,
            RawDoc::Price(_) => Kind::Price,
            RawDoc::Budget(_) => Kind::Budget,
        }
    }

    /// The `kind` as the document wrote it.
    fn kind_as_written(&self) -> &str {
        match self {
            RawDoc::Routine(d) => &d.kind,
            RawDoc::Integration(d) => &d.kind,
            RawDoc::Output(d) => &d.kind,
            RawDoc::Agent(d) => &d.kind,
            RawDoc::Workflow(d) => &d.kind,
            RawDoc::Project(d) => &d.kind,
            RawDoc::Silence(d) => &d.kind,
            RawDoc::HealthRule(d) => &d.kind,
            RawDoc::AlertRule(d) => &d.kind,
            RawDoc::Receiver(d) => &d.kind,
            RawDoc::TriageRule(d) => &d.kind,
            RawDoc::Price(d) => &d.kind,
            RawDoc::Budget(d) => &d.kind,
        }
    }

    fn id(&self) -> &At<String> {
        match self {
            RawDoc::Routine(d) => &d.id,
            RawDoc::Integration(d) => &d.id,
            RawDoc::Output(d) => &d.id,
            RawDoc::Agent(d) => &d.id,
            RawDoc::Workflow(d) => &d.id,
            RawDoc::Project(d) => &d.id,
            RawDoc::Silence(d) => &d.id,
            RawDoc::HealthRule(d) => &d.id,
            RawDoc::AlertRule(d) => &d.id,
            RawDoc::Receiver(d) => &d.id,
            RawDoc::TriageRule(d) => &d.id,
            RawDoc::Price(d) => &d.id,
            RawDoc::Budget(d) => &d.id,
        }
    }
}

/// The error collector and what every pass needs to know.
struct Cx<'a> {
    workspace: &'a Path,
    now: DateTime<Utc>,
    errors: Vec<ConfigError>,
    /// File texts, to find where a quoted scalar's content starts.
    texts: HashMap<String, String>,
    /// The ids of the built-in default health rules.
    default_health_ids: HashSet<String>,
    /// Each cron expression parsed once per load: a workspace repeats a few of them many times.
    crons: HashMap<String, Result<Cron, schedule::CronError>>,
}

impl<'a> Cx<'a> {
    fn new(workspace: &'a Path, now: DateTime<Utc>) -> Cx<'a> {
        Cx {
            workspace,
            now,
            errors: Vec::new(),
            texts: HashMap::new(),
            default_health_ids: HashSet::new(),
            crons: HashMap::new(),
        }
    }

    fn error<T>(&mut self, path: &str, at: &At<T>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, at.line, at.column, message));
    }

    fn error_at(&mut self, path: &str, line: u32, column: u32, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, line, column, message));
    }

    fn duration(&mut self, path: &str, key: &str, at: &At<String>) -> Option<Duration> {
        match humantime::parse_duration(at.value.trim()) {
            Ok(d) if d > MAX_DURATION => {
                self.error(path, at, format!("duration {:?} for `{key}` is longer than 10 years", at.value));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    path,
                    at,
                    format!("bad duration {:?} for `{key}`: {e}; write e.g. 90s, 15m, 1h30m", at.value),
                );
                None
            }
        }
    }

    fn duration_or(&mut self, path: &str, key: &str, at: Option<&At<String>>, default: Duration) -> Duration {
        at.and_then(|at| self.duration(path, key, at)).unwrap_or(default)
    }

    fn timezone(&mut self, path: &str, at: &At<String>) -> Option<Tz> {
        match schedule::parse_tz(at.value.trim()) {
            Ok(tz) => Some(tz),
            Err(message) => {
                self.error(path, at, message);
                None
            }
        }
    }

    fn cron(&mut self, path: &str, key: &str, at: &At<String>) -> Option<Cron> {
        let parsed = match self.crons.get(&at.value) {
            Some(parsed) => parsed.clone(),
            None => {
                let parsed = Cron::parse(&at.value);
                self.crons.insert(at.value.clone(), parsed.clone());
                parsed
            }
        };
        match parsed {
            Ok(cron) => Some(cron),
            Err(e) => {
                self.error(path, at, format!("bad cron {:?} for `{key}`: {e}", at.value));
                None
            }
        }
    }

    /// Compiles a condition; its errors point into the file, past an opening quote.
    fn condition(&mut self, path: &str, at: &At<String>) -> Option<Condition> {
        match Condition::parse(&at.value) {
            Ok(condition) => Some(condition),
            Err(e) => {
                let quoted = self.starts_quoted(path, at);
                let (line, column) = if e.line <= 1 {
                    let col = at.column as usize + e.column.saturating_sub(1) + usize::from(quoted);
                    (at.line, u32::try_from(col).unwrap_or(u32::MAX))
                } else {
                    let line = at.line as usize + e.line - 1;
                    (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(e.column).unwrap_or(u32::MAX))
                };
                self.error_at(path, line, column, format!("bad condition: {}", e.message));
                None
            }
        }
    }

    fn starts_quoted(&self, path: &str, at: &At<String>) -> bool {
        let Some(text) = self.texts.get(path) else { return false };
        let Some(line) = text.lines().nth(at.line.saturating_sub(1) as usize) else { return false };
        matches!(line.chars().nth(at.column.saturating_sub(1) as usize), Some('"' | '\''))
    }

    fn credential_ref(&mut self, path: &str, at: &At<String>) -> Option<String> {
        if valid_credential_ref(&at.value) {
            Some(at.value.clone())
        } else {
            self.error(
                path,
                at,
                format!(
                    "credential must be a reference name matching ^[a-z][a-z0-9_]{{0,63}}$ (its value is read from MC_CRED_<NAME> or the credentials file), found {}",
                    describe_rejected(&at.value)
                ),
            );
            None
        }
    }

    fn url(&mut self, path: &str, key: &str, at: &At<String>) -> Option<String> {
        self.parsed_url(path, key, at).map(|_| at.value.clone())
    }

    /// An http or https URL with a host, parsed.
    fn parsed_url(&mut self, path: &str, key: &str, at: &At<String>) -> Option<reqwest::Url> {
        match reqwest::Url::parse(&at.value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
            Ok(_) => {
                self.error(path, at, format!("`{key}` must be an http or https URL with a host"));
                None
            }
            Err(e) => {
                self.error(path, at, format!("bad URL for `{key}`: {e}"));
                None
            }
        }
    }

    fn absolute(&self, path: &str) -> String {
        let p = Path::new(path);
        if p.is_absolute() { path.to_string() } else { self.workspace.join(p).to_string_lossy().into_owned() }
    }
}

/// `^[a-z][a-z0-9_]{0,63}$`
pub fn valid_credential_ref(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Names what was rejected without echoing something that may be a secret.
fn describe_rejected(value: &str) -> String {
    if crate::redact::find_secrets(value).is_empty() && value.len() <= 64 {
        format!("{value:?}")
    } else {
        format!("a value of {} characters", value.chars().count())
    }
}

pub(super) fn load(workspace: &Path, now: DateTime<Utc>) -> Result<Config, LoadErrors> {
    let mut cx = Cx::new(workspace, now);

    let settings = read_settings(&mut cx);
    let mut files: Vec<(String, String)> = Vec::new();
    for folder in ["desired", "rules"] {
        for path in yaml_files(&workspace.join(folder)) {
            let rel = relative(workspace, &path);
            if let Some(text) = read_text(&mut cx, &path, &rel) {
                files.push((rel, text));
            }
        }
    }
    let has_rules = workspace.join("rules").is_dir();
    compile(cx, Sources { settings, files, has_rules })
}

pub(super) fn load_sources(
    workspace: &Path,
    sources: Sources,
    now: DateTime<Utc>,
) -> Result<Config, LoadErrors> {
    let cx = Cx::new(workspace, now);
    compile(cx, sources)
}

/// Everything after reading: parse, register, convert, check; `cx` may already hold the
/// errors met while reading.
fn compile(mut cx: Cx, sources: Sources) -> Result<Config, LoadErrors> {
    let raw_settings = sources.settings.and_then(|text| parse_settings(&mut cx, text));
    let settings = settings(&mut cx, raw_settings.as_ref());

    let mut files = sources.files;
    let builtin_rules = !sources.has_rules;
    if builtin_rules {
        for (name, text) in BUILTIN_RULES {
            files.push((format!("{BUILT_IN}/{name}"), (*text).to_string()));
        }
    }

    let mut documents = Vec::new();
    for (index, (path, text)) in files.iter().enumerate() {
        scan_secrets(&mut cx, path, text);
        documents.extend(yaml::split_documents(text).into_iter().map(|document| (index, document)));
        cx.texts.insert(path.clone(), text.clone());
    }
    let defaults = default_health_rules(&mut cx);
    // Sized for the defaults too: a raw document is about a kilobyte, so growing the vector
    // by doubling for the last few would hold twice the workspace's documents at once.
    let mut parsed = Vec::with_capacity(documents.len() + defaults.len());
    for ((index, _), result) in documents.iter().zip(parse_documents(&files, &documents)) {
        match result {
            Ok(doc) => parsed.push(Parsed { path: files[*index].0.clone(), doc }),
            Err(e) => cx.errors.push(e),
        }
    }
    drop(documents);
    add_default_health_rules(&mut parsed, defaults, settings.health_defaults);

    register_ids(&mut cx, &parsed);
    let config =
        convert(&mut cx, parsed, settings, builtin_rules, files.iter().map(|f| f.0.clone()).collect());

    if cx.errors.is_empty() {
        Ok(config)
    } else {
        let mut errors = cx.errors;
        errors.sort();
        errors.dedup();
        Err(LoadErrors(errors))
    }
}

/// How files compiled into the binary are named in messages.
const BUILT_IN: &str = "<built-in>";

/// The default health rules always apply (SPEC section 3), each unless the workspace defines
/// a `HealthRule` with its id, which replaces it; `health.defaults: false` turns them off.
/// The built-in default health rules, parsed; their ids are noted in `cx`.
fn default_health_rules(cx: &mut Cx) -> Vec<Parsed> {
    let (name, text) = BUILTIN_HEALTH_RULES;
    let path = format!("{BUILT_IN}/{name}");
    let defaults: Vec<Parsed> = yaml::split_documents(text)
        .iter()
        .filter_map(|document| parse_document(&path, document).ok())
        .map(|doc| Parsed { path: path.clone(), doc })
        .collect();
    cx.default_health_ids = defaults.iter().map(|d| d.doc.id().value.clone()).collect();
    defaults
}

fn add_default_health_rules(parsed: &mut Vec<Parsed>, defaults: Vec<Parsed>, enabled: bool) {
    if !enabled {
        return;
    }
    let defined: HashSet<String> = parsed
        .iter()
        .filter(|p| matches!(p.doc, RawDoc::HealthRule(_)))
        .map(|p| p.doc.id().value.clone())
        .collect();
    parsed.extend(defaults.into_iter().filter(|d| !defined.contains(&d.doc.id().value)));
}

/// The settings of a workspace without a settings file.
pub(super) fn default_settings(workspace: &Path) -> Settings {
    let mut cx = Cx::new(workspace, Utc::now());
    settings(&mut cx, None)
}

fn read_settings(cx: &mut Cx) -> Option<String> {
    let path = cx.workspace.join(SETTINGS_FILE);
    if !path.exists() {
        return None;
    }
    read_text(cx, &path, SETTINGS_FILE)
}

fn parse_settings(cx: &mut Cx, text: String) -> Option<raw::Settings> {
    scan_secrets(cx, SETTINGS_FILE, &text);
    let documents = yaml::split_documents(&text);
    cx.texts.insert(SETTINGS_FILE.to_string(), text);
    match documents.as_slice() {
        [] => None,
        [document] => match yaml::parse::<raw::Settings>(SETTINGS_FILE, document) {
            Ok(settings) => Some(settings),
            Err(e) => {
                cx.errors.push(e);
                None
            }
        },
        [_, second, ..] => {
            cx.error_at(SETTINGS_FILE, second.first_line, 1, "the settings file holds one document");
            None
        }
    }
}

fn settings(cx: &mut Cx, raw: Option<&raw::Settings>) -> Settings {
    let default = raw::Settings::default();
    let raw = raw.unwrap_or(&default);
    let path = SETTINGS_FILE;
    let timezone = raw.timezone.as_ref().and_then(|at| cx.timezone(path, at)).unwrap_or(Tz::UTC);
    if let Some(listen) = &raw.listen
        && parse_host_port(&listen.value).is_none()
    {
        cx.error(path, listen, format!("`listen` must be host:port, found {:?}", listen.value));
    }
    if let Some(url) = &raw.public_url {
        cx.url(path, "public_url", url);
    }
    let credentials_file = raw.credentials_file.as_ref().and_then(|at| {
        let file = PathBuf::from(&at.value);
        let absolute = if file.is_absolute() { file } else { cx.workspace.join(file) };
        if is_inside(cx.workspace, &absolute) {
            cx.error(path, at, "credentials_file must lie outside the workspace, which is kept in git");
            None
        } else {
            Some(absolute)
        }
    });
    let events = raw.events.clone().unwrap_or_default();
    let api = raw.api.clone().unwrap_or_default();
    let write_token = api.write_token.as_ref().and_then(|at| cx.credential_ref(path, at));
    let ping_key = api.ping_key.as_ref().and_then(|at| cx.credential_ref(path, at));
    let reload = raw.reload.clone().unwrap_or_default();
    let reload_debounce =
        cx.duration_or(path, "debounce", reload.debounce.as_ref(), Duration::from_millis(500));
    let reload_poll_interval =
        cx.duration_or(path, "poll_interval", reload.poll_interval.as_ref(), Duration::from_secs(30));
    let openclaw = raw.openclaw.clone().unwrap_or_default();
    let openclaw_home = match openclaw.home {
        Some(home) => expand_home(&home),
        // As OpenClaw itself finds its home.
        None => match std::env::var("OPENCLAW_STATE_DIR").ok().filter(|d| !d.trim().is_empty()) {
            Some(dir) => expand_home(dir.trim()),
            None => expand_home("~/.openclaw"),
        },
    };
    let openclaw_every =
        cx.duration_or(path, "every", openclaw.every.as_ref(), Duration::from_secs(15)).max(MIN_PERIOD);
    let git = raw.git.clone().unwrap_or_default();
    let git_every =
        cx.duration_or(path, "every", git.every.as_ref(), Duration::from_secs(60)).max(MIN_PERIOD);
    let limits = raw.limits.clone().unwrap_or_default();
    Settings {
        listen: raw.listen.as_ref().map_or_else(|| DEFAULT_LISTEN.to_string(), |l| l.value.clone()),
        timezone,
        public_url: raw.public_url.as_ref().map(|u| u.value.trim_end_matches('/').to_string()),
        credentials_file,
        events_max_bytes: events.max_bytes.unwrap_or(64 * 1024 * 1024).max(4096),
        events_keep: events.keep.unwrap_or(5),
        record_pings: events.record_pings.unwrap_or(true),
        write_token,
        ping_key,
        reload_debounce,
        reload_poll_interval: reload_poll_interval.max(MIN_PERIOD),
        openclaw_home,
        openclaw_enabled: openclaw.enabled.unwrap_or(true),
        openclaw_every,
        git_every,
        humans: raw.humans.clone(),
        probe_concurrency: limits.probe_concurrency.unwrap_or(64).max(1),
        max_body_bytes: limits.max_body_bytes.unwrap_or(64 * 1024),
        // As Healthchecks: the first 100 kB of a ping body are kept.
        ping_body_bytes: limits.ping_body_bytes.unwrap_or(100_000).min(MAX_PING_BODY_KEPT),
        health_defaults: raw.health.as_ref().and_then(|h| h.defaults).unwrap_or(true),
        telegram_commands: raw.telegram_commands.as_ref().and_then(|t| telegram_commands(cx, t)),
        select: raw.select.as_ref().map(|s| selector(cx, path, s, false)),
    }
}

fn telegram_commands(cx: &mut Cx, t: &raw::TelegramCommandSettings) -> Option<TelegramCommands> {
    let path = SETTINGS_FILE;
    let api_base = match &t.api_base {
        Some(at) => cx.url(path, "api_base", at)?.trim_end_matches('/').to_string(),
        None => "https://api.telegram.org".to_string(),
    };
    if t.allowed_chat_ids.is_empty() {
        cx.error(path, &t.credential, "`allowed_chat_ids` lists the chats to answer; it is empty");
    }
    Some(TelegramCommands {
        credential: cx.credential_ref(path, &t.credential)?,
        allowed_chat_ids: t
            .allowed_chat_ids
            .iter()
            .map(|c| match c {
                raw::ChatId::Number(n) => n.to_string(),
                raw::ChatId::Name(s) => s.clone(),
            })
            .collect(),
        api_base,
    })
}

/// A path as written, with a leading `~/` taken as the home directory.
pub fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => {
            std::env::var_os("HOME").map_or_else(|| PathBuf::from(path), |h| PathBuf::from(h).join(rest))
        }
        None => PathBuf::from(path),
    }
}

fn is_inside(workspace: &Path, path: &Path) -> bool {
    let canonical = |p: &Path| {
        p.canonicalize()
            .or_else(|_| {
                p.parent().map_or(Err(()), |d| {
                    d.canonicalize().map(|d| d.join(p.file_name().unwrap_or_default())).map_err(|_| ())
                })
            })
            .unwrap_or_else(|_| p.to_path_buf())
    };
    canonical(path).starts_with(canonical(workspace))
}

fn parse_host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty()).then_some((host, port))
}

/// Every `*.yaml`/`*.yml` below `dir`, sorted, so loads are deterministic.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn relative(workspace: &Path, path: &Path) -> String {
    path.strip_prefix(workspace).unwrap_or(path).to_string_lossy().into_owned()
}

fn read_text(cx: &mut Cx, path: &Path, rel: &str) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Opened without blocking and checked on the open file: a FIFO (or a device) named
    // `*.yaml` would otherwise block the read, and with it the reconciler's reload, forever
    // (found by the fault tests). The size is bounded on the read itself, not on an earlier look.
    let opened = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path);
    let file = match opened.and_then(|file| file.metadata().map(|meta| (file, meta))) {
        Ok((_, meta)) if !meta.is_file() => {
            cx.error_at(rel, 1, 1, "cannot read file: not a regular file");
            return None;
        }
        Ok((file, _)) => file,
        Err(e) => {
            cx.error_at(rel, 1, 1, format!("cannot read file: {e}"));
            return None;
        }
    };
    let mut bytes = Vec::new();
    let read = file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes);
    if read.is_ok() && bytes.len() as u64 > MAX_FILE_BYTES {
        cx.error_at(rel, 1, 1, format!("file is larger than {MAX_FILE_BYTES} bytes"));
        return None;
    }
    match read.map(|_| bytes) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(e) => {
                let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                cx.error_at(rel, u32::try_from(line).unwrap_or(u32::MAX), 1, "file is not valid UTF-8");
                None
            }
        },
        Err(e) => {
            cx.error_at(rel, 1, 1, format!("cannot read file: {e}"));
            None
        }
    }
}

fn scan_secrets(cx: &mut Cx, path: &str, text: &str) {
    for finding in crate::redact::find_secrets(text) {
        cx.error_at(
            path,
            u32::try_from(finding.line).unwrap_or(u32::MAX),
            u32::try_from(finding.column).unwrap_or(u32::MAX),
            format!(
                "literal secret ({}) in configuration; keep its value in MC_CRED_<NAME> or the credentials file and write `credential: <name>` here",
                finding.kind
            ),
        );
    }
}

/// Below this many documents, one thread parses them all.
const PARALLEL_DOCUMENTS: usize = 256;

/// Every document parsed (`documents` names each one's file by its index in `files`), in
/// order; on as many threads as there are cores when there are many, since each document is
/// parsed on its own.
fn parse_documents(
    files: &[(String, String)],
    documents: &[(usize, Document)],
) -> Vec<Result<RawDoc, ConfigError>> {
    let parse = |part: &[(usize, Document)]| -> Vec<_> {
        part.iter().map(|(index, document)| parse_document(&files[*index].0, document)).collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || documents.len() < PARALLEL_DOCUMENTS {
        return parse(documents);
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = documents
            .chunks(documents.len().div_ceil(threads))
            .map(|part| scope.spawn(move || parse(part)))
            .collect();
        let mut all = Vec::with_capacity(documents.len());
        for part in parts {
            all.extend(part.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        all
    })
}

fn parse_document(path: &str, document: &Document) -> Result<RawDoc, ConfigError> {
    match plain_kind(&document.text).map(|kind| (kind, parse_kind(path, document, kind))) {
        Some((kind, Ok(doc))) if doc.kind_as_written().trim() == kind.name() => Ok(doc),
        _ => parse_header_then_kind(path, document),
    }
}

/// The kind of a document whose `kind:` is a plain top-level line naming a known kind, as
/// nearly every document has it: the document is then parsed once, not twice. The full parse
/// reads `kind` again, so a document this misreads still fails; anything less plain goes the
/// slow way, whose errors say what is wrong.
fn plain_kind(text: &str) -> Option<Kind> {
    let line = text.lines().find(|line| line.starts_with("kind:"))?;
    let value = line["kind:".len()..].split(" #").next()?.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    Kind::from_name(value)
}

fn parse_header_then_kind(path: &str, document: &Document) -> Result<RawDoc, ConfigError> {
    let header: raw::Header = yaml::parse(path, document)?;
    let Some(kind) = header.kind else {
        return Err(ConfigError::new(path, document.first_line, 1, "missing `kind`"));
    };
    let Some(k) = Kind::from_name(&kind.value) else {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        let hint = Kind::ALL
            .iter()
            .find(|k| k.name().eq_ignore_ascii_case(&kind.value))
            .map(|k| format!(" (did you mean {}?)", k.name()))
            .unwrap_or_default();
        return Err(ConfigError::new(
            path,
            kind.line,
            kind.column,
            format!("unknown kind {:?}{hint}; expected one of {}", kind.value, names.join(", ")),
        ));
    };
    parse_kind(path, document, k)
}

fn parse_kind(path: &str, document: &Document, k: Kind) -> Result<RawDoc, ConfigError> {
    fn p<T: DeserializeOwned>(
        path: &str,
        d: &Document,
        wrap: fn(T) -> RawDoc,
    ) -> Result<RawDoc, ConfigError> {
        yaml::parse::<T>(path, d).map(wrap)
    }
    match k {
        Kind::Routine => p(path, document, RawDoc::Routine),
        Kind::Integration => p(path, document, RawDoc::Integration),
        Kind::Output => p(path, document, RawDoc::Output),
        Kind::Agent => p(path, document, RawDoc::Agent),
        Kind::Workflow => p(path, document, RawDoc::Workflow),
        Kind::Project => p(path, document, RawDoc::Project),
        Kind::Silence => p(path, document, RawDoc::Silence),
        Kind::HealthRule => p(path, document, RawDoc::HealthRule),
        Kind::AlertRule => p(path, document, RawDoc::AlertRule),
        Kind::Receiver => p(path, document, RawDoc::Receiver),
        Kind::TriageRule => p(path, document, RawDoc::TriageRule),
        Kind::Price => p(path, document, RawDoc::Price),
        Kind::Budget => p(path, document, RawDoc::Budget),
    }
}

fn register_ids(cx: &mut Cx, parsed: &[Parsed]) {
    let mut seen: HashMap<(Kind, &str), (&str, u32, u32)> = HashMap::new();
    for p in parsed {
        let id = p.doc.id();
        if !valid_id(&id.value) {
            cx.error(&p.path, id, format!("bad id {:?}: ids match ^[a-z0-9][a-z0-9._-]{{0,62}}$", id.value));
            continue;
        }
        match seen.get(&(p.doc.kind(), id.value.as_str())) {
            Some((path, line, column)) => {
                let message = format!(
                    "duplicate {} id {:?}; first defined at {path}:{line}:{column}",
                    p.doc.kind().name(),
                    id.value
                );
                cx.error(&p.path, id, message);
            }
            None => {
                seen.insert((p.doc.kind(), id.value.as_str()), (p.path.as_str(), id.line, id.column));
            }
        }
    }
}

/// References checked once every document is known.
#[derive(Default)]
struct Pending {
    owners: Vec<(String, At<String>)>,
    depends_on: Vec<(String, EntityKey, At<String>)>,
    parents: Vec<(String, String, At<String>)>,
    receivers: Vec<(String, At<String>)>,
    budget_scopes: Vec<(String, At<String>, EntityKey)>,
}

fn convert(
    cx: &mut Cx,
    parsed: Vec<Parsed>,
    settings: Settings,
    builtin_rules: bool,
    files: Vec<String>,
) -> Config {
    let mut pending = Pending::default();
    let mut entities = Vec::with_capacity(parsed.len());
    let mut config = Config {
        workspace: cx.workspace.to_path_buf(),
        settings,
        entities: Vec::new(),
        silences: Vec::new(),
        health_rules: Vec::new(),
        alert_rules: Vec::new(),
        receivers: Vec::new(),
        triage_rules: Vec::new(),
        prices: Vec::new(),
        budgets: Vec::new(),
        builtin_rules,
        files,
        index: HashMap::default(),
    };
    let tz = config.settings.timezone;
    for Parsed { path, doc } in parsed {
        let path = path.as_str();
        match doc {
            RawDoc::Routine(d) => {
                let meta = meta(cx, path, Kind::Routine, &d.id, common!(d), &mut pending);
                if let Some(spec) = routine(cx, path, &d, tz) {
                    let mut document = to_json(&d);
                    fill(&mut document, "grace", dur(spec.grace));
                    fill(&mut document, "timezone", spec.timezone.name().into());
                    if let Some(m) = spec.max_runtime {
                        fill(&mut document, "max_runtime", dur(m));
                    }
                    entities.push(entity(
                        Kind::Routine,
                        &d.id,
                        meta,
                        Spec::Routine(spec),
                        false,
                        document,
                        path,
                    ));
                }
            }
            RawDoc::Integration(d) => {
                let meta = meta(cx, path, Kind::Integration, &d.id, common!(d), &mut pending);
                let spec = integration(cx, path, &d);
                let mut document = to_json(&d);
                fill(&mut document, "every", dur(spec.every));
                fill(&mut document, "failure_threshold", spec.failure_threshold.into());
                fill(&mut document, "recovery_threshold", spec.recovery_threshold.into());
                fill(&mut document, "activated", spec.activated.into());
                fill(&mut document, "boundary", to_json(&spec.boundary));
                let inert = spec.boundary == Boundary::Protected && !spec.activated;
                entities.push(entity(
                    Kind::Integration,
                    &d.id,
                    meta,
                    Spec::Integration(spec),
                    inert,
                    document,
                    path,
                ));
            }
            RawDoc::Output(d) => {
                let meta = meta(cx, path, Kind::Output, &d.id, common!(d), &mut pending);
                if let Some(spec) = output(cx, path, &d, tz) {
                    let mut document = to_json(&d);
                    fill(&mut document, "grace", dur(spec.grace));
                    entities.push(entity(
                        Kind::Output,
                        &d.id,
                        meta,
                        Spec::Output(spec),
                        false,
                        document,
                        path,
                    ));
                }
            }
            RawDoc::Agent(d) => {
                let meta = meta(cx, path, Kind::Agent, &d.id, common!(d), &mut pending);
                let spec = agent(cx, path, &d, &mut pending);
                let mut document = to_json(&d);
                fill(&mut document, "stale_after", dur(spec.stale_after));
                entities.push(entity(Kind::Agent, &d.id, meta, Spec::Agent(spec), false, document, path));
            }
            RawDoc::Workflow(d) => {
                let meta = meta(cx, path, Kind::Workflow, &d.id, common!(d), &mut pending);
                let spec = workflow(cx, path, &d, &mut pending);
                let document = to_json(&d);
                entities.push(entity(
                    Kind::Workflow,
                    &d.id,
                    meta,
                    Spec::Workflow(spec),
                    false,
                    document,
                    path,
                ));
            }
            RawDoc::Project(d) => {
                let meta = meta(cx, path, Kind::Project, &d.id, common!(d), &mut pending);
                let boundary = d.boundary.unwrap_or_default();
                let activated = d.activated.unwrap_or(boundary != Boundary::Protected);
                let spec = Project {
                    status: d.status.unwrap_or(ProjectStatus::Active),
                    boundary,
                    activated,
                    repo: d.repo.clone(),
                    branch: d.branch.clone(),
                };
                let document = to_json(&d);
                let inert = boundary == Boundary::Protected && !activated;
                entities.push(entity(Kind::Project, &d.id, meta, Spec::Project(spec), inert, document, path));
            }
            RawDoc::Silence(d) => {
                if let Some(s) = silence(cx, path, &d) {
                    config.silences.push(s);
                }
            }
            RawDoc::HealthRule(d) => {
                if let Some(r) = health_rule(cx, path, &d) {
                    config.health_rules.push(r);
                }
            }
            RawDoc::AlertRule(d) => {
                let r = alert_rule(cx, path, &d, &mut pending);
                config.alert_rules.push(r);
            }
            RawDoc::Receiver(d) => {
                if let Some(r) = receiver(cx, path, &d) {
                    config.receivers.push(r);
                }
            }
            RawDoc::TriageRule(d) => {
                if let Some(r) = triage_rule(cx, path, &d, &mut pending) {
                    config.triage_rules.push(r);
                }
            }
            RawDoc::Price(d) => {
                if let Some(p) = price(cx, path, &d) {
                    config.prices.push(p);
                }
            }
            RawDoc::Budget(d) => {
                if let Some(b) = budget(cx, path, &d, &mut pending) {
                    // A budget is also an entity with a level, so it alerts like any other.
                    let meta = Meta {
                        name: d.name.clone(),
                        description: d.description.clone(),
                        owner: None,
                        labels: d.labels.clone(),
                        desired: DesiredState::Active,
                        depends_on: Vec::new(),
                        runbook: None,
                    };
                    let mut document = to_json(&d);
                    fill(&mut document, "currency", b.currency.clone().into());
                    fill(&mut document, "window", dur(b.window));
                    entities.push(entity(
                        Kind::Budget,
                        &d.id,
                        meta,
                        Spec::Budget(b.clone()),
                        false,
                        document,
                        path,
                    ));
                    config.budgets.push(b);
                }
            }
        }
    }
    // One daemon per host over one shared workspace: this one judges only its slice.
    if let Some(select) = &config.settings.select {
        for entity in &mut entities {
            entity.selected = select.matches(entity);
        }
    }
    // Sorted as pointers, not as the entities themselves (600 bytes each). Not
    // `into_iter().map(Arc::new).collect()`: collected in place, that would keep the buffer the
    // entities were pushed into (doubled as it grew) for 8-byte pointers.
    config.entities = Vec::with_capacity(entities.len());
    config.entities.extend(entities.into_iter().map(Arc::new));
    config.entities.sort_by(|a, b| a.key.cmp(&b.key));
    config.entities.dedup_by(|a, b| a.key == b.key);
    config.index = config.entities.iter().enumerate().map(|(i, e)| (e.key.clone(), i)).collect();
    config.triage_rules.sort_by(|a, b| (a.order, &a.id).cmp(&(b.order, &b.id)));
    let mut edges: HashMap<(String, String), (String, u32, u32)> = HashMap::new();
    for (path, from, dep) in &pending.depends_on {
        edges.insert((from.to_string(), dep.value.trim().to_string()), (path.clone(), dep.line, dep.column));
    }
    for (path, child, parent) in &pending.parents {
        edges.insert(
            (format!("agent/{child}"), format!("agent/{}", parent.value)),
            (path.clone(), parent.line, parent.column),
        );
    }
    check_references(cx, &config, pending);
    check_cycles(cx, &config, &edges);
    config
}

/// The keys every desired document shares, borrowed for [`meta`].
struct Common<'a> {
    name: &'a Option<String>,
    description: &'a Option<String>,
    owner: &'a Option<At<String>>,
    labels: &'a BTreeMap<String, String>,
    desired: Option<DesiredState>,
    depends_on: &'a [At<String>],
    runbook: &'a Option<String>,
}

fn meta(cx: &mut Cx, path: &str, kind: Kind, id: &At<String>, c: Common, pending: &mut Pending) -> Meta {
    let from = EntityKey::new(kind, id.value.clone());
    let mut depends_on = Vec::new();
    for dep in c.depends_on {
        match parse_reference(&dep.value) {
            Some(key) => {
                pending.depends_on.push((path.to_string(), from.clone(), dep.clone()));
                depends_on.push(key);
            }
            None => cx.error(
                path,
                dep,
                format!(
                    "bad reference {:?} in depends_on: write kind/id in lower case, e.g. integration/telegram",
                    dep.value
                ),
            ),
        }
    }
    if let Some(owner) = c.owner {
        pending.owners.push((path.to_string(), owner.clone()));
    }
    Meta {
        name: c.name.clone(),
        description: c.description.clone(),
        owner: c.owner.as_ref().map(|o| o.value.clone()),
        labels: c.labels.clone(),
        desired: c.desired.unwrap_or_default(),
        depends_on,
        runbook: c.runbook.clone(),
    }
}

fn parse_reference(text: &str) -> Option<EntityKey> {
    EntityKey::parse(text.trim())
}

fn entity(
    kind: Kind,
    id: &At<String>,
    meta: Meta,
    spec: Spec,
    inert: bool,
    document: serde_json::Value,
    path: &str,
) -> Entity {
    Entity {
        key: EntityKey::new(kind, id.value.clone()),
        meta,
        spec,
        inert,
        selected: true,
        document: serde_json::to_string(&document).unwrap_or_else(|_| "null".to_string()).into(),
        source: path.to_string(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

fn fill(document: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(map) = document.as_object_mut() {
        map.entry(key).or_insert(value);
    }
}

fn dur(d: Duration) -> serde_json::Value {
    humantime::format_duration(d).to_string().into()
}

fn routine(cx: &mut Cx, path: &str, d: &raw::Routine, default_tz: Tz) -> Option<Routine> {
    let timezone = match &d.timezone {
        Some(at) => cx.timezone(path, at)?,
        None => default_tz,
    };
    let schedule = match (&d.schedule, &d.every) {
        (Some(cron), None) => Schedule::Cron { cron: cx.cron(path, "schedule", cron)?, tz: timezone },
        (None, Some(every)) => {
            let period = cx.duration(path, "every", every)?;
            if period < MIN_PERIOD {
                cx.error(path, every, "`every` must be at least 1s");
                return None;
            }
            Schedule::Every(period)
        }
        (Some(_), Some(every)) => {
            cx.error(path, every, "a routine takes exactly one of `schedule` or `every`, not both");
            return None;
        }
        (None, None) => {
            cx.error(path, &d.id, "a routine needs `schedule` (cron) or `every` (duration)");
            return None;
        }
    };
    let grace = cx.duration_or(path, "grace", d.grace.as_ref(), Duration::from_secs(300));
    let max_runtime = d.max_runtime.as_ref().and_then(|at| cx.duration(path, "max_runtime", at));
    let observe = match &d.observe {
        Some(at) => probe(cx, path, at, Kind::Routine)?,
        None => Probe::Heartbeat,
    };
    let probe_every = match &observe {
        Probe::Command(c) => c.every,
        _ => Duration::from_secs(30),
    };
    Some(Routine { schedule, timezone, grace, max_runtime, observe, probe_every })
}

fn probe(cx: &mut Cx, path: &str, at: &At<raw::Observe>, kind: Kind) -> Option<Probe> {
    let o = &at.value;
    let set = [
        o.heartbeat.is_some(),
        o.file.is_some(),
        o.command.is_some(),
        o.http.is_some(),
        o.tcp.is_some(),
        o.openclaw_cron.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        cx.error(
            path,
            at,
            "`observe` takes exactly one of heartbeat, file, command, http, tcp, openclaw_cron",
        );
        return None;
    }
    if o.heartbeat.is_some() {
        return Some(Probe::Heartbeat);
    }
    if let Some(f) = &o.file {
        return Some(Probe::File(FileProbe { path: cx.absolute(&f.path.value), min_size: f.min_size }));
    }
    if let Some(c) = &o.command {
        if c.run.value.is_empty() || c.run.value[0].is_empty() {
            cx.error(
                path,
                &c.run,
                "`run` needs a program: an argv list such as [\"/usr/bin/test\", \"-f\", \"x\"]",
            );
            return None;
        }
        let timeout = cx.duration_or(path, "timeout", c.timeout.as_ref(), Duration::from_secs(30));
        let every = cx.duration_or(path, "every", c.every.as_ref(), Duration::from_secs(60));
        if every < MIN_PERIOD
            && let Some(at) = &c.every
        {
            cx.error(path, at, "`every` must be at least 1s");
        }
        return Some(Probe::Command(CommandProbe { run: c.run.value.clone(), timeout, every }));
    }
    if let Some(h) = &o.http {
        return http_probe(cx, path, h);
    }
    if let Some(t) = &o.tcp {
        if parse_host_port(&t.address.value).is_none() {
            cx.error(path, &t.address, format!("`address` must be host:port, found {:?}", t.address.value));
            return None;
        }
        let timeout = cx.duration_or(path, "timeout", t.timeout.as_ref(), Duration::from_secs(5));
        return Some(Probe::Tcp(TcpProbe { address: t.address.value.clone(), timeout }));
    }
    if let Some(j) = &o.openclaw_cron {
        if kind != Kind::Routine {
            cx.error(path, &j.job, "openclaw_cron observes routines only");
            return None;
        }
        return Some(Probe::OpenclawCron { job: j.job.value.clone() });
    }
    None
}

fn http_probe(cx: &mut Cx, path: &str, h: &raw::HttpProbe) -> Option<Probe> {
    let target = cx.parsed_url(path, "url", &h.url);
    let method = match &h.method {
        Some(m) => {
            let upper = m.value.to_ascii_uppercase();
            if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&upper.as_str()) {
                cx.error(path, m, format!("unknown HTTP method {:?}", m.value));
            }
            upper
        }
        None => "GET".to_string(),
    };
    let mut headers = Vec::new();
    for (name, value) in &h.headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            cx.error(path, value, format!("bad header name {name:?}"));
            continue;
        }
        match &value.value {
            raw::HeaderValue::Literal(text) => {
                headers.push((name.clone(), HeaderValue::Literal(text.clone())))
            }
            raw::HeaderValue::Credential(c) => {
                let at = At::new(c.credential.clone(), value.line, value.column);
                if let Some(credential) = cx.credential_ref(path, &at) {
                    let format = c.format.clone().unwrap_or_else(|| "{}".to_string());
                    if !format.contains("{}") {
                        cx.error(path, value, "`format` must contain {} where the credential goes");
                    }
                    headers.push((name.clone(), HeaderValue::Credential { credential, format }));
                }
            }
        }
    }
    let timeout = cx.duration_or(path, "timeout", h.timeout.as_ref(), Duration::from_secs(10));
    let expect = h.expect.clone().unwrap_or_default();
    let mut status = Vec::new();
    match &expect.status {
        None => status.push((200, 399)),
        Some(list) => {
            for spec in list {
                match status_range(&spec.value) {
                    Some(range) => status.push(range),
                    None => cx.error(
                        path,
                        spec,
                        "bad status: write a code such as 200 or a range such as \"200-299\" within 100-599",
                    ),
                }
            }
        }
    }
    let condition = expect.condition.as_ref().and_then(|c| cx.condition(path, c));
    Some(Probe::Http(Box::new(HttpProbe {
        url: h.url.value.clone(),
        target: target?,
        method,
        headers,
        body: h.body.clone(),
        timeout,
        status,
        body_contains: expect.body_contains.clone(),
        condition,
    })))
}

fn status_range(spec: &raw::StatusSpec) -> Option<(u16, u16)> {
    let (low, high) = match spec {
        raw::StatusSpec::Code(code) => (*code, *code),
        raw::StatusSpec::Range(text) => match text.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let code = text.trim().parse().ok()?;
                (code, code)
            }
        },
    };
    ((100..=599).contains(&low) && (100..=599).contains(&high) && low <= high).then_some((low, high))
}

fn integration(cx: &mut Cx, path: &str, d: &raw::Integration) -> Integration {
    let boundary = d.boundary.unwrap_or_default();
    let observe = d.observe.as_ref().and_then(|at| probe(cx, path, at, Kind::Integration));
    let every = cx.duration_or(path, "every", d.every.as_ref(), Duration::from_secs(60));
    if every < MIN_PERIOD
        && let Some(at) = &d.every
    {
        cx.error(path, at, "`every` must be at least 1s");
    }
    let threshold = |cx: &mut Cx, at: &Option<At<u32>>, default: u32, key: &str| match at {
        Some(t) if t.value == 0 => {
            cx.error(path, t, format!("`{key}` must be at least 1"));
            default
        }
        Some(t) => t.value,
        None => default,
    };
    let failure_threshold = threshold(cx, &d.failure_threshold, 3, "failure_threshold");
    let recovery_threshold = threshold(cx, &d.recovery_threshold, 1, "recovery_threshold");
    Integration {
        type_: d.type_.clone(),
        purpose: d.purpose.clone(),
        boundary,
        activated: d.activated.unwrap_or(boundary != Boundary::Protected),
        credential: d.credential.as_ref().and_then(|at| cx.credential_ref(path, at)),
        observe: observe.map(|p| match p {
            // A command probe inside an integration runs at the integration's pace.
            Probe::Command(c) => Probe::Command(CommandProbe { every, ..c }),
            other => other,
        }),
        every,
        failure_threshold,
        recovery_threshold,
        latency_warning: d.latency_warning.as_ref().and_then(|at| cx.duration(path, "latency_warning", at)),
    }
}

fn output(cx: &mut Cx, path: &str, d: &raw::Output, default_tz: Tz) -> Option<Output> {
    let Some(location) = &d.location else {
        cx.error(path, &d.id, "an output needs `location` (a path or glob)");
        return None;
    };
    let tz = match &d.timezone {
        Some(at) => cx.timezone(path, at)?,
        None => default_tz,
    };
    let contract = match (&d.due, &d.max_age) {
        (Some(due), None) => OutputContract::Due(Schedule::Cron { cron: cx.cron(path, "due", due)?, tz }),
        (None, Some(age)) => OutputContract::MaxAge(cx.duration(path, "max_age", age)?),
        (Some(_), Some(age)) => {
            cx.error(path, age, "an output takes exactly one of `due` or `max_age`, not both");
            return None;
        }
        (None, None) => {
            cx.error(path, &d.id, "an output needs `due` (cron) or `max_age` (duration)");
            return None;
        }
    };
    if let Some(trigger) = &d.trigger
        && trigger.value.starts_with("routine/")
        && parse_reference(&trigger.value).is_none()
    {
        cx.error(path, trigger, format!("bad trigger reference {:?}", trigger.value));
    }
    Some(Output {
        check_every: match &contract {
            OutputContract::MaxAge(age) => (*age / 2).clamp(Duration::from_secs(1), Duration::from_secs(30)),
            OutputContract::Due(_) => Duration::from_secs(30),
        },
        type_: d.type_.clone(),
        trigger: d.trigger.as_ref().map(|t| t.value.clone()),
        location: cx.absolute(&location.value),
        contract,
        grace: cx.duration_or(path, "grace", d.grace.as_ref(), Duration::from_secs(900)),
        min_size: d.min_size,
    })
}

fn agent(cx: &mut Cx, path: &str, d: &raw::Agent, pending: &mut Pending) -> Agent {
    if let Some(parent) = &d.parent {
        pending.parents.push((path.to_string(), d.id.value.clone(), parent.clone()));
    }
    Agent {
        role: d.role.unwrap_or(AgentRole::Subagent),
        parent: d.parent.as_ref().map(|p| p.value.clone()),
        scope: d.scope.clone(),
        model: d.model.clone(),
        mode: d.mode,
        stale_after: cx.duration_or(path, "stale_after", d.stale_after.as_ref(), Duration::from_secs(1800)),
    }
}

fn workflow(cx: &mut Cx, path: &str, d: &raw::Workflow, pending: &mut Pending) -> Workflow {
    let steps = d.steps.clone().unwrap_or_default();
    let mut ids: HashMap<&str, &At<String>> = HashMap::new();
    for step in &steps {
        if !valid_id(&step.id.value) {
            cx.error(path, &step.id, format!("bad step id {:?}", step.id.value));
        } else if ids.insert(&step.id.value, &step.id).is_some() {
            cx.error(path, &step.id, format!("duplicate step id {:?}", step.id.value));
        }
        if let Some(owner) = &step.owner {
            pending.owners.push((path.to_string(), owner.clone()));
        }
    }
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for step in &steps {
        for dep in &step.depends_on {
            if ids.contains_key(dep.value.as_str()) {
                edges.entry(&step.id.value).or_default().push(&dep.value);
            } else {
                cx.error(
                    path,
                    dep,
                    format!("step {:?} depends on unknown step {:?}", step.id.value, dep.value),
                );
            }
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let first = ids.get(cycle[0]).map(|a| (a.line, a.column)).unwrap_or((d.id.line, d.id.column));
        cx.error_at(
            path,
            first.0,
            first.1,
            format!("dependency cycle between steps: {}", cycle.join(" -> ")),
        );
    }
    Workflow {
        expected_output: d.expected_output.clone(),
        steps: steps
            .iter()
            .map(|s| WorkflowStep {
                id: s.id.value.clone(),
                title: s.title.clone(),
                owner: s.owner.as_ref().map(|o| o.value.clone()),
                depends_on: s.depends_on.iter().map(|d| d.value.clone()).collect(),
                expected_output: s.expected_output.clone(),
                task: s.task.clone(),
            })
            .collect(),
    }
}

fn selector(cx: &mut Cx, path: &str, raw: &raw::Selector, levels_allowed: bool) -> Selector {
    let mut kinds = Vec::new();
    for k in &raw.kind {
        match Kind::from_lower(&k.value).filter(|k| k.is_entity()) {
            Some(kind) => kinds.push(kind),
            None => cx.error(
                path,
                k,
                format!(
                    "unknown kind {:?} in match; write one of routine, integration, output, agent, workflow, project, budget",
                    k.value
                ),
            ),
        }
    }
    if !levels_allowed && let Some(level) = raw.level.first() {
        cx.error(path, level, "`level` in `match` is for alert rules and silences only");
    }
    Selector {
        kinds,
        ids: raw.id.iter().map(|i| i.value.clone()).collect(),
        labels: raw.labels.clone(),
        boundaries: raw.boundary.clone(),
        levels: raw.level.iter().map(|l| l.value).collect(),
    }
}

fn silence(cx: &mut Cx, path: &str, d: &raw::Silence) -> Option<Silence> {
    let selector = selector(cx, path, &d.match_.clone().unwrap_or_default(), true);
    let Some(expires) = &d.expires else {
        cx.error(path, &d.id, "a silence needs `expires` (RFC 3339, at most 30 days ahead)");
        return None;
    };
    let Some(reason) = d.reason.clone().filter(|r| !r.trim().is_empty()) else {
        cx.error(path, &d.id, "a silence needs a `reason`");
        return None;
    };
    let expires_at = match DateTime::parse_from_rfc3339(expires.value.trim()) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => {
            cx.error(
                path,
                expires,
                format!(
                    "bad `expires` {:?}: {e}; write RFC 3339 such as 2026-12-01T09:00:00Z",
                    expires.value
                ),
            );
            return None;
        }
    };
    let limit = cx.now + chrono::Duration::from_std(MAX_SILENCE).unwrap_or_default();
    if expires_at > limit {
        cx.error(path, expires, "`expires` is more than 30 days ahead; silences must end");
        return None;
    }
    Some(Silence { id: d.id.value.clone(), selector, expires: expires_at, reason })
}

fn health_rule(cx: &mut Cx, path: &str, d: &raw::HealthRule) -> Option<HealthRule> {
    let selector = selector(cx, path, &d.match_.clone().unwrap_or_default(), false);
    let Some(when) = &d.when else {
        cx.error(path, &d.id, "a health rule needs `when` (a condition)");
        return None;
    };
    let condition = cx.condition(path, when);
    let Some(level) = &d.level else {
        cx.error(path, &d.id, "a health rule needs `level` (warning, stale, failed or unknown)");
        return None;
    };
    if level.value == Level::Healthy {
        cx.error(
            path,
            level,
            "a health rule sets warning, stale, failed or unknown; healthy is what remains",
        );
    }
    let reason = match &d.reason {
        Some(r) if is_camel_case(&r.value) => r.value.clone(),
        Some(r) => {
            cx.error(path, r, format!("`reason` must be CamelCase such as Overdue, found {:?}", r.value));
            String::new()
        }
        None => camel_case(&d.id.value),
    };
    let origin = if path.starts_with(BUILT_IN) {
        RuleOrigin::BuiltIn
    } else {
        RuleOrigin::File {
            path: path.to_string(),
            line: d.id.line,
            replaces_default: cx.default_health_ids.contains(&d.id.value),
        }
    };
    Some(HealthRule {
        id: d.id.value.clone(),
        selector,
        when: condition?,
        level: level.value,
        reason,
        message: d.message.clone().unwrap_or_default(),
        origin,
    })
}

fn is_camel_case(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

fn camel_case(id: &str) -> String {
    id.split(['-', '_', '.'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn alert_rule(cx: &mut Cx, path: &str, d: &raw::AlertRule, pending: &mut Pending) -> AlertRule {
    let selector = selector(cx, path, &d.match_.clone().unwrap_or_default(), true);
    let receivers = d.receivers.clone().unwrap_or_default();
    if receivers.is_empty() {
        cx.error(path, &d.id, "an alert rule needs at least one receiver in `receivers`");
    }
    for r in &receivers {
        pending.receivers.push((path.to_string(), r.clone()));
    }
    AlertRule {
        id: d.id.value.clone(),
        selector,
        for_: cx.duration_or(path, "for", d.for_.as_ref(), Duration::ZERO),
        repeat_interval: cx.duration_or(
            path,
            "repeat_interval",
            d.repeat_interval.as_ref(),
            Duration::from_secs(4 * 3600),
        ),
        send_resolved: d.send_resolved.unwrap_or(true),
        receivers: receivers.into_iter().map(|r| r.value).collect(),
    }
}

fn receiver(cx: &mut Cx, path: &str, d: &raw::Receiver) -> Option<Receiver> {
    let count = [
        d.webhook.is_some(),
        d.alertmanager.is_some(),
        d.telegram.is_some(),
        d.command.is_some(),
        d.log.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if count != 1 {
        cx.error(
            path,
            &d.id,
            "a receiver takes exactly one of webhook, alertmanager, telegram, command, log",
        );
        return None;
    }
    let target = if let Some(w) = &d.webhook {
        ReceiverTarget::Webhook {
            url: cx.url(path, "url", &w.url)?,
            credential: w.credential.as_ref().and_then(|c| cx.credential_ref(path, c)),
        }
    } else if let Some(a) = &d.alertmanager {
        ReceiverTarget::Alertmanager {
            url: cx.url(path, "url", &a.url)?.trim_end_matches('/').to_string(),
            credential: a.credential.as_ref().and_then(|c| cx.credential_ref(path, c)),
        }
    } else if let Some(t) = &d.telegram {
        let api_base = match &t.api_base {
            Some(at) => cx.url(path, "api_base", at)?.trim_end_matches('/').to_string(),
            None => "https://api.telegram.org".to_string(),
        };
        ReceiverTarget::Telegram {
            credential: cx.credential_ref(path, &t.credential)?,
            chat_id: match &t.chat_id.value {
                raw::ChatId::Number(n) => n.to_string(),
                raw::ChatId::Name(s) => s.clone(),
            },
            api_base,
        }
    } else if let Some(c) = &d.command {
        if c.run.value.is_empty() || c.run.value[0].is_empty() {
            cx.error(path, &c.run, "`run` needs a program: an argv list");
            return None;
        }
        ReceiverTarget::Command {
            run: c.run.value.clone(),
            timeout: cx.duration_or(path, "timeout", c.timeout.as_ref(), Duration::from_secs(30)),
        }
    } else {
        ReceiverTarget::Log
    };
    let retry = d.retry.clone().unwrap_or_default();
    let retry_initial = cx.duration_or(path, "initial", retry.initial.as_ref(), Duration::from_secs(1));
    let retry_max = cx.duration_or(path, "max", retry.max.as_ref(), Duration::from_secs(300));
    for (key, value, at) in [("initial", retry_initial, &retry.initial), ("max", retry_max, &retry.max)] {
        if value < Duration::from_millis(100)
            && let Some(at) = at
        {
            cx.error(path, at, format!("`retry.{key}` must be at least 100ms"));
        }
    }
    Some(Receiver {
        id: d.id.value.clone(),
        target,
        retry_initial,
        retry_max: retry_max.max(retry_initial),
        give_up_after: cx.duration_or(
            path,
            "give_up_after",
            retry.give_up_after.as_ref(),
            Duration::from_secs(24 * 3600),
        ),
    })
}

fn triage_rule(cx: &mut Cx, path: &str, d: &raw::TriageRule, pending: &mut Pending) -> Option<TriageRule> {
    let Some(when) = &d.when else {
        cx.error(path, &d.id, "a triage rule needs `when` (a condition over text and source)");
        return None;
    };
    let condition = cx.condition(path, when);
    let set = d.set.clone().unwrap_or_default();
    if let Some(owner) = &set.owner {
        pending.owners.push((path.to_string(), owner.clone()));
    }
    Some(TriageRule {
        id: d.id.value.clone(),
        when: condition?,
        classification: set.classification,
        domain: set.domain,
        priority: set.priority,
        owner: set.owner.map(|o| o.value),
        expected_output: set.expected_output,
        order: d.order.unwrap_or(0),
    })
}

fn price(cx: &mut Cx, path: &str, d: &raw::Price) -> Option<Price> {
    let Some(model) = &d.model else {
        cx.error(path, &d.id, "a price needs `model` (a name or glob)");
        return None;
    };
    let mut need = |value: Option<f64>, key: &str| match value {
        Some(v) if v >= 0.0 && v.is_finite() => Some(v),
        Some(_) => {
            cx.error(path, &d.id, format!("`{key}` must be a non-negative number"));
            None
        }
        None => Some(0.0),
    };
    Some(Price {
        id: d.id.value.clone(),
        model: model.value.clone(),
        input_per_mtok: need(d.input_per_mtok, "input_per_mtok")?,
        output_per_mtok: need(d.output_per_mtok, "output_per_mtok")?,
        cache_read_per_mtok: need(d.cache_read_per_mtok, "cache_read_per_mtok")?,
        cache_write_per_mtok: need(d.cache_write_per_mtok, "cache_write_per_mtok")?,
        currency: d.currency.clone().unwrap_or_else(|| "USD".to_string()),
    })
}

fn budget(cx: &mut Cx, path: &str, d: &raw::Budget, pending: &mut Pending) -> Option<Budget> {
    let scope = match &d.scope {
        None => {
            cx.error(path, &d.id, "a budget needs `scope`: all, agent/ID, routine/ID or model/NAME");
            return None;
        }
        Some(at) => match at.value.split_once('/') {
            None if at.value == "all" => BudgetScope::All,
            Some(("agent", id)) => {
                pending.budget_scopes.push((path.to_string(), at.clone(), EntityKey::new(Kind::Agent, id)));
                BudgetScope::Agent(id.to_string())
            }
            Some(("routine", id)) => {
                pending.budget_scopes.push((path.to_string(), at.clone(), EntityKey::new(Kind::Routine, id)));
                BudgetScope::Routine(id.to_string())
            }
            Some(("model", name)) if !name.is_empty() => BudgetScope::Model(name.to_string()),
            _ => {
                cx.error(
                    path,
                    at,
                    format!("bad budget scope {:?}: write all, agent/ID, routine/ID or model/NAME", at.value),
                );
                return None;
            }
        },
    };
    let window = cx.duration_or(path, "window", d.window.as_ref(), Duration::from_secs(24 * 3600));
    if let (Some(warn), Some(fail)) = (d.warn_at, d.fail_at)
        && warn > fail
    {
        cx.error(path, &d.id, "`warn_at` must not exceed `fail_at`");
    }
    if d.warn_at.is_none() && d.fail_at.is_none() {
        cx.error(path, &d.id, "a budget needs `warn_at`, `fail_at` or both");
    }
    Some(Budget {
        id: d.id.value.clone(),
        scope,
        window,
        warn_at: d.warn_at,
        fail_at: d.fail_at,
        currency: d.currency.clone().unwrap_or_else(|| "USD".to_string()),
    })
}

fn check_references(cx: &mut Cx, config: &Config, pending: Pending) {
    for (path, from, dep) in pending.depends_on {
        let Some(key) = parse_reference(&dep.value) else { continue };
        if key == from {
            cx.error(&path, &dep, format!("{from} depends on itself"));
        } else {
            match config.entity(&key) {
                None => cx.error(&path, &dep, format!("depends_on names {key}, which is not defined")),
                Some(target) if target.inert && from.kind != Kind::Project => cx.error(
                    &path,
                    &dep,
                    format!("depends_on names {key}, which is protected and not activated; only projects may name it"),
                ),
                Some(_) => {}
            }
        }
    }
    for (path, child, parent) in pending.parents {
        let key = EntityKey::new(Kind::Agent, parent.value.clone());
        if parent.value == child {
            cx.error(&path, &parent, "an agent cannot be its own parent");
        } else if config.entity(&key).is_none() {
            cx.error(&path, &parent, format!("parent names agent {:?}, which is not defined", parent.value));
        }
    }
    let receivers: HashSet<&str> = config.receivers.iter().map(|r| r.id.as_str()).collect();
    for (path, r) in pending.receivers {
        if !receivers.contains(r.value.as_str()) {
            cx.error(&path, &r, format!("receiver {:?} is not defined", r.value));
        }
    }
    for (path, at, key) in pending.budget_scopes {
        if config.entity(&key).is_none() {
            cx.error(&path, &at, format!("budget scope names {key}, which is not defined"));
        }
    }
    for (path, owner) in pending.owners {
        if let Err(message) = check_owner(config, &owner.value) {
            cx.error(&path, &owner, message);
        }
    }
}

/// Owners (SPEC section 8): the orchestrator's name, `Subagent:<Role>`, `Automation:<name>`,
/// `Human:<name>` (listed in `humans` when that is set), or a bare agent name.
/// Checks one owner (SPEC section 8): an agent by id or name, `Subagent:<Role>`,
/// `Automation:<name>` or `Human:<name>` (listed in `humans` when that is set). The loader
/// checks owners written in YAML and the work commands check `--owner` with this function,
/// so both accept exactly the same names. The error is a sentence for the caller to place.
pub fn check_owner(config: &Config, owner: &str) -> Result<(), String> {
    if let Some(role) = owner.strip_prefix("Subagent:") {
        return if SUBAGENT_ROLES.contains(&role) {
            Ok(())
        } else {
            Err(format!("unknown subagent role {role:?}; write one of Subagent:{}", SUBAGENT_ROLES.join("|")))
        };
    }
    if let Some(name) = owner.strip_prefix("Automation:") {
        return if name.trim().is_empty() { Err("`Automation:` needs a name".into()) } else { Ok(()) };
    }
    if let Some(name) = owner.strip_prefix("Human:") {
        return match &config.settings.humans {
            _ if name.trim().is_empty() => Err("`Human:` needs a name".into()),
            Some(humans) if !humans.iter().any(|h| h == name) => {
                Err(format!("human {name:?} is not listed in the settings' `humans` ({})", humans.join(", ")))
            }
            _ => Ok(()),
        };
    }
    let is_agent = config.entities.iter().any(|e| {
        matches!(e.spec, Spec::Agent(_))
            && (e.key.id == owner || e.meta.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(owner)))
    });
    if is_agent {
        Ok(())
    } else {
        Err(format!(
            "{owner:?} is not an agent (by name or id), Subagent:<Role>, Automation:<name> or Human:<name>"
        ))
    }
}

/// Dependency cycles among entities (`depends_on`) and agents (`parent`), each reported once,
/// at the reference that closes the first edge of the cycle.
fn check_cycles(cx: &mut Cx, config: &Config, positions: &HashMap<(String, String), (String, u32, u32)>) {
    let keys: Vec<(String, Vec<String>)> = config
        .entities
        .iter()
        .map(|e| {
            let mut targets: Vec<String> =
                e.meta.depends_on.iter().filter(|k| **k != e.key).map(|k| k.to_string()).collect();
            if let Spec::Agent(Agent { parent: Some(parent), .. }) = &e.spec
                && parent != &e.key.id
            {
                targets.push(format!("agent/{parent}"));
            }
            (e.key.to_string(), targets)
        })
        .collect();
    let known: HashSet<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, targets) in &keys {
        for t in targets.iter().filter(|t| known.contains(t.as_str())) {
            edges.entry(from.as_str()).or_default().push(t.as_str());
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let (path, line, column) = positions
            .get(&(cycle[0].to_string(), cycle[1].to_string()))
            .cloned()
            .unwrap_or_else(|| (config.files.first().cloned().unwrap_or_default(), 1, 1));
        cx.error_at(&path, line, column, format!("dependency cycle: {}", cycle.join(" -> ")));
    }
}

/// Finds one cycle in a directed graph without recursion (a long chain must not overflow the
/// stack). Returns the cycle's nodes with the first repeated at the end.
fn find_cycle<'a>(edges: &BTreeMap<&'a str, Vec<&'a str>>) -> Option<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    for &start in edges.keys() {
        if marks.contains_key(start) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Active);
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let targets = edges.get(node).map(Vec::as_slice).unwrap_or(&[]);
            if *next < targets.len() {
                let target = targets[*next];
                *next += 1;
                match marks.get(target) {
                    Some(Mark::Active) => {
                        let from = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                        let mut cycle: Vec<&str> = stack[from..].iter().map(|(n, _)| *n).collect();
                        cycle.push(target);
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(target, Mark::Active);
                        stack.push((target, 0));
                    }
                }
            } else {
                marks.insert(node, Mark::Done);
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_without_recursion() {
        let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let names: Vec<String> = (0..50_000).map(|i| format!("n{i}")).collect();
        for pair in names.windows(2) {
            edges.insert(&pair[0], vec![&pair[1]]);
        }
        assert_eq!(find_cycle(&edges), None);
        edges.insert(&names[49_999], vec![&names[0]]);
        let cycle = find_cycle(&edges).expect("cycle");
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 50_001);
    }

    #[test]
    fn many_documents_parse_in_parallel_and_keep_their_order() {
        // Enough documents over two files for several threads; a duplicate id is reported at
        // the later of the two, and a broken document at its own line, as one thread would.
        let routine = |i: usize| {
            format!("kind: Routine\nid: r{i}\nschedule: '0 * * * *'\nobserve:\n  heartbeat: {{}}\n")
        };
        let first: Vec<String> = (0..400).map(routine).collect();
        let mut second: Vec<String> = (400..800).map(routine).collect();
        second[300] = routine(10);
        second[350] = "kind: Routine\nid: broken\nbogus: 1\n".to_string();
        let sources = Sources {
            settings: None,
            files: vec![
                ("desired/a.yaml".to_string(), first.join("---\n")),
                ("desired/b.yaml".to_string(), second.join("---\n")),
            ],
            has_rules: false,
        };
        let errors = load_sources(Path::new("/nonexistent"), sources, Utc::now()).expect_err("two errors").0;
        let places: Vec<(String, u32)> = errors.iter().map(|e| (e.path.clone(), e.line)).collect();
        // Documents of b.yaml are 6 lines each (5 and the `---`).
        let expected =
            [("desired/b.yaml".to_string(), 300 * 6 + 2), ("desired/b.yaml".to_string(), 350 * 6 + 3)];
        assert_eq!(places, expected, "{} errors, the first: {:?}", errors.len(), errors.first());
        assert!(errors[0].message.contains("first defined at desired/a.yaml:62:"), "{}", errors[0].message);
    }

    #[test]
    fn camel() {
        assert!(is_camel_case("Overdue"));
        assert!(!is_camel_case("overdue"));
        assert!(!is_camel_case("Over-due"));
        assert_eq!(camel_case("last-run-failed"), "LastRunFailed");
    }

    #[test]
    fn credential_refs() {
        assert!(valid_credential_ref("telegram_bot"));
        assert!(!valid_credential_ref("Telegram"));
        assert!(!valid_credential_ref("1abc"));
        assert!(!valid_credential_ref(""));
    }

    #[test]
    fn statuses() {
        assert_eq!(status_range(&raw::StatusSpec::Code(200)), Some((200, 200)));
        assert_eq!(status_range(&raw::StatusSpec::Range("200-299".into())), Some((200, 299)));
        assert_eq!(status_range(&raw::StatusSpec::Range("299-200".into())), None);
        assert_eq!(status_range(&raw::StatusSpec::Code(700)), None);
    }
}
