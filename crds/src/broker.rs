//! The [`Broker`] resource (`eventing.herald.dev/v1`, or Knative's `eventing.knative.dev/v1`
//! unchanged): an event mesh endpoint that Triggers subscribe to.
//!
//! Defaults: namespace `default`; the class annotation `eventing.knative.dev/broker.class` is set to
//! [`DEFAULT_BROKER_CLASS`] (`MTChannelBasedBroker`) when missing. Herald serves every class the same
//! way (one built-in broker implementation), so `Kafka`, `RabbitMQBroker`, … manifests load and behave
//! identically; the class is kept only for compatibility and is immutable like in Knative.
//! `spec.config` is not defaulted (Herald has no channel ConfigMaps) and is kept as written.
//! `spec.delivery` is not filled in either: the runtime resolves it with
//! [`DeliverySpec::effective`](crate::delivery::DeliverySpec::effective).

use serde::{Deserialize, Serialize};

use crate::delivery::DeliverySpec;
use crate::meta::{Condition, KReference, ObjectMeta};
use crate::resource::Kind;
use crate::validation::{self, ValidationErrors};

/// Annotation naming the broker class.
pub const BROKER_CLASS_ANNOTATION: &str = "eventing.knative.dev/broker.class";
/// Class set when the annotation is missing (Knative's stock default).
pub const DEFAULT_BROKER_CLASS: &str = "MTChannelBasedBroker";

/// A Broker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Broker {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: BrokerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BrokerStatus>,
}

/// `spec` of a Broker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerSpec {
    /// Class-specific configuration reference (immutable; Herald keeps it but does not use it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<KReference>,
    /// Delivery for every Trigger without its own `delivery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// `status` of a Broker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Addressable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_sink_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// An address in a status (`status.address`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addressable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Broker {
    /// A Broker named `name` with Herald's apiVersion and an empty spec.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            api_version: Kind::Broker.herald_api_version().to_string(),
            kind: Kind::Broker.as_str().to_string(),
            metadata: ObjectMeta::named(name),
            spec: BrokerSpec::default(),
            status: None,
        }
    }

    /// The class annotation, when set and non-empty.
    pub fn class(&self) -> Option<&str> {
        self.metadata
            .annotations
            .get(BROKER_CLASS_ANNOTATION)
            .map(String::as_str)
            .filter(|c| !c.is_empty())
    }

    /// Namespace `default`, class annotation, and `deadLetterSink.ref.namespace`.
    pub fn apply_defaults(&mut self) {
        self.metadata.default_namespace();
        if self.class().is_none() {
            self.metadata.annotations.insert(
                BROKER_CLASS_ANNOTATION.to_string(),
                DEFAULT_BROKER_CLASS.to_string(),
            );
        }
        let namespace = self.metadata.namespace_or_default().to_string();
        if let Some(delivery) = &mut self.spec.delivery {
            delivery.default_namespace(&namespace);
        }
    }

    /// Metadata, the class annotation (required once defaults are applied), `spec.config` and
    /// `spec.delivery`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        self.metadata.validate("metadata", &mut errs);
        if self.class().is_none() {
            errs.missing(validation::key(
                "metadata.annotations",
                BROKER_CLASS_ANNOTATION,
            ));
        }
        if let Some(config) = &self.spec.config {
            config.validate("spec.config", &mut errs);
        }
        if let Some(delivery) = &self.spec.delivery {
            delivery.validate("spec.delivery", &mut errs);
        }
        errs.into_result()
    }

    /// [`Broker::validate`] plus immutability of the class annotation and `spec.config`
    /// (only `spec.delivery` may change).
    pub fn validate_update(&self, old: &Broker) -> Result<(), ValidationErrors> {
        let mut errs = self.validate().err().unwrap_or_default();
        let class = |b: &Broker| b.class().unwrap_or(DEFAULT_BROKER_CLASS).to_string();
        if class(old) != class(self) {
            errs.push(
                validation::key("metadata.annotations", BROKER_CLASS_ANNOTATION),
                validation::immutable_changed(&class(old), &class(self)),
            );
        }
        if old.spec.config != self.spec.config {
            errs.push(
                "spec.config",
                validation::immutable_changed(&old.spec.config, &self.spec.config),
            );
        }
        errs.into_result()
    }
}
