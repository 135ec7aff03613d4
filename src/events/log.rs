//! [`EventLog`]: appends that hold the cross-process lock, repair a torn tail, number events
//! after the last seq on disk, write and fsync once per batch, and rotate the file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::file::{
    last_newline, last_seq_in, list_rotated, open_if_exists, parse_lines, parse_range, rotated_path,
};
use super::{
    EVENTS_FILE, Event, EventFilter, EventLogError, LOCK_FILE, LogOptions, NewEvent, Scrub, read_events,
};

/// Lines another process appended are read (and broadcast) only up to this much; beyond it the
/// last `seq` comes from a scan back from the end, and subscribers see a gap in `seq`.
const FOREIGN_READ_LIMIT: u64 = 1024 * 1024;
/// A batch buffer grown past this is not kept for the next batch.
const KEEP_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// The writing and reading side of one state directory's log. Cheap to clone; clones share
/// the cached position, so within one process they take turns on an in-process mutex as well
/// as on the file lock (which alone would not separate two threads sharing a descriptor).
#[derive(Debug, Clone)]
pub struct EventLog {
    shared: Arc<Shared>,
    scrub: Option<Scrub>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    options: LogOptions,
    writer: Mutex<WriterState>,
}

#[derive(Debug)]
struct WriterState {
    lock: File,
    /// What this process knows of the live file; `None` until the first append and after any
    /// failure, which makes the next append look at the disk afresh.
    current: Option<Current>,
    /// Reused from batch to batch to keep the per-event work to serializing.
    buf: Vec<u8>,
}

#[derive(Debug)]
struct Current {
    file: File,
    dev: u64,
    ino: u64,
    /// The file's length after this process's last look; always just after a `\n` (or 0).
    len: u64,
    last_seq: u64,
}

/// What one locked append saw and did.
pub(super) struct Appended {
    /// Events other processes stored since this one last looked, in seq order.
    pub(super) foreign: Vec<Event>,
    pub(super) stored: Vec<Event>,
}

