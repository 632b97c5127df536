//! Herald's event log: one append-only log per broker, plus a small durable key-value state store.
//!
//! # Backends
//!
//! * [`SegmentLog`] — the durable log: segment files on local disk with group commit.
//! * [`MemoryLog`] — the same [`EventLog`] contract kept in memory (tests, ephemeral brokers).
//! * [`FileStateStore`] / [`MemoryStateStore`] — small durable key-value state ([`StateStore`]) for
//!   trigger positions and retry schedules.
//!
//! # Why our own segment files rather than an embedded store (fjall, redb)
//!
//! The workload is a single append-only stream per broker whose keys (offsets) only ever grow,
//! which is read mostly at its tail and expires from its head. For that shape, own segment files win
//! on both criteria that matter:
//!
//! * **Append latency and throughput.** A commit here is one `pwrite` of the whole batch and one
//!   `fdatasync` of one file, shared by every append that arrived while the previous batch was being
//!   synced (group commit). redb commits copy-on-write B-tree pages plus its header, and serialises
//!   write transactions, so many concurrent appenders would still need a batching layer on top and
//!   pay page-level write amplification. fjall (an LSM tree) journals the value and then rewrites it
//!   during flushes and compactions, work that buys nothing for monotonically increasing keys.
//! * **Crash safety.** Every record carries its own CRC32C, offset and timestamp, so recovery is a
//!   sequential scan that keeps the longest valid prefix and truncates a torn or corrupt tail. No
//!   append resolves before the `fdatasync` that covers it, and a failed `fdatasync` poisons the log
//!   instead of retrying (the page cache state is unknown after such a failure).
//! * **Retention** is deleting whole closed segment files (`unlink`), not range deletes followed by
//!   compaction.
//! * **Tail reads** are served from a bounded in-memory cache of the most recent records, sharing
//!   the very [`bytes::Bytes`] the producer handed in; older data is read with positional reads via
//!   a per-segment in-memory index of record positions, without holding any lock during disk IO.
//!
//! Measured with `examples/append_bench.rs` on the 2-core development VM (64 tasks appending 1 KiB
//! records for 2 s, each waiting for durability): 14k–36k records/s at 216–560 fsyncs/s — every
//! fsync covers about 64 appends, so throughput follows the disk's fsync rate — and about 270k
//! records/s with `fsync: false`. A lone appender pays one fsync per append, but syncs start at
//! least [`LogConfig::min_sync_interval`] apart (500 µs by default): a steady trickle of appends,
//! each of which would otherwise get a sync of its own, gathers into a few syncs instead. On the
//! project's VMs more than about 2,000 syncs a second stalled the whole machine for 10–20 ms at a
//! time, as a disk with an IOPS budget would.
//!
//! The state store is different: tiny, keyed, overwritten in place. It is an append-only journal with
//! a CRC per entry, replayed into memory on open and compacted by atomic rename.

mod clock;
mod commit;
mod config;
mod courtesy;
mod error;
mod frame;
mod fsutil;
mod memory;
mod ring;
mod segment;
mod state;
mod sync;

pub use clock::Clock;
pub use config::{LogConfig, SyncObserver};
pub use error::LogError;
pub use memory::MemoryLog;
pub use segment::{LogStats, SegmentLog};
pub use state::{FileStateStore, MemoryStateStore};

/// Position of a record in the log; dense and unique, starting at 0.
pub type Offset = u64;

/// One record of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// The record's offset.
    pub offset: Offset,
    /// Append time, milliseconds since the Unix epoch; never decreases along the log.
    pub timestamp_ms: i64,
    /// The bytes that were appended.
    pub payload: bytes::Bytes,
}

/// An append-only event log.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends payloads as consecutive records, all or nothing. Resolves only once they are durable
    /// (embedded: after the fsync that covers them). Returns the first offset assigned (the current
    /// head when `payloads` is empty).
    ///
    /// Returns [`LogError::Overloaded`] at once (without queueing) when pending unflushed bytes would
    /// exceed [`LogConfig::max_pending_bytes`], and [`LogError::TooLarge`] for a record larger than
    /// [`LogConfig::max_record_bytes`] or a call larger than `max_pending_bytes`. Dropping the
    /// returned future does not withdraw an append that was already queued.
    async fn append(&self, payloads: Vec<bytes::Bytes>) -> Result<Offset, LogError>;

    /// Up to `max` records from `from` (if `from` < earliest, starts at earliest); empty when
    /// `from >= head`. May return fewer than `max` even when more records exist (for instance at a
    /// segment boundary), and starts after `from` when records there were lost to corruption;
    /// callers continue from the last offset returned plus one.
    async fn read(&self, from: Offset, max: usize) -> Result<Vec<LogRecord>, LogError>;

    /// The first offset still retained.
    fn earliest(&self) -> Offset;

    /// One past the last durable record.
    fn head(&self) -> Offset;

    /// A receiver whose value is the head; it changes after each durable append.
    fn watch_head(&self) -> tokio::sync::watch::Receiver<Offset>;

    /// The offset of the first retained record with `timestamp_ms >=` the given time, or the head
    /// when there is none.
    async fn offset_at_time(&self, timestamp_ms: i64) -> Result<Offset, LogError>;

    /// Applies the retention policy now (it is also applied periodically and, for segment logs, on
    /// segment roll). Returns the new earliest offset.
    async fn apply_retention(&self) -> Result<Offset, LogError>;

    /// Flushes everything pending and stops background tasks; later appends fail with
    /// [`LogError::Closed`]. Reads keep working.
    async fn close(&self) -> Result<(), LogError>;

    /// Write-path counters since open, for logs that write to disk (`None` in memory).
    fn disk_stats(&self) -> Option<LogStats> {
        None
    }
}

/// Durable small key-value state (trigger positions, retry schedules). Writes are batched: many puts
/// from many tasks share one fsync (group commit). `put`/`delete` resolve once durable, and only
/// then become visible to `get`/`scan_prefix`.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Stores `value` under `key`, replacing any previous value.
    async fn put(&self, key: &str, value: bytes::Bytes) -> Result<(), LogError>;
    /// Like [`StateStore::put`], but resolves once the write survives a crash of this process
    /// (handed to the OS), without waiting for an fsync of its own: it becomes power-safe with the
    /// next durable write or at close. For state whose loss only repeats work, such as a Trigger
    /// position (an older position redelivers, it never skips).
    async fn put_relaxed(&self, key: &str, value: bytes::Bytes) -> Result<(), LogError> {
        self.put(key, value).await
    }
    /// Removes `key` (a no-op if absent, but still durable before resolving).
    async fn delete(&self, key: &str) -> Result<(), LogError>;
    /// The current value of `key`.
    fn get(&self, key: &str) -> Option<bytes::Bytes>;
    /// All entries whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &str) -> Vec<(String, bytes::Bytes)>;
    /// Flushes pending writes and stops background work; later writes fail with [`LogError::Closed`].
    async fn close(&self) -> Result<(), LogError>;
}
