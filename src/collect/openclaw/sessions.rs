//! Session indexes and transcript entries.
//!
//! # What OpenClaw writes (reference)
//!
//! Per agent, `agents/<agentId>/sessions/sessions.json` maps a session key (`agent:<id>:main`,
//! `agent:<id>:cron:<jobId>:run:<runId>`, `...:heartbeat` for an isolated heartbeat session)
//! to an entry: `sessionId`, `updatedAt` (ms), `sessionFile`, `model`, `modelProvider`,
//! running token counters, and for heartbeats `lastHeartbeatText` with `lastHeartbeatSentAt`
//! (ms; set only when a heartbeat's reply was actually delivered, so a quiet `HEARTBEAT_OK`
//! does not move it) and `heartbeatIsolatedBaseSessionKey`. It is rewritten whole.
//!
//! The transcript `<sessionId>.jsonl` beside it starts with a `{"type": "session", version,
//! id, timestamp, cwd}` header, then one entry per line: `{type, id, parentId, timestamp}`
//! (ISO time) with, for `type: "message"`, a `message: {role, content, timestamp (ms),
//! provider, model, usage, stopReason}`. Only assistant messages carry `usage: {input, output,
//! cacheRead, cacheWrite, totalTokens, cost: {input, output, cacheRead, cacheWrite, total}}`;
//! OpenClaw's own reader also accepts the provider spellings (`input_tokens`, `prompt_tokens`,
//! `cache_read_input_tokens`, `cached_tokens` which is part of the input, ...) and takes
//! `usage` from the entry when the message has none. A reset or deletion renames the file
//! to `<sessionId>.jsonl.reset.<time>` / `.deleted.<time>` (those still count for usage), and
//! heartbeat-only turns (the heartbeat prompt and a bare `HEARTBEAT_OK` answer) may be pruned
//! from a transcript, which then shrinks. The heartbeat prompt is a user message: by default
//! "Read HEARTBEAT.md if it exists ...", from 2026.9 marked `[OpenClaw heartbeat poll]`, or
//! the agent's configured `heartbeat.prompt`.
//!
//! From 2026.8.1 the same index and transcripts live in the per-agent SQLite database (see
//! `sqlite`): `session_nodes.entry_json` is the entry above and `transcript_events.event_json`
//! one transcript line.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserializer;
use serde::de::{self, Deserialize, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::Tokens;
use super::lenient::{Field, Fields, Object, parse_line, skip};
use super::store::{integer, text};

/// One session of an agent's index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub key: String,
    pub session_id: Option<String>,
    pub session_file: Option<String>,
    pub updated_at_ms: Option<i64>,
    pub last_heartbeat_sent_at_ms: Option<i64>,
    pub model: Option<String>,
}

/// The entries of a `sessions.json` text.
pub fn parse_index(text_: &str) -> Result<Vec<IndexEntry>, String> {
    let value: Value = serde_json::from_str(text_).map_err(|e| e.to_string())?;
    let map = value.as_object().ok_or("not an object")?;
    Ok(map.iter().filter_map(|(key, v)| v.as_object().map(|o| index_entry(key, o))).collect())
}

/// One index entry (also `session_nodes.entry_json`).
pub fn index_entry(key: &str, o: &Map<String, Value>) -> IndexEntry {
    IndexEntry {
        key: key.to_string(),
        session_id: text(o.get("sessionId")),
        session_file: text(o.get("sessionFile")),
        updated_at_ms: integer(o.get("updatedAt")),
        last_heartbeat_sent_at_ms: integer(o.get("lastHeartbeatSentAt")),
        model: text(o.get("model")),
    }
}

/// What a transcript entry means to the collector.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EntryKind {
    /// An assistant message; `usage` when it reports any, with its cost when given.
    Assistant {
        provider: Option<String>,
        model: Option<String>,
        usage: Option<(Tokens, Option<f64>)>,
    },
    /// A heartbeat poll (the user message that starts a heartbeat turn).
    HeartbeatPrompt,
    Other,
}

/// Prefixes and markers of OpenClaw's own heartbeat prompts.
const HEARTBEAT_PROMPT_PREFIXES: [&str; 2] =
    ["Read HEARTBEAT.md if it exists", "Follow the heartbeat monitor scratch context"];
const HEARTBEAT_MARKER: &str = "[OpenClaw heartbeat poll]";

/// Reads one transcript entry (a `transcript_events` row). `custom_prompt` is the agent's
/// configured heartbeat prompt.
pub fn entry(v: &Value, custom_prompt: Option<&str>) -> Entry {
    Line::of(v).entry(custom_prompt)
}