/// Holds the cross-process lock until dropped.
struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    fn acquire(file: &'a File, path: &Path) -> Result<FileLock<'a>, EventLogError> {
        file.lock()
            .map_err(|source| EventLogError::Lock { path: path.to_path_buf(), source: Arc::new(source) })?;
        Ok(FileLock(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        // Closing the descriptor would release it too; an unlock failure leaves nothing to do.
        let _ = self.0.unlock();
    }
}

impl EventLog {
    /// Opens (creating, mode 0700, if missing) `state_dir` and its lock file. The log file
    /// itself is created by the first append.
    pub fn open(state_dir: &Path, options: LogOptions) -> Result<EventLog, EventLogError> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(state_dir).map_err(|source| {
            EventLogError::CreateDir { path: state_dir.to_path_buf(), source: Arc::new(source) }
        })?;
        let lock_path = state_dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| EventLogError::open(&lock_path, e))?;
        Ok(EventLog {
            shared: Arc::new(Shared {
                dir: state_dir.to_path_buf(),
                path: state_dir.join(EVENTS_FILE),
                lock_path,
                options,
                writer: Mutex::new(WriterState { lock, current: None, buf: Vec::new() }),
            }),
            scrub: None,
        })
    }

    /// Runs `scrub` on every event before it is written.
    pub fn with_scrub(mut self, scrub: Scrub) -> EventLog {
        self.scrub = Some(scrub);
        self
    }

    /// The live log file, `state_dir/events.jsonl`.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Appends a batch durably (one write, one fsync) and returns the stored events, with
    /// consecutive seqs. An empty batch writes nothing.
    pub fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, EventLogError> {
        Ok(self.append_batch(events)?.stored)
    }

    /// The highest seq on disk across every writer (0 for an empty log).
    pub fn last_seq(&self) -> Result<u64, EventLogError> {
        self.append_batch(Vec::new())?;
        let state = self.shared.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(state.current.as_ref().map_or(0, |current| current.last_seq))
    }

    /// Reads events in seq order across the rotated files and the live one; see [`read_events`].
    pub fn read(&self, filter: &EventFilter) -> Result<Vec<Event>, EventLogError> {
        read_events(&self.shared.dir, filter)
    }

    pub(super) fn append_batch(&self, mut events: Vec<NewEvent>) -> Result<Appended, EventLogError> {
        if let Some(scrub) = self.scrub {
            events.iter_mut().for_each(scrub);
        }
        let shared = &*self.shared;
        let mut guard = shared.writer.lock().unwrap_or_else(|poisoned| {
            // A panic mid-append may have left the cached position wrong; look at the disk again.
            let mut state = poisoned.into_inner();
            state.current = None;
            state
        });
        let WriterState { lock, current, buf } = &mut *guard;
        let _lock = FileLock::acquire(lock, &shared.lock_path)?;
        // Taken out so that any error below drops it, and the next append starts afresh.
        let (mut live, foreign) = self.sync(current.take())?;
        if events.is_empty() {
            *current = Some(live);
            return Ok(Appended { foreign, stored: Vec::new() });
        }

        buf.clear();
        let now = Utc::now();
        let mut seq = live.last_seq;
        let mut stored = Vec::with_capacity(events.len());
        for new in events {
            seq += 1;
            // Stored with the precision it is written with, so what append returns equals
            // what a reader parses.
            let event = new.stored(seq, now);
            serde_json::to_writer(&mut *buf, &event).map_err(|e| EventLogError::Serialize {
                path: shared.path.clone(),
                message: e.to_string(),
            })?;
            buf.push(b'\n');
            stored.push(event);
        }

        if live.len > 0 && live.len + buf.len() as u64 > shared.options.max_bytes {
            live = self.rotate(live)?;
        }
        if let Err(e) = live.file.write_all(buf).and_then(|()| live.file.sync_data()) {
            // A full disk takes part of a batch (up to the end of the file's last block) before
            // it refuses the rest. Nothing of a refused batch may stay: readers would meet half
            // a line until the next append repaired it, and a batch that is answered with an
            // error must not be in the log at all, or a client retrying it is counted twice.
            // Shrinking needs no space, so this works on the full disk itself.
            let _ = live.file.set_len(live.len);
            return Err(EventLogError::write(&shared.path, e));
        }
        live.len += buf.len() as u64;
        live.last_seq = seq;
        *current = Some(live);
        if buf.capacity() > KEEP_BUFFER_BYTES {
            *buf = Vec::new();
        }
        Ok(Appended { foreign, stored })
    }

    /// Brings what this process knows of the live file up to date with the disk, under the
    /// lock: repairs a torn last line and finds the last seq, and collects the events other
    /// processes stored since this one last looked.
    fn sync(&self, previous: Option<Current>) -> Result<(Current, Vec<Event>), EventLogError> {
        let path = &self.shared.path;
        let on_disk = match fs::metadata(path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(EventLogError::read(path, e)),
        };
        let Some(mut live) = previous else {
            return Ok((self.resolve(self.open_live()?)?, Vec::new()));
        };
        match on_disk {
            Some(meta) if meta.dev() == live.dev && meta.ino() == live.ino => {
                if meta.len() == live.len {
                    return Ok((live, Vec::new()));
                }
                if meta.len() > live.len && meta.len() - live.len <= FOREIGN_READ_LIMIT {
                    let foreign = self.take_foreign(&mut live, meta.len())?;
                    return Ok((live, foreign));
                }
                // Shrunk (edited by hand?) or grown a lot: scan back from the end instead.
                let floor = live.last_seq;
                let mut fresh = self.resolve(live.file)?;
                fresh.last_seq = fresh.last_seq.max(floor);
                Ok((fresh, Vec::new()))
            }
            _ => {
                let floor = live.last_seq;
                let mut fresh = self.resolve(self.open_live()?)?;
                let foreign = self.foreign_across_rotation(&live, &fresh)?;
                fresh.last_seq = fresh.last_seq.max(foreign.last().map_or(floor, |event| event.seq));
                Ok((fresh, foreign))
            }
        }
    }

    /// What other writers stored since this process last looked, when they have rotated the
    /// file it had open (or someone removed it): the rest of that file (still readable through
    /// our descriptor), the rotated files newer than it, then the new live file. Empty when
    /// that is more than [`FOREIGN_READ_LIMIT`] or the old file is no longer among the rotated
    /// ones; subscribers then see a gap in seq.
    fn foreign_across_rotation(&self, old: &Current, fresh: &Current) -> Result<Vec<Event>, EventLogError> {
        let dir = &self.shared.dir;
        let old_len = old.file.metadata().map_err(|e| EventLogError::read(&self.shared.path, e))?.len();
        let mut budget = FOREIGN_READ_LIMIT.saturating_sub(fresh.len);
        budget = budget.saturating_sub(old_len.saturating_sub(old.len));
        // Rotated files from newest (.1) back to the one that was ours.
        let mut newer = Vec::new();
        let mut found_old = false;
        for (_, path) in list_rotated(dir).map_err(|e| EventLogError::read(dir, e))? {
            let Some(file) = open_if_exists(&path)? else {
                continue;
            };
            let meta = file.metadata().map_err(|e| EventLogError::read(&path, e))?;
            if (meta.dev(), meta.ino()) == (old.dev, old.ino) {
                found_old = true;
                break;
            }
            budget = budget.saturating_sub(meta.len());
            newer.push((path, file, meta.len()));
        }
        // Not finding ours among files newer than it means some fell off the end meanwhile.
        let gap = !found_old && !newer.is_empty();
        if gap || budget == 0 || old_len < old.len {
            return Ok(Vec::new());
        }
        let mut foreign = parse_range(&old.file, old.len, old_len, old.last_seq)
            .map_err(|e| EventLogError::read(dir, e))?;
        for (path, file, len) in newer.iter().rev() {
            let floor = foreign.last().map_or(old.last_seq, |event| event.seq);
            foreign.extend(parse_range(file, 0, *len, floor).map_err(|e| EventLogError::read(path, e))?);
        }
        let floor = foreign.last().map_or(old.last_seq, |event| event.seq);
        foreign.extend(
            parse_range(&fresh.file, 0, fresh.len, floor)
                .map_err(|e| EventLogError::read(&self.shared.path, e))?,
        );
        Ok(foreign)
    }

    /// Reads what another process appended after `live.len` (up to `new_len`), cutting off a
    /// torn last line, and moves `live` to the new end.
    fn take_foreign(&self, live: &mut Current, new_len: u64) -> Result<Vec<Event>, EventLogError> {
        let path = &self.shared.path;
        let mut bytes = vec![0; (new_len - live.len) as usize];
        live.file.read_exact_at(&mut bytes, live.len).map_err(|e| EventLogError::read(path, e))?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            live.file.set_len(live.len + complete as u64).map_err(|e| EventLogError::write(path, e))?;
            bytes.truncate(complete);
        }
        let foreign = parse_lines(&bytes, live.last_seq);
        live.len += complete as u64;
        if let Some(last) = foreign.last() {
            live.last_seq = last.seq;
        }
        Ok(foreign)
    }

    /// Opens the live file for appending, creating it (mode 0600) if missing.
    fn open_live(&self) -> Result<File, EventLogError> {
        let path = &self.shared.path;
        match OpenOptions::new().read(true).append(true).open(path) {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Only writers create it, and they hold the lock, so nobody can beat us to it.
                let file = OpenOptions::new()
                    .read(true)
                    .append(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| EventLogError::open(path, e))?;
                sync_dir(&self.shared.dir)?;
                Ok(file)
            }
            Err(e) => Err(EventLogError::open(path, e)),
        }
    }

    /// Learns the live file from scratch: repairs a torn last line, then finds the last seq in
    /// it or, when it holds none (just rotated), in the newest rotated file that does.
    fn resolve(&self, file: File) -> Result<Current, EventLogError> {
        let path = &self.shared.path;
        let meta = file.metadata().map_err(|e| EventLogError::read(path, e))?;
        let mut len = meta.len();
        if len > 0 {
            let mut last = [0u8];
            file.read_exact_at(&mut last, len - 1).map_err(|e| EventLogError::read(path, e))?;
            if last[0] != b'\n' {
                len =
                    last_newline(&file, len).map_err(|e| EventLogError::read(path, e))?.map_or(0, |i| i + 1);
                file.set_len(len).map_err(|e| EventLogError::write(path, e))?;
            }
        }
        let last_seq = match last_seq_in(&file, len).map_err(|e| EventLogError::read(path, e))? {
            Some(seq) => seq,
            None => self.last_seq_rotated()?,
        };
        Ok(Current { file, dev: meta.dev(), ino: meta.ino(), len, last_seq })
    }

    fn last_seq_rotated(&self) -> Result<u64, EventLogError> {
        let dir = &self.shared.dir;
        for (_, path) in list_rotated(dir).map_err(|e| EventLogError::read(dir, e))? {
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(EventLogError::read(&path, e)),
            };
            let len = file.metadata().map_err(|e| EventLogError::read(&path, e))?.len();
            if let Some(seq) = last_seq_in(&file, len).map_err(|e| EventLogError::read(&path, e))? {
                return Ok(seq);
            }
        }
        Ok(0)
    }

    /// Shifts `events.jsonl.N` to `N+1` (dropping those past `keep`), moves the live file to
    /// `.1` and starts an empty one. Runs under the lock, after the tail was repaired.
    fn rotate(&self, live: Current) -> Result<Current, EventLogError> {
        let dir = &self.shared.dir;
        let keep = self.shared.options.keep.max(1);
        let rotated = list_rotated(dir).map_err(|e| EventLogError::read(dir, e))?;
        for (n, from) in rotated.iter().rev() {
            if *n as usize >= keep {
                match fs::remove_file(from) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(EventLogError::Remove { path: from.clone(), source: Arc::new(e) });
                    }
                    _ => {}
                }
            } else {
                let to = rotated_path(dir, n + 1);
                fs::rename(from, &to).map_err(|e| EventLogError::Rotate {
                    from: from.clone(),
                    to: to.clone(),
                    source: Arc::new(e),
                })?;
            }
        }
        let path = &self.shared.path;
        let first = rotated_path(dir, 1);
        fs::rename(path, &first).map_err(|e| EventLogError::Rotate {
            from: path.clone(),
            to: first.clone(),
            source: Arc::new(e),
        })?;
        // open_live creates the new file and syncs the directory, which makes the renames
        // durable as well.
        let file = self.open_live()?;
        let meta = file.metadata().map_err(|e| EventLogError::read(path, e))?;
        Ok(Current { file, dev: meta.dev(), ino: meta.ino(), len: 0, last_seq: live.last_seq })
    }
}

fn sync_dir(dir: &Path) -> Result<(), EventLogError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| EventLogError::write(dir, e))
}
