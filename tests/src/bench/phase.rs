//! One load phase end to end: drive the load, wait until the subscriber has every accepted
//! event (or deliveries stall), and turn the sender's and the subscriber's logs into a
//! [`PhaseResult`].

use super::analysis::{self, DeliveryFigures, PauseWindows};
use super::error::BenchError;
use super::load::{self, Load, SendLog};
use super::pauses::{PauseMeter, Pauses};
use super::results::{PhaseKind, PhaseResult};
use super::sink::{Delivery, Sink};
use std::time::{Duration, Instant};

/// How a phase paces its sends.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    Closed {
        concurrency: usize,
        warmup: Duration,
    },
    Open {
        rate: f64,
        percent: u32,
        warmup: bool,
    },
}

/// What every phase of a scenario shares.
pub struct PhaseContext<'a> {
    pub load: Load,
    /// The subscriber, when the scenario delivers events (not for jetstream).
    pub sink: Option<&'a Sink>,
    /// Triggers `0..matching` receive every event.
    pub matching: u32,
    /// Give up waiting for deliveries after this long without one.
    pub drain_stall: Duration,
    /// Open loop: how many senders take scheduled sends.
    pub open_workers: usize,
    /// The machine's own pauses, read over each phase.
    pub pauses: PauseMeter,
}

/// Runs one phase of `duration` (plus a closed loop's warm-up).
pub async fn run(
    context: &PhaseContext<'_>,
    pace: Pace,
    duration: Duration,
) -> Result<PhaseResult, BenchError> {
    let delivered_before = context.sink.map_or(0, Sink::delivered);
    context.pauses.take();
    let log = match pace {
        Pace::Closed {
            concurrency,
            warmup,
        } => load::closed_loop(&context.load, concurrency, warmup, duration).await,
        Pace::Open { rate, .. } => {
            load::open_loop(&context.load, rate, duration, context.open_workers).await?
        }
    };
    let deliveries = match context.sink {
        Some(sink) => {
            let expected = log.accepted_seqs.len() as u64 * u64::from(context.matching);
            Some(drain(sink, delivered_before, expected, context.drain_stall).await)
        }
        None => None,
    };
    let (pauses, spans) = context.pauses.take();
    let figures = deliveries.map(|deliveries| {
        let clock = &context.load.clock;
        let windows = PauseWindows::new(&spans, clock);
        analysis::analyze(&deliveries, &log, context.matching, clock, &windows)
    });
    Ok(summarize(pace, &log, figures, pauses))
}

/// Waits until `expected` more deliveries arrived than `before`, or none arrived for `stall`.
async fn drain(sink: &Sink, before: u64, expected: u64, stall: Duration) -> Vec<Delivery> {
    let mut last = sink.delivered();
    let mut last_change = Instant::now();
    loop {
        let now = sink.delivered();
        if now.saturating_sub(before) >= expected {
            break;
        }
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= stall {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sink.take()
}

fn summarize(
    pace: Pace,
    log: &SendLog,
    figures: Option<DeliveryFigures>,
    machine_pauses: Pauses,
) -> PhaseResult {
    let seconds = log.measured_seconds();
    let (kind, percent_of_max, target_rate, concurrency) = match pace {
        Pace::Closed { concurrency, .. } => (PhaseKind::Closed, None, None, Some(concurrency)),
        Pace::Open {
            rate,
            percent,
            warmup,
        } => (
            if warmup {
                PhaseKind::Warmup
            } else {
                PhaseKind::Open
            },
            Some(percent),
            Some(rate),
            None,
        ),
    };
    let open = matches!(pace, Pace::Open { .. });
    let lag = log.lag.percentiles().filter(|_| open);
    let (lost, duplicated, misrouted) = figures
        .as_ref()
        .map_or((0, 0, 0), |f| (f.lost, f.duplicated, f.misrouted));
    PhaseResult {
        kind,
        percent_of_max,
        target_rate,
        concurrency,
        duration_s: seconds,
        sent: log.end_seq - log.first_seq,
        accepted_total: log.accepted_seqs.len() as u64,
        accepted: log.measured_accepted,
        accepted_per_sec: log.accepted_per_sec(),
        delivered: figures.as_ref().map(|f| f.delivered_in_window),
        delivered_per_sec: figures
            .as_ref()
            .map(|f| f.delivered_in_window as f64 / seconds),
        publish: log.publish.percentiles(),
        e2e: figures.as_ref().and_then(|f| f.e2e.percentiles()),
        after_stamp: figures.as_ref().and_then(|f| f.after_stamp.percentiles()),
        e2e_over_10ms: figures.as_ref().map(|f| f.slow),
        e2e_over_10ms_in_pause: figures.as_ref().map(|f| f.slow_in_pause),
        pause_window_share: figures.as_ref().map(|f| f.pause_share),
        sender_lag_p99_ms: lag.map(|p| p.p99_ms),
        peak_in_flight: log.peak_in_flight,
        machine_pauses,
        lost,
        duplicated,
        misrouted,
        failed_requests: log.failures.clone(),
        cpu_s_per_1k: None,
        bench_cpu_s_per_1k: None,
        sleeps_per_event: None,
        bench_sleeps_per_event: None,
        herald_accept_p50_ms: None,
        herald_accept_p99_ms: None,
        herald_sync_p50_ms: None,
        herald_sync_p99_ms: None,
        herald_syncs_per_sec: None,
        herald_tokio_core_wait_us: None,
        herald_writer_core_wait_us: None,
    }
}
