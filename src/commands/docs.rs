//! Reading the docs layer (`MISSION_CONTROL.md`, `PROJECTS.md`, `TASKS.md`, `DECISIONS.md`,
//! `RUNBOOKS.md`): the owner's own Markdown, which the chat commands fall back on when there is
//! no live state, and which `server` and `next` read for runbook steps.
//!
//! The files are free text, so reading is forgiving: a heading is a line starting with `#`
//! outside a code fence, a section runs to the next heading, a step is the first numbered
//! (`1.`, `1)`) or bulleted (`-`, `*`, `+`) line of a section. Nothing here fails; a file that
//! does not follow the pattern simply yields fewer items.

use chrono::NaiveDate;

/// One heading and the lines under it, up to the next heading of any level.
#[derive(Debug, Clone, PartialEq)]
pub struct Section<'a> {
    /// The number of `#`s.
    pub level: usize,
    pub title: &'a str,
    pub body: Vec<&'a str>,
}

impl<'a> Section<'a> {
    /// The first non-empty line of the body.
    pub fn first_line(&self) -> Option<&'a str> {
        self.body.iter().map(|l| l.trim()).find(|l| !l.is_empty())
    }

    /// The first numbered or bulleted line, without its marker.
    pub fn first_step(&self) -> Option<&'a str> {
        self.body.iter().find_map(|l| list_item(l))
    }
}

/// The sections of a file, in order; text before the first heading is not in any.
pub fn sections(text: &str) -> Vec<Section<'_>> {
    let mut out: Vec<Section> = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
        }
        if !fenced && let Some((level, title)) = heading(line) {
            out.push(Section { level, title, body: Vec::new() });
        } else if let Some(section) = out.last_mut() {
            section.body.push(line);
        }
    }
    out
}

/// `## Title` as `(2, "Title")`.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    let rest = &line[level..];
    let valid = (1..=6).contains(&level) && (rest.is_empty() || rest.starts_with([' ', '\t']));
    valid.then(|| (level, rest.trim().trim_end_matches('#').trim()))
}

/// A numbered or bulleted line's text, without the marker and a task box (`[ ]`, `[x]`).
pub fn list_item(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let rest = if let Some(rest) = t.strip_prefix(['-', '*', '+']) {
        rest
    } else {
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        t[digits..].strip_prefix(['.', ')']).filter(|_| digits > 0)?
    };
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim();
    let rest = ["[ ]", "[x]", "[X]"].iter().find_map(|b| rest.strip_prefix(b)).unwrap_or(rest).trim();
    (!rest.is_empty()).then_some(rest)
}

/// Whether a list line is a checked task box (`- [x] ...`).
pub fn is_checked(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches(['-', '*', '+']).trim_start();
    t.starts_with("[x]") || t.starts_with("[X]")
}

/// The file's first `n` non-empty lines outside code fences, headings without their `#`s.
pub fn first_lines(text: &str, n: usize) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            let fence = line.trim_start().starts_with("```");
            fenced ^= fence;
            !fence && !fenced && !line.trim().is_empty()
        })
        .map(|line| heading(line).map_or(line.trim(), |(_, title)| title))
        .take(n)
        .collect()
}

/// How an entity's `runbook:` reads against `RUNBOOKS.md`.
#[derive(Debug, Clone, PartialEq)]
pub enum Runbook {
    /// The configuration does not load, so whether there is a runbook is not known.
    Unknown,
    /// The entity's YAML has no `runbook:`.
    None,
    /// A heading of `RUNBOOKS.md` with its first step.
    Step { name: String, step: String },
    /// A heading of `RUNBOOKS.md` with no numbered or bulleted line under it.
    NoSteps { name: String },
    /// A path, not a heading.
    Path { path: String },
    /// A name that is no heading of `RUNBOOKS.md` (or there is no such file).
    Missing { name: String, file: bool },
}

