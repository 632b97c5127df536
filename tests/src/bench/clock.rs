//! One clock for the sender and the subscriber: nanoseconds since the Unix epoch, derived from a
//! monotonic instant so that a wall-clock step during a run cannot bend latencies.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Converts monotonic instants to nanoseconds since the Unix epoch, from one reading of both.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
    base_ns: u64,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            base: Instant::now(),
            base_ns: wall_now_ns(),
        }
    }

    /// `at` in nanoseconds since the Unix epoch.
    pub fn ns(&self, at: Instant) -> u64 {
        let offset = at.saturating_duration_since(self.base).as_nanos();
        self.base_ns
            .saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
    }

    /// Now, in nanoseconds since the Unix epoch.
    pub fn now_ns(&self) -> u64 {
        self.ns(Instant::now())
    }
}

/// The wall clock now, in nanoseconds since the Unix epoch: for comparing with stamps others
/// wrote by their wall clock (a broker's arrival stamp), which a [`Clock`] must not be.
pub fn wall_now_ns() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_map_to_increasing_epoch_nanoseconds() {
        let clock = Clock::new();
        let a = Instant::now();
        let b = a + Duration::from_millis(5);
        assert_eq!(clock.ns(b) - clock.ns(a), 5_000_000);
        assert!(clock.now_ns().abs_diff(wall_now_ns()) < 1_000_000_000);
    }
}
