//! `GET /mission-control`: the read-only dashboard (SPEC section 15), the page the owner opens
//! to see everything at a glance.
//!
//! The page is rendered on the server from the live state the reconciler publishes (the same
//! redacted bytes `GET /api/v1/state` serves, so protected entities that are not activated are
//! never in it) and the newest events of the log. It is complete without JavaScript; with it,
//! `dashboard.js` follows `/api/v1/events/stream` and, on each event, fetches this page again
//! with `?min_seq=` (so the copy it gets has folded that event) and swaps the panels in place.
//! The stylesheet and the script are compiled into the binary and served under a name that
//! carries their hash, so they can be cached for a year.
//!
//! Every text goes through maud's escaping: an entity called `<script>` is shown as text. The
//! page holds no form and no action; its headers forbid inline script, framing, sniffing and
//! referrers.
//!
//! Rendering ([`render`]) is pure: the live state, the events, the time zone and `now` in,
//! markup out. Lists are cut to a few rows each (worst first; healthy ones collapsed behind a
//! count), so the page stays small and fast with ten thousand entities and tasks.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::{AppState, ReadQuery};
use crate::config::{DesiredState, Domain, Level, Priority};
use crate::events::{Event, EventFilter};
use crate::state::{EntityState, LiveState, Usage};
use crate::work::{Status, Task};

const CSS: &str = include_str!("dashboard/dashboard.css");
const JS: &str = include_str!("dashboard/dashboard.js");

/// Rows shown in a list of entities that need attention, and behind a healthy group's count.
const ATTENTION_ROWS: usize = 15;
const QUIET_ROWS: usize = 10;
/// Tasks shown per column of a domain, and per list of the inbox and the review queue.
const TASK_ROWS: usize = 5;
const QUEUE_ROWS: usize = 8;
/// Workflows, mismatches and firing alerts shown.
const WORKFLOWS: usize = 8;
const MISMATCHES: usize = 15;
const ALERTS: usize = 8;
/// Newest events shown in the stream panel.
const EVENTS: usize = 25;
/// Days of the cost chart, and models with a colour of their own (the rest are "other").
const CHART_DAYS: u64 = 14;
const CHART_MODELS: usize = 7;
/// Longest text shown for a message or a title, in characters.
const TEXT_CHARS: usize = 160;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/mission-control", get(page))
        .route("/mission-control/assets/{file}", get(asset))
        .layer(Extension(Arc::new(Dashboard::new())))
}

/// What the routes share: the names of the assets, and the parsed copy of the last live state
/// asked for (parsed again only when the reconciler has published a new one).
struct Dashboard {
    css_path: String,
    js_path: String,
    last: Mutex<Option<Arc<Snapshot>>>,
}

/// One published live state, parsed, with the newest events of the log at that time.
struct Snapshot {
    bytes: Arc<Vec<u8>>,
    live: LiveState,
    events: Vec<Event>,
}

impl Dashboard {
    fn new() -> Dashboard {
        Dashboard {
            css_path: format!("/mission-control/assets/dashboard-{:016x}.css", fnv1a(CSS.as_bytes())),
            js_path: format!("/mission-control/assets/dashboard-{:016x}.js", fnv1a(JS.as_bytes())),
            last: Mutex::new(None),
        }
    }

    /// The parsed snapshot of `bytes`: the cached one when it is of these bytes, else parsed
    /// (off the async workers) and cached.
    async fn snapshot(&self, app: &AppState, bytes: Arc<Vec<u8>>) -> Option<Arc<Snapshot>> {
        let cached = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(cached) = cached.filter(|c| Arc::ptr_eq(&c.bytes, &bytes)) {
            return Some(cached);
        }
        let (state_dir, config) = (app.shared.workspace.join("state"), app.shared.config());
        let snapshot = tokio::task::spawn_blocking(move || {
            let live: LiveState = match serde_json::from_slice(&bytes) {
                Ok(live) => live,
                Err(e) => {
                    tracing::warn!(error = %e, "the published live state does not parse");
                    return None;
                }
            };
            let hint = live.summary.last_event_seq;
            let keep = |e: &Event| !super::api::hidden(&config, e);
            let events = crate::events::tail_events(&state_dir, &EventFilter::default(), EVENTS, hint, keep)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the event log for the dashboard");
                    Vec::new()
                });
            Some(Arc::new(Snapshot { bytes, live, events }))
        })
        .await
        .ok()
        .flatten()?;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(snapshot.clone());
        Some(snapshot)
    }
}

/// `GET /mission-control[?min_seq=N]`.
async fn page(
    State(app): State<AppState>,
    Extension(dashboard): Extension<Arc<Dashboard>>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Response {
    if let Err(e) = super::wait_for_seq(&app.shared, query).await {
        return secure(e.into_response(), false);
    }
    let Some(bytes) = super::published(&app.shared) else {
        let e = super::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "live state is not published yet; retry",
        );
        return secure(e, false);
    };
    let Some(snapshot) = dashboard.snapshot(&app, bytes).await else {
        let e =
            super::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the live state could not be read");
        return secure(e, false);
    };
    let page = Page {
        live: &snapshot.live,
        events: &snapshot.events,
        tz: app.shared.config().settings.timezone,
        now: Utc::now(),
        css: &dashboard.css_path,
        js: &dashboard.js_path,
    };
    let mut response = render(&page).into_string().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure(response, false)
}

/// `GET /mission-control/assets/dashboard-HASH.css|js`.
async fn asset(
    Extension(dashboard): Extension<Arc<Dashboard>>,
    file: Result<UrlPath<String>, PathRejection>,
) -> Response {
    let path = file.map(|UrlPath(f)| format!("/mission-control/assets/{f}")).unwrap_or_default();
    let (body, content_type) = if path == dashboard.css_path {
        (CSS, "text/css; charset=utf-8")
    } else if path == dashboard.js_path {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return secure(super::error(StatusCode::NOT_FOUND, "not_found", "no such asset"), false);
    };
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(response, true)
}

/// The page's security headers (and its caching): no inline script, no framing, no sniffing,
/// no referrer. Assets carry their hash in their name, so they may be kept for a year.
fn secure(mut response: Response, immutable: bool) -> Response {
    let headers: &mut HeaderMap = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// FNV-1a: a stable fingerprint of an asset for its name (not for security).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// Everything one rendering reads.
pub struct Page<'a> {
    pub live: &'a LiveState,
    /// The newest events, oldest first.
    pub events: &'a [Event],
    /// The settings' time zone: times are shown in it.
    pub tz: Tz,
    pub now: DateTime<Utc>,
    /// Where the stylesheet and the script are served.
    pub css: &'a str,
    pub js: &'a str,
}

