//! How a reply reads on a phone: Telegram's legacy `Markdown`, the size limit, relative times
//! and short numbers.
//!
//! Legacy Markdown has four entities (`*bold*`, `_italic_`, `` `code` ``, `[link](url)`), no
//! nesting, and no escaping inside an entity: a stray `_` or `*` in a task title opens an
//! entity that never closes, and Telegram then refuses the whole message. So only fixed words
//! are ever put inside `*..*` or `_.._`; text that comes from people or programs is escaped
//! ([`esc`]: a backslash before `_`, `*`, `` ` `` and `[`), or shown as code ([`code`]), whose
//! content is literal up to the next backtick (so a backtick inside becomes `'`).
//!
//! Every piece of outside text is redacted *before* it is clipped and escaped, because a secret
//! cut in half or split by a backslash would no longer match its pattern; [`Lines`] redacts each
//! finished line once more before measuring it.
//!
//! [`Lines`] keeps a reply under [`MAX_UNITS`]: a line or an item (a block of lines that belong
//! together) is added whole or not at all, and once one item does not fit, none after it is
//! added and the reply ends with `+N more`.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::Level;
use crate::redact::redact;

/// The longest reply, in UTF-16 code units (what Telegram counts): below its 4096 with room to
/// spare for a caller's prefix.
pub const MAX_UNITS: usize = 4000;

/// Room kept for the closing `\n+N more` line whatever `N` is.
const MORE_RESERVE: usize = 32;

/// The longest piece of outside text (a message, an error, a blocker) inside one line.
pub const FIELD_CHARS: usize = 200;

/// Length as Telegram counts it: UTF-16 code units.
pub fn units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Escapes text for legacy Markdown: outside text, already redacted and clipped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '_' | '*' | '`' | '[') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Outside text for a line: redacted, clipped to [`FIELD_CHARS`], on one line, escaped.
pub fn esc(text: &str) -> String {
    escape(&clip(&one_line(&redact(text)), FIELD_CHARS))
}

/// Outside text as code: redacted, clipped, on one line, backticks turned into `'`.
pub fn code(text: &str) -> String {
    format!("`{}`", clip(&one_line(&redact(text)), FIELD_CHARS).replace('`', "'"))
}

/// A line the owner wrote in the docs layer: their `` `code` `` spans stay code, everything
/// else is escaped, so a runbook's command still reads as one.
pub fn docs_text(text: &str) -> String {
    let redacted = redact(text);
    let line = one_line(&redacted);
    let text = clip(&line, FIELD_CHARS);
    let parts: Vec<&str> = text.split('`').collect();
    // An even number of parts means an unmatched backtick: the last part is plain text.
    let paired = if parts.len().is_multiple_of(2) { parts.len() - 1 } else { parts.len() };
    let mut out = String::with_capacity(text.len() + 8);
    for (i, part) in parts.iter().enumerate() {
        if i >= paired {
            out.push_str("\\`");
            out.push_str(&escape(part));
        } else if i % 2 == 1 && !part.is_empty() {
            out.push('`');
            out.push_str(part);
            out.push('`');
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

/// Text in at most `max` characters, ended with `…` when cut.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.chars().count() <= max {
        return Cow::Borrowed(text);
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    Cow::Owned(cut)
}

/// Line breaks and tabs as spaces, so one field never breaks a line in two.
fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\r', '\t']) {
        Cow::Owned(text.replace(['\n', '\r', '\t'], " "))
    } else {
        Cow::Borrowed(text)
    }
}

/// The level's word, as in the API.
pub fn level_name(level: Level) -> &'static str {
    level.as_str()
}

/// A coloured dot that goes before a level's word, never instead of it.
pub fn level_dot(level: Level) -> &'static str {
    match level {
        Level::Healthy => "🟢",
        Level::Unknown => "⚪",
        Level::Warning => "🟡",
        Level::Stale => "🟠",
        Level::Failed => "🔴",
    }
}

