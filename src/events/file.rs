//! Lines of a log file: the rotated files' names, scanning back from the end for the last
//! seq or newline, and parsing ranges of lines.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{EVENTS_FILE, Event, EventLogError};

/// How much is read at a time when scanning back from the end of a file.
const SCAN_CHUNK: u64 = 64 * 1024;

pub(super) fn rotated_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{EVENTS_FILE}.{n}"))
}

/// `events.jsonl.N` files in `dir`, by ascending N (newest first).
pub(super) fn list_rotated(dir: &Path) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(suffix) = name.to_str().and_then(|name| name.strip_prefix(EVENTS_FILE)?.strip_prefix('.'))
        else {
            continue;
        };
        if !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = suffix.parse::<u32>()
        {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The offset of the last `\n` in `file[..end]`.
pub(super) fn last_newline(file: &File, end: u64) -> io::Result<Option<u64>> {
    let mut pos = end;
    let mut chunk = Vec::new();
    while pos > 0 {
        let start = pos.saturating_sub(SCAN_CHUNK);
        chunk.resize((pos - start) as usize, 0);
        file.read_exact_at(&mut chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        pos = start;
    }
    Ok(None)
}

/// Calls `visit` on the lines of `file[..end]`, last line first, until it returns `Some`.
/// Reads only as far back as it must.
pub(super) fn scan_lines_back<T>(
    file: &File,
    end: u64,
    mut visit: impl FnMut(&[u8]) -> Option<T>,
) -> io::Result<Option<T>> {
    let mut pos = end;
    // file[pos..pos + pending.len()], not visited yet; starts mid-line unless pos is 0.
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let mut hi = pending.len();
        while let Some(i) = pending[..hi].iter().rposition(|&b| b == b'\n') {
            if let Some(found) = visit(&pending[i + 1..hi]) {
                return Ok(Some(found));
            }
            hi = i;
        }
        if pos == 0 {
            return Ok(visit(&pending[..hi]));
        }
        let start = pos.saturating_sub(SCAN_CHUNK);
        let mut chunk = vec![0; (pos - start) as usize];
        file.read_exact_at(&mut chunk, start)?;
        chunk.extend_from_slice(&pending[..hi]);
        pending = chunk;
        pos = start;
    }
}

pub(super) fn parse_event(line: &[u8]) -> Option<Event> {
    if line.is_empty() {
        return None;
    }
    serde_json::from_slice(line).ok()
}

/// The seq of the last line in `file[..end]` that is a valid event.
pub(super) fn last_seq_in(file: &File, end: u64) -> io::Result<Option<u64>> {
    scan_lines_back(file, end, |line| parse_event(line).map(|event| event.seq))
}

/// The valid events among `bytes`' lines whose seq rises above `floor`, each above the one
/// before.
pub(super) fn parse_lines(bytes: &[u8], floor: u64) -> Vec<Event> {
    let mut last = floor;
    let mut events = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        if let Some(event) = parse_event(line).filter(|event| event.seq > last) {
            last = event.seq;
            events.push(event);
        }
    }
    events
}

pub(super) fn parse_range(file: &File, start: u64, end: u64, floor: u64) -> io::Result<Vec<Event>> {
    let mut bytes = vec![0; end.saturating_sub(start) as usize];
    file.read_exact_at(&mut bytes, start)?;
    Ok(parse_lines(&bytes, floor))
}

/// The seq of a line as this module writes it (`{"seq":N,...`), without parsing the rest, so
/// a reader can skip what lies before `since_seq` cheaply.
pub(super) fn peek_seq(line: &[u8]) -> Option<u64> {
    let digits = line.strip_prefix(b"{\"seq\":")?;
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..len]).ok()?.parse().ok()
}

/// The timestamp of a line as the writer writes it (`{"seq":N,"timestamp":"…Z",`), as text:
/// `None` for any other spelling. That text (RFC 3339, UTC, milliseconds) orders as the times
/// do, so a line can be compared with a time without being parsed.
pub(super) fn peek_timestamp(line: &[u8]) -> Option<&[u8]> {
    let digits = line.strip_prefix(b"{\"seq\":")?;
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = digits[len..].strip_prefix(b",\"timestamp\":\"")?;
    let (stamp, after) = rest.split_at_checked(TIMESTAMP_LEN)?;
    (after.first() == Some(&b'"') && is_canonical_timestamp(stamp)).then_some(stamp)
}

/// Where to start reading `file` (of `len` bytes) for the lines stamped at or after `key` (a
/// stamp as [`peek_timestamp`] gives it): an offset inside or at the start of a line stamped
/// before `key`, found by bisecting the file, or 0 when in doubt. Stamps rise through the log
/// because events are stamped as they are written; the caller leaves slack for the few that
/// are not.
pub(super) fn seek_stamp(file: &File, len: u64, key: &[u8]) -> io::Result<u64> {
    /// Below this, reading the rest costs less than bisecting it.
    const CLOSE_ENOUGH: u64 = 256 * 1024;
    let (mut lo, mut hi) = (0u64, len);
    let mut window = vec![0; 8192];
    while hi - lo > CLOSE_ENOUGH {
        let mid = lo + (hi - lo) / 2;
        let n = file.read_at(&mut window, mid)?;
        // The first whole line after `mid`: its stamp, if it has the writer's spelling.
        let stamp = window[..n]
            .iter()
            .position(|&b| b == b'\n')
            .and_then(|newline| peek_timestamp(&window[newline + 1..n]));
        match stamp {
            Some(stamp) if stamp < key => lo = mid,
            Some(_) => hi = mid,
            None => break,
        }
    }
    Ok(lo)
}

/// The length of `2026-11-25T07:00:00.000Z`.
pub(super) const TIMESTAMP_LEN: usize = 24;

/// Whether `stamp` is spelled `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(super) fn is_canonical_timestamp(stamp: &[u8]) -> bool {
    const SHAPE: &[u8; TIMESTAMP_LEN] = b"dddd-dd-ddTdd:dd:dd.dddZ";
    stamp.len() == TIMESTAMP_LEN
        && stamp.iter().zip(SHAPE).all(|(b, shape)| match shape {
            b'd' => b.is_ascii_digit(),
            other => b == other,
        })
}

pub(super) fn open_if_exists(path: &Path) -> Result<Option<File>, EventLogError> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EventLogError::read(path, e)),
    }
}

/// The seq of the first valid line of `file`.
pub(super) fn first_seq_in(file: &File) -> io::Result<Option<u64>> {
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        if let Some(event) = parse_event(body) {
            return Ok(Some(event.seq));
        }
    }
}
