//! One Trigger's worker: read from the committed position, filter, deliver under the pacing gate
//! (and per-key order when asked), settle each outcome, and commit the low watermark. A slow
//! subscriber only fills its own window; the backlog stays in the log, never in memory.

use super::ordering::{KeyedQueue, Order, key_of};
use super::pacing::{Gate, RateLimit, Signal};
use super::retry_state::{self, Pending};
use super::router::{CATCH_UP_MAX, Subscription};
use super::settle::{TTL, settle, settled_without_event};
use super::watermark::Watermark;
use super::{BrokerLink, TriggerPlan, position};
use crate::delivery::{Attempt, Final};
use crate::metrics::{AttemptMeter, Labels, trigger_labels};
use herald_cloudevent::{Event, record};
use herald_log::LogRecord;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Records read from the log per batch while catching up.
const READ_BATCH: usize = 256;
/// Most records waiting behind busy keys (ordered mode) before reading pauses.
const MAX_WAITING: usize = 1024;
/// How often a Trigger fed by the router moves its position over the records it did not match.
const ROUTED_PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Events started but not yet settled (on the wire or waiting for a retry), per allowed request in
/// flight. Bounds a Trigger's memory when its subscriber is down: the rest stays in the log.
const WINDOW_PER_REQUEST: usize = 4;

fn window_size(max_in_flight: usize) -> usize {
    max_in_flight.max(1) * WINDOW_PER_REQUEST
}

/// Whether a routed Trigger's progress tick sleeps: it does once a tick finds the router's
/// position unchanged since the tick before, until the router moves.
#[derive(Debug, Default)]
struct RoutedIdle {
    last_tick: Option<u64>,
    asleep: bool,
}

impl RoutedIdle {
    fn ticked(&mut self, position: u64) {
        self.asleep = self.last_tick == Some(position);
        self.last_tick = Some(position);
    }
}

/// Live figures of one Trigger, for status and metrics.
#[derive(Debug, Default)]
pub struct TriggerStats {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub in_flight: AtomicU64,
    pub position: AtomicU64,
    pub concurrency_limit: AtomicU64,
    /// Log records that retention removed before this Trigger read them: never delivered.
    pub expired: AtomicU64,
}

/// A running Trigger worker.
pub struct TriggerHandle {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    pub stats: Arc<TriggerStats>,
}

impl TriggerHandle {
    /// Stops reading, lets attempts on the wire finish, interrupts retry waits (their schedules
    /// are stored), commits the final position and returns.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "trigger worker panicked");
        }
    }
}

/// Starts a Trigger's worker. A Trigger with no stored position starts at the log's head (events
/// sent before the Trigger existed are not delivered to it), and that position is stored before
/// the worker reads anything, so a crash cannot skip events sent meanwhile.
pub async fn spawn(
    plan: TriggerPlan,
    link: BrokerLink,
) -> Result<TriggerHandle, herald_log::LogError> {
    let start = match position::load(link.state.as_ref(), &plan.id.name) {
        Some(stored) => stored,
        None => {
            let head = link.log.head();
            position::store(link.state.as_ref(), &plan.id.name, head).await?;
            head
        }
    };
    let stats = Arc::new(TriggerStats::default());
    stats.position.store(start, Ordering::Relaxed);
    let stop = CancellationToken::new();
    let span = tracing::info_span!("trigger", trigger = %plan.id, broker = %plan.id.broker);
    let resumable = retry_state::stored_offsets(link.state.as_ref(), &plan.id.name);
    let worker = Worker {
        resumable: std::sync::Mutex::new(resumable),
        labels: trigger_labels(&plan.id.namespace, &plan.id.broker, &plan.id.name),
        meter: link.metrics.meter(trigger_labels(
            &plan.id.namespace,
            &plan.id.broker,
            &plan.id.name,
        )),
        gate: Gate::new(plan.max_in_flight),
        rate: plan.rate_limit.map(RateLimit::new),
        plan,
        link,
        stats: stats.clone(),
        stop: stop.clone(),
    };
    let task = tokio::spawn(Arc::new(worker).run(start).instrument(span));
    Ok(TriggerHandle { stop, task, stats })
}

