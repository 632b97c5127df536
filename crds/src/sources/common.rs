//! What every source shares: the generic [`Source`] resource shape, the [`SourceSpec`] trait each
//! source's spec implements, [`CloudEventOverrides`], and [`SourceStatus`].
//!
//! Common defaults: namespace `default`; `sink.ref.namespace` defaults to the source's namespace.
//! Common rules: `spec.sink` is required (ref or absolute http/https uri); every
//! `spec.ceOverrides.extensions` key must match `^[a-z][a-z0-9]*$`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::delivery::Destination;
use crate::filter::{invalid_attribute_name, is_valid_attribute_name};
use crate::meta::{Condition, ObjectMeta};
use crate::resource::Kind;
use crate::validation::{self, ValidationErrors};

/// `ceOverrides`: attributes added to (or overridden on) every event the source emits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudEventOverrides {
    #[serde(default)]
    pub extensions: BTreeMap<String, String>,
}

/// One `(type, source)` pair a source emits, reported in `status.ceAttributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeAttributes {
    #[serde(rename = "type")]
    pub type_: String,
    pub source: String,
}

/// `status` of any source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ce_attributes: Vec<CeAttributes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Progress figures the runtime adds (last event time, counts, …).
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The spec of one kind of source.
pub trait SourceSpec: Clone + Default {
    /// The resource kind this spec belongs to.
    const KIND: Kind;

    /// `spec.sink`.
    fn sink(&self) -> &Destination;
    /// `spec.sink`, mutable.
    fn sink_mut(&mut self) -> &mut Destination;
    /// `spec.ceOverrides`.
    fn ce_overrides(&self) -> Option<&CloudEventOverrides>;
    /// Kind-specific defaults (the common ones are applied by [`Source::apply_defaults`]).
    fn apply_defaults(&mut self, metadata: &ObjectMeta);
    /// Kind-specific rules; paths start with `spec.`.
    fn validate(&self, errs: &mut ValidationErrors);
    /// Kind-specific immutable fields; paths start with `spec.`. None by default.
    fn validate_update(&self, _old: &Self, _metadata: &ObjectMeta, _errs: &mut ValidationErrors) {}
}

/// A source resource: `apiVersion`, `kind`, `metadata`, `spec` and `status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(
        serialize = "S: Serialize",
        deserialize = "S: Deserialize<'de> + Default"
    )
)]
pub struct Source<S> {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: S,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SourceStatus>,
}

impl<S: SourceSpec> Source<S> {
    /// A source named `name` with Herald's apiVersion.
    pub fn new(name: impl Into<String>, spec: S) -> Self {
        Self {
            api_version: S::KIND.herald_api_version().to_string(),
            kind: S::KIND.as_str().to_string(),
            metadata: ObjectMeta::named(name),
            spec,
            status: None,
        }
    }

    /// Common defaults, then the kind's own.
    pub fn apply_defaults(&mut self) {
        self.metadata.default_namespace();
        let namespace = self.metadata.namespace_or_default().to_string();
        self.spec.sink_mut().default_namespace(&namespace);
        self.spec.apply_defaults(&self.metadata);
    }

    /// Metadata, sink, ceOverrides, then the kind's own rules.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        self.metadata.validate("metadata", &mut errs);
        self.spec.sink().validate("spec.sink", &mut errs);
        if let Some(overrides) = self.spec.ce_overrides() {
            for name in overrides.extensions.keys() {
                if !is_valid_attribute_name(name) {
                    errs.push(
                        validation::field("spec.ceOverrides.extensions", name),
                        invalid_attribute_name(name),
                    );
                }
            }
        }
        self.spec.validate(&mut errs);
        errs.into_result()
    }

    /// [`Source::validate`] plus the kind's immutable fields.
    pub fn validate_update(&self, old: &Self) -> Result<(), ValidationErrors> {
        let mut errs = self.validate().err().unwrap_or_default();
        self.spec
            .validate_update(&old.spec, &self.metadata, &mut errs);
        errs.into_result()
    }
}
