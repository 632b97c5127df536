//! The two ways of driving load. Closed loop: N tasks, each sending back to back; latency runs
//! from the moment a send starts. Open loop: a fixed schedule at a constant rate; latency runs
//! from the scheduled time, so a slow answer cannot hide the sends it delays (no coordinated
//! omission). Both record what the sender saw in a [`SendLog`].

use super::clock::Clock;
use super::error::BenchError;
use super::latency::LatencyHistogram;
use super::pacer;
use super::target::{SendFailure, Target};
use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How long a closed-loop sender pauses after a failure, so a dead target is not hammered.
const FAILURE_PAUSE: Duration = Duration::from_millis(10);
/// Lead time before the first scheduled open-loop send.
const SCHEDULE_LEAD: Duration = Duration::from_millis(10);

/// What the load generator sends through, shared by every phase of a scenario.
#[derive(Clone)]
pub struct Load {
    pub target: Arc<Target>,
    pub clock: Clock,
    /// The next event id; ids never repeat within a scenario.
    pub next_seq: Arc<AtomicU64>,
    /// A send still unanswered after this counts as failed.
    pub request_timeout: Duration,
}

/// What the sender saw during one phase.
pub struct SendLog {
    /// Ids `first_seq..end_seq` were sent in this phase.
    pub first_seq: u64,
    pub end_seq: u64,
    /// Sends scheduled (open loop) or started (closed loop) in this window are measured; the
    /// ones before it are warm-up.
    pub measure_from: Instant,
    pub measure_until: Instant,
    /// Every accepted id, warm-up included: each must be delivered.
    pub accepted_seqs: Vec<u64>,
    /// Accepted sends within the measured window.
    pub measured_accepted: u64,
    /// When the last of them was answered.
    pub last_accepted: Option<Instant>,
    /// Failed sends by kind, warm-up included.
    pub failures: BTreeMap<String, u64>,
    /// Publish latency (request to acceptance) of measured sends.
    pub publish: LatencyHistogram,
    /// Open loop only: how late the generator started each measured send.
    pub lag: LatencyHistogram,
    /// Open loop only: the most sends unanswered at once. When it reaches the number of
    /// senders, sends waited for a free one: the system under test had fallen that far behind.
    pub peak_in_flight: Option<usize>,
}

impl SendLog {
    pub fn measured_seconds(&self) -> f64 {
        (self.measure_until - self.measure_from).as_secs_f64()
    }

    /// Measured acceptances per second, over the window or, when answers came later than its
    /// end (the system fell behind the schedule), until the last answer.
    pub fn accepted_per_sec(&self) -> f64 {
        let until = self
            .last_accepted
            .map_or(self.measure_until, |last| last.max(self.measure_until));
        self.measured_accepted as f64 / (until - self.measure_from).as_secs_f64()
    }
}

struct Recorder {
    log: SendLog,
    reported: HashSet<String>,
}

impl Recorder {
    fn new(first_seq: u64, measure_from: Instant, measure_until: Instant) -> Recorder {
        Recorder {
            log: SendLog {
                first_seq,
                end_seq: first_seq,
                measure_from,
                measure_until,
                accepted_seqs: Vec::new(),
                measured_accepted: 0,
                last_accepted: None,
                failures: BTreeMap::new(),
                publish: LatencyHistogram::new(),
                lag: LatencyHistogram::new(),
                peak_in_flight: None,
            },
            reported: HashSet::new(),
        }
    }

    /// Records the send of events `seqs`, due at `due`, started at `started`, answered at
    /// `answered`. Every event of a batch counts, with the latency of its request.
    fn record(
        &mut self,
        seqs: Range<u64>,
        due: Instant,
        started: Instant,
        answered: Instant,
        outcome: Result<(), SendFailure>,
    ) {
        let log = &mut self.log;
        let measured = due >= log.measure_from && due < log.measure_until;
        let events = seqs.end - seqs.start;
        match outcome {
            Ok(()) => {
                log.accepted_seqs.extend(seqs);
                if measured {
                    log.measured_accepted += events;
                    log.last_accepted = log.last_accepted.max(Some(answered));
                    for _ in 0..events {
                        log.publish.record(answered - due);
                    }
                    log.lag.record(started - due);
                }
            }
            Err(failure) => {
                let label = failure.label();
                if self.reported.insert(label.clone()) {
                    eprintln!("herald-bench:   send failed ({label}): {failure}");
                }
                *log.failures.entry(label).or_insert(0) += events;
            }
        }
    }
}

type SharedRecorder = Arc<Mutex<Recorder>>;

