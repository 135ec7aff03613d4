//! The chat commands of SPEC section 9 (`status`, `today`, `next`, `projects`, `blocked`,
//! `inbox`, `triage`, `assign`, `mytasks [OWNER]`, `review`, `server`, `decisions`) as pure
//! functions of a [`View`]: no I/O and no clock. The command line, the HTTP route
//! `GET /api/v1/commands/{name}` and the Telegram bot read the files, build the view and call
//! [`answer`]; all three answer the same.
//!
//! Each [`Reply`] has a text for a phone and a JSON form for programs. The text is Telegram
//! legacy `Markdown`, most important line first, under [`render::MAX_UNITS`] UTF-16 units
//! (Telegram's limit is 4096): a list that does not fit stops at a whole item and ends with a
//! line `+N more`. The JSON lists every item, in the same order as the text. Both pass through
//! the redactor.
//!
//! Commands read the live state and the board first and fall back to the docs layer when
//! there is none; the first line of a docs answer says so (`_from_ `PROJECTS.md` _(no live
//! state yet)_`), and the JSON says `"source": "docs"` with the `file`.
//!
//! # JSON
//!
//! Every reply is an object with `command` (its name) and `source`: `live` (the live state
//! and the board), `docs` (the docs layer, with `file`: `MISSION_CONTROL.md`, ...) or `none`
//! (neither). Times are RFC 3339, levels and statuses lower case. `entity` below is
//! `{entity: "kind/id", name, level, reason, message, since}`; `task` is `{id, title, status,
//! priority, classification, domain, owner, project, blocker, expected_output,
//! review_criteria, source, created, updated}`; `runbook` is `{name, step, declared}`.
//!
//! | command | live fields | docs fields |
//! | --- | --- | --- |
//! | `status` | `overall`, `counts` (`healthy`, `unknown`, `warning`, `stale`, `failed`), `stale_signals`, `mode`, `cost_today` (`{CURRENCY: amount}`), `alerts_firing`, `generated_at`, `unhealthy` (`[entity]`, worst first) | `lines` (the file's first lines) |
//! | `today` | `date`, `timezone`, `transitions` (`[{at, entity, from, to, reason, message}]`, newest first), `runs` (`[{entity, ok, failed}]`), `tasks` (`{created, triaged, assigned, moved, done}`), `usage` (`{records, tokens, cost: {CURRENCY: amount}}`), `alerts` (`{firing, resolved}`), `memory` (`[line]`) | the same; `source` is `none` when there is neither live state nor an event today |
//! | `next` | `actions` (`[{rank, verb, target, name, why, step, command, runbook}]`, at most 5), `more` | `actions` (`[{text}]`, from TASKS.md's open items), `more` |
//! | `projects` | `projects` (`[entity + {status, tasks: {STATUS: count}}]`) | `projects` (`[{title, status}]`) |
//! | `blocked` | `workflows` (`[entity]`), `tasks` (`[task]`) | `lines` (TASKS.md lines that mention "blocked") |
//! | `inbox` | `count`, `items` (`[task]`, newest first) | `source` `none`, `count` 0, `items` [] |
//! | `triage` | `count`, `matched`, `items` (`[task + {rule, set: {classification, priority, domain, owner, expected_output}, command}]`, oldest first) | `count` 0, `items` [] |
//! | `assign` | `count`, `tasks` (`[task + {command}]`, by priority) | `source` `none`, `count` 0, `tasks` [] |
//! | `mytasks` | `owner`, `count`, `groups` (`[{status, tasks: [task]}]`) | `owner`, `lines` (TASKS.md open items naming the owner) |
//! | `review` | `count`, `tasks` (`[task]`, oldest first) | `lines` (TASKS.md lines that mention "review") |
//! | `server` | `entities` (`[entity + {evidence, runbook}]`) | `runbooks` (`[{title, step}]`) |
//! | `decisions` | (always the docs layer) | `decisions` (`[{date, title, summary}]`, newest first) |
//!
//! # Layout
//! - `render`: legacy Markdown, the size limit ([`render::Lines`]), relative times.
//! - `docs`: reading the docs layer: sections, runbook steps, decisions.
//! - `entity`, `task`: how one entity or one task reads.
//! - `health`: `status`, `server`, `projects`.
//! - `today`: `today`.
//! - `next`: `next` and its ranking.
//! - `queue`: `inbox`, `triage`, `assign`.
//! - `work`: `blocked`, `mytasks`, `review`.
//! - `decisions`: `decisions`.

mod decisions;
mod docs;
mod entity;
mod health;
mod next;
mod queue;
pub mod render;
mod task;
#[cfg(test)]
mod testing;
mod today;
pub use today::Digest as DayDigest;
mod work;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::Config;
use crate::events::Event;
use crate::state::LiveState;
use crate::work::Board;

