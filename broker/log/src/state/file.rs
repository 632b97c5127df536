//! [`FileStateStore`]: the durable state store — an append-only journal replayed into memory on
//! open, written by one thread with group commit, and compacted by atomic rename.
//!
//! Files in its directory: `state.journal` (the journal), `state.journal.compact` (a compaction in
//! progress; removed on open if a crash left it behind) and `state.lock` (held while open).
//!
//! Compaction runs when the journal exceeds both 64 KiB and four times the bytes of the live
//! entries: the live entries are written to the
//! compaction file, synced, renamed over the journal, and the directory is synced. A crash at any
//! point leaves either the old or the new journal, both complete.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::StateStore;
use crate::commit::{CommitQueue, Next, Pacer, Weighted};
use crate::error::LogError;
use crate::fsutil::{self, blocking};
use crate::sync::{lock, read, write};

use super::journal::{self, Op};

const JOURNAL_FILE: &str = "state.journal";
const COMPACT_FILE: &str = "state.journal.compact";
const LOCK_FILE: &str = "state.lock";
/// Journals smaller than this are never compacted.
const COMPACT_MIN_BYTES: u64 = 64 * 1024;
/// The journal is compacted once it is this many times larger than its live entries.
const COMPACT_RATIO: u64 = 4;
const MAX_BATCH_BYTES: usize = 4 << 20;
/// The writer has no periodic work; this only bounds how long it sleeps between checks.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

struct Request {
    op: Op,
    /// Whether the write waits for an fsync (see [`StateStore::put_relaxed`]).
    durable: bool,
    done: oneshot::Sender<Result<(), LogError>>,
}

impl Weighted for Request {
    fn weight(&self) -> usize {
        self.op.encoded_len()
    }
}

struct Shared {
    dir: PathBuf,
    fsync: bool,
    queue: CommitQueue<Request>,
    map: RwLock<BTreeMap<String, Bytes>>,
    failure: Mutex<Option<String>>,
    _dir_lock: File,
}

/// The durable state store.
pub struct FileStateStore {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl FileStateStore {
    /// Opens (creating if needed) the store in `dir` and replays its journal, cutting a torn or
    /// corrupt tail. With `fsync` false, writes are acknowledged once handed to the OS.
    pub async fn open(dir: impl AsRef<Path>, fsync: bool) -> Result<Arc<FileStateStore>, LogError> {
        let dir = dir.as_ref().to_path_buf();
        blocking(move || Self::open_blocking(dir, fsync)).await
    }

    fn open_blocking(dir: PathBuf, fsync: bool) -> Result<Arc<FileStateStore>, LogError> {
        fsutil::create_dir(&dir)?;
        let dir_lock = fsutil::lock_dir(&dir, LOCK_FILE)?;
        let leftover = dir.join(COMPACT_FILE);
        if leftover.exists() {
            fs::remove_file(&leftover)
                .map_err(|e| LogError::io("remove unfinished compaction", &leftover, e))?;
        }
        let path = dir.join(JOURNAL_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LogError::io("open journal", &path, e))?;
        let data = fs::read(&path).map_err(|e| LogError::io("read journal", &path, e))?;
        let replay = journal::replay(&data);
        if let Some(fault) = &replay.fault {
            tracing::warn!(
                journal = %path.display(),
                cut_from_byte = replay.valid_len,
                cut_bytes = data.len() as u64 - replay.valid_len,
                reason = %fault,
                "cutting the damaged tail of the state journal"
            );
            file.set_len(replay.valid_len)
                .map_err(|e| LogError::io("truncate journal", &path, e))?;
        }
        if fsync {
            file.sync_all()
                .map_err(|e| LogError::io("fsync journal", &path, e))?;
            fsutil::sync_dir(&dir)?;
        }
        let shared = Arc::new(Shared {
            dir,
            fsync,
            queue: CommitQueue::new(),
            map: RwLock::new(replay.map),
            failure: Mutex::new(None),
            _dir_lock: dir_lock,
        });
        let writer = JournalWriter {
            shared: shared.clone(),
            path,
            file,
            journal_bytes: replay.valid_len,
            live_bytes: replay.live_bytes,
            buf: Vec::new(),
            pacer: Pacer::new(),
            unsynced: false,
        };
        let handle = std::thread::Builder::new()
            .name("herald-state-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(|e| LogError::io("start writer thread for", &shared.dir, e))?;
        Ok(Arc::new(FileStateStore {
            shared,
            writer: Mutex::new(Some(handle)),
        }))
    }

    async fn submit(&self, op: Op, durable: bool) -> Result<(), LogError> {
        let (done, outcome) = oneshot::channel();
        if self
            .shared
            .queue
            .push(Request { op, durable, done })
            .is_err()
        {
            return Err(match lock(&self.shared.failure).clone() {
                Some(reason) => LogError::WriterFailed { reason },
                None => LogError::Closed,
            });
        }
        outcome.await.map_err(|_| LogError::WriterFailed {
            reason: "the state writer exited without acknowledging the write".to_owned(),
        })?
    }
}

impl Drop for FileStateStore {
    /// Without [`StateStore::close`], the writer still finishes what is queued, then exits.
    fn drop(&mut self) {
        self.shared.queue.close();
    }
}

#[async_trait::async_trait]
impl StateStore for FileStateStore {
    async fn put(&self, key: &str, value: Bytes) -> Result<(), LogError> {
        super::check_entry(key, Some(&value))?;
        self.submit(Op::Put(key.to_owned(), value), true).await
    }

    async fn put_relaxed(&self, key: &str, value: Bytes) -> Result<(), LogError> {
        super::check_entry(key, Some(&value))?;
        self.submit(Op::Put(key.to_owned(), value), false).await
    }

