//! Which of the home's followed directories (`cron/runs`, each agent's `sessions`) changed
//! since the last tick, as the kernel tells it (Linux inotify): an unchanged tick then skips
//! those directories without listing them or `stat`ing a single run log or transcript.
//!
//! A `stat` per file is what an unchanged tick otherwise costs, and a home keeps thousands of
//! transcripts: on a virtual machine, where a system call costs microseconds, that alone
//! is more than the whole tick may take. Watching a directory costs nothing between ticks: the
//! kernel queues an event when an entry of it is written, truncated, created, removed or
//! renamed, and reading that queue is one system call per tick.
//!
//! A directory is armed just before it is listed, so a write during the listing or the reads
//! after it is an event for the next tick; it stays quiet until an event of its own arrives.
//! What a watch cannot vouch for is read as if there were no watch: a directory no longer the
//! one watched (its path now names another directory, its watch was removed), a directory on a
//! file system whose writers may be other machines (NFS, SMB, FUSE, 9p, Ceph: no event comes
//! from there), one the caller distrusts (it holds symbolic links, whose targets' writes are not
//! its events, or a read in it failed and must be tried again), every directory once the
//! kernel's queue overflowed, and everything when inotify cannot be had (its limits reached).
//! Nothing is ever written or locked: a watch is a read-only subscription.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a watch reports: anything that changes an entry of the directory or the directory.
const EVENTS: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// File systems whose files other machines may write, so that no event comes of it.
const REMOTE_FILE_SYSTEMS: [i64; 9] = [
    0x6969,      // NFS
    0x517b,      // SMB
    0xff53_4d42, // CIFS
    0xfe53_4d42, // SMB2
    0x6573_5546, // FUSE
    0x0102_1997, // 9p (virtual machines' shared folders)
    0x00c3_6400, // Ceph
    0x5346_414f, // AFS
    0x0bd0_0bd0, // Lustre
];

/// One watched directory.
#[derive(Debug)]
struct Watched {
    wd: i32,
    /// The directory the watch is on (device, inode): the path must still name it.
    dir: (u64, u64),
    /// No event since it was armed.
    quiet: bool,
}

/// The watches of one home.
#[derive(Debug)]
pub struct Changes {
    /// The inotify instance; None when it cannot be had (then nothing is ever quiet).
    inotify: Option<File>,
    dirs: HashMap<PathBuf, Watched>,
    paths: HashMap<i32, PathBuf>,
}

impl Default for Changes {
    fn default() -> Changes {
        Changes::new()
    }
}

