//! `mission-control validate` against the real binary: the example workspace passes, and a
//! workspace holding one of each kind of error reports all of them in one run.

use std::path::Path;

use assert_cmd::Command;

fn mc(workspace: &Path) -> Command {
    let mut cmd = Command::cargo_bin("mission-control").expect("binary");
    cmd.arg("--workspace").arg(workspace).env_remove("MISSION_CONTROL_WORKSPACE");
    cmd
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

#[test]
fn example_workspace_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = mc(root).arg("validate").output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "validate failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("ok: "), "{stdout}");
}

#[test]
fn empty_workspace_is_valid_and_uses_builtin_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mc(dir.path()).arg("validate").output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("built-in default rules"));
}

#[test]
fn missing_workspace_is_a_usage_error() {
    let out = mc(Path::new("/nonexistent/mission-control-workspace")).arg("validate").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}

/// A Telegram-shaped token assembled at run time so no literal secret sits in the repository.
fn planted_token() -> String {
    format!("{}:{}", "123456789", "AAH".to_string() + &"x1Y2z3".repeat(5) + "ab")
}

#[test]
fn every_error_is_reported_in_one_run_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let token = planted_token();
    write(root, "desired/syntax.yaml", "kind: Routine\nid: broken\nevery: [1m\n");
    write(root, "desired/duplicate-key.yaml", "kind: Routine\nid: dup-key\nevery: 1m\nevery: 2m\n");
    write(root, "desired/unknown-key.yaml", "kind: Routine\nid: unknown-key\nevery: 1m\nsheduel: x\n");
    write(root, "desired/wrong-type.yaml", "kind: Integration\nid: wrong-type\nfailure_threshold: many\n");
    write(
        root,
        "desired/values.yaml",
        concat!(
            "kind: Routine\nid: bad-duration\nevery: 5 parsecs\n",
            "---\nkind: Routine\nid: bad-cron\nschedule: \"61 * * * *\"\n",
            "---\nkind: Routine\nid: six-fields\nschedule: \"0 0 7 * * *\"\n",
            "---\nkind: Routine\nid: bad-zone\nschedule: \"0 7 * * *\"\ntimezone: Europe/Berln\n",
            "---\nkind: Routine\nid: bad-duration\nevery: 1m\n",
        ),
    );
    write(
        root,
        "desired/references.yaml",
        concat!(
            "kind: Routine\nid: dangling\nevery: 1m\ndepends_on: [integration/nowhere]\n",
            "---\nkind: Agent\nid: orphan\nrole: subagent\nparent: ghost\n",
            "---\nkind: Routine\nid: loop-a\nevery: 1m\ndepends_on: [routine/loop-b]\n",
            "---\nkind: Routine\nid: loop-b\nevery: 1m\ndepends_on: [routine/loop-a]\n",
        ),
    );
    write(
        root,
        "rules/rules.yaml",
        concat!(
            "kind: HealthRule\nid: bad-condition\nwhen: \"age > && 5m\"\nlevel: stale\nreason: Bad\n",
            "---\nkind: AlertRule\nid: to-nowhere\nreceivers: [pager]\n",
        ),
    );
    write(
        root,
        "desired/secret.yaml",
        &format!("kind: Integration\nid: leaky\ndescription: token {token}\n"),
    );

    let out = mc(root).arg("validate").output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(!stderr.contains(&token), "the secret was repeated:\n{stderr}");

    let expected = [
        ("desired/syntax.yaml:3:", "syntax"),
        ("desired/duplicate-key.yaml:4:1: duplicate key `every`", "duplicate key"),
        ("desired/unknown-key.yaml:4:1: unknown field `sheduel`", "unknown key"),
        ("desired/wrong-type.yaml:3:20: expected a whole number", "wrong type"),
        ("desired/values.yaml:3:8: bad duration \"5 parsecs\"", "bad duration"),
        ("desired/values.yaml:7:11: bad cron \"61 * * * *\"", "bad cron"),
        (
            "desired/values.yaml:11:11: bad cron \"0 0 7 * * *\" for `schedule`: cron needs 5 fields",
            "six fields",
        ),
        ("desired/values.yaml:16:11: unknown time zone \"Europe/Berln\"", "time zone"),
        (
            "desired/values.yaml:19:5: duplicate Routine id \"bad-duration\"; first defined at desired/values.yaml:2:5",
            "duplicate id",
        ),
        ("desired/references.yaml:4:14: depends_on names integration/nowhere", "dangling depends_on"),
        ("desired/references.yaml:9:9: parent names agent \"ghost\"", "dangling parent"),
        ("rules/rules.yaml:9:13: receiver \"pager\" is not defined", "dangling receiver"),
        (
            "desired/references.yaml:14:14: dependency cycle: routine/loop-a -> routine/loop-b -> routine/loop-a",
            "cycle",
        ),
        ("rules/rules.yaml:3:14: bad condition:", "condition"),
        ("desired/secret.yaml:3:20: literal secret (Telegram bot token)", "secret"),
    ];
    let mut missing = Vec::new();
    for (needle, what) in expected {
        if !stderr.lines().any(|line| line.contains(needle)) {
            missing.push(format!("{what}: {needle}"));
        }
    }
    assert!(missing.is_empty(), "missing errors:\n{}\n\nstderr:\n{stderr}", missing.join("\n"));
    for line in stderr.lines().filter(|l| !l.ends_with("not accepted")) {
        let mut parts = line.splitn(4, ':');
        let (path, l, c) = (parts.next(), parts.next(), parts.next());
        assert!(path.is_some_and(|p| p.ends_with(".yaml")), "no path: {line}");
        assert!(l.and_then(|l| l.parse::<u32>().ok()).is_some(), "no line: {line}");
        assert!(c.and_then(|c| c.parse::<u32>().ok()).is_some(), "no column: {line}");
    }
}

