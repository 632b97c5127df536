//! Kubernetes-style metadata shared by every resource: [`ObjectMeta`], status [`Condition`]s and
//! their helpers, and [`KReference`] (Knative's `duck/v1` KReference).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::validation::{self, ValidationErrors};

/// Namespace used when a manifest does not name one (as `kubectl apply` does).
pub const DEFAULT_NAMESPACE: &str = "default";

/// The condition every resource summarises its health in.
pub const CONDITION_READY: &str = "Ready";

/// `metadata` of a resource. Unknown metadata fields (`managedFields`, `ownerReferences`, …) are
/// accepted and dropped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Resource name; required (validated as a lowercase RFC 1123 subdomain).
    #[serde(default)]
    pub name: String,
    /// Namespace; `None` means [`DEFAULT_NAMESPACE`] (defaulting fills it in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

impl ObjectMeta {
    /// Metadata with just a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The namespace, or [`DEFAULT_NAMESPACE`] when unset or empty.
    pub fn namespace_or_default(&self) -> &str {
        match self.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => ns,
            _ => DEFAULT_NAMESPACE,
        }
    }

    /// Sets the namespace to [`DEFAULT_NAMESPACE`] when it is unset or empty.
    pub fn default_namespace(&mut self) {
        if self.namespace.as_deref().is_none_or(str::is_empty) {
            self.namespace = Some(DEFAULT_NAMESPACE.to_string());
        }
    }

    /// Checks `name` (required, RFC 1123 subdomain) and `namespace` (RFC 1123 label when set).
    pub fn validate(&self, path: &str, errs: &mut ValidationErrors) {
        let name_path = validation::field(path, "name");
        if self.name.is_empty() {
            errs.missing(name_path);
        } else if let Err(message) = validation::check_dns_name(&self.name, false) {
            errs.push(name_path, message);
        }
        if let Some(ns) = self.namespace.as_deref().filter(|ns| !ns.is_empty())
            && let Err(message) = validation::check_dns_name(ns, true)
        {
            errs.push(validation::field(path, "namespace"), message);
        }
    }
}

/// Status of a [`Condition`]: `True`, `False` or `Unknown`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    Unknown,
}

/// One status condition (Knative `apis.Condition`, without `severity`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`, `SubscriberResolved`.
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// RFC 3339 time the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl Condition {
    /// A condition without reason, message or time.
    pub fn new(type_: impl Into<String>, status: ConditionStatus) -> Self {
        Self {
            type_: type_.into(),
            status,
            reason: None,
            message: None,
            last_transition_time: None,
        }
    }

    /// A `True` condition.
    pub fn new_true(type_: impl Into<String>) -> Self {
        Self::new(type_, ConditionStatus::True)
    }

    /// A `False` condition with a reason and message.
    pub fn new_false(
        type_: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(type_, ConditionStatus::False).with_reason(reason, message)
    }

    /// An `Unknown` condition with a reason and message (work in progress).
    pub fn new_unknown(
        type_: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(type_, ConditionStatus::Unknown).with_reason(reason, message)
    }

    /// Sets the reason and message.
    pub fn with_reason(mut self, reason: impl Into<String>, message: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self.message = Some(message.into());
        self
    }

    /// True when the status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// The condition of type `type_`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the `Ready` condition is present and `True`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    find_condition(conditions, CONDITION_READY).is_some_and(Condition::is_true)
}

/// Inserts or replaces the condition of the same type. `lastTransitionTime` is kept when the status
/// did not change, and set to now (RFC 3339, UTC) when it did or when the caller left it empty.
/// Conditions stay sorted by type, so status output is stable.
pub fn set_condition(conditions: &mut Vec<Condition>, mut condition: Condition) {
    let now = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            if condition.last_transition_time.is_none() {
                condition.last_transition_time = if existing.status == condition.status {
                    existing
                        .last_transition_time
                        .clone()
                        .or_else(|| Some(now()))
                } else {
                    Some(now())
                };
            }
            *existing = condition;
        }
        None => {
            if condition.last_transition_time.is_none() {
                condition.last_transition_time = Some(now());
            }
            conditions.push(condition);
            conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        }
    }
}

/// A reference to another resource (Knative `duck/v1` KReference).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KReference {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    /// Defaults to the namespace of the resource that holds the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl KReference {
    /// A reference to `kind`/`name` of `api_version`, without a namespace.
    pub fn new(
        api_version: impl Into<String>,
        kind: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            namespace: None,
        }
    }

    /// Fills `namespace` with `parent_namespace` when unset (Knative's defaulting).
    pub fn default_namespace(&mut self, parent_namespace: &str) {
        if self.namespace.as_deref().is_none_or(str::is_empty) {
            self.namespace = Some(parent_namespace.to_string());
        }
    }

    /// Checks that `apiVersion`, `kind` and `name` are set.
    pub fn validate(&self, path: &str, errs: &mut ValidationErrors) {
        for (name, value) in [
            ("apiVersion", &self.api_version),
            ("kind", &self.kind),
            ("name", &self.name),
        ] {
            if value.is_empty() {
                errs.missing(validation::field(path, name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_condition_keeps_time_when_status_unchanged() {
        let mut conds = vec![];
        let mut first = Condition::new_true(CONDITION_READY);
        first.last_transition_time = Some("2020-01-01T00:00:00Z".into());
        set_condition(&mut conds, first);
        set_condition(&mut conds, Condition::new_true(CONDITION_READY));
        assert_eq!(
            conds[0].last_transition_time.as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
        assert!(is_ready(&conds));
        set_condition(
            &mut conds,
            Condition::new_false(CONDITION_READY, "BrokerDoesNotExist", "no broker"),
        );
        assert_eq!(conds.len(), 1);
        assert_ne!(
            conds[0].last_transition_time.as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
        assert!(!is_ready(&conds));
        set_condition(&mut conds, Condition::new_true("Addressable"));
        assert_eq!(conds[0].type_, "Addressable");
    }

    #[test]
    fn condition_serde_names() {
        let c = Condition::new_false("Ready", "R", "M");
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["type"], "Ready");
        assert_eq!(v["status"], "False");
        assert_eq!(
            Condition::new_unknown("Ready", "Starting", "m").status,
            ConditionStatus::Unknown
        );
        let back: Condition = serde_json::from_value(serde_json::json!({
            "type": "Ready", "status": "Unknown", "lastTransitionTime": "t"
        }))
        .unwrap();
        assert_eq!(back.status, ConditionStatus::Unknown);
        assert_eq!(back.last_transition_time.as_deref(), Some("t"));
    }
}
