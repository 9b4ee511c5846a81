//! `bookingsim schema`: the scenario format as JSON Schema, generated from the serde types
//! that read scenario files, so that editors (taplo, Even Better TOML) complete and check
//! fields as they are typed. `docs/scenario.schema.json` is its output, kept equal by a
//! test.

use schemars::generate::SchemaSettings;
use schemars::transform::{Transform, transform_subschemas};
use schemars::{Schema, SchemaGenerator};
use serde_json::Value;

use crate::scenario::Scenario;

/// The schema of a scenario file (draft-07, which every TOML editor's validator reads).
pub fn scenario_schema() -> Schema {
    let mut settings = SchemaSettings::draft07();
    settings.transforms.push(Box::new(NoNull));
    let mut schema = SchemaGenerator::new(settings).into_root_schema_for::<Scenario>();
    schema.insert(
        "title".into(),
        "bookingsim scenario file (docs/scenario-format.md)".into(),
    );
    schema
}

/// The schema as `bookingsim schema` prints it (and `docs/scenario.schema.json` holds it).
pub fn scenario_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&scenario_schema()).expect("a schema is JSON");
    text.push('\n');
    text
}

/// TOML has no null: an `Option` field is one left out, so neither its type nor its default
/// (`None`) says null.
#[derive(Clone)]
struct NoNull;

impl Transform for NoNull {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        if schema.get("default") == Some(&Value::Null) {
            schema.remove("default");
        }
        if let Some(Value::Array(types)) = schema.get_mut("type") {
            types.retain(|t| t != "null");
            if let [one] = types.as_slice() {
                let one = one.clone();
                schema.insert("type".into(), one);
            }
        }
        if let Some(Value::Array(values)) = schema.get_mut("enum") {
            values.retain(|v| !v.is_null());
        }
        let null = serde_json::json!({ "type": "null" });
        let Some(Value::Array(any)) = schema.get_mut("anyOf") else {
            return;
        };
        any.retain(|s| *s != null);
        if let [one] = any.as_slice() {
            let one = one.clone();
            schema.remove("anyOf");
            if schema.as_object().is_some_and(|o| o.is_empty()) {
                *schema = Schema::try_from(one).expect("a subschema is a schema");
            } else {
                // Beside a `$ref`, draft-07 ignores every other keyword.
                schema.insert("allOf".into(), Value::Array(vec![one]));
            }
        }
    }
}
