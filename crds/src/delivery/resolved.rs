//! [`ResolvedDelivery`]: the delivery settings a dispatcher uses, and Herald's delivery defaults.
//!
//! Resolution ([`DeliverySpec::effective`]):
//!
//! 1. **Replace, never merge.** If the Trigger has a `delivery`, it is used whole and the Broker's is
//!    ignored, even for fields the Trigger leaves out (Knative: `pkg/reconciler/broker/trigger`).
//!    Otherwise the Broker's `delivery` is used whole.
//! 2. **Stock default when neither has one:** Knative's stock `config-br-defaults` broker delivery,
//!    [`DEFAULT_RETRY`] = 10 retries, [`DEFAULT_BACKOFF_POLICY`] = exponential,
//!    [`DEFAULT_BACKOFF_DELAY`] = `PT0.2S`, and no dead-letter sink.
//! 3. **Fields the chosen spec leaves out** get Knative's meaning: `retry` → [`UNSET_RETRY`] (0, no
//!    retries), `backoffPolicy` → exponential, `backoffDelay` → [`UNSET_BACKOFF_DELAY`] (0, retry at
//!    once), `format` → `None` (keep the event's incoming encoding), no dead-letter sink.
//! 4. **Herald's safety defaults**, applied whatever the source (Knative has none of them):
//!    per-attempt `timeout` → [`DEFAULT_TIMEOUT`] = `PT30S` (Knative waits forever),
//!    `backoffMax` → [`DEFAULT_BACKOFF_MAX`] = `PT5M` (Knative does not cap backoff),
//!    `retryAfterMax` → [`DEFAULT_RETRY_AFTER_MAX`] = `PT5M` (Herald honours `Retry-After` on 429/503 by
//!    default; Knative only with the alpha `delivery-retryafter` flag). `retryAfterMax: PT0S`
//!    turns `Retry-After` handling off.

use std::time::Duration;

use super::{BackoffPolicy, DeliveryFormat, DeliverySpec, Destination};

/// Retries when neither the Trigger nor the Broker has a `delivery` (Knative's stock broker default).
pub const DEFAULT_RETRY: u32 = 10;
/// Backoff policy when neither has a `delivery`, and when the chosen spec leaves it out.
pub const DEFAULT_BACKOFF_POLICY: BackoffPolicy = BackoffPolicy::Exponential;
/// Backoff delay when neither has a `delivery` (`PT0.2S`, Knative's stock broker default).
pub const DEFAULT_BACKOFF_DELAY: Duration = Duration::from_millis(200);
/// Per-attempt timeout when the chosen spec has no `timeout` (`PT30S`; Knative has no timeout).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Cap on one backoff wait when the chosen spec has no `backoffMax` (`PT5M`).
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Cap on a `Retry-After` wait when the chosen spec has no `retryAfterMax` (`PT5M`).
pub const DEFAULT_RETRY_AFTER_MAX: Duration = Duration::from_secs(300);
/// Retries when the chosen spec leaves `retry` out (Knative: no retries).
pub const UNSET_RETRY: u32 = 0;
/// Backoff delay when the chosen spec leaves `backoffDelay` out (Knative: no wait).
pub const UNSET_BACKOFF_DELAY: Duration = Duration::ZERO;

/// Which spec a [`ResolvedDelivery`] was built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliverySource {
    /// The resource's own `delivery` (the Trigger's, or a source's).
    Own,
    /// The fallback `delivery` (the Broker's).
    Fallback,
    /// Neither had one: Knative's stock broker default.
    StockDefault,
}

/// Delivery settings with every default applied, in plain `std` types.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedDelivery {
    pub source: DeliverySource,
    pub dead_letter_sink: Option<Destination>,
    /// Retries after the first attempt.
    pub retry: u32,
    pub backoff_policy: BackoffPolicy,
    pub backoff_delay: Duration,
    pub backoff_max: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Cap on a `Retry-After` wait; zero means the header is ignored.
    pub retry_after_max: Duration,
    /// `None`: keep the encoding the event arrived in.
    pub format: Option<DeliveryFormat>,
}

