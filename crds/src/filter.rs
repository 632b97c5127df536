//! Trigger filters: the classic [`TriggerFilter`] (`spec.filter.attributes`, exact matches ANDed)
//! and the CloudEvents Subscriptions API dialects ([`SubscriptionsApiFilter`], `spec.filters[]`),
//! with Knative's validation. Evaluation (and the CESQL parse check) lives in the triggers crate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::validation::{self, ValidationErrors};

/// True when `name` matches `^[a-z][a-z0-9]*$`, the attribute-name rule Knative enforces on
/// filters (stricter than CloudEvents, which also allows a leading digit).
pub fn is_valid_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Message for a name that fails [`is_valid_attribute_name`].
pub fn invalid_attribute_name(name: &str) -> String {
    format!("invalid attribute name {name:?}: must match ^[a-z][a-z0-9]*$")
}

/// `spec.filter`: exact attribute matches, ANDed. A value of `""` means "present and non-empty".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerFilter {
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl TriggerFilter {
    /// Checks every attribute name (`spec.filter.attributes.<name>`).
    pub fn validate(&self, path: &str, errs: &mut ValidationErrors) {
        let attributes = validation::field(path, "attributes");
        for name in self.attributes.keys() {
            if !is_valid_attribute_name(name) {
                errs.push(
                    validation::field(&attributes, name),
                    invalid_attribute_name(name),
                );
            }
        }
    }
}

/// One element of `spec.filters`: exactly one dialect must be set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionsApiFilter {
    /// Every attribute equals its value (case-sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<BTreeMap<String, String>>,
    /// Every attribute starts with its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<BTreeMap<String, String>>,
    /// Every attribute ends with its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<BTreeMap<String, String>>,
    /// Every nested filter matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<SubscriptionsApiFilter>>,
    /// At least one nested filter matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<SubscriptionsApiFilter>>,
    /// The nested filter does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<SubscriptionsApiFilter>>,
    /// A CESQL expression. Knative spells it `cesql`; the CloudEvents Subscriptions spec `sql`,
    /// which is accepted too.
    #[serde(default, alias = "sql", skip_serializing_if = "Option::is_none")]
    pub cesql: Option<String>,
}

/// The one dialect a [`SubscriptionsApiFilter`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect<'a> {
    Exact(&'a BTreeMap<String, String>),
    Prefix(&'a BTreeMap<String, String>),
    Suffix(&'a BTreeMap<String, String>),
    All(&'a [SubscriptionsApiFilter]),
    Any(&'a [SubscriptionsApiFilter]),
    Not(&'a SubscriptionsApiFilter),
    Cesql(&'a str),
}

const DIALECTS: &str = "exact, prefix, suffix, all, any, not, cesql";

impl SubscriptionsApiFilter {
    /// Every dialect that is set, with its field name.
    fn dialects(&self) -> Vec<(&'static str, Dialect<'_>)> {
        let mut found = Vec::new();
        if let Some(m) = &self.exact {
            found.push(("exact", Dialect::Exact(m)));
        }
        if let Some(m) = &self.prefix {
            found.push(("prefix", Dialect::Prefix(m)));
        }
        if let Some(m) = &self.suffix {
            found.push(("suffix", Dialect::Suffix(m)));
        }
        if let Some(v) = &self.all {
            found.push(("all", Dialect::All(v)));
        }
        if let Some(v) = &self.any {
            found.push(("any", Dialect::Any(v)));
        }
        if let Some(f) = &self.not {
            found.push(("not", Dialect::Not(f)));
        }
        if let Some(s) = &self.cesql {
            found.push(("cesql", Dialect::Cesql(s)));
        }
        found
    }

    /// The dialect this filter holds, or `None` when it holds none or several (invalid filters).
    pub fn dialect(&self) -> Option<Dialect<'_>> {
        match self.dialects().as_slice() {
            [(_, dialect)] => Some(*dialect),
            _ => None,
        }
    }

    /// Checks one element (at `path`, e.g. `spec.filters[0]`) and, recursively, its children.
    pub fn validate(&self, path: &str, errs: &mut ValidationErrors) {
        let dialects = self.dialects();
        match dialects.len() {
            0 => errs.push(
                path,
                format!("expected exactly one of {DIALECTS}; got none"),
            ),
            1 => {}
            _ => {
                let names: Vec<&str> = dialects.iter().map(|(name, _)| *name).collect();
                errs.push(
                    path,
                    format!(
                        "expected exactly one of {DIALECTS}; got {}",
                        names.join(", ")
                    ),
                );
            }
        }
        for (name, dialect) in dialects {
            let child = validation::field(path, name);
            match dialect {
                Dialect::Exact(map) => validate_attribute_map(map, &child, false, errs),
                Dialect::Prefix(map) | Dialect::Suffix(map) => {
                    validate_attribute_map(map, &child, true, errs)
                }
                Dialect::All(filters) | Dialect::Any(filters) => {
                    if filters.is_empty() {
                        errs.push(&child, "must contain at least one nested filter");
                    }
                    for (i, filter) in filters.iter().enumerate() {
                        filter.validate(&validation::index(&child, i), errs);
                    }
                }
                Dialect::Not(filter) => filter.validate(&child, errs),
                Dialect::Cesql(expression) => {
                    if expression.trim().is_empty() {
                        errs.push(child, "must not be empty");
                    }
                }
            }
        }
    }
}

/// Checks an `exact`/`prefix`/`suffix` map: non-empty, valid non-empty keys and, for prefix and
/// suffix, non-empty values.
fn validate_attribute_map(
    map: &BTreeMap<String, String>,
    path: &str,
    values_required: bool,
    errs: &mut ValidationErrors,
) {
    if map.is_empty() {
        errs.push(path, "must contain at least one attribute");
    }
    for (name, value) in map {
        if name.is_empty() {
            errs.push(path, "attribute name must not be empty");
            continue;
        }
        let entry = validation::field(path, name);
        if !is_valid_attribute_name(name) {
            errs.push(&entry, invalid_attribute_name(name));
        }
        if values_required && value.is_empty() {
            errs.push(entry, "value must not be empty");
        }
    }
}

/// Validates a whole `filters` list at `path` (e.g. `spec.filters`).
pub fn validate_filters(
    filters: &[SubscriptionsApiFilter],
    path: &str,
    errs: &mut ValidationErrors,
) {
    for (i, filter) in filters.iter().enumerate() {
        filter.validate(&validation::index(path, i), errs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names() {
        for ok in ["source", "type", "a1", "knativeerrorcode"] {
            assert!(is_valid_attribute_name(ok), "{ok}");
        }
        for bad in [
            "SOURCE", "Source", "s pace s", "s_pace_s", "s-pace-s", "123", "😀", "", "1a",
        ] {
            assert!(!is_valid_attribute_name(bad), "{bad}");
        }
    }

    #[test]
    fn dialect_view() {
        let f: SubscriptionsApiFilter =
            serde_json::from_value(serde_json::json!({"sql": "type = 'x'"})).unwrap();
        assert_eq!(f.dialect(), Some(Dialect::Cesql("type = 'x'")));
        assert_eq!(SubscriptionsApiFilter::default().dialect(), None);
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v, serde_json::json!({"cesql": "type = 'x'"}));
    }
}
