//! [`SecretValueFromSource`]: where a source reads a credential from. Knative's form is
//! `{ secretKeyRef: { name, key } }`; Herald adds `{ file: PATH }`, `{ env: VAR }` and
//! `{ value: TEXT }`. Exactly one may be set; an empty object (`{}`, which Knative itself writes
//! for unused credentials) means "not set". Reading the value is the runtime's job.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::{self, ValidationErrors};

/// A Kubernetes-style reference to one key of a Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretKeySelector {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A credential reference. `Debug` hides an inline `value`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretValueFromSource {
    /// Knative: a key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
    /// Herald: a file whose whole content (trailing newline trimmed) is the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Herald: an environment variable of the Herald process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Herald: the value itself, inline in the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The one place a [`SecretValueFromSource`] points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretSource<'a> {
    SecretKeyRef(&'a SecretKeySelector),
    File(&'a str),
    Env(&'a str),
    Value(&'a str),
}

impl fmt::Debug for SecretValueFromSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValueFromSource")
            .field("secret_key_ref", &self.secret_key_ref)
            .field("file", &self.file)
            .field("env", &self.env)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SecretValueFromSource {
    /// An inline value.
    pub fn from_value(value: impl Into<String>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::default()
        }
    }

    fn sources(&self) -> Vec<(&'static str, SecretSource<'_>)> {
        let mut found = Vec::new();
        if let Some(r) = &self.secret_key_ref {
            found.push(("secretKeyRef", SecretSource::SecretKeyRef(r)));
        }
        if let Some(p) = &self.file {
            found.push(("file", SecretSource::File(p)));
        }
        if let Some(v) = &self.env {
            found.push(("env", SecretSource::Env(v)));
        }
        if let Some(v) = &self.value {
            found.push(("value", SecretSource::Value(v)));
        }
        found
    }

    /// True when nothing is set (`{}`).
    pub fn is_empty(&self) -> bool {
        self.sources().is_empty()
    }

    /// The single source, or `None` when empty or (invalid) when several are set.
    pub fn source(&self) -> Option<SecretSource<'_>> {
        match self.sources().as_slice() {
            [(_, source)] => Some(*source),
            _ => None,
        }
    }

    /// Checks at most one source is set, and that the one set is complete. `required` adds a
    /// `missing field` error when none is set.
    pub fn validate(&self, path: &str, required: bool, errs: &mut ValidationErrors) {
        let sources = self.sources();
        if sources.len() > 1 {
            let names: Vec<&str> = sources.iter().map(|(n, _)| *n).collect();
            errs.push(
                path,
                format!(
                    "expected exactly one of secretKeyRef, file, env, value; got {}",
                    names.join(", ")
                ),
            );
        }
        if sources.is_empty() && required {
            errs.missing(path);
        }
        for (name, source) in sources {
            let child = validation::field(path, name);
            match source {
                SecretSource::SecretKeyRef(selector) => {
                    if selector.name.is_empty() {
                        errs.missing(validation::field(&child, "name"));
                    }
                    if selector.key.is_empty() {
                        errs.missing(validation::field(&child, "key"));
                    }
                }
                SecretSource::File(text) | SecretSource::Env(text) => {
                    if text.is_empty() {
                        errs.push(child, "must not be empty");
                    }
                }
                SecretSource::Value(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(s: &SecretValueFromSource, required: bool) -> ValidationErrors {
        let mut errs = ValidationErrors::new();
        s.validate("spec.net.sasl.user", required, &mut errs);
        errs
    }

    #[test]
    fn exactly_one_source() {
        let s: SecretValueFromSource = serde_json::from_value(serde_json::json!({
            "secretKeyRef": {"name": "kafka", "key": "user"}, "env": "KAFKA_USER"
        }))
        .unwrap();
        let e = errors(&s, true);
        assert_eq!(e.0[0].field, "spec.net.sasl.user");
        assert_eq!(
            e.0[0].message,
            "expected exactly one of secretKeyRef, file, env, value; got secretKeyRef, env"
        );
        assert_eq!(s.source(), None);
    }

    #[test]
    fn empty_is_unset() {
        let s: SecretValueFromSource = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(s.is_empty());
        assert!(errors(&s, false).is_empty());
        assert_eq!(errors(&s, true).0[0].message, "missing field");
    }

    #[test]
    fn incomplete_sources() {
        let s: SecretValueFromSource =
            serde_json::from_value(serde_json::json!({"secretKeyRef": {"name": "x"}})).unwrap();
        assert_eq!(
            errors(&s, true).0[0].field,
            "spec.net.sasl.user.secretKeyRef.key"
        );
        let s: SecretValueFromSource =
            serde_json::from_value(serde_json::json!({"file": ""})).unwrap();
        assert_eq!(errors(&s, true).0[0].field, "spec.net.sasl.user.file");
        let s = SecretValueFromSource::from_value("hunter2");
        assert_eq!(s.source(), Some(SecretSource::Value("hunter2")));
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