/// The whole page.
pub fn render(page: &Page) -> Markup {
    let live = page.live;
    let overall = live.summary.overall_health;
    let title = match overall {
        Some(level) => format!("{} · Mission Control", capitalized(level.as_str())),
        None => "Mission Control".to_string(),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="referrer" content="no-referrer";
                title { (title) }
                link rel="stylesheet" href=(page.css);
                script src=(page.js) defer {}
            }
            body {
                header.top {
                    h1 { "Mission Control" }
                    span #live data-state="static" title="This page shows the state when it was loaded." {
                        "snapshot · reload to update"
                    }
                }
                main #panels data-seq=(live.summary.last_event_seq) data-tz=(page.tz.name()) {
                    (summary_panel(page))
                    // Panels of different heights flow in balanced columns.
                    div.flow {
                        (mismatch_panel(page))
                        (inbox_panel(page))
                        (agents_panel(page))
                        (workflows_panel(page))
                    }
                    (board_panel(page))
                    div.flow {
                        (ops_panel(page))
                        (outputs_panel(page))
                        (cost_panel(page))
                    }
                    (events_panel(page))
                }
                footer {
                    p {
                        "Read-only. Times in " (page.tz.name()) ". The same data as JSON: "
                        a href="/api/v1/state" { "/api/v1/state" } ", "
                        a href="/api/v1/events" { "/api/v1/events" } ", "
                        a href="/metrics" { "/metrics" } "."
                    }
                }
            }
        }
    }
}

fn summary_panel(page: &Page) -> Markup {
    let s = &page.live.summary;
    let stale: Vec<&EntityState> =
        page.live.entities().filter(|e| e.health == Level::Stale && counted(e)).take(5).collect();
    let firing = &page.live.alerts.firing;
    html! {
        section #summary .panel aria-labelledby="summary-h" {
            h2 #summary-h { "Summary" }
            div.tiles {
                div.tile.overall {
                    span.label { "Overall health" }
                    @match s.overall_health {
                        Some(level) => span.big { (badge(level)) },
                        None => span.big { (badge(Level::Unknown)) " " span.hint { "nothing watched yet" } },
                    }
                    span.counts { (counts(s)) }
                }
                div.tile {
                    span.label { "Last updated" }
                    span.big { (when(page.live.generated_at, page)) }
                    span.counts { "event " (s.last_event_seq) }
                }
                div.tile {
                    span.label { "Stale signals" }
                    span.big.num { (s.stale_signals) }
                    span.counts {
                        @if stale.is_empty() { "none" }
                        @for (i, e) in stale.iter().enumerate() {
                            @if i > 0 { ", " }
                            (e.kind) "/" (e.id)
                        }
                    }
                }
                div.tile {
                    span.label { "Active mode" }
                    span.big { (s.active_mode.as_deref().unwrap_or("none")) }
                    @if s.active_mode.is_none() {
                        span.counts.hint { "set it with " code { "mission-control mode set Building" } }
                    }
                }
                div.tile {
                    span.label { "Today's estimated cost" }
                    span.big.num { (money(s.daily_estimated_cost, &s.currency)) }
                    span.counts { (tokens(page.live.usage.total_tokens)) " tokens" }
                }
                div.tile {
                    span.label { "Alerts firing" }
                    span.big.num { (firing.len()) }
                    span.counts {
                        @if firing.is_empty() { "none" }
                        @for (i, a) in firing.iter().take(ALERTS).enumerate() {
                            @if i > 0 { ", " }
                            (a.entity_type) "/" (a.entity_id)
                            @if a.silenced { " (silenced)" } @else if a.inhibited { " (held back)" }
                        }
                        @if firing.len() > ALERTS { " +" (firing.len() - ALERTS) " more" }
                    }
                }
            }
        }
    }
}

fn mismatch_panel(page: &Page) -> Markup {
    let mismatches = &page.live.mismatches;
    html! {
        section #mismatches .panel aria-labelledby="mismatches-h" {
            h2 #mismatches-h { "Desired vs observed" span.count { (mismatches.len()) } }
            @if mismatches.is_empty() {
                p.hint.empty {
                    "Everything matches what is declared. A paused entity that still signals, a stale \
                     output, or OpenClaw cron jobs that drift from desired/ routines show up here."
                }
            } @else {
                ul.rows {
                    @for m in mismatches.iter().take(MISMATCHES) {
                        li.row.l-warning {
                            (badge(Level::Warning)) " "
                            span.name { (m.entity) } " " span.id { (m.field) }
                            div.msg {
                                "desired " b { (value(&m.desired, page)) }
                                " · observed " b { (value(&m.observed, page)) }
                            }
                        }
                    }
                }
                (more(mismatches.len(), MISMATCHES))
            }
        }
    }
}

fn agents_panel(page: &Page) -> Markup {
    let live = page.live;
    let orchestrators: Vec<&EntityState> = live.agents.iter().map(|s| &**s).collect();
    let subagents: Vec<&EntityState> = live.subagents.iter().map(|s| &**s).collect();
    let meta = |e: &EntityState| agent_meta(e, page);
    html! {
        section #agents .panel aria-labelledby="agents-h" {
            h2 #agents-h { "Agents" }
            (group("Orchestrator", "agents-main", &orchestrators, &meta, html! {
                "Declare an Agent with " code { "role: orchestrator" } " in desired/agents.yaml."
            }))
            (group("Subagents", "agents-sub", &subagents, &meta, html! {
                "Declare Agents with " code { "role: subagent" } "; they report with "
                code { "mission-control agent report ID --status working" } "."
            }))
        }
    }
}

fn agent_meta(e: &EntityState, page: &Page) -> Markup {
    let detail = |key: &str| e.details.get(key).map(value_text);
    let model = detail("reported_model").or_else(|| detail("model"));
    let mode = detail("reported_mode").or_else(|| detail("mode"));
    let cost = page.live.usage.by_agent.get(&e.id).copied().unwrap_or(0.0);
    html! {
        @if let Some(status) = detail("reported_status") { span { "reports " b { (status) } } }
        @if let Some(task) = detail("reported_task") { span { "on " (task) } }
        @if let Some(model) = model { span { (model) } }
        @if let Some(mode) = mode { span { (mode) } }
        @if let Some(t) = e.last_signal { span { "last report " (time(t, page)) } }
        @if cost > 0.0 { span { (money(cost, &page.live.usage.currency)) " today" } }
    }
}

