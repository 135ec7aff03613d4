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

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Where reading one file stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub dev: u64,
    pub ino: u64,
    /// Bytes of complete lines consumed.
    pub offset: u64,
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
        Ok(m) if m.dev() == cursor.dev && m.ino() == cursor.ino && m.len() == cursor.offset => {
            return Ok(Read::Unchanged);
        }
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
        let text = String::from_utf8_lossy(&buf[..buf.len() - 1]);
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
}
