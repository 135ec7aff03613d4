//! The health commands: `status` (the overall level and what is unhealthy), `server` (each
//! unhealthy integration, routine, output and agent with its evidence and the runbook's next
//! step) and `projects` (each project's level and its open work).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::docs;
use super::entity;
use super::render::{Lines, ago, docs_text, esc, from_docs, level_badge, level_dot, level_name, money, word};
use super::task::{MINE_ORDER, is_open};
use super::{Reply, View, source};
use crate::config::{EntityKey, Kind, Level, Spec};
use crate::state::{Counts, LiveState};

/// How many lines of `MISSION_CONTROL.md` `status` shows without live state.
const DOCS_LINES: usize = 15;

/// `status`.
pub fn status(view: &View) -> Reply {
    match view.live {
        Some(live) => status_live(view, live),
        None => match view.docs.mission_control.as_deref() {
            Some(text) => docs_lines(view, "MISSION_CONTROL.md", docs::first_lines(text, DOCS_LINES)),
            None => nothing("MISSION_CONTROL.md", "start the daemon to watch: `mission-control run`"),
        },
    }
}

fn status_live(view: &View, live: &LiveState) -> Reply {
    let s = &live.summary;
    let mut lines = Lines::new();
    let headline = match s.overall_health {
        Some(level) => format!("{}: {}", level_badge(level), counts_text(&s.counts)),
        None => format!("{}: nothing is watched yet", level_badge(Level::Unknown)),
    };
    lines.line(headline);
    let mode = mode(view, live);
    let cost = cost_today(view, live);
    let firing = live.alerts.firing.len();
    let silenced = live.alerts.firing.iter().filter(|a| a.silenced || a.inhibited).count();
    let mut facts = vec![format!("stale signals: {}", s.stale_signals)];
    if let Some(mode) = &mode {
        facts.push(format!("mode: {}", esc(mode)));
    }
    facts.push(format!("cost today: {}", cost_text(&cost)));
    lines.line(facts.join(" · "));
    let alerts = match silenced {
        0 => format!("alerts firing: {firing}"),
        n => format!("alerts firing: {firing} ({n} silenced or held back)"),
    };
    match live.generated_at {
        Some(at) => lines.line(format!("{alerts} · _updated {}_", ago(at, view.now))),
        None => lines.line(alerts),
    }
    let unhealthy =
        entity::at_levels(view, &[], &[Level::Failed, Level::Stale, Level::Warning, Level::Unknown]);
    for e in &unhealthy {
        lines.item(entity::line(e));
    }
    let json = json!({
        "source": source(true),
        "generated_at": live.generated_at,
        "overall": s.overall_health.map(level_name),
        "counts": s.counts,
        "stale_signals": s.stale_signals,
        "mode": mode,
        "cost_today": cost,
        "alerts_firing": firing,
        "unhealthy": unhealthy.iter().map(|e| entity::json(e)).collect::<Vec<_>>(),
    });
    Reply { text: lines.finish(), json }
}

/// `1 failed, 2 stale, 3 healthy`: worst first, levels with none left out.
fn counts_text(c: &Counts) -> String {
    let parts: Vec<String> = [
        (c.failed, "failed"),
        (c.stale, "stale"),
        (c.warning, "warning"),
        (c.unknown, "unknown"),
        (c.healthy, "healthy"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, word)| format!("{n} {word}"))
    .collect();
    if parts.is_empty() { "nothing counted".to_string() } else { parts.join(", ") }
}

/// The delivery mode set last (`mode set`), else the orchestrator's declared one.
fn mode(view: &View, live: &LiveState) -> Option<String> {
    let set = view.board.and_then(|b| b.mode.as_ref()).map(|m| word(&m.mode));
    set.or_else(|| live.summary.active_mode.clone())
}

/// Today's estimated cost by currency: the board's usage records since local midnight, else
/// the snapshot's summary.
pub fn cost_today(view: &View, live: &LiveState) -> BTreeMap<String, f64> {
    let mut by_currency = BTreeMap::new();
    if let Some(board) = view.board {
        for r in crate::work::today(&board.usage, view.now, view.tz) {
            *by_currency.entry(r.usage.currency.clone()).or_insert(0.0) += r.usage.estimated_cost;
        }
    }
    let s = &live.summary;
    if by_currency.is_empty() && s.daily_estimated_cost > 0.0 {
        by_currency.insert(s.currency.clone(), s.daily_estimated_cost);
    }
    by_currency
}

