//! The git collector: for each project and open task that names a `repo` (and a `branch`),
//! whether the repository and the branch exist, when the branch last had a commit, and how
//! many uncommitted changes its working tree holds. A missing repository or branch is a
//! mismatch between what is declared and what is there.
//!
//! It runs the `git` command, read-only: `GIT_OPTIONAL_LOCKS=0` keeps `git status` from
//! refreshing the index (which would write `index.lock`), `core.fsmonitor=false` keeps it
//! from starting a repository's file-system monitor hook, and every command has a time limit.
//! A repository is looked at once per tick however many tasks name it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Config, EntityKey, Spec};
use crate::state::Mismatch;
use crate::work::Board;

/// How long one git command may take before the repository counts as unreadable this tick.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// One thing that names a repository: `project/ID` or `task/ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `kind/id`, as mismatches name entities.
    pub entity: String,
    /// The project's key, for its details; `None` for a task.
    pub project: Option<EntityKey>,
    /// As written (shown in a mismatch).
    pub repo: String,
    /// Resolved against the workspace.
    pub path: PathBuf,
    pub branch: Option<String>,
}

/// What git says about one repository and branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// `ok`, `missing` (no such directory) or `not a git repository`.
    pub repo: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_exists: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_commit_at: Option<DateTime<Utc>>,
    /// The branch checked out in the working tree (absent when detached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_out: Option<String>,
    /// Paths with changes not committed (staged, unstaged or untracked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncommitted_changes: Option<usize>,
    /// Why a command failed, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One target and what was found.
#[derive(Debug, Clone)]
pub struct Finding {
    pub target: Target,
    pub facts: Facts,
}

/// The projects (judged here, activated) and the open tasks that name a repository.
pub fn targets(config: &Config, board: &Board, workspace: &Path) -> Vec<Target> {
    let resolve = |repo: &str| {
        let path = crate::config::expand_home(repo);
        if path.is_absolute() { path } else { workspace.join(path) }
    };
    let mut targets = Vec::new();
    for entity in config.visible_entities().filter(|e| crate::health::is_judged(e)) {
        if let Spec::Project(p) = &entity.spec
            && let Some(repo) = p.repo.as_deref()
        {
            targets.push(Target {
                entity: format!("project/{}", entity.key.id),
                project: Some(entity.key.clone()),
                repo: repo.to_string(),
                path: resolve(repo),
                branch: p.branch.clone(),
            });
        }
    }
    for task in board.tasks.values().filter(|t| !t.status.is_finished()) {
        if let Some(repo) = task.repo.as_deref() {
            targets.push(Target {
                entity: format!("task/{}", task.id),
                project: None,
                repo: repo.to_string(),
                path: resolve(repo),
                branch: task.branch.clone(),
            });
        }
    }
    targets
}

/// Looks at every target; each repository and each (repository, branch) once.
pub async fn inspect_all(targets: Vec<Target>) -> Vec<Finding> {
    let mut repos: HashMap<PathBuf, Repo> = HashMap::new();
    let mut branches: HashMap<(PathBuf, String), Branch> = HashMap::new();
    let mut findings = Vec::with_capacity(targets.len());
    for target in targets {
        if !repos.contains_key(&target.path) {
            repos.insert(target.path.clone(), Repo::inspect(&target.path).await);
        }
        let repo = &repos[&target.path];
        let branch = match (&target.branch, repo.status.as_str()) {
            (Some(name), "ok") => {
                let key = (target.path.clone(), name.clone());
                if !branches.contains_key(&key) {
                    branches.insert(key.clone(), Branch::inspect(&target.path, name).await);
                }
                Some(branches[&key].clone())
            }
            _ => None,
        };
        let facts = Facts {
            repo: repo.status.clone(),
            branch: target.branch.clone(),
            branch_exists: branch.as_ref().map(|b| b.last_commit_at.is_some()),
            last_commit_at: branch.as_ref().and_then(|b| b.last_commit_at),
            checked_out: repo.checked_out.clone(),
            uncommitted_changes: repo.uncommitted_changes,
            error: repo.error.clone().or_else(|| branch.and_then(|b| b.error)),
        };
        findings.push(Finding { target, facts });
    }
    findings
}

/// Asks for the targets every `every()`, looks at them and hands the findings to `send`, until
/// either says the daemon stops (`targets` gives `None`, `send` gives false). Nothing is sent
/// while nothing names a repository, but once, to clear what an earlier tick found.
pub async fn run<T, TF, S, SF>(every: impl Fn() -> Duration, mut targets: T, mut send: S)
where
    T: FnMut() -> TF,
    TF: std::future::Future<Output = Option<Vec<Target>>>,
    S: FnMut(Vec<Finding>) -> SF,
    SF: std::future::Future<Output = bool>,
{
    let mut sent_any = false;
    loop {
        let Some(targets) = targets().await else { return };
        if !targets.is_empty() || sent_any {
            sent_any = !targets.is_empty();
            if !send(inspect_all(targets).await).await {
                return;
            }
        }
        tokio::time::sleep(every()).await;
    }
}

/// The mismatches among the findings: a repository that is missing or not a repository, a
/// branch that does not exist.
pub fn mismatches(findings: &[Finding]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for Finding { target, facts } in findings {
        if facts.repo != "ok" {
            out.push(Mismatch {
                entity: target.entity.clone(),
                field: "repo".to_string(),
                desired: target.repo.clone().into(),
                observed: facts.repo.clone().into(),
            });
        } else if facts.branch_exists == Some(false) {
            out.push(Mismatch {
                entity: target.entity.clone(),
                field: "branch".to_string(),
                desired: target.branch.clone().into(),
                observed: "missing".into(),
            });
        }
    }
    out
}

