//! The `file` probe: finds the newest file matching a glob and reports its path, size and
//! modification time.
//!
//! Whether the file is fresh enough is not decided here: that depends on the schedule (the
//! last expected run, an output's `max_age`), which health evaluation knows. This probe fails
//! only when the newest match is smaller than `min_size` or the pattern is invalid; when
//! nothing matches, `ok` stays unset, since "no report yet" is a matter of deadlines too.
//!
//! Only regular files count (symlinks are followed), and as in a shell a leading `.` must be
//! matched literally, so `reports/*` does not pick up a hidden temporary file that a writer is
//! still filling.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use super::Started;
use crate::config::FileProbe;
use crate::state::Observation;

pub(super) async fn run(spec: &FileProbe, workspace: &Path) -> Observation {
    let started = Started::now();
    let pattern = spec.path.clone();
    // Walking a glob is blocking file-system work; keep it off the async workers.
    let newest = tokio::task::spawn_blocking(move || newest_match(&pattern)).await;
    let mut observation = started.finish("file", None);
    let newest = match newest {
        Ok(Ok(newest)) => newest,
        Ok(Err(error)) => {
            observation.ok = Some(false);
            observation.error = Some(error);
            return observation;
        }
        Err(join) => {
            observation.ok = Some(false);
            observation.error = Some(format!("file search failed: {join}"));
            return observation;
        }
    };
    let Some(found) = newest else {
        observation.ok = None;
        observation.error = Some(format!("no file matches {}", relative(Path::new(&spec.path), workspace)));
        return observation;
    };
    let shown = relative(&found.path, workspace);
    match spec.min_size {
        Some(min_size) if found.size < min_size => {
            observation.ok = Some(false);
            observation.error =
                Some(format!("newest match {shown} is {} bytes, below min_size {min_size}", found.size));
        }
        _ => observation.ok = Some(true),
    }
    observation.file = Some(shown);
    observation.size = Some(found.size);
    observation.modified = Some(DateTime::<Utc>::from(found.modified));
    observation
}

struct Found {
    path: PathBuf,
    size: u64,
    modified: SystemTime,
}

/// The newest regular file matching `pattern`; ties go to the lexicographically last path.
/// Entries that vanish or cannot be read while walking are skipped.
fn newest_match(pattern: &str) -> Result<Option<Found>, String> {
    let options = glob::MatchOptions { require_literal_leading_dot: true, ..glob::MatchOptions::new() };
    let paths = glob::glob_with(pattern, options).map_err(|e| format!("bad glob pattern: {e}"))?;
    let mut newest: Option<Found> = None;
    for path in paths.flatten() {
        let Ok(metadata) = std::fs::metadata(&path) else { continue };
        let Ok(modified) = metadata.modified() else { continue };
        if !metadata.is_file() {
            continue;
        }
        let candidate = Found { path, size: metadata.len(), modified };
        let newer = newest
            .as_ref()
            .is_none_or(|best| (candidate.modified, &candidate.path) > (best.modified, &best.path));
        if newer {
            newest = Some(candidate);
        }
    }
    Ok(newest)
}

/// The path relative to the workspace when it lies inside it, as given otherwise.
fn relative(path: &Path, workspace: &Path) -> String {
    path.strip_prefix(workspace).unwrap_or(path).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn write(path: &Path, bytes: usize, age: Duration) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![b'x'; bytes]).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    fn probe(workspace: &Path, glob: &str, min_size: Option<u64>) -> FileProbe {
        FileProbe { path: workspace.join(glob).to_string_lossy().into_owned(), min_size }
    }

    #[tokio::test]
    async fn newest_match_wins_and_is_shown_relative() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        write(&ws.join("reports/a.md"), 20, Duration::from_secs(3600));
        write(&ws.join("reports/b.md"), 30, Duration::from_secs(60));
        write(&ws.join("reports/c.md"), 40, Duration::from_secs(7200));
        write(&ws.join("reports/.d.md.tmp"), 1, Duration::ZERO);
        std::fs::create_dir_all(ws.join("reports/e.md")).unwrap();
        let observation = run(&probe(ws, "reports/*", Some(10)), ws).await;
        assert_eq!(observation.kind, "file");
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
        assert_eq!(observation.file.as_deref(), Some("reports/b.md"));
        assert_eq!(observation.size, Some(30));
        let modified = observation.modified.unwrap();
        let expected = DateTime::<Utc>::from(SystemTime::now() - Duration::from_secs(60));
        assert!((expected - modified).num_seconds().abs() <= 2, "{modified}");
        assert!(observation.error.is_none());
    }

    #[tokio::test]
    async fn equal_times_go_to_the_last_path() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let when = SystemTime::now() - Duration::from_secs(100);
        for name in ["x/1.txt", "x/3.txt", "x/2.txt"] {
            write(&ws.join(name), 5, Duration::ZERO);
            std::fs::File::options().write(true).open(ws.join(name)).unwrap().set_modified(when).unwrap();
        }
        let observation = run(&probe(ws, "x/*.txt", None), ws).await;
        assert_eq!(observation.file.as_deref(), Some("x/3.txt"));
    }

    #[tokio::test]
    async fn too_small_fails_with_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        write(&ws.join("out/old.csv"), 500, Duration::from_secs(3600));
        write(&ws.join("out/new.csv"), 3, Duration::from_secs(1));
        let observation = run(&probe(ws, "out/*.csv", Some(10)), ws).await;
        assert_eq!(observation.ok, Some(false));
        assert_eq!(
            observation.error.as_deref(),
            Some("newest match out/new.csv is 3 bytes, below min_size 10")
        );
        assert_eq!(observation.file.as_deref(), Some("out/new.csv"));
        assert_eq!(observation.size, Some(3));
    }

    #[tokio::test]
    async fn no_match_is_neither_success_nor_failure() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let observation = run(&probe(ws, "reports/**/*.md", None), ws).await;
        assert_eq!(observation.ok, None);
        assert_eq!(observation.error.as_deref(), Some("no file matches reports/**/*.md"));
        assert!(observation.file.is_none() && observation.size.is_none() && observation.modified.is_none());
    }

    #[tokio::test]
    async fn outside_the_workspace_is_shown_absolute() {
        let ws = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        write(&elsewhere.path().join("backup.tar"), 1, Duration::ZERO);
        let observation = run(&probe(elsewhere.path(), "*.tar", None), ws.path()).await;
        assert_eq!(observation.ok, Some(true));
        let expected = elsewhere.path().join("backup.tar").to_string_lossy().into_owned();
        assert_eq!(observation.file, Some(expected));
    }

    #[tokio::test]
    async fn bad_pattern_fails() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let observation = run(&probe(ws, "reports/[", None), ws).await;
        assert_eq!(observation.ok, Some(false));
        assert!(observation.error.unwrap().starts_with("bad glob pattern: "));
    }
}