impl DeliverySpec {
    /// The delivery a Trigger's dispatcher uses: `trigger` (the resource's own spec) replaces
    /// `broker` (the fallback) whole, then defaults are applied as described in this module's docs.
    /// Sources pass their own `delivery` and `None`.
    pub fn effective(
        trigger: Option<&DeliverySpec>,
        broker: Option<&DeliverySpec>,
    ) -> ResolvedDelivery {
        let (source, spec) = match (trigger, broker) {
            (Some(own), _) => (DeliverySource::Own, own),
            (None, Some(fallback)) => (DeliverySource::Fallback, fallback),
            (None, None) => {
                return ResolvedDelivery {
                    source: DeliverySource::StockDefault,
                    dead_letter_sink: None,
                    retry: DEFAULT_RETRY,
                    backoff_policy: DEFAULT_BACKOFF_POLICY,
                    backoff_delay: DEFAULT_BACKOFF_DELAY,
                    backoff_max: DEFAULT_BACKOFF_MAX,
                    timeout: DEFAULT_TIMEOUT,
                    retry_after_max: DEFAULT_RETRY_AFTER_MAX,
                    format: None,
                };
            }
        };
        let or = |d: &Option<crate::duration::IsoDuration>, default: Duration| {
            d.as_ref().map_or(default, |d| d.as_duration())
        };
        ResolvedDelivery {
            source,
            dead_letter_sink: spec.dead_letter_sink.clone(),
            retry: spec
                .retry
                .map_or(UNSET_RETRY, |r| u32::try_from(r).unwrap_or(0)),
            backoff_policy: spec.backoff_policy.unwrap_or(DEFAULT_BACKOFF_POLICY),
            backoff_delay: or(&spec.backoff_delay, UNSET_BACKOFF_DELAY),
            backoff_max: or(&spec.backoff_max, DEFAULT_BACKOFF_MAX),
            timeout: or(&spec.timeout, DEFAULT_TIMEOUT),
            retry_after_max: or(&spec.retry_after_max, DEFAULT_RETRY_AFTER_MAX),
            format: spec.format,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> DeliverySpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn stock_default_when_neither_has_delivery() {
        let r = DeliverySpec::effective(None, None);
        assert_eq!(r.source, DeliverySource::StockDefault);
        assert_eq!(r.retry, 10);
        assert_eq!(r.backoff_policy, BackoffPolicy::Exponential);
        assert_eq!(r.backoff_delay, Duration::from_millis(200));
        assert_eq!(r.timeout, Duration::from_secs(30));
        assert_eq!(r.backoff_max, Duration::from_secs(300));
        assert_eq!(r.retry_after_max, Duration::from_secs(300));
        assert!(r.dead_letter_sink.is_none());
        assert!(r.format.is_none());
    }

    #[test]
    fn trigger_replaces_broker_whole() {
        let broker = spec(serde_json::json!({
            "deadLetterSink": {"uri": "http://dls"},
            "retry": 5, "backoffPolicy": "linear", "backoffDelay": "PT1S", "timeout": "PT2S",
            "format": "binary"
        }));
        let trigger = spec(serde_json::json!({"retry": 2}));
        let r = DeliverySpec::effective(Some(&trigger), Some(&broker));
        assert_eq!(r.source, DeliverySource::Own);
        assert_eq!(r.retry, 2);
        assert!(r.dead_letter_sink.is_none(), "broker DLS must not leak in");
        assert_eq!(r.backoff_policy, BackoffPolicy::Exponential);
        assert_eq!(r.backoff_delay, Duration::ZERO);
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
        assert!(r.format.is_none());

        let r = DeliverySpec::effective(None, Some(&broker));
        assert_eq!(r.source, DeliverySource::Fallback);
        assert_eq!(r.retry, 5);
        assert_eq!(r.backoff_policy, BackoffPolicy::Linear);
        assert_eq!(r.backoff_delay, Duration::from_secs(1));
        assert_eq!(r.timeout, Duration::from_secs(2));
        assert_eq!(r.format, Some(DeliveryFormat::Binary));
        assert_eq!(
            r.dead_letter_sink.unwrap().uri.as_deref(),
            Some("http://dls")
        );
    }

    #[test]
    fn empty_trigger_delivery_still_replaces() {
        let broker = spec(serde_json::json!({"retry": 5}));
        let r = DeliverySpec::effective(Some(&DeliverySpec::default()), Some(&broker));
        assert_eq!(r.retry, UNSET_RETRY);
        assert_eq!(r.backoff_max, DEFAULT_BACKOFF_MAX);
        assert_eq!(r.retry_after_max, DEFAULT_RETRY_AFTER_MAX);
    }

    #[test]
    fn explicit_caps_win() {
        let own = spec(serde_json::json!({"backoffMax": "PT10S", "retryAfterMax": "PT0S"}));
        let r = DeliverySpec::effective(Some(&own), None);
        assert_eq!(r.backoff_max, Duration::from_secs(10));
        assert_eq!(r.retry_after_max, Duration::ZERO);
    }
}
