//! JSON Schemas generated from the Rust types, committed under `schemas/`.
//!
//! Editors validate desired and rules files with them (`# yaml-language-server: $schema=`),
//! and other programs validate the live state and events. Because they are generated, a test
//! compares the committed files with a fresh generation and fails when the types drifted.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::config::raw;

/// Every schema file: its name under `schemas/` and its content.
pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        (
            "desired.schema.json",
            documents(
                "Mission Control desired-state document",
                &[
                    ("Routine", gen_of::<raw::Routine>),
                    ("Integration", gen_of::<raw::Integration>),
                    ("Output", gen_of::<raw::Output>),
                    ("Agent", gen_of::<raw::Agent>),
                    ("Workflow", gen_of::<raw::Workflow>),
                    ("Project", gen_of::<raw::Project>),
                    ("Silence", gen_of::<raw::Silence>),
                ],
            ),
        ),
        (
            "rules.schema.json",
            documents(
                "Mission Control rules document",
                &[
                    ("HealthRule", gen_of::<raw::HealthRule>),
                    ("AlertRule", gen_of::<raw::AlertRule>),
                    ("Receiver", gen_of::<raw::Receiver>),
                    ("TriageRule", gen_of::<raw::TriageRule>),
                    ("Price", gen_of::<raw::Price>),
                    ("Budget", gen_of::<raw::Budget>),
                ],
            ),
        ),
        ("settings.schema.json", root::<raw::Settings>("Mission Control settings (mission-control.yaml)")),
        ("mission-control.schema.json", root::<crate::state::LiveState>("Mission Control live state")),
        (
            "event.schema.json",
            root::<crate::events::Event>("Mission Control event (one line of events.jsonl)"),
        ),
    ]
}

/// Pretty JSON with a trailing newline, as committed.
pub fn render(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12()
}

type Gen = fn(&mut SchemaGenerator) -> schemars::Schema;

fn gen_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

fn root<T: JsonSchema>(title: &str) -> Value {
    let mut schema = settings().for_deserialize().into_generator().into_root_schema_for::<T>().to_value();
    if let Some(map) = schema.as_object_mut() {
        map.insert("title".into(), json!(title));
    }
    schema
}

/// A schema accepting any one of several document kinds, told apart by a constant `kind`.
fn documents(title: &str, kinds: &[(&str, Gen)]) -> Value {
    let mut generator = settings().for_deserialize().into_generator();
    let refs: Vec<Value> = kinds.iter().map(|(_, f)| f(&mut generator).to_value()).collect();
    let mut defs: Map<String, Value> = generator.take_definitions(true);
    for (kind, _) in kinds {
        if let Some(kind_schema) = defs.get_mut(*kind).and_then(|d| d.pointer_mut("/properties/kind")) {
            *kind_schema = json!({ "const": kind });
        }
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "oneOf": refs,
        "$defs": defs,
    })
}
