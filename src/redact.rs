//! Secret handling for everything that leaves the process (SPEC section 12): the one
//! [`Redactor`] that events, logs, live state, the API, metrics, the dashboard, alerts and
//! command output pass through, and [`find_secrets`], which config loading uses to refuse
//! literal secrets in desired, rules and settings files. Both share one table of patterns,
//! compiled once, so what loading refuses and what output masks cannot drift apart.
//!
//! # Patterns
//!
//! | kind | what matches | what is masked |
//! | --- | --- | --- |
//! | `Telegram bot token` | 5-16 digits, `:`, exactly 35 of `[A-Za-z0-9_-]` (also inside `/bot<token>/` URLs) | the whole token |
//! | `API key (sk-...)` | `sk-` at a word start and at least 20 of `[A-Za-z0-9_-]` (`sk-proj-`, `sk-ant-`, ...) | the whole key |
//! | `GitHub token` | `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + at least 20 alphanumerics, `github_pat_` + at least 20 of `[A-Za-z0-9_]` | the whole token |
//! | `Slack token` | `xoxa-`/`xoxb-`/`xoxp-`/`xoxr-`/`xoxs-` + at least 10 of `[A-Za-z0-9-]` | the whole token |
//! | `AWS access key id` | `AKIA` (or `ASIA`) + 16 of `[0-9A-Z]`, as a whole word | the whole id |
//! | `JWT` | three base64url segments joined by `.`, the first starting `eyJ` (the signature may be empty) | the whole token |
//! | `PEM private key` | `-----BEGIN ... PRIVATE KEY-----` | the block through its `-----END ... PRIVATE KEY-----` line, or, when truncated, through the base64 body that follows |
//! | `Bearer token` | `Bearer` + at least 8 of the token68 charset `[A-Za-z0-9._~+/-]` then `=` padding; placeholders like `Bearer {}` never match | the token: `Bearer [REDACTED]` |
//! | `Basic credentials` | `Basic` + at least 8 base64 characters that look random (see below) | the credentials: `Basic [REDACTED]` |
//! | `URL with user info` | `scheme://user:pass@` or `scheme://token@` | the password (`https://user:[REDACTED]@host`), or the lone user part (`https://[REDACTED]@host`) |
//! | `URL query secret (token=...)` | `?` or `&`, then a key among `token`, `access_token`, `id_token`, `refresh_token`, `private_token`, `key`, `api_key`, `apikey`, `secret`, `client_secret`, `password`, `passwd`, `pwd`, `sig`, `signature`, `auth`, `x-amz-signature`, `x-amz-security-token` (any case), `=` and a non-empty value | the value: `?token=[REDACTED]` |
//! | header line (redaction only) | `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key` (any case), `:` and a value | the value, to the end of the line |
//!
//! Besides the patterns, the redactor masks every credential value registered with
//! [`Redactor::add_secret`] (resolved credentials), wherever it appears.
//!
//! # Where redaction and the scanner differ
//!
//! A false positive costs differently on each side: masking a harmless word in output is
//! cosmetic, while refusing a config file blocks the owner. So the scanner is stricter in two
//! places. Header lines are redaction-only, because in YAML `Authorization:` is also the key of
//! a legitimate `{credential: REF, format: "Bearer {}"}` value. And a `Bearer` token must
//! *look random* to be reported (a digit, a symbol other than a trailing `.`, or an upper-case
//! letter after the first character), so prose such as "uses Bearer authentication" loads; the
//! redactor still masks it. Two heuristics apply on both sides: `Basic` credentials must look
//! random, since "Basic authentication" is common prose, and a `scheme://user@host` URL
//! without a password counts only when the scheme is not `ssh`/`git`, where the user part is
//! a login name (`ssh://git@github.com/...`), not a token.
//!
//! # Guarantees
//!
//! [`Redactor::redact`] never panics and is idempotent: it re-applies the patterns until the
//! text stops changing (masking can create a new word boundary), so `redact(redact(x))`
//! equals `redact(x)`. When nothing matches it returns the input borrowed, after one pass of a
//! [`RegexSet`] and a substring search per registered credential. `redact` works on text:
//! a header value runs to the end of the line, so JSON must go through
//! [`Redactor::redact_json`] (which redacts each string on its own) before it is serialized,
//! never after. A [`SecretFinding`] carries the place and kind only, never the secret.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::{OnceLock, RwLock};

use regex::{Captures, Regex, RegexSet};
use serde_json::Value;

mod stream;

pub use stream::Redacted;

/// What every secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Registered credential values shorter than this (in chars) would mask ordinary text.
const MIN_SECRET_CHARS: usize = 4;

