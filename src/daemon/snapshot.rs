//! The live state as it leaves the reconciler: the API's bytes and the snapshot file, both
//! serialized straight through the redactor ([`Redacted`]), without building the state as a
//! `serde_json::Value` tree first (which cost about half the daemon's CPU under ping load and
//! most of its peak memory at 10,000 entities).
//!
//! The JSON is what redacting the tree gave, key order aside: keys come in the types'
//! declaration order instead of sorted, and the file's `work` comes last.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::redact::Redacted;
use crate::state::{self, LiveState};
use crate::work::Board;

/// A publication of the live state. Its entity states are shared with the engine (an
/// entity's state is copied only when it next changes), and its JSON is made on the first
/// request that needs it, not at every publication: under load the reconciler publishes up
/// to ten times a second, and rebuilding the whole JSON each time cost most of its CPU.
pub struct Published {
    pub live: Arc<LiveState>,
    json: OnceLock<Arc<Vec<u8>>>,
}

impl Published {
    pub fn new(live: Arc<LiveState>) -> Published {
        Published { live, json: OnceLock::new() }
    }

    /// The redacted JSON, made once per publication.
    pub fn bytes(&self) -> Arc<Vec<u8>> {
        self.json.get_or_init(|| Arc::new(published_bytes(&self.live))).clone()
    }
}

/// The redacted live state as compact JSON: what `GET /api/v1/state` serves.
pub(super) fn published_bytes(live: &LiveState) -> Vec<u8> {
    serde_json::to_vec(&Redacted::new(live)).unwrap_or_else(|_| b"null".to_vec())
}

/// The snapshot file: the live state with the work board added as `work` (redacted like the
/// rest), since the file is what a restart resumes from, while the API leaves the board out.
/// The board's tasks are the live state's `tasks` already; the board takes them back from
/// there, so the file leaves them out of `work`.
#[derive(Serialize)]
struct SnapshotFile<'a> {
    /// A `work` the live state carries itself is replaced by the board's.
    #[serde(flatten)]
    live: Redacted<'a, LiveState>,
    work: Redacted<'a, Board>,
}

/// The snapshot file's bytes, as [`write_snapshot`] writes them.
#[cfg(test)]
fn snapshot_bytes(live: &LiveState, board: &Board) -> serde_json::Result<Vec<u8>> {
    let dir = tempfile::tempdir().map_err(serde_json::Error::io)?;
    let path = dir.path().join(state::FILE);
    write_snapshot(&path, live, board).map_err(serde_json::Error::io)?;
    std::fs::read(&path).map_err(serde_json::Error::io)
}

/// Writes the snapshot (with the board) through the redactor, atomically, streamed to the
/// file: at 10,000 entities the whole text would be some 15 MB held at once.
pub(super) fn write_snapshot(path: &Path, live: &LiveState, board: &Board) -> std::io::Result<()> {
    state::write_atomic_with(path, |out| {
        let file = SnapshotFile {
            live: Redacted::new(live).omitting("work"),
            work: Redacted::new(board).omitting("tasks"),
        };
        serde_json::to_writer_pretty(&mut *out, &file).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// What the daemon wrote before: the live state as a redacted `Value`, ...
    fn redacted_tree(live: &LiveState) -> Value {
        let mut value = serde_json::to_value(live).unwrap_or_default();
        crate::redact::redact_json(&mut value);
        value
    }

    /// ... with the redacted board, less its tasks, put in as `work`.
    fn file_tree(live: &LiveState, board: &Board) -> Value {
        let mut value = redacted_tree(live);
        if let (Some(object), Ok(mut board)) = (value.as_object_mut(), serde_json::to_value(board)) {
            crate::redact::redact_json(&mut board);
            if let Some(board) = board.as_object_mut() {
                board.remove("tasks");
            }
            object.insert("work".to_string(), board);
        }
        value
    }

    // A registered credential, and a pattern secret assembled so no token sits in the source.
    const CREDENTIAL: &str = "snapshot-test-credential";
    const SK: &str = concat!("sk", "-proj-", "abcDEF1234567890ghijKLMN");

    fn example() -> LiveState {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/state/mission-control.example.json"
        ))
        .expect("the example snapshot");
        let mut live: LiveState = serde_json::from_str(&text).expect("the example parses");
        let routine = std::sync::Arc::make_mut(live.routines.first_mut().expect("a routine"));
        routine.message = format!("failed with Authorization: Bearer {CREDENTIAL}");
        routine.labels.insert(format!("from {SK}"), "x".to_owned());
        live.mismatches[0].observed = json!({"api_token": "t", "nested": [{"Cookie": "c"}], "url": SK});
        live
    }

    fn board(live: &LiveState) -> Board {
        let mut board: Board = serde_json::from_value(json!({
            "last_seq": 42,
            "agents": {
                "coder": {"at": "2026-11-25T06:00:00Z", "status": format!("using {CREDENTIAL}"), "tokens": 12},
            },
            "usage": [{
                "at": "2026-11-25T06:00:00Z", "model": "m", "agent": "coder", "task": SK,
                "input_tokens": 1, "output_tokens": 2, "total_tokens": 3, "estimated_cost": 0.5,
                "currency": "EUR",
            }],
        }))
        .expect("a board");
        board.tasks = live.tasks.iter().map(|t| (t.id.clone(), t.clone())).collect();
        board
    }

    #[test]
    fn published_bytes_are_the_redacted_tree() {
        crate::redact::global().add_secret(CREDENTIAL);
        for live in [LiveState::default(), example()] {
            let bytes = published_bytes(&live);
            let parsed: Value = serde_json::from_slice(&bytes).expect("json");
            assert_eq!(parsed, redacted_tree(&live));
            let text = String::from_utf8(bytes).expect("utf-8");
            assert!(!text.contains(CREDENTIAL) && !text.contains(SK), "{text}");
        }
    }

    #[test]
    fn the_snapshot_file_is_the_redacted_tree_with_the_board() {
        crate::redact::global().add_secret(CREDENTIAL);
        let mut live = example();
        let board = board(&live);
        let bytes = snapshot_bytes(&live, &board).expect("serializes");
        assert!(bytes.ends_with(b"}\n"));
        let parsed: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(parsed, file_tree(&live, &board));
        assert!(parsed["work"].get("tasks").is_none());
        assert_eq!(parsed["work"]["last_seq"], 42);
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(!text.contains(CREDENTIAL) && !text.contains(SK), "{text}");

        // A `work` of the live state's own is replaced, not written twice.
        live.work = Some(Board { last_seq: 7, ..Board::default() });
        let bytes = snapshot_bytes(&live, &board).expect("serializes");
        assert_eq!(String::from_utf8_lossy(&bytes).matches("\"work\"").count(), 1);
        let parsed: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(parsed, file_tree(&live, &board));
    }

    #[test]
    fn a_written_snapshot_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state").join(state::FILE);
        let live = example();
        let board = board(&live);
        write_snapshot(&path, &live, &board).expect("written");
        let read = state::read(&path).expect("reads back");
        assert_eq!(read.routines.len(), live.routines.len());
        let work = read.work.expect("the board");
        assert_eq!(work.last_seq, 42);
        assert!(work.tasks.is_empty());
        assert_eq!(work.usage.len(), 1);
    }
}
