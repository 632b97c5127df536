//! [`RabbitmqSource`]: consumes a RabbitMQ queue and emits its messages as events
//! (`sources.knative.dev/v1alpha1` in eventing-rabbitmq's shape, or `sources.herald.dev/v1`).
//!
//! Connection: Herald has no RabbitMQ operator, so it needs either `spec.url` (Herald extension:
//! `amqp://user:pass@host:port/vhost` or `amqps://…`) or
//! `spec.rabbitmqClusterReference.connectionSecret` (a Secret with the connection `uri`, as in
//! eventing-rabbitmq); exactly one of the two.
//!
//! Defaults: `rabbitmqResourcesConfig.parallelism` → 1; `routingKey` (the binding key, Herald
//! extension) → `#` (everything); `predeclared` → false (Herald declares the queue and binds it to
//! `exchangeName`); `rabbitmqClusterReference.namespace` → the source's namespace.

use serde::{Deserialize, Serialize};

use super::common::{CloudEventOverrides, Source, SourceSpec};
use crate::delivery::{DeliverySpec, Destination};
use crate::meta::ObjectMeta;
use crate::resource::Kind;
use crate::validation::{self, ValidationErrors};

/// A RabbitmqSource resource.
pub type RabbitmqSource = Source<RabbitmqSourceSpec>;

/// Worker count and prefetch when `parallelism` is unset.
pub const DEFAULT_PARALLELISM: i32 = 1;
/// Largest allowed `parallelism`.
pub const MAX_PARALLELISM: i32 = 1000;
/// Binding key when `routingKey` is unset: every message.
pub const DEFAULT_ROUTING_KEY: &str = "#";

/// `spec` of a RabbitmqSource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqSourceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq_cluster_reference: Option<RabbitmqClusterReference>,
    /// Herald: AMQP URL with credentials and vhost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub rabbitmq_resources_config: RabbitmqResourcesConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
    #[serde(default)]
    pub sink: Destination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// `rabbitmqClusterReference`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqClusterReference {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<ConnectionSecret>,
}

/// A Secret holding the connection `uri` (and optionally `username`/`password`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionSecret {
    #[serde(default)]
    pub name: String,
}

/// `rabbitmqResourcesConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqResourcesConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    /// Queue to consume (required).
    #[serde(default)]
    pub queue_name: String,
    /// Exchange the queue is bound to (when not `predeclared`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_name: Option<String>,
    /// Herald: binding key of the queue to the exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Concurrent deliveries (and prefetch), 1..=1000; 1 keeps order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// The queue (and its bindings) already exist; Herald only consumes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub predeclared: bool,
}

/// Checks an `amqp://`/`amqps://` URL without echoing it (it may hold a password).
fn check_amqp_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid AMQP URL: {e}"))?;
    if !matches!(parsed.scheme(), "amqp" | "amqps") {
        return Err(format!(
            "invalid AMQP URL: scheme must be amqp or amqps, not {:?}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("invalid AMQP URL: no host".to_string());
    }
    Ok(())
}

impl SourceSpec for RabbitmqSourceSpec {
    const KIND: Kind = Kind::RabbitmqSource;

    fn sink(&self) -> &Destination {
        &self.sink
    }

    fn sink_mut(&mut self) -> &mut Destination {
        &mut self.sink
    }

    fn ce_overrides(&self) -> Option<&CloudEventOverrides> {
        self.ce_overrides.as_ref()
    }

    fn apply_defaults(&mut self, metadata: &ObjectMeta) {
        let namespace = metadata.namespace_or_default();
        let config = &mut self.rabbitmq_resources_config;
        config.parallelism.get_or_insert(DEFAULT_PARALLELISM);
        config
            .routing_key
            .get_or_insert_with(|| DEFAULT_ROUTING_KEY.to_string());
        if let Some(reference) = &mut self.rabbitmq_cluster_reference
            && reference.namespace.as_deref().is_none_or(str::is_empty)
        {
            reference.namespace = Some(namespace.to_string());
        }
        if let Some(delivery) = &mut self.delivery {
            delivery.default_namespace(namespace);
        }
    }

    fn validate(&self, errs: &mut ValidationErrors) {
        let url = self.url.as_deref().filter(|u| !u.is_empty());
        let secret = self
            .rabbitmq_cluster_reference
            .as_ref()
            .and_then(|r| r.connection_secret.as_ref());
        match (url, secret) {
            (None, None) => errs.push(
                "spec",
                "expected exactly one of url, rabbitmqClusterReference.connectionSecret; got neither",
            ),
            (Some(_), Some(_)) => errs.push(
                "spec",
                "expected exactly one of url, rabbitmqClusterReference.connectionSecret; got both",
            ),
            _ => {}
        }
        if let Some(url) = url
            && let Err(message) = check_amqp_url(url)
        {
            errs.push("spec.url", message);
        }
        if let Some(secret) = secret
            && secret.name.is_empty()
        {
            errs.missing("spec.rabbitmqClusterReference.connectionSecret.name");
        }
        let config = &self.rabbitmq_resources_config;
        let path = "spec.rabbitmqResourcesConfig";
        if config.queue_name.is_empty() {
            errs.missing(validation::field(path, "queueName"));
        }
        if let Some(p) = config.parallelism
            && !(1..=MAX_PARALLELISM).contains(&p)
        {
            errs.push(
                validation::field(path, "parallelism"),
                format!("invalid value {p}: must be between 1 and {MAX_PARALLELISM}"),
            );
        }
        if let Some(delivery) = &self.delivery {
            delivery.validate("spec.delivery", errs);
        }
    }
}
