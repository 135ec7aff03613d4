//! [`read_events`]: reads the log in seq order across rotated files, taking no lock.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::file::{
    first_seq_in, is_canonical_timestamp, last_seq_in, list_rotated, open_if_exists, parse_event, peek_seq,
    peek_timestamp, rotated_path, seek_stamp,
};
use super::{EVENTS_FILE, Event, EventFilter, EventLogError};

/// One file of the log opened for reading, with the first seq it holds.
struct Segment {
    path: PathBuf,
    file: File,
    first_seq: u64,
}

/// How far before `since` reading starts, for events stamped out of order.
const SINCE_SLACK: chrono::Duration = chrono::Duration::hours(1);

/// Reads the events of `state_dir` matching `filter` in seq order, across the rotated files
/// (`events.jsonl.N` .. `events.jsonl.1`) and `events.jsonl`. Creates nothing: a missing
/// directory or file is an empty log. Lines that do not parse (a torn tail, garbage) are
/// skipped, and a seq not above the last one yielded is dropped.
pub fn read_events(state_dir: &Path, filter: &EventFilter) -> Result<Vec<Event>, EventLogError> {
    let mut out = Vec::new();
    if filter.limit == Some(0) {
        return Ok(out);
    }
    let floor = filter.since_seq.unwrap_or(0);
    // `since` as the writer spells times: a line whose timestamp sorts before it is skipped
    // unparsed (the text is the time floored to the millisecond, so nothing at or after
    // `since` sorts before it).
    let stamp = |at: chrono::DateTime<chrono::Utc>| {
        Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .filter(|text| is_canonical_timestamp(text.as_bytes()))
    };
    let since_text = filter.since.and_then(stamp);
    // Reading starts where the stamps pass `since` less a slack, found by bisecting each file;
    // only an event stamped more than the slack before a line written ahead of it (a wall
    // clock set back across `since`) can be missed.
    let seek_text = filter.since.and_then(|since| stamp(since - SINCE_SLACK));

    // The live file is opened before the rotated ones are listed, and numbers past the listed
    // ones are tried too: a rotation meanwhile only moves files to higher numbers, so every file
    // is still found (perhaps twice: the same file is read once). Files are then read in the
    // order of their first seq, whatever their names were when opened.
    let mut opened: Vec<(PathBuf, File)> = Vec::new();
    let live_path = state_dir.join(EVENTS_FILE);
    if let Some(file) = open_if_exists(&live_path)? {
        opened.push((live_path, file));
    }
    let rotated = list_rotated(state_dir).map_err(|e| EventLogError::read(state_dir, e))?;
    let mut next = 1;
    for (n, path) in rotated {
        if let Some(file) = open_if_exists(&path)? {
            opened.push((path, file));
        }
        next = n.saturating_add(1);
    }
    loop {
        let path = rotated_path(state_dir, next);
        match open_if_exists(&path)? {
            Some(file) => opened.push((path, file)),
            None => break,
        }
        next = next.saturating_add(1);
    }

    let mut seen = HashSet::new();
    let mut segments = Vec::new();
    for (path, file) in opened {
        let meta = file.metadata().map_err(|e| EventLogError::read(&path, e))?;
        if !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let last = last_seq_in(&file, meta.len()).map_err(|e| EventLogError::read(&path, e))?;
        if last.is_none_or(|last| last <= floor) {
            continue;
        }
        let first = first_seq_in(&file).map_err(|e| EventLogError::read(&path, e))?;
        if let Some(first_seq) = first {
            segments.push(Segment { path, file, first_seq });
        }
    }
    segments.sort_by_key(|segment| segment.first_seq);

    let mut last = floor;
    let mut line = Vec::new();
    for segment in segments {
        let start = match &seek_text {
            Some(key) => {
                let len = segment.file.metadata().map_err(|e| EventLogError::read(&segment.path, e))?.len();
                seek_stamp(&segment.file, len, key.as_bytes())
                    .map_err(|e| EventLogError::read(&segment.path, e))?
            }
            None => 0,
        };
        // first_seq_in moved the cursor.
        (&segment.file).seek(SeekFrom::Start(start)).map_err(|e| EventLogError::read(&segment.path, e))?;
        let mut reader = BufReader::with_capacity(256 * 1024, &segment.file);
        if start > 0 {
            // The rest of the line the bisection landed in (stamped before `since`).
            line.clear();
            reader.read_until(b'\n', &mut line).map_err(|e| EventLogError::read(&segment.path, e))?;
        }
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(|e| EventLogError::read(&segment.path, e))?;
            if n == 0 {
                break;
            }
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            if peek_seq(body).is_some_and(|seq| seq <= last) {
                continue;
            }
            if let (Some(since), Some(stamp)) = (&since_text, peek_timestamp(body))
                && stamp < since.as_bytes()
            {
                continue;
            }
            let Some(event) = parse_event(body) else {
                continue;
            };
            if event.seq <= last {
                continue;
            }
            last = event.seq;
            if filter.matches(&event) {
                out.push(event);
                if filter.limit.is_some_and(|limit| out.len() >= limit) {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// The seq of the newest event stored in `state_dir`: `None` for an empty or missing log.
/// Reads back from the end of the live file (or of the newest rotated one, just after a
/// rotation); parses one line.
pub fn last_stored_seq(state_dir: &Path) -> Result<Option<u64>, EventLogError> {
    for path in [state_dir.join(EVENTS_FILE), rotated_path(state_dir, 1)] {
        let Some(file) = open_if_exists(&path)? else { continue };
        let len = file.metadata().map_err(|e| EventLogError::read(&path, e))?.len();
        if let Some(seq) = last_seq_in(&file, len).map_err(|e| EventLogError::read(&path, e))? {
            return Ok(Some(seq));
        }
    }
    Ok(None)
}

/// The newest `n` events matching `filter` (its `limit` ignored) and `keep`, oldest first.
///
/// `hint` is a seq at or near the end of the log (live state's `last_event_seq`; `u64::MAX`
/// when unknown): windows of growing size are read back from it, so asking for the last few
/// events of a long log does not parse all of it.
pub fn tail_events(
    state_dir: &Path,
    filter: &EventFilter,
    n: usize,
    hint: u64,
    keep: impl Fn(&Event) -> bool,
) -> Result<Vec<Event>, EventLogError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let floor = filter.since_seq.unwrap_or(0);
    let mut window = (n as u64).saturating_mul(4).max(256);
    loop {
        let lower = hint.saturating_sub(window).max(floor);
        let read = EventFilter { since_seq: Some(lower), limit: None, ..filter.clone() };
        let mut found = read_events(state_dir, &read)?;
        found.retain(|e| keep(e));
        if found.len() >= n || lower == floor {
            found.drain(..found.len().saturating_sub(n));
            return Ok(found);
        }
        window = window.saturating_mul(4);
    }
}

/// The oldest `n` events after `filter`'s cursor matching `filter` and `keep`, oldest first:
/// pages through the log so events dropped by `keep` do not shorten the answer.
pub fn head_events(
    state_dir: &Path,
    filter: &EventFilter,
    n: usize,
    keep: impl Fn(&Event) -> bool,
) -> Result<Vec<Event>, EventLogError> {
    let mut out = Vec::new();
    let mut cursor = filter.since_seq;
    while out.len() < n {
        let want = n - out.len();
        let page =
            read_events(state_dir, &EventFilter { since_seq: cursor, limit: Some(want), ..filter.clone() })?;
        let full = page.len() == want;
        cursor = page.last().map(|e| e.seq).or(cursor);
        out.extend(page.into_iter().filter(|e| keep(e)));
        if !full {
            break;
        }
    }
    Ok(out)
}
