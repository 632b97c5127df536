//! Putting events on a broker's log, the one way every entry point does it (the ingress, reply
//! events, in-process sources): refuse an exhausted hop counter, stamp the arrival time and a
//! missing hop counter, encode, check the size, append — durable when it returns.

use super::BrokerRuntime;
use bytes::Bytes;
use herald_cloudevent::{AttrValue, Event, record};
use herald_log::{EventLog, LogError};
use herald_triggers::dispatch::settle::{DEFAULT_TTL, TTL, ttl_of};
use std::sync::atomic::Ordering;

/// Extension the broker stamps on every event it accepts: when it arrived (RFC 3339).
pub const ARRIVAL_TIME: &str = "knativearrivaltime";

/// Room for attributes around the data in one record.
const ATTRIBUTE_ALLOWANCE: usize = 64 * 1024;

/// Why events were not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the event's {TTL} must be a positive integer: it has passed through too many brokers")]
    TtlExhausted,
    #[error("the event exceeds the maximum size of {limit} bytes")]
    TooLarge { limit: usize },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Now, as the broker writes arrival times (RFC 3339, UTC, microseconds).
pub fn arrival_time() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Appends `events` to `log` as one all-or-nothing batch; returns how many were appended.
pub async fn append_events(
    log: &dyn EventLog,
    events: Vec<Event>,
    max_event_bytes: usize,
) -> Result<usize, AppendError> {
    let arrival = arrival_time();
    let mut payloads = Vec::with_capacity(events.len());
    for mut event in events {
        if event.get(TTL).is_some() && ttl_of(&event).is_none_or(|ttl| ttl <= 0) {
            return Err(AppendError::TtlExhausted);
        }
        event.set(ARRIVAL_TIME, AttrValue::String(arrival.clone()));
        if event.get(TTL).is_none() {
            event.set(TTL, AttrValue::Integer(DEFAULT_TTL));
        }
        let mut buf = Vec::with_capacity(256 + event.data().map_or(0, |d| d.bytes().len()));
        record::encode(&event, &mut buf);
        if buf.len() > max_event_bytes + ATTRIBUTE_ALLOWANCE {
            return Err(AppendError::TooLarge {
                limit: max_event_bytes,
            });
        }
        payloads.push(Bytes::from(buf));
    }
    let count = payloads.len();
    if count > 0 {
        log.append(payloads).await?;
    }
    Ok(count)
}

impl BrokerRuntime {
    /// Appends events to this broker's log and counts them as received.
    pub async fn append(
        &self,
        events: Vec<Event>,
        max_event_bytes: usize,
    ) -> Result<(), AppendError> {
        let count = append_events(self.log.as_ref(), events, max_event_bytes).await?;
        self.received.fetch_add(count as u64, Ordering::Relaxed);
        Ok(())
    }
}
