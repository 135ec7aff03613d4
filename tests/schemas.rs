//! The committed JSON Schemas match the Rust types, and the committed examples (live state,
//! events, and the example workspace's own YAML) validate against them.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed(name: &str) -> Value {
    let path = root().join("schemas").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("schema is JSON")
}

fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::options().should_validate_formats(true).build(&committed(name)).expect("schema compiles")
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not validate:\n{}", errors.join("\n"));
}

#[test]
fn committed_schemas_match_the_types() {
    let mut drifted = Vec::new();
    for (name, schema) in mission_control::schema::all() {
        let path = root().join("schemas").join(name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk != mission_control::schema::render(&schema) {
            drifted.push(name);
        }
    }
    assert!(
        drifted.is_empty(),
        "schemas drifted from the types: {drifted:?}; run `cargo run -- schema --write` and commit"
    );
}

#[test]
fn example_live_state_validates() {
    let text = std::fs::read_to_string(root().join("state/mission-control.example.json")).expect("example");
    let state: Value = serde_json::from_str(&text).expect("JSON");
    assert_valid(&validator("mission-control.schema.json"), &state, "state/mission-control.example.json");
    // And it is what the daemon itself reads back.
    serde_json::from_value::<mission_control::state::LiveState>(state).expect("parses as LiveState");
}

#[test]
fn example_events_validate() {
    let text = std::fs::read_to_string(root().join("state/events.example.jsonl")).expect("example");
    let validator = validator("event.schema.json");
    let mut last_seq = 0;
    for (n, line) in text.lines().enumerate() {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        assert_valid(&validator, &event, &format!("events.example.jsonl line {}", n + 1));
        let parsed: mission_control::events::Event = serde_json::from_value(event).expect("parses as Event");
        assert!(parsed.seq > last_seq, "seq must increase");
        last_seq = parsed.seq;
    }
    assert!(last_seq > 0, "no events in the example");
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read");
    serde_saphyr::from_multiple::<Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn example_workspace_validates_against_the_document_schemas() {
    for (folder, schema) in [("desired", "desired.schema.json"), ("rules", "rules.schema.json")] {
        let validator = validator(schema);
        let mut count = 0;
        for entry in std::fs::read_dir(root().join(folder)).expect("folder") {
            let path = entry.expect("entry").path();
            for doc in yaml_documents(&path) {
                assert_valid(&validator, &doc, &path.display().to_string());
                count += 1;
            }
        }
        assert!(count > 0, "no documents in {folder}");
    }
    let settings = yaml_documents(&root().join("mission-control.yaml"));
    assert_valid(&validator("settings.schema.json"), &settings[0], "mission-control.yaml");
}

#[test]
fn document_schemas_reject_unknown_keys_and_kinds() {
    let validator = validator("desired.schema.json");
    let bad_key: Value = serde_json::json!({"kind": "Routine", "id": "x", "every": "1m", "sheduel": "x"});
    assert!(!validator.is_valid(&bad_key));
    let bad_kind: Value = serde_json::json!({"kind": "HealthRule", "id": "x"});
    assert!(!validator.is_valid(&bad_kind));
    let good: Value = serde_json::json!({"kind": "Routine", "id": "x", "every": "1m"});
    assert!(validator.is_valid(&good));
}

#[test]
fn schema_command_prints_and_writes_the_same_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = assert_cmd::Command::cargo_bin("mission-control")
        .expect("binary")
        .args(["--workspace"])
        .arg(dir.path())
        .args(["schema", "--write"])
        .output()
        .expect("run");
    assert!(out.status.success());
    for (name, schema) in mission_control::schema::all() {
        let written = std::fs::read_to_string(dir.path().join("schemas").join(name)).expect("written");
        assert_eq!(written, mission_control::schema::render(&schema), "{name}");
    }
    let out = assert_cmd::Command::cargo_bin("mission-control")
        .expect("binary")
        .arg("schema")
        .output()
        .expect("run");
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(printed.get("desired.schema.json").is_some());
}
