//! Herald's own view of a phase's publishes: its `herald_ingress_accept_latency_seconds`
//! histogram (arrival at the ingress to 202), read from `/metrics` before and after the phase.
//! The difference is the phase's distribution. Beside the sender's publish latency it tells
//! the broker's share of a tail (the log's group commit stretching) from time spent before
//! Herald read the request or after it answered (a busy core, the generator).
//!
//! The buckets double from 0.1 ms, so a percentile is known only as its bucket's upper bound.

/// The series the bench's broker (`default/default`) reports.
const BUCKET_PREFIX: &str = "herald_ingress_accept_latency_seconds_bucket{le=\"";
const SERIES: &str = "namespace=\"default\",broker=\"default\"}";

/// Cumulative bucket counts, in order of their upper bounds (seconds; the last is +Inf).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AcceptHistogram {
    buckets: Vec<(f64, u64)>,
}

impl AcceptHistogram {
    /// Reads the default broker's histogram from a `/metrics` text; empty when it is not there.
    pub fn parse(metrics: &str) -> AcceptHistogram {
        let buckets = metrics
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(BUCKET_PREFIX)?;
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
        AcceptHistogram { buckets }
    }

    /// What was observed since `before` (a reading of the same series).
    pub fn since(&self, before: &AcceptHistogram) -> AcceptHistogram {
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
        AcceptHistogram { buckets }
    }

    /// Publishes counted.
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
            text.push_str(&format!("{BUCKET_PREFIX}{bound}\",{SERIES} {count}\n"));
        }
        // Another broker's series is not the bench's.
        text.push_str(&format!(
            "{BUCKET_PREFIX}0.0001\",namespace=\"default\",broker=\"other\"}} 99\n"
        ));
        text
    }

    #[test]
    fn a_phase_is_the_difference_of_two_readings() {
        let before = AcceptHistogram::parse(&metrics([10, 20, 20, 20]));
        let after = AcceptHistogram::parse(&metrics([10, 110, 118, 120]));
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
        assert_eq!(AcceptHistogram::parse("").quantile_ms(0.5), None);
        let same = AcceptHistogram::parse(&metrics([1, 2, 3, 3]));
        assert_eq!(same.since(&same).quantile_ms(0.99), None);
    }
}