fn inbox_panel(page: &Page) -> Markup {
    let live = page.live;
    let inbox = &live.inbox;
    let mut review: Vec<&Task> = live.tasks.iter().filter(|t| t.status == Status::Review).collect();
    review.sort_by_key(|t| t.updated);
    html! {
        section #inbox .panel aria-labelledby="inbox-h" {
            h2 #inbox-h { "Inbox and review" }
            p.counts {
                b { (inbox.untriaged) } " untriaged · " b { (inbox.triaged) } " triaged · "
                b { (inbox.urgent) } " urgent open · " b { (inbox.raw) } " items in all"
            }
            div.group {
                h3 { "Waiting for triage" span.count { (inbox.untriaged) } }
                @if inbox.newest.is_empty() {
                    p.hint.empty {
                        "Nothing to triage. Capture with " code { "mission-control inbox add TEXT" }
                        " (or POST /api/v1/inbox)."
                    }
                } @else {
                    ul.rows {
                        @for item in inbox.newest.iter().take(QUEUE_ROWS) {
                            li.row {
                                span.tid { (item.id) } " " span.name { (clip(&item.text)) }
                                div.meta {
                                    @if let Some(source) = &item.source { span { "from " (source) } }
                                    @if let Some(t) = item.created { span { (time(t, page)) } }
                                }
                            }
                        }
                    }
                    (more(inbox.untriaged as usize, inbox.newest.len().min(QUEUE_ROWS)))
                }
            }
            div.group {
                h3 { "Review queue" span.count { (review.len()) } }
                @if review.is_empty() {
                    p.hint.empty {
                        "No task waits for review. A task gets here with "
                        code { "mission-control task ID --status review" } "."
                    }
                } @else {
                    ul.rows {
                        @for t in review.iter().take(QUEUE_ROWS) {
                            li.row {
                                (task_line(t))
                                div.meta {
                                    @if let Some(owner) = &t.owner { span { (owner) } }
                                    span { "waiting since " (time(t.updated, page)) }
                                }
                                @if let Some(out) = &t.expected_output { div.msg { "expects: " (clip(out)) } }
                                @if let Some(criteria) = &t.review_criteria {
                                    div.msg { "check: " (clip(criteria)) }
                                }
                            }
                        }
                    }
                    (more(review.len(), QUEUE_ROWS))
                }
            }
        }
    }
}

/// The board's columns, worst first: what is stuck, what waits for a person, what moves, what
/// waits to start.
const COLUMNS: [(&str, &str); 4] =
    [("blocked", "Blocked"), ("review", "Review"), ("active", "Active"), ("pending", "Pending")];

fn column_of(status: Status) -> Option<usize> {
    match status {
        Status::Blocked => Some(0),
        Status::Review => Some(1),
        Status::Active => Some(2),
        Status::Triaged | Status::Planned | Status::Assigned => Some(3),
        Status::Inbox | Status::Done | Status::Archived => None,
    }
}

const DOMAINS: [(Domain, &str); 7] = [
    (Domain::Backend, "Backend"),
    (Domain::Frontend, "Frontend"),
    (Domain::Infra, "Infra"),
    (Domain::Qa, "QA"),
    (Domain::Automation, "Automation"),
    (Domain::Integration, "Integration"),
    (Domain::Backoffice, "Backoffice"),
];

fn board_panel(page: &Page) -> Markup {
    let live = page.live;
    // One pass over the tasks: [domain][column], the last domain row for tasks without one.
    let mut board: Vec<[Vec<&Task>; 4]> = (0..=DOMAINS.len()).map(|_| Default::default()).collect();
    let (mut done, mut open) = (0usize, 0usize);
    for task in &live.tasks {
        if task.status.is_finished() {
            done += 1;
        }
        let Some(column) = column_of(task.status) else { continue };
        open += 1;
        let row =
            task.domain.and_then(|d| DOMAINS.iter().position(|(x, _)| *x == d)).unwrap_or(DOMAINS.len());
        board[row][column].push(task);
    }
    let projects: Vec<&EntityState> = live.projects.iter().map(|s| &**s).collect();
    let idle: Vec<&str> = DOMAINS
        .iter()
        .enumerate()
        .filter(|(i, _)| board[*i].iter().all(Vec::is_empty))
        .map(|(_, (_, n))| *n)
        .collect();
    html! {
        section #board .panel.wide aria-labelledby="board-h" {
            h2 #board-h { "Work board" span.count { (open) " open · " (done) " done" } }
            @if open == 0 {
                p.hint.empty {
                    "No open tasks. Triage an inbox item into a domain: "
                    code { "mission-control triage t1 --class task --priority high --domain backend" } "."
                }
            }
            div.domains {
                @for (row, columns) in board.iter().enumerate() {
                    @if columns.iter().any(|c| !c.is_empty()) {
                        (domain_card(DOMAINS.get(row).map_or("no domain", |(_, n)| *n), columns, page))
                    }
                }
            }
            @if open > 0 && !idle.is_empty() {
                p.hint { "No open tasks in " (idle.join(", ")) "." }
            }
            (group("Projects", "projects", &projects, &|e: &EntityState| entity_meta(e, page), html! {
                "Declare a Project in desired/projects.yaml; label entities with " code { "project: ID" } "."
            }))
        }
    }
}

fn domain_card(name: &str, columns: &[Vec<&Task>; 4], page: &Page) -> Markup {
    let worst = if !columns[0].is_empty() { "l-warning" } else { "l-healthy" };
    html! {
        div.domain.(worst) {
            h3 {
                (name)
                span.count {
                    (COLUMNS.iter().enumerate().filter(|(i, _)| !columns[*i].is_empty())
                        .map(|(i, (key, _))| format!("{} {key}", columns[i].len()))
                        .collect::<Vec<_>>().join(" · "))
                }
            }
            @for (i, (key, label)) in COLUMNS.iter().enumerate() {
                @if !columns[i].is_empty() {
                    div.col.(key) {
                        h4 { (label) }
                        ul.tasks {
                            @for t in sorted_tasks(&columns[i]).into_iter().take(TASK_ROWS) {
                                li {
                                    (task_line(t))
                                    div.meta {
                                        @if let Some(owner) = &t.owner { span { (owner) } }
                                        // Pending mixes three statuses; the other columns are one each.
                                        @if column_of(t.status) == Some(3) { span { (t.status.as_str()) } }
                                        span { (time(t.updated, page)) }
                                    }
                                    @if let Some(blocker) = &t.blocker {
                                        div.msg { "blocked by: " (clip(blocker)) }
                                    }
                                }
                            }
                        }
                        (more(columns[i].len(), TASK_ROWS))
                    }
                }
            }
        }
    }
}

/// Most urgent first, then what has waited longest.
fn sorted_tasks<'a>(tasks: &[&'a Task]) -> Vec<&'a Task> {
    let mut sorted = tasks.to_vec();
    let key = |t: &Task| (t.priority.unwrap_or(Priority::Someday), t.updated);
    if sorted.len() > TASK_ROWS {
        sorted.select_nth_unstable_by_key(TASK_ROWS - 1, |t| key(t));
        sorted.truncate(TASK_ROWS);
    }
    sorted.sort_by_key(|t| key(t));
    sorted
}

