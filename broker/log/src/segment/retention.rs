//! Retention of a segment log: deleting whole closed segments by age and by total size.
//!
//! The active (last) segment is never deleted. A closed segment is deleted when its newest record
//! is older than `retention_age`, or, oldest first, while the log is larger than
//! `retention_bytes`. The index entry goes first (so readers stop finding it), then the file is
//! unlinked; a reader already holding the file handle finishes its read unharmed.

use std::fs;
use std::sync::atomic::Ordering;

use crate::Offset;
use crate::clock::duration_ms;
use crate::error::LogError;
use crate::sync::write;

use super::Shared;
use super::index::{Segment, SegmentList};

impl Shared {
    /// Applies retention now; returns the new earliest offset.
    pub(super) fn enforce_retention(&self) -> Result<Offset, LogError> {
        let now = self.config.clock.now_ms();
        let (removed, earliest) = {
            let mut segments = write(&self.segments);
            let removed = self.expired_segments(&mut segments, now);
            let earliest = segments.segments.front().map_or(0, |s| s.base);
            self.earliest.store(earliest, Ordering::Release);
            (removed, earliest)
        };
        if removed.is_empty() {
            return Ok(earliest);
        }
        write(&self.cache).drop_before(earliest);
        let mut first_error = None;
        for segment in removed {
            tracing::info!(
                segment = %segment.path.display(),
                records = segment.positions.len(),
                bytes = segment.file_bytes,
                "retention deleted a segment"
            );
            if let Err(e) = fs::remove_file(&segment.path) {
                tracing::warn!(segment = %segment.path.display(), error = %e, "deleting an expired segment failed");
                first_error.get_or_insert(LogError::io("delete segment", &*segment.path, e));
            }
        }
        first_error.map_or(Ok(earliest), Err)
    }

    /// Takes the segments due for deletion off the front of the list.
    fn expired_segments(&self, segments: &mut SegmentList, now_ms: i64) -> Vec<Segment> {
        let cutoff = self
            .config
            .retention_age
            .map(|age| now_ms.saturating_sub(duration_ms(age)));
        let mut total = segments.total_bytes();
        let mut removed = Vec::new();
        while segments.segments.len() > 1 {
            let Some(oldest) = segments.segments.front() else {
                break;
            };
            let too_old = cutoff.is_some_and(|cutoff| oldest.max_ts < cutoff);
            let too_big = self
                .config
                .retention_bytes
                .is_some_and(|limit| total > limit);
            if !too_old && !too_big {
                break;
            }
            let Some(oldest) = segments.segments.pop_front() else {
                break;
            };
            total -= oldest.file_bytes;
            removed.push(oldest);
        }
        removed
    }
}
