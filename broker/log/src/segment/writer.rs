//! The single writer thread of a segment log: group commit, segment roll and periodic retention.
//!
//! Each round takes every queued append (up to a size cap), encodes them into one buffer, writes it
//! with one positional write, makes it durable with one `fdatasync`, and only then publishes the
//! records (index, tail cache, head) and completes the waiters. Two syncs start at least
//! `min_sync_interval` apart: a round that comes sooner first sleeps while appends gather.
//!
//! A failed write is rolled back by truncating the file to its previous length and fails only its
//! batch. A failed `fdatasync` (or a failed rollback) stops the writer for good: after such a
//! failure the kernel may have dropped the dirty pages, so nothing written since the last good sync
//! can be trusted until recovery on reopen has checked it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::commit::{Next, Pacer, SyncSpacing, Weighted};
use crate::courtesy::Courtesy;
use crate::error::LogError;
use crate::frame;
use crate::sync::{lock, write};
use crate::{LogRecord, Offset};

use super::Shared;
use super::recovery::create_segment;
use super::spare::Spares;

/// Upper bound on the bytes written by one batch (a single larger append is still written alone).
const MAX_BATCH_BYTES: usize = 8 << 20;
/// Bytes framed before they are written: a batch goes to the file in writes of about this size,
/// so the writer's buffer stays this small however large the batch (all covered by one fsync).
const WRITE_CHUNK: usize = 256 << 10;

/// One queued append call.
pub(super) struct AppendRequest {
    pub(super) payloads: Vec<Bytes>,
    /// Framed size of all payloads (what it adds to the pending bytes).
    pub(super) bytes: usize,
    pub(super) done: oneshot::Sender<Result<Offset, LogError>>,
}

impl Weighted for AppendRequest {
    fn weight(&self) -> usize {
        self.bytes
    }
}

/// A failure that stops the writer.
struct Fatal(String);

/// Why a batch could not be written (it is rolled back and fails alone).
enum WriteFailure {
    /// The segment would outgrow the positions its index can hold.
    TooLarge(LogError),
    Io(std::io::Error),
}

/// The segment being appended to (always the last one of the index).
pub(super) struct Active {
    pub(super) path: Arc<Path>,
    pub(super) file: Arc<File>,
    /// Bytes of valid data.
    pub(super) len: u64,
}

pub(super) struct Writer {
    shared: Arc<Shared>,
    active: Active,
    next_offset: Offset,
    last_ts: i64,
    buf: Vec<u8>,
    pacer: Pacer,
    /// Whether the writer defers to the request path, adapted to the load.
    courtesy: Courtesy,
    /// Keeps syncs apart, so that a steady trickle of appends gathers instead of syncing each.
    spacing: SyncSpacing,
    /// Zero-filled files to roll into (only with fsync: they make each sync cheaper).
    spares: Option<Spares>,
}

impl Writer {
    pub(super) fn new(
        shared: Arc<Shared>,
        active: Active,
        next_offset: Offset,
        last_ts: i64,
    ) -> Writer {
        let config = &shared.config;
        let spares = config
            .fsync
            .then(|| Spares::new(&shared.dir, config.segment_bytes));
        let spacing = SyncSpacing::new(config.min_sync_interval);
        Writer {
            shared,
            active,
            next_offset,
            last_ts,
            buf: Vec::new(),
            pacer: Pacer::new(),
            courtesy: Courtesy::new(),
            spacing,
            spares,
        }
    }

    /// Runs until the queue is closed and drained, or a fatal failure.
    pub(super) fn run(mut self) {
        let config = &self.shared.config;
        let interval = config.retention_check_interval;
        let max_batch = usize::try_from(config.segment_bytes)
            .unwrap_or(usize::MAX)
            .min(MAX_BATCH_BYTES);
        let mut next_retention = Instant::now() + interval;
        loop {
            let idle = next_retention.saturating_duration_since(Instant::now());
            let idle = idle.max(Duration::from_millis(1));
            let gather = self.spacing.wait(Instant::now());
            if !gather.is_zero() {
                // Appends queue meanwhile without waking this thread; the next batch takes them.
                std::thread::sleep(gather);
            }
            self.courtesy.before_batch();
            match self.shared.queue.next(max_batch, idle, &self.pacer) {
                Next::Batch(batch) => {
                    if let Err(Fatal(reason)) = self.commit(batch) {
                        self.stop(reason);
                        return;
                    }
                }
                Next::Idle => {}
                Next::Closed => break,
            }
            if Instant::now() >= next_retention {
                self.retain();
                next_retention = Instant::now() + interval;
            }
        }
        if !self.shared.config.fsync {
            // Without per-batch fsync, a clean close still leaves the data on disk.
            if let Err(e) = self.active.file.sync_data() {
                let path = self.active.path.display();
                tracing::warn!(segment = %path, error = %e, "final fsync on close failed");
            }
        }
    }

