//! [`NatsSource`] (Herald only, `sources.herald.dev/v1`): subscribes to a NATS subject, core or
//! JetStream, and emits its messages as events.
//!
//! Defaults: with `jetstream`, `deliverPolicy` → `all` and `durableName` →
//! `herald-{namespace}-{name}` (dots replaced by `_`), so a restart resumes where it stopped
//! instead of re-reading the stream. Server URLs use `nats://` (or `tls://` for TLS).

use serde::{Deserialize, Serialize};

use super::common::{CloudEventOverrides, Source, SourceSpec};
use super::secret::SecretValueFromSource;
use crate::delivery::{DeliverySpec, Destination};
use crate::duration::IsoDuration;
use crate::meta::ObjectMeta;
use crate::resource::Kind;
use crate::validation::{self, ValidationErrors};

/// A NatsSource resource.
pub type NatsSource = Source<NatsSourceSpec>;

/// `spec` of a NatsSource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NatsSourceSpec {
    /// `nats://host:port` URLs (at least one).
    #[serde(default)]
    pub servers: Vec<String>,
    /// Subject to subscribe to; `*` and a final `>` wildcard are allowed.
    #[serde(default)]
    pub subject: String,
    /// Queue group, so several Herald instances share the messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jetstream: Option<NatsJetStreamSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<NatsCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
    #[serde(default)]
    pub sink: Destination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// `jetstream`: consume through a JetStream consumer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NatsJetStreamSpec {
    /// Stream name (required).
    #[serde(default)]
    pub stream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durable_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_policy: Option<NatsDeliverPolicy>,
    /// RFC 3339 start time; required by (and only valid with) `byStartTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<String>,
    /// How long the server waits for an ack before redelivering (> 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_wait: Option<IsoDuration>,
    /// Delivery attempts per message: ≥ 1, or -1 for unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deliver: Option<i64>,
}

/// Where a new JetStream consumer starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NatsDeliverPolicy {
    All,
    New,
    Last,
    ByStartTime,
}

/// `credentials`: one of a creds file, user and password, or a token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NatsCredentials {
    /// Path of a `.creds` file (JWT and NKey seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creds_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "SecretValueFromSource::is_empty")]
    pub password: SecretValueFromSource,
    #[serde(default, skip_serializing_if = "SecretValueFromSource::is_empty")]
    pub token: SecretValueFromSource,
}

/// Herald's default durable consumer name for a NatsSource.
pub fn default_durable_name(namespace: &str, name: &str) -> String {
    format!("herald-{namespace}-{name}").replace('.', "_")
}

/// Checks a subject: dot-separated non-empty tokens, no whitespace, `>` only as the last token.
fn check_subject(subject: &str) -> Result<(), String> {
    if subject.contains(char::is_whitespace) {
        return Err(format!(
            "invalid subject {subject:?}: must not contain whitespace"
        ));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(format!("invalid subject {subject:?}: empty token"));
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Err(format!(
                "invalid subject {subject:?}: '>' is only allowed as the last token"
            ));
        }
        if token.len() > 1 && token.contains(['*', '>']) {
            return Err(format!(
                "invalid subject {subject:?}: wildcards must be whole tokens"
            ));
        }
    }
    Ok(())
}

/// Checks a stream or durable name: non-empty, no whitespace, `.`, `*` or `>`.
fn check_name(value: &str, path: String, errs: &mut ValidationErrors) {
    if value.is_empty() {
        errs.push(path, "must not be empty");
    } else if value.contains(|c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>')) {
        errs.push(
            path,
            format!("invalid value {value:?}: must not contain whitespace, '.', '*' or '>'"),
        );
    }
}