#[test]
fn literal_secrets_in_settings_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = planted_token();
    write(dir.path(), "mission-control.yaml", &format!("public_url: https://user:{token}@example.com\n"));
    let out = mc(dir.path()).arg("validate").output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("mission-control.yaml:1:"), "{stderr}");
    assert!(!stderr.contains(&token), "{stderr}");
}

#[test]
fn protected_entities_may_only_be_referenced_by_projects() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "desired/a.yaml",
        "kind: Integration\nid: vault\nboundary: protected\n---\nkind: Project\nid: p\ndepends_on: [integration/vault]\n",
    );
    let out = mc(dir.path()).arg("validate").output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    write(dir.path(), "desired/b.yaml", "kind: Routine\nid: r\nevery: 1m\ndepends_on: [integration/vault]\n");
    let out = mc(dir.path()).arg("validate").output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("desired/b.yaml:4:14: depends_on names integration/vault, which is protected"),
        "{stderr}"
    );
}

/// Regression: a duration of 300000 years passed validation and overflowed the daemon's
/// timestamp arithmetic; periods of 0s made probes and retries spin.
#[test]
fn durations_are_bounded_and_periods_cannot_spin() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "desired/a.yaml",
        concat!(
            "kind: Routine\nid: forever\nevery: 1h\nmax_runtime: 300000y\n",
            "---\nkind: Routine\nid: spin\nevery: 1h\nobserve: {command: {run: [\"true\"], every: 0s}}\n",
        ),
    );
    write(dir.path(), "rules/r.yaml", "kind: Receiver\nid: r\nlog: {}\nretry: {initial: 0s}\n");
    let out = mc(dir.path()).arg("validate").output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("desired/a.yaml:4:14: duration \"300000y\" for `max_runtime` is longer than 10 years"),
        "{stderr}"
    );
    assert!(
        stderr.contains("desired/a.yaml:9:43: `every` must be at least 1s"),
        "command every 0s: {stderr}"
    );
    assert!(stderr.contains("rules/r.yaml:4:18: `retry.initial` must be at least 100ms"), "{stderr}");
}
