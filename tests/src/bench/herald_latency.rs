//! Herald's own view of a phase: its `herald_ingress_accept_latency_seconds` histogram (arrival
//! at the ingress to 202) and its `herald_log_sync_seconds` histogram (each group-commit
//! `fdatasync`), read from `/metrics` before and after the phase. The difference is the phase's
//! distribution. Beside the sender's publish latency the first tells the broker's share of a
//! tail from time spent before Herald read the request or after it answered (a busy core, the
//! generator); the second tells the disk's share of the broker's.
//!
//! The buckets double from 0.1 ms, so a percentile is known only as its bucket's upper bound.

/// The bucket lines of the two histograms.
const ACCEPT_BUCKETS: &str = "herald_ingress_accept_latency_seconds_bucket{le=\"";
const SYNC_BUCKETS: &str = "herald_log_sync_seconds_bucket{le=\"";
/// The series the bench's broker (`default/default`) reports.
const SERIES: &str = "namespace=\"default\",broker=\"default\"}";

/// Both of Herald's histograms, from one reading of `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeraldLatency {
    /// Publishes, arrival to 202.
    pub accept: Histogram,
    /// The log's `fdatasync`s (none on the memory log or without fsync).
    pub sync: Histogram,
}

impl HeraldLatency {
    /// Reads the default broker's histograms from a `/metrics` text; each empty when missing.
    pub fn parse(metrics: &str) -> HeraldLatency {
        HeraldLatency {
            accept: Histogram::parse(metrics, ACCEPT_BUCKETS),
            sync: Histogram::parse(metrics, SYNC_BUCKETS),
        }
    }

    /// What was observed since `before` (a reading of the same series).
    pub fn since(&self, before: &HeraldLatency) -> HeraldLatency {
        HeraldLatency {
            accept: self.accept.since(&before.accept),
            sync: self.sync.since(&before.sync),
        }
    }
}

/// Cumulative bucket counts, in order of their upper bounds (seconds; the last is +Inf).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// The default broker's series of the bucket lines that start with `bucket_prefix`.
    fn parse(metrics: &str, bucket_prefix: &str) -> Histogram {
        let buckets = metrics
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(bucket_prefix)?;
                let (bound, rest) = rest.split_once("\",")?;
                let count = rest.strip_prefix(SERIES)?.trim();
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                Some((bound, count.parse().ok()?))
            })
            .collect();
        Histogram { buckets }
    }

    /// What was observed since `before` (a reading of the same series).
    pub fn since(&self, before: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .map(|&(bound, count)| {
                let earlier = before
                    .buckets
                    .iter()
                    .find(|(b, _)| *b == bound)
                    .map_or(0, |&(_, c)| c);
                (bound, count.saturating_sub(earlier))
            })
            .collect();
        Histogram { buckets }
    }

    /// Observations counted.
    pub fn count(&self) -> u64 {
        self.buckets.last().map_or(0, |&(_, c)| c)
    }

    /// The upper bound, in milliseconds, of the bucket holding quantile `q` (0..=1); None when
    /// nothing was counted or the quantile lies beyond the last finite bound.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        self.buckets
            .iter()
            .find(|&&(_, cumulative)| cumulative >= rank)
            .map(|&(bound, _)| bound * 1000.0)
            .filter(|ms| ms.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(counts: [u64; 4]) -> String {
        let bounds = ["0.0001", "0.0002", "0.0004", "+Inf"];
        let mut text = String::from("# TYPE herald_ingress_accept_latency_seconds histogram\n");
        for (bound, count) in bounds.iter().zip(counts) {
            text.push_str(&format!("{ACCEPT_BUCKETS}{bound}\",{SERIES} {count}\n"));
        }
        // Another broker's series is not the bench's.
        text.push_str(&format!(
            "{ACCEPT_BUCKETS}0.0001\",namespace=\"default\",broker=\"other\"}} 99\n"
        ));
        text
    }

    fn accept(metrics: &str) -> Histogram {
        HeraldLatency::parse(metrics).accept
    }

    #[test]
    fn a_phase_is_the_difference_of_two_readings() {
        let before = accept(&metrics([10, 20, 20, 20]));
        let after = accept(&metrics([10, 110, 118, 120]));
        let phase = after.since(&before);
        assert_eq!(phase.count(), 100);
        // 90 of the phase's 100 took 0.1-0.2 ms, 8 took up to 0.4 ms, 2 longer.
        assert_eq!(phase.quantile_ms(0.5), Some(0.2));
        assert_eq!(phase.quantile_ms(0.9), Some(0.2));
        assert_eq!(phase.quantile_ms(0.98), Some(0.4));
        assert_eq!(phase.quantile_ms(0.99), None);
    }

    #[test]
    fn nothing_counted_has_no_percentile() {
        assert_eq!(accept("").quantile_ms(0.5), None);
        let same = accept(&metrics([1, 2, 3, 3]));
        assert_eq!(same.since(&same).quantile_ms(0.99), None);
    }

    #[test]
    fn the_sync_histogram_is_read_apart_from_the_accept_histogram() {
        let mut text = metrics([0, 5, 5, 5]);
        for (bound, count) in [("0.0002", 1), ("0.0004", 4), ("+Inf", 4)] {
            text.push_str(&format!("{SYNC_BUCKETS}{bound}\",{SERIES} {count}\n"));
        }
        let read = HeraldLatency::parse(&text).since(&HeraldLatency::default());
        assert_eq!(read.accept.count(), 5);
        assert_eq!(read.sync.count(), 4);
        assert_eq!(read.sync.quantile_ms(0.99), Some(0.4));
        // A log that never syncs has no sync series.
        assert_eq!(HeraldLatency::parse(&metrics([1, 1, 1, 1])).sync.count(), 0);
    }
}
