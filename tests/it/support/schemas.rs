//! Validating sandbox answers against GitHub's official response schemas (OpenAPI 3.0
//! flavour, converted to JSON Schema here).

#![allow(dead_code)]

use std::path::Path;

use serde_json::{Value, json};

/// OpenAPI 3.0 -> JSON Schema: `nullable: true` becomes a type union (or an `anyOf` with
/// null when there is no `type`), and OpenAPI-only keywords are dropped.
pub fn openapi_to_json_schema(value: &mut Value, is_property_map: bool) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                openapi_to_json_schema(child, !is_property_map && key == "properties");
            }
            if is_property_map {
                return;
            }
            let nullable = map.remove("nullable") == Some(Value::Bool(true));
            for keyword in [
                "discriminator",
                "readOnly",
                "writeOnly",
                "xml",
                "externalDocs",
                "example",
            ] {
                map.remove(keyword);
            }
            if !nullable {
                return;
            }
            if let Some(Value::Array(options)) = map.get_mut("enum")
                && !options.contains(&Value::Null)
            {
                options.push(Value::Null);
            }
            match map.get_mut("type") {
                Some(Value::String(kind)) => {
                    let kind = kind.clone();
                    map.insert("type".to_string(), json!([kind, "null"]));
                }
                _ => {
                    let inner = Value::Object(std::mem::take(map));
                    map.insert("anyOf".to_string(), json!([inner, { "type": "null" }]));
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                openapi_to_json_schema(item, false);
            }
        }
        _ => {}
    }
}

pub fn validator(schema_file: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schemas")
        .join(schema_file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut schema: Value = serde_json::from_str(&text).unwrap();
    openapi_to_json_schema(&mut schema, false);
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .unwrap()
}

pub fn assert_valid(schema_file: &str, what: &str, body: &Value) {
    let validator = validator(schema_file);
    let errors: Vec<String> = validator
        .iter_errors(body)
        .take(10)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match {schema_file}:\n{}",
        errors.join("\n")
    );
}