/// What a command reads. The caller reads the files; nothing here touches the disk or the
/// clock.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// `None` when the configuration does not load.
    pub config: Option<&'a Config>,
    /// `None` when there is no live state (the daemon never ran, nothing in `state/`).
    pub live: Option<&'a LiveState>,
    /// `None` with no live state.
    pub board: Option<&'a Board>,
    /// Events since local midnight in `tz`, oldest first, protected entities filtered out.
    /// `today` folds them when `today` (below) is not given.
    pub today_events: &'a [Event],
    /// The same events already folded, as the daemon keeps them.
    pub today: Option<&'a DayDigest>,
    /// Whether the answer's JSON is wanted (the API's `format=json`, the command line's
    /// `--json`); the text always is. Lists of thousands of tasks are left out of a JSON
    /// nobody reads.
    pub wants_json: bool,
    pub docs: &'a Docs,
    /// The orchestrator's daily memory, `memory/YYYY-MM-DD.md`, when present.
    pub memory: Option<&'a str>,
    pub now: DateTime<Utc>,
    pub tz: chrono_tz::Tz,
}

/// The docs layer: the texts of the files at the workspace root, when present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Docs {
    /// `MISSION_CONTROL.md`
    pub mission_control: Option<String>,
    /// `PROJECTS.md`
    pub projects: Option<String>,
    /// `TASKS.md`
    pub tasks: Option<String>,
    /// `DECISIONS.md`
    pub decisions: Option<String>,
    /// `RUNBOOKS.md`
    pub runbooks: Option<String>,
    /// `OUTPUTS.md`
    pub outputs: Option<String>,
}

/// A command's answer: Markdown for a phone and JSON for programs, both redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub json: Value,
}

/// A chat command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Today,
    Next,
    Projects,
    Blocked,
    Inbox,
    Triage,
    Assign,
    /// Whose tasks; `None` is the orchestrator's.
    MyTasks(Option<String>),
    Review,
    Server,
    Decisions,
}

impl Command {
    /// The names, in the order of SPEC section 9.
    pub const NAMES: [&str; 12] = [
        "status",
        "today",
        "next",
        "projects",
        "blocked",
        "inbox",
        "triage",
        "assign",
        "mytasks",
        "review",
        "server",
        "decisions",
    ];

    /// A command by name (any case). Only `mytasks` takes an argument (the owner); `inbox`
    /// accepts one too, because `inbox TEXT` adds an item, which the caller does.
    pub fn parse(name: &str, arg: Option<&str>) -> Result<Command, String> {
        let lower = name.trim().to_ascii_lowercase();
        let arg = arg.map(str::trim).filter(|a| !a.is_empty());
        let command = match lower.as_str() {
            "status" => Command::Status,
            "today" => Command::Today,
            "next" => Command::Next,
            "projects" => Command::Projects,
            "blocked" => Command::Blocked,
            "inbox" => return Ok(Command::Inbox),
            "triage" => Command::Triage,
            "assign" => Command::Assign,
            "mytasks" => return Ok(Command::MyTasks(arg.map(str::to_string))),
            "review" => Command::Review,
            "server" => Command::Server,
            "decisions" => Command::Decisions,
            _ => {
                return Err(format!(
                    "unknown command {name:?}; the commands are {}",
                    Command::NAMES.join(", ")
                ));
            }
        };
        match arg {
            Some(arg) => {
                Err(format!("{lower} takes no argument (got {arg:?}); only mytasks takes one, the owner"))
            }
            None => Ok(command),
        }
    }

    /// The command's name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::Today => "today",
            Command::Next => "next",
            Command::Projects => "projects",
            Command::Blocked => "blocked",
            Command::Inbox => "inbox",
            Command::Triage => "triage",
            Command::Assign => "assign",
            Command::MyTasks(_) => "mytasks",
            Command::Review => "review",
            Command::Server => "server",
            Command::Decisions => "decisions",
        }
    }
}