/// Reads one line of a transcript file without building a tree of it (see `lenient`); an
/// error when the line is not a JSON object.
pub fn entry_from_line(line: &str, custom_prompt: Option<&str>) -> Result<Entry, serde_json::Error> {
    match parse_line::<Line>(line) {
        Ok(l) => Ok(l.entry(custom_prompt)),
        // JSON that is not an object is an entry of no kind, as its tree would be.
        Err(e) => match serde_json::from_str::<IgnoredAny>(line) {
            Ok(_) => Ok(Line::default().entry(custom_prompt)),
            Err(_) => Err(e),
        },
    }
}

/// The fields of a transcript entry the collector reads.
#[derive(Debug, Default)]
struct Line<'a> {
    id: Field<'a>,
    timestamp: Field<'a>,
    message: Object<Message<'a>>,
    provider: Field<'a>,
    model: Field<'a>,
    usage: Object<Usage<'a>>,
}

#[derive(Debug, Default)]
struct Message<'a> {
    role: Field<'a>,
    /// The text parts, read only when the role may be `user` (a heartbeat prompt): a tool's
    /// output or an answer is skipped unread when its role comes first, as OpenClaw writes it.
    content: Vec<Cow<'a, str>>,
    timestamp: Field<'a>,
    provider: Field<'a>,
    model: Field<'a>,
    usage: Object<Usage<'a>>,
}

/// A `usage` object: each count in every spelling OpenClaw accepts, in the order it prefers
/// them, with the OpenAI-style details and the cost.
#[derive(Debug, Default)]
struct Usage<'a> {
    input: [Field<'a>; 5],
    output: [Field<'a>; 5],
    cache_read: [Field<'a>; 4],
    cache_write: [Field<'a>; 3],
    total: [Field<'a>; 3],
    input_details: Object<Details<'a>>,
    prompt_details: Object<Details<'a>>,
    cost: Object<Details<'a>>,
}

/// `input_tokens_details` / `prompt_tokens_details` (`cached_tokens`), or `cost` (`total`).
#[derive(Debug, Default)]
struct Details<'a> {
    cached_tokens: Field<'a>,
    total: Field<'a>,
}

impl<'a> Usage<'a> {
    /// Where the count spelt `key` goes.
    fn count(&mut self, key: &str) -> Option<&mut Field<'a>> {
        Some(match key {
            "input" => &mut self.input[0],
            "inputTokens" => &mut self.input[1],
            "input_tokens" => &mut self.input[2],
            "promptTokens" => &mut self.input[3],
            "prompt_tokens" => &mut self.input[4],
            "output" => &mut self.output[0],
            "outputTokens" => &mut self.output[1],
            "output_tokens" => &mut self.output[2],
            "completionTokens" => &mut self.output[3],
            "completion_tokens" => &mut self.output[4],
            "cacheRead" => &mut self.cache_read[0],
            "cache_read" => &mut self.cache_read[1],
            "cache_read_input_tokens" => &mut self.cache_read[2],
            "cached_tokens" => &mut self.cache_read[3],
            "cacheWrite" => &mut self.cache_write[0],
            "cache_write" => &mut self.cache_write[1],
            "cache_creation_input_tokens" => &mut self.cache_write[2],
            "total" => &mut self.total[0],
            "totalTokens" => &mut self.total[1],
            "total_tokens" => &mut self.total[2],
            _ => return None,
        })
    }

    /// The same fields from a tree.
    fn of(u: &'a Map<String, Value>) -> Usage<'a> {
        let details = |v: &'a Value| match v {
            Value::Object(d) => Object::Is(Details {
                cached_tokens: Field::of(d.get("cached_tokens")),
                total: Field::of(d.get("total")),
            }),
            _ => Object::Other,
        };
        let mut usage = Usage::default();
        for (key, v) in u {
            match key.as_str() {
                "input_tokens_details" => usage.input_details = details(v),
                "prompt_tokens_details" => usage.prompt_details = details(v),
                "cost" => usage.cost = details(v),
                _ => {
                    if let Some(count) = usage.count(key) {
                        *count = Field::of(Some(v));
                    }
                }
            }
        }
        usage
    }
}

impl<'de> Fields<'de> for Usage<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "input_tokens_details" => self.input_details = map.next_value()?,
            "prompt_tokens_details" => self.prompt_details = map.next_value()?,
            "cost" => self.cost = map.next_value()?,
            _ => match self.count(key) {
                Some(count) => *count = map.next_value()?,
                None => skip(map)?,
            },
        }
        Ok(())
    }
}

