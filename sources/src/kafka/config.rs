//! The librdkafka configuration of a KafkaSource's consumers: servers, group, start offset,
//! manual commits, bounded prefetch, and SASL/TLS from the resolved credentials.
//!
//! Security: `net.sasl.enable` selects SASL (`sasl.mechanisms` from `net.sasl.type`, default
//! `PLAIN`), `net.tls.enable` selects TLS (CA, client certificate and key passed as PEM text);
//! both together are `SASL_SSL`.

use std::path::Path;

use herald_crds::ResourceKey;
use herald_crds::sources::SecretValueFromSource;
use herald_crds::sources::kafka::{
    DEFAULT_SASL_MECHANISM, InitialOffset, KafkaNetSpec, KafkaSourceSpec, SASL_MECHANISMS,
};
use rdkafka::ClientConfig;

use crate::error::SourceError;
use crate::secret;

/// librdkafka's local queue is bounded to this many kilobytes per consumer (its default is 64 MB).
pub const QUEUED_MAX_KBYTES: &str = "16384";
/// … and filled up to this many messages (its default is 100 000).
pub const QUEUED_MIN_MESSAGES: &str = "1000";
/// Wait before fetching a partition again after librdkafka's queue reached its thresholds (its
/// default, 1 s, starves a partition whose records the source hands out faster than that).
pub const FETCH_QUEUE_BACKOFF_MS: &str = "50";
/// Group session timeout: how long the partitions of a consumer that died without leaving the
/// group stay unread (librdkafka's default is 45 s; Kafka brokers accept 6 s and more).
pub const SESSION_TIMEOUT_MS: &str = "10000";

/// The configuration shared by every consumer of the source.
pub(crate) fn client_config(
    spec: &KafkaSourceSpec,
    group: &str,
    key: &ResourceKey,
    secrets_dir: Option<&Path>,
) -> Result<ClientConfig, SourceError> {
    let servers: Vec<&str> = spec
        .bootstrap_servers
        .iter()
        .flat_map(|entry| entry.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers.join(","))
        .set("group.id", group)
        .set(
            "client.id",
            format!("herald-{}-{}", key.namespace, key.name),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match spec.initial_offset.unwrap_or(InitialOffset::Latest) {
                InitialOffset::Earliest => "earliest",
                InitialOffset::Latest => "latest",
            },
        )
        .set("queued.max.messages.kbytes", QUEUED_MAX_KBYTES)
        .set("queued.min.messages", QUEUED_MIN_MESSAGES)
        .set("session.timeout.ms", SESSION_TIMEOUT_MS)
        .set("heartbeat.interval.ms", "3000")
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    if let Some(net) = &spec.net {
        security(&mut config, net, key, secrets_dir)?;
    }
    Ok(config)
}

fn security(
    config: &mut ClientConfig,
    net: &KafkaNetSpec,
    key: &ResourceKey,
    secrets_dir: Option<&Path>,
) -> Result<(), SourceError> {
    let read = |value: &SecretValueFromSource, field: &str| {
        secret::resolve(value, secrets_dir)
            .map_err(|e| SourceError::config(key, field, e.to_string()))
    };
    let sasl = net.sasl.as_ref().filter(|s| s.enable);
    let tls = net.tls.as_ref().filter(|t| t.enable);
    let protocol = match (sasl.is_some(), tls.is_some()) {
        (false, false) => "plaintext",
        (false, true) => "ssl",
        (true, false) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    config.set("security.protocol", protocol);
    if let Some(sasl) = sasl {
        let mechanism = read(&sasl.type_, "spec.net.sasl.type")?
            .unwrap_or_else(|| DEFAULT_SASL_MECHANISM.to_owned());
        if !SASL_MECHANISMS.contains(&mechanism.as_str()) {
            return Err(SourceError::config(
                key,
                "spec.net.sasl.type",
                format!(
                    "unsupported SASL mechanism {mechanism:?}: expected one of {}",
                    SASL_MECHANISMS.join(", ")
                ),
            ));
        }
        let user = read(&sasl.user, "spec.net.sasl.user")?.ok_or_else(|| {
            SourceError::config(
                key,
                "spec.net.sasl.user",
                "SASL is enabled but no user is set",
            )
        })?;
        let password = read(&sasl.password, "spec.net.sasl.password")?.ok_or_else(|| {
            SourceError::config(
                key,
                "spec.net.sasl.password",
                "SASL is enabled but no password is set",
            )
        })?;
        config
            .set("sasl.mechanisms", mechanism)
            .set("sasl.username", user)
            .set("sasl.password", password);
    }
    if let Some(tls) = tls {
        for (secret, field, property) in [
            (&tls.ca_cert, "spec.net.tls.caCert", "ssl.ca.pem"),
            (&tls.cert, "spec.net.tls.cert", "ssl.certificate.pem"),
            (&tls.key, "spec.net.tls.key", "ssl.key.pem"),
        ] {
            if let Some(pem) = read(secret, field)? {
                config.set(property, pem);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use herald_crds::Kind;
    use herald_crds::sources::kafka::{KafkaSaslSpec, KafkaTlsSpec};

    use super::*;

    fn key() -> ResourceKey {
        ResourceKey {
            kind: Kind::KafkaSource,
            namespace: "ns".into(),
            name: "k".into(),
        }
    }

    fn spec(net: Option<KafkaNetSpec>) -> KafkaSourceSpec {
        KafkaSourceSpec {
            bootstrap_servers: vec!["a:9092, b:9092".into(), "c:9092".into()],
            topics: vec!["t".into()],
            initial_offset: Some(InitialOffset::Earliest),
            net,
            ..KafkaSourceSpec::default()
        }
    }

    #[test]
    fn plain_configuration() {
        let config = client_config(&spec(None), "g", &key(), None).unwrap();
        assert_eq!(
            config.get("bootstrap.servers"),
            Some("a:9092,b:9092,c:9092")
        );
        assert_eq!(config.get("group.id"), Some("g"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(config.get("security.protocol"), None);
    }

    #[test]
    fn sasl_and_tls() {
        let net = KafkaNetSpec {
            sasl: Some(KafkaSaslSpec {
                enable: true,
                user: SecretValueFromSource::from_value("u"),
                password: SecretValueFromSource::from_value("p"),
                type_: SecretValueFromSource::from_value("SCRAM-SHA-512"),
            }),
            tls: Some(KafkaTlsSpec {
                enable: true,
                ca_cert: SecretValueFromSource::from_value("PEM"),
                ..KafkaTlsSpec::default()
            }),
        };
        let config = client_config(&spec(Some(net)), "g", &key(), None).unwrap();
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("u"));
        assert_eq!(config.get("ssl.ca.pem"), Some("PEM"));
        assert_eq!(config.get("ssl.key.pem"), None);
    }

    #[test]
    fn bad_credentials_name_the_field() {
        let net = KafkaNetSpec {
            sasl: Some(KafkaSaslSpec {
                enable: true,
                user: SecretValueFromSource::from_value("u"),
                password: SecretValueFromSource::default(),
                type_: SecretValueFromSource::from_value("GSSAPI"),
            }),
            tls: None,
        };
        let err = client_config(&spec(Some(net)), "g", &key(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("spec.net.sasl.type"), "{err}");
        assert!(err.contains("GSSAPI"), "{err}");
    }
}
