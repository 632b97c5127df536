//! [`Kind`]: the resource kinds Herald serves, their names (singular, plural, short) and the
//! apiVersions each accepts.
//!
//! | kind | Herald apiVersion | Knative apiVersions accepted unchanged | short name |
//! |---|---|---|---|
//! | Broker | `eventing.herald.dev/v1` | `eventing.knative.dev/v1` | `br` |
//! | Trigger | `eventing.herald.dev/v1` | `eventing.knative.dev/v1` | `tr` |
//! | PingSource | `sources.herald.dev/v1` | `sources.knative.dev/v1`, `sources.knative.dev/v1beta2` | `ping` |
//! | KafkaSource | `sources.herald.dev/v1` | `sources.knative.dev/v1`, `sources.knative.dev/v1beta1` | `kafka` |
//! | RabbitmqSource | `sources.herald.dev/v1` | `sources.knative.dev/v1alpha1` | `rabbitmq` |
//! | NatsSource | `sources.herald.dev/v1` | none (Herald only) | `nats` |

use std::fmt;

/// A resource kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Broker,
    Trigger,
    PingSource,
    KafkaSource,
    RabbitmqSource,
    NatsSource,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 6] = [
        Kind::Broker,
        Kind::Trigger,
        Kind::PingSource,
        Kind::KafkaSource,
        Kind::RabbitmqSource,
        Kind::NatsSource,
    ];

    /// The `kind` field value: `Broker`, `PingSource`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Broker => "Broker",
            Kind::Trigger => "Trigger",
            Kind::PingSource => "PingSource",
            Kind::KafkaSource => "KafkaSource",
            Kind::RabbitmqSource => "RabbitmqSource",
            Kind::NatsSource => "NatsSource",
        }
    }

    /// Lowercase singular: `broker`, `pingsource`, …
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Broker => "broker",
            Kind::Trigger => "trigger",
            Kind::PingSource => "pingsource",
            Kind::KafkaSource => "kafkasource",
            Kind::RabbitmqSource => "rabbitmqsource",
            Kind::NatsSource => "natssource",
        }
    }

    /// Lowercase plural, as in API paths: `brokers`, `pingsources`, …
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Broker => "brokers",
            Kind::Trigger => "triggers",
            Kind::PingSource => "pingsources",
            Kind::KafkaSource => "kafkasources",
            Kind::RabbitmqSource => "rabbitmqsources",
            Kind::NatsSource => "natssources",
        }
    }

    /// Short name for CLIs.
    pub fn short_name(self) -> &'static str {
        match self {
            Kind::Broker => "br",
            Kind::Trigger => "tr",
            Kind::PingSource => "ping",
            Kind::KafkaSource => "kafka",
            Kind::RabbitmqSource => "rabbitmq",
            Kind::NatsSource => "nats",
        }
    }

    /// True for the source kinds.
    pub fn is_source(self) -> bool {
        !matches!(self, Kind::Broker | Kind::Trigger)
    }

    /// Herald's own apiVersion for this kind.
    pub fn herald_api_version(self) -> &'static str {
        self.api_versions()[0]
    }

    /// Every accepted apiVersion, Herald's first.
    pub fn api_versions(self) -> &'static [&'static str] {
        match self {
            Kind::Broker | Kind::Trigger => &["eventing.herald.dev/v1", "eventing.knative.dev/v1"],
            Kind::PingSource => &[
                "sources.herald.dev/v1",
                "sources.knative.dev/v1",
                "sources.knative.dev/v1beta2",
            ],
            Kind::KafkaSource => &[
                "sources.herald.dev/v1",
                "sources.knative.dev/v1",
                "sources.knative.dev/v1beta1",
            ],
            Kind::RabbitmqSource => &["sources.herald.dev/v1", "sources.knative.dev/v1alpha1"],
            Kind::NatsSource => &["sources.herald.dev/v1"],
        }
    }

    /// True when `api_version` is accepted for this kind.
    pub fn accepts_api_version(self, api_version: &str) -> bool {
        self.api_versions().contains(&api_version)
    }

    /// The kind whose `kind` field is exactly `kind` (case-sensitive, as in Kubernetes).
    pub fn from_kind_field(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// Resolves what a user types: `Broker`, `broker`, `brokers`, `br`, `PingSources`, and the same
    /// with an API group suffix (`brokers.eventing.knative.dev`, `pingsource.sources.herald.dev`).
    pub fn from_name(name: &str) -> Option<Kind> {
        let lower = name.trim().to_ascii_lowercase();
        let (resource, group) = match lower.split_once('.') {
            Some((resource, group)) => (resource, Some(group)),
            None => (lower.as_str(), None),
        };
        let kind = Kind::ALL.into_iter().find(|k| {
            resource == k.singular() || resource == k.plural() || resource == k.short_name()
        })?;
        match group {
            None => Some(kind),
            Some(group) => kind
                .api_versions()
                .iter()
                .any(|v| v.split('/').next() == Some(group))
                .then_some(kind),
        }
    }

    /// `Kind (apiVersion, …)` for every kind, for error messages.
    pub fn supported_list() -> String {
        Kind::ALL
            .iter()
            .map(|k| format!("{} ({})", k.as_str(), k.api_versions().join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.as_str()), Some(k));
            assert_eq!(Kind::from_name(k.singular()), Some(k));
            assert_eq!(Kind::from_name(k.plural()), Some(k));
            assert_eq!(Kind::from_name(k.short_name()), Some(k));
            assert_eq!(Kind::from_kind_field(k.as_str()), Some(k));
            assert!(k.accepts_api_version(k.herald_api_version()));
        }
        assert_eq!(Kind::from_name("PingSources"), Some(Kind::PingSource));
        assert_eq!(
            Kind::from_name("brokers.eventing.knative.dev"),
            Some(Kind::Broker)
        );
        assert_eq!(
            Kind::from_name("triggers.eventing.herald.dev"),
            Some(Kind::Trigger)
        );
        assert_eq!(Kind::from_name("natssources.sources.knative.dev"), None);
        assert_eq!(Kind::from_name("brokers.sources.knative.dev"), None);
        assert_eq!(Kind::from_name("channel"), None);
        assert_eq!(Kind::from_kind_field("broker"), None);
        assert_eq!(Kind::PingSource.plural(), "pingsources");
        assert!(Kind::NatsSource.is_source() && !Kind::Trigger.is_source());
    }
}
