//! The [`Trigger`] resource (`eventing.herald.dev/v1`, or Knative's `eventing.knative.dev/v1`
//! unchanged): a subscription to a Broker's events, with a filter, a subscriber and delivery.
//!
//! Defaults: namespace `default`; label `eventing.knative.dev/broker: <spec.broker>`;
//! `subscriber.ref.namespace` and `delivery.deadLetterSink.ref.namespace` default to the Trigger's
//! namespace. When `spec.filters` is non-empty, `spec.filter` is ignored (Knative's rule).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::delivery::{DeliverySpec, Destination};
use crate::filter::{SubscriptionsApiFilter, TriggerFilter, validate_filters};
use crate::meta::{Condition, ObjectMeta};
use crate::resource::Kind;
use crate::validation::{self, ValidationErrors};

/// Label defaulting sets to the Trigger's broker name.
pub const BROKER_LABEL: &str = "eventing.knative.dev/broker";
/// Annotation holding a JSON ObjectReference of a source the Trigger depends on.
pub const DEPENDENCY_ANNOTATION: &str = "knative.dev/dependency";
/// Annotation asking for the `default` Broker to be created (`enabled` | `disabled`).
pub const INJECTION_ANNOTATION: &str = "eventing.knative.dev/injection";

/// A Trigger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: TriggerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TriggerStatus>,
}

/// `spec` of a Trigger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpec {
    /// Name of the Broker in the same namespace (required, immutable).
    #[serde(default)]
    pub broker: String,
    /// Exact attribute matches; ignored when `filters` is non-empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<TriggerFilter>,
    /// Subscriptions API filters, ANDed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<SubscriptionsApiFilter>,
    /// Where matching events go (required).
    #[serde(default)]
    pub subscriber: Destination,
    /// Replaces the Broker's delivery whole when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// `status` of a Trigger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_sink_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Runtime figures the broker adds (e.g. `concurrencyLimit`), kept as extra status fields.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Trigger {
    /// A Trigger named `name` on `broker` sending to `subscriber`, with Herald's apiVersion.
    pub fn new(
        name: impl Into<String>,
        broker: impl Into<String>,
        subscriber: Destination,
    ) -> Self {
        Self {
            api_version: Kind::Trigger.herald_api_version().to_string(),
            kind: Kind::Trigger.as_str().to_string(),
            metadata: ObjectMeta::named(name),
            spec: TriggerSpec {
                broker: broker.into(),
                subscriber,
                ..TriggerSpec::default()
            },
            status: None,
        }
    }

    /// Namespace `default`, the broker label, and reference namespaces.
    pub fn apply_defaults(&mut self) {
        self.metadata.default_namespace();
        if !self.spec.broker.is_empty() {
            self.metadata
                .labels
                .insert(BROKER_LABEL.to_string(), self.spec.broker.clone());
        }
        let namespace = self.metadata.namespace_or_default().to_string();
        self.spec.subscriber.default_namespace(&namespace);
        if let Some(delivery) = &mut self.spec.delivery {
            delivery.default_namespace(&namespace);
        }
    }

    /// Every Trigger rule: metadata, `spec.broker`, filters, subscriber, delivery, and the
    /// dependency and injection annotations.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        self.metadata.validate("metadata", &mut errs);
        if self.spec.broker.is_empty() {
            errs.missing("spec.broker");
        }
        if let Some(filter) = &self.spec.filter {
            filter.validate("spec.filter", &mut errs);
        }
        validate_filters(&self.spec.filters, "spec.filters", &mut errs);
        self.spec.subscriber.validate("spec.subscriber", &mut errs);
        if let Some(delivery) = &self.spec.delivery {
            delivery.validate("spec.delivery", &mut errs);
        }
        if let Some(value) = self.metadata.annotations.get(DEPENDENCY_ANNOTATION) {
            self.validate_dependency(value, &mut errs);
        }
        if let Some(value) = self.metadata.annotations.get(INJECTION_ANNOTATION) {
            self.validate_injection(value, &mut errs);
        }
        errs.into_result()
    }

    /// [`Trigger::validate`] plus immutability of `spec.broker`.
    pub fn validate_update(&self, old: &Trigger) -> Result<(), ValidationErrors> {
        let mut errs = self.validate().err().unwrap_or_default();
        if old.spec.broker != self.spec.broker {
            errs.push(
                "spec.broker",
                validation::immutable_changed(&old.spec.broker, &self.spec.broker),
            );
        }
        errs.into_result()
    }

    fn validate_dependency(&self, value: &str, errs: &mut ValidationErrors) {
        let path = validation::key("metadata.annotations", DEPENDENCY_ANNOTATION);
        let object = match serde_json::from_str::<serde_json::Value>(value) {
            Ok(serde_json::Value::Object(object)) => object,
            _ => {
                errs.push(
                    path,
                    format!("the provided annotation was not a corev1.ObjectReference: {value:?}"),
                );
                return;
            }
        };
        let text = |name: &str| object.get(name).and_then(|v| v.as_str()).unwrap_or("");
        for name in ["kind", "name", "apiVersion"] {
            if text(name).is_empty() {
                errs.missing(validation::field(&path, name));
            }
        }
        let namespace = text("namespace");
        let own = self.metadata.namespace_or_default();
        if !namespace.is_empty() && namespace != own {
            errs.push(
                validation::field(&path, "namespace"),
                format!("namespace must be empty or equal to the trigger namespace {own:?}"),
            );
        }
    }

    fn validate_injection(&self, value: &str, errs: &mut ValidationErrors) {
        let path = validation::key("metadata.annotations", INJECTION_ANNOTATION);
        if value != "enabled" && value != "disabled" {
            errs.push(
                path,
                format!(
                    "the provided injection annotation value can only be \"enabled\" or \"disabled\", not {value:?}"
                ),
            );
        } else if self.spec.broker != "default" {
            errs.push(
                path,
                format!(
                    "the provided injection annotation is only used for default broker, but non-default broker specified here: {:?}",
                    self.spec.broker
                ),
            );
        }
    }
}
