//! Reads of a segment log: the tail cache first, then positional reads of segment files planned
//! under a brief index lock and performed without any lock held.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::error::LogError;
use crate::frame::{self, FrameFault, HEADER_LEN, Header};
use crate::fsutil::blocking;
use crate::sync::read as read_lock;
use crate::{LogRecord, Offset};

use super::Shared;
use super::index::{ReadPlan, TimeSearch};

/// Soft cap on the bytes fetched from disk by one read call.
const MAX_READ_BYTES: u64 = 8 << 20;

pub(super) async fn read(
    shared: &Arc<Shared>,
    from: Offset,
    max: usize,
) -> Result<Vec<LogRecord>, LogError> {
    let head = shared.head.load(Ordering::Acquire);
    let from = from.max(shared.earliest.load(Ordering::Acquire));
    if max == 0 || from >= head {
        return Ok(Vec::new());
    }
    if let Some(records) = read_lock(&shared.cache).read(from, max)
        && !records.is_empty()
    {
        return Ok(records);
    }
    let Some(plan) = read_lock(&shared.segments).plan_read(from, max, MAX_READ_BYTES) else {
        return Ok(Vec::new());
    };
    blocking(move || fetch(plan)).await
}

/// Reads and validates the frames of `plan`.
fn fetch(plan: ReadPlan) -> Result<Vec<LogRecord>, LogError> {
    let len = usize::try_from(plan.len).map_err(|_| LogError::TooLarge {
        what: "read",
        size: usize::MAX,
        limit: MAX_READ_BYTES as usize,
    })?;
    let mut buf = vec![0u8; len];
    plan.file
        .read_exact_at(&mut buf, plan.start)
        .map_err(|e| LogError::io("read segment", &*plan.path, e))?;
    let buf = Bytes::from(buf);
    let mut records = Vec::with_capacity(plan.count);
    let mut at = 0usize;
    for offset in (plan.first..).take(plan.count) {
        let (header, payload) =
            frame::decode(&buf[at..], offset).map_err(|fault| LogError::Corrupt {
                path: plan.path.to_path_buf(),
                position: plan.start + at as u64,
                reason: fault.to_string(),
            })?;
        records.push(LogRecord {
            offset,
            timestamp_ms: header.timestamp_ms,
            payload: buf.slice(at + payload.start..at + payload.end),
        });
        at += payload.end;
    }
    Ok(records)
}

pub(super) async fn offset_at_time(shared: &Arc<Shared>, ts: i64) -> Result<Offset, LogError> {
    let head = shared.head.load(Ordering::Acquire);
    {
        let cache = read_lock(&shared.cache);
        if cache.front().is_some_and(|r| r.timestamp_ms < ts) {
            return Ok(cache.first_at_or_after(ts).unwrap_or(head));
        }
    }
    let Some(search) = read_lock(&shared.segments).plan_time_search(ts) else {
        return Ok(head);
    };
    blocking(move || search_segment(search, ts)).await
}

/// Binary search over one segment's record headers for the first timestamp `>= ts`; the segment
/// is known to hold one.
fn search_segment(search: TimeSearch, ts: i64) -> Result<Offset, LogError> {
    let (mut low, mut high) = (0usize, search.positions.len());
    let mut header_bytes = [0u8; HEADER_LEN];
    while low < high {
        let mid = low + (high - low) / 2;
        let position = u64::from(search.positions[mid]);
        search
            .file
            .read_exact_at(&mut header_bytes, position)
            .map_err(|e| LogError::io("read segment", &*search.path, e))?;
        let header = Header::parse(&header_bytes);
        let expected = search.base + mid as u64;
        if header.offset != expected {
            let fault = FrameFault::WrongOffset {
                expected,
                found: header.offset,
            };
            return Err(LogError::Corrupt {
                path: search.path.to_path_buf(),
                position,
                reason: fault.to_string(),
            });
        }
        if header.timestamp_ms < ts {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    Ok(search.base + low as u64)
}
