//! Group-commit queue: many producers enqueue requests, one writer thread drains them in batches.
//!
//! While the writer is busy writing and syncing one batch, new requests pile up here; the next
//! [`CommitQueue::next`] hands all of them (up to a size cap) to the writer at once, so they share a
//! single write and a single fsync.
//!
//! Left alone, a steady set of N appenders settles into alternating small and large batches: the
//! writer grabs the first few waiters that come back from the previous commit while the rest are
//! still waking up. The [`Pacer`] evens this out: once the first request of a batch is there, the
//! writer waits a little (at most half the duration of the previous commit, capped at
//! [`MAX_GATHER_WAIT`]) for as many requests as the previous batch had. A lone appender (previous
//! batch of one) never waits. [`SyncSpacing`] bounds the rate of syncs from the other side: a
//! writer that synced less than the configured interval ago lets the next batch gather first.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sync::lock;

/// Upper bound of the wait for a batch to fill up.
pub(crate) const MAX_GATHER_WAIT: Duration = Duration::from_millis(1);

/// Tells the writer how long to let the next batch fill up, from the previous commit.
pub(crate) struct Pacer {
    last_items: usize,
    last_commit: Duration,
}

impl Pacer {
    pub(crate) fn new() -> Self {
        Pacer {
            last_items: 1,
            last_commit: Duration::ZERO,
        }
    }

    /// Records a commit of `items` requests that took `took` (write plus fsync).
    pub(crate) fn committed(&mut self, items: usize, took: Duration) {
        self.last_items = items;
        self.last_commit = took;
    }

    fn gather_items(&self) -> usize {
        self.last_items
    }

    fn gather_wait(&self) -> Duration {
        (self.last_commit / 2).min(MAX_GATHER_WAIT)
    }
}

/// Keeps the starts of consecutive syncs at least an interval apart (see
/// [`LogConfig::min_sync_interval`](crate::LogConfig::min_sync_interval)).
pub(crate) struct SyncSpacing {
    interval: Duration,
    last: Option<Instant>,
}

impl SyncSpacing {
    pub(crate) fn new(interval: Duration) -> Self {
        SyncSpacing {
            interval,
            last: None,
        }
    }

    /// Records that a sync starts at `at`.
    pub(crate) fn syncing(&mut self, at: Instant) {
        self.last = Some(at);
    }

    /// How long to let appends gather before taking the next batch, at `now`.
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        self.last.map_or(Duration::ZERO, |last| {
            (last + self.interval).saturating_duration_since(now)
        })
    }
}

/// Something with a size in bytes, used to cap batches.
pub(crate) trait Weighted {
    fn weight(&self) -> usize;
}

/// What the writer gets from [`CommitQueue::next`].
pub(crate) enum Next<T> {
    /// Requests to commit together, in arrival order.
    Batch(Vec<T>),
    /// Nothing arrived within the idle timeout.
    Idle,
    /// The queue is closed and fully drained: the writer should stop.
    Closed,
}

struct QueueState<T> {
    items: VecDeque<T>,
    closed: bool,
    /// Queue length at which a push wakes the writer.
    wake_at: usize,
    /// Whether the writer is asleep on `ready`. A push notifies only then: a notify is a futex
    /// syscall even with no one waiting, and while the writer writes and syncs a batch, every
    /// request of the next one arrives.
    writer_waiting: bool,
}

pub(crate) struct CommitQueue<T> {
    state: Mutex<QueueState<T>>,
    ready: Condvar,
}

impl<T: Weighted> CommitQueue<T> {
    pub(crate) fn new() -> Self {
        CommitQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                closed: false,
                wake_at: 1,
                writer_waiting: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// Enqueues `item`, or hands it back if the queue is closed.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(item);
        }
        state.items.push_back(item);
        let wake = state.writer_waiting && state.items.len() >= state.wake_at;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Refuses further pushes; already queued items are still handed out.
    pub(crate) fn close(&self) {
        lock(&self.state).closed = true;
        self.ready.notify_all();
    }

    /// Whether pushes are refused.
    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Closes the queue and returns everything still queued (used when the writer fails).
    pub(crate) fn close_and_drain(&self) -> Vec<T> {
        let mut state = lock(&self.state);
        state.closed = true;
        state.items.drain(..).collect()
    }

    /// Waits for work: every queued item whose cumulative weight stays within `max_weight` (always
    /// at least one), after letting the batch fill up as `pacer` suggests. `idle` bounds the wait
    /// for the first item.
    pub(crate) fn next(&self, max_weight: usize, idle: Duration, pacer: &Pacer) -> Next<T> {
        let mut state = lock(&self.state);
        state.wake_at = 1;
        state = self.wait_while(state, idle, |s| s.items.is_empty() && !s.closed);
        if state.items.is_empty() {
            return if state.closed {
                Next::Closed
            } else {
                Next::Idle
            };
        }
        let target = pacer.gather_items();
        if state.items.len() < target {
            state.wake_at = target;
            state = self.wait_while(state, pacer.gather_wait(), |s| {
                s.items.len() < target && !s.closed
            });
            state.wake_at = 1;
        }
        let mut total = 0usize;
        let mut count = 0usize;
        for item in &state.items {
            total = total.saturating_add(item.weight());
            if count > 0 && total > max_weight {
                break;
            }
            count += 1;
        }
        Next::Batch(state.items.drain(..count).collect())
    }

