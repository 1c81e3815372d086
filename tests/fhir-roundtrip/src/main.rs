//! `orderly-fhir-roundtrip DIR`: every `*.json` in DIR (FHIR resources Orderly served) read into
//! the `fhir` crate's R4 `Resource` and written back must be the same JSON. Fails when DIR holds
//! none (the API test did not run) or any one changes.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: orderly-fhir-roundtrip DIR");
        return ExitCode::from(2);
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot read {dir}: {e} (run the API tests first)");
            return ExitCode::FAILURE;
        }
    };
    let (mut ok, mut bad) = (0, 0);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(err) => {
                eprintln!("{}: not JSON: {err}", path.display());
                bad += 1;
                continue;
            }
        };
        let kind = value["resourceType"].as_str().unwrap_or("?").to_string();
        match serde_json::from_value::<fhir::r4::resources::Resource>(value.clone())
            .map_err(|e| e.to_string())
            .and_then(|r| serde_json::to_value(&r).map_err(|e| e.to_string()))
        {
            Ok(back) if back == value => {
                ok += 1;
                *kinds.entry(kind).or_default() += 1;
            }
            Ok(back) => {
                eprintln!(
                    "{}: changed in the round trip\nserved:  {value}\nback:    {back}",
                    path.display()
                );
                bad += 1;
            }
            Err(err) => {
                eprintln!("{}: the fhir crate cannot read it: {err}", path.display());
                bad += 1;
            }
        }
    }
    println!(
        "FHIR round trip through the fhir crate's R4 types: {ok} resources unchanged, {bad} not; {kinds:?}"
    );
    if bad > 0 || ok == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