/// A repository as a whole.
struct Repo {
    status: String,
    checked_out: Option<String>,
    uncommitted_changes: Option<usize>,
    error: Option<String>,
}

impl Repo {
    async fn inspect(path: &Path) -> Repo {
        let mut repo =
            Repo { status: "ok".to_string(), checked_out: None, uncommitted_changes: None, error: None };
        if !path.is_dir() {
            repo.status = "missing".to_string();
            return repo;
        }
        match git(path, &["rev-parse", "--is-inside-work-tree"]).await {
            Ok(out) if out.trim() == "true" => {}
            Ok(_) | Err(GitError::Failed(_)) => {
                repo.status = "not a git repository".to_string();
                return repo;
            }
            Err(e) => {
                repo.status = "unreadable".to_string();
                repo.error = Some(e.to_string());
                return repo;
            }
        }
        repo.checked_out = git(path, &["symbolic-ref", "--quiet", "--short", "HEAD"])
            .await
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        match git(path, &["status", "--porcelain=v1", "-z", "--untracked-files=normal"]).await {
            Ok(out) => repo.uncommitted_changes = Some(count_status_entries(&out)),
            Err(e) => repo.error = Some(e.to_string()),
        }
        repo
    }
}

/// A branch of a repository.
#[derive(Debug, Clone)]
struct Branch {
    last_commit_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

impl Branch {
    async fn inspect(path: &Path, name: &str) -> Branch {
        // `--end-of-options` keeps a branch named like an option from being read as one.
        let reference = format!("refs/heads/{name}");
        match git(path, &["log", "-1", "--format=%ct", "--end-of-options", &reference, "--"]).await {
            Ok(out) => Branch {
                last_commit_at: out.trim().parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0)),
                error: None,
            },
            // git names an unknown revision a failure: the branch does not exist.
            Err(GitError::Failed(_)) => Branch { last_commit_at: None, error: None },
            Err(e) => Branch { last_commit_at: None, error: Some(e.to_string()) },
        }
    }
}

/// The entries of `git status --porcelain=v1 -z`: NUL-separated, a rename or copy followed by
/// its original path.
fn count_status_entries(out: &str) -> usize {
    let mut count = 0;
    let mut fields = out.split('\0').filter(|f| !f.is_empty());
    while let Some(entry) = fields.next() {
        count += 1;
        if entry.starts_with('R') || entry.starts_with('C') {
            fields.next();
        }
    }
    count
}

#[derive(Debug, thiserror::Error)]
enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("git took longer than {}s", COMMAND_TIMEOUT.as_secs())]
    Timeout,
    #[error("git failed: {0}")]
    Failed(String),
}

/// Runs one read-only git command in `repo` and returns its standard output.
async fn git(repo: &Path, args: &[&str]) -> Result<String, GitError> {
    let mut command = tokio::process::Command::new("git");
    command
        .arg("-C")
        .arg(repo)
        .args(["-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false", "--no-pager"])
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        // The repository is the one named, never one found through the environment.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(GitError::Spawn)?;
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| GitError::Timeout)?
        .map_err(GitError::Spawn)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(GitError::Failed(stderr.lines().next().unwrap_or("").trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    fn target(path: &Path, branch: Option<&str>) -> Target {
        Target {
            entity: "project/p".to_string(),
            project: None,
            repo: path.display().to_string(),
            path: path.to_path_buf(),
            branch: branch.map(str::to_string),
        }
    }

    fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push((path.clone(), std::fs::read(&path).expect("read")));
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_repository_its_branches_and_its_changes_are_seen_without_writing_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path();
        run(repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.txt"), "one\n").expect("write");
        run(repo, &["add", "a.txt"]);
        run(repo, &["commit", "-q", "-m", "first"]);
        run(repo, &["branch", "feature"]);
        std::fs::write(repo.join("a.txt"), "two\n").expect("write");
        std::fs::write(repo.join("new.txt"), "new\n").expect("write");
        let before = tree(repo);

        let findings = inspect_all(vec![
            target(repo, Some("feature")),
            target(repo, Some("gone")),
            target(&repo.join("nowhere"), Some("main")),
            target(&repo.join(".git"), None),
        ])
        .await;
        let feature = &findings[0].facts;
        assert_eq!(feature.repo, "ok");
        assert_eq!(feature.branch_exists, Some(true));
        let age = Utc::now() - feature.last_commit_at.expect("last commit");
        assert!(age < chrono::Duration::minutes(5), "{age}");
        assert_eq!(feature.checked_out.as_deref(), Some("main"));
        assert_eq!(feature.uncommitted_changes, Some(2), "a change and an untracked file");
        assert_eq!(findings[1].facts.branch_exists, Some(false));
        assert_eq!(findings[2].facts.repo, "missing");
        assert_eq!(findings[3].facts.repo, "not a git repository");

        let found = mismatches(&findings);
        let fields: Vec<_> = found.iter().map(|m| (m.field.as_str(), m.observed.clone())).collect();
        assert_eq!(
            fields,
            vec![
                ("branch", serde_json::json!("missing")),
                ("repo", serde_json::json!("missing")),
                ("repo", serde_json::json!("not a git repository")),
            ]
        );
        assert_eq!(tree(repo), before, "git status wrote nothing (no index refresh)");
    }

    #[test]
    fn renames_count_once() {
        assert_eq!(count_status_entries("R  new\0old\0 M a\0?? b\0"), 3);
        assert_eq!(count_status_entries(""), 0);
    }
}
