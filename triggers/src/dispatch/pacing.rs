//! How fast a Trigger sends: an adaptive in-flight limit (AIMD, as Vector's adaptive request
//! concurrency) bounded by the configured maximum, and an optional rate limit.
//!
//! The limit starts at 1. After each window of responses (as many as the limit, or one past
//! round-trip time, whichever is later) it grows by one when the window was saturated and latency
//! held; it halves on backpressure (429, 503, timeouts, connection failures) and shrinks by a tenth
//! when the window's mean latency rose clearly above the running mean.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Latency counts as rising when the window mean exceeds the running mean by this factor and by
/// more than twice the running mean deviation (so ordinary jitter is not mistaken for queueing).
const RISING_LATENCY: f64 = 1.5;
const RISING_DEVIATIONS: f64 = 2.0;
/// Weight of a new window in the running mean latency.
const EWMA_ALPHA: f64 = 0.3;

/// The outcome of one delivery as pacing sees it.
#[derive(Clone, Copy, Debug)]
pub struct Signal {
    pub latency: Duration,
    /// 429, 503, a timeout or a connection failure.
    pub backpressure: bool,
}

#[derive(Debug)]
struct GateState {
    in_flight: usize,
    limit: usize,
    max: usize,
    /// Slots to withhold from the semaphore as they come back, after the limit fell.
    debt: usize,
    window_start: Instant,
    window_count: usize,
    window_latency: Duration,
    window_backpressure: bool,
    window_saturated: bool,
    mean_latency: Option<f64>,
    mean_deviation: f64,
}

/// An adaptive concurrency gate. `acquire` waits (first come, first served) for a free slot;
/// `release` reports the outcome and may move the limit.
#[derive(Debug)]
pub struct Gate {
    slots: Semaphore,
    state: Mutex<GateState>,
}

impl Gate {
    /// A gate with limit 1 that may grow to `max` (at least 1).
    pub fn new(max: usize) -> Gate {
        Gate {
            slots: Semaphore::new(1),
            state: Mutex::new(GateState {
                in_flight: 0,
                limit: 1,
                max: max.max(1),
                debt: 0,
                window_start: Instant::now(),
                window_count: 0,
                window_latency: Duration::ZERO,
                window_backpressure: false,
                window_saturated: false,
                mean_latency: None,
                mean_deviation: 0.0,
            }),
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.state.lock().expect("gate lock").limit
    }

    /// Waits until a slot is free (in arrival order), then takes it.
    pub async fn acquire(&self) {
        self.slots
            .acquire()
            .await
            .expect("the gate's semaphore is never closed")
            .forget();
        let mut s = self.state.lock().expect("gate lock");
        s.in_flight += 1;
        if s.in_flight >= s.limit {
            s.window_saturated = true;
        }
    }

    /// Frees a slot and adapts the limit to what the delivery showed.
    pub fn release(&self, signal: Signal) {
        let mut s = self.state.lock().expect("gate lock");
        s.in_flight = s.in_flight.saturating_sub(1);
        s.window_count += 1;
        s.window_latency += signal.latency;
        s.window_backpressure |= signal.backpressure;
        let window_rtt = s
            .mean_latency
            .map_or(Duration::ZERO, Duration::from_secs_f64);
        if s.window_count >= s.limit && s.window_start.elapsed() >= window_rtt {
            let before = s.limit;
            adjust(&mut s);
            if s.limit > before {
                let mut grow = s.limit - before;
                let paid = grow.min(s.debt);
                s.debt -= paid;
                grow -= paid;
                self.slots.add_permits(grow);
            } else {
                s.debt += before - s.limit;
            }
        }
        // Give the slot back, unless the limit fell and it is owed.
        if s.debt > 0 {
            s.debt -= 1;
        } else {
            self.slots.add_permits(1);
        }
    }
}

fn adjust(s: &mut GateState) {
    let mean = s.window_latency.as_secs_f64() / s.window_count as f64;
    let rising = s.mean_latency.is_some_and(|past| {
        mean > past * RISING_LATENCY && mean > past + RISING_DEVIATIONS * s.mean_deviation
    });
    if s.window_backpressure {
        s.limit = (s.limit / 2).max(1);
    } else if rising {
        s.limit = (s.limit * 9 / 10).max(1);
    } else if s.window_saturated && s.limit < s.max {
        s.limit += 1;
    }
    s.mean_latency = Some(match s.mean_latency {
        Some(past) => {
            s.mean_deviation =
                s.mean_deviation * (1.0 - EWMA_ALPHA) + (mean - past).abs() * EWMA_ALPHA;
            past * (1.0 - EWMA_ALPHA) + mean * EWMA_ALPHA
        }
        None => mean,
    });
    s.window_start = Instant::now();
    s.window_count = 0;
    s.window_latency = Duration::ZERO;
    s.window_backpressure = false;
    s.window_saturated = s.in_flight >= s.limit;
}

/// Spaces deliveries to at most `per_second` (no burst above the rate).
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl RateLimit {
    pub fn new(per_second: f64) -> RateLimit {
        RateLimit {
            interval: Duration::from_secs_f64(1.0 / per_second.max(0.001)),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ms: u64) -> Signal {
        Signal {
            latency: Duration::from_millis(ms),
            backpressure: false,
        }
    }

    async fn run_window(gate: &Gate, signal: Signal) {
        let n = gate.limit();
        for _ in 0..n {
            gate.acquire().await;
        }
        for _ in 0..n {
            gate.release(signal);
        }
    }

    #[tokio::test]
    async fn grows_while_latency_holds_and_stops_at_max() {
        let gate = Gate::new(5);
        for _ in 0..10 {
            run_window(&gate, ok(0)).await;
        }
        assert_eq!(gate.limit(), 5);
    }

    #[tokio::test]
    async fn halves_on_backpressure() {
        let gate = Gate::new(16);
        for _ in 0..8 {
            run_window(&gate, ok(0)).await;
        }
        let before = gate.limit();
        assert!(before >= 8, "{before}");
        run_window(
            &gate,
            Signal {
                latency: Duration::ZERO,
                backpressure: true,
            },
        )
        .await;
        assert_eq!(gate.limit(), before / 2);
    }

    #[tokio::test]
    async fn shrinks_when_latency_rises() {
        let gate = Gate::new(32);
        for _ in 0..20 {
            run_window(&gate, ok(1)).await;
        }
        let before = gate.limit();
        // A window lasts at least one mean round trip (1 ms here).
        tokio::time::sleep(Duration::from_millis(2)).await;
        run_window(&gate, ok(50)).await;
        assert!(gate.limit() < before, "{} !< {before}", gate.limit());
    }

    #[tokio::test]
    async fn acquire_waits_for_a_release() {
        let gate = std::sync::Arc::new(Gate::new(1));
        gate.acquire().await;
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.acquire().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        gate.release(ok(1));
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("the waiter got the slot")
            .unwrap();
    }

    #[tokio::test]
    async fn rate_limit_spaces_deliveries() {
        let rate = RateLimit::new(50.0);
        let start = Instant::now();
        for _ in 0..6 {
            rate.wait().await;
        }
        // Six slots at 20 ms spacing: the last one 100 ms after the first.
        assert!(
            start.elapsed() >= Duration::from_millis(95),
            "{:?}",
            start.elapsed()
        );
    }
}
