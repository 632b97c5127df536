//! The open-loop schedule: a thread of its own wakes at each scheduled send time (with the
//! kernel's timer slack cut to 1 ns, so it is not late by the default 50 µs) and hands the
//! scheduled instant to the sender's runtime, whose timer only has millisecond resolution.
//! It naps at least [`MIN_NAP`], so above 20,000 sends/s it hands them over in small batches
//! rather than waking (and waking the runtime) for each; a send is then up to that much late,
//! which its latency, counted from the scheduled time, includes.

use super::error::BenchError;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// The shortest sleep between two hand-overs.
pub const MIN_NAP: Duration = Duration::from_micros(50);

/// Emits `start + n / rate` for n = 0, 1, ... while before `until`, each at (or just after) that
/// instant. Stops early when the receiver is gone.
pub fn spawn(
    start: Instant,
    until: Instant,
    rate: f64,
    due: UnboundedSender<Instant>,
) -> Result<JoinHandle<()>, BenchError> {
    std::thread::Builder::new()
        .name("bench-pacer".into())
        .spawn(move || {
            if !(rate > 0.0 && rate.is_finite()) {
                return;
            }
            tighten_timer_slack();
            for n in 0u64.. {
                let at = start + Duration::from_secs_f64(n as f64 / rate);
                if at >= until {
                    break;
                }
                let now = Instant::now();
                if at > now {
                    std::thread::sleep((at - now).max(MIN_NAP));
                }
                if due.send(at).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| BenchError::io("starting the pacer thread", e))
}

fn tighten_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer and only affects the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_the_schedule_in_order_and_on_time() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now() + Duration::from_millis(5);
        let until = start + Duration::from_millis(100);
        spawn(start, until, 1000.0, tx).unwrap().join().unwrap();
        let mut got = Vec::new();
        while let Ok(at) = rx.try_recv() {
            got.push(at);
        }
        assert_eq!(got.len(), 100);
        assert_eq!(got[0], start);
        assert_eq!(got[99] - got[0], Duration::from_millis(99));
        assert!(got.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_zero_rate_emits_nothing() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let now = Instant::now();
        spawn(now, now + Duration::from_millis(10), 0.0, tx)
            .unwrap()
            .join()
            .unwrap();
        assert!(rx.try_recv().is_err());
    }
}
