//! The git collector against real repositories: a project's branch, its last commit and its
//! uncommitted changes are its details; a missing repository or branch, of a project or of an
//! open task that took the project's repository at triage, is a mismatch in the live state;
//! and the repositories are never written.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::*;

const EVENTUALLY: Duration = Duration::from_secs(20);

fn git(dir: &Path, args: &[&str]) {
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

fn project(id: &str, repo: &str, branch: &str) -> String {
    format!(
        "kind: Project\nid: {id}\nname: {id}\nstatus: active\nboundary: core\nrepo: {repo}\nbranch: {branch}\n"
    )
}

fn mismatch<'a>(state: &'a Value, entity: &str, field: &str) -> Option<&'a Value> {
    state["mismatches"].as_array()?.iter().find(|m| m["entity"] == entity && m["field"] == field)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repositories_and_branches_are_seen_and_missing_ones_are_mismatches() {
    let repos = tempfile::tempdir().expect("tempdir");
    let repo = repos.path().join("app");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README"), "app\n").expect("write");
    git(&repo, &["add", "README"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    std::fs::write(repo.join("README"), "app, edited\n").expect("write");
    let before = file_contents(&repo);

    let workspace = Workspace::new();
    let app = repo.display().to_string();
    workspace.write(
        "desired/projects.yaml",
        &[
            project("app", &app, "main"),
            project("release", &app, "release-2"),
            project("gone", &repos.path().join("nowhere").display().to_string(), "main"),
        ]
        .join("---\n"),
    );
    workspace.write("mission-control.yaml", "git:\n  every: 1s\n");
    let daemon = Daemon::start(&workspace).await;

    let facts = wait_for(EVENTUALLY, "the app project's git facts", async || {
        let entity = daemon.entity("project", "app").await?;
        Some(entity["details"]["git"].clone()).filter(|g| !g.is_null())
    })
    .await;
    assert_eq!(facts["repo"], "ok", "{facts:#}");
    assert_eq!(facts["branch_exists"], true, "{facts:#}");
    assert_eq!(facts["checked_out"], "main", "{facts:#}");
    assert_eq!(facts["uncommitted_changes"], 1, "{facts:#}");
    let committed = time_field(&facts, "last_commit_at").expect("last_commit_at");
    assert!((chrono::Utc::now() - committed).num_minutes().abs() < 10, "{facts:#}");

    let state = wait_for(EVENTUALLY, "mismatches of the missing branch and repository", async || {
        let state = daemon.state().await;
        (mismatch(&state, "project/release", "branch").is_some()
            && mismatch(&state, "project/gone", "repo").is_some())
        .then_some(state)
    })
    .await;
    let branch = mismatch(&state, "project/release", "branch").expect("branch mismatch");
    assert_eq!(
        (&branch["desired"], &branch["observed"]),
        (&Value::from("release-2"), &Value::from("missing"))
    );
    assert_eq!(mismatch(&state, "project/gone", "repo").expect("repo")["observed"], "missing");
    assert!(mismatch(&state, "project/app", "branch").is_none(), "{:#}", state["mismatches"]);

    // A task triaged into the project takes its repository and branch, and so its mismatch.
    let (status, item, _) =
        daemon.post_json("/api/v1/inbox", serde_json::json!({"text": "Cut the release"})).await;
    assert_eq!(status, 201, "{item}");
    let id = item["id"].as_str().expect("id").to_string();
    let triage = serde_json::json!({"classification": "task", "priority": "high", "domain": "backend", "project": "release"});
    let (status, triaged, _) = daemon.post_json(&format!("/api/v1/tasks/{id}/triage"), triage).await;
    assert_eq!(status, 200, "{triaged}");
    let entity = format!("task/{id}");
    wait_for(EVENTUALLY, "the task's branch mismatch", async || {
        mismatch(&daemon.state().await, &entity, "branch").cloned()
    })
    .await;

    // The branch is made: the mismatches of the project and the task go away.
    git(&repo, &["branch", "release-2"]);
    wait_for(EVENTUALLY, "the branch mismatches to clear", async || {
        let state = daemon.state().await;
        (mismatch(&state, "project/release", "branch").is_none()
            && mismatch(&state, &entity, "branch").is_none())
        .then_some(())
    })
    .await;
    let after: Vec<_> = file_contents(&repo).into_iter().filter(|(p, _)| !p.contains("release-2")).collect();
    let before: Vec<_> = before.into_iter().filter(|(p, _)| !p.contains("release-2")).collect();
    assert_eq!(after.len(), before.len(), "the collector created no file in the repository");
    assert!(after == before, "the collector changed no file in the repository");
}