fn record(
    recorder: &SharedRecorder,
    seqs: Range<u64>,
    due: Instant,
    started: Instant,
    outcome: Result<(), SendFailure>,
) {
    let answered = Instant::now();
    recorder
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .record(seqs, due, started, answered, outcome);
}

fn finish(recorder: &SharedRecorder, next_seq: &AtomicU64) -> SendLog {
    let mut recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
    let emptied = Recorder::new(
        recorder.log.first_seq,
        recorder.log.measure_from,
        recorder.log.measure_until,
    );
    let mut log = std::mem::replace(&mut recorder.log, emptied.log);
    log.end_seq = next_seq.load(Ordering::Acquire);
    log
}

/// Takes the next ids and sends them (one event, or one batch); returns the ids and the outcome.
async fn send_next(load: &Load, due: Instant) -> (Range<u64>, Result<(), SendFailure>) {
    let count = load.target.events_per_send();
    let first = load.next_seq.fetch_add(count, Ordering::AcqRel);
    let sent_ns = load.clock.ns(due);
    let outcome = tokio::time::timeout(load.request_timeout, load.target.send(first, sent_ns))
        .await
        .unwrap_or(Err(SendFailure::Timeout));
    (first..first + count, outcome)
}

/// `concurrency` senders back to back for `warmup` (not measured) and then `duration`.
pub async fn closed_loop(
    load: &Load,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> SendLog {
    let first_seq = load.next_seq.load(Ordering::Acquire);
    let measure_from = Instant::now() + warmup;
    let measure_until = measure_from + duration;
    let recorder = Arc::new(Mutex::new(Recorder::new(
        first_seq,
        measure_from,
        measure_until,
    )));
    let mut senders = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let load = load.clone();
        let recorder = recorder.clone();
        senders.spawn(async move {
            loop {
                let started = Instant::now();
                if started >= measure_until {
                    break;
                }
                let (seqs, outcome) = send_next(&load, started).await;
                let failed = outcome.is_err();
                record(&recorder, seqs, started, started, outcome);
                if failed {
                    tokio::time::sleep(FAILURE_PAUSE).await;
                }
            }
        });
    }
    while senders.join_next().await.is_some() {}
    finish(&recorder, &load.next_seq)
}

/// Sends `rate` events per second for `duration` through `workers` senders, each taking the
/// next scheduled send when it is free: when all are busy, sends wait, and their latency still
/// counts from their scheduled time. A batching target gets `rate / batch` sends per second.
pub async fn open_loop(
    load: &Load,
    rate: f64,
    duration: Duration,
    workers: usize,
) -> Result<SendLog, BenchError> {
    let first_seq = load.next_seq.load(Ordering::Acquire);
    let measure_from = Instant::now() + SCHEDULE_LEAD;
    let measure_until = measure_from + duration;
    let recorder = Arc::new(Mutex::new(Recorder::new(
        first_seq,
        measure_from,
        measure_until,
    )));
    let (due_tx, due_rx) = tokio::sync::mpsc::unbounded_channel();
    let sends_per_sec = rate / load.target.events_per_send() as f64;
    let pacer = tokio::spawn(pacer::run(
        measure_from,
        measure_until,
        sends_per_sec,
        due_tx,
    ));
    let schedule = Arc::new(tokio::sync::Mutex::new(due_rx));
    let in_flight = Arc::new(InFlight::default());
    let mut senders = JoinSet::new();
    for _ in 0..workers.max(1) {
        let load = load.clone();
        let recorder = recorder.clone();
        let schedule = schedule.clone();
        let in_flight = in_flight.clone();
        senders.spawn(async move {
            loop {
                let next = schedule.lock().await.recv().await;
                let Some(due) = next else {
                    break;
                };
                let started = Instant::now();
                in_flight.start();
                let (seqs, outcome) = send_next(&load, due).await;
                in_flight.end();
                record(&recorder, seqs, due, started, outcome);
            }
        });
    }
    while senders.join_next().await.is_some() {}
    pacer
        .await
        .map_err(|e| BenchError::io("the pacer task", std::io::Error::other(e)))??;
    let mut log = finish(&recorder, &load.next_seq);
    log.peak_in_flight = Some(in_flight.peak.load(Ordering::Acquire));
    Ok(log)
}