    fn retain(&self) {
        if let Err(e) = self.shared.enforce_retention() {
            tracing::warn!(error = %e, "applying log retention failed");
        }
    }

    /// Writes, syncs and publishes one batch, then completes its waiters.
    fn commit(&mut self, batch: Vec<AppendRequest>) -> Result<(), Fatal> {
        let bytes: usize = batch.iter().map(|r| r.bytes).sum();
        let shared = self.shared.clone();
        let config = &shared.config;
        if self.active.len > 0
            && self.active.len + bytes as u64 > config.segment_bytes
            && let Err(e) = self.roll()
        {
            self.fail(batch, bytes, e);
            return Ok(());
        }
        let timestamp_ms = config.clock.now_ms().max(self.last_ts);
        let Active { path, file, len } = &self.active;
        let (path, file, start) = (path.clone(), file.clone(), *len);

        let started = Instant::now();
        let (positions, offset, end) = match self.write_frames(&batch, &file, start, timestamp_ms) {
            Ok(written) => written,
            Err(failure) => {
                let error = match failure {
                    WriteFailure::TooLarge(error) => error,
                    WriteFailure::Io(e) => LogError::io("write segment", &*path, e),
                };
                if let Err(rollback) = file.set_len(start) {
                    return Err(self.fail_batch(
                        batch,
                        bytes,
                        format!(
                            "writing {} failed ({error}) and truncating it back failed too ({rollback})",
                            path.display()
                        ),
                    ));
                }
                self.fail(batch, bytes, error);
                return Ok(());
            }
        };
        self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);
        if config.fsync {
            let sync_started = Instant::now();
            self.spacing.syncing(sync_started);
            if let Err(e) = file.sync_data() {
                return Err(self.fail_batch(
                    batch,
                    bytes,
                    format!("fdatasync of {} failed: {e}", path.display()),
                ));
            }
            self.shared.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
            if let Some(observer) = &config.sync_observer {
                observer.observe(sync_started.elapsed());
            }
        }
        self.pacer.committed(batch.len(), started.elapsed());
        self.courtesy.committed(batch.len());

        let first = self.next_offset;
        self.active.len = end;
        self.next_offset = offset;
        self.last_ts = timestamp_ms;
        self.publish(&batch, positions, first, timestamp_ms);
        self.shared
            .stats
            .records
            .fetch_add(offset - first, Ordering::Relaxed);