/// Redaction repeats until the text is stable; real inputs settle in two passes, the cap
/// only bounds pathological registered secrets that keep re-forming around the mask.
const MAX_PASSES: usize = 8;

/// One place a literal secret was found. Never holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFinding {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in chars.
    pub column: usize,
    /// What was found, e.g. `"Telegram bot token"`.
    pub kind: &'static str,
}

/// Scans text (a whole YAML file, comments included) for literal secrets, in text order.
/// A finding points at the start of the construct (the token, `Bearer`, the URL's scheme,
/// or a query key); a construct inside another one (a JWT after `Bearer`) is reported once.
pub fn find_secrets(text: &str) -> Vec<SecretFinding> {
    let compiled = compiled();
    // (whole match, where to point, kind)
    let mut hits: Vec<(Range<usize>, usize, &'static str)> = Vec::new();
    for index in compiled.set.matches(text).iter() {
        let rule = &RULES[index];
        if !rule.scanned {
            continue;
        }
        for caps in compiled.regexes[index].captures_iter(text) {
            if let (Some(hit), Some(whole)) = ((rule.select)(&caps, text, Mode::Scan), caps.get(0)) {
                hits.push((whole.range(), hit.at, rule.kind));
            }
        }
    }
    hits.sort_by_key(|(range, _, _)| (range.start, std::cmp::Reverse(range.end)));

    let mut findings = Vec::new();
    let mut covered_to = 0;
    let mut cursor = Cursor::default();
    for (range, at, kind) in hits {
        if range.start < covered_to {
            continue;
        }
        covered_to = range.end;
        let (line, column) = cursor.advance(text, at);
        findings.push(SecretFinding { line, column, kind });
    }
    findings
}

/// Walks a text forward once, turning byte offsets into 1-based line and char column.
#[derive(Default)]
struct Cursor {
    offset: usize,
    line_index: usize,
    line_start: usize,
}

impl Cursor {
    /// `to` must not be behind the previous call's offset, and must be a char boundary.
    fn advance(&mut self, text: &str, to: usize) -> (usize, usize) {
        if let Some(skipped) = text.get(self.offset..to) {
            for (i, b) in skipped.bytes().enumerate() {
                if b == b'\n' {
                    self.line_index += 1;
                    self.line_start = self.offset + i + 1;
                }
            }
            self.offset = to;
        }
        let column = text.get(self.line_start..to).map_or(0, |s| s.chars().count());
        (self.line_index + 1, column + 1)
    }
}

/// Masks secrets in text and JSON: the built-in patterns plus registered credential values.
pub struct Redactor {
    /// Resolved credential values; read on every redaction, written rarely.
    secrets: RwLock<Vec<String>>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Redactor {
    // Hand-written so that a Debug dump of a struct holding a Redactor never prints secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").field("secrets", &self.read_secrets().len()).finish()
    }
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor { secrets: RwLock::new(Vec::new()) }
    }

    /// Registers a resolved credential value so it is masked wherever it appears. Surrounding
    /// whitespace is dropped (a file's trailing newline is not the secret); values shorter
    /// than 4 chars, and values that occur inside the mask itself, are ignored: they would
    /// mask ordinary text or make redaction feed on its own output.
    pub fn add_secret(&self, value: &str) {
        let value = value.trim();
        if value.chars().count() < MIN_SECRET_CHARS || MASK.contains(value) {
            return;
        }
        // Credentials resolve at every use, so the common call is a no-op under a read lock.
        if self.read_secrets().iter().any(|known| known == value) {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !secrets.iter().any(|known| known == value) {
            secrets.push(value.to_owned());
        }
    }

    /// Masks every secret in `text`; borrows the input when there is nothing to mask.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for _ in 0..MAX_PASSES {
            match self.redact_pass(&out) {
                Some(next) => out = Cow::Owned(next),
                None => break,
            }
        }
        out
    }

    /// Redacts every string in a JSON value in place, object keys included; also masks the
    /// whole value of object keys named authorization, proxy-authorization, cookie,
    /// set-cookie, x-api-key (any case), and of any key ending in "token", "password" or
    /// "secret". A null stays null: there is nothing behind it to hide.
    pub fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let redacted = match self.redact(s) {
                    Cow::Owned(r) => Some(r),
                    Cow::Borrowed(_) => None,
                };
                if let Some(r) = redacted {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_json(item)),
            Value::Object(map) => {
                let renamed: Vec<(String, String)> = map
                    .keys()
                    .filter_map(|key| match self.redact(key) {
                        Cow::Owned(r) => Some((key.clone(), r)),
                        Cow::Borrowed(_) => None,
                    })
                    .collect();
                for (old, new) in renamed {
                    if let Some(v) = map.remove(&old) {
                        map.insert(new, v);
                    }
                }
                for (key, v) in map.iter_mut() {
                    if is_sensitive_key(key) && !v.is_null() {
                        *v = Value::String(MASK.to_owned());
                    } else {
                        self.redact_json(v);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn read_secrets(&self) -> std::sync::RwLockReadGuard<'_, Vec<String>> {
        // Writers only push whole values, so a poisoned lock still holds a consistent list.
        self.secrets.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One pass over `text`; `None` when it would come out unchanged.
    fn redact_pass(&self, text: &str) -> Option<String> {
        let compiled = compiled();
        let mut spans: Vec<Range<usize>> = Vec::new();
        // Most text matches no rule: one forward scan says so, cheaper than asking which
        // rules match (an overlapping search).
        let indices =
            (!beyond_patterns(text) && compiled.set.is_match(text)).then(|| compiled.set.matches(text));
        for index in indices.iter().flat_map(|matches| matches.iter()) {
            for caps in compiled.regexes[index].captures_iter(text) {
                if let Some(hit) = (RULES[index].select)(&caps, text, Mode::Redact) {
                    spans.push(hit.mask);
                }
            }
        }
        for secret in self.read_secrets().iter() {
            spans.extend(text.match_indices(secret.as_str()).map(|(i, m)| i..i + m.len()));
        }
        if spans.is_empty() {
            return None;
        }

        spans.sort_by_key(|span| (span.start, span.end));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
        for span in spans.into_iter().filter(|span| !span.is_empty()) {
            match merged.last_mut() {
                // Adjacent spans merge too, so two secrets side by side become one mask.
                Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
                _ => merged.push(span),
            }
        }
        if merged.iter().all(|span| text.get(span.clone()) == Some(MASK)) {
            return None;
        }

        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for span in merged {
            out.push_str(text.get(copied..span.start)?);
            out.push_str(MASK);
            copied = span.end;
        }
        out.push_str(text.get(copied..)?);
        Some(out)
    }
}

/// The process-wide redactor.
pub fn global() -> &'static Redactor {
    static GLOBAL: OnceLock<Redactor> = OnceLock::new();
    GLOBAL.get_or_init(Redactor::new)
}

/// `global().redact(text)`.
pub fn redact(text: &str) -> Cow<'_, str> {
    global().redact(text)
}