struct Worker {
    plan: TriggerPlan,
    link: BrokerLink,
    labels: Labels,
    meter: AttemptMeter,
    /// Offsets whose retry schedules an earlier run stored; nothing else needs a lookup.
    resumable: std::sync::Mutex<foldhash::HashSet<u64>>,
    gate: Gate,
    rate: Option<RateLimit>,
    stats: Arc<TriggerStats>,
    stop: CancellationToken,
}

/// Where a worker gets its records from.
enum Feed {
    /// The broker's router sends the matches.
    Routed(Subscription),
    /// The worker reads the log itself from `next` (behind the router, or detached by it).
    Reading { next: u64 },
}

/// A delivery that ended: its offset, ordering key, and whether its outcome is final.
struct Done {
    offset: u64,
    key: Option<String>,
    is_final: bool,
}

/// The worker's bookkeeping between the log and the deliveries.
struct Progress {
    watermark: Watermark,
    keyed: KeyedQueue,
    /// Records that may start as soon as the gate allows.
    ready: VecDeque<(LogRecord, Option<String>)>,
}

impl Worker {
    async fn run(self: Arc<Self>, start: u64) {
        let (positions_tx, positions_rx) = watch::channel(position::Progress {
            position: start,
            settled: 0,
        });
        let committer = tokio::spawn(position::commit_loop(
            self.link.state.clone(),
            self.plan.id.name.clone(),
            positions_rx,
        ));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut progress = Progress {
            watermark: Watermark::new(start),
            keyed: KeyedQueue::default(),
            ready: VecDeque::new(),
        };
        let mut deliveries = JoinSet::new();
        let window = Arc::new(Semaphore::new(window_size(self.plan.max_in_flight)));
        let mut head = self.link.log.watch_head();
        let mut routed = self.link.router.position();
        // A routed Trigger learns how far the router got (the records it skipped) on this tick,
        // not on every batch: with a thousand Triggers, waking each of them per batch would cost
        // more than routing itself. Its matches still arrive at once.
        let mut progress_tick = tokio::time::interval(ROUTED_PROGRESS_EVERY);
        progress_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A tick that finds the router where the last one left it puts the Trigger to sleep
        // until the router moves again: idle, a thousand ticking Triggers took 3.5% of a core.
        let mut idle = RoutedIdle::default();
        let filter = Arc::new(self.plan.filter.clone());
        let mut feed = Feed::Reading {
            next: self.past_removed(start, self.link.log.earliest()),
        };

        'running: while !self.stop.is_cancelled() {
            while let Ok(done) = done_rx.try_recv() {
                self.complete(&mut progress, done);
            }
            self.publish(&progress, &positions_tx);
            while deliveries.try_join_next().is_some() {}

            // Start what is ready, while the window of unsettled events has room.
            if let Some((rec, key)) = progress.ready.pop_front() {
                // While the window is full, keep settling completions (and publishing progress).
                let permit = loop {
                    tokio::select! {
                        _ = self.stop.cancelled() => break 'running,
                        permit = window.clone().acquire_owned() => {
                            break permit.expect("the window is never closed")
                        }
                        Some(done) = done_rx.recv() => {
                            self.complete(&mut progress, done);
                            self.publish(&progress, &positions_tx);
                        }
                    }
                };
                let worker = self.clone();
                let done = done_tx.clone();
                // Boxed: the delivery's future (its whole exchange and retry state) is large,
                // and a task copies its future whole several times as it is spawned and as it
                // finishes; callgrind counted 3.6k instructions of memcpy per delivery.
                deliveries.spawn(Box::pin(async move {
                    let is_final = worker.deliver(&rec).await;
                    drop(permit);
                    let _ = done.send(Done {
                        offset: rec.offset,
                        key,
                        is_final,
                    });
                }));
                continue;
            }

            // Too much waits behind busy keys: let deliveries finish before taking more.
            if progress.keyed.waiting() >= MAX_WAITING {
                tokio::select! {
                    _ = self.stop.cancelled() => break 'running,
                    Some(done) = done_rx.recv() => self.complete(&mut progress, done),
                }
                continue;
            }

            match &mut feed {
                Feed::Routed(subscription) => {
                    tokio::select! {
                        _ = self.stop.cancelled() => break 'running,
                        Some(done) = done_rx.recv() => self.complete(&mut progress, done),
                        rec = subscription.records.recv() => match rec {
                            Some(rec) => self.admit_routed(&mut progress, rec),
                            None => {
                                let next = subscription.resume_at().unwrap_or(*routed.borrow());
                                feed = Feed::Reading { next };
                            }
                        },
                        // A router that is gone wakes it too, and it ticks as before.
                        _ = routed.changed(), if idle.asleep => {
                            idle.asleep = false;
                            progress_tick.reset();
                        }
                        _ = progress_tick.tick(), if !idle.asleep => {
                            // Every match below the router's position is in the channel by now.
                            let position = *routed.borrow_and_update();
                            idle.ticked(position);
                            while let Ok(rec) = subscription.records.try_recv() {
                                self.admit_routed(&mut progress, rec);
                            }
                            match subscription.resume_at() {
                                Some(next) => feed = Feed::Reading { next },
                                None => progress.watermark.advance_to(position),
                            }
                        }
                    }
                }
                Feed::Reading { next } => {
                    // Close enough to the router: let it feed us again.
                    if *next + CATCH_UP_MAX >= *routed.borrow() {
                        match self
                            .link
                            .router
                            .attach(&self.plan.id.name, filter.clone(), *next)
                            .await
                        {
                            Ok(subscription) => {
                                feed = Feed::Routed(subscription);
                                idle = RoutedIdle::default();
                                continue;
                            }
                            Err(_) if *next >= *head.borrow() => {
                                // Refused while caught up with the log: wait for more.
                                tokio::select! {
                                    _ = self.stop.cancelled() => break 'running,
                                    _ = head.changed() => {}
                                    Some(done) = done_rx.recv() => self.complete(&mut progress, done),
                                }
                                continue;
                            }
                            Err(_) => {}
                        }
                    }
                    if *next >= *head.borrow_and_update() {
                        tokio::select! {
                            _ = self.stop.cancelled() => break 'running,
                            changed = head.changed() => if changed.is_err() { break 'running },
                            Some(done) = done_rx.recv() => self.complete(&mut progress, done),
                        }
                        continue;
                    }
                    let records = match self.link.log.read(*next, READ_BATCH).await {
                        Ok(records) => records,
                        Err(err) => {
                            tracing::error!(error = %err, offset = *next, "reading the log failed");
                            tokio::select! {
                                _ = self.stop.cancelled() => break 'running,
                                _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            }
                        }
                    };
                    let Some(first) = records.first() else {
                        // Retention removed what we were about to read: continue from the earliest.
                        *next = self.past_removed(*next, self.link.log.earliest());
                        tokio::task::yield_now().await;
                        continue;
                    };
                    self.past_removed(*next, first.offset);
                    for rec in records {
                        *next = rec.offset + 1;
                        self.admit(&mut progress, rec);
                    }
                }
            }
        }

        // Drain: attempts on the wire finish; retry waits were interrupted by the same token.
        self.link.router.detach(&self.plan.id.name);
        drop(done_tx);
        while deliveries.join_next().await.is_some() {}
        while let Some(done) = done_rx.recv().await {
            self.complete(&mut progress, done);
        }
        self.publish(&progress, &positions_tx);
        drop(positions_tx);
        if let Err(err) = committer.await {
            tracing::error!(error = %err, "position committer panicked");
        }
    }

