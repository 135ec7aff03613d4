//! Following an append-only JSONL file from tick to tick, as OpenClaw's run logs and session
//! transcripts are.
//!
//! A [`Cursor`] remembers which file it read (device and inode) and how many bytes of complete
//! lines it consumed. The next read hands over only the complete lines after that offset; a
//! last line without its newline is a write in progress and is left for the next tick. When
//! the file at the path is another file (OpenClaw rewrites an oversized run log to its last
//! 2,000 lines through a temporary file and a rename) or is shorter than the offset (a
//! transcript pruned of its heartbeat-only turns), the whole file is read again and the read
//! says so: the caller skips what it has already seen by its own watermark, so nothing is
//! counted twice and nothing appended meanwhile is lost. The file is only ever opened for
//! reading.
//!
//! Files that are rewritten whole rather than appended to (`openclaw.json`, the JSON cron store,
//! `sessions.json`, the SQLite databases) are instead recognised by their [`Stamp`]: what one
//! `stat` says about them. While the stamp stays the same, what was parsed from the file the
//! last time still holds, so an unchanged home costs a `stat` per file and no reading.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Where reading one file stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub dev: u64,
    pub ino: u64,
    /// Bytes of complete lines consumed.
    pub offset: u64,
}

/// What a file looked like: which file it is, its size, and when it was last written or had
/// its inode changed (`ctime` moves with every write and cannot be set back by a writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    file: (u64, u64, u64, (i64, i64), (i64, i64)),
    /// Whether, when the stamp was taken, the file had been left alone long enough for the
    /// stamp to vouch for its content (see [`SETTLED_AFTER`]).
    settled: bool,
}

/// How long after its last change a file's stamp is trusted to show the next change.
/// Timestamps come from a coarse clock: two writes a few milliseconds apart that leave the
/// same size can leave the same stamp, so a file changed this recently is read again.
const SETTLED_AFTER: Duration = Duration::from_secs(2);

impl Stamp {
    /// Whether what was read of a file stamped `self` (taken before reading it) still holds
    /// for a file stamped `now`. A stamp taken moments after a write vouches for nothing: a
    /// second write in the same clock tick could leave it as it was, so such a file is read
    /// again, once, with a stamp that then has settled.
    pub fn unchanged(&self, now: &Stamp) -> bool {
        self.settled && self.file == now.file
    }
}

#[cfg(test)]
impl Stamp {
    /// The same stamp as if the file had been written long ago.
    pub fn settled(self) -> Stamp {
        Stamp { settled: true, ..self }
    }
}

/// The stamp of the file at `path`: one `stat`; `Ok(None)` when there is no file.
pub fn stamp(path: &Path) -> io::Result<Option<Stamp>> {
    let m = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // The file system's clock, not the scan's `now`: this is about when the bytes changed.
    let changed = SystemTime::UNIX_EPOCH + Duration::new(m.ctime().max(0) as u64, m.ctime_nsec() as u32);
    let settled = SystemTime::now().duration_since(changed).is_ok_and(|age| age >= SETTLED_AFTER);
    Ok(Some(Stamp {
        file: (m.dev(), m.ino(), m.len(), (m.mtime(), m.mtime_nsec()), (m.ctime(), m.ctime_nsec())),
        settled,
    }))
}

impl Cursor {
    /// Whether a file whose `stat` says `meta` is the one read, with nothing after what was
    /// read: what [`follow`] would find without reading.
    pub fn matches(&self, meta: &std::fs::Metadata) -> bool {
        meta.dev() == self.dev && meta.ino() == self.ino && meta.len() == self.offset
    }
}

/// How a read went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Nothing new.
    Unchanged,
    /// Lines were appended after the offset.
    Appended,
    /// The file was replaced or shrank: it was read from its start.
    Restarted,
}

/// Hands every complete line after the cursor to `line` (without its newline; with whether the
/// file is being read again from its start), and moves the cursor past them. A missing file
/// is `Ok(Read::Unchanged)` and leaves the cursor as it was.
pub fn follow(path: &Path, cursor: &mut Cursor, mut line: impl FnMut(&str, bool)) -> io::Result<Read> {
    // The common case, a file unchanged since the last tick, costs one stat.
    match std::fs::metadata(path) {
        Ok(m) if cursor.matches(&m) => return Ok(Read::Unchanged),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Read::Unchanged),
        _ => {}
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Read::Unchanged),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let same_file = meta.dev() == cursor.dev && meta.ino() == cursor.ino;
    let restarted = !same_file || meta.len() < cursor.offset;
    let start = if restarted { 0 } else { cursor.offset };
    if !restarted && meta.len() == cursor.offset {
        return Ok(Read::Unchanged);
    }
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    reader.seek(SeekFrom::Start(start))?;
    let mut offset = start;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            // End of file, or a line still being written: leave it for the next tick.
            break;
        }
        offset += n as u64;
        let bytes = &buf[..buf.len() - 1];
        // Checking is much faster than converting; a line that is not UTF-8 is rare.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let text = text.trim_end_matches('\r');
        if !text.trim().is_empty() {
            line(text, restarted);
        }
    }
    *cursor = Cursor { dev: meta.dev(), ino: meta.ino(), offset };
    Ok(if restarted { Read::Restarted } else { Read::Appended })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(path: &Path, cursor: &mut Cursor) -> (Read, Vec<String>) {
        let mut out = Vec::new();
        let read = follow(path, cursor, |l, _| out.push(l.to_string())).expect("read");
        (read, out)
    }

    #[test]
    fn appends_partial_lines_rewrites_and_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.jsonl");
        let mut cursor = Cursor::default();
        assert_eq!(lines(&path, &mut cursor), (Read::Unchanged, vec![]));

        std::fs::write(&path, "a\nb\nc-partial").expect("write");
        assert_eq!(lines(&path, &mut cursor), (Read::Restarted, vec!["a".into(), "b".into()]));
        assert_eq!(lines(&path, &mut cursor), (Read::Appended, vec![]));

        let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"-done\n\nd\r\n").expect("append");
        assert_eq!(lines(&path, &mut cursor), (Read::Appended, vec!["c-partial-done".into(), "d".into()]));
        assert_eq!(lines(&path, &mut cursor), (Read::Unchanged, vec![]));

        // Replaced through a rename: a new inode, read from the start.
        let tmp = dir.path().join("log.tmp");
        std::fs::write(&tmp, "d\ne\n").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        assert_eq!(lines(&path, &mut cursor), (Read::Restarted, vec!["d".into(), "e".into()]));

        // Shrunk in place.
        std::fs::write(&path, "x\n").expect("truncate");
        assert_eq!(lines(&path, &mut cursor), (Read::Restarted, vec!["x".into()]));
    }

    #[test]
    fn a_stamp_changes_with_the_file_and_is_trusted_once_settled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jobs.json");
        assert_eq!(stamp(&path).expect("stat"), None);
        std::fs::write(&path, "{}").expect("write");
        let first = stamp(&path).expect("stat").expect("a file");
        // Just written: the same stamp does not vouch for the same content yet.
        assert!(!first.unchanged(&first));
        assert!(first.settled().unchanged(&first));
        std::fs::write(&path, "{\"a\":1}").expect("rewrite");
        let second = stamp(&path).expect("stat").expect("a file");
        assert!(!first.settled().unchanged(&second));
    }
}
