//! [`KafkaSource`]: consumes Kafka topics and emits their records as events
//! (`sources.knative.dev/v1beta1` and `v1`, or `sources.herald.dev/v1`).
//!
//! Defaults: `consumerGroup` → `knative-kafka-source-{namespace}-{name}` (Knative uses a random
//! UUID; Herald re-reads manifests from disk on every start, so the group must be stable or every
//! restart would re-consume from `initialOffset`); `initialOffset` → `latest`; `ordering` → `ordered`;
//! `consumers` → 1. A SASL mechanism (`net.sasl.type`) left unset means [`DEFAULT_SASL_MECHANISM`].
//! `consumerGroup` is immutable.

use serde::{Deserialize, Serialize};

use super::common::{CloudEventOverrides, Source, SourceSpec};
use super::secret::{SecretSource, SecretValueFromSource};
use crate::delivery::{DeliverySpec, Destination};
use crate::meta::ObjectMeta;
use crate::resource::Kind;
use crate::validation::{self, ValidationErrors};

/// A KafkaSource resource.
pub type KafkaSource = Source<KafkaSourceSpec>;

/// SASL mechanisms Herald supports in `net.sasl.type`.
pub const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
/// SASL mechanism used when `net.sasl.type` is unset.
pub const DEFAULT_SASL_MECHANISM: &str = "PLAIN";
/// Consumer count when `consumers` is unset.
pub const DEFAULT_CONSUMERS: i32 = 1;

/// `spec` of a KafkaSource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSourceSpec {
    /// `host:port` entries; an entry may itself be a comma-separated list (as in Knative).
    #[serde(default)]
    pub bootstrap_servers: Vec<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_offset: Option<InitialOffset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<DeliveryOrdering>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<KafkaNetSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
    #[serde(default)]
    pub sink: Destination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// Where a new consumer group starts reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialOffset {
    Earliest,
    Latest,
}

/// Whether events of one partition are delivered one at a time, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOrdering {
    Ordered,
    Unordered,
}

/// `net`: SASL and TLS settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaNetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<KafkaSaslSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<KafkaTlsSpec>,
}

/// `net.sasl`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSaslSpec {
    #[serde(default)]
    pub enable: bool,
    #[serde(default, skip_serializing_if = "SecretValueFromSource::is_empty")]
    pub user: SecretValueFromSource,
    #[serde(default, skip_serializing_if = "SecretValueFromSource::is_empty")]
    pub password: SecretValueFromSource,
    /// Mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (a secret value, as in Knative).
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "SecretValueFromSource::is_empty"
    )]
    pub type_: SecretValueFromSource,
}

/// `net.tls`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTlsSpec {
    #[serde(default)]
    pub enable: bool,
    /// Client certificate (PEM), for mutual TLS.
    #[serde(default, skip_serializing_if = "SecretValueFromSource::is_empty")]
    pub cert: SecretValueFromSource,
    /// Client key (PEM), for mutual TLS.
    #[serde(default, skip_serializing_if = "SecretValueFromSource::is_empty")]
    pub key: SecretValueFromSource,
    /// CA certificates (PEM) to trust.
    #[serde(default, skip_serializing_if = "SecretValueFromSource::is_empty")]
    pub ca_cert: SecretValueFromSource,
}

/// Herald's stable default consumer group for a KafkaSource.
pub fn default_consumer_group(namespace: &str, name: &str) -> String {
    format!("knative-kafka-source-{namespace}-{name}")
}

impl KafkaSourceSpec {
    /// `consumerGroup`, or the default for this namespace and name.
    pub fn consumer_group_or_default(&self, metadata: &ObjectMeta) -> String {
        self.consumer_group
            .clone()
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| {
                default_consumer_group(metadata.namespace_or_default(), &metadata.name)
            })
    }

    fn validate_net(net: &KafkaNetSpec, errs: &mut ValidationErrors) {
        if let Some(sasl) = &net.sasl {
            let path = "spec.net.sasl";
            sasl.user
                .validate(&validation::field(path, "user"), sasl.enable, errs);
            sasl.password
                .validate(&validation::field(path, "password"), sasl.enable, errs);
            sasl.type_
                .validate(&validation::field(path, "type"), false, errs);
            if let Some(SecretSource::Value(mechanism)) = sasl.type_.source()
                && !SASL_MECHANISMS.contains(&mechanism)
            {
                errs.push(
                    "spec.net.sasl.type.value",
                    format!(
                        "invalid value {mechanism:?}: expected one of {}",
                        SASL_MECHANISMS.join(", ")
                    ),
                );
            }
        }
        if let Some(tls) = &net.tls {
            let path = "spec.net.tls";
            for (name, secret) in [
                ("cert", &tls.cert),
                ("key", &tls.key),
                ("caCert", &tls.ca_cert),
            ] {
                secret.validate(&validation::field(path, name), false, errs);
            }
            if tls.cert.is_empty() != tls.key.is_empty() {
                errs.push(path, "cert and key must be set together (mutual TLS)");
            }
        }
    }
}

/// Checks a list of non-empty, whitespace-free entries that must not be empty itself.
fn validate_list(list: &[String], path: &str, errs: &mut ValidationErrors) {
    if list.is_empty() {
        errs.missing(path);
    }
    for (i, entry) in list.iter().enumerate() {
        if entry.trim().is_empty() {
            errs.push(validation::index(path, i), "must not be empty");
        } else if entry.trim().contains(char::is_whitespace) {
            errs.push(
                validation::index(path, i),
                format!("invalid value {entry:?}: must not contain whitespace"),
            );
        }
    }
}

impl SourceSpec for KafkaSourceSpec {
    const KIND: Kind = Kind::KafkaSource;

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
        self.consumer_group = Some(self.consumer_group_or_default(metadata));
        self.initial_offset.get_or_insert(InitialOffset::Latest);
        self.ordering.get_or_insert(DeliveryOrdering::Ordered);
        self.consumers.get_or_insert(DEFAULT_CONSUMERS);
        if let Some(delivery) = &mut self.delivery {
            delivery.default_namespace(metadata.namespace_or_default());
        }
    }

    fn validate(&self, errs: &mut ValidationErrors) {
        validate_list(&self.bootstrap_servers, "spec.bootstrapServers", errs);
        validate_list(&self.topics, "spec.topics", errs);
        if let Some(consumers) = self.consumers
            && consumers < 1
        {
            errs.push(
                "spec.consumers",
                format!("invalid value {consumers}: must be >= 1"),
            );
        }
        if let Some(net) = &self.net {
            Self::validate_net(net, errs);
        }
        if let Some(delivery) = &self.delivery {
            delivery.validate("spec.delivery", errs);
        }
    }

    fn validate_update(&self, old: &Self, metadata: &ObjectMeta, errs: &mut ValidationErrors) {
        let (old_group, new_group) = (
            old.consumer_group_or_default(metadata),
            self.consumer_group_or_default(metadata),
        );
        if old_group != new_group {
            errs.push(
                "spec.consumerGroup",
                validation::immutable_changed(&old_group, &new_group),
            );
        }
    }
}
