//! [`RecordRing`]: a run of consecutive records in memory, oldest first. It is the whole store of a
//! [`MemoryLog`](crate::MemoryLog) and the tail cache of a [`SegmentLog`](crate::SegmentLog).

use std::collections::VecDeque;

use crate::frame::HEADER_LEN;
use crate::{LogRecord, Offset};

/// Consecutive records `first..first + len`, with their size accounted as on disk
/// (payload plus record header).
#[derive(Default)]
pub(crate) struct RecordRing {
    records: VecDeque<LogRecord>,
    bytes: u64,
}

fn stored_size(record: &LogRecord) -> u64 {
    (record.payload.len() + HEADER_LEN) as u64
}

impl RecordRing {
    /// Total stored size of the records held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn front(&self) -> Option<&LogRecord> {
        self.records.front()
    }

    /// Appends `record`; if it does not directly follow the newest record held, the ring restarts
    /// from it so that it always holds a dense range.
    pub(crate) fn push(&mut self, record: LogRecord) {
        if self
            .records
            .back()
            .is_some_and(|last| last.offset + 1 != record.offset)
        {
            self.records.clear();
            self.bytes = 0;
        }
        self.bytes += stored_size(&record);
        self.records.push_back(record);
    }

    /// Removes and returns the oldest record.
    pub(crate) fn pop_front(&mut self) -> Option<LogRecord> {
        let record = self.records.pop_front()?;
        self.bytes -= stored_size(&record);
        Some(record)
    }

    /// Drops the oldest records until the ring holds at most `limit` bytes.
    pub(crate) fn evict_to(&mut self, limit: u64) {
        while self.bytes > limit && self.pop_front().is_some() {}
    }

    /// Drops every record before `offset`.
    pub(crate) fn drop_before(&mut self, offset: Offset) {
        while self.front().is_some_and(|r| r.offset < offset) {
            self.pop_front();
        }
    }

    /// Up to `max` records from `from`, or `None` when `from` lies before the oldest record held
    /// (or the ring is empty). A `from` past the newest record yields an empty list.
    pub(crate) fn read(&self, from: Offset, max: usize) -> Option<Vec<LogRecord>> {
        let first = self.front()?.offset;
        let skip = usize::try_from(from.checked_sub(first)?).ok()?;
        Some(self.records.iter().skip(skip).take(max).cloned().collect())
    }

    /// The offset of the first record held with `timestamp_ms >= ts`; `None` when no record held
    /// qualifies. Relies on timestamps never decreasing along the log.
    pub(crate) fn first_at_or_after(&self, ts: i64) -> Option<Offset> {
        let index = self.records.partition_point(|r| r.timestamp_ms < ts);
        self.records.get(index).map(|r| r.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(offset: Offset, ts: i64) -> LogRecord {
        LogRecord {
            offset,
            timestamp_ms: ts,
            payload: Bytes::from(vec![0u8; 10]),
        }
    }

    #[test]
    fn reads_index_by_offset_and_refuse_evicted_ranges() {
        let mut ring = RecordRing::default();
        for o in 5..10 {
            ring.push(record(o, o as i64));
        }
        assert_eq!(ring.bytes(), 5 * 34);
        let got = ring.read(7, 2).expect("in range");
        assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [7, 8]);
        assert!(ring.read(4, 10).is_none());
        assert_eq!(ring.read(10, 10).map(|v| v.len()), Some(0));
        ring.evict_to(3 * 34);
        assert_eq!(ring.front().map(|r| r.offset), Some(7));
        ring.drop_before(9);
        assert_eq!(ring.front().map(|r| r.offset), Some(9));
    }

    #[test]
    fn a_gap_restarts_the_ring() {
        let mut ring = RecordRing::default();
        ring.push(record(1, 0));
        ring.push(record(3, 0));
        assert_eq!(ring.front().map(|r| r.offset), Some(3));
        assert_eq!(ring.bytes(), 34);
    }

    #[test]
    fn time_lookup_finds_the_first_record_at_or_after() {
        let mut ring = RecordRing::default();
        for (o, ts) in [(0, 10), (1, 20), (2, 20), (3, 30)] {
            ring.push(record(o, ts));
        }
        assert_eq!(ring.first_at_or_after(5), Some(0));
        assert_eq!(ring.first_at_or_after(20), Some(1));
        assert_eq!(ring.first_at_or_after(21), Some(3));
        assert_eq!(ring.first_at_or_after(31), None);
    }
}
