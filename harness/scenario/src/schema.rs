//! The JSON Schema of scenario files, generated from the surface types in
//! [`crate::document`]. `spec/scenario.schema.json` holds a copy that editors use; a test fails
//! when the copy is stale.

use crate::document::ScenarioDoc;

/// The schema as pretty-printed JSON, with a trailing newline.
pub fn scenario_schema() -> String {
    let schema =
        schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<ScenarioDoc>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}
