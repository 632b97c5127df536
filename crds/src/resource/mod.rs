//! [`Resource`]: any Herald resource, with the entry points other crates use: decoding from JSON
//! (dispatching on `apiVersion` + `kind`), defaulting, validation, status conditions, and manifest
//! parsing ([`parse_manifests`]).

mod kind;
mod manifest;

pub use kind::Kind;
pub use manifest::{ManifestError, parse_manifests};

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::broker::Broker;
use crate::meta::{self, Condition, ObjectMeta};
use crate::sources::{KafkaSource, NatsSource, PingSource, RabbitmqSource};
use crate::trigger::Trigger;
use crate::validation::ValidationErrors;

/// Any resource Herald serves.
#[derive(Clone, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "resources are few and long-lived; unboxed variants keep matching and construction plain"
)]
pub enum Resource {
    Broker(Broker),
    Trigger(Trigger),
    PingSource(PingSource),
    KafkaSource(KafkaSource),
    RabbitmqSource(RabbitmqSource),
    NatsSource(NatsSource),
}

/// Identity of a resource: kind, namespace and name. `Display` is `kind/namespace/name` with the
/// plural kind (`triggers/default/t1`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind.plural(), self.namespace, self.name)
    }
}

/// Runs `$body` with `$r` bound to the inner value of whichever variant `$resource` is.
macro_rules! each {
    ($resource:expr, $r:ident => $body:expr) => {
        match $resource {
            Resource::Broker($r) => $body,
            Resource::Trigger($r) => $body,
            Resource::PingSource($r) => $body,
            Resource::KafkaSource($r) => $body,
            Resource::RabbitmqSource($r) => $body,
            Resource::NatsSource($r) => $body,
        }
    };
}

/// Runs `$body` with `$status` bound to the `Option<…Status>` of whichever variant it is.
macro_rules! each_status {
    ($resource:expr, $status:ident => $body:expr) => {
        match $resource {
            Resource::Broker(r) => {
                let $status = &mut r.status;
                $body
            }
            Resource::Trigger(r) => {
                let $status = &mut r.status;
                $body
            }
            Resource::PingSource(r) => {
                let $status = &mut r.status;
                $body
            }
            Resource::KafkaSource(r) => {
                let $status = &mut r.status;
                $body
            }
            Resource::RabbitmqSource(r) => {
                let $status = &mut r.status;
                $body
            }
            Resource::NatsSource(r) => {
                let $status = &mut r.status;
                $body
            }
        }
    };
}

impl Resource {
    /// The kind.
    pub fn kind(&self) -> Kind {
        match self {
            Resource::Broker(_) => Kind::Broker,
            Resource::Trigger(_) => Kind::Trigger,
            Resource::PingSource(_) => Kind::PingSource,
            Resource::KafkaSource(_) => Kind::KafkaSource,
            Resource::RabbitmqSource(_) => Kind::RabbitmqSource,
            Resource::NatsSource(_) => Kind::NatsSource,
        }
    }

    /// The apiVersion as the user wrote it.
    pub fn api_version(&self) -> &str {
        each!(self, r => &r.api_version)
    }

    pub fn metadata(&self) -> &ObjectMeta {
        each!(self, r => &r.metadata)
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each!(self, r => &mut r.metadata)
    }

    pub fn name(&self) -> &str {
        &self.metadata().name
    }

    /// The namespace, `default` when unset.
    pub fn namespace(&self) -> &str {
        self.metadata().namespace_or_default()
    }

    /// Kind, namespace and name.
    pub fn key(&self) -> ResourceKey {
        ResourceKey {
            kind: self.kind(),
            namespace: self.namespace().to_string(),
            name: self.name().to_string(),
        }
    }

    /// Decodes a resource, dispatching on `apiVersion` and `kind`. Unknown fields are ignored.
    pub fn from_json_value(value: serde_json::Value) -> Result<Resource, ManifestError> {
        manifest::decode(value)
    }

    /// The resource as JSON, with Knative's field names.
    pub fn to_json_value(&self) -> serde_json::Value {
        // Serialising these types cannot fail: every map key is a string.
        each!(self, r => serde_json::to_value(r).unwrap_or_default())
    }

    /// Applies Knative's defaults (and Herald's, documented on each kind's module); every kind
    /// gets namespace `default` when it has none.
    pub fn apply_defaults(&mut self) {
        each!(self, r => r.apply_defaults())
    }

    /// Checks every rule of the kind, reporting all problems.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        each!(self, r => r.validate())
    }

    /// [`Resource::validate`] plus the kind's immutable fields, compared with `old`. A change of
    /// kind is itself an error.
    pub fn validate_update(&self, old: &Resource) -> Result<(), ValidationErrors> {
        match (self, old) {
            (Resource::Broker(new), Resource::Broker(old)) => new.validate_update(old),
            (Resource::Trigger(new), Resource::Trigger(old)) => new.validate_update(old),
            (Resource::PingSource(new), Resource::PingSource(old)) => new.validate_update(old),
            (Resource::KafkaSource(new), Resource::KafkaSource(old)) => new.validate_update(old),
            (Resource::RabbitmqSource(new), Resource::RabbitmqSource(old)) => {
                new.validate_update(old)
            }
            (Resource::NatsSource(new), Resource::NatsSource(old)) => new.validate_update(old),
            _ => {
                let mut errs = self.validate().err().unwrap_or_default();
                errs.push(
                    "kind",
                    crate::validation::immutable_changed(&old.kind(), &self.kind()),
                );
                Err(errs)
            }
        }
    }

    /// Status conditions (empty when there is no status).
    pub fn conditions(&self) -> &[Condition] {
        each!(self, r => r.status.as_ref().map_or(&[][..], |s| s.conditions.as_slice()))
    }

    /// Status conditions, creating an empty status when there is none.
    pub fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        each_status!(self, status => &mut status.get_or_insert_with(Default::default).conditions)
    }

    /// Inserts or replaces a condition (see [`meta::set_condition`]).
    pub fn set_condition(&mut self, condition: Condition) {
        meta::set_condition(self.conditions_mut(), condition);
    }

    /// Sets `status.observedGeneration`, creating the status when there is none.
    pub fn set_observed_generation(&mut self, generation: i64) {
        each_status!(self, status => {
            status.get_or_insert_with(Default::default).observed_generation = Some(generation);
        })
    }

    /// Drops the status (e.g. before storing the user's desired state).
    pub fn clear_status(&mut self) {
        each_status!(self, status => *status = None)
    }

    /// True when the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        meta::is_ready(self.conditions())
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        each!(self, r => r.serialize(serializer))
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Resource::from_json_value(value).map_err(serde::de::Error::custom)
    }
}

macro_rules! impl_from {
    ($($variant:ident($ty:ty)),*) => {
        $(impl From<$ty> for Resource {
            fn from(r: $ty) -> Self {
                Resource::$variant(r)
            }
        })*
    };
}

impl_from!(
    Broker(Broker),
    Trigger(Trigger),
    PingSource(PingSource),
    KafkaSource(KafkaSource),
    RabbitmqSource(RabbitmqSource),
    NatsSource(NatsSource)
);
