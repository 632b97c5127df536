//! Ordered delivery: events of one key (the `partitionkey` extension, or the whole Trigger when
//! absent) go one at a time, in log order; other keys proceed meanwhile.

use foldhash::HashMap;
use herald_cloudevent::Event;
use herald_log::LogRecord;
use std::collections::VecDeque;

/// Extension naming an event's ordering key.
pub const PARTITION_KEY: &str = "partitionkey";

/// Delivery order of a Trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Unordered,
    Ordered,
}

/// The ordering key of an event.
pub fn key_of(event: &Event) -> String {
    event
        .get(PARTITION_KEY)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// Keys with an event in flight, and the events waiting behind them.
#[derive(Debug, Default)]
pub struct KeyedQueue {
    busy: HashMap<String, VecDeque<LogRecord>>,
    waiting: usize,
}

impl KeyedQueue {
    /// Offers a record of `key`: returned when it may start now, kept when its key is busy.
    pub fn admit(&mut self, key: String, record: LogRecord) -> Option<LogRecord> {
        match self.busy.get_mut(&key) {
            Some(queue) => {
                queue.push_back(record);
                self.waiting += 1;
                None
            }
            None => {
                self.busy.insert(key, VecDeque::new());
                Some(record)
            }
        }
    }

    /// The record of `key` in flight reached its final outcome: the next one of that key, if any.
    pub fn finish(&mut self, key: &str) -> Option<LogRecord> {
        let queue = self.busy.get_mut(key)?;
        match queue.pop_front() {
            Some(next) => {
                self.waiting -= 1;
                Some(next)
            }
            None => {
                self.busy.remove(key);
                None
            }
        }
    }

    /// Records waiting behind a busy key.
    pub fn waiting(&self) -> usize {
        self.waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: u64) -> LogRecord {
        LogRecord {
            offset,
            timestamp_ms: 0,
            payload: bytes::Bytes::new(),
        }
    }

    #[test]
    fn one_in_flight_per_key_in_order() {
        let mut q = KeyedQueue::default();
        assert_eq!(q.admit("a".into(), rec(0)).map(|r| r.offset), Some(0));
        assert!(q.admit("a".into(), rec(1)).is_none());
        assert_eq!(q.admit("b".into(), rec(2)).map(|r| r.offset), Some(2));
        assert!(q.admit("a".into(), rec(3)).is_none());
        assert_eq!(q.waiting(), 2);
        assert_eq!(q.finish("a").map(|r| r.offset), Some(1));
        assert_eq!(q.finish("a").map(|r| r.offset), Some(3));
        assert_eq!(q.finish("a").map(|r| r.offset), None);
        // The key is free again.
        assert_eq!(q.admit("a".into(), rec(4)).map(|r| r.offset), Some(4));
        assert_eq!(q.waiting(), 0);
    }
}