/// `0.48 USD`, `0.4 USD + 2 EUR`, `0`.
pub fn cost_text(cost: &BTreeMap<String, f64>) -> String {
    if cost.is_empty() {
        return "0".to_string();
    }
    cost.iter()
        .map(|(cur, amount)| format!("{} {}", money(*amount), esc(cur)))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// `server`.
pub fn server(view: &View) -> Reply {
    if view.live.is_none() {
        return server_docs(view);
    }
    let unhealthy = entity::at_levels(
        view,
        &["integration", "routine", "output", "agent"],
        &[Level::Failed, Level::Stale, Level::Warning],
    );
    let mut lines = Lines::new();
    match unhealthy.first() {
        None => lines.line(format!(
            "{} *Server*: no integration, routine, output or agent is failed, stale or warning",
            level_dot(Level::Healthy)
        )),
        Some(worst) => {
            let count = |l: Level| unhealthy.iter().filter(|e| e.health == l).count();
            let parts: Vec<String> = [Level::Failed, Level::Stale, Level::Warning]
                .into_iter()
                .filter(|l| count(*l) > 0)
                .map(|l| format!("{} {}", count(l), level_name(l)))
                .collect();
            lines.line(format!(
                "{} *Server*: {} unhealthy ({})",
                level_dot(worst.health),
                unhealthy.len(),
                parts.join(", ")
            ));
        }
    }
    let mut items = Vec::new();
    for e in &unhealthy {
        let runbook = entity::runbook(view, e);
        let mut block = entity::line(e);
        if let Some(evidence) = entity::evidence_line(e, view.now) {
            block.push_str("\n   ");
            block.push_str(&evidence);
        }
        block.push_str("\n   ");
        block.push_str(&runbook.markdown());
        lines.item(block);
        let mut item = entity::json(e);
        item["evidence"] = e.evidence.as_deref().map_or(Value::Null, entity::evidence_json);
        item["runbook"] = entity::runbook_json(&runbook);
        items.push(item);
    }
    Reply { text: lines.finish(), json: json!({"source": source(true), "entities": items}) }
}

fn server_docs(view: &View) -> Reply {
    let Some(text) = view.docs.runbooks.as_deref() else {
        return nothing("RUNBOOKS.md", "start the daemon to watch: `mission-control run`");
    };
    let runbooks: Vec<docs::Section> = docs::sections(text).into_iter().filter(|s| s.level >= 2).collect();
    let mut lines = Lines::new();
    lines.line(from_docs("RUNBOOKS.md", false));
    lines.line(format!("*Runbooks*: {}", runbooks.len()));
    let mut items = Vec::new();
    for s in &runbooks {
        let step = s.first_step();
        match step {
            Some(step) => lines.item(format!("• {}: {}", esc(s.title), docs_text(step))),
            None => lines.item(format!("• {}", esc(s.title))),
        }
        items.push(json!({"title": s.title, "step": step}));
    }
    let json = json!({"source": source(false), "file": "RUNBOOKS.md", "runbooks": items});
    Reply { text: lines.finish(), json }
}

/// `projects`.
pub fn projects(view: &View) -> Reply {
    if view.live.is_none() {
        return projects_docs(view);
    }
    let mut projects: Vec<_> = entity::visible(view).into_iter().filter(|e| e.kind == "project").collect();
    entity::worst_first(&mut projects);
    let unhealthy = projects.iter().filter(|e| entity::judged(e) && e.health > Level::Healthy).count();
    let mut lines = Lines::new();
    lines.line(match (projects.len(), unhealthy) {
        (0, _) => "*Projects*: none declared".to_string(),
        (n, 0) => format!("*Projects*: {n}, all healthy"),
        (n, u) => format!("*Projects*: {n}, {u} need attention"),
    });
    let open = open_tasks(view);
    let mut items = Vec::new();
    for e in &projects {
        let counts = open.get(e.id.as_str()).cloned().unwrap_or_default();
        let status = project_status(view, &e.id);
        let mut block = entity::line(e);
        if let Some(status) = status.as_deref().filter(|s| *s != "active") {
            block.push_str(&format!(" _({status})_"));
        }
        block.push_str("\n   ");
        if counts.is_empty() {
            block.push_str("no open tasks");
        } else {
            let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
            block.push_str(&format!("tasks: {}", parts.join(", ")));
        }
        lines.item(block);
        let mut item = entity::json(e);
        item["status"] = status.into();
        item["tasks"] = counts.iter().map(|(s, n)| ((*s).to_string(), Value::from(*n))).collect();
        items.push(item);
    }
    Reply { text: lines.finish(), json: json!({"source": source(true), "projects": items}) }
}

/// Open tasks by project, then by status in [`MINE_ORDER`], statuses with none left out.
fn open_tasks<'a>(view: &View<'a>) -> HashMap<&'a str, Vec<(&'static str, usize)>> {
    let mut counts: HashMap<&str, [usize; MINE_ORDER.len()]> = HashMap::new();
    for t in view.board.into_iter().flat_map(|b| b.tasks.values()).filter(|t| is_open(t)) {
        let (Some(project), Some(i)) = (t.project.as_deref(), MINE_ORDER.iter().position(|s| *s == t.status))
        else {
            continue;
        };
        counts.entry(project).or_default()[i] += 1;
    }
    counts
        .into_iter()
        .map(|(project, n)| {
            let by_status = MINE_ORDER.iter().zip(n).filter(|(_, n)| *n > 0).map(|(s, n)| (s.as_str(), n));
            (project, by_status.collect())
        })
        .collect()
}

