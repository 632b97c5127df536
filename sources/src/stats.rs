//! [`SourceStats`]: live figures and readiness of one running source, for its status and
//! metrics.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use serde_json::{Map, Value};

/// Readiness reasons a source reports.
pub mod reason {
    /// Connected (or, for a PingSource, scheduled) and consuming.
    pub const RUNNING: &str = "Running";
    /// Not connected yet.
    pub const CONNECTING: &str = "Connecting";
    /// The last connection attempt or the connection itself failed; the source retries.
    pub const CONNECTION_FAILED: &str = "ConnectionFailed";
    /// Stopped by its host.
    pub const STOPPED: &str = "Stopped";
}

/// Whether a source is working, for its `Ready` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// A CamelCase reason from [`reason`].
    pub reason: String,
    /// Human-readable detail (the connection error, for instance); may be empty.
    pub message: String,
}

/// Counters of one source. Every event read upstream ends up counted once in `sent` or `failed`
/// (or not at all when shutdown interrupted it; it is then read again after a restart).
#[derive(Debug)]
pub struct SourceStats {
    /// Messages read upstream (ticks fired, for a PingSource).
    pub received: AtomicU64,
    /// Events the sink accepted (2xx).
    pub sent: AtomicU64,
    /// Events the sink did not accept after every retry (then dead-lettered and recorded).
    pub failed: AtomicU64,
    /// Of the failed events, those the dead-letter sink accepted.
    pub dead_lettered: AtomicU64,
    /// When the sink last accepted an event, milliseconds since the Unix epoch; 0 for never.
    pub last_event_time_ms: AtomicI64,
    ready: AtomicBool,
    readiness: Mutex<Readiness>,
}

impl Default for SourceStats {
    fn default() -> Self {
        SourceStats {
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            last_event_time_ms: AtomicI64::new(0),
            ready: AtomicBool::new(false),
            readiness: Mutex::new(Readiness {
                ready: false,
                reason: reason::CONNECTING.to_owned(),
                message: String::new(),
            }),
        }
    }
}

impl SourceStats {
    /// The current readiness.
    pub fn readiness(&self) -> Readiness {
        self.readiness
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_readiness(&self, ready: bool, reason: &str, message: impl Into<String>) {
        let mut readiness = self
            .readiness
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *readiness = Readiness {
            ready,
            reason: reason.to_owned(),
            message: message.into(),
        };
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Marks the source ready ([`reason::RUNNING`]) unless it already is; cheap when it is.
    pub(crate) fn mark_running(&self) {
        if !self.ready.load(Ordering::Relaxed) {
            self.set_readiness(true, reason::RUNNING, "");
        }
    }

    pub(crate) fn count_received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let now = chrono::Utc::now().timestamp_millis();
        self.last_event_time_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// The figures for `status`, with camelCase keys: `eventsReceived`, `eventsSent`,
    /// `eventsFailed`, `eventsDeadLettered` and, once an event was sent, `lastEventTime`
    /// (RFC 3339).
    pub fn snapshot(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let count = |counter: &AtomicU64| Value::from(counter.load(Ordering::Relaxed));
        map.insert("eventsReceived".into(), count(&self.received));
        map.insert("eventsSent".into(), count(&self.sent));
        map.insert("eventsFailed".into(), count(&self.failed));
        map.insert("eventsDeadLettered".into(), count(&self.dead_lettered));
        let last = self.last_event_time_ms.load(Ordering::Relaxed);
        if let Some(time) = (last > 0)
            .then(|| crate::binding::rfc3339_millis(last))
            .flatten()
        {
            map.insert("lastEventTime".into(), Value::String(time));
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_has_camel_case_keys_and_time_once_sent() {
        let stats = SourceStats::default();
        stats.count_received();
        let snapshot = stats.snapshot();
        assert_eq!(snapshot["eventsReceived"], 1);
        assert_eq!(snapshot["eventsSent"], 0);
        assert!(!snapshot.contains_key("lastEventTime"));
        stats.count_sent();
        let snapshot = stats.snapshot();
        assert_eq!(snapshot["eventsSent"], 1);
        let time = snapshot["lastEventTime"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        assert!(!stats.readiness().ready);
        stats.mark_running();
        assert_eq!(stats.readiness().reason, "Running");
        stats.set_readiness(false, reason::CONNECTION_FAILED, "down");
        assert_eq!(stats.readiness().message, "down");
    }
}