        // No longer pending once durable and published; release before waking the waiters.
        self.shared.pending.fetch_sub(bytes, Ordering::AcqRel);
        let mut next = first;
        for request in batch {
            let count = request.payloads.len() as u64;
            // A dropped receiver means the caller stopped waiting; the records stay appended.
            let _ = request.done.send(Ok(next));
            next += count;
        }
        if let Some(spares) = &mut self.spares {
            spares.want(self.active.len);
        }
        Ok(())
    }

    /// Frames the batch's records and writes them at `start`, at most [`WRITE_CHUNK`] bytes per
    /// write, so the buffer stays small however large the batch. Returns each record's position,
    /// the offset after the last record and the file position after it.
    fn write_frames(
        &mut self,
        batch: &[AppendRequest],
        file: &File,
        start: u64,
        timestamp_ms: i64,
    ) -> Result<(Vec<u32>, Offset, u64), WriteFailure> {
        let mut positions = Vec::with_capacity(batch.len());
        let mut offset = self.next_offset;
        let mut written = start;
        self.buf.clear();
        for payload in batch.iter().flat_map(|request| &request.payloads) {
            let position = written + self.buf.len() as u64;
            let position = u32::try_from(position).map_err(|_| {
                WriteFailure::TooLarge(LogError::TooLarge {
                    what: "segment",
                    size: usize::try_from(position).unwrap_or(usize::MAX),
                    limit: u32::MAX as usize,
                })
            })?;
            positions.push(position);
            frame::encode(&mut self.buf, offset, timestamp_ms, payload);
            offset += 1;
            if self.buf.len() >= WRITE_CHUNK {
                file.write_all_at(&self.buf, written)
                    .map_err(WriteFailure::Io)?;
                written += self.buf.len() as u64;
                self.buf.clear();
            }
        }
        file.write_all_at(&self.buf, written)
            .map_err(WriteFailure::Io)?;
        Ok((positions, offset, written + self.buf.len() as u64))
    }

    /// Makes durable records visible: index first, then tail cache, then the head.
    fn publish(&self, batch: &[AppendRequest], positions: Vec<u32>, first: Offset, ts: i64) {
        {
            let mut segments = write(&self.shared.segments);
            if let Some(active) = segments.segments.back_mut() {
                active.positions.extend_from_slice(&positions);
                active.data_end = self.active.len;
                active.file_bytes = self.active.len;
                active.max_ts = ts;
            }
        }
        let cache_limit = self.shared.config.read_cache_bytes as u64;
        if cache_limit > 0 {
            let mut cache = write(&self.shared.cache);
            let records = batch.iter().flat_map(|r| r.payloads.iter());
            for (offset, payload) in (first..).zip(records) {
                cache.push(LogRecord {
                    offset,
                    timestamp_ms: ts,
                    payload: payload.clone(),
                });
            }
            cache.evict_to(cache_limit);
        }
        self.shared.head.store(self.next_offset, Ordering::Release);
        self.shared.head_tx.send_replace(self.next_offset);
    }

    /// Starts a new active segment at the next offset (the spare when one is ready), then
    /// applies retention.
    fn roll(&mut self) -> Result<(), LogError> {
        let shared = &self.shared;
        let spare = match &mut self.spares {
            Some(spares) => spares.take(self.next_offset)?,
            None => None,
        };
        let segment = match spare {
            Some(segment) => segment,
            None => create_segment(&shared.dir, self.next_offset, shared.config.fsync)?,
        };
        // Give back what is left of a spare's zeros (recovery reads them as the end anyway).
        if let Err(e) = self.active.file.set_len(self.active.len) {
            let path = self.active.path.display();
            tracing::warn!(segment = %path, error = %e, "trimming a full segment failed");
        }
        tracing::debug!(segment = %segment.path.display(), "rolled to a new segment");
        self.active = Active {
            path: segment.path.clone(),
            file: segment.file.clone(),
            len: 0,
        };
        write(&shared.segments).segments.push_back(segment);
        self.retain();
        Ok(())
    }

    /// Completes every request of a batch that was not appended with `error`.
    fn fail(&self, batch: Vec<AppendRequest>, bytes: usize, error: LogError) {
        self.shared.pending.fetch_sub(bytes, Ordering::AcqRel);
        for request in batch {
            let _ = request.done.send(Err(error.duplicate()));
        }
    }

    /// Fails a batch with a fatal failure and returns it for [`Writer::stop`].
    fn fail_batch(&self, batch: Vec<AppendRequest>, bytes: usize, reason: String) -> Fatal {
        let error = LogError::WriterFailed {
            reason: reason.clone(),
        };
        self.fail(batch, bytes, error);
        Fatal(reason)
    }

    /// Records a fatal failure, refuses further appends and fails everything still queued.
    fn stop(&self, reason: String) {
        tracing::error!(reason = %reason, "event log writer stopped; reopen the log to recover");
        *lock(&self.shared.failure) = Some(reason.clone());
        for request in self.shared.queue.close_and_drain() {
            self.shared
                .pending
                .fetch_sub(request.bytes, Ordering::AcqRel);
            let _ = request.done.send(Err(LogError::WriterFailed {
                reason: reason.clone(),
            }));
        }
    }
}