fn task_line(t: &Task) -> Markup {
    html! {
        span.tid { (t.id) } " "
        span.name { (clip(&t.title)) }
        @match t.priority {
            Some(Priority::Urgent) => { " " span.tag.urgent { "urgent" } },
            Some(Priority::High) => { " " span.tag { "high" } },
            _ => {},
        }
    }
}

fn workflows_panel(page: &Page) -> Markup {
    let live = page.live;
    let mut workflows: Vec<&EntityState> = live.workflows.iter().map(|s| &**s).collect();
    workflows.sort_by(|a, b| b.health.cmp(&a.health).then_with(|| a.name.cmp(&b.name)));
    // Only the tasks the shown steps name are looked up.
    let mut wanted: HashMap<&str, Option<&Task>> = HashMap::new();
    for w in workflows.iter().take(WORKFLOWS) {
        for step in steps(w) {
            if let Some(task) = step.get("task").and_then(Value::as_str) {
                wanted.insert(task, None);
            }
        }
    }
    if !wanted.is_empty() {
        for t in &live.tasks {
            if let Some(slot) = wanted.get_mut(t.id.as_str()) {
                *slot = Some(t);
            }
        }
    }
    html! {
        section #workflows .panel aria-labelledby="workflows-h" {
            h2 #workflows-h { "Workflows" span.count { (workflows.len()) } }
            @if workflows.is_empty() {
                p.hint.empty {
                    "Declare a Workflow with steps in desired/; link a step to a task with "
                    code { "task: t42" } "."
                }
            }
            @for w in workflows.iter().take(WORKFLOWS) {
                (workflow(w, &wanted))
            }
            (more(workflows.len(), WORKFLOWS))
        }
    }
}

fn steps(w: &EntityState) -> &[Value] {
    w.details.get("steps").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn workflow(w: &EntityState, tasks: &HashMap<&str, Option<&Task>>) -> Markup {
    let current = w.details.get("current_step").and_then(Value::as_str);
    html! {
        div.workflow.(level_class(w.health)) {
            div.head {
                (badge(w.health)) " " span.name { (w.name) }
                @if let Some(step) = current { " " span.tag { "now: " (step) } }
            }
            @if !w.message.is_empty() { div.msg { (clip(&w.message)) } }
            ol.steps {
                @for step in steps(w) { (workflow_step(step, current, tasks)) }
            }
            @if let Some(out) = w.details.get("expected_output") {
                div.meta { "delivers: " (value_text(out)) }
            }
        }
    }
}

/// One step of a workflow (`{id, title, owner, depends_on, task}` in its details): where it
/// stands, who owns it, what it waits for, and its task.
fn workflow_step(step: &Value, current: Option<&str>, tasks: &HashMap<&str, Option<&Task>>) -> Markup {
    let text = |key: &str| step.get(key).and_then(Value::as_str);
    let id = text("id").unwrap_or("?");
    let task = text("task");
    let found = task.and_then(|t| tasks.get(t).copied().flatten());
    let state = step_state(id, current, found);
    let after: Vec<String> =
        step.get("depends_on").and_then(Value::as_array).into_iter().flatten().map(value_text).collect();
    html! {
        li.(state) {
            span.state { (step_mark(state)) " " (state) } " "
            span.name { (text("title").unwrap_or(id)) }
            div.meta {
                @if let Some(owner) = text("owner") { span { (owner) } }
                @if !after.is_empty() { span { "after " (after.join(", ")) } }
                @if let Some(task) = task {
                    span { (task) @if let Some(t) = found { " " (t.status.as_str()) } }
                }
                @if let Some(blocker) = found.and_then(|t| t.blocker.as_ref()) {
                    span { "blocked by: " (clip(blocker)) }
                }
            }
        }
    }
}

fn step_state(id: &str, current: Option<&str>, task: Option<&Task>) -> &'static str {
    match task.map(|t| t.status) {
        Some(s) if s.is_finished() => "done",
        Some(Status::Blocked) => "blocked",
        _ if current == Some(id) => "current",
        _ => "waiting",
    }
}

fn step_mark(state: &str) -> &'static str {
    match state {
        "done" => "✓",
        "blocked" => "✕",
        "current" => "▶",
        _ => "○",
    }
}

fn ops_panel(page: &Page) -> Markup {
    let live = page.live;
    let heartbeat = |e: &&EntityState| {
        e.probe.as_deref() == Some("heartbeat")
            && e.schedule.as_deref().is_some_and(|s| s.starts_with("every "))
    };
    let routines: Vec<&EntityState> = live.routines.iter().map(|s| &**s).filter(|e| !heartbeat(e)).collect();
    let heartbeats: Vec<&EntityState> = live.routines.iter().map(|s| &**s).filter(heartbeat).collect();
    let core = |e: &&EntityState| e.details.get("boundary").and_then(Value::as_str) == Some("core");
    let services: Vec<&EntityState> = live.integrations.iter().map(|s| &**s).filter(core).collect();
    let integrations: Vec<&EntityState> =
        live.integrations.iter().map(|s| &**s).filter(|e| !core(e)).collect();
    // Agents whose OpenClaw heartbeat the collector judges.
    let beating: Vec<&EntityState> =
        live.agents.iter().chain(&live.subagents).map(|s| &**s).filter(|e| e.heartbeat.is_some()).collect();
    let meta = |e: &EntityState| entity_meta(e, page);
    html! {
        section #ops .panel aria-labelledby="ops-h" {
            h2 #ops-h { "Ops" }
            (group("Routines", "routines", &routines, &meta, html! {
                "Declare a Routine with a " code { "schedule" } " in desired/routines.yaml; it pings "
                code { "/ping/ID" } " when it runs, or follows an OpenClaw job ("
                code { "observe: {openclaw_cron: {job: ID}}" } ")."
            }))
            (group("Heartbeats", "heartbeats", &heartbeats, &meta, html! {
                "A Routine with " code { "every: 5m" } " pinged by a process that must stay alive; OpenClaw \
                 agents' heartbeats appear with the collector on (settings " code { "openclaw" } ")."
            }))
            @if !beating.is_empty() {
                (agent_heartbeats(&beating, page))
            }
            (group("Services", "services", &services, &meta, html! {
                "Declare an Integration with " code { "boundary: core" } " and an http or tcp probe."
            }))
            (group("Integrations", "integrations", &integrations, &meta, html! {
                "Declare an Integration with " code { "boundary: external" } " and an http or tcp probe."
            }))
        }
    }
}

