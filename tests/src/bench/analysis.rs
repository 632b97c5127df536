//! Matches what the subscriber received against what the sender had accepted: every accepted
//! event must reach every matching Trigger exactly once (lost, duplicated), none may reach a
//! Trigger whose filter does not match (misrouted); end-to-end latency and the delivery rate
//! come from the same log, and so does how many slow events the machine's own pauses account for.

use super::clock::Clock;
use super::latency::LatencyHistogram;
use super::load::SendLog;
use super::pauses::PauseSpan;
use super::sink::Delivery;
use std::ops::Range;

/// An event slower than this end to end counts as slow: the bound of the p99 target.
const SLOW_NS: u64 = 10_000_000;

/// What the subscriber saw of one phase.
pub struct DeliveryFigures {
    /// (accepted event, matching Trigger) pairs never delivered.
    pub lost: u64,
    /// Deliveries beyond the first of an (event, Trigger) pair.
    pub duplicated: u64,
    /// Deliveries through a Trigger whose filter does not match the event.
    pub misrouted: u64,
    /// Deliveries that arrived within the measured window (every Trigger counts).
    pub delivered_in_window: u64,
    /// Send stamp to arrival, for events sent within the measured window.
    pub e2e: LatencyHistogram,
    /// The part of `e2e` after the broker stamped the event's arrival, for the same events.
    pub after_stamp: LatencyHistogram,
    /// Of the `e2e` events, those slower than [`SLOW_NS`]...
    pub slow: u64,
    /// ...and of those, the ones in flight during a machine pause or while its backlog drained
    /// (see [`PauseWindows`]).
    pub slow_in_pause: u64,
    /// The share of the measured window's time that pause windows cover: the share of slow
    /// events they would hold by chance.
    pub pause_share: f64,
}

/// The stretches of a phase in which the machine's pauses delay whatever is in flight: each
/// pause, and as long again after it. During a pause nothing runs; after it, the work that piled
/// up meanwhile drains, and at half load a core needs about as long as the pause to catch up.
pub struct PauseWindows(Vec<Range<u64>>);

impl PauseWindows {
    /// The windows of `spans`, in `clock`'s nanoseconds.
    pub fn new(spans: &[PauseSpan], clock: &Clock) -> PauseWindows {
        let mut windows: Vec<Range<u64>> = spans
            .iter()
            .map(|span| {
                let (from, until) = (clock.ns(span.from), clock.ns(span.until));
                from..until.saturating_add(until - from)
            })
            .collect();
        windows.sort_by_key(|w| w.start);
        PauseWindows(windows)
    }

    /// The share of `from..until` (ns) the windows cover, counting overlapping windows once.
    fn share_of(&self, from: u64, until: u64) -> f64 {
        if until <= from {
            return 0.0;
        }
        let mut covered = 0;
        let mut reached = from;
        for w in &self.0 {
            let (start, end) = (w.start.max(reached), w.end.min(until));
            if end > start {
                covered += end - start;
                reached = end;
            }
        }
        covered as f64 / (until - from) as f64
    }

    /// Whether something in flight over `from..until` (ns) overlapped a window.
    fn overlap(&self, from: u64, until: u64) -> bool {
        // Windows starting before `until`; any of them reaching past `from` overlaps.
        let starting_before = self.0.partition_point(|w| w.start < until);
        self.0[..starting_before].iter().any(|w| w.end > from)
    }
}