impl Runbook {
    /// Whether the entity declares one, found or not.
    pub fn declared(&self) -> bool {
        !matches!(self, Runbook::Unknown | Runbook::None)
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Runbook::Step { name, .. } | Runbook::NoSteps { name } | Runbook::Missing { name, .. } => {
                Some(name)
            }
            Runbook::Path { path } => Some(path),
            Runbook::Unknown | Runbook::None => None,
        }
    }

    pub fn step(&self) -> Option<&str> {
        match self {
            Runbook::Step { step, .. } => Some(step),
            _ => None,
        }
    }

    /// The next step as a line of Markdown.
    pub fn markdown(&self) -> String {
        use super::render::{code, docs_text, esc};
        match self {
            Runbook::Unknown => "runbook unknown: the configuration does not load".to_string(),
            Runbook::None => "no runbook: add `runbook:` to its YAML".to_string(),
            Runbook::Step { name, step } => {
                format!("next step: {} (runbook: {})", docs_text(step), esc(name))
            }
            Runbook::NoSteps { name } => format!("runbook: {} (no numbered step under it)", esc(name)),
            Runbook::Path { path } => format!("runbook: {}", code(path)),
            Runbook::Missing { name, file: true } => {
                format!("runbook {} is not a heading of `RUNBOOKS.md`", esc(name))
            }
            Runbook::Missing { name, file: false } => {
                format!("runbook {} (there is no `RUNBOOKS.md`)", esc(name))
            }
        }
    }
}

/// Finds a runbook by the name an entity gives: a heading of `RUNBOOKS.md` matched without
/// regard to case (or `RUNBOOKS.md#slug` by its GitHub-style anchor), else a path.
pub fn runbook(runbooks: Option<&str>, name: &str) -> Runbook {
    let name = name.trim();
    let anchor = name.rsplit_once('#').map(|(_, a)| a.to_ascii_lowercase());
    let found = runbooks.and_then(|text| {
        sections(text).into_iter().find(|s| {
            s.title.to_lowercase() == name.to_lowercase()
                || anchor.as_deref().is_some_and(|a| slug(s.title) == a)
        })
    });
    match found {
        Some(section) => match section.first_step() {
            Some(step) => Runbook::Step { name: section.title.to_string(), step: step.to_string() },
            None => Runbook::NoSteps { name: section.title.to_string() },
        },
        None if name.contains('/') || name.ends_with(".md") => Runbook::Path { path: name.to_string() },
        None => Runbook::Missing { name: name.to_string(), file: runbooks.is_some() },
    }
}

/// A heading's anchor as GitHub makes it: lower case, spaces to `-`, punctuation dropped.
fn slug(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// One `## ` section of `DECISIONS.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    /// The date the heading starts with, when it does (`2026-11-30: ...`).
    pub date: Option<NaiveDate>,
    /// The heading without its date.
    pub title: &'a str,
    pub summary: Option<&'a str>,
}

/// The decisions, newest first: by the date at the start of each heading, and in reverse file
/// order among equal dates; headings without a date come after the dated ones, last written
/// first.
pub fn decisions(text: &str) -> Vec<Decision<'_>> {
    let mut out: Vec<Decision> = sections(text)
        .into_iter()
        .filter(|s| s.level == 2)
        .map(|s| {
            let date = s.title.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            let title = match date {
                Some(_) => s.title[10..].trim_start_matches([':', ' ', '-', '–', '—']).trim(),
                None => s.title,
            };
            let title = if title.is_empty() { s.title } else { title };
            Decision { date, title, summary: s.first_line() }
        })
        .collect();
    out.reverse();
    // Stable: equal dates (and the undated) keep the reversed file order.
    out.sort_by(|a, b| b.date.is_some().cmp(&a.date.is_some()).then(b.date.cmp(&a.date)));
    out
}

/// Each `## ` heading of `PROJECTS.md` with its status line: the first line of the section
/// that starts with `Status`, else its first line.
pub fn projects(text: &str) -> Vec<(&str, Option<&str>)> {
    sections(text)
        .into_iter()
        .filter(|s| s.level == 2)
        .map(|s| {
            let status = s
                .body
                .iter()
                .map(|l| l.trim())
                .find(|l| l.get(..6).is_some_and(|w| w.eq_ignore_ascii_case("status")))
                .or_else(|| s.first_line());
            (s.title, status)
        })
        .collect()
}

/// The list lines of a file (`- ...`, `1. ...`) that are not checked off, trimmed, in order.
pub fn open_items(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !is_checked(l)).filter_map(list_item).collect()
}

