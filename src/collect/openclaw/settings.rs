//! `openclaw.json`: which agents have a heartbeat, and how often it is meant to fire.
//!
//! # What OpenClaw reads (reference)
//!
//! The gateway's configuration is `<home>/openclaw.json`, JSON5 (comments, trailing commas,
//! unquoted keys). Heartbeats: `agents.defaults.heartbeat` `{every, prompt, target, model,
//! timeoutSeconds, activeHours, ...}`, overridden per agent by the `heartbeat` object of its
//! entry in `agents.list` (`[{id, default, heartbeat, ...}]`; 2026.9 also accepts the map
//! `agents.entries: {<id>: {...}}`). When any agent entry has a `heartbeat`, exactly those
//! agents have one; otherwise only the default agent does (the entry marked `default: true`,
//! else the first, else `main`). `every` is a duration (`30m`, `1h30m`, `90s`, `500ms`; a bare
//! number is minutes), default `30m`; zero (`0m`) turns the cadence off. From 2026.9 the
//! gateway also keeps a system-owned cron job `Heartbeat (<agent>)` per heartbeat agent.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value};

use super::HeartbeatConfig;
use super::store::text;

/// The default cadence.
pub const DEFAULT_EVERY: &str = "30m";

/// Parses a heartbeat `every` as OpenClaw does: `<n><unit>` segments (`ms`, `s`, `m`, `h`,
/// `d`), a bare number in minutes. `Ok(None)` is a zero cadence, which turns heartbeats off.
pub fn parse_every(raw: &str) -> Result<Option<Duration>, String> {
    let t = raw.trim().to_ascii_lowercase();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let unit_ms = |unit: &str| match unit {
        "ms" => Some(1.0),
        "s" => Some(1_000.0),
        "" | "m" => Some(60_000.0),
        "h" => Some(3_600_000.0),
        "d" => Some(86_400_000.0),
        _ => None,
    };
    let mut total = 0.0f64;
    let mut rest = t.as_str();
    let mut segments = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let unit_len = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let value: f64 = number.parse().map_err(|_| format!("not a duration: {raw:?}"))?;
        // A bare number stands alone; in a composite every segment names its unit.
        if unit.is_empty() && (segments > 0 || !after.is_empty()) {
            return Err(format!("each segment needs a unit: {raw:?}"));
        }
        total += value * unit_ms(unit).ok_or_else(|| format!("unknown unit {unit:?} in {raw:?}"))?;
        segments += 1;
        rest = after;
    }
    let ms = total.round();
    Ok((ms > 0.0).then(|| Duration::from_millis(ms as u64)))
}