/// A chat message as a command and its argument: `/status`, `status`, `mytasks Subagent:QA`,
/// `/mytasks@MyBot QA` (Telegram appends the bot's name in groups). `inbox SOME TEXT` comes
/// back as [`Command::Inbox`] with the text as the argument: adding the item is the caller's.
pub fn parse_line(line: &str) -> Result<(Command, Option<String>), String> {
    let line = line.trim();
    let (head, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let name = head.strip_prefix('/').unwrap_or(head);
    let name = name.split_once('@').map_or(name, |(name, _bot)| name);
    if name.is_empty() {
        return Err(format!("empty command; the commands are {}", Command::NAMES.join(", ")));
    }
    let arg = Some(rest.trim()).filter(|a| !a.is_empty());
    let command = Command::parse(name, arg)?;
    Ok((command, arg.map(str::to_string)))
}

/// Answers a command from the view.
pub fn answer(command: &Command, view: &View) -> Reply {
    let mut reply = match command {
        Command::Status => health::status(view),
        Command::Today => today::today(view),
        Command::Next => next::next(view),
        Command::Projects => health::projects(view),
        Command::Blocked => work::blocked(view),
        Command::Inbox => queue::inbox(view),
        Command::Triage => queue::triage(view),
        Command::Assign => queue::assign(view),
        Command::MyTasks(owner) => work::mytasks(view, owner.as_deref()),
        Command::Review => work::review(view),
        Command::Server => health::server(view),
        Command::Decisions => decisions::decisions(view),
    };
    if let Value::Object(map) = &mut reply.json {
        map.insert("command".to_string(), command.name().into());
    }
    crate::redact::redact_json(&mut reply.json);
    reply.text = crate::redact::redact(&reply.text).into_owned();
    reply
}

impl View<'_> {
    /// The answer's JSON, built only when it is wanted (`null` otherwise).
    fn json(&self, build: impl FnOnce() -> Value) -> Value {
        if self.wants_json { build() } else { Value::Null }
    }
}