impl NatsSourceSpec {
    fn validate_jetstream(js: &NatsJetStreamSpec, errs: &mut ValidationErrors) {
        let path = "spec.jetstream";
        if js.stream.is_empty() {
            errs.missing(validation::field(path, "stream"));
        } else {
            check_name(&js.stream, validation::field(path, "stream"), errs);
        }
        if let Some(durable) = &js.durable_name {
            check_name(durable, validation::field(path, "durableName"), errs);
        }
        let by_start_time = js.deliver_policy == Some(NatsDeliverPolicy::ByStartTime);
        match &js.opt_start_time {
            None if by_start_time => {
                errs.missing(validation::field(path, "optStartTime"));
            }
            Some(_) if !by_start_time => errs.push(
                validation::field(path, "optStartTime"),
                "only valid with deliverPolicy byStartTime",
            ),
            Some(time) => {
                if let Err(e) = chrono::DateTime::parse_from_rfc3339(time) {
                    errs.push(
                        validation::field(path, "optStartTime"),
                        format!("invalid value {time:?}: not an RFC 3339 time: {e}"),
                    );
                }
            }
            None => {}
        }
        if let Some(ack_wait) = &js.ack_wait
            && ack_wait.is_zero()
        {
            errs.push(
                validation::field(path, "ackWait"),
                format!(
                    "invalid value {:?}: must be greater than zero",
                    ack_wait.as_str()
                ),
            );
        }
        if let Some(max) = js.max_deliver
            && max != -1
            && max < 1
        {
            errs.push(
                validation::field(path, "maxDeliver"),
                format!("invalid value {max}: must be >= 1, or -1 for unlimited"),
            );
        }
    }

    fn validate_credentials(creds: &NatsCredentials, errs: &mut ValidationErrors) {
        let path = "spec.credentials";
        let mut methods = Vec::new();
        if let Some(file) = &creds.creds_file {
            methods.push("credsFile");
            if file.is_empty() {
                errs.push(validation::field(path, "credsFile"), "must not be empty");
            }
        }
        let user = creds.user.as_deref().is_some_and(|u| !u.is_empty());
        if user || !creds.password.is_empty() {
            methods.push("user/password");
            if !user {
                errs.missing(validation::field(path, "user"));
            }
        }
        creds
            .password
            .validate(&validation::field(path, "password"), user, errs);
        if !creds.token.is_empty() {
            methods.push("token");
        }
        creds
            .token
            .validate(&validation::field(path, "token"), false, errs);
        if methods.len() > 1 {
            errs.push(
                path,
                format!(
                    "expected at most one of credsFile, user/password, token; got {}",
                    methods.join(", ")
                ),
            );
        }
    }
}

impl SourceSpec for NatsSourceSpec {
    const KIND: Kind = Kind::NatsSource;

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
        if let Some(js) = &mut self.jetstream {
            js.deliver_policy.get_or_insert(NatsDeliverPolicy::All);
            if js.durable_name.as_deref().is_none_or(str::is_empty) {
                js.durable_name = Some(default_durable_name(namespace, &metadata.name));
            }
        }
        if let Some(delivery) = &mut self.delivery {
            delivery.default_namespace(namespace);
        }
    }

    fn validate(&self, errs: &mut ValidationErrors) {
        if self.servers.is_empty() {
            errs.missing("spec.servers");
        }
        for (i, server) in self.servers.iter().enumerate() {
            let problem = match url::Url::parse(server) {
                Err(e) => Some(format!("invalid value {server:?}: {e}")),
                Ok(u) if !matches!(u.scheme(), "nats" | "tls") => Some(format!(
                    "invalid value {server:?}: scheme must be nats or tls"
                )),
                Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                    Some(format!("invalid value {server:?}: URL has no host"))
                }
                Ok(_) => None,
            };
            if let Some(message) = problem {
                errs.push(validation::index("spec.servers", i), message);
            }
        }
        if self.subject.is_empty() {
            errs.missing("spec.subject");
        } else if let Err(message) = check_subject(&self.subject) {
            errs.push("spec.subject", message);
        }
        if let Some(group) = &self.queue_group {
            if group.is_empty() {
                errs.push("spec.queueGroup", "must not be empty");
            } else if group.contains(char::is_whitespace) {
                errs.push(
                    "spec.queueGroup",
                    format!("invalid value {group:?}: must not contain whitespace"),
                );
            }
        }
        if let Some(js) = &self.jetstream {
            Self::validate_jetstream(js, errs);
        }
        if let Some(creds) = &self.credentials {
            Self::validate_credentials(creds, errs);
        }
        if let Some(delivery) = &self.delivery {
            delivery.validate("spec.delivery", errs);
        }
    }
}