    /// Where to read on when the log's first record left is `kept` and this Trigger was to read
    /// `next`: records in between were removed by retention before the Trigger saw them. They are
    /// counted and logged, never silently passed over.
    fn past_removed(&self, next: u64, kept: u64) -> u64 {
        if kept > next {
            let removed = kept - next;
            self.stats.expired.fetch_add(removed, Ordering::Relaxed);
            tracing::warn!(
                trigger = %self.plan.id.name,
                from = next,
                to = kept,
                removed,
                "retention removed log records before this Trigger read them; they will not be delivered"
            );
        }
        next.max(kept)
    }

    /// Queues a record the router found matching.
    fn admit_routed(&self, progress: &mut Progress, rec: LogRecord) {
        match self.plan.order {
            Order::Unordered => {
                progress.watermark.start(rec.offset);
                progress.ready.push_back((rec, None));
            }
            Order::Ordered => match record::decode(&rec.payload) {
                Ok(event) => self.queue(progress, rec, &event),
                Err(_) => progress.watermark.skip(rec.offset),
            },
        }
    }

    /// Filters a record read from the log and queues it for delivery when it matches.
    fn admit(&self, progress: &mut Progress, rec: LogRecord) {
        match self.matching(&rec) {
            Some(event) => self.queue(progress, rec, &event),
            None => progress.watermark.skip(rec.offset),
        }
    }