/// `🔴 *FAILED*`: bad levels shout, good ones do not.
pub fn level_badge(level: Level) -> String {
    let word = match level {
        Level::Healthy | Level::Unknown => level_name(level).to_string(),
        _ => level_name(level).to_uppercase(),
    };
    format!("{} *{word}*", level_dot(level))
}

/// `3m ago`, `in 2h`, `just now`.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    let human = |s: i64| crate::duration::human(Duration::from_secs(s.unsigned_abs()));
    match secs {
        0 => "just now".to_string(),
        s if s > 0 => format!("{} ago", human(s)),
        s => format!("in {}", human(s)),
    }
}

/// `07:15` in the owner's time zone.
pub fn clock(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

pub use crate::work::money;

/// `950`, `12.3k`, `4.1M` tokens.
pub fn count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3).replace(".0k", "k"),
        _ => format!("{:.1}M", n as f64 / 1e6).replace(".0M", "M"),
    }
}

/// A serde enum's name (`support_debug_item`, `high`).
pub fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The first line of a docs-layer answer: `_from_ `FILE` _(no live state yet)_`. The file
/// name stays out of the italics, where its `_` would end them.
pub fn from_docs(file: &str, live: bool) -> String {
    if live { format!("_from_ `{file}`") } else { format!("_from_ `{file}` _(no live state yet)_") }
}

/// A reply under construction, kept under [`MAX_UNITS`].
#[derive(Debug, Default)]
pub struct Lines {
    text: String,
    units: usize,
    /// A heading waiting for the first item under it: a heading alone is never shown.
    pending: Option<String>,
    hidden: usize,
    full: bool,
}

impl Lines {
    pub fn new() -> Lines {
        Lines::default()
    }

    /// A line that is not an item (a headline, a summary). It is dropped, uncounted, when it
    /// does not fit; lines like these are short and come first, so in practice they always do.
    pub fn line(&mut self, line: impl AsRef<str>) {
        if !self.full {
            let line = redact(line.as_ref()).into_owned();
            if self.fits(units(&line)) {
                self.push(&line);
            }
        }
    }

    /// A heading for the items that follow; shown with the first of them that fits.
    pub fn heading(&mut self, line: impl Into<String>) {
        self.pending = Some(line.into());
    }

    /// One item (one line, or several that belong together), added whole or counted in the
    /// closing `+N more`. Once an item does not fit, no later one is added, so the reply
    /// keeps the order of the list and what is missing is the end of it.
    pub fn item(&mut self, block: impl AsRef<str>) {
        if self.full {
            self.hidden += 1;
            return;
        }
        let block = redact(block.as_ref()).into_owned();
        let heading = self.pending.as_deref().map(|h| redact(h).into_owned());
        let need = units(&block) + heading.as_deref().map_or(0, |h| units(h) + 1);
        if !self.fits(need) {
            self.full = true;
            self.hidden += 1;
            return;
        }
        if let Some(heading) = heading {
            self.push(&heading);
        }
        self.pending = None;
        self.push(&block);
    }

    /// Whether no further item will be shown: a long list stops formatting its items here
    /// and counts the rest with [`Lines::hidden`].
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Several items counted at once without being shown (a list cut on purpose).
    pub fn hidden(&mut self, n: usize) {
        if n > 0 {
            self.full = true;
            self.hidden += n;
        }
    }

    /// The reply, ending with `+N more` when items were left out.
    pub fn finish(mut self) -> String {
        if self.hidden > 0 {
            let more = format!("+{} more", self.hidden);
            self.push(&more);
        }
        self.text
    }

    fn fits(&self, line_units: usize) -> bool {
        let newline = usize::from(!self.text.is_empty());
        self.units + newline + line_units + MORE_RESERVE <= MAX_UNITS
    }