/// Analyses `deliveries` of the events `log` sent, where Triggers `0..matching` match every
/// event and any other Trigger matches none.
pub fn analyze(
    deliveries: &[Delivery],
    log: &SendLog,
    matching: u32,
    clock: &Clock,
    pauses: &PauseWindows,
) -> DeliveryFigures {
    let from_ns = clock.ns(log.measure_from);
    let until_ns = clock.ns(log.measure_until);
    let triggers = u64::from(matching.max(1));
    let events = log.end_seq.saturating_sub(log.first_seq);
    let slot =
        |seq: u64, trigger: u32| ((seq - log.first_seq) * triggers + u64::from(trigger)) as usize;
    let mut counts = vec![0u16; (events * triggers) as usize];
    let mut figures = DeliveryFigures {
        lost: 0,
        duplicated: 0,
        misrouted: 0,
        delivered_in_window: 0,
        e2e: LatencyHistogram::new(),
        after_stamp: LatencyHistogram::new(),
        slow: 0,
        slow_in_pause: 0,
        pause_share: pauses.share_of(from_ns, until_ns),
    };
    for d in deliveries {
        if d.seq < log.first_seq || d.seq >= log.end_seq {
            continue;
        }
        if d.trigger >= matching {
            figures.misrouted += 1;
            continue;
        }
        let count = &mut counts[slot(d.seq, d.trigger)];
        *count = count.saturating_add(1);
        if (from_ns..until_ns).contains(&d.arrived_ns) {
            figures.delivered_in_window += 1;
        }
        if (from_ns..until_ns).contains(&d.sent_ns) {
            let e2e = d.arrived_ns.saturating_sub(d.sent_ns);
            figures.e2e.record_ns(e2e);
            if e2e > SLOW_NS {
                figures.slow += 1;
                if pauses.overlap(d.sent_ns, d.arrived_ns) {
                    figures.slow_in_pause += 1;
                }
            }
            if let Some(after) = d.after_stamp_ns {
                figures.after_stamp.record_ns(after);
            }
        }
    }
    for &seq in &log.accepted_seqs {
        for trigger in 0..matching {
            match counts[slot(seq, trigger)] {
                0 => figures.lost += 1,
                n => figures.duplicated += u64::from(n - 1),
            }
        }
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    fn log(accepted: Vec<u64>) -> SendLog {
        let from = Instant::now();
        SendLog {
            first_seq: 10,
            end_seq: 20,
            measure_from: from,
            measure_until: from + Duration::from_secs(1),
            accepted_seqs: accepted,
            measured_accepted: 0,
            last_accepted: None,
            failures: BTreeMap::new(),
            publish: LatencyHistogram::new(),
            lag: LatencyHistogram::new(),
            peak_in_flight: None,
        }
    }

    fn delivery(
        clock: &Clock,
        log: &SendLog,
        seq: u64,
        trigger: u32,
        sent_ms: u64,
        arrived_ms: u64,
    ) -> Delivery {
        let base = clock.ns(log.measure_from);
        Delivery {
            seq,
            trigger,
            sent_ns: base + sent_ms * 1_000_000,
            arrived_ns: base + arrived_ms * 1_000_000,
            after_stamp_ns: None,
        }
    }

    fn no_pauses() -> PauseWindows {
        PauseWindows(Vec::new())
    }

    #[test]
    fn slow_events_in_flight_during_a_pause_or_its_drain_are_told_apart() {
        let clock = Clock::new();
        let log = log(vec![10, 11, 12, 13, 14]);
        let at = |ms: u64| log.measure_from + Duration::from_millis(ms);
        // A pause from 100 to 108 ms: its window reaches 116 ms.
        let pauses = PauseWindows::new(
            &[PauseSpan {
                from: at(100),
                until: at(108),
            }],
            &clock,
        );
        let deliveries = [
            delivery(&clock, &log, 10, 0, 95, 111), // slow, in flight during the pause
            delivery(&clock, &log, 11, 0, 112, 130), // slow, sent while the backlog drained
            delivery(&clock, &log, 12, 0, 200, 215), // slow, long after the pause
            delivery(&clock, &log, 13, 0, 99, 105), // in the pause but not slow
            delivery(&clock, &log, 14, 0, 300, 310), // exactly 10 ms: not slow
        ];
        let f = analyze(&deliveries, &log, 1, &clock, &pauses);
        assert_eq!((f.slow, f.slow_in_pause), (3, 2));
        // 16 ms of the one-second window.
        assert!((f.pause_share - 0.016).abs() < 1e-9, "{}", f.pause_share);
        let f = analyze(&deliveries, &log, 1, &clock, &no_pauses());
        assert_eq!((f.slow, f.slow_in_pause), (3, 0));
    }

    #[test]
    fn overlapping_pause_windows_cover_their_union_within_the_phase() {
        let windows = PauseWindows(vec![0..10, 5..20, 30..40, 95..120]);
        // 10..20, 30..40 and 95..100 of 10..100.
        assert!((windows.share_of(10, 100) - 25.0 / 90.0).abs() < 1e-9);
        assert_eq!(windows.share_of(50, 50), 0.0);
        assert_eq!(no_pauses().share_of(0, 100), 0.0);
    }

    #[test]
    fn counts_lost_duplicated_and_misrouted_per_trigger() {
        let clock = Clock::new();
        let log = log(vec![10, 11, 12]);
        let deliveries = vec![
            delivery(&clock, &log, 10, 0, 1, 3),
            delivery(&clock, &log, 10, 1, 1, 4),
            delivery(&clock, &log, 11, 0, 2, 5),
            delivery(&clock, &log, 11, 0, 2, 6), // duplicate
            delivery(&clock, &log, 11, 1, 2, 7),
            delivery(&clock, &log, 12, 1, 3, 8), // 12 never reached Trigger 0
            delivery(&clock, &log, 12, 5, 3, 9), // Trigger 5 does not match
            delivery(&clock, &log, 99, 0, 3, 9), // another phase's event
        ];
        let f = analyze(&deliveries, &log, 2, &clock, &no_pauses());
        assert_eq!(f.lost, 1);
        assert_eq!(f.duplicated, 1);
        assert_eq!(f.misrouted, 1);
        assert_eq!(f.delivered_in_window, 6);
        let p = f.e2e.percentiles().unwrap();
        assert_eq!(p.count, 6);
        assert!((p.max_ms - 5.0).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn deliveries_outside_the_window_count_for_loss_but_not_for_rate_or_latency() {
        let clock = Clock::new();
        let log = log(vec![10]);
        let late = delivery(&clock, &log, 10, 0, 1, 2_000);
        let f = analyze(&[late], &log, 1, &clock, &no_pauses());
        assert_eq!((f.lost, f.duplicated, f.delivered_in_window), (0, 0, 0));
        assert_eq!(f.e2e.count(), 1);
    }

    #[test]
    fn the_time_after_the_broker_stamp_counts_for_the_events_e2e_counts() {
        let clock = Clock::new();
        let log = log(vec![10, 11, 12]);
        let stamped = |seq, sent_ms, after_ms: Option<u64>| Delivery {
            after_stamp_ns: after_ms.map(|ms| ms * 1_000_000),
            ..delivery(&clock, &log, seq, 0, sent_ms, sent_ms + 9)
        };
        let deliveries = [
            stamped(10, 1, Some(2)),
            stamped(11, 2, Some(7)),
            stamped(12, 2_000, Some(1)), // sent after the window
        ];
        let f = analyze(&deliveries, &log, 1, &clock, &no_pauses());
        assert_eq!(f.e2e.count(), 2);
        let after = f.after_stamp.percentiles().unwrap();
        assert_eq!(after.count, 2);
        assert!((after.max_ms - 7.0).abs() < 0.01, "{after:?}");
        let unstamped = analyze(&[stamped(10, 1, None)], &log, 1, &clock, &no_pauses());
        assert_eq!(unstamped.after_stamp.count(), 0);
    }
}