/// OpenClaw agents' heartbeats as the collector judges them: stopped or runaway ones first,
/// those beating as configured collapsed.
fn agent_heartbeats(agents: &[&EntityState], page: &Page) -> Markup {
    let level = |e: &EntityState| e.heartbeat.as_ref().and_then(|h| h.level).unwrap_or(Level::Healthy);
    let (mut attention, quiet): (Vec<&EntityState>, Vec<&EntityState>) =
        agents.iter().copied().partition(|e| level(e) > Level::Healthy);
    attention.sort_by(|a, b| level(b).cmp(&level(a)).then_with(|| a.name.cmp(&b.name)));
    let row = |e: &EntityState| {
        let beat = e.heartbeat.as_ref();
        html! {
            li.row.(level_class(level(e))) {
                (badge(level(e))) " " span.name { (e.name) } " " span.id { "heartbeat" }
                @if let Some(h) = beat { div.msg { (clip(&h.message)) } }
                div.meta {
                    @if let Some(t) = beat.and_then(|h| h.last_beat) { span { "last beat " (time(t, page)) } }
                    @if let Some(reason) = beat.and_then(|h| h.reason.as_ref()) { span { (reason) } }
                }
            }
        }
    };
    html! {
        div.group #g-agent-heartbeats {
            h3 {
                "Agent heartbeats"
                span.count { (attention.len()) " unhealthy · " (quiet.len()) " beating" }
            }
            @if !attention.is_empty() {
                ul.rows { @for e in attention.iter().take(ATTENTION_ROWS) { (row(e)) } }
                (more(attention.len(), ATTENTION_ROWS))
            }
            @if !quiet.is_empty() {
                details data-key="agent-heartbeats" {
                    summary { (quiet.len()) " beating as configured" }
                    ul.rows { @for e in quiet.iter().take(QUIET_ROWS) { (row(e)) } }
                    (more(quiet.len(), QUIET_ROWS))
                }
            }
        }
    }
}

fn outputs_panel(page: &Page) -> Markup {
    let outputs: Vec<&EntityState> = page.live.outputs.iter().map(|s| &**s).collect();
    html! {
        section #outputs .panel aria-labelledby="outputs-h" {
            h2 #outputs-h { "Outputs" }
            (group("Outputs", "outputs", &outputs, &|e: &EntityState| entity_meta(e, page), html! {
                "Declare an Output with a " code { "location" } " and " code { "due" } " or "
                code { "max_age" } " in desired/outputs.yaml."
            }))
        }
    }
}

/// Facts about any entity: its schedule or probe, its last signal, when it is next expected.
fn entity_meta(e: &EntityState, page: &Page) -> Markup {
    // The file an output or a file probe saw, unless the message names it already.
    let file = e.last.as_ref().and_then(|o| o.file.as_ref().map(|f| (f, o.size)));
    let file = file.filter(|(f, _)| !e.message.contains(f.as_str()));
    html! {
        @if let Some(schedule) = &e.schedule { span { (schedule) } }
        @else if let Some(probe) = &e.probe { span { (probe) } }
        @if let Some((file, size)) = file {
            span { (file) @if let Some(size) = size { " (" (size) " bytes)" } }
        }
        @if let Some(t) = e.running_since { span { "running since " (time(t, page)) } }
        @if let Some(t) = e.last_signal { span { "last signal " (time(t, page)) } }
        @else { span { "no signal yet" } }
        @if let Some(t) = e.expected_at { span { "next expected " (time(t, page)) } }
        @if e.missed_runs > 0 { span { (e.missed_runs) " missed" } }
        @if let Some(ledger) = &e.ledger { (ledger_meta(ledger, e.expected_at.is_none(), page)) }
        @if let Some(owner) = &e.owner { span { (owner) } }
    }
}

/// What the schedule ledger of an OpenClaw cron job says about the last day.
fn ledger_meta(ledger: &crate::state::LedgerSummary, next: bool, page: &Page) -> Markup {
    let counts = [
        (ledger.missed_runs, "missed"),
        (ledger.consecutive_missed, "missed in a row"),
        (ledger.late_runs, "late"),
        (ledger.duplicate_runs, "duplicate"),
    ];
    html! {
        span { "OpenClaw job " (ledger.job) }
        @for (n, what) in counts {
            @if n > 0 { span { (n) " " (what) " in the last day" } }
        }
        @if let Some(stuck) = ledger.stuck_for_seconds {
            span { "stuck for " (crate::duration::human(std::time::Duration::from_secs_f64(stuck.max(0.0)))) }
        }
        @if next { @if let Some(t) = ledger.next_expected { span { "next run " (time(t, page)) } } }
        @if let Some(note) = &ledger.note { span { (note) } }
    }
}

fn cost_panel(page: &Page) -> Markup {
    let usage = &page.live.usage;
    let budgets: Vec<&EntityState> = page.live.budgets.iter().map(|s| &**s).collect();
    html! {
        section #cost .panel aria-labelledby="cost-h" {
            h2 #cost-h { "Cost" span.count { (money(usage.estimated_cost, &usage.currency)) " today" } }
            (cost_chart(usage, page))
            (group("Budgets", "budgets", &budgets, &|e: &EntityState| budget_meta(e), html! {
                "Declare a Budget with a " code { "scope" } " and " code { "fail_at" } " in rules/."
            }))
        }
    }
}

fn budget_meta(e: &EntityState) -> Markup {
    let number = |key: &str| e.details.get(key).and_then(Value::as_f64);
    let spent = e.spent.unwrap_or(0.0);
    let limit = number("fail_at").or(number("warn_at"));
    let currency = e.details.get("currency").and_then(Value::as_str).unwrap_or("USD");
    html! {
        @if let Some(limit) = limit {
            meter min="0" max=(limit) low=(number("warn_at").unwrap_or(limit)) high=(limit) optimum="0"
                value=(spent.min(limit)) {}
        }
        span { (money(spent, currency)) @if let Some(limit) = limit { " of " (money(limit, currency)) } }
        @if let Some(window) = e.details.get("window") { span { "window " (value_text(window)) } }
        @if let Some(scope) = e.details.get("scope") { span { "scope " (value_text(scope)) } }
    }
}

