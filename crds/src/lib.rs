//! Herald's resource model: Brokers, Triggers and sources with Knative's field names, so Knative
//! manifests load unchanged; their defaults and validation (messages modelled on Knative's
//! webhook); delivery resolution; and multi-document manifest loading.
//!
//! Entry points: [`parse_manifests`] and [`Resource::from_json_value`] to load,
//! [`Resource::apply_defaults`], [`Resource::validate`] and [`Resource::validate_update`] to admit,
//! and [`DeliverySpec::effective`](delivery::DeliverySpec::effective) to resolve delivery. Every
//! default is documented on the module of its kind ([`broker`], [`trigger`], [`delivery`],
//! [`sources::ping`], [`sources::kafka`], [`sources::rabbitmq`], [`sources::nats`]).
//!
//! # Defaults at a glance
//!
//! | resource | field | default |
//! |---|---|---|
//! | every kind | `metadata.namespace` | `default` |
//! | every kind | `….ref.namespace` (subscriber, sink, dead-letter sink) | the resource's namespace |
//! | Broker | annotation `eventing.knative.dev/broker.class` | `MTChannelBasedBroker` (every class behaves the same in Herald) |
//! | Broker | `spec.delivery` | not filled in; resolved at run time, see below |
//! | Trigger | label `eventing.knative.dev/broker` | `spec.broker` |
//! | delivery, neither Trigger nor Broker sets one | `retry`, `backoffPolicy`, `backoffDelay` | 10, `exponential`, `PT0.2S` (Knative's stock broker default) |
//! | delivery, field left out of the chosen spec | `retry`, `backoffPolicy`, `backoffDelay` | 0, `exponential`, `PT0S` (Knative's meaning) |
//! | delivery, always | `timeout`, `backoffMax`, `retryAfterMax` | `PT30S`, `PT5M`, `PT5M` (Herald safety defaults) |
//! | PingSource | `schedule`; time zone | `* * * * *`; UTC |
//! | KafkaSource | `consumerGroup` | `knative-kafka-source-{namespace}-{name}` (stable, unlike Knative's random UUID) |
//! | KafkaSource | `initialOffset`, `ordering`, `consumers`, SASL `type` | `latest`, `ordered`, 1, `PLAIN` |
//! | RabbitmqSource | `parallelism`, `routingKey`, `predeclared` | 1, `#`, false |
//! | NatsSource | `jetstream.deliverPolicy`, `jetstream.durableName` | `all`, `herald-{namespace}-{name}` |
//!
//! A Trigger's `delivery` replaces the Broker's whole (no field merge).
//!
//! Unknown fields are accepted and ignored, like Knative's `x-kubernetes-preserve-unknown-fields`.
//! The apiVersion the user wrote is kept.

pub mod broker;
pub mod delivery;
pub mod duration;
pub mod filter;
pub mod meta;
pub mod resource;
pub mod sources;
pub mod trigger;
pub mod validation;

pub use broker::Broker;
pub use delivery::{DeliverySpec, Destination, ResolvedDelivery};
pub use duration::IsoDuration;
pub use meta::{Condition, ConditionStatus, KReference, ObjectMeta};
pub use resource::{Kind, ManifestError, Resource, ResourceKey, parse_manifests};
pub use sources::{KafkaSource, NatsSource, PingSource, RabbitmqSource};
pub use trigger::Trigger;
pub use validation::{ValidationError, ValidationErrors};
