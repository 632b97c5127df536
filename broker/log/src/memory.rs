//! [`MemoryLog`]: the [`EventLog`] contract kept entirely in memory.
//!
//! Appends are "durable" as soon as they are stored, so the write path never saturates and
//! [`LogError::Overloaded`] does not occur. Retention applies record by record (there are no
//! segments): records older than `retention_age` and the oldest records beyond `retention_bytes`
//! (counted as on disk: payload plus record header) are dropped on append, on read and on
//! [`EventLog::apply_retention`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use tokio::sync::watch;

use crate::clock::duration_ms;
use crate::ring::RecordRing;
use crate::sync::{read, write};
use crate::{EventLog, LogConfig, LogError, LogRecord, Offset};

/// An in-memory event log.
pub struct MemoryLog {
    config: LogConfig,
    state: RwLock<State>,
    head: AtomicU64,
    earliest: AtomicU64,
    head_tx: watch::Sender<Offset>,
}

struct State {
    records: RecordRing,
    next: Offset,
    last_ts: i64,
    closed: bool,
}

impl MemoryLog {
    /// An empty log with `config`'s limits and retention (`fsync` and segment settings do not
    /// apply).
    pub fn new(config: LogConfig) -> Arc<MemoryLog> {
        let (head_tx, _) = watch::channel(0);
        Arc::new(MemoryLog {
            config,
            state: RwLock::new(State {
                records: RecordRing::default(),
                next: 0,
                last_ts: i64::MIN,
                closed: false,
            }),
            head: AtomicU64::new(0),
            earliest: AtomicU64::new(0),
            head_tx,
        })
    }

    /// Whether the oldest record is due for removal.
    fn expired(&self, state: &State, now_ms: i64) -> bool {
        let too_big = self
            .config
            .retention_bytes
            .is_some_and(|limit| state.records.bytes() > limit);
        let too_old = self.config.retention_age.is_some_and(|age| {
            let cutoff = now_ms.saturating_sub(duration_ms(age));
            state
                .records
                .front()
                .is_some_and(|r| r.timestamp_ms < cutoff)
        });
        too_big || too_old
    }

    fn trim(&self, state: &mut State, now_ms: i64) {
        while self.expired(state, now_ms) {
            state.records.pop_front();
        }
        let earliest = state.records.front().map_or(state.next, |r| r.offset);
        self.earliest.store(earliest, Ordering::Release);
    }

    /// Applies retention if the oldest record is due, taking the write lock only then.
    fn expire(&self) {
        let now = self.config.clock.now_ms();
        if self.expired(&read(&self.state), now) {
            self.trim(&mut write(&self.state), now);
        }
    }
}

#[async_trait::async_trait]
impl EventLog for MemoryLog {
    async fn append(&self, payloads: Vec<Bytes>) -> Result<Offset, LogError> {
        self.config.admit(&payloads)?;
        let mut state = write(&self.state);
        if state.closed {
            return Err(LogError::Closed);
        }
        let first = state.next;
        if payloads.is_empty() {
            return Ok(first);
        }
        let now = self.config.clock.now_ms();
        let timestamp_ms = now.max(state.last_ts);
        for payload in payloads {
            let offset = state.next;
            state.records.push(LogRecord {
                offset,
                timestamp_ms,
                payload,
            });
            state.next += 1;
        }
        state.last_ts = timestamp_ms;
        let head = state.next;
        self.trim(&mut state, now);
        self.head.store(head, Ordering::Release);
        drop(state);
        self.head_tx.send_replace(head);
        Ok(first)
    }

    async fn read(&self, from: Offset, max: usize) -> Result<Vec<LogRecord>, LogError> {
        self.expire();
        let state = read(&self.state);
        let first = state.records.front().map_or(state.next, |r| r.offset);
        Ok(state.records.read(from.max(first), max).unwrap_or_default())
    }

    fn earliest(&self) -> Offset {
        self.expire();
        self.earliest.load(Ordering::Acquire)
    }

    fn head(&self) -> Offset {
        self.head.load(Ordering::Acquire)
    }

    fn watch_head(&self) -> watch::Receiver<Offset> {
        self.head_tx.subscribe()
    }

    async fn offset_at_time(&self, timestamp_ms: i64) -> Result<Offset, LogError> {
        self.expire();
        let state = read(&self.state);
        Ok(state
            .records
            .first_at_or_after(timestamp_ms)
            .unwrap_or(state.next))
    }

    async fn apply_retention(&self) -> Result<Offset, LogError> {
        let mut state = write(&self.state);
        self.trim(&mut state, self.config.clock.now_ms());
        Ok(self.earliest.load(Ordering::Acquire))
    }

    async fn close(&self) -> Result<(), LogError> {
        write(&self.state).closed = true;
        Ok(())
    }
}