/// Estimated cost per day and model over the last [`CHART_DAYS`] local days, as stacked bars.
fn cost_chart(usage: &Usage, page: &Page) -> Markup {
    let today = page.now.with_timezone(&page.tz).date_naive();
    let days: Vec<NaiveDate> =
        (0..CHART_DAYS).rev().filter_map(|back| today.checked_sub_days(chrono::Days::new(back))).collect();
    let key = |d: &NaiveDate| d.to_string();
    // Models by their total over the window, the biggest first; past the palette, "other".
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    for day in &days {
        for (model, cost) in usage.by_day.get(&key(day)).into_iter().flatten() {
            *totals.entry(model.as_str()).or_default() += cost;
        }
    }
    let mut models: Vec<(&str, f64)> = totals.into_iter().collect();
    models.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let slot = |model: &str| {
        models.iter().position(|(m, _)| *m == model).map_or(CHART_MODELS, |i| i.min(CHART_MODELS))
    };
    let mut legend: Vec<(String, f64)> =
        models.iter().take(CHART_MODELS).map(|(m, c)| (m.to_string(), *c)).collect();
    if models.len() > CHART_MODELS {
        legend.push(("other".to_string(), models[CHART_MODELS..].iter().map(|(_, c)| c).sum()));
    }
    // Per day: cost per slot.
    let stacks: Vec<Vec<f64>> = days
        .iter()
        .map(|day| {
            let mut stack = vec![0.0; CHART_MODELS + 1];
            for (model, cost) in usage.by_day.get(&key(day)).into_iter().flatten() {
                stack[slot(model)] += cost;
            }
            stack
        })
        .collect();
    let highest = stacks.iter().map(|s| s.iter().sum::<f64>()).fold(0.0, f64::max);
    let window_total: f64 = legend.iter().map(|(_, c)| c).sum();
    if highest <= 0.0 {
        return html! {
            p.hint.empty {
                "No usage in the last 14 days. Record it with "
                code { "mission-control usage record --model M --agent A --input N --output N" } "."
            }
        };
    }
    let top = nice_ceiling(highest);
    let (width, height, left, bottom, top_pad) = (480.0, 200.0, 62.0, 22.0, 10.0);
    let plot_h = height - bottom - top_pad;
    let step = (width - left - 4.0) / days.len() as f64;
    let bar = step * 0.7;
    let y = |v: f64| top_pad + plot_h - v / top * plot_h;
    let currency = &usage.currency;
    let name = |slot: usize| legend.get(slot).map_or("other", |(m, _)| m.as_str());
    // Each bar's left edge and its segments, bottom up.
    let bars: Vec<(f64, Vec<Segment>)> = stacks
        .iter()
        .enumerate()
        .map(|(i, stack)| {
            let x = left + step * i as f64 + (step - bar) / 2.0;
            let mut base = 0.0;
            let mut segments = Vec::new();
            for (slot, cost) in stack.iter().enumerate().filter(|(_, c)| **c > 0.0) {
                segments.push(Segment {
                    slot,
                    top: y(base + cost),
                    height: (cost / top * plot_h).max(1.0),
                    cost: *cost,
                });
                base += cost;
            }
            (x, segments)
        })
        .collect();
    let last = days.len() - 1;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {width} {height}")) role="img" aria-labelledby="cost-title" {
                title #cost-title {
                    "Estimated cost per day and model, the last 14 days: " (money(window_total, currency))
                }
                @for fraction in [0.0, 0.5, 1.0] {
                    @let at = fmt(y(top * fraction));
                    line.grid x1=(left) x2=(width - 4.0) y1=(at) y2=(at) {}
                    text.axis x=(left - 6.0) y=(fmt(y(top * fraction) + 4.0)) text-anchor="end" {
                        (money(top * fraction, currency))
                    }
                }
                @for (i, (day, (x, segments))) in days.iter().zip(&bars).enumerate() {
                    @for s in segments {
                        rect class=(format!("m{}", s.slot)) x=(fmt(*x)) y=(fmt(s.top)) width=(fmt(bar))
                            height=(fmt(s.height)) {
                            title { (day) " · " (name(s.slot)) ": " (money(s.cost, currency)) }
                        }
                    }
                    // Every other day is labelled, counting back from today.
                    @if (last - i).is_multiple_of(2) {
                        text.axis x=(fmt(x + bar / 2.0)) y=(height - 6.0) text-anchor="middle" {
                            @if i == last { "today" } @else { (day.day()) "." (day.month()) "." }
                        }
                    }
                }
            }
            figcaption {
                ul.legend {
                    @for (s, (model, cost)) in legend.iter().enumerate() {
                        li {
                            span class=(format!("sw m{s}")) {} " " (model) " " b { (money(*cost, currency)) }
                        }
                    }
                }
                span.counts { "14 days: " (money(window_total, currency)) }
            }
        }
    }
}

/// One model's part of a day's bar in the cost chart.
struct Segment {
    /// The model's colour.
    slot: usize,
    top: f64,
    height: f64,
    cost: f64,
}

/// The smallest 1, 2 or 5 times a power of ten at or above `value`.
fn nice_ceiling(value: f64) -> f64 {
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|c| *c >= value).unwrap_or(value)
}

