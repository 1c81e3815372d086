//! The OpenAPI document, checked by someone other than its generator: against the OpenAPI 3.1
//! JSON Schema (the OpenAPI Initiative's, iteration 2026-08-03, in `tests/openapi/`; see its
//! README) with a general JSON Schema validator (`jsonschema`), then for what a reader needs and
//! a schema cannot say: every operation and parameter described, every reference resolving,
//! operation ids unique, every tag explained.

use serde_json::Value;
use std::collections::BTreeSet;

fn document() -> Value {
    serde_json::to_value(orderly_api::openapi()).expect("serializable")
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let schema: Value =
        serde_json::from_str(include_str!("openapi/oas-3.1-schema.json")).expect("the schema");
    let validator = jsonschema::draft202012::new(&schema).expect("a valid JSON Schema");
    let doc = document();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // And the validator does catch a broken document.
    let mut broken = doc.clone();
    broken["paths"]["/broken"] = serde_json::json!({"get": {"responses": 5}});
    broken["info"]["title"] = serde_json::json!(1);
    assert!(validator.iter_errors(&broken).count() >= 2);
}

/// Every `$ref` points at something that exists.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            for x in m.values() {
                refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_operation_parameter_and_reference_is_there_for_a_reader() {
    let doc = document();
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            if t["description"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("tag {} has no description", t["name"]));
            }
            t["name"].as_str().unwrap()
        })
        .collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            if op["summary"]
                .as_str()
                .or(op["description"].as_str())
                .is_none_or(str::is_empty)
            {
                problems.push(format!("{at}: no summary or description"));
            }
            match op["operationId"].as_str() {
                Some(id) if !ids.insert(id.to_string()) => {
                    problems.push(format!("{at}: operationId {id} used twice"))
                }
                None => problems.push(format!("{at}: no operationId")),
                _ => {}
            }
            for t in op["tags"].as_array().into_iter().flatten() {
                if !tags.contains(t.as_str().unwrap()) {
                    problems.push(format!("{at}: tag {t} not declared"));
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["description"]
                    .as_str()
                    .is_none_or(|d| d.trim().is_empty())
                {
                    problems.push(format!("{at}: parameter {} has no description", p["name"]));
                }
                if p["description"].as_str().is_some_and(|d| d.contains('`')) {
                    // Swagger UI renders descriptions as Markdown: backticks are fine there;
                    // an unbalanced one is not.
                    if p["description"].as_str().unwrap().matches('`').count() % 2 == 1 {
                        problems.push(format!("{at}: parameter {} has an odd backtick", p["name"]));
                    }
                }
            }
            let responses = op["responses"].as_object();
            if !responses.is_some_and(|r| r.keys().any(|c| c.starts_with('2'))) {
                problems.push(format!("{at}: no success response"));
            }
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let Some(pointer) = r.strip_prefix('#') else {
            problems.push(format!("external reference {r}"));
            continue;
        };
        if doc.pointer(pointer).is_none() {
            problems.push(format!("{r} resolves to nothing"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