/// `global().redact_json(value)`.
pub fn redact_json(value: &mut Value) {
    global().redact_json(value);
}

/// Header names whose values are always secret, lower case.
const SENSITIVE_HEADERS: [&str; 5] =
    ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"];

/// Whether the whole value of this object key is secret (see [`Redactor::redact_json`]).
/// ASCII case is ignored; allocation-free, as it runs for every key published.
fn is_sensitive_key(key: &str) -> bool {
    let key = key.as_bytes();
    let ends_with = |suffix: &str| {
        key.len() >= suffix.len() && key[key.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    SENSITIVE_HEADERS.iter().any(|name| key.eq_ignore_ascii_case(name.as_bytes()))
        || ["token", "password", "secret"].iter().any(|suffix| ends_with(suffix))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Scan,
    Redact,
}

/// A match a rule accepts: where a finding points, and which bytes redaction replaces.
struct Hit {
    at: usize,
    mask: Range<usize>,
}

struct Rule {
    kind: &'static str,
    /// Word boundaries are ASCII (`(?-u:\b)`) so the set stays on the fast DFA engines
    /// even for non-ASCII text.
    pattern: &'static str,
    /// Whether [`find_secrets`] reports it; header lines are redaction-only.
    scanned: bool,
    /// Accepts or rejects a candidate (checks a regex without look-around cannot express).
    select: fn(&Captures<'_>, &str, Mode) -> Option<Hit>,
}

const RULES: &[Rule] = &[
    Rule {
        kind: "Telegram bot token",
        pattern: r"[0-9]{5,16}:[A-Za-z0-9_-]{35}",
        scanned: true,
        select: telegram,
    },
    Rule {
        kind: "API key (sk-...)",
        pattern: r"(?-u:\b)sk-[A-Za-z0-9_-]{20,}",
        scanned: true,
        select: whole,
    },
    Rule {
        kind: "GitHub token",
        pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
        scanned: true,
        select: whole,
    },
    Rule {
        kind: "Slack token",
        pattern: r"(?-u:\b)xox[abprs]-[A-Za-z0-9-]{10,}",
        scanned: true,
        select: whole,
    },
    Rule {
        kind: "AWS access key id",
        pattern: r"(?-u:\b)(?:AKIA|ASIA)[0-9A-Z]{16}(?-u:\b)",
        scanned: true,
        select: whole,
    },
    Rule {
        kind: "JWT",
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
        scanned: true,
        select: whole,
    },
    Rule {
        kind: "PEM private key",
        // Through the END line when there is one; a truncated block still hides its body.
        pattern: r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[A-Za-z0-9+/=\s:,\\-]*)",
        scanned: true,
        select: whole,
    },
    Rule {
        kind: "Bearer token",
        pattern: r"(?-u:\b)(?i:bearer)[ \t]+(?P<s>[A-Za-z0-9._~+/-]{8,}=*)",
        scanned: true,
        select: bearer,
    },
    Rule {
        kind: "Basic credentials",
        pattern: r"(?-u:\b)(?i:basic)[ \t]+(?P<s>[A-Za-z0-9+/]{8,}={0,2})",
        scanned: true,
        select: basic,
    },
    Rule {
        kind: "URL with user info",
        pattern: r#"(?-u:\b)(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,15})://(?P<user>[^\s/?#@:\[\]"'<>\\]*)(?::(?P<pass>[^\s/?#@\[\]"'<>\\]*))?@"#,
        scanned: true,
        select: user_info,
    },
    Rule {
        kind: "URL query secret (token=...)",
        pattern: r#"(?i)[?&](?P<key>access_token|id_token|refresh_token|private_token|token|api_key|apikey|key|client_secret|secret|password|passwd|pwd|signature|sig|auth|x-amz-signature|x-amz-security-token)=(?P<s>[^&#\s"'<>{}()`\\]+)"#,
        scanned: true,
        select: query,
    },
    Rule {
        kind: "HTTP credential header",
        pattern: r"(?i)(?-u:\b)(?:proxy-authorization|authorization|set-cookie|cookie|x-api-key)[ \t]*:[ \t]*(?P<s>[^\s][^\r\n]*)",
        scanned: false,
        select: group_s,
    },
];

/// The shortest text a pattern made only of [`PLAIN`] bytes can match: a Telegram bot token,
/// five digits, `:` and 35 more.
const PLAIN_MATCH_CHARS: usize = 41;

/// Bytes no pattern needs besides digits and `:`: every other pattern needs a letter other
/// than `T` and `Z` (a keyword, a prefix, a header or parameter name, a URL's scheme is
/// followed by `@`), an `@` or an `=`.
fn is_plain(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b':' | b'.' | b'-' | b'+' | b'T' | b'Z' | b' ')
}

/// Whether `text` is beyond every built-in pattern: short and made of digits, separators,
/// `T` and `Z`, as timestamps, numbers and durations are. Some ten of an entity's twenty
/// strings are such, and the regular expressions scanned each of them (registered
/// credentials are still searched for).
fn beyond_patterns(text: &str) -> bool {
    text.len() < SHORTEST_MATCH || (text.len() < PLAIN_MATCH_CHARS && text.bytes().all(is_plain))
}

/// The shortest text any pattern matches: a URL's user part, `a://@` (a query parameter needs
/// six, `?key=x`; every other pattern more). Methods, schemes and short bodies are shorter.
const SHORTEST_MATCH: usize = 5;

struct Compiled {
    set: RegexSet,
    regexes: Vec<Regex>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let patterns = RULES.iter().map(|rule| rule.pattern);
        // The patterns are constants covered by the tests, not input.
        Compiled {
            set: RegexSet::new(patterns).expect("built-in secret patterns compile"),
            regexes: RULES
                .iter()
                .map(|rule| Regex::new(rule.pattern).expect("built-in secret pattern compiles"))
                .collect(),
        }
    })
}