fn events_panel(page: &Page) -> Markup {
    html! {
        section #events .panel.wide aria-labelledby="events-h" {
            h2 #events-h { "Event stream" span.count { "newest first" } }
            @if page.events.is_empty() {
                p.hint.empty {
                    "No events yet: pings (" code { "curl -X POST /ping/ID" } "), probes and work commands \
                     write them."
                }
            }
            ol.events {
                @for e in page.events.iter().rev() {
                    li data-seq=(e.seq) {
                        span.when { (time(e.timestamp, page)) }
                        " " span.type { (e.kind) }
                        " " span.id { (e.entity_type) "/" (e.entity_id) }
                        " "
                        @match LEVELS.iter().find(|l| e.kind == "health.changed" && l.as_str() == e.status) {
                            Some(level) => (badge(*level)),
                            None => span.status { (e.status) },
                        }
                        " " span.msg { (clip(&crate::redact::redact(&e.message))) }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pieces

/// A group of entities: the unhealthy ones first and open, worst first; the healthy (and the
/// paused or retired) ones collapsed behind their count.
fn group(
    title: &str,
    key: &str,
    items: &[&EntityState],
    meta: &dyn Fn(&EntityState) -> Markup,
    hint: Markup,
) -> Markup {
    let (mut attention, mut quiet): (Vec<&EntityState>, Vec<&EntityState>) =
        items.iter().copied().partition(|e| counted(e) && e.health > Level::Healthy);
    let worst_first =
        |a: &&EntityState, b: &&EntityState| b.health.cmp(&a.health).then_with(|| a.name.cmp(&b.name));
    let by_name = |a: &&EntityState, b: &&EntityState| a.name.cmp(&b.name);
    first_sorted(&mut attention, ATTENTION_ROWS, worst_first);
    first_sorted(&mut quiet, QUIET_ROWS, by_name);
    let attention_total = items.iter().filter(|e| counted(e) && e.health > Level::Healthy).count();
    let quiet_total = items.len() - attention_total;
    let paused = items.iter().filter(|e| !counted(e)).count();
    html! {
        div.group #(format!("g-{key}")) {
            h3 { (title) span.count { (summary_of(items)) } }
            @if items.is_empty() { p.hint.empty { (hint) } }
            @if !attention.is_empty() {
                ul.rows {
                    @for e in &attention { (entity_row(e, meta)) }
                }
                (more(attention_total, ATTENTION_ROWS))
            }
            @if quiet_total > 0 {
                details data-key=(key) {
                    summary {
                        (quiet_total - paused) " healthy"
                        @if paused > 0 { ", " (paused) " paused or retired" }
                    }
                    ul.rows {
                        @for e in &quiet { (entity_row(e, meta)) }
                    }
                    (more(quiet_total, QUIET_ROWS))
                }
            }
        }
    }
}

/// Sorts `items` and keeps the first `n`, without sorting all of a long list.
fn first_sorted<T>(items: &mut Vec<T>, n: usize, order: impl Fn(&T, &T) -> std::cmp::Ordering) {
    if items.len() > n {
        items.select_nth_unstable_by(n - 1, &order);
        items.truncate(n);
    }
    items.sort_by(order);
}

fn entity_row(e: &EntityState, meta: &dyn Fn(&EntityState) -> Markup) -> Markup {
    html! {
        li.row.(level_class(e.health)) {
            (badge(e.health)) " "
            span.name { (e.name) }
            @if e.name != e.id { " " span.id { (e.id) } }
            @if e.desired != DesiredState::Active { " " span.tag { (desired_word(e.desired)) } }
            @if e.inhibited {
                " " span.tag title="Alerts held back: a dependency is stale or failed." { "held back" }
            }
            @if !e.message.is_empty() { div.msg { (clip(&e.message)) } }
            div.meta { (meta(e)) }
        }
    }
}

/// `2 failed · 1 healthy`: a group's levels, worst first.
fn summary_of(items: &[&EntityState]) -> String {
    let mut by_level = [0usize; 5];
    for e in items {
        by_level[e.health as usize] += 1;
    }
    let parts: Vec<String> = LEVELS
        .iter()
        .rev()
        .filter(|l| by_level[**l as usize] > 0)
        .map(|l| format!("{} {}", by_level[*l as usize], l.as_str()))
        .collect();
    if parts.is_empty() { "none".to_string() } else { parts.join(" · ") }
}

const LEVELS: [Level; 5] = [Level::Healthy, Level::Unknown, Level::Warning, Level::Stale, Level::Failed];

fn counts(s: &crate::state::Summary) -> Markup {
    let c = &s.counts;
    let pairs = [
        (Level::Failed, c.failed),
        (Level::Stale, c.stale),
        (Level::Warning, c.warning),
        (Level::Unknown, c.unknown),
        (Level::Healthy, c.healthy),
    ];
    html! {
        @for (i, (level, n)) in pairs.iter().enumerate() {
            @if i > 0 { " · " }
            span.(level_class(*level)) { (n) " " (level.as_str()) }
        }
    }
}

/// Whether an entity counts toward health (paused and retired ones do not).
/// Whether an entity counts toward health: paused and retired ones do not, nor those another
/// daemon judges (settings `select`).
fn counted(e: &EntityState) -> bool {
    e.desired == DesiredState::Active && e.reason != "NotSelected"
}

/// A level by colour, by shape and by word, so it reads without colour too.
fn badge(level: Level) -> Markup {
    let icon = match level {
        Level::Healthy => "✓",
        Level::Unknown => "?",
        Level::Warning => "!",
        Level::Stale => "◔",
        Level::Failed => "✕",
    };
    html! {
        span.lvl.(level_class(level)) { span.ico aria-hidden="true" { (icon) } " " (level.as_str()) }
    }
}

fn level_class(level: Level) -> &'static str {
    match level {
        Level::Healthy => "l-healthy",
        Level::Unknown => "l-unknown",
        Level::Warning => "l-warning",
        Level::Stale => "l-stale",
        Level::Failed => "l-failed",
    }
}

fn desired_word(d: DesiredState) -> &'static str {
    match d {
        DesiredState::Active => "active",
        DesiredState::Paused => "paused",
        DesiredState::Retired => "retired",
    }
}

/// `+12 more` under a list cut at `shown` of `total`.
fn more(total: usize, shown: usize) -> Markup {
    html! {
        @if total > shown {
            p.more { "+" (total - shown) " more (all in " a href="/api/v1/state" { "/api/v1/state" } ")" }
        }
    }
}

/// A time, absolute in the settings' zone and relative to now: `07:03 (3 min ago)`. The script
/// keeps the relative part current.
fn time(t: DateTime<Utc>, page: &Page) -> Markup {
    let local = t.with_timezone(&page.tz);
    let today = page.now.with_timezone(&page.tz);
    let absolute = if local.date_naive() == today.date_naive() {
        local.format("%H:%M").to_string()
    } else if local.year() == today.year() {
        local.format("%b %-d %H:%M").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M").to_string()
    };
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
            (absolute) " " span.rel { "(" (relative(t, page.now)) ")" }
        }
    }
}

fn when(t: Option<DateTime<Utc>>, page: &Page) -> Markup {
    match t {
        Some(t) => time(t, page),
        None => html! { "never" },
    }
}

/// `just now`, `40 s ago`, `3 min ago`, `5 h ago`, `2 days ago`, `in 3 min`. The script's
/// `relative` says the same.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - t).num_seconds();
    let span = seconds.unsigned_abs();
    if span < 10 {
        return "just now".to_string();
    }
    let amount = match span {
        0..60 => format!("{span} s"),
        60..3600 => format!("{} min", span / 60),
        3600..172_800 => format!("{} h", span / 3600),
        _ => format!("{} days", span / 86_400),
    };
    if seconds >= 0 { format!("{amount} ago") } else { format!("in {amount}") }
}

fn money(amount: f64, currency: &str) -> String {
    let currency = if currency.is_empty() { "USD" } else { currency };
    if amount > 0.0 && amount < 0.01 {
        format!("<0.01 {currency}")
    } else {
        format!("{amount:.2} {currency}")
    }
}

fn tokens(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..10_000_000 => format!("{}k", n / 1000),
        _ => format!("{}M", n / 1_000_000),
    }
}

/// An SVG coordinate with one decimal.
fn fmt(x: f64) -> String {
    format!("{x:.1}")
}

/// A JSON value for people: a time as a time, text as text.
fn value(v: &Value, page: &Page) -> Markup {
    match v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
        Some(t) => time(t.to_utc(), page),
        None => html! { (value_text(v)) },
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".to_string(),
        other => other.to_string(),
    }
}

