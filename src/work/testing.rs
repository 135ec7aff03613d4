//! Helpers shared by the work tests: fixed instants, configurations loaded from a temporary
//! workspace, and a stand-in for the event log's append that numbers events and gives new
//! tasks their ids.

use chrono::{DateTime, Utc};

use super::board::Board;
use crate::config::Config;
use crate::events::{Event, NewEvent};

pub fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
}

/// A workspace with the built-in rules, these desired documents and these settings.
pub fn config(desired: &str, settings: Option<&str>) -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("desired")).expect("mkdir");
    if !desired.is_empty() {
        std::fs::write(dir.path().join("desired/x.yaml"), desired).expect("write");
    }
    if let Some(settings) = settings {
        std::fs::write(dir.path().join(crate::config::SETTINGS_FILE), settings).expect("write");
    }
    crate::config::load(dir.path(), at(0)).unwrap_or_else(|e| panic!("{:?}", e.0))
}

/// Agents and a project like the example workspace's, with `humans: [Khaled]`.
pub fn example_config() -> Config {
    config(
        "kind: Agent\nid: fakker\nname: Fakker\nrole: orchestrator\nmodel: example-large-2\n---\n\
         kind: Agent\nid: backend\nname: Backend\nrole: subagent\nparent: fakker\n---\n\
         kind: Agent\nid: frontend\nname: Frontend\nrole: subagent\nparent: fakker\n---\n\
         kind: Project\nid: mission-control\nstatus: active\nrepo: .\nbranch: main\n",
        Some("humans: [Khaled]\n"),
    )
}

/// What the event log does on append: the next seqs, `NEW_ID` replaced by `t{seq}`, the
/// timestamp the command chose; then the events are folded into the board.
pub fn stored(board: &mut Board, events: Vec<NewEvent>) -> Vec<Event> {
    let first = board.last_seq + 1;
    let out: Vec<Event> =
        events.into_iter().zip(first..).map(|(new, seq)| new.stored(seq, at(seq as i64))).collect();
    for event in &out {
        board.apply(event);
    }
    out
}
