//! Classifies one delivery attempt's result the way Knative does: what counts as delivered, what is
//! retried, and what goes straight to the dead-letter path.

use bytes::Bytes;
use herald_cloudevent::Event;
use std::time::Duration;

/// The result of one HTTP attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// 2xx. `reply` holds the CloudEvent of a 200/201/203 response body, when there is one.
    Delivered { status: u16, reply: Option<Event> },
    /// Worth another try: network error, timeout, 404, 408, 409, 429 or 5xx.
    Retryable {
        status: Option<u16>,
        retry_after: Option<Duration>,
        body: Bytes,
        error: String,
    },
    /// Not worth another try: 3xx and the other 4xx, or a reply that is not a valid CloudEvent.
    Rejected {
        status: Option<u16>,
        body: Bytes,
        error: String,
    },
}

impl Attempt {
    /// The HTTP status of the attempt, when a response arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            Attempt::Delivered { status, .. } => Some(*status),
            Attempt::Retryable { status, .. } | Attempt::Rejected { status, .. } => *status,
        }
    }

    /// A short label for metrics and logs: `delivered`, `retryable` or `rejected`.
    pub fn label(&self) -> &'static str {
        match self {
            Attempt::Delivered { .. } => "delivered",
            Attempt::Retryable { .. } => "retryable",
            Attempt::Rejected { .. } => "rejected",
        }
    }
}

/// Whether a non-2xx status is retried (Knative's data-plane table).
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 404 | 408 | 409 | 429) || (500..600).contains(&status)
}

/// Whether a 2xx status may carry a reply event. A 202 body is never a reply (CloudEvents HTTP
/// binding), and neither is a 204 or any other 2xx.
pub fn may_carry_reply(status: u16) -> bool {
    matches!(status, 200 | 201 | 203)
}

/// Parses a `Retry-After` header: delta-seconds or an HTTP date (relative to now).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_table_matches_knative() {
        for s in [404, 408, 409, 429, 500, 502, 503, 504, 599] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [300, 301, 302, 400, 401, 403, 405, 410, 413, 422] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn only_200_201_203_carry_replies() {
        assert!(may_carry_reply(200) && may_carry_reply(201) && may_carry_reply(203));
        assert!(!may_carry_reply(202) && !may_carry_reply(204));
    }

    #[test]
    fn retry_after_in_seconds_and_http_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let in_a_minute = std::time::SystemTime::now() + Duration::from_secs(60);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(in_a_minute)).unwrap();
        assert!(parsed > Duration::from_secs(55) && parsed <= Duration::from_secs(60));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