impl Changes {
    pub fn new() -> Changes {
        // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        let inotify = (fd >= 0).then(|| {
            // SAFETY: `fd` was just returned by inotify_init1 and is owned by nothing else.
            File::from(unsafe { OwnedFd::from_raw_fd(fd) })
        });
        Changes { inotify, dirs: HashMap::new(), paths: HashMap::new() }
    }

    /// Takes in the events queued since the last call: each marks its directory as changed.
    pub fn collect(&mut self) {
        // Room for a few events at least (each is 16 bytes and a name of at most 256).
        let mut buf = [0u8; 4096];
        loop {
            let Some(inotify) = self.inotify.as_mut() else { return };
            let n = match inotify.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // The queue is empty.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => return self.forget_all(),
            };
            self.take(&buf[..n]);
        }
    }

    /// Takes in a buffer of events: `struct inotify_event { int wd; uint32_t mask, cookie,
    /// len; char name[len]; }` one after the other.
    fn take(&mut self, events: &[u8]) {
        let word = |i: usize| u32::from_ne_bytes([events[i], events[i + 1], events[i + 2], events[i + 3]]);
        let mut at = 0;
        while at + 16 <= events.len() {
            let (wd, mask, len) = (word(at) as i32, word(at + 4), word(at + 12) as usize);
            at += 16 + len;
            if mask & libc::IN_Q_OVERFLOW != 0 {
                self.forget_all();
                continue;
            }
            let Some(path) = self.paths.get(&wd) else { continue };
            if mask & (libc::IN_IGNORED | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF) != 0 {
                // The directory went away, or the kernel dropped the watch.
                let path = path.clone();
                self.unwatch(&path);
            } else if let Some(w) = self.dirs.get_mut(path) {
                w.quiet = false;
            }
        }
    }

    /// Whether nothing in `dir` changed since it was last armed (one `stat`, to check the path
    /// still names the directory watched).
    pub fn quiet(&self, dir: &Path) -> bool {
        self.dirs
            .get(dir)
            .is_some_and(|w| w.quiet && std::fs::metadata(dir).is_ok_and(|m| (m.dev(), m.ino()) == w.dir))
    }

    /// Arms the watch of `dir` (adding it when there is none), just before it is listed.
    pub fn arm(&mut self, dir: &Path) {
        if self.inotify.is_none() {
            return;
        }
        let Ok(meta) = std::fs::metadata(dir) else {
            self.unwatch(dir);
            return;
        };
        let id = (meta.dev(), meta.ino());
        if let Some(w) = self.dirs.get_mut(dir)
            && w.dir == id
        {
            w.quiet = true;
            return;
        }
        self.unwatch(dir);
        if remote(dir) {
            return;
        }
        let Some(inotify) = &self.inotify else { return };
        let Ok(cpath) = CString::new(dir.as_os_str().as_bytes()) else { return };
        // SAFETY: the descriptor is the live inotify instance and `cpath` a NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), cpath.as_ptr(), EVENTS) };
        if wd < 0 {
            return;
        }
        // The watch may have found another directory than the `stat` did (a rename in between).
        if !std::fs::metadata(dir).is_ok_and(|m| (m.dev(), m.ino()) == id) {
            self.remove_watch(wd);
            return;
        }
        // Two paths can name one directory (and so one watch); keep the last.
        if let Some(other) = self.paths.insert(wd, dir.to_path_buf()) {
            self.dirs.remove(&other);
        }
        self.dirs.insert(dir.to_path_buf(), Watched { wd, dir: id, quiet: true });
    }

    /// Marks `dir` as changed: it is looked at again at the next tick.
    pub fn distrust(&mut self, dir: &Path) {
        if let Some(w) = self.dirs.get_mut(dir) {
            w.quiet = false;
        }
    }

    fn unwatch(&mut self, dir: &Path) {
        if let Some(w) = self.dirs.remove(dir) {
            self.paths.remove(&w.wd);
            self.remove_watch(w.wd);
        }
    }

    fn remove_watch(&self, wd: i32) {
        if let Some(inotify) = &self.inotify {
            // SAFETY: removing a watch of the live instance; an unknown `wd` is only an error.
            unsafe { libc::inotify_rm_watch(inotify.as_raw_fd(), wd) };
        }
    }

    fn forget_all(&mut self) {
        for w in self.dirs.values_mut() {
            w.quiet = false;
        }
    }
}

/// Whether `dir` is on a file system that other machines may write.
fn remote(dir: &Path) -> bool {
    let Ok(cpath) = CString::new(dir.as_os_str().as_bytes()) else { return true };
    // SAFETY: statfs(2) reads the NUL-terminated path and writes only the struct it is given;
    // an all-zero statfs is a valid value of the plain C struct.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(cpath.as_ptr(), &mut fs) } != 0 {
        return true;
    }
    REMOTE_FILE_SYSTEMS.contains(&(fs.f_type as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_directory_is_quiet_until_an_entry_of_it_changes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("runs");
        std::fs::create_dir(&dir).expect("mkdir");
        let file = dir.join("a.jsonl");
        std::fs::write(&file, "1\n").expect("write");
        let mut changes = Changes::new();
        if changes.inotify.is_none() || remote(&dir) {
            return; // Nothing to test where inotify cannot be had: every directory is read.
        }
        assert!(!changes.quiet(&dir), "not watched yet");
        changes.arm(&dir);
        changes.collect();
        assert!(changes.quiet(&dir));

        // An append, a new file, a rename: each is a change, seen at the next collect.
        let changed = |changes: &mut Changes, change: &dyn Fn()| {
            changes.arm(&dir);
            changes.collect();
            assert!(changes.quiet(&dir));
            change();
            changes.collect();
            !changes.quiet(&dir)
        };
        assert!(changed(&mut changes, &|| {
            let mut f = std::fs::OpenOptions::new().append(true).open(&file).expect("open");
            f.write_all(b"2\n").expect("append");
        }));
        assert!(changed(&mut changes, &|| std::fs::write(dir.join("b.jsonl"), "x\n").expect("create")));
        assert!(
            changed(&mut changes, &|| std::fs::rename(dir.join("b.jsonl"), dir.join("c.jsonl")).expect("mv"))
        );
        changes.arm(&dir);
        changes.collect();
        changes.distrust(&dir);
        assert!(!changes.quiet(&dir));

        // The path now names another directory: not quiet, whatever the old watch says.
        changes.arm(&dir);
        changes.collect();
        std::fs::rename(&dir, tmp.path().join("old")).expect("mv dir");
        std::fs::create_dir(&dir).expect("mkdir again");
        changes.collect();
        assert!(!changes.quiet(&dir));
        changes.arm(&dir);
        changes.collect();
        assert!(changes.quiet(&dir));
    }
}