    fn wait_while<'a>(
        &self,
        mut state: MutexGuard<'a, QueueState<T>>,
        timeout: Duration,
        condition: impl FnMut(&mut QueueState<T>) -> bool,
    ) -> MutexGuard<'a, QueueState<T>> {
        if timeout.is_zero() {
            return state;
        }
        state.writer_waiting = true;
        let mut state = self
            .ready
            .wait_timeout_while(state, timeout, condition)
            .map(|(guard, _)| guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        state.writer_waiting = false;
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(usize);
    impl Weighted for Item {
        fn weight(&self) -> usize {
            self.0
        }
    }

    fn weights(next: Next<Item>) -> Vec<usize> {
        match next {
            Next::Batch(items) => items.into_iter().map(|i| i.0).collect(),
            Next::Idle => vec![],
            Next::Closed => panic!("queue unexpectedly closed"),
        }
    }

    #[test]
    fn syncs_are_spaced_from_the_start_of_the_last_one() {
        let start = Instant::now();
        let mut spacing = SyncSpacing::new(Duration::from_micros(500));
        assert_eq!(spacing.wait(start), Duration::ZERO, "nothing synced yet");
        spacing.syncing(start);
        assert_eq!(
            spacing.wait(start + Duration::from_micros(200)),
            Duration::from_micros(300)
        );
        assert_eq!(
            spacing.wait(start + Duration::from_millis(2)),
            Duration::ZERO
        );

        let mut unspaced = SyncSpacing::new(Duration::ZERO);
        unspaced.syncing(start);
        assert_eq!(unspaced.wait(start), Duration::ZERO);
    }

    #[test]
    fn batches_respect_the_cap_but_never_starve_a_large_item() {
        let queue = CommitQueue::new();
        let pacer = Pacer::new();
        for w in [4, 4, 4, 100, 1] {
            assert!(queue.push(Item(w)).is_ok());
        }
        let idle = Duration::from_millis(1);
        assert_eq!(weights(queue.next(10, idle, &pacer)), vec![4, 4]);
        assert_eq!(weights(queue.next(10, idle, &pacer)), vec![4]);
        assert_eq!(weights(queue.next(10, idle, &pacer)), vec![100]);
        assert_eq!(weights(queue.next(10, idle, &pacer)), vec![1]);
        assert!(matches!(queue.next(10, idle, &pacer), Next::Idle));
    }

    #[test]
    fn close_refuses_pushes_but_drains_queued_items() {
        let queue = CommitQueue::new();
        let pacer = Pacer::new();
        assert!(queue.push(Item(1)).is_ok());
        queue.close();
        assert!(queue.push(Item(2)).is_err());
        assert_eq!(
            weights(queue.next(10, Duration::from_secs(5), &pacer)),
            vec![1]
        );
        assert!(matches!(
            queue.next(10, Duration::from_secs(5), &pacer),
            Next::Closed
        ));
    }

    #[test]
    fn a_short_batch_waits_at_most_the_capped_gather_time() {
        let queue = std::sync::Arc::new(CommitQueue::new());
        let mut pacer = Pacer::new();
        pacer.committed(3, Duration::from_secs(10));
        assert!(queue.push(Item(1)).is_ok());
        let producer = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                assert!(queue.push(Item(2)).is_ok());
                assert!(queue.push(Item(3)).is_ok());
            })
        };
        // Half of the previous 10 s commit would be 5 s; the cap sends the batch out long before
        // the producer's items arrive.
        let started = std::time::Instant::now();
        assert_eq!(
            weights(queue.next(100, Duration::from_secs(5), &pacer)),
            vec![1]
        );
        assert!(started.elapsed() < Duration::from_millis(150));
        producer.join().expect("producer");
        assert_eq!(
            weights(queue.next(100, Duration::from_secs(5), &pacer)),
            vec![2, 3]
        );
    }

    #[test]
    fn a_push_wakes_a_writer_waiting_for_work() {
        let queue = std::sync::Arc::new(CommitQueue::new());
        let producer = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                assert!(queue.push(Item(7)).is_ok());
            })
        };
        // The writer is asleep when the push comes; it must be woken, not left to its idle timeout.
        let started = std::time::Instant::now();
        assert_eq!(
            weights(queue.next(100, Duration::from_secs(10), &Pacer::new())),
            vec![7]
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        producer.join().expect("producer");
    }

    #[test]
    fn enough_queued_items_or_a_lone_appender_never_wait() {
        let queue = CommitQueue::new();
        let mut pacer = Pacer::new();
        pacer.committed(2, Duration::from_secs(10));
        for w in [1, 2, 3] {
            assert!(queue.push(Item(w)).is_ok());
        }
        let started = std::time::Instant::now();
        assert_eq!(
            weights(queue.next(100, Duration::from_secs(5), &pacer)),
            vec![1, 2, 3]
        );
        assert!(queue.push(Item(4)).is_ok());
        assert_eq!(
            weights(queue.next(100, Duration::from_secs(5), &Pacer::new())),
            vec![4]
        );
        assert!(started.elapsed() < MAX_GATHER_WAIT);
    }
}