fn clip(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(TEXT_CHARS) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").to_utc()
    }

    #[test]
    fn relative_times_read_like_speech() {
        let now = at("2026-11-25T08:00:00Z");
        let cases = [
            ("2026-11-25T08:00:00Z", "just now"),
            ("2026-11-25T07:59:20Z", "40 s ago"),
            ("2026-11-25T07:57:00Z", "3 min ago"),
            ("2026-11-25T03:00:00Z", "5 h ago"),
            ("2026-11-22T08:00:00Z", "3 days ago"),
            ("2026-11-25T08:03:00Z", "in 3 min"),
        ];
        for (t, expected) in cases {
            assert_eq!(relative(at(t), now), expected, "{t}");
        }
    }

    #[test]
    fn chart_scales_to_round_numbers() {
        assert_eq!(nice_ceiling(0.48), 0.5);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
    }

    /// A live state with `entities` entities (one in ten unhealthy) and `tasks` tasks spread
    /// over every domain and status.
    pub(super) fn big_live_state(entities: usize, tasks: usize, now: DateTime<Utc>) -> LiveState {
        let mut live = LiveState::default();
        let levels = [Level::Failed, Level::Stale, Level::Warning, Level::Unknown];
        for i in 0..entities {
            let health = if i % 10 == 0 { levels[(i / 10) % 4] } else { Level::Healthy };
            let kind = ["routine", "integration", "output", "agent", "workflow"][i % 5];
            let mut e: EntityState = serde_json::from_value(serde_json::json!({
                "kind": kind, "id": format!("{kind}-{i}"), "name": format!("The {kind} number {i}"),
                "desired": "active", "health": health, "reason": "Because",
                "message": "3 failed probes in a row: connection refused by the upstream host",
                "since": now, "last_checked": now, "last_signal": now, "evidence": null,
                "first_seen": now, "last_success": now, "running_since": null, "last": null,
                "expected_at": now, "schedule": "0 7 * * * (Europe/Berlin)", "probe": "heartbeat",
                "owner": "Subagent:Infra", "details": {"boundary": "core", "model": "example-large-2"}
            }))
            .expect("entity");
            match kind {
                "routine" => live.routines.push(e.into()),
                "integration" => live.integrations.push(e.into()),
                "output" => live.outputs.push(e.into()),
                "agent" => live.subagents.push(e.into()),
                _ => {
                    e.details.insert(
                        "steps".into(),
                        serde_json::json!([
                            {"id": "a", "title": "First"}, {"id": "b", "depends_on": ["a"], "task": "t7"}
                        ]),
                    );
                    live.workflows.push(e.into())
                }
            }
        }
        for i in 0..tasks {
            let mut t =
                Task::new(&format!("t{i}"), i as u64, &format!("Task number {i} with a title"), "cli", now);
            t.status = Status::ALL[i % Status::ALL.len()];
            t.domain = Some(DOMAINS[i % DOMAINS.len()].0);
            t.priority = Some([Priority::Urgent, Priority::High, Priority::Medium][i % 3]);
            t.owner = Some("Subagent:Backend".to_string());
            if t.status == Status::Blocked {
                t.blocker = Some("waiting for the staging server".to_string());
            }
            live.tasks.push(t);
        }
        for day in 0..14 {
            let date = (now - chrono::Duration::days(day)).date_naive().to_string();
            for m in 0..10 {
                live.usage
                    .by_day
                    .entry(date.clone())
                    .or_default()
                    .insert(format!("model-{m}"), 0.5 + m as f64);
            }
        }
        live.summary.overall_health = Some(Level::Failed);
        live
    }

    fn page<'a>(live: &'a LiveState, now: DateTime<Utc>) -> Page<'a> {
        Page { live, events: &[], tz: chrono_tz::Europe::Berlin, now, css: "/a.css", js: "/a.js" }
    }

    #[test]
    fn ten_thousand_entities_and_tasks_stay_under_200_kb() {
        let now = at("2026-11-25T08:00:00Z");
        let live = big_live_state(10_000, 10_000, now);
        let started = std::time::Instant::now();
        let html = render(&page(&live, now)).into_string();
        println!("10,000 entities and tasks: {} bytes in {:?}", html.len(), started.elapsed());
        assert!(html.len() < 200_000, "{} bytes", html.len());
    }

    /// `cargo test --release --lib -- --ignored --nocapture bench_dashboard`: rendering the page
    /// for 10,000 entities and 10,000 tasks, and parsing their published live state.
    #[test]
    #[ignore]
    fn bench_dashboard_render() {
        let now = at("2026-11-25T08:00:00Z");
        let live = big_live_state(10_000, 10_000, now);
        let bytes = serde_json::to_vec(&live).expect("json");
        let mut renders = Vec::new();
        let mut parses = Vec::new();
        for _ in 0..10 {
            let started = std::time::Instant::now();
            let parsed: LiveState = serde_json::from_slice(&bytes).expect("parse");
            parses.push(started.elapsed());
            let started = std::time::Instant::now();
            let html = render(&page(&parsed, now)).into_string();
            renders.push(started.elapsed());
            assert!(html.len() < 200_000);
        }
        renders.sort();
        parses.sort();

        println!(
            "render: median {:?}, worst {:?}; parse of {} bytes: median {:?}",
            renders[5],
            renders[9],
            bytes.len(),
            parses[5]
        );
        assert!(renders[5] < std::time::Duration::from_millis(50), "median render {:?}", renders[5]);
    }

    #[test]
    fn openclaw_ledgers_and_heartbeats_are_shown_and_every_text_is_escaped() {
        let now = at("2026-11-25T08:00:00Z");
        let mut live = big_live_state(5, 0, now);
        std::sync::Arc::make_mut(&mut live.routines[0]).name = "<script>alert(1)</script>".to_string();
        std::sync::Arc::make_mut(&mut live.routines[0]).ledger = serde_json::from_value(serde_json::json!({
            "job": "nightly", "missed_runs": 2, "consecutive_missed": 2, "duplicate_runs": 0,
            "late_runs": 1, "stuck_for_seconds": 4000.0
        }))
        .expect("ledger");
        std::sync::Arc::make_mut(&mut live.subagents[0]).heartbeat =
            serde_json::from_value(serde_json::json!({
                "level": "failed", "reason": "HeartbeatRunaway", "message": "beats every 1m, configured 30m",
                "last_beat": now
            }))
            .expect("heartbeat");
        let html = render(&page(&live, now)).into_string();
        for expected in [
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "OpenClaw job nightly",
            "2 missed in a row in the last day",
            "stuck for 1h 6m",
            "Agent heartbeats",
            "beats every 1m, configured 30m",
        ] {
            assert!(html.contains(expected), "{expected:?} missing");
        }
        assert!(!html.contains("<script>alert"));
        assert_eq!(html.matches("<script").count(), 1, "only the page's own script");
    }

    #[test]
    fn long_texts_are_clipped_on_a_character() {
        let long = "é".repeat(TEXT_CHARS + 5);
        assert_eq!(clip(&long).chars().count(), TEXT_CHARS + 1);
        assert_eq!(clip("short"), "short");
    }
}
