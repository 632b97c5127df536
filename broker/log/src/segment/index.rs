//! The in-memory index of a segment log: the list of segments, each with the byte position of
//! every valid record, and the planning of reads against it.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Offset;

const SEGMENT_SUFFIX: &str = ".log";
const SEGMENT_NAME_DIGITS: usize = 20;

/// The file name of the segment whose first record has offset `base`.
pub(super) fn segment_file_name(base: Offset) -> String {
    format!(
        "{base:0width$}{SEGMENT_SUFFIX}",
        width = SEGMENT_NAME_DIGITS
    )
}

/// The base offset encoded in a segment file name, or `None` for other files.
pub(super) fn parse_segment_file_name(name: &str) -> Option<Offset> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One segment file and the positions of its valid records.
pub(super) struct Segment {
    /// Offset of the first record.
    pub(super) base: Offset,
    pub(super) path: Arc<Path>,
    pub(super) file: Arc<File>,
    /// Byte position of each valid record; record `base + i` starts at `positions[i]`.
    pub(super) positions: Vec<u32>,
    /// End of the last valid record.
    pub(super) data_end: u64,
    /// Bytes the file occupies (counted by size retention).
    pub(super) file_bytes: u64,
    /// Timestamp of the newest record; `i64::MIN` when there is none.
    pub(super) max_ts: i64,
}

impl Segment {
    pub(super) fn new(base: Offset, path: PathBuf, file: File) -> Segment {
        Segment {
            base,
            path: path.into(),
            file: Arc::new(file),
            positions: Vec::new(),
            data_end: 0,
            file_bytes: 0,
            max_ts: i64::MIN,
        }
    }

    /// One past the last valid record.
    pub(super) fn end(&self) -> Offset {
        self.base + self.positions.len() as u64
    }

    /// Byte position where record number `index` (relative to `base`) ends.
    fn record_end(&self, index: usize) -> u64 {
        self.positions
            .get(index + 1)
            .map_or(self.data_end, |&p| u64::from(p))
    }
}

/// A contiguous run of frames to fetch with one positional read.
pub(super) struct ReadPlan {
    pub(super) path: Arc<Path>,
    pub(super) file: Arc<File>,
    /// Offset of the first frame.
    pub(super) first: Offset,
    /// Number of frames.
    pub(super) count: usize,
    /// Byte position of the first frame.
    pub(super) start: u64,
    /// Bytes to read.
    pub(super) len: u64,
}

/// What a time lookup needs to binary-search one segment without holding the index lock.
pub(super) struct TimeSearch {
    pub(super) path: Arc<Path>,
    pub(super) file: Arc<File>,
    pub(super) base: Offset,
    pub(super) positions: Vec<u32>,
}

/// The segments of a log, oldest first; the last one is the active segment.
#[derive(Default)]
pub(super) struct SegmentList {
    pub(super) segments: VecDeque<Segment>,
}

impl SegmentList {
    pub(super) fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.file_bytes).sum()
    }

    /// Plans reading up to `max` records from `from` (or from the next record served after it, when
    /// `from` falls in a range that is not served), staying within one segment and, beyond the
    /// first record, within about `max_bytes`.
    pub(super) fn plan_read(&self, from: Offset, max: usize, max_bytes: u64) -> Option<ReadPlan> {
        let segment = self
            .segments
            .iter()
            .find(|s| s.end() > from && !s.positions.is_empty())?;
        let first = from.max(segment.base);
        let index = usize::try_from(first - segment.base).ok()?;
        let start = u64::from(*segment.positions.get(index)?);
        let within_bytes =
            segment.positions[index..].partition_point(|&p| u64::from(p) - start < max_bytes);
        let count = max.min(within_bytes);
        if count == 0 {
            return None;
        }
        Some(ReadPlan {
            path: segment.path.clone(),
            file: segment.file.clone(),
            first,
            count,
            start,
            len: segment.record_end(index + count - 1) - start,
        })
    }

    /// The segment holding the first record with a timestamp at or after `ts`, if any.
    pub(super) fn plan_time_search(&self, ts: i64) -> Option<TimeSearch> {
        let segment = self
            .segments
            .iter()
            .find(|s| !s.positions.is_empty() && s.max_ts >= ts)?;
        Some(TimeSearch {
            path: segment.path.clone(),
            file: segment.file.clone(),
            base: segment.base,
            positions: segment.positions.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_reject_strangers() {
        assert_eq!(segment_file_name(42), "00000000000000000042.log");
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        for other in [
            "log.lock",
            "42.log",
            "0000000000000000004x.log",
            "00000000000000000042.tmp",
        ] {
            assert_eq!(parse_segment_file_name(other), None, "{other}");
        }
    }

    fn segment(base: Offset, positions: Vec<u32>, data_end: u64) -> Segment {
        let file = tempfile::tempfile().expect("temp file");
        let mut s = Segment::new(base, PathBuf::from("test.log"), file);
        s.positions = positions;
        s.data_end = data_end;
        s
    }

    #[test]
    fn read_plans_stay_in_one_segment_and_skip_gaps() {
        let mut list = SegmentList::default();
        list.segments.push_back(segment(0, vec![0, 30, 60], 90));
        // Offsets 3..10 are not served (e.g. cut by corruption); the next segment starts at 10.
        list.segments.push_back(segment(10, vec![0, 40], 80));

        let plan = list.plan_read(1, 10, 1 << 20).expect("plan");
        assert_eq!(
            (plan.first, plan.count, plan.start, plan.len),
            (1, 2, 30, 60)
        );

        let plan = list.plan_read(5, 10, 1 << 20).expect("plan");
        assert_eq!(
            (plan.first, plan.count, plan.start, plan.len),
            (10, 2, 0, 80)
        );

        // The byte cap limits the count but always admits the first record.
        let plan = list.plan_read(0, 10, 1).expect("plan");
        assert_eq!((plan.first, plan.count, plan.len), (0, 1, 30));

        assert!(list.plan_read(12, 10, 1 << 20).is_none());
        assert!(list.plan_read(0, 0, 1 << 20).is_none());
    }
}
