//! Helpers: load fixtures, parse single resources, and assert validation errors.

use herald_crds::{Resource, ValidationErrors, parse_manifests};

/// Every resource of `tests/fixtures/<name>`, failing the test on any error.
pub fn load(name: &str) -> Vec<Resource> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_manifests(&yaml)
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

/// The one resource in `yaml`, as written (no defaults).
pub fn parse(yaml: &str) -> Resource {
    let mut all = parse_manifests(yaml);
    assert_eq!(all.len(), 1, "expected one document");
    all.remove(0).unwrap_or_else(|e| panic!("{e}"))
}

/// Parses `yaml`, applies defaults, validates, and returns the errors (empty when valid).
pub fn errors(yaml: &str) -> ValidationErrors {
    let mut resource = parse(yaml);
    resource.apply_defaults();
    resource.validate().err().unwrap_or_default()
}

/// Asserts `errs` holds exactly `message` for `field`.
#[track_caller]
pub fn assert_error(errs: &ValidationErrors, field: &str, message: &str) {
    let found = errs
        .iter()
        .any(|e| e.field == field && e.message == message);
    assert!(found, "expected `{field}: {message}` in: {errs}");
}

/// Asserts `errs` has an error for `field` whose message contains `part`.
#[track_caller]
pub fn assert_error_contains(errs: &ValidationErrors, field: &str, part: &str) {
    let found = errs
        .iter()
        .any(|e| e.field == field && e.message.contains(part));
    assert!(found, "expected `{field}: …{part}…` in: {errs}");
}
