//! [`SegmentLog`]: the durable event log made of segment files on local disk.
//!
//! Files in the log directory:
//!
//! * `<base offset, 20 digits>.log` — a segment: consecutive framed records (see `frame`) starting
//!   at its base offset. Only the last segment is written to.
//! * `log.lock` — held with an exclusive lock while the log is open.
//! * `next-segment.spare` — a zero-filled file the writer rolls into next (see `spare`).
//!
//! Appends go through a [`CommitQueue`] to one writer thread (see `writer`), which performs group
//! commit. Readers never wait for the writer: tail reads come from an in-memory cache of the newest
//! records, older ones from positional reads planned against the in-memory index (see `index`).

mod index;
mod read;
mod recovery;
mod retention;
mod spare;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::commit::CommitQueue;
use crate::fsutil::{self, blocking};
use crate::ring::RecordRing;
use crate::sync::lock;
use crate::{EventLog, LogConfig, LogError, LogRecord, Offset};

use index::SegmentList;
use writer::{Active, AppendRequest, Writer};

const LOCK_FILE: &str = "log.lock";

/// Counters of a [`SegmentLog`] since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records appended.
    pub records: u64,
    /// Group-commit batches written (one write each).
    pub batches: u64,
    /// `fdatasync` calls completed for batches.
    pub fsyncs: u64,
}

#[derive(Default)]
struct Counters {
    records: AtomicU64,
    batches: AtomicU64,
    fsyncs: AtomicU64,
}

/// State shared by the handle, the writer thread and readers.
struct Shared {
    dir: PathBuf,
    config: LogConfig,
    queue: CommitQueue<AppendRequest>,
    segments: RwLock<SegmentList>,
    cache: RwLock<RecordRing>,
    head: AtomicU64,
    earliest: AtomicU64,
    head_tx: watch::Sender<Offset>,
    /// Framed bytes queued or being written, not yet durable.
    pending: AtomicUsize,
    /// Why the writer stopped, if it failed.
    failure: Mutex<Option<String>>,
    stats: Counters,
    /// Holds the directory lock for as long as anything uses the log.
    _dir_lock: std::fs::File,
}

impl Shared {
    /// The error for an append that the queue refused.
    fn refused(&self) -> LogError {
        match lock(&self.failure).clone() {
            Some(reason) => LogError::WriterFailed { reason },
            None => LogError::Closed,
        }
    }

    /// Reserves `bytes` of pending capacity, or reports saturation.
    fn reserve(&self, bytes: usize) -> Result<(), LogError> {
        let limit = self.config.max_pending_bytes;
        self.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                pending.checked_add(bytes).filter(|&total| total <= limit)
            })
            .map(drop)
            .map_err(|_| LogError::Overloaded)
    }
}

/// The durable, segment-file event log. See the crate docs for the design.
pub struct SegmentLog {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl SegmentLog {
    /// Opens (creating if needed) the log in `dir`, recovering what is on disk, and starts its
    /// writer thread. Fails with [`LogError::Locked`] if the directory is already open.
    pub async fn open(
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<Arc<SegmentLog>, LogError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        blocking(move || Self::open_blocking(dir, config)).await
    }