impl<'de> Fields<'de> for Details<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "cached_tokens" => self.cached_tokens = map.next_value()?,
            "total" => self.total = map.next_value()?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// One element of a `content` list; only `{"type": "text", "text": ...}` counts.
#[derive(Debug, Default)]
struct Part<'a> {
    kind: Field<'a>,
    text: Field<'a>,
}

impl<'de> Fields<'de> for Line<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = map.next_value()?,
            "timestamp" => self.timestamp = map.next_value()?,
            "message" => self.message = map.next_value()?,
            "provider" => self.provider = map.next_value()?,
            "model" => self.model = map.next_value()?,
            "usage" => self.usage = map.next_value()?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Fields<'de> for Message<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "role" => self.role = map.next_value()?,
            "content" if matches!(&self.role, Field::Str(r) if r != "user") => skip(map)?,
            "content" => self.content = map.next_value::<Content>()?.0,
            "timestamp" => self.timestamp = map.next_value()?,
            "provider" => self.provider = map.next_value()?,
            "model" => self.model = map.next_value()?,
            "usage" => self.usage = map.next_value()?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Fields<'de> for Part<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.kind = map.next_value()?,
            "text" => self.text = map.next_value()?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Part<'_> {
    fn is_text(&self) -> bool {
        matches!(&self.kind, Field::Str(k) if k == "text")
    }
}