fn whole(caps: &Captures<'_>, _: &str, _: Mode) -> Option<Hit> {
    let m = caps.get(0)?;
    Some(Hit { at: m.start(), mask: m.range() })
}

fn group_s(caps: &Captures<'_>, _: &str, _: Mode) -> Option<Hit> {
    Some(Hit { at: caps.get(0)?.start(), mask: caps.name("s")?.range() })
}

/// The regex has no look-around, so "exactly 35 chars, not part of a longer number" is
/// checked here; a longer run is some other identifier, not a bot token.
fn telegram(caps: &Captures<'_>, text: &str, mode: Mode) -> Option<Hit> {
    let m = caps.get(0)?;
    let before = text.get(..m.start())?.chars().next_back();
    let after = text.get(m.end()..)?.chars().next();
    let token_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if before.is_some_and(|c| c.is_ascii_digit()) || after.is_some_and(token_char) {
        return None;
    }
    whole(caps, text, mode)
}

fn bearer(caps: &Captures<'_>, text: &str, mode: Mode) -> Option<Hit> {
    if mode == Mode::Scan && !looks_random(caps.name("s")?.as_str()) {
        return None;
    }
    group_s(caps, text, mode)
}

fn basic(caps: &Captures<'_>, text: &str, mode: Mode) -> Option<Hit> {
    if !looks_random(caps.name("s")?.as_str()) {
        return None;
    }
    group_s(caps, text, mode)
}