    fn push(&mut self, line: &str) {
        if !self.text.is_empty() {
            self.text.push('\n');
            self.units += 1;
        }
        self.text.push_str(line);
        self.units += units(line);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Checks a reply the way Telegram's legacy Markdown parser reads it: an escaped special
    /// character is literal, an entity runs to the next copy of its character (with no escapes
    /// inside), and an entity that never closes makes Telegram refuse the message.
    pub fn check_markdown(text: &str) -> Result<(), String> {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && chars.get(i + 1).is_some_and(|n| matches!(n, '_' | '*' | '`' | '[')) {
                i += 2;
                continue;
            }
            match c {
                '[' => return Err(format!("unescaped [ at {i} in {text:?}")),
                '_' | '*' | '`' => {
                    let close = chars[i + 1..].iter().position(|&x| x == c);
                    match close {
                        Some(0) if c != '`' => return Err(format!("empty {c} entity at {i} in {text:?}")),
                        Some(n) => i += n + 2,
                        None => return Err(format!("unclosed {c} at {i} in {text:?}")),
                    }
                }
                _ => i += 1,
            }
        }
        Ok(())
    }

    #[test]
    fn the_checker_knows_broken_markdown() {
        assert!(check_markdown("*bold* and _it_ and `a_b*c` and a\\_b\\*c\\[d\\`e").is_ok());
        for bad in ["a_b", "*x", "`x", "[x](y)", "_from MISSION_CONTROL.md_"] {
            assert!(check_markdown(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(esc("a_b*c `d` [e]"), "a\\_b\\*c \\`d\\` \\[e]");
        assert_eq!(code("a_b`c"), "`a_b'c`");
        assert_eq!(docs_text("run `systemctl status x_y` now_ok"), "run `systemctl status x_y` now\\_ok");
        assert_eq!(docs_text("odd ` tick_"), "odd \\` tick\\_");
        assert_eq!(docs_text("a `b` c `d"), "a `b` c \\`d");
        assert_eq!(esc("two\nlines"), "two lines");
        for text in [esc("x_y*z`w[v"), docs_text("`a` b_c `d"), code("a*b_c")] {
            assert!(check_markdown(&text).is_ok(), "{text}");
        }
    }

    #[test]
    fn secrets_are_masked_before_clipping_and_escaping() {
        let secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
        let text = format!("key {secret} and more {}", "x".repeat(300));
        let shown = esc(&text);
        assert!(!shown.contains("abcdefghij"), "{shown}");
        assert!(shown.starts_with("key \\[REDACTED]"), "{shown}");
        assert!(shown.ends_with('…'));
        assert_eq!(shown.chars().count(), FIELD_CHARS + 1, "one backslash before the mask");
    }

    #[test]
    fn times_and_numbers() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let cases = [(-180, "3m ago"), (-3 * 3600, "3h ago"), (7200, "in 2h"), (0, "just now")];
        for (offset, text) in cases {
            assert_eq!(ago(now + chrono::Duration::seconds(offset), now), text);
        }
        assert_eq!(
            [money(0.0), money(0.48), money(0.0081), money(12.5), money(3.0)],
            ["0", "0.48", "0.0081", "12.5", "3"]
        );
        assert_eq!(
            [count(950), count(12_300), count(1_000), count(4_100_000)],
            ["950", "12.3k", "1k", "4.1M"]
        );
        assert_eq!(level_badge(Level::Failed), "🔴 *FAILED*");
        assert_eq!(level_badge(Level::Healthy), "🟢 *healthy*");
    }

    #[test]
    fn lines_stop_whole_and_say_how_many_more() {
        let mut lines = Lines::new();
        lines.line("head");
        lines.heading("*Items*");
        for i in 0..1000 {
            lines.item(format!("item {i}\n  detail {i}"));
        }
        let text = lines.finish();
        assert!(units(&text) <= MAX_UNITS);
        let last = text.lines().last().unwrap_or_default();
        let shown = text.matches("item ").count();
        assert_eq!(last, format!("+{} more", 1000 - shown));
        assert_eq!(text.matches("detail ").count(), shown, "an item is never cut in two");
        assert!(text.starts_with("head\n*Items*\nitem 0\n"));
        // A heading with nothing under it is not shown.
        let mut empty = Lines::new();
        empty.line("head");
        empty.heading("*Nothing*");
        assert_eq!(empty.finish(), "head");
    }
}
