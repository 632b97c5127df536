//! Validation errors and the small checks shared by every resource.
//!
//! Errors follow Knative's webhook: each names the JSON path of the offending field
//! (`spec.filter.attributes.SOURCE`, `spec.filters[0].exact`) and a message, and a validator reports
//! every problem it finds rather than stopping at the first.

use std::fmt;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// JSON path of the field, e.g. `spec.filter.attributes.SOURCE` or `spec.filters[1].prefix`.
    pub field: String,
    /// What is wrong, e.g. `missing field` or `invalid value "-1": must be >= 0`.
    pub message: String,
}

impl ValidationError {
    /// Builds an error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in one resource. `Display` joins them as `field: message; field: message`.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ValidationErrors {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field`.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError::new(field, message));
    }

    /// Records `missing field` for `field`.
    pub fn missing(&mut self, field: impl Into<String>) {
        self.push(field, MISSING_FIELD);
    }

    /// Appends every error of `other`.
    pub fn extend(&mut self, other: ValidationErrors) {
        self.0.extend(other.0);
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of recorded problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The recorded problems.
    pub fn iter(&self) -> std::slice::Iter<'_, ValidationError> {
        self.0.iter()
    }

    /// The first error recorded for exactly `field`, if any (handy in tests and API answers).
    pub fn for_field(&self, field: &str) -> Option<&ValidationError> {
        self.0.iter().find(|e| e.field == field)
    }

    /// `Ok(())` when empty, otherwise `Err(self)`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a ValidationError;
    type IntoIter = std::slice::Iter<'a, ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Message for a required field that is absent or empty (Knative: `missing field(s)`).
pub const MISSING_FIELD: &str = "missing field";

/// Message for a field that may not change after creation (Knative's wording).
pub const IMMUTABLE_FIELD: &str = "Immutable fields changed (-old +new)";

/// Joins a parent path and a child field name: `field("spec", "broker")` is `spec.broker`.
pub fn field(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// Path of a list element: `index("spec.filters", 2)` is `spec.filters[2]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// Path of a map key in Knative's style for annotations and labels: `metadata.annotations[key]`.
pub fn key(parent: &str, k: &str) -> String {
    format!("{parent}[{k}]")
}

/// Message for an immutable field that changed, with the old and new values.
pub fn immutable_changed(old: &impl fmt::Debug, new: &impl fmt::Debug) -> String {
    format!("{IMMUTABLE_FIELD}: -{old:?} +{new:?}")
}

/// Checks a resource or namespace name: a lowercase RFC 1123 subdomain (max 253 characters) for
/// names, a lowercase RFC 1123 label (max 63) for namespaces. Returns the Kubernetes-style message.
pub fn check_dns_name(value: &str, label: bool) -> Result<(), String> {
    let max = if label { 63 } else { 253 };
    if value.len() > max {
        return Err(format!("must be no more than {max} characters"));
    }
    let segments: Vec<&str> = if label {
        vec![value]
    } else {
        value.split('.').collect()
    };
    let segment_ok = |s: &str| {
        let bytes = s.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    };
    if segments.iter().all(|s| segment_ok(s)) {
        Ok(())
    } else if label {
        Err(format!(
            "invalid value {value:?}: a lowercase RFC 1123 label must consist of lower case \
             alphanumeric characters or '-', and must start and end with an alphanumeric character"
        ))
    } else {
        Err(format!(
            "invalid value {value:?}: a lowercase RFC 1123 subdomain must consist of lower case \
             alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_every_error() {
        let mut errs = ValidationErrors::new();
        errs.missing("spec.broker");
        errs.push("spec.delivery.retry", "invalid value -1: must be >= 0");
        assert_eq!(
            errs.to_string(),
            "spec.broker: missing field; spec.delivery.retry: invalid value -1: must be >= 0"
        );
        assert_eq!(errs.len(), 2);
        assert!(errs.into_result().is_err());
        assert!(ValidationErrors::new().into_result().is_ok());
    }

    #[test]
    fn dns_names() {
        assert!(check_dns_name("my-broker", true).is_ok());
        assert!(check_dns_name("a.b-c.d", false).is_ok());
        assert!(check_dns_name("a.b", true).is_err());
        assert!(check_dns_name("My", false).is_err());
        assert!(check_dns_name("-a", false).is_err());
        assert!(check_dns_name("a..b", false).is_err());
        assert!(check_dns_name("", false).is_err());
        assert!(check_dns_name(&"a".repeat(64), true).is_err());
    }
}