    /// Queues a matching record: ready at once, or behind its key's event in flight.
    fn queue(&self, progress: &mut Progress, rec: LogRecord, event: &Event) {
        progress.watermark.start(rec.offset);
        match self.plan.order {
            Order::Unordered => progress.ready.push_back((rec, None)),
            Order::Ordered => {
                let key = key_of(event);
                if let Some(rec) = progress.keyed.admit(key.clone(), rec) {
                    progress.ready.push_back((rec, Some(key)));
                }
            }
        }
    }

    /// A delivery ended: the watermark moves, and the next event of its key may start.
    fn complete(&self, progress: &mut Progress, done: Done) {
        if done.is_final {
            progress.watermark.finish(done.offset);
        }
        if let Some(key) = done.key
            && let Some(next) = progress.keyed.finish(&key)
        {
            progress.ready.push_back((next, Some(key)));
        }
    }

    fn publish(&self, progress: &Progress, positions: &watch::Sender<position::Progress>) {
        let position = progress.watermark.position();
        let settled = self.stats.delivered.load(Ordering::Relaxed)
            + self.stats.failed.load(Ordering::Relaxed);
        let published = position::Progress { position, settled };
        self.stats.position.store(position, Ordering::Relaxed);
        self.stats
            .in_flight
            .store(progress.watermark.in_flight() as u64, Ordering::Relaxed);
        self.stats
            .concurrency_limit
            .store(self.gate.limit() as u64, Ordering::Relaxed);
        positions.send_if_modified(|current| {
            let changed = *current != published;
            *current = published;
            changed
        });
    }

    /// The record's event when it passes this Trigger's filter. Undecodable records are skipped
    /// with an error log (the log verified their checksum, so this means a format bug).
    fn matching(&self, rec: &LogRecord) -> Option<Event> {
        if let Some(required) = self.plan.filter.required_type()
            && record::peek_type(&rec.payload) != Some(required)
        {
            return None;
        }
        match record::decode(&rec.payload) {
            Ok(event) => self.plan.filter.matches(&event).then_some(event),
            Err(err) => {
                tracing::error!(offset = rec.offset, error = %err, "undecodable record skipped");
                None
            }
        }
    }

