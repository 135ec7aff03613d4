//! `decisions`: the `## ` sections of `DECISIONS.md`, newest first, each as its title and
//! first line. Decisions live only in the docs layer, so live state changes nothing here.

use serde_json::json;

use super::docs;
use super::render::{Lines, docs_text, esc};
use super::{Reply, View, source};

const FILE: &str = "DECISIONS.md";

/// `decisions`.
pub fn decisions(view: &View) -> Reply {
    let Some(text) = view.docs.decisions.as_deref() else {
        let text =
            format!("*Decisions*: none recorded; write them as `## YYYY-MM-DD: title` sections of `{FILE}`");
        return Reply { text, json: json!({"source": "none", "file": FILE, "decisions": []}) };
    };
    let decisions = docs::decisions(text);
    let mut lines = Lines::new();
    lines.line(format!("*Decisions*: {}, newest first _from_ `{FILE}`", decisions.len()));
    for d in &decisions {
        let mut line = match d.date {
            Some(date) => format!("{date}: {}", esc(d.title)),
            None => esc(d.title),
        };
        if let Some(summary) = d.summary {
            line.push_str(" — ");
            line.push_str(&docs_text(summary));
        }
        lines.item(line);
    }
    let items: Vec<_> = decisions
        .iter()
        .map(|d| json!({"date": d.date.map(|d| d.to_string()), "title": d.title, "summary": d.summary}))
        .collect();
    let json = json!({"source": source(false), "file": FILE, "decisions": items});
    Reply { text: lines.finish(), json }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{Fixture, assert_reply};
    use crate::commands::{Command, answer};

    #[test]
    fn newest_first_whatever_the_source() {
        for f in [Fixture::new(), Fixture::docs_only()] {
            let r = answer(&Command::Decisions, &f.view());
            assert_reply(&r);
            let lines: Vec<&str> = r.text.lines().collect();
            assert_eq!(lines[0], "*Decisions*: 3, newest first _from_ `DECISIONS.md`");
            assert_eq!(
                lines[1],
                "2026-11-30: Weekly releases on Fridays — Smaller releases, every week, with the owner's \
                 approval as the last step."
            );
            assert!(
                lines[2].starts_with("2026-11-18: One daemon per host over one shared workspace — Each host")
            );
            assert!(lines[2].contains("(`select`)"), "{}", lines[2]);
            assert!(lines[3].starts_with("2026-11-02: Alerts go through Telegram first"));
            assert_eq!(r.json["decisions"][0]["date"], "2026-11-30");
            assert_eq!(r.json["source"], "docs");
        }
        let r = answer(&Command::Decisions, &Fixture::empty().view());
        assert_reply(&r);
        assert!(r.text.starts_with("*Decisions*: none recorded"));
    }
}