/// A message's `content`: its text, or its text parts; anything else is no text.
struct Content<'a>(Vec<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Content<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content<'de>, A::Error> {
                let mut texts = Vec::new();
                while let Some(part) = seq.next_element::<Object<Part>>()? {
                    if let Object::Is(part) = part
                        && part.is_text()
                        && let Field::Str(text) = part.text
                    {
                        texts.push(text);
                    }
                }
                Ok(Content(texts))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Content<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Content(Vec::new()))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Content<'de>, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Content<'de>, E> {
                Ok(Content(vec![Cow::Borrowed(s)]))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Content<'de>, E> {
                Ok(Content(vec![Cow::Owned(s.to_string())]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Content<'de>, E> {
                Ok(Content(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Content<'de>, E> {
                Ok(Content(Vec::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Content<'de>, E> {
                Ok(Content(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Content<'de>, E> {
                Ok(Content(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Content<'de>, E> {
                Ok(Content(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Content<'de>, E> {
                Ok(Content(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> Line<'a> {
    /// The same fields from a tree.
    fn of(v: &'a Value) -> Line<'a> {
        let tree = |u: Option<&'a Value>| match u {
            None => Object::Absent,
            Some(Value::Object(o)) => Object::Is(Usage::of(o)),
            Some(_) => Object::Other,
        };
        let message = match v.get("message") {
            None => Object::Absent,
            Some(Value::Object(m)) => Object::Is(Message {
                role: Field::of(m.get("role")),
                content: match m.get("content") {
                    Some(Value::String(s)) => vec![Cow::Borrowed(s.as_str())],
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .map(Cow::Borrowed)
                        .collect(),
                    _ => Vec::new(),
                },
                timestamp: Field::of(m.get("timestamp")),
                provider: Field::of(m.get("provider")),
                model: Field::of(m.get("model")),
                usage: tree(m.get("usage")),
            }),
            Some(_) => Object::Other,
        };
        Line {
            id: Field::of(v.get("id")),
            timestamp: Field::of(v.get("timestamp")),
            message,
            provider: Field::of(v.get("provider")),
            model: Field::of(v.get("model")),
            usage: tree(v.get("usage")),
        }
    }

    fn entry(&self, custom_prompt: Option<&str>) -> Entry {
        let message = self.message.get();
        let at = match &self.timestamp {
            Field::Str(t) => DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc)),
            _ => None,
        }
        .or_else(|| message.and_then(|m| m.timestamp.integer()).and_then(DateTime::from_timestamp_millis));
        let role = message.and_then(|m| match &m.role {
            Field::Str(r) => Some(r.as_ref()),
            _ => None,
        });
        let kind = match (message, role) {
            (Some(m), Some("assistant")) => EntryKind::Assistant {
                provider: m.provider.text().or_else(|| self.provider.text()),
                model: m.model.text().or_else(|| self.model.text()),
                usage: if m.usage.is_absent() { &self.usage } else { &m.usage }.get().and_then(usage),
            },
            (Some(m), Some("user")) if is_heartbeat_prompt(&m.content.join("\n"), custom_prompt) => {
                EntryKind::HeartbeatPrompt
            }
            _ => EntryKind::Other,
        };
        Entry { id: self.id.text(), at, kind }
    }
}

fn is_heartbeat_prompt(text_: &str, custom_prompt: Option<&str>) -> bool {
    let t = text_.trim();
    !t.is_empty()
        && (t.contains(HEARTBEAT_MARKER)
            || HEARTBEAT_PROMPT_PREFIXES.iter().any(|p| t.starts_with(p))
            || custom_prompt.map(str::trim).is_some_and(|p| !p.is_empty() && t.starts_with(p)))
}

/// Token counts and cost of a `usage` object, in any of the spellings OpenClaw accepts; None
/// when it reports nothing.
fn usage(u: &Usage) -> Option<(Tokens, Option<f64>)> {
    let first = |spellings: &[Field]| spellings.iter().find_map(Field::number);
    fn cached<'b, 'a>(d: &'b Object<Details<'a>>) -> Option<&'b Details<'a>> {
        d.get().filter(|d| !matches!(d.cached_tokens, Field::Absent))
    }
    let nested = |d: &Object<Details>| cached(d).and_then(|d| d.cached_tokens.number());
    let cache_read =
        first(&u.cache_read).or_else(|| nested(&u.input_details)).or_else(|| nested(&u.prompt_details));
    // OpenAI-style counts include the cached tokens in the prompt; the others do not.
    let openai_style = !matches!(u.cache_read[3], Field::Absent)
        || cached(&u.input_details).is_some()
        || cached(&u.prompt_details).is_some();
    let raw_input = first(&u.input);
    let input = match (raw_input, cache_read) {
        (Some(i), Some(c)) if openai_style => Some((i - c).max(0.0)),
        (i, _) => i,
    };
    let output = first(&u.output);
    let cache_write = first(&u.cache_write);
    let total = first(&u.total);
    if [input, output, cache_read, cache_write, total].iter().all(Option::is_none) {
        return None;
    }
    let whole = |n: Option<f64>| n.map_or(0, |n| n.max(0.0) as u64);
    let mut tokens = Tokens {
        input: whole(input),
        output: whole(output),
        cache_read: whole(cache_read),
        cache_write: whole(cache_write),
        total: whole(total),
    };
    if total.is_none() {
        tokens.total = tokens.input + tokens.output + tokens.cache_read + tokens.cache_write;
    }
    let cost = u.cost.get().and_then(|c| c.total.number()).filter(|c| *c >= 0.0);
    Some((tokens, cost))
}

/// The cron job a session ran for, from its key (`agent:<a>:cron:<jobId>[:run:<id>]`).
pub fn job_of_session_key(key: &str) -> Option<String> {
    let mut parts = key.split(':');
    parts.by_ref().find(|p| *p == "cron")?;
    parts.next().filter(|p| !p.is_empty()).map(str::to_string)
}

/// Whether a file name in a sessions folder is a transcript whose usage counts: a live
/// `<id>.jsonl` or one archived by a reset or deletion.
pub fn transcript_session_id(file_name: &str) -> Option<&str> {
    if let Some(id) = file_name.strip_suffix(".jsonl") {
        return Some(id);
    }
    ["reset", "deleted"].iter().find_map(|reason| {
        let marker = format!(".jsonl.{reason}.");
        file_name.find(&marker).map(|i| &file_name[..i])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text_: &str) -> Entry {
        entry(&serde_json::from_str(text_).expect("json"), Some("Custom beat"))
    }

    #[test]
    fn assistant_usage_in_every_spelling() {
        let e = parse(
            r#"{"type":"message","id":"m1","timestamp":"2026-05-01T07:00:00.000Z","message":{"role":"assistant",
                "provider":"anthropic","model":"claude-x","usage":{"input":100,"output":20,"cacheRead":1000,
                "cacheWrite":50,"totalTokens":1170,"cost":{"total":0.0123}}}}"#,
        );
        assert_eq!(e.id.as_deref(), Some("m1"));
        assert_eq!(e.at.map(|t| t.timestamp()), Some(1_777_618_800));
        let EntryKind::Assistant { usage: Some((t, cost)), model, .. } = e.kind else { panic!("assistant") };
        assert_eq!((t.input, t.output, t.cache_read, t.cache_write, t.total), (100, 20, 1000, 50, 1170));
        assert_eq!((cost, model.as_deref()), (Some(0.0123), Some("claude-x")));

        // OpenAI spelling: cached tokens are part of the prompt count.
        let e = parse(
            r#"{"type":"message","message":{"role":"assistant","timestamp":1777618800000,
                "usage":{"prompt_tokens":120,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":100}}}}"#,
        );
        let EntryKind::Assistant { usage: Some((t, None)), .. } = e.kind else { panic!("assistant") };
        assert_eq!((t.input, t.output, t.cache_read, t.total), (20, 7, 100, 127));
        assert_eq!(e.at.map(|t| t.timestamp()), Some(1_777_618_800));

        let e = parse(r#"{"type":"message","message":{"role":"assistant","content":"no usage"}}"#);
        assert_eq!(e.kind, EntryKind::Assistant { provider: None, model: None, usage: None });
    }

    #[test]
    fn a_line_reads_as_its_tree_does() {
        for line in [
            r#"{"type":"message","id":"m1","timestamp":"2026-05-01T07:00:00.000Z","message":{"role":"assistant","content":[{"type":"text","text":"x"}],"provider":"anthropic","model":"claude-x","usage":{"input":100,"output":20,"cost":{"total":0.5}}}}"#,
            r#"{"type":"message","message":{"content":"Custom beat: go","role":"user","timestamp":1777618800000}}"#,
            r#"{"type":"message","message":{"role":"user","content":[{"text":"[OpenClaw heartbeat poll]","type":"text"},{"type":"image"},"x"]}}"#,
            r#"{"type":"message","message":{"role":"toolResult","content":[{"type":"text","text":"Read HEARTBEAT.md if it exists"}]}}"#,
            r#"{"type":"message","usage":{"input_tokens":3},"model":"top","message":{"role":"assistant","timestamp":"x"}}"#,
            r#"{"type":"message","usage":{"input_tokens":3},"message":{"role":"assistant","usage":null}}"#,
            r#"{"type":"message","timestamp":5,"message":"text"}"#,
            r#"{"message":{"role":"assistant","usage":{"prompt_tokens":120,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":100},"cost":{"total":"0.25"}}}}"#,
            r#"{"message":{"role":"assistant","usage":{"input_tokens":50,"cached_tokens":null,"cache_read":"10","input":1,"cost":[1]}}}"#,
            r#"{"message":{"role":"assistant","usage":{"input_tokens_details":{"cached_tokens":3},"input_tokens":5,"total":-1}}}"#,
            r#"{"type":"session","version":3,"id":" s "}"#,
        ] {
            let tree = entry(&serde_json::from_str(line).expect("json"), Some("Custom beat"));
            assert_eq!(entry_from_line(line, Some("Custom beat")).expect("an object"), tree, "{line}");
        }
        assert_eq!(entry_from_line("[1]", None).expect("JSON").kind, EntryKind::Other);
        assert!(entry_from_line("{\"id\":", None).is_err());
    }

    #[test]
    fn heartbeat_prompts() {
        for content in [
            r#""Read HEARTBEAT.md if it exists (workspace context). Follow it strictly.""#,
            r#"[{"type":"text","text":"[OpenClaw heartbeat poll] Follow the heartbeat monitor"}]"#,
            r#""Custom beat: check the inbox""#,
        ] {
            let e =
                parse(&format!(r#"{{"type":"message","message":{{"role":"user","content":{content}}}}}"#));
            assert_eq!(e.kind, EntryKind::HeartbeatPrompt, "{content}");
        }
        let e = parse(r#"{"type":"message","message":{"role":"user","content":"hello"}}"#);
        assert_eq!(e.kind, EntryKind::Other);
        assert_eq!(parse(r#"{"type":"session","version":3}"#).kind, EntryKind::Other);
    }

    #[test]
    fn keys_files_and_index() {
        assert_eq!(job_of_session_key("agent:main:cron:daily:run:abc").as_deref(), Some("daily"));
        assert_eq!(job_of_session_key("agent:main:main"), None);
        assert_eq!(transcript_session_id("abc.jsonl"), Some("abc"));
        assert_eq!(transcript_session_id("abc.jsonl.reset.2026-05-01T07-00-00.000Z"), Some("abc"));
        assert_eq!(transcript_session_id("sessions.json"), None);
        assert_eq!(transcript_session_id("abc.jsonl.bak.2026"), None);
        let index = parse_index(
            r#"{"agent:main:main":{"sessionId":"s1","updatedAt":5,"lastHeartbeatSentAt":4,"x":{}},"bad":3}"#,
        )
        .expect("index");
        assert_eq!(index.len(), 1);
        assert_eq!(index[0].last_heartbeat_sent_at_ms, Some(4));
    }
}
