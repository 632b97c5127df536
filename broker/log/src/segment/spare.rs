//! The spare segment: a zero-filled file made ahead of time by a background thread, which the
//! writer renames into place when it rolls to a new segment.
//!
//! Group commit writes into the spare's blocks, which are already allocated, written and inside
//! the file's size, so each `fdatasync` flushes data alone: no inode update, no allocation
//! metadata. On this project's ext4 VM that took a sync from 150–215 µs to about 100 µs, and its
//! CPU from 50–70 µs to about 32 µs (fallocate'd, unwritten blocks saved nothing).
//!
//! The spare is asked for once the active segment is a quarter full, so a log that is written
//! little never makes one. A roll with no spare ready creates an empty segment as before, and
//! recovery reads a zero-filled tail as the end of the data (see `recovery`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::error::LogError;
use crate::fsutil::sync_dir;

use super::index::{Segment, segment_file_name};

/// The spare's file name (not a segment name, so recovery never lists it).
pub(super) const SPARE_FILE: &str = "next-segment.spare";
/// The largest spare; a segment grows past it by plain appends.
const MAX_SPARE_BYTES: u64 = 128 << 20;
/// Zeros written per call while filling.
const FILL_CHUNK: usize = 1 << 20;

/// Makes and hands out spare segment files for one log directory.
pub(super) struct Spares {
    dir: PathBuf,
    bytes: u64,
    making: Option<JoinHandle<std::io::Result<File>>>,
    stop: Arc<AtomicBool>,
}

impl Spares {
    /// Spares of `segment_bytes` (at most [`MAX_SPARE_BYTES`]) in `dir`.
    pub(super) fn new(dir: &Path, segment_bytes: u64) -> Spares {
        Spares {
            dir: dir.to_path_buf(),
            bytes: segment_bytes.min(MAX_SPARE_BYTES),
            making: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts making a spare when the active segment holds `active_len` bytes, at least a
    /// quarter of a segment, and none is being made or waiting.
    pub(super) fn want(&mut self, active_len: u64) {
        if self.making.is_some() || active_len < self.bytes / 4 {
            return;
        }
        let path = self.dir.join(SPARE_FILE);
        let (bytes, stop) = (self.bytes, self.stop.clone());
        let spawned = std::thread::Builder::new()
            .name("herald-log-spare".to_owned())
            .spawn(move || fill(&path, bytes, &stop));
        match spawned {
            Ok(handle) => self.making = Some(handle),
            Err(e) => tracing::warn!(error = %e, "cannot start making a spare segment"),
        }
    }

    /// The segment starting at `base`, made from the spare when one is ready; `None` when there
    /// is none (the caller creates an empty segment).
    pub(super) fn take(&mut self, base: u64) -> Result<Option<Segment>, LogError> {
        if !self.making.as_ref().is_some_and(JoinHandle::is_finished) {
            return Ok(None);
        }
        let Some(file) = self.making.take().and_then(|handle| match handle.join() {
            Ok(Ok(file)) => Some(file),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "making a spare segment failed; rolling without one");
                None
            }
            Err(_) => None,
        }) else {
            return Ok(None);
        };
        let spare = self.dir.join(SPARE_FILE);
        let path = self.dir.join(segment_file_name(base));
        std::fs::rename(&spare, &path).map_err(|e| LogError::io("rename spare to", &path, e))?;
        sync_dir(&self.dir)?;
        Ok(Some(Segment::new(base, path, file)))
    }
}

impl Drop for Spares {
    /// Stops a spare being made and waits for its thread.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.making.take() {
            let _ = handle.join();
        }
    }
}

/// Creates (or replaces) the spare at `path`, `bytes` of zeros made durable.
fn fill(path: &Path, bytes: u64, stop: &AtomicBool) -> std::io::Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; FILL_CHUNK];
    let mut left = bytes;
    while left > 0 {
        if stop.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the log closed"));
        }
        let n = usize::try_from(left).unwrap_or(FILL_CHUNK).min(FILL_CHUNK);
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_data()?;
    Ok(file)
}
