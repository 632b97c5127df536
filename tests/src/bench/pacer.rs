//! The open-loop schedule. It runs as a task on the sender's own runtime and sleeps on a
//! `timerfd`, which that runtime's epoll watches beside the sockets: a send's due time wakes the
//! thread that makes the send, with no second thread to wake and no hand-over between threads
//! (Tokio's own timer only has millisecond resolution). A timerfd expires when armed for: the
//! thread's timer slack does not stretch it. The pacer naps at least [`MIN_NAP`], so above
//! 20,000 sends/s it releases sends in small batches rather than arming the timer for each; a
//! send is then up to that much late, which its latency, counted from the scheduled time,
//! includes.

use super::error::BenchError;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;

/// The shortest sleep between two releases.
pub const MIN_NAP: Duration = Duration::from_micros(50);

/// Emits `start + n / rate` for n = 0, 1, ... while before `until`, each at (or just after) that
/// instant. Stops early when the receiver is gone. Must run inside a Tokio runtime with I/O
/// enabled.
pub async fn run(
    start: Instant,
    until: Instant,
    rate: f64,
    due: UnboundedSender<Instant>,
) -> Result<(), BenchError> {
    if !(rate > 0.0 && rate.is_finite()) {
        return Ok(());
    }
    let timer = Timer::new().map_err(|e| BenchError::io("creating the pacer's timerfd", e))?;
    for n in 0u64.. {
        let at = start + Duration::from_secs_f64(n as f64 / rate);
        if at >= until {
            break;
        }
        let now = Instant::now();
        if at > now {
            timer
                .sleep((at - now).max(MIN_NAP))
                .await
                .map_err(|e| BenchError::io("waiting on the pacer's timerfd", e))?;
        }
        if due.send(at).is_err() {
            break;
        }
    }
    Ok(())
}

/// A one-shot monotonic timerfd registered with the runtime's reactor.
struct Timer {
    fd: AsyncFd<OwnedFd>,
}

impl Timer {
    fn new() -> io::Result<Timer> {
        // SAFETY: timerfd_create takes two integers and returns a new descriptor or -1.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we just opened and own alone.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: an `OwnedFd` keeps its descriptor open, and always the same one, until the
        // `AsyncFd` that now owns it drops it.
        let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Timer { fd })
    }

    /// Arms the timer `after` from now (at least 1 ns: zero would disarm it) and waits until
    /// it expires.
    async fn sleep(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos().into(),
            },
        };
        // SAFETY: the descriptor is a timerfd we own; `spec` lives across the call and the old
        // value is not asked for.
        let armed =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if armed < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            let mut ready = self.fd.readable().await?;
            match ready.try_io(|fd| read_expirations(fd.as_raw_fd())) {
                Ok(result) => {
                    // The read drained the count; the next expiry is a new edge.
                    ready.clear_ready();
                    return result;
                }
                // Readiness left over from the previous expiry: the timer has not fired yet.
                Err(_would_block) => continue,
            }
        }
    }
}

/// Reads (and so resets) a timerfd's expiry count; WouldBlock while it has not expired.
fn read_expirations(fd: i32) -> io::Result<()> {
    let mut count = [0u8; 8];
    // SAFETY: reads at most 8 bytes into a buffer of 8 bytes.
    let read = unsafe { libc::read(fd, count.as_mut_ptr().cast(), count.len()) };
    if read < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn schedule(start: Instant, until: Instant, rate: f64) -> Vec<(Instant, Instant)> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let pacer = tokio::spawn(run(start, until, rate, tx));
        let mut got = Vec::new();
        while let Some(at) = rx.recv().await {
            got.push((at, Instant::now()));
        }
        pacer.await.unwrap().unwrap();
        got
    }

    #[tokio::test]
    async fn emits_the_schedule_in_order_and_never_early() {
        let start = Instant::now() + Duration::from_millis(5);
        let until = start + Duration::from_millis(100);
        let got = schedule(start, until, 1000.0).await;
        assert_eq!(got.len(), 100);
        assert_eq!(got[0].0, start);
        assert_eq!(got[99].0 - got[0].0, Duration::from_millis(99));
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(got.iter().all(|(at, seen)| seen >= at), "released early");
    }

    #[tokio::test]
    async fn a_zero_rate_emits_nothing() {
        let now = Instant::now();
        assert!(
            schedule(now, now + Duration::from_millis(10), 0.0)
                .await
                .is_empty()
        );
    }
}