/// `active`, `paused` or `archived`, from the project's YAML.
fn project_status(view: &View, id: &str) -> Option<String> {
    let entity = view.config?.entity(&EntityKey::new(Kind::Project, id))?;
    match &entity.spec {
        Spec::Project(p) => Some(word(&p.status)),
        _ => None,
    }
}

fn projects_docs(view: &View) -> Reply {
    let Some(text) = view.docs.projects.as_deref() else {
        return nothing("PROJECTS.md", "declare projects as `kind: Project` in `desired/`");
    };
    let projects = docs::projects(text);
    let mut lines = Lines::new();
    lines.line(from_docs("PROJECTS.md", false));
    lines.line(format!("*Projects*: {}", projects.len()));
    for (title, status) in &projects {
        match status {
            Some(status) => lines.item(format!("• {}: {}", esc(title), docs_text(status))),
            None => lines.item(format!("• {}", esc(title))),
        }
    }
    let items: Vec<Value> =
        projects.iter().map(|(title, status)| json!({"title": title, "status": status})).collect();
    let json = json!({"source": source(false), "file": "PROJECTS.md", "projects": items});
    Reply { text: lines.finish(), json }
}

/// A docs-layer answer that is the file's lines.
pub fn docs_lines(view: &View, file: &str, found: Vec<&str>) -> Reply {
    let mut lines = Lines::new();
    lines.line(from_docs(file, view.live.is_some()));
    for line in &found {
        lines.item(docs_text(line));
    }
    let json = json!({"source": source(false), "file": file, "lines": found});
    Reply { text: lines.finish(), json }
}