    fn open_blocking(dir: PathBuf, config: LogConfig) -> Result<Arc<SegmentLog>, LogError> {
        fsutil::create_dir(&dir)?;
        let dir_lock = fsutil::lock_dir(&dir, LOCK_FILE)?;
        let recovered = recovery::recover(&dir, &config)?;
        let Some(last) = recovered.segments.segments.back() else {
            return Err(LogError::InvalidConfig(format!(
                "no segment could be opened in {}",
                dir.display()
            )));
        };
        let active = Active {
            path: last.path.clone(),
            file: last.file.clone(),
            len: last.data_end,
        };
        let earliest = recovered.segments.segments.front().map_or(0, |s| s.base);
        let head = recovered.next_offset;
        let (head_tx, _) = watch::channel(head);
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            config,
            queue: CommitQueue::new(),
            segments: RwLock::new(recovered.segments),
            cache: RwLock::new(RecordRing::default()),
            head: AtomicU64::new(head),
            earliest: AtomicU64::new(earliest),
            head_tx,
            pending: AtomicUsize::new(0),
            failure: Mutex::new(None),
            stats: Counters::default(),
            _dir_lock: dir_lock,
        });
        if let Err(e) = shared.enforce_retention() {
            tracing::warn!(error = %e, "applying log retention on open failed");
        }
        let writer = Writer::new(shared.clone(), active, head, recovered.last_ts);
        let handle = std::thread::Builder::new()
            .name("herald-log-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(|e| LogError::io("start writer thread for", &dir, e))?;
        tracing::info!(dir = %dir.display(), earliest, head, "event log opened");
        Ok(Arc::new(SegmentLog {
            shared,
            writer: Mutex::new(Some(handle)),
        }))
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Counters since open (for metrics and benchmarks).
    pub fn stats(&self) -> LogStats {
        let stats = &self.shared.stats;
        LogStats {
            records: stats.records.load(Ordering::Relaxed),
            batches: stats.batches.load(Ordering::Relaxed),
            fsyncs: stats.fsyncs.load(Ordering::Relaxed),
        }
    }

    /// Framed bytes accepted but not yet durable.
    pub fn pending_bytes(&self) -> usize {
        self.shared.pending.load(Ordering::Acquire)
    }
}

impl Drop for SegmentLog {
    /// Without [`EventLog::close`], the writer still finishes what is queued, then exits.
    fn drop(&mut self) {
        self.shared.queue.close();
    }
}

#[async_trait::async_trait]
impl EventLog for SegmentLog {
    fn disk_stats(&self) -> Option<LogStats> {
        Some(self.stats())
    }

    async fn append(&self, payloads: Vec<Bytes>) -> Result<Offset, LogError> {
        let bytes = self.shared.config.admit(&payloads)?;
        if payloads.is_empty() {
            return if self.shared.queue.is_closed() {
                Err(self.shared.refused())
            } else {
                Ok(self.head())
            };
        }
        self.shared.reserve(bytes)?;
        let (done, outcome) = oneshot::channel();
        let request = AppendRequest {
            payloads,
            bytes,
            done,
        };
        if let Err(request) = self.shared.queue.push(request) {
            self.shared
                .pending
                .fetch_sub(request.bytes, Ordering::AcqRel);
            return Err(self.shared.refused());
        }
        outcome.await.map_err(|_| LogError::WriterFailed {
            reason: "the writer exited without acknowledging the append".to_owned(),
        })?
    }

    async fn read(&self, from: Offset, max: usize) -> Result<Vec<LogRecord>, LogError> {
        read::read(&self.shared, from, max).await
    }

    fn earliest(&self) -> Offset {
        self.shared.earliest.load(Ordering::Acquire)
    }

    fn head(&self) -> Offset {
        self.shared.head.load(Ordering::Acquire)
    }

    fn watch_head(&self) -> watch::Receiver<Offset> {
        self.shared.head_tx.subscribe()
    }

    async fn offset_at_time(&self, timestamp_ms: i64) -> Result<Offset, LogError> {
        read::offset_at_time(&self.shared, timestamp_ms).await
    }

    async fn apply_retention(&self) -> Result<Offset, LogError> {
        let shared = self.shared.clone();
        blocking(move || shared.enforce_retention()).await
    }

    async fn close(&self) -> Result<(), LogError> {
        self.shared.queue.close();
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle {
            blocking(move || {
                handle
                    .join()
                    .map_err(|_| LogError::TaskFailed("the log writer thread panicked".to_owned()))
            })
            .await?;
        }
        match lock(&self.shared.failure).clone() {
            Some(reason) => Err(LogError::WriterFailed { reason }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    #[tokio::test]
    async fn appends_beyond_the_pending_limit_are_refused_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = LogConfig {
            max_pending_bytes: 4096,
            max_record_bytes: 3000,
            ..LogConfig::default()
        };
        let log = SegmentLog::open(dir.path(), config).await.expect("open");
        let record = || vec![Bytes::from(vec![7u8; 3000])];

        // Hold the index lock so the writer cannot publish the first batch: its bytes stay pending.
        let index = crate::sync::write(&log.shared.segments);
        let mut first = pin!(log.append(record()));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert_eq!(log.pending_bytes(), 3024);

        let mut second = pin!(log.append(record()));
        match second.as_mut().poll(&mut cx) {
            Poll::Ready(Err(LogError::Overloaded)) => {}
            other => panic!("expected Overloaded at once, got {other:?}"),
        }
        drop(index);

        assert_eq!(first.await.expect("first append"), 0);
        assert_eq!(log.pending_bytes(), 0);
        assert_eq!(log.append(record()).await.expect("after draining"), 1);
        log.close().await.expect("close");
    }
}