/// Open-loop sends unanswered now, and the most at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    fn start(&self) {
        let now = self.now.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
    }

    fn end(&self) {
        self.now.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::analysis::{PauseWindows, analyze};
    use crate::bench::event::EventTemplate;
    use crate::bench::http_target::HttpTarget;
    use crate::bench::sink::Sink;

    fn load(clock: Clock, target: HttpTarget, request_timeout: Duration) -> Load {
        Load {
            target: Arc::new(Target::Http(target)),
            clock,
            next_seq: Arc::new(AtomicU64::new(0)),
            request_timeout,
        }
    }

    async fn direct(clock: Clock, sink: &Sink) -> Load {
        let target = HttpTarget::new(&sink.url(0), EventTemplate::new(64))
            .await
            .unwrap();
        load(clock, target, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn closed_loop_sends_back_to_back_and_every_event_arrives() {
        let clock = Clock::new();
        let sink = Sink::start(clock, None).unwrap();
        let load = direct(clock, &sink).await;
        let log = closed_loop(
            &load,
            4,
            Duration::from_millis(50),
            Duration::from_millis(200),
        )
        .await;
        assert!(log.failures.is_empty(), "{:?}", log.failures);
        assert!(log.measured_accepted > 10);
        assert!(
            log.accepted_seqs.len() as u64 > log.measured_accepted,
            "warm-up sends too"
        );
        assert_eq!(log.end_seq - log.first_seq, log.accepted_seqs.len() as u64);
        assert_eq!(log.publish.count(), log.measured_accepted);
        let figures = analyze(
            &sink.take(),
            &log,
            1,
            &clock,
            &PauseWindows::new(&[], &clock),
        );
        assert_eq!(
            (figures.lost, figures.duplicated, figures.misrouted),
            (0, 0, 0)
        );
        assert!(figures.e2e.count() >= log.measured_accepted);
    }

    #[tokio::test]
    async fn a_batching_target_takes_consecutive_ids_and_counts_every_event() {
        let clock = Clock::new();
        let sink = Sink::start(clock, None).unwrap();
        let target = HttpTarget::new(&sink.url(0), EventTemplate::new(64))
            .await
            .unwrap()
            .batching(5);
        let load = load(clock, target, Duration::from_secs(5));
        let log = closed_loop(&load, 3, Duration::ZERO, Duration::from_millis(200)).await;
        assert!(log.failures.is_empty(), "{:?}", log.failures);
        let mut seqs = log.accepted_seqs.clone();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..log.end_seq).collect::<Vec<_>>());
        assert_eq!(log.end_seq % 5, 0);
        assert_eq!(log.measured_accepted % 5, 0);
        assert_eq!(log.publish.count(), log.measured_accepted);
        assert_eq!(log.lag.count() * 5, log.measured_accepted);

        // The open loop schedules a fifth as many sends for the same event rate.
        let log = open_loop(&load, 500.0, Duration::from_millis(300), 4)
            .await
            .unwrap();
        assert_eq!(log.measured_accepted, 150);
        assert_eq!(log.lag.count(), 30);
    }

    #[tokio::test]
    async fn open_loop_keeps_the_schedule() {
        let clock = Clock::new();
        let sink = Sink::start(clock, None).unwrap();
        let load = direct(clock, &sink).await;
        let log = open_loop(&load, 500.0, Duration::from_millis(300), 8)
            .await
            .unwrap();
        assert!(log.failures.is_empty(), "{:?}", log.failures);
        assert_eq!(log.measured_accepted, 150);
        let rate = log.accepted_per_sec();
        assert!(rate > 250.0 && rate <= 500.0, "{rate}");
        assert_eq!(log.lag.count(), 150);
        let peak = log.peak_in_flight.unwrap();
        assert!((1..=8).contains(&peak), "{peak}");
        let figures = analyze(
            &sink.take(),
            &log,
            1,
            &clock,
            &PauseWindows::new(&[], &clock),
        );
        assert_eq!(figures.lost, 0);
        assert_eq!(figures.e2e.count(), 150);
    }

    #[tokio::test]
    async fn a_stuck_target_keeps_every_open_loop_sender_waiting() {
        // A listener that never accepts: each request waits out its timeout unanswered.
        let clock = Clock::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let target = HttpTarget::new(&url, EventTemplate::new(64)).await.unwrap();
        let load = load(clock, target, Duration::from_millis(200));
        let log = open_loop(&load, 100.0, Duration::from_millis(200), 4)
            .await
            .unwrap();
        assert_eq!(log.peak_in_flight, Some(4));
        assert_eq!(log.measured_accepted, 0);
        assert_eq!(log.failures.values().sum::<u64>(), 20);
        drop(listener);
    }

    #[tokio::test]
    async fn a_dead_target_counts_failures_instead_of_hanging() {
        let clock = Clock::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        drop(listener);
        let target = HttpTarget::new(&url, EventTemplate::new(64)).await.unwrap();
        let load = load(clock, target, Duration::from_secs(1));
        let log = closed_loop(&load, 2, Duration::ZERO, Duration::from_millis(100)).await;
        assert_eq!(log.measured_accepted, 0);
        assert!(log.failures["connect"] > 0);
    }
}
