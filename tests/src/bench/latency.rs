//! Latency recording (an HDR histogram of nanoseconds, 3 significant digits) and the
//! percentiles the reports show.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// Percentiles of one latency distribution, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Latencies from 1 µs to an hour; longer ones are clamped to an hour.
pub struct LatencyHistogram(Histogram<u64>);

const LOWEST_NS: u64 = 1_000;
const HIGHEST_NS: u64 = 3_600_000_000_000;

impl LatencyHistogram {
    pub fn new() -> LatencyHistogram {
        LatencyHistogram(
            Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, 3)
                .expect("constant bounds are valid"),
        )
    }

    pub fn record(&mut self, latency: Duration) {
        self.record_ns(u64::try_from(latency.as_nanos()).unwrap_or(HIGHEST_NS));
    }

    pub fn record_ns(&mut self, ns: u64) {
        self.0.saturating_record(ns.min(HIGHEST_NS));
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// None when nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.0.is_empty() {
            return None;
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        let at = |q: f64| ms(self.0.value_at_quantile(q));
        Some(Percentiles {
            count: self.0.len(),
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: ms(self.0.max()),
        })
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.percentiles(), None);
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let p = h.percentiles().unwrap();
        assert_eq!(p.count, 1000);
        assert!((p.p50_ms - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p90_ms - 900.0).abs() < 1.0, "{p:?}");
        assert!((p.p99_ms - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max_ms - 1000.0).abs() < 1.0, "{p:?}");
    }

    #[test]
    fn huge_latencies_are_clamped_not_dropped() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_secs(10_000));
        assert_eq!(h.count(), 1);
    }
}
