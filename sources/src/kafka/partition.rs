//! The state of one assigned partition: records read but not started, deliveries in flight, the
//! low watermark that may be committed, and whether the partition is paused.
//!
//! Records are started in offset order. The committable position is the first offset whose
//! outcome is not final (records after it may be final already in unordered mode), so a commit
//! never skips an event.
//!
//! Flow control: a partition is paused once [`PENDING_HIGH`] records wait to start — or
//! [`PENDING_LOW`] while the sink pushes back — and resumed when no more than [`PENDING_LOW`]
//! wait and the sink accepts events again. librdkafka then fetches again from the record after
//! the last one it handed over (records it had fetched past that are dropped at the pause), so
//! pausing loses and repeats nothing. The gap between the two marks keeps pausing rare while the
//! sink keeps up.

use std::collections::VecDeque;

use herald_triggers::dispatch::watermark::Watermark;

use crate::binding::kafka::KafkaMessage;

/// Records waiting to start at which a partition is paused.
pub const PENDING_HIGH: usize = 1024;
/// Records waiting to start at which a paused partition is resumed, and at which it is paused
/// while the sink pushes back.
pub const PENDING_LOW: usize = 256;

/// One record read from a partition.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) offset: i64,
    pub(crate) timestamp_ms: Option<i64>,
    pub(crate) message: KafkaMessage,
}

/// An assigned partition.
#[derive(Debug)]
pub(crate) struct Partition {
    /// Distinguishes this assignment from earlier ones of the same partition, so results of
    /// deliveries started before a revocation are ignored.
    pub(crate) epoch: u64,
    pending: VecDeque<Record>,
    watermark: Option<Watermark>,
    in_flight: usize,
    paused: bool,
    committed: Option<u64>,
}

impl Partition {
    pub(crate) fn new(epoch: u64) -> Partition {
        Partition {
            epoch,
            pending: VecDeque::new(),
            watermark: None,
            in_flight: 0,
            paused: false,
            committed: None,
        }
    }

    /// A record was read.
    pub(crate) fn push(&mut self, record: Record) {
        if self.watermark.is_none() {
            self.watermark = Some(Watermark::new(offset_u64(record.offset)));
        }
        self.pending.push_back(record);
    }

    /// Whether a record is waiting and fewer than `window` are in flight.
    pub(crate) fn can_start(&self, window: usize) -> bool {
        !self.pending.is_empty() && self.in_flight < window
    }

    /// Takes the next record to deliver (call only after [`Partition::can_start`]).
    pub(crate) fn start(&mut self) -> Option<Record> {
        let record = self.pending.pop_front()?;
        if let Some(watermark) = &mut self.watermark {
            watermark.start(offset_u64(record.offset));
        }
        self.in_flight += 1;
        Some(record)
    }

    /// The delivery of `offset` ended; `settled` when its outcome is final.
    pub(crate) fn finish(&mut self, offset: i64, settled: bool) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if settled && let Some(watermark) = &mut self.watermark {
            watermark.finish(offset_u64(offset));
        }
    }

    /// Whether the partition should be paused now (and marks it paused).
    pub(crate) fn should_pause(&mut self, pushback: bool) -> bool {
        let limit = if pushback { PENDING_LOW } else { PENDING_HIGH };
        let pause = !self.paused && self.pending.len() >= limit;
        self.paused |= pause;
        pause
    }

    /// Whether the partition should be resumed now (and marks it running).
    pub(crate) fn should_resume(&mut self, pushback: bool) -> bool {
        let resume = self.paused && !pushback && self.pending.len() <= PENDING_LOW;
        self.paused &= !resume;
        resume
    }

    /// The offset to commit (the next one to consume), when it moved since the last call.
    pub(crate) fn take_commit(&mut self) -> Option<i64> {
        let position = self.watermark.as_ref()?.position();
        if self.committed == Some(position) {
            return None;
        }
        self.committed = Some(position);
        i64::try_from(position).ok()
    }

    /// The committable position, whether or not it was committed.
    pub(crate) fn position(&self) -> Option<i64> {
        self.watermark
            .as_ref()
            .and_then(|w| i64::try_from(w.position()).ok())
    }
}

/// Offsets of records are never negative.
fn offset_u64(offset: i64) -> u64 {
    u64::try_from(offset).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64) -> Record {
        Record {
            offset,
            timestamp_ms: None,
            message: KafkaMessage::default(),
        }
    }

    #[test]
    fn commit_position_is_the_oldest_unfinished_record() {
        let mut p = Partition::new(1);
        assert_eq!(p.take_commit(), None);
        for offset in 10..14 {
            p.push(record(offset));
        }
        assert!(p.can_start(2));
        let a = p.start().unwrap();
        let b = p.start().unwrap();
        assert!(!p.can_start(2), "window of two is full");
        assert_eq!(p.take_commit(), Some(10));
        p.finish(b.offset, true);
        assert_eq!(p.take_commit(), None, "10 is still in flight");
        p.finish(a.offset, true);
        assert_eq!(p.take_commit(), Some(12));
        let c = p.start().unwrap();
        p.finish(c.offset, false);
        assert_eq!(
            p.position(),
            Some(12),
            "an interrupted delivery holds the position"
        );
    }

    fn drain_to(p: &mut Partition, pending: usize) {
        while p.pending.len() > pending {
            let r = p.start().unwrap();
            p.finish(r.offset, true);
        }
    }

    #[test]
    fn pauses_at_the_high_mark_and_resumes_at_the_low_mark() {
        let mut p = Partition::new(1);
        for offset in 0..PENDING_HIGH as i64 {
            assert!(!p.should_pause(false));
            p.push(record(offset));
        }
        assert!(p.should_pause(false));
        assert!(!p.should_pause(false), "already paused");
        drain_to(&mut p, PENDING_LOW + 1);
        assert!(!p.should_resume(false));
        drain_to(&mut p, PENDING_LOW);
        assert!(!p.should_resume(true), "not while the sink pushes back");
        assert!(p.should_resume(false));
        assert!(!p.should_resume(false));
    }

    #[test]
    fn pushback_pauses_at_the_low_mark() {
        let mut p = Partition::new(1);
        for offset in 0..PENDING_LOW as i64 {
            p.push(record(offset));
        }
        assert!(!p.should_pause(false));
        assert!(p.should_pause(true));
    }
}
