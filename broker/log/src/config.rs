//! [`LogConfig`]: durability, segment size, retention, back-pressure and cache limits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::LogError;
use crate::frame::HEADER_LEN;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const GIB: u64 = 1024 * 1024 * 1024;

/// Largest segment size accepted; record positions inside a segment are kept as `u32`.
const MAX_SEGMENT_BYTES: u64 = 2 * GIB;
/// Largest `max_pending_bytes` accepted (with `MAX_SEGMENT_BYTES`, a segment stays below 4 GiB).
const MAX_PENDING_BYTES: usize = GIB as usize;

/// Default [`LogConfig::min_sync_interval`].
const DEFAULT_MIN_SYNC_INTERVAL: Duration = Duration::from_micros(500);

/// Configuration of an [`EventLog`](crate::EventLog).
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// `fdatasync` every batch before acknowledging it. Default `true`. `false` acknowledges after
    /// the write reaches the OS (survives a process crash, not a machine crash) — for benchmarks.
    pub fsync: bool,
    /// Shortest time between the starts of two group-commit `fdatasync`s. While the last sync is
    /// more recent than this, appends gather for the next one, so the disk sees at most
    /// `1 / min_sync_interval` syncs a second however the appends arrive; an append waits for it
    /// at most this long. Block devices with an IOPS budget (cloud volumes, VM disks) throttle or
    /// stall past it. Default 500 µs (at most 2,000 syncs a second); zero syncs every batch at
    /// once. Ignored without `fsync`.
    pub min_sync_interval: Duration,
    /// A segment is closed and a new one started once the next batch would take it past this size.
    /// Default 64 MiB; at most 2 GiB.
    pub segment_bytes: u64,
    /// Closed segments whose newest record is older than this are deleted. Default 7 days.
    pub retention_age: Option<Duration>,
    /// Oldest closed segments are deleted while the log is larger than this. Default 1 GiB.
    pub retention_bytes: Option<u64>,
    /// Appends fail with [`LogError::Overloaded`] while this many bytes (payloads plus record
    /// headers) are queued but not yet durable. Default 64 MiB; at most 1 GiB.
    pub max_pending_bytes: usize,
    /// Largest accepted payload. Default 4 MiB.
    pub max_record_bytes: usize,
    /// Bytes (payloads plus record headers) of the most recent records kept in memory for tailing
    /// readers; the cache shares the appended [`bytes::Bytes`], it does not copy them. Default
    /// 8 MiB (under a second of a busy broker; Triggers further behind read the segment files);
    /// 0 disables the cache.
    pub read_cache_bytes: usize,
    /// How often retention is checked besides on segment roll. Default 60 s.
    pub retention_check_interval: Duration,
    /// Source of append timestamps and of "now" for age retention. Default: the system clock.
    pub clock: Clock,
    /// Told how long each group-commit `fdatasync` took (the broker keeps a histogram of them).
    /// Default none.
    pub sync_observer: Option<SyncObserver>,
}

/// A function told the duration of each group-commit `fdatasync`, on the log's writer thread:
/// it must be quick.
#[derive(Clone)]
pub struct SyncObserver(Arc<dyn Fn(Duration) + Send + Sync>);

impl SyncObserver {
    pub fn new(observe: impl Fn(Duration) + Send + Sync + 'static) -> SyncObserver {
        SyncObserver(Arc::new(observe))
    }

    pub(crate) fn observe(&self, took: Duration) {
        (self.0)(took)
    }
}

impl fmt::Debug for SyncObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyncObserver")
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            fsync: true,
            min_sync_interval: DEFAULT_MIN_SYNC_INTERVAL,
            segment_bytes: 64 * MIB as u64,
            retention_age: Some(Duration::from_secs(7 * 24 * 60 * 60)),
            retention_bytes: Some(GIB),
            max_pending_bytes: 64 * MIB,
            max_record_bytes: 4 * MIB,
            read_cache_bytes: 8 * MIB,
            retention_check_interval: Duration::from_secs(60),
            clock: Clock::system(),
            sync_observer: None,
        }
    }
}

impl LogConfig {
    /// Checks the limits against each other.
    pub fn validate(&self) -> Result<(), LogError> {
        let invalid = |reason: String| Err(LogError::InvalidConfig(reason));
        if self.segment_bytes == 0 || self.segment_bytes > MAX_SEGMENT_BYTES {
            return invalid(format!(
                "segment_bytes must be between 1 and {MAX_SEGMENT_BYTES}, got {}",
                self.segment_bytes
            ));
        }
        if self.max_pending_bytes > MAX_PENDING_BYTES {
            return invalid(format!(
                "max_pending_bytes must be at most {MAX_PENDING_BYTES}, got {}",
                self.max_pending_bytes
            ));
        }
        if self.max_record_bytes == 0 {
            return invalid("max_record_bytes must be positive".to_owned());
        }
        if self.max_record_bytes.saturating_add(HEADER_LEN) > self.max_pending_bytes {
            return invalid(format!(
                "max_pending_bytes ({}) must hold at least one record of max_record_bytes ({}) plus its {HEADER_LEN}-byte header",
                self.max_pending_bytes, self.max_record_bytes
            ));
        }
        if self.retention_check_interval.is_zero() {
            return invalid("retention_check_interval must be positive".to_owned());
        }
        Ok(())
    }

    /// Checks one append call against the record and call limits; returns its framed size.
    pub(crate) fn admit(&self, payloads: &[bytes::Bytes]) -> Result<usize, LogError> {
        let mut total = 0usize;
        for payload in payloads {
            if payload.len() > self.max_record_bytes {
                return Err(LogError::TooLarge {
                    what: "record",
                    size: payload.len(),
                    limit: self.max_record_bytes,
                });
            }
            total = total.saturating_add(payload.len() + HEADER_LEN);
        }
        if total > self.max_pending_bytes {
            return Err(LogError::TooLarge {
                what: "append",
                size: total,
                limit: self.max_pending_bytes,
            });
        }
        Ok(total)
    }
}
