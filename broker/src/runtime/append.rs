//! Putting events on a broker's log, the one way every entry point does it (the ingress, reply
//! events, in-process sources): refuse an exhausted hop counter, stamp the arrival time and a
//! missing hop counter, encode, check the size, append — durable when it returns.

use super::BrokerRuntime;
use bytes::Bytes;
use chrono::SecondsFormat;
use herald_cloudevent::{AttrValue, Event, record};
use herald_log::{EventLog, LogError};
use herald_triggers::dispatch::settle::{DEFAULT_TTL, TTL, ttl_of};
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
fn arrival_time() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_micros(since_epoch)
}

/// `since_epoch` in RFC 3339 with microseconds, `2026-12-06T06:24:41.123456Z`. Every event is
/// stamped, so the part up to the second is formatted (by chrono) once per second per thread
/// and only the microseconds each time: formatting it all cost about 900 instructions per event.
fn rfc3339_micros(since_epoch: Duration) -> String {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let seconds = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, prefix)| {
        if *cached != seconds {
            let at = i64::try_from(seconds)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            *prefix = at.to_rfc3339_opts(SecondsFormat::Secs, true);
            prefix.pop(); // the `Z`, written after the fraction
            prefix.push('.');
            *cached = seconds;
        }
        let mut micros = since_epoch.subsec_micros();
        let mut digits = [b'0'; 6];
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        let mut text = String::with_capacity(prefix.len() + digits.len() + 1);
        text.push_str(prefix);
        text.extend(digits.iter().map(|&d| char::from(d)));
        text.push('Z');
        text
    })
}

/// Appends `events` to `log` as one all-or-nothing batch; returns how many were appended.
pub async fn append_events(
    log: &dyn EventLog,
    events: Vec<Event>,
    max_event_bytes: usize,
) -> Result<usize, AppendError> {
    let mut arrival = arrival_time();
    let count = events.len();
    let mut payloads = Vec::with_capacity(count);
    for (i, mut event) in events.into_iter().enumerate() {
        if event.get(TTL).is_some() && ttl_of(&event).is_none_or(|ttl| ttl <= 0) {
            return Err(AppendError::TtlExhausted);
        }
        // Every event of a batch arrived at once; the last takes the text itself.
        let arrived = if i + 1 == count {
            std::mem::take(&mut arrival)
        } else {
            arrival.clone()
        };
        event.set(ARRIVAL_TIME, AttrValue::String(arrived));
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
    if count > 0 {
        log.append(payloads).await?;
    }
    Ok(count)
}

impl BrokerRuntime {
    /// Appends a publisher's events to this broker's log and counts them as received; returns
    /// once they are durable and the deliveries they feed have had a turn.
    pub async fn append(
        &self,
        events: Vec<Event>,
        max_event_bytes: usize,
    ) -> Result<(), AppendError> {
        let count = append_events(self.log.as_ref(), events, max_event_bytes).await?;
        self.received.fetch_add(count as u64, Ordering::Relaxed);
        // The append woke the Triggers' readers. Ceding the thread once lets them run before the
        // publisher's answer goes out and its next request comes in: where publishers and
        // deliveries share a core, the deliveries would otherwise get a turn per round of every
        // ready connection, and with the memory log, whose appends never wait, not even that.
        tokio::task::yield_now().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339_micros;
    use crate::config::{LogBackend, ServeConfig};
    use crate::latency::LatencyMetrics;
    use crate::runtime::{BrokerId, BrokerRuntime};
    use herald_cloudevent::{Event, SpecVersion};
    use herald_crds::broker::Broker;
    use std::cell::Cell;
    use std::time::Duration;

    /// A publisher sending back to back and a Trigger's reader, in one task as on a one-thread
    /// runtime: the reader gets a turn after each publish, not only once the publisher stops.
    /// With the memory log nothing in an append waits, so this is the broker's doing.
    #[tokio::test(flavor = "current_thread")]
    async fn each_publish_gives_the_readers_a_turn_before_it_is_answered() {
        const PUBLISHES: u64 = 200;
        let config = ServeConfig::for_tests("unused".into(), LogBackend::Memory);
        let id = BrokerId {
            namespace: "default".into(),
            name: "default".into(),
        };
        let latencies = LatencyMetrics::default().of(&id);
        let broker = BrokerRuntime::open(id, &Broker::new("default"), &config, latencies)
            .await
            .unwrap();
        let mut head = broker.log.watch_head();
        let publishing = Cell::new(true);
        let publisher = async {
            for i in 0..PUBLISHES {
                let event = Event::new(SpecVersion::V10, i.to_string(), "/tests", "t");
                broker.append(vec![event], 1024).await.unwrap();
            }
            publishing.set(false);
        };
        let reader = async {
            let mut heads_seen_while_publishing = 0;
            while publishing.get() {
                if head.has_changed().unwrap() {
                    head.borrow_and_update();
                    heads_seen_while_publishing += 1;
                }
                tokio::task::yield_now().await;
            }
            heads_seen_while_publishing
        };
        let ((), seen) = tokio::join!(publisher, reader);
        assert_eq!(broker.log.head(), PUBLISHES);
        // Without the turn, the publisher's first poll would run all of its publishes.
        assert!(
            seen >= PUBLISHES / 2,
            "the reader saw the head move {seen} times during {PUBLISHES} publishes"
        );
    }

    #[test]
    fn arrival_times_read_as_chrono_writes_them() {
        // Within one second (the cached part reused), across seconds, days and years, and at
        // the edges of the fraction.
        let starts = [0, 59, 86_399, 951_782_399, 1_798_761_599, 4_102_444_799];
        for start in starts {
            for (seconds, micros) in [(0, 0), (0, 1), (0, 999_999), (0, 120_000), (1, 5)] {
                let at = Duration::new(start + seconds, micros * 1000 + 999);
                let expected = chrono::DateTime::from_timestamp(at.as_secs() as i64, micros * 1000)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                assert_eq!(rfc3339_micros(at), expected);
            }
        }
    }
}