/// Masks the password when there is one, else the lone user part (a token used as a user).
fn user_info(caps: &Captures<'_>, _: &str, _: Mode) -> Option<Hit> {
    let at = caps.get(0)?.start();
    if let Some(pass) = caps.name("pass").filter(|p| !p.is_empty()) {
        return Some(Hit { at, mask: pass.range() });
    }
    let user = caps.name("user").filter(|u| !u.is_empty())?;
    let scheme = caps.name("scheme")?.as_str().to_ascii_lowercase();
    if scheme.contains("ssh") || scheme == "git" {
        return None;
    }
    Some(Hit { at, mask: user.range() })
}

fn query(caps: &Captures<'_>, _: &str, _: Mode) -> Option<Hit> {
    Some(Hit { at: caps.name("key")?.start(), mask: caps.name("s")?.range() })
}

/// Whether a token looks machine-made rather than like a word: it has a digit, a symbol
/// (a sentence's trailing `.` aside), or an upper-case letter after the first character.
fn looks_random(token: &str) -> bool {
    let token = token.trim_end_matches('.');
    token.bytes().any(|b| b.is_ascii_digit() || b"-._~+/=".contains(&b))
        || token.bytes().skip(1).any(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    // Fixtures are assembled with concat! so that no realistic-looking token sits literally
    // in the source, where secret scanners of code hosts would flag it.
    pub(super) const TELEGRAM: &str = concat!("123456789", ":AAH", "dqTcvCH1vGWJxfSeofSAs0K5PALDsawq");
    pub(super) const SK: &str = concat!("sk", "-proj-", "abcDEF1234567890ghijKLMN");
    const SK_ANT: &str = concat!("sk", "-ant-api03-", "Zx9_Yw8-Vu7tS6rQ5pO4nM3lK2jI1h");
    pub(super) const GHP: &str = concat!("gh", "p_", "1234567890abcdefghijABCDEFGHIJ123456");
    const GITHUB_PAT: &str = concat!("github", "_pat_", "11ABCDEFG0123456789_abcdefghijklmnop");
    pub(super) const SLACK: &str = concat!("xo", "xb-", "123456789012-1234567890123-AbCdEfGhIjKl");
    pub(super) const AWS: &str = concat!("AK", "IA", "IOSFODNN7EXAMPLE");
    pub(super) const JWT: &str = concat!(
        "eyJ",
        "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ".eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    );
    const BEARER: &str = "f00dBABE.cafe-1234";
    const PEM_BODY: &str = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun";
    const PASS: &str = "hunter2pass";
    const QUERY_VALUE: &str = "s3cr3tQueryValue";

    fn pem() -> String {
        format!("-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----")
    }

    /// (kind, text with the secret, the secret itself, line, column)
    fn planted() -> Vec<(&'static str, String, String, usize, usize)> {
        vec![
            ("Telegram bot token", format!("token: {TELEGRAM}"), TELEGRAM.into(), 1, 8),
            (
                "Telegram bot token",
                format!("api: https://api.telegram.org/bot{TELEGRAM}/sendMessage"),
                TELEGRAM.into(),
                1,
                34,
            ),
            ("API key (sk-...)", format!("a: 1\nkey: \"{SK}\""), SK.into(), 2, 7),
            ("API key (sk-...)", format!("# old: {SK_ANT}"), SK_ANT.into(), 1, 8),
            ("GitHub token", format!("x:\n  y:\n    - {GHP}"), GHP.into(), 3, 7),
            ("GitHub token", format!("pat={GITHUB_PAT}"), GITHUB_PAT.into(), 1, 5),
            ("Slack token", format!("slack: {SLACK}"), SLACK.into(), 1, 8),
            ("AWS access key id", format!("aws: {AWS} # note"), AWS.into(), 1, 6),
            ("JWT", format!("jwt: '{JWT}'"), JWT.into(), 1, 7),
            ("PEM private key", format!("key: |\n  {}", pem()), PEM_BODY.into(), 2, 3),
            ("Bearer token", format!("h: \"Bearer {BEARER}\""), BEARER.into(), 1, 5),
            // Non-ASCII before the secret: columns count chars, not bytes.
            ("Bearer token", format!("déjà vu: bearer {BEARER}"), BEARER.into(), 1, 10),
            (
                "Basic credentials",
                "auth: Basic dXNlcjpwYXNzd29yZA==".into(),
                "dXNlcjpwYXNzd29yZA==".into(),
                1,
                7,
            ),
            ("URL with user info", format!("url: https://admin:{PASS}@db.example.com/x"), PASS.into(), 1, 6),
            ("URL with user info", format!("repo: https://{GHP}@github.com/o/r.git"), GHP.into(), 1, 7),
            ("URL with user info", format!("dsn: postgres://:{PASS}@localhost/db"), PASS.into(), 1, 6),
            (
                "URL query secret (token=...)",
                format!("url: https://example.com/h?verbose=1&token={QUERY_VALUE}"),
                QUERY_VALUE.into(),
                1,
                38,
            ),
            (
                "URL query secret (token=...)",
                format!("url: https://example.com/h?API_KEY={QUERY_VALUE}#frag"),
                QUERY_VALUE.into(),
                1,
                28,
            ),
            (
                "URL query secret (token=...)",
                format!("u: https://s3.example.com/o?X-Amz-Signature={QUERY_VALUE}"),
                QUERY_VALUE.into(),
                1,
                29,
            ),
        ]
    }

    #[test]
    fn every_pattern_is_found_at_its_place_without_leaking() {
        for (kind, text, secret, line, column) in planted() {
            let findings = find_secrets(&text);
            assert_eq!(findings, vec![SecretFinding { line, column, kind }], "in {text:?}");
            let debug = format!("{findings:?}");
            assert!(!debug.contains(&secret), "{debug} leaks the secret");
        }
    }

    #[test]
    fn every_pattern_is_masked() {
        let redactor = Redactor::new();
        for (kind, text, secret, _, _) in planted() {
            let out = redactor.redact(&text);
            assert!(!out.contains(&secret), "{kind}: {out:?} still holds the secret");
            assert!(out.contains(MASK), "{kind}: {out:?}");
        }
    }

    #[test]
    fn masks_the_secret_part_only() {
        let cases = [
            (format!("GET https://admin:{PASS}@host/x"), "GET https://admin:[REDACTED]@host/x"),
            (format!("clone https://{GHP}@github.com/o/r"), "clone https://[REDACTED]@github.com/o/r"),
            (format!("GET /x?a=1&token={QUERY_VALUE}&b=2"), "GET /x?a=1&token=[REDACTED]&b=2"),
            (format!("sent Bearer {BEARER} ok"), "sent Bearer [REDACTED] ok"),
            (format!("bot {TELEGRAM} started"), "bot [REDACTED] started"),
            (format!("a {SK}, b {AWS}."), "a [REDACTED], b [REDACTED]."),
            (format!("before\n{}\nafter", pem()), "before\n[REDACTED]\nafter"),
            // A truncated block still hides the body it has.
            (format!("-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n(truncated)"), "[REDACTED](truncated)"),
            (
                format!("> Authorization: Bearer {BEARER}\r\n> Accept: */*"),
                "> Authorization: [REDACTED]\r\n> Accept: */*",
            ),
            ("set-cookie: sid=abc; Path=/\ncookie:a=b".into(), "set-cookie: [REDACTED]\ncookie:[REDACTED]"),
            ("PROXY-AUTHORIZATION: Basic x".into(), "PROXY-AUTHORIZATION: [REDACTED]"),
            // Prose is masked on output even though the scanner lets it load.
            ("uses Bearer authentication".into(), "uses Bearer [REDACTED]"),
        ];
        let redactor = Redactor::new();
        for (text, want) in cases {
            assert_eq!(redactor.redact(&text), want, "for {text:?}");
        }
    }

    #[test]
    fn registered_secrets_are_masked_everywhere() {
        let redactor = Redactor::new();
        redactor.add_secret("plain-value-42\n");
        redactor.add_secret("abc"); // too short: would mask ordinary words
        redactor.add_secret("DACT"); // inside the mask: would feed on its own output
        redactor.add_secret("plain-value-42"); // already known
        assert_eq!(format!("{redactor:?}"), "Redactor { secrets: 1 }");

        assert_eq!(redactor.redact("x=plain-value-42;plain-value-42"), "x=[REDACTED];[REDACTED]");
        assert_eq!(redactor.redact("abc DACT"), "abc DACT");
        // Masking creates a word boundary before `sk-`; redaction repeats until stable.
        let glued = format!("plain-value-42sk-{}", "a".repeat(24));
        assert_eq!(redactor.redact(&glued), "[REDACTED][REDACTED]");

        let mut value = json!({
            "message": "probe failed: got plain-value-42 back",
            "nested": [{"plain-value-42": "as a key"}, 42, null, true],
        });
        redactor.redact_json(&mut value);
        assert_eq!(
            value,
            json!({
                "message": "probe failed: got [REDACTED] back",
                "nested": [{"[REDACTED]": "as a key"}, 42, null, true],
            })
        );
    }

    #[test]
    fn redact_json_masks_credential_keys() {
        let mut value = json!({
            "headers": {
                "Authorization": {"credential": "api", "format": "Bearer {}"},
                "COOKIE": "a=b",
                "Set-Cookie": ["x"],
                "proxy-authorization": "Basic x",
                "Content-Type": "application/json",
            },
            "write_token": "api_write",
            "accessToken": 12345,
            "db_password": "pw",
            "client_secret": null,
            "tokens": 17,
            "url": format!("https://u:{PASS}@h/"),
        });
        Redactor::new().redact_json(&mut value);
        assert_eq!(
            value,
            json!({
                "headers": {
                    "Authorization": MASK,
                    "COOKIE": MASK,
                    "Set-Cookie": MASK,
                    "proxy-authorization": MASK,
                    "Content-Type": "application/json",
                },
                "write_token": MASK,
                "accessToken": MASK,
                "db_password": MASK,
                "client_secret": null,
                "tokens": 17,
                "url": "https://u:[REDACTED]@h/",
            })
        );
    }

    #[test]
    fn ordinary_config_is_not_a_secret() {
        let texts = [
            "id: task-list",
            "id: risk-assessment-report",
            "id: risk-assessment-report-for-quarterly-review-2024",
            "credential: telegram_bot",
            "format: \"Bearer {}\"",
            "format: Bearer {}",
            "url: https://example.com/health?verbose=1",
            "url: https://example.com/health?verbose=1&keys=3&monkey=1",
            "api_base: https://api.telegram.org",
            "schedule: \"*/15 9-17 * * 1-5\"",
            "every: 1h30m\ngrace: 90s",
            "id: 123e4567-e89b-12d3-a456-426614174000",
            "commit: 9fceb02d0ae598e95dc970b74767f19372d61af8",
            "env: MC_CRED_TELEGRAM_BOT",
            "owner: ops@example.com # mail alice.smith@example.org",
            "key: value\ntoken: telegram_bot\ncredential_key: x",
            "description: supports Basic authentication.",
            "repo: ssh://git@github.com/owner/repo.git",
            "time: 2024-05-01T10:30:00Z\nexpires: 2024-05-31T00:00:00+02:00",
            "location: reports/2024-*/daily-*.md\nmin_size: 1024",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "url: https://medium.com/@author/post?ref=home",
        ];
        let redactor = Redactor::new();
        for text in texts {
            assert_eq!(find_secrets(text), vec![], "in {text:?}");
            assert!(matches!(redactor.redact(text), Cow::Borrowed(_)), "changed {text:?}");
        }
    }

    #[test]
    fn the_scanner_leaves_authorization_keys_to_credential_references() {
        // Header lines are redaction-only; the literal value is what the scanner catches.
        let reference = r#"headers: {Authorization: {credential: api, format: "Bearer {}"}}"#;
        assert_eq!(find_secrets(reference), vec![]);
        // Prose loads; output masks it anyway (see masks_the_secret_part_only).
        assert_eq!(find_secrets("description: uses Bearer authentication."), vec![]);
        assert_eq!(find_secrets(r#"run: ["curl", "-H", "Authorization: Bearer $TOKEN"]"#), vec![]);
        assert_eq!(Redactor::new().redact(reference), "headers: {Authorization: [REDACTED]");
        let text = format!("headers:\n  Authorization: Bearer {BEARER}\n  Cookie: sid=1");
        assert_eq!(find_secrets(&text), vec![SecretFinding { line: 2, column: 18, kind: "Bearer token" }]);
    }

    #[test]
    fn nested_constructs_are_reported_once_in_text_order() {
        let text = format!("a: Bearer {JWT}\nb: https://x/?token={JWT}\nc: {AWS} {SK}");
        let found: Vec<_> = find_secrets(&text).into_iter().map(|f| (f.line, f.column, f.kind)).collect();
        assert_eq!(
            found,
            vec![
                (1, 4, "Bearer token"),
                (2, 15, "URL query secret (token=...)"),
                (3, 4, "AWS access key id"),
                (3, 25, "API key (sk-...)"),
            ]
        );
    }

    #[test]
    fn telegram_tokens_need_exactly_35_chars() {
        let long = format!("{TELEGRAM}x");
        let deep = format!("1{TELEGRAM}"); // still a token: ten digits
        assert_eq!(find_secrets(&long), vec![]);
        assert_eq!(find_secrets(&deep).len(), 1);
        assert_eq!(find_secrets(&format!("12345678901234567{}", &TELEGRAM[9..])), vec![]);
    }

    #[test]
    fn the_global_redactor_is_shared() {
        global().add_secret("global-only-secret-value");
        assert_eq!(redact("x global-only-secret-value"), "x [REDACTED]");
        let mut value = json!(["global-only-secret-value"]);
        redact_json(&mut value);
        assert_eq!(value, json!([MASK]));
    }

    /// Pieces that build near-misses and overlaps of every pattern.
    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("sk-".to_owned()),
            Just("Bearer ".to_owned()),
            Just("basic ".to_owned()),
            Just("https://".to_owned()),
            Just("user:".to_owned()),
            Just("@".to_owned()),
            Just("?token=".to_owned()),
            Just("&key=".to_owned()),
            Just("eyJ".to_owned()),
            Just(".".to_owned()),
            Just(":".to_owned()),
            Just("123456789".to_owned()),
            Just("Authorization: ".to_owned()),
            Just("-----BEGIN EC PRIVATE KEY-----".to_owned()),
            Just("-----END EC PRIVATE KEY-----".to_owned()),
            Just(MASK.to_owned()),
            Just("known-secret".to_owned()),
            Just("\n".to_owned()),
            Just(" ".to_owned()),
            "[A-Za-z0-9_-]{1,40}",
            any::<String>(),
        ]
    }

    #[test]
    fn plain_text_past_the_length_bound_is_scanned() {
        // The bound is needed: a Telegram token may be digits and `-` only.
        let token = format!("12345:{}", "0".repeat(35));
        assert_eq!(token.len(), PLAIN_MATCH_CHARS);
        assert!(token.bytes().all(is_plain) && !beyond_patterns(&token));
        assert_eq!(redact(&token), MASK);
        assert!(beyond_patterns("2026-12-03T21:17:35.148038441Z"));
        assert!(!beyond_patterns("T://@x"), "an @ is never plain");
    }

    #[test]
    fn registered_credentials_are_found_in_plain_text() {
        let redactor = Redactor::new();
        redactor.add_secret("4242");
        assert!(beyond_patterns("2026-12-03T04:42:42.4242Z"));
        assert_eq!(redactor.redact("2026-12-03T04:42:42.4242Z"), format!("2026-12-03T04:42:42.{MASK}Z"));
    }

    /// Texts [`beyond_patterns`] lets through unscanned: the plain bytes, near the bound.
    fn plain_text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(b"0123456789:.-+TZ ".to_vec()), 0..PLAIN_MATCH_CHARS)
            .prop_map(|bytes| String::from_utf8(bytes).unwrap_or_default())
    }

    #[test]
    fn the_shortest_match_is_a_url_user_part() {
        // The bound is tight: the set matches five bytes (with nothing to mask in them).
        assert!(compiled().set.is_match("a://@") && !beyond_patterns("a://@"));
        assert_eq!(redact("a://x@"), format!("a://{MASK}@"));
        assert!(beyond_patterns("POST") && beyond_patterns("http") && beyond_patterns("a:/@"));
    }

    proptest! {
        /// Any text shorter than [`SHORTEST_MATCH`] bytes, of ASCII or not.
        #[test]
        fn no_pattern_matches_a_text_shorter_than_the_shortest_match(text in "(?s).{0,4}") {
            if text.len() < SHORTEST_MATCH {
                prop_assert!(beyond_patterns(&text));
                prop_assert!(!compiled().set.is_match(&text), "{text:?}");
            }
        }

        #[test]
        fn no_pattern_matches_a_short_text_of_pattern_bytes(
            text in prop::collection::vec(prop::sample::select(b"aAbeJkKsxo0:/@?=&_-. \t".to_vec()), 0..SHORTEST_MATCH)
                .prop_map(|bytes| String::from_utf8(bytes).unwrap_or_default())
        ) {
            prop_assert!(!compiled().set.is_match(&text), "{text:?}");
        }

        #[test]
        fn no_pattern_matches_what_is_beyond_patterns(text in plain_text()) {
            prop_assert!(beyond_patterns(&text));
            prop_assert!(!compiled().set.is_match(&text), "{text:?}");
            for regex in &compiled().regexes {
                prop_assert!(!regex.is_match(&text), "{text:?}");
            }
        }

        #[test]
        fn redaction_is_idempotent_on_arbitrary_text(text in any::<String>()) {
            let redactor = Redactor::new();
            let once = redactor.redact(&text).into_owned();
            prop_assert_eq!(redactor.redact(&once), once.as_str());
            let _ = find_secrets(&text);
        }

        #[test]
        fn redaction_is_idempotent_on_near_misses(parts in prop::collection::vec(fragment(), 0..24)) {
            let redactor = Redactor::new();
            redactor.add_secret("known-secret");
            let text = parts.concat();
            let once = redactor.redact(&text).into_owned();
            prop_assert!(!once.contains("known-secret"));
            prop_assert_eq!(redactor.redact(&once), once.as_str());
            let _ = find_secrets(&text);
        }
    }
}
