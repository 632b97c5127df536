//! The low watermark of a Trigger's progress: the first log offset whose outcome is not yet final.
//! With many deliveries in flight, the committed position may only move up to the oldest of them.

use std::collections::BTreeSet;

/// Tracks offsets read from the log and those still in flight.
#[derive(Debug, Default)]
pub struct Watermark {
    in_flight: BTreeSet<u64>,
    /// One past the last offset read (and either skipped or started).
    read_upto: u64,
}

impl Watermark {
    /// Starts at `position`: everything before it is final.
    pub fn new(position: u64) -> Watermark {
        Watermark {
            in_flight: BTreeSet::new(),
            read_upto: position,
        }
    }

    /// `offset` was read and needs no delivery (filtered out).
    pub fn skip(&mut self, offset: u64) {
        self.read_upto = self.read_upto.max(offset + 1);
    }

    /// Everything below `position` was read (matches among it are in flight or final).
    pub fn advance_to(&mut self, position: u64) {
        self.read_upto = self.read_upto.max(position);
    }

    /// Delivery of `offset` started.
    pub fn start(&mut self, offset: u64) {
        self.in_flight.insert(offset);
        self.skip(offset);
    }

    /// Delivery of `offset` reached a final outcome.
    pub fn finish(&mut self, offset: u64) {
        self.in_flight.remove(&offset);
    }

    /// The position to commit: every offset before it is final.
    pub fn position(&self) -> u64 {
        self.in_flight.first().copied().unwrap_or(self.read_upto)
    }

    /// How many deliveries are in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_is_the_oldest_unfinished_offset() {
        let mut w = Watermark::new(10);
        assert_eq!(w.position(), 10);
        w.start(10);
        w.skip(11);
        w.start(12);
        assert_eq!(w.position(), 10);
        w.finish(12);
        assert_eq!(w.position(), 10);
        w.finish(10);
        assert_eq!(w.position(), 13);
        assert_eq!(w.in_flight(), 0);
    }
}