/// The heartbeat of every agent the configuration names, and of `also` (agents found on disk
/// or in jobs). Problems are messages about the configuration.
pub fn heartbeats(config: Option<&Value>, also: &BTreeSet<String>) -> (Vec<HeartbeatConfig>, Vec<String>) {
    let empty = Map::new();
    let agents = config.and_then(|c| c.get("agents")).and_then(Value::as_object).unwrap_or(&empty);
    let defaults = agents.get("defaults").and_then(|d| d.get("heartbeat")).and_then(Value::as_object);
    let mut entries: Vec<(String, &Map<String, Value>)> = Vec::new();
    if let Some(list) = agents.get("list").and_then(Value::as_array) {
        for e in list.iter().filter_map(Value::as_object) {
            if let Some(id) = text(e.get("id")) {
                entries.push((normalise_agent(&id), e));
            }
        }
    }
    if let Some(map) = agents.get("entries").and_then(Value::as_object) {
        for (id, e) in map {
            if let Some(e) = e.as_object() {
                entries.push((normalise_agent(text(e.get("id")).as_deref().unwrap_or(id)), e));
            }
        }
    }
    let explicit = entries.iter().any(|(_, e)| e.get("heartbeat").is_some_and(|h| h.is_object()));
    let default_agent = entries
        .iter()
        .find(|(_, e)| e.get("default").and_then(Value::as_bool) == Some(true))
        .or(entries.first())
        .map_or_else(|| "main".to_string(), |(id, _)| id.clone());

    let mut ids: BTreeSet<String> = entries.iter().map(|(id, _)| id.clone()).collect();
    ids.extend(also.iter().map(|a| normalise_agent(a)));
    ids.insert(default_agent.clone());
    let mut problems = Vec::new();
    let configs = ids
        .into_iter()
        .map(|id| {
            let own = entries
                .iter()
                .find(|(e, _)| *e == id)
                .and_then(|(_, e)| e.get("heartbeat"))
                .and_then(Value::as_object);
            let selected = if explicit { own.is_some() } else { id == default_agent };
            let field = |k: &str| own.and_then(|o| o.get(k)).or_else(|| defaults.and_then(|d| d.get(k)));
            let every_text = match field("every") {
                Some(Value::Number(n)) => n.to_string(),
                Some(v) => text(Some(v)).unwrap_or_else(|| DEFAULT_EVERY.to_string()),
                None => DEFAULT_EVERY.to_string(),
            };
            let every = match parse_every(&every_text) {
                Ok(every) => every,
                Err(e) => {
                    problems.push(format!("agent {id}: heartbeat.every: {e}"));
                    None
                }
            };
            let enabled = selected && every.is_some();
            HeartbeatConfig {
                agent_id: id,
                enabled,
                every: every.filter(|_| enabled),
                every_text,
                prompt: text(field("prompt")),
            }
        })
        .collect();
    (configs, problems)
}

/// Agent ids as OpenClaw keys them: trimmed, lower case.
pub fn normalise_agent(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, Option<u64>)] = &[
            ("30m", Some(1_800_000)),
            ("1h30m", Some(5_400_000)),
            ("90s", Some(90_000)),
            ("500ms", Some(500)),
            ("45", Some(2_700_000)),
            ("1.5h", Some(5_400_000)),
            ("0m", None),
            ("0", None),
        ];
        for (raw, ms) in cases {
            assert_eq!(parse_every(raw), Ok(ms.map(Duration::from_millis)), "{raw}");
        }
        for bad in ["", "soon", "1h30", "5w"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }

    fn configs(json5: &str) -> Vec<(String, bool, Option<u64>)> {
        let value: Value = json5::from_str(json5).expect("json5");
        let also: BTreeSet<String> = ["ops".to_string()].into();
        let (c, problems) = heartbeats(Some(&value), &also);
        assert!(problems.is_empty(), "{problems:?}");
        c.into_iter().map(|h| (h.agent_id, h.enabled, h.every.map(|d| d.as_secs()))).collect()
    }

    #[test]
    fn who_has_a_heartbeat() {
        // No explicit agent: only the default agent, with the defaults' cadence.
        assert_eq!(
            configs("{agents: {defaults: {heartbeat: {every: '15m'}}, list: [{id: 'Main'}, {id: 'ops'}]}}"),
            vec![("main".into(), true, Some(900)), ("ops".into(), false, None)]
        );
        // Explicit entries: exactly those, each with its own cadence; `0m` disables.
        assert_eq!(
            configs(
                "{agents: {defaults: {heartbeat: {every: '1h'}}, list: [{id: 'main', heartbeat: {every: '0m'}},
                  {id: 'ops', heartbeat: {}}, {id: 'lab', default: true}]}}"
            ),
            vec![("lab".into(), false, None), ("main".into(), false, None), ("ops".into(), true, Some(3600))]
        );
        // Nothing configured: `main` every 30 minutes.
        let (c, _) = heartbeats(None, &BTreeSet::new());
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].agent_id.as_str(), c[0].enabled, c[0].every),
            ("main", true, Some(Duration::from_secs(1800)))
        );
        // The 2026.9 map form.
        assert_eq!(
            configs("{agents: {entries: {ops: {heartbeat: {every: 5}}}}}"),
            vec![("ops".into(), true, Some(300))]
        );
    }
}
