//! The retry schedule: how long to wait before retry `n`.
//!
//! Retry `n` (1-based) waits `backoffDelay × n` (linear) or `backoffDelay × 2^(n-1)` (exponential),
//! capped by `backoffMax`. A 429 or 503 with `Retry-After` waits at least that long, itself bounded by
//! `retryAfterMax`. The function is pure so a retry schedule can resume at any attempt after a restart
//! (which is also why we do not use an iterator-style retry crate here).

use herald_crds::delivery::BackoffPolicy;
use std::time::Duration;

/// The backoff parameters of a resolved delivery policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub policy: BackoffPolicy,
    pub delay: Duration,
    pub max: Duration,
    pub retry_after_max: Duration,
}

impl Backoff {
    /// The wait before retry `n` (1-based), honouring a server's `Retry-After` when given.
    pub fn wait_before_retry(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        let n = n.max(1);
        let base = match self.policy {
            BackoffPolicy::Linear => self.delay.saturating_mul(n),
            BackoffPolicy::Exponential => {
                let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
                self.delay.saturating_mul(factor)
            }
        };
        let backoff = base.min(self.max);
        match retry_after {
            Some(asked) => backoff.max(asked.min(self.retry_after_max)),
            None => backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(policy: BackoffPolicy) -> Backoff {
        Backoff {
            policy,
            delay: Duration::from_millis(100),
            max: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(3),
        }
    }

    #[test]
    fn linear_grows_by_the_delay() {
        let b = backoff(BackoffPolicy::Linear);
        let waits: Vec<_> = (1..=4).map(|n| b.wait_before_retry(n, None)).collect();
        assert_eq!(waits, [100, 200, 300, 400].map(Duration::from_millis));
    }

    #[test]
    fn exponential_doubles_and_is_capped() {
        let b = backoff(BackoffPolicy::Exponential);
        let waits: Vec<_> = (1..=6).map(|n| b.wait_before_retry(n, None)).collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1000, 1000].map(Duration::from_millis)
        );
        // Far-out retries neither overflow nor exceed the cap.
        assert_eq!(b.wait_before_retry(200, None), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_raises_the_wait_but_is_bounded() {
        let b = backoff(BackoffPolicy::Linear);
        assert_eq!(
            b.wait_before_retry(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            b.wait_before_retry(1, Some(Duration::from_secs(60))),
            Duration::from_secs(3)
        );
        // A Retry-After shorter than the backoff does not shorten it.
        assert_eq!(
            b.wait_before_retry(4, Some(Duration::from_millis(1))),
            Duration::from_millis(400)
        );
    }
}
