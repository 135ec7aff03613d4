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

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::Tokens;
use super::store::{integer, number, text};

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

/// Reads one transcript entry. `custom_prompt` is the agent's configured heartbeat prompt.
pub fn entry(v: &Value, custom_prompt: Option<&str>) -> Entry {
    let message = v.get("message").and_then(Value::as_object);
    let at = v
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            integer(message.and_then(|m| m.get("timestamp"))).and_then(DateTime::from_timestamp_millis)
        });
    let id = text(v.get("id"));
    let kind = match (message, message.and_then(|m| m.get("role")).and_then(Value::as_str)) {
        (Some(m), Some("assistant")) => EntryKind::Assistant {
            provider: text(m.get("provider")).or_else(|| text(v.get("provider"))),
            model: text(m.get("model")).or_else(|| text(v.get("model"))),
            usage: m.get("usage").or_else(|| v.get("usage")).and_then(Value::as_object).and_then(usage),
        },
        (Some(m), Some("user")) if is_heartbeat_prompt(&content_text(m.get("content")), custom_prompt) => {
            EntryKind::HeartbeatPrompt
        }
        _ => EntryKind::Other,
    };
    Entry { id, at, kind }
}

fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
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
fn usage(u: &Map<String, Value>) -> Option<(Tokens, Option<f64>)> {
    let first = |keys: &[&str]| keys.iter().find_map(|k| number(u.get(*k)));
    let nested = |outer: &str| number(u.get(outer).and_then(|d| d.get("cached_tokens")));
    let cache_read = first(&["cacheRead", "cache_read", "cache_read_input_tokens", "cached_tokens"])
        .or_else(|| nested("input_tokens_details"))
        .or_else(|| nested("prompt_tokens_details"));
    // OpenAI-style counts include the cached tokens in the prompt; the others do not.
    let openai_style = u.contains_key("cached_tokens")
        || u.get("input_tokens_details").is_some_and(|d| d.get("cached_tokens").is_some())
        || u.get("prompt_tokens_details").is_some_and(|d| d.get("cached_tokens").is_some());
    let raw_input = first(&["input", "inputTokens", "input_tokens", "promptTokens", "prompt_tokens"]);
    let input = match (raw_input, cache_read) {
        (Some(i), Some(c)) if openai_style => Some((i - c).max(0.0)),
        (i, _) => i,
    };
    let output = first(&["output", "outputTokens", "output_tokens", "completionTokens", "completion_tokens"]);
    let cache_write = first(&["cacheWrite", "cache_write", "cache_creation_input_tokens"]);
    let total = first(&["total", "totalTokens", "total_tokens"]);
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
    let cost = number(u.get("cost").and_then(|c| c.get("total"))).filter(|c| *c >= 0.0);
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