/// Neither live state nor the file: say so, and what to do.
pub fn nothing(file: &str, hint: &str) -> Reply {
    let text = format!("_no live state yet and no_ `{file}`\n{hint}");
    Reply { text, json: json!({"source": "none", "file": file}) }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{Fixture, assert_reply};
    use crate::commands::{Command, answer};

    #[test]
    fn status_live_worst_first() {
        let f = Fixture::new();
        let r = answer(&Command::Status, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "🔴 *FAILED*: 1 failed, 2 stale, 2 warning, 1 unknown, 3 healthy");
        assert_eq!(lines[1], "stale signals: 2 · mode: Building · cost today: 0.48 USD");
        assert_eq!(lines[2], "alerts firing: 2 (1 silenced or held back) · _updated 1m ago_");
        assert!(
            lines[3]
                .starts_with("🔴 `integration/openclaw-gateway` (OpenClaw gateway): failed (ProbeFailing)")
        );
        assert!(lines[4].starts_with("🟠 `routine/daily-status` (Daily status report): stale (Overdue)"));
        assert!(lines[5].starts_with("🟠 `project/mission-control`"));
        assert!(lines[6].starts_with("🟡 `output/usage-export`"));
        assert!(lines[7].starts_with("🟡 `workflow/release`"));
        assert!(lines[8].starts_with("⚪ `agent/backend`"));
        assert_eq!(lines.len(), 9, "healthy and paused entities are not listed: {}", r.text);
        assert_eq!(r.json["overall"], "failed");
        assert_eq!(r.json["cost_today"]["USD"], 0.48);
        assert_eq!(r.json["mode"], "Building");
        assert_eq!(r.json["unhealthy"][0]["entity"], "integration/openclaw-gateway");
        assert_eq!(r.json["unhealthy"].as_array().map(Vec::len), Some(6));
        assert_eq!(r.json["command"], "status");
    }

    #[test]
    fn status_from_docs() {
        let f = Fixture::docs_only();
        let r = answer(&Command::Status, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "_from_ `MISSION_CONTROL.md` _(no live state yet)_");
        assert_eq!(lines[1], "Mission Control");
        assert!(lines[2].starts_with("Synthetic example of the docs layer"));
        assert_eq!(r.json["source"], "docs");
        assert_eq!(r.json["lines"][0], "Mission Control");
        let none = Fixture::empty();
        let r = answer(&Command::Status, &none.view());
        assert_reply(&r);
        assert!(r.text.starts_with("_no live state yet and no_ `MISSION_CONTROL.md`"));
        assert_eq!(r.json["source"], "none");
    }

    #[test]
    fn server_with_evidence_and_runbooks() {
        let f = Fixture::new();
        let r = answer(&Command::Server, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "🔴 *Server*: 3 unhealthy (1 failed, 1 stale, 1 warning)");
        assert!(lines[1].starts_with("🔴 `integration/openclaw-gateway`"));
        assert_eq!(
            lines[2],
            "   evidence: error connection refused · HTTP 503 · latency 120ms · http 2h ago"
        );
        assert_eq!(
            lines[3],
            "   next step: Check the gateway process on the host: `systemctl --user status openclaw-gateway`. \
             (runbook: Gateway down)"
        );
        assert!(lines[4].starts_with("🟠 `routine/daily-status`"));
        assert_eq!(
            lines[5],
            "   next step: Check that Fakker is running: `mission-control why agent/fakker`. \
             (runbook: Daily status did not arrive)"
        );
        assert!(lines[6].starts_with("🟡 `output/usage-export`"));
        assert_eq!(lines[7], "   no runbook: add `runbook:` to its YAML");
        assert_eq!(lines.len(), 8, "workflows and projects are not server entities: {}", r.text);
        assert_eq!(r.json["entities"][0]["evidence"]["error"], "connection refused");
        assert_eq!(r.json["entities"][0]["runbook"]["name"], "Gateway down");
        assert_eq!(r.json["entities"][2]["runbook"]["declared"], false);
    }

    #[test]
    fn server_from_docs() {
        let f = Fixture::docs_only();
        let r = answer(&Command::Server, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "_from_ `RUNBOOKS.md` _(no live state yet)_");
        assert_eq!(lines[1], "*Runbooks*: 3");
        assert_eq!(
            lines[2],
            "• Gateway down: Check the gateway process on the host: `systemctl --user status openclaw-gateway`."
        );
        assert!(lines[4].starts_with("• Backup missing: Look for the newest `reports/backup-*.log`"));
        assert_eq!(r.json["runbooks"][1]["title"], "Daily status did not arrive");
    }

    #[test]
    fn projects_live_and_docs() {
        let f = Fixture::new();
        let r = answer(&Command::Projects, &f.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "*Projects*: 2, 1 need attention");
        assert!(lines[1].starts_with("🟠 `project/mission-control` (Mission Control): stale (WorstEntity)"));
        assert_eq!(lines[2], "   tasks: 1 active, 1 review, 1 blocked, 1 planned");
        assert!(lines[3].starts_with("🟢 `project/household`"), "{}", r.text);
        assert!(lines[3].ends_with("_(paused)_"), "{}", lines[3]);
        assert_eq!(lines[4], "   no open tasks");
        assert_eq!(r.json["projects"][0]["tasks"]["blocked"], 1);
        assert_eq!(r.json["projects"][1]["status"], "paused");

        let d = Fixture::docs_only();
        let r = answer(&Command::Projects, &d.view());
        assert_reply(&r);
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], "_from_ `PROJECTS.md` _(no live state yet)_");
        assert_eq!(lines[1], "*Projects*: 2");
        assert!(lines[2].starts_with("• Mission Control: Status: active. Owner: Fakker."));
        assert!(lines[3].starts_with("• Household paperwork: Status: active."));
        assert_eq!(r.json["projects"][1]["title"], "Household paperwork");
    }
}