/// The non-heading lines of a file that mention `word` (case-insensitive), trimmed.
pub fn lines_mentioning<'a>(text: &'a str, word: &str) -> Vec<&'a str> {
    let word = word.to_lowercase();
    text.lines()
        .filter(|l| heading(l).is_none() && l.to_lowercase().contains(&word))
        .map(|l| list_item(l).unwrap_or(l.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNBOOKS: &str = "# Runbooks\n\n## Gateway down\n\nIntro text.\n\n1. Check the gateway: \
        `systemctl status gw`.\n2. Restart it.\n\n## Backup missing\n\n- Look for the newest log.\n\n\
        ## Empty one\n\nJust prose.\n\n```sh\n# not a heading\n```\n";

    #[test]
    fn sections_and_steps() {
        let s = sections(RUNBOOKS);
        let titles: Vec<&str> = s.iter().map(|s| s.title).collect();
        assert_eq!(titles, ["Runbooks", "Gateway down", "Backup missing", "Empty one"]);
        assert_eq!(s[1].first_step(), Some("Check the gateway: `systemctl status gw`."));
        assert_eq!(s[2].first_step(), Some("Look for the newest log."));
        assert_eq!(s[3].first_step(), None);
        assert_eq!(list_item("#hashtag"), None);
        assert_eq!(list_item("12) twelfth"), Some("twelfth"));
        assert_eq!(list_item("- [ ] open box"), Some("open box"));
        assert_eq!(list_item("-not a list"), None);
        assert_eq!(list_item("2026-11-02 date"), None);
    }

    #[test]
    fn runbooks_by_heading_anchor_or_path() {
        let r = Some(RUNBOOKS);
        assert_eq!(
            runbook(r, "gateway DOWN"),
            Runbook::Step {
                name: "Gateway down".into(),
                step: "Check the gateway: `systemctl status gw`.".into()
            }
        );
        assert_eq!(runbook(r, "RUNBOOKS.md#backup-missing").step(), Some("Look for the newest log."));
        assert_eq!(runbook(r, "Empty one"), Runbook::NoSteps { name: "Empty one".into() });
        assert_eq!(runbook(r, "docs/ops/gw.md"), Runbook::Path { path: "docs/ops/gw.md".into() });
        assert_eq!(runbook(r, "Nope"), Runbook::Missing { name: "Nope".into(), file: true });
        assert_eq!(runbook(None, "Nope"), Runbook::Missing { name: "Nope".into(), file: false });
        assert!(runbook(None, "Nope").declared());
        assert!(!Runbook::None.declared());
    }

    #[test]
    fn decisions_newest_first() {
        let text = "# Decisions\n\n## 2026-11-02: First\n\nOne.\n\n## Undated A\n\nA.\n\n\
                    ## 2026-11-30 - Third\n\nThree.\n\n## 2026-11-18: Second\nTwo.\n## Undated B\n";
        let d = decisions(text);
        let got: Vec<(Option<String>, &str, Option<&str>)> =
            d.iter().map(|d| (d.date.map(|d| d.to_string()), d.title, d.summary)).collect();
        assert_eq!(
            got,
            vec![
                (Some("2026-11-30".into()), "Third", Some("Three.")),
                (Some("2026-11-18".into()), "Second", Some("Two.")),
                (Some("2026-11-02".into()), "First", Some("One.")),
                (None, "Undated B", None),
                (None, "Undated A", Some("A.")),
            ]
        );
        let undated = decisions("## a\n## b\n## c\n");
        assert_eq!(undated.iter().map(|d| d.title).collect::<Vec<_>>(), ["c", "b", "a"]);
    }

    #[test]
    fn projects_tasks_and_first_lines() {
        let p = projects(
            "# Projects\n\n## MC\n\nIntro.\nStatus: active. Owner: Fakker.\n\n## Other\n\nNo status.\n",
        );
        assert_eq!(p, vec![("MC", Some("Status: active. Owner: Fakker.")), ("Other", Some("No status."))]);
        let tasks =
            "# Tasks\n\n- [ ] Open one (QA, high)\n- [x] Done one\n* [ ] Blocked: waiting\ntext blocked\n";
        assert_eq!(open_items(tasks), ["Open one (QA, high)", "Blocked: waiting"]);
        assert_eq!(lines_mentioning(tasks, "BLOCKED"), ["Blocked: waiting", "text blocked"]);
        assert_eq!(first_lines("# Title\n\n```\ncode\n```\nBody\n", 5), ["Title", "Body"]);
    }
}
