//! The machine's own pauses. A sleeper thread on each core, at real-time priority when the bench
//! may set it, wakes every millisecond and notes how late it woke. A virtual machine's cores are
//! sometimes stopped by the host for tens of milliseconds, and such a pause lands in every latency
//! figure of the phase it falls in, whatever runs on the machine; each phase reports them beside
//! its latencies so a tail can be told apart from the system's own queueing. The sleepers cost a
//! few microseconds of CPU per millisecond. Each pause is also kept as a span of time, so that a
//! phase can tell which of its slow events were in flight while the machine stood still.

use super::error::BenchError;
use super::placement::{self, Cpus};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often each sleeper wakes.
const TICK: Duration = Duration::from_millis(1);
/// A wake-up this late counts as a pause of the machine. A real-time sleeper runs as soon as it is
/// due, even on a saturated core (measured: under 1 ms late nearly always).
const PAUSE: Duration = Duration::from_millis(5);

/// What each sleeper thread's name starts with (the CPU's number follows).
const THREAD_PREFIX: &str = "pauses-";

/// Whether a thread of this process, named `name`, is one of the meter's sleepers.
pub fn is_sleeper_thread(name: &str) -> bool {
    name.starts_with(THREAD_PREFIX)
}

/// The pauses seen during one phase, over every core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Pauses {
    /// Wake-ups at least [`PAUSE`] late, counted on each core (a pause of the whole machine
    /// counts once per core).
    pub over_5ms: u64,
    /// The latest of the wake-ups (on any core), in milliseconds past its due time.
    pub longest_ms: f64,
}

/// One pause: from when a sleeper was due to wake until it woke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PauseSpan {
    pub from: Instant,
    pub until: Instant,
}

/// Keeps at most this many spans between two takes (a phase of a few seconds has tens).
const MAX_SPANS: usize = 100_000;

#[derive(Default)]
struct Counts {
    over: AtomicU64,
    longest_us: AtomicU64,
    spans: Mutex<Vec<PauseSpan>>,
}

impl Counts {
    /// Notes a wake-up at `woke` that came `late` past its due time.
    fn record(&self, late: Duration, woke: Instant) {
        if late >= PAUSE {
            self.over.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut spans) = self.spans.lock()
                && spans.len() < MAX_SPANS
            {
                spans.push(PauseSpan {
                    from: woke.checked_sub(late).unwrap_or(woke),
                    until: woke,
                });
            }
        }
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        self.longest_us.fetch_max(us, Ordering::Relaxed);
    }

    fn take(&self) -> (Pauses, Vec<PauseSpan>) {
        let pauses = Pauses {
            over_5ms: self.over.swap(0, Ordering::Relaxed),
            longest_ms: self.longest_us.swap(0, Ordering::Relaxed) as f64 / 1000.0,
        };
        let spans = self
            .spans
            .lock()
            .map(|mut spans| std::mem::take(&mut *spans))
            .unwrap_or_default();
        (pauses, spans)
    }
}

/// Sleeper threads, one per core, for as long as a clone of this lives.
#[derive(Clone)]
pub struct PauseMeter {
    counts: Arc<Counts>,
}

impl PauseMeter {
    /// Starts a sleeper pinned to each CPU of `cpus`.
    pub fn start(cpus: &Cpus) -> Result<PauseMeter, BenchError> {
        let counts = Arc::new(Counts::default());
        for &cpu in &cpus.0 {
            let counts = Arc::downgrade(&counts);
            std::thread::Builder::new()
                .name(format!("{THREAD_PREFIX}{cpu}"))
                .spawn(move || {
                    if placement::pin_this_thread(&Cpus(vec![cpu])).is_ok() {
                        if !wake_first() {
                            eprintln!(
                                "herald-bench: the pause meter's sleeper on CPU {cpu} has no real-time \
                                 priority (not permitted): on a busy core it may also count a \
                                 scheduler slice or two"
                            );
                        }
                        sleep_and_note(&counts);
                    }
                })
                .map_err(|e| BenchError::io("starting the pause meter", e))?;
        }
        Ok(PauseMeter { counts })
    }

    /// The pauses since the previous call (or the start), counted and as spans of time;
    /// counting begins anew.
    pub fn take(&self) -> (Pauses, Vec<PauseSpan>) {
        self.counts.take()
    }
}

/// Asks for the lowest real-time priority, so that a waking sleeper runs before the busy threads
/// of its core and its lateness is the machine's alone. Without the privilege it stays an
/// ordinary thread (and may also wait a scheduler slice or two on a saturated core).
fn wake_first() -> bool {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: plain system call on the calling thread with a valid parameter.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 }
}

fn sleep_and_note(counts: &Weak<Counts>) {
    loop {
        let before = Instant::now();
        std::thread::sleep(TICK);
        let woke = Instant::now();
        let late = woke.duration_since(before).saturating_sub(TICK);
        let Some(counts) = counts.upgrade() else {
            return;
        };
        counts.record(late, woke);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_wake_ups_count_from_five_milliseconds_and_taking_starts_anew() {
        let counts = Counts::default();
        let taken = |counts: &Counts| {
            let (p, spans) = counts.take();
            (p.over_5ms, p.longest_ms, spans.len())
        };
        let now = Instant::now();
        counts.record(Duration::from_micros(80), now);
        counts.record(Duration::from_millis(4), now);
        assert_eq!(taken(&counts), (0, 4.0, 0));
        counts.record(Duration::from_millis(5), now);
        counts.record(Duration::from_micros(33_250), now);
        counts.record(Duration::from_millis(7), now);
        assert_eq!(taken(&counts), (3, 33.25, 3));
        assert_eq!(taken(&counts), (0, 0.0, 0));
    }

    #[test]
    fn a_pause_spans_from_the_due_time_to_the_late_wake_up() {
        let counts = Counts::default();
        let woke = Instant::now() + Duration::from_secs(1);
        counts.record(Duration::from_millis(12), woke);
        let (_, spans) = counts.take();
        assert_eq!(
            spans,
            vec![PauseSpan {
                from: woke - Duration::from_millis(12),
                until: woke
            }]
        );
    }

    #[test]
    fn sleepers_stop_when_the_meter_is_dropped() {
        let meter = PauseMeter::start(&placement::allowed_cpus().unwrap()).unwrap();
        let weak = Arc::downgrade(&meter.counts);
        std::thread::sleep(Duration::from_millis(20));
        drop(meter);
        // Each sleeper drops its upgraded handle at the end of its tick.
        std::thread::sleep(Duration::from_millis(20));
        assert!(weak.upgrade().is_none());
    }
}
