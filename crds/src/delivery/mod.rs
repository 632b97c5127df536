//! Delivery configuration: [`DeliverySpec`] (Knative `duck/v1` DeliverySpec plus Herald's
//! `backoffMax`), its enums, [`Destination`], and the resolution of the spec a dispatcher actually
//! uses ([`ResolvedDelivery`], see [`DeliverySpec::effective`]).

mod destination;
mod resolved;

pub use destination::{Destination, check_http_url};
pub use resolved::{
    DEFAULT_BACKOFF_DELAY, DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_POLICY, DEFAULT_RETRY,
    DEFAULT_RETRY_AFTER_MAX, DEFAULT_TIMEOUT, DeliverySource, ResolvedDelivery,
    UNSET_BACKOFF_DELAY, UNSET_RETRY,
};

use serde::{Deserialize, Serialize};

use crate::duration::IsoDuration;
use crate::validation::{self, ValidationErrors};

/// How the wait between retries grows. Unknown values are rejected when the manifest is read
/// (`unknown variant `x`, expected `linear` or `exponential``).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackoffPolicy {
    /// `backoffDelay × n`.
    Linear,
    /// `backoffDelay × 2^n`.
    Exponential,
}

/// CloudEvents HTTP encoding used towards the subscriber (`json` = structured, `binary`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryFormat {
    Json,
    Binary,
}

/// Knative's `delivery` block, on a Broker, a Trigger or a source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverySpec {
    /// Where events go after the last failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_sink: Option<Destination>,
    /// Number of retries after the first attempt (≥ 0); total attempts are `1 + retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_policy: Option<BackoffPolicy>,
    /// Base wait of the backoff policy (ISO-8601, ≥ 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_delay: Option<IsoDuration>,
    /// Cap on a single backoff wait (ISO-8601, ≥ 0). Herald extension, as in knative/eventing PR #9279.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_max: Option<IsoDuration>,
    /// Timeout of one attempt (ISO-8601, > 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<IsoDuration>,
    /// Cap on a `Retry-After` wait for 429/503 answers (ISO-8601, ≥ 0; `PT0S` ignores the header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_max: Option<IsoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DeliveryFormat>,
}

impl DeliverySpec {
    /// Fills `deadLetterSink.ref.namespace` with the holder's namespace when unset.
    pub fn default_namespace(&mut self, parent_namespace: &str) {
        if let Some(dls) = &mut self.dead_letter_sink {
            dls.default_namespace(parent_namespace);
        }
    }

    /// Checks `retry ≥ 0`, `timeout > 0` and the dead-letter sink. (Durations and enum values are
    /// already checked when the manifest is read.)
    pub fn validate(&self, path: &str, errs: &mut ValidationErrors) {
        if let Some(retry) = self.retry
            && retry < 0
        {
            errs.push(
                validation::field(path, "retry"),
                format!("invalid value {retry}: must be >= 0"),
            );
        }
        if let Some(timeout) = &self.timeout
            && timeout.is_zero()
        {
            errs.push(
                validation::field(path, "timeout"),
                format!(
                    "invalid value {:?}: must be greater than zero",
                    timeout.as_str()
                ),
            );
        }
        if let Some(dls) = &self.dead_letter_sink {
            dls.validate(&validation::field(path, "deadLetterSink"), errs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(spec: &DeliverySpec) -> ValidationErrors {
        let mut errs = ValidationErrors::new();
        spec.validate("spec.delivery", &mut errs);
        errs
    }

    #[test]
    fn retry_must_not_be_negative() {
        let spec = DeliverySpec {
            retry: Some(-1),
            ..DeliverySpec::default()
        };
        let e = errors(&spec);
        assert_eq!(e.0[0].field, "spec.delivery.retry");
        assert_eq!(e.0[0].message, "invalid value -1: must be >= 0");
        let ok = DeliverySpec {
            retry: Some(0),
            ..DeliverySpec::default()
        };
        assert!(errors(&ok).is_empty());
    }

    #[test]
    fn timeout_must_be_positive() {
        let spec = DeliverySpec {
            timeout: Some("PT0S".parse().unwrap()),
            backoff_delay: Some("PT0S".parse().unwrap()),
            retry_after_max: Some("PT0S".parse().unwrap()),
            backoff_max: Some("PT0S".parse().unwrap()),
            ..DeliverySpec::default()
        };
        let e = errors(&spec);
        assert_eq!(e.len(), 1, "{e}");
        assert_eq!(e.0[0].field, "spec.delivery.timeout");
        assert_eq!(
            e.0[0].message,
            "invalid value \"PT0S\": must be greater than zero"
        );
    }

    #[test]
    fn dead_letter_sink_is_validated() {
        let spec = DeliverySpec {
            dead_letter_sink: Some(Destination::from_uri("not a url")),
            ..DeliverySpec::default()
        };
        let e = errors(&spec);
        assert_eq!(e.0[0].field, "spec.delivery.deadLetterSink.uri");
    }

    #[test]
    fn serde_rejects_unknown_enum_values_listing_allowed_ones() {
        let e = serde_json::from_value::<DeliverySpec>(
            serde_json::json!({"backoffPolicy": "fibonacci"}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("expected `linear` or `exponential`"), "{e}");
        let e = serde_json::from_value::<DeliverySpec>(serde_json::json!({"format": "xml"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected `json` or `binary`"), "{e}");
        let e = serde_json::from_value::<DeliverySpec>(serde_json::json!({"timeout": "30s"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid ISO-8601 duration \"30s\""), "{e}");
    }
}
