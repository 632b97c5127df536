//! Runs every case of the CloudEvents SQL conformance suite (the CESQL TCK YAML files) against
//! `herald_triggers::cesql`.
//!
//! The suite is read at test time from `../../shared/conformance/cesql-tck` relative to this
//! crate, or from the directory in `CESQL_TCK_DIR`. Every failing case is reported by file and
//! name; the test also fails if it finds no files or fewer than [`MIN_CASES`] cases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use herald_triggers::cesql::{Attributes, Expression, Value};
use serde::Deserialize;
use serde_json::Value as Json;

/// The suite has 275 cases; finding far fewer means the files were not all read.
const MIN_CASES: usize = 250;

#[derive(Deserialize)]
struct Suite {
    name: String,
    tests: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    name: String,
    /// Read as the raw scalar text, so `TRUE` or `-10` stay as written.
    expression: String,
    result: Option<Json>,
    error: Option<String>,
    event: Option<BTreeMap<String, Json>>,
    event_overrides: Option<BTreeMap<String, Json>>,
}

/// A test event: attribute name to typed value.
struct Event(BTreeMap<String, Value>);

impl Attributes for Event {
    fn attribute(&self, name: &str) -> Option<Value> {
        self.0.get(name).cloned()
    }
}

fn tck_dir() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/cesql-tck");
    if beside.is_dir() {
        return beside;
    }
    match std::env::var_os("CESQL_TCK_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "CESQL TCK not found at {} and CESQL_TCK_DIR is not set",
            beside.display()
        ),
    }
}

fn to_value(json: &Json) -> Result<Value, String> {
    match json {
        Json::String(s) => Ok(Value::String(s.clone())),
        Json::Bool(b) => Ok(Value::Boolean(*b)),
        Json::Number(n) => n
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(Value::Integer)
            .ok_or_else(|| format!("{n} is not a 32-bit integer")),
        other => Err(format!("{other} is not a CESQL value")),
    }
}

/// The case's `event`, or a valid default event with its `eventOverrides` applied.
fn build_event(case: &Case) -> Result<Event, String> {
    let attributes = match &case.event {
        Some(event) => event.clone(),
        None => {
            let mut event: BTreeMap<String, Json> = [
                ("specversion", "1.0"),
                ("id", "tck-event-id"),
                ("source", "/tck/source"),
                ("type", "tck.event.type"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Json::String(v.to_owned())))
            .collect();
            event.extend(case.event_overrides.clone().unwrap_or_default());
            event
        }
    };
    attributes
        .into_iter()
        .map(|(name, json)| {
            to_value(&json)
                .map(|value| (name.clone(), value))
                .map_err(|e| format!("event attribute {name}: {e}"))
        })
        .collect::<Result<_, _>>()
        .map(Event)
}

/// Runs one case; `Err` describes how it failed.
fn run(case: &Case) -> Result<(), String> {
    let event = build_event(case)?;
    let (value, kinds, detail) = match Expression::parse(&case.expression) {
        Err(error) => (Value::Boolean(false), vec!["parse"], error.to_string()),
        Ok(expression) => {
            let evaluation = expression.evaluate(&event);
            let clean_true =
                evaluation.errors.is_empty() && evaluation.value == Value::Boolean(true);
            if expression.matches(&event) != clean_true {
                return Err(format!(
                    "matches() disagrees with evaluate() = {:?}",
                    evaluation
                ));
            }
            let kinds = evaluation.errors.iter().map(|e| e.kind()).collect();
            let detail = format!("{:?}", evaluation.errors);
            (evaluation.value, kinds, detail)
        }
    };
    match &case.error {
        None if !kinds.is_empty() => return Err(format!("expected no error, got {detail}")),
        Some(expected) if kinds.is_empty() || kinds.iter().any(|k| k != expected) => {
            return Err(format!("expected only {expected} errors, got {detail}"));
        }
        _ => {}
    }
    if let Some(result) = &case.result {
        let expected = to_value(result).map_err(|e| format!("result: {e}"))?;
        if value != expected {
            return Err(format!("expected {expected:?}, got {value:?} ({detail})"));
        }
    }
    Ok(())
}

#[test]
fn every_tck_case_passes() {
    let dir = tck_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no TCK files in {}", dir.display());

    let mut cases = 0;
    let mut failures = Vec::new();
    for path in &files {
        let file = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let suite: Suite =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
        assert!(
            !suite.tests.is_empty(),
            "{file} ({}) has no tests",
            suite.name
        );
        for case in &suite.tests {
            cases += 1;
            if let Err(why) = run(case) {
                failures.push(format!(
                    "{file}: {:?} `{}`: {why}",
                    case.name, case.expression
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} TCK cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        cases >= MIN_CASES,
        "only {cases} TCK cases found in {} files under {}; expected at least {MIN_CASES}",
        files.len(),
        dir.display()
    );
    println!("{cases} TCK cases from {} files passed", files.len());
}