    /// Delivers one record (resuming a stored retry schedule) and settles the outcome; returns
    /// whether the outcome is final. Each attempt takes a slot of the pacing gate (and a rate-limit
    /// slot); waits between retries hold none.
    async fn deliver(&self, rec: &LogRecord) -> bool {
        // Subscribers do not see the hop counter (as in Knative); replies get it back.
        let Ok(mut outgoing) = record::decode_shared(&rec.payload) else {
            return true;
        };
        outgoing.remove(TTL);
        let trigger = self.plan.id.name.as_str();
        let state = self.link.state.as_ref();
        let stored = self
            .resumable
            .lock()
            .expect("resumable lock")
            .remove(&rec.offset);
        let pending = stored
            .then(|| retry_state::load(state, trigger, rec.offset))
            .flatten();
        if let Some(p) = pending {
            let wait = p.due_ms - chrono::Utc::now().timestamp_millis();
            if wait > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                    _ = self.stop.cancelled() => return false,
                }
            }
        }
        let first_attempt = pending.map_or(1, |p| p.next_attempt);
        let mut stored_schedule = pending.is_some();
        let sender = &self.link.sender;
        let policy = &self.plan.policy;
        let url = &self.plan.subscriber;
        let outcome = policy
            .run(
                url,
                &outgoing,
                || async {
                    self.gate.acquire().await;
                    if let Some(rate) = &self.rate {
                        rate.wait().await;
                    }
                    let started = Instant::now();
                    let attempt = sender
                        .attempt(url, &outgoing, policy.format, policy.timeout)
                        .await;
                    let latency = started.elapsed();
                    self.gate.release(Signal {
                        latency,
                        backpressure: is_backpressure(&attempt),
                    });
                    self.stats
                        .concurrency_limit
                        .store(self.gate.limit() as u64, Ordering::Relaxed);
                    self.meter
                        .attempt(attempt.label(), attempt.status(), latency.as_secs_f64());
                    attempt
                },
                first_attempt,
                &self.stop,
                |next_attempt, wait| {
                    stored_schedule = true;
                    let due_ms = chrono::Utc::now().timestamp_millis() + wait.as_millis() as i64;
                    let pending = Pending {
                        next_attempt,
                        due_ms,
                    };
                    async move {
                        if let Err(err) =
                            retry_state::store(state, trigger, rec.offset, pending).await
                        {
                            tracing::warn!(error = %err, "storing a retry schedule failed");
                        }
                    }
                },
            )
            .await;
        let delivered = matches!(outcome, Final::Delivered { .. });
        let failed = matches!(outcome, Final::Failed { .. });
        // Replies and dead letters need the event as stored (hop counter included): decode it
        // again only for them.
        let is_final = match settled_without_event(&outcome) {
            Some(is_final) => is_final,
            None => match record::decode_shared(&rec.payload) {
                // Boxed: settling (a reply or a dead letter) is the rare path, and its future
                // would otherwise make every delivery's task larger.
                Ok(event) => {
                    Box::pin(settle(
                        &self.plan,
                        &self.link,
                        &self.labels,
                        &event,
                        outcome,
                        &self.stop,
                    ))
                    .await
                }
                Err(_) => true,
            },
        };
        if is_final {
            if delivered {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
            } else if failed {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
            if stored_schedule
                && let Err(err) = retry_state::clear(state, trigger, rec.offset).await
            {
                tracing::warn!(error = %err, "clearing a retry schedule failed");
            }
        }
        is_final
    }
}

/// Whether an attempt shows the subscriber pushing back: 429, 503, or no answer in time.
fn is_backpressure(attempt: &Attempt) -> bool {
    match attempt {
        Attempt::Retryable { status, .. } => matches!(status, None | Some(429) | Some(503)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routed_trigger_sleeps_once_a_tick_finds_the_router_where_the_last_one_did() {
        let mut idle = RoutedIdle::default();
        idle.ticked(10);
        assert!(!idle.asleep);
        idle.ticked(12);
        assert!(!idle.asleep);
        idle.ticked(12);
        assert!(idle.asleep);
        // Woken when the router moves: the next tick sees progress and keeps ticking.
        idle.asleep = false;
        idle.ticked(15);
        assert!(!idle.asleep);
    }
}