/// Where an answer came from, for its JSON.
fn source(live: bool) -> Value {
    Value::from(if live { "live" } else { "docs" })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list too long for one reply stops formatting at the limit and counts the rest, and a
    /// reply whose JSON is not wanted has the same text.
    #[test]
    fn long_lists_count_what_does_not_fit_with_or_without_json() {
        use crate::work::Status;
        let mut f = testing::Fixture::new();
        let template = f.board.tasks.values().next().expect("a task").clone();
        for (n, status) in [(3000, Status::Blocked), (3000, Status::Review), (3000, Status::Active)] {
            for i in 0..n {
                let mut t = template.clone();
                t.id = format!("x{status}{i}");
                t.seq = 1_000_000 + i as u64;
                t.status = status;
                t.owner = Some("Fakker".to_string());
                t.blocker = Some("a long wait".to_string());
                f.board.tasks.insert(t.id.clone(), t);
            }
        }
        for command in
            [Command::Blocked, Command::Review, Command::MyTasks(Some("Fakker".into())), Command::Inbox]
        {
            let with = answer(&command, &f.view());
            let without = answer(&command, &View { wants_json: false, ..f.view() });
            assert_eq!(with.text, without.text, "{command:?}");
            assert_eq!(without.json, Value::Null, "{command:?}");
            let listed = match &command {
                Command::Inbox => with.json["items"].as_array().map(Vec::len),
                Command::MyTasks(_) => Some(with.json["count"].as_u64().unwrap_or(0) as usize),
                _ => with.json["tasks"].as_array().map(Vec::len),
            }
            .expect("a list");
            let shown = with.text.lines().filter(|l| l.starts_with('`') || l.starts_with("- `")).count();
            let more =
                with.text.lines().last().and_then(|l| l.strip_prefix('+')).and_then(|l| l.split(' ').next());
            if listed > 100 {
                let more: usize =
                    more.and_then(|m| m.parse().ok()).unwrap_or_else(|| panic!("{command:?}: {}", with.text));
                assert!(
                    shown > 0 && shown + more >= listed - 10 && shown + more <= listed + 10,
                    "{command:?}: {shown} + {more} of {listed}"
                );
            }
        }
    }

    #[test]
    fn chat_lines() {
        let ok = |line: &str| parse_line(line).expect(line);
        assert_eq!(ok("/status"), (Command::Status, None));
        assert_eq!(ok("status"), (Command::Status, None));
        assert_eq!(ok("  /status@mission_bot  "), (Command::Status, None));
        assert_eq!(ok("STATUS"), (Command::Status, None));
        assert_eq!(ok("mytasks QA"), (Command::MyTasks(Some("QA".into())), Some("QA".into())));
        assert_eq!(ok("/mytasks@MyBot QA"), (Command::MyTasks(Some("QA".into())), Some("QA".into())));
        assert_eq!(
            ok("mytasks Subagent:QA"),
            (Command::MyTasks(Some("Subagent:QA".into())), Some("Subagent:QA".into()))
        );
        assert_eq!(ok("/mytasks"), (Command::MyTasks(None), None));
        assert_eq!(ok("inbox buy a new  disk\nsoon"), (Command::Inbox, Some("buy a new  disk\nsoon".into())));
        assert_eq!(ok("/inbox"), (Command::Inbox, None));

        let err = parse_line("/deploy now").unwrap_err();
        assert_eq!(
            err,
            "unknown command \"deploy\"; the commands are status, today, next, projects, blocked, \
             inbox, triage, assign, mytasks, review, server, decisions"
        );
        assert!(parse_line("status please").unwrap_err().starts_with("status takes no argument"));
        assert!(parse_line("/").unwrap_err().starts_with("empty command"));
        assert!(parse_line("").is_err());
    }

    /// Every command over a workspace far too big for one message: each reply stays under the
    /// limit, is valid Markdown and ends with `+N more`.
    #[test]
    fn ten_thousand_of_everything() {
        use crate::commands::testing::{Fixture, assert_reply, entity};
        use crate::config::Level;
        use crate::work::{Status, Task};

        let mut f = Fixture::new();
        let now = f.now;
        for i in 0..10_000u64 {
            let level = if i % 2 == 0 { Level::Failed } else { Level::Stale };
            let mut e = entity("routine", &format!("r_{i}"), level, "Overdue", &"late_*x ".repeat(40));
            e.name = format!("routine *{i}* with a_long_name");
            f.live.routines.push(e.into());
            f.live
                .projects
                .push(entity("project", &format!("p{i}"), Level::Warning, "TaskBlocked", "x").into());
            let id = format!("x{i}");
            let mut t = Task::new(&id, 1_000 + i, &format!("task_{i} *with* `marks` [and] more"), "cli", now);
            match i % 5 {
                0 => {}
                1 => t.status = Status::Triaged,
                2 => (t.status, t.blocker) = (Status::Blocked, Some("waiting_on *x*".into())),
                3 => t.status = Status::Review,
                _ => t.status = Status::Active,
            }
            if i % 5 >= 2 {
                t.owner = Some("Fakker".into());
            }
            f.board.tasks.insert(id, t);
            f.events.push(crate::events::Event {
                seq: 100_000 + i,
                timestamp: now,
                kind: "health.changed".into(),
                source: "reconciler".into(),
                entity_type: "routine".into(),
                entity_id: format!("r_{i}"),
                status: "failed".into(),
                message: String::new(),
                data: Some(serde_json::json!({"from": "healthy", "reason": "Overdue"})),
            });
        }
        let sections: String = (0..10_000)
            .map(|i| {
                format!(
                    "## 2026-01-01: decision_{i}

why *{i}*

"
                )
            })
            .collect();
        f.docs.decisions = Some(sections);
        let view = f.view();
        for name in Command::NAMES {
            let command = Command::parse(name, None).expect(name);
            let reply = answer(&command, &view);
            assert_reply(&reply);
            let last = reply.text.lines().last().unwrap_or_default();
            let n = last
                .strip_prefix('+')
                .and_then(|l| l.strip_suffix(" more"))
                .and_then(|n| n.parse::<u64>().ok());
            assert!(n.is_some_and(|n| n > 0), "{name} ends with {last:?}");
            assert!(reply.text.chars().count() < 4096, "{name}");
        }
    }

    /// Names and titles full of Markdown never break a reply.
    #[test]
    fn markdown_in_names_is_escaped() {
        use crate::commands::testing::{Fixture, assert_reply, entity};
        use crate::config::Level;

        let mut f = Fixture::new();
        let mut e = entity("integration", "a_b", Level::Failed, "Probe_Failing", "error *bad* `x` [y]");
        e.name = "a_b*c".into();
        e.since = Some(f.now - chrono::Duration::hours(3));
        f.live.integrations.push(e.into());
        if let Some(t) = f.board.tasks.get_mut("t3") {
            t.title = "fix a_b*c [now] `x`".into();
        }
        let view = f.view();
        for name in Command::NAMES {
            let reply = answer(&Command::parse(name, None).expect(name), &view);
            assert_reply(&reply);
        }
        let status = answer(&Command::Status, &view);
        assert!(
            status.text.contains(
                "`integration/a_b` (a\\_b\\*c): failed (Probe\\_Failing) error \\*bad\\* \\`x\\` \\[y]"
            ),
            "{}",
            status.text
        );
        assert_eq!(status.json["unhealthy"][0]["name"], "a_b*c");
        let blocked = answer(&Command::Blocked, &view);
        assert!(blocked.text.contains("fix a\\_b\\*c \\[now] \\`x\\`"), "{}", blocked.text);
    }

    #[test]
    fn every_name_parses_back() {
        for name in Command::NAMES {
            let arg = None;
            let command = Command::parse(name, arg).expect(name);
            assert_eq!(command.name(), name);
        }
    }
}