    async fn delete(&self, key: &str) -> Result<(), LogError> {
        super::check_entry(key, None)?;
        self.submit(Op::Delete(key.to_owned()), true).await
    }

    fn get(&self, key: &str) -> Option<Bytes> {
        read(&self.shared.map).get(key).cloned()
    }

    fn scan_prefix(&self, prefix: &str) -> Vec<(String, Bytes)> {
        super::scan_prefix(&read(&self.shared.map), prefix)
    }

    async fn close(&self) -> Result<(), LogError> {
        self.shared.queue.close();
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle {
            blocking(move || {
                handle.join().map_err(|_| {
                    LogError::TaskFailed("the state writer thread panicked".to_owned())
                })
            })
            .await?;
        }
        match lock(&self.shared.failure).clone() {
            Some(reason) => Err(LogError::WriterFailed { reason }),
            None => Ok(()),
        }
    }
}

/// The journal's single writer thread.
struct JournalWriter {
    shared: Arc<Shared>,
    path: PathBuf,
    file: File,
    journal_bytes: u64,
    live_bytes: u64,
    buf: Vec<u8>,
    pacer: Pacer,
    /// Written since the last fsync (relaxed writes, or every write without `fsync`).
    unsynced: bool,
}

impl JournalWriter {
    fn run(mut self) {
        loop {
            match self
                .shared
                .queue
                .next(MAX_BATCH_BYTES, IDLE_WAIT, &self.pacer)
            {
                Next::Batch(batch) => {
                    if let Err(reason) = self.commit(batch) {
                        self.stop(reason);
                        return;
                    }
                }
                Next::Idle => {}
                Next::Closed => break,
            }
        }
        if self.unsynced
            && let Err(e) = self.file.sync_data()
        {
            tracing::warn!(journal = %self.path.display(), error = %e, "final fsync on close failed");
        }
    }

    /// Writes and syncs one batch, applies it, completes its waiters, and compacts if due.
    /// An `Err` is a fatal failure.
    fn commit(&mut self, batch: Vec<Request>) -> Result<(), String> {
        self.buf.clear();
        for request in &batch {
            request.op.encode(&mut self.buf);
        }
        let started = Instant::now();
        if let Err(e) = self.file.write_all_at(&self.buf, self.journal_bytes) {
            if let Err(rollback) = self.file.set_len(self.journal_bytes) {
                let reason = format!(
                    "writing {} failed ({e}) and truncating it back failed too ({rollback})",
                    self.path.display()
                );
                fail_all(batch, &reason);
                return Err(reason);
            }
            let error = LogError::io("write journal", &self.path, e);
            for request in batch {
                let _ = request.done.send(Err(error.duplicate()));
            }
            return Ok(());
        }
        let sync = self.shared.fsync && batch.iter().any(|request| request.durable);
        if sync && let Err(e) = self.file.sync_data() {
            let reason = format!("fdatasync of {} failed: {e}", self.path.display());
            fail_all(batch, &reason);
            return Err(reason);
        }
        self.unsynced = !sync;
        self.pacer.committed(batch.len(), started.elapsed());
        self.journal_bytes += self.buf.len() as u64;
        let mut dones = Vec::with_capacity(batch.len());
        {
            let mut map = write(&self.shared.map);
            let mut live = i64::try_from(self.live_bytes).unwrap_or(i64::MAX);
            for request in batch {
                live += request.op.apply(&mut map);
                dones.push(request.done);
            }
            self.live_bytes = u64::try_from(live).unwrap_or(0);
        }
        for done in dones {
            let _ = done.send(Ok(()));
        }
        if self.journal_bytes > COMPACT_MIN_BYTES
            && self.journal_bytes > COMPACT_RATIO.saturating_mul(self.live_bytes)
        {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the live entries into a fresh journal. A failure before the rename leaves the old
    /// journal in place and is only logged; a failure after it is fatal.
    fn compact(&mut self) -> Result<(), String> {
        self.buf.clear();
        for (key, value) in read(&self.shared.map).iter() {
            Op::Put(key.clone(), value.clone()).encode(&mut self.buf);
        }
        let dir = &self.shared.dir;
        let tmp = dir.join(COMPACT_FILE);
        let written = File::create(&tmp).and_then(|mut f| {
            std::io::Write::write_all(&mut f, &self.buf)?;
            if self.shared.fsync {
                f.sync_all()?;
            }
            Ok(())
        });
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, &self.path)) {
            tracing::warn!(journal = %self.path.display(), error = %e, "state journal compaction failed; keeping the old journal");
            let _ = fs::remove_file(&tmp);
            return Ok(());
        }
        let reopened = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| {
                format!(
                    "reopening {} after compaction failed: {e}",
                    self.path.display()
                )
            })?;
        if self.shared.fsync {
            fsutil::sync_dir(dir).map_err(|e| e.to_string())?;
        }
        tracing::debug!(
            journal = %self.path.display(),
            before = self.journal_bytes,
            after = self.buf.len(),
            "compacted the state journal"
        );
        self.file = reopened;
        self.journal_bytes = self.buf.len() as u64;
        self.live_bytes = self.journal_bytes;
        Ok(())
    }

    /// Records a fatal failure, refuses further writes and fails everything still queued.
    fn stop(&self, reason: String) {
        tracing::error!(reason = %reason, "state store writer stopped; reopen the store to recover");
        *lock(&self.shared.failure) = Some(reason.clone());
        fail_all(self.shared.queue.close_and_drain(), &reason);
    }
}

fn fail_all(requests: Vec<Request>, reason: &str) {
    for request in requests {
        let _ = request.done.send(Err(LogError::WriterFailed {
            reason: reason.to_owned(),
        }));
    }
}
