//! The ingress memory budget: how many bytes of request bodies the ingress holds at once, over
//! all requests. A request reserves its declared `Content-Length` before its body is read (a
//! chunked body, with no length, grows its reservation chunk by chunk as they arrive), and keeps
//! the reservation until its events are durable: while they are decoded, encoded into records
//! and waiting for the fsync. Requests beyond the budget wait their turn, first come first
//! served, with their bodies still in the kernel's socket buffers, so overload turns into latency
//! (and, past [`MAX_WAIT`], a 503), never into unbounded memory.
//!
//! Room that comes free goes first to chunked requests waiting to grow, then to new requests in
//! arrival order. A request half read holds room already; were it to queue behind a new request
//! waiting for more room than is free, each would wait for the other until one gave up. A
//! waiting request takes its room whole when it fits, never a part of it while it waits.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// The longest a request waits for room before it is answered 503.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// Bytes of request bodies the ingress may hold at once.
#[derive(Debug)]
pub struct Budget {
    state: Mutex<State>,
    total: usize,
}

#[derive(Debug)]
struct State {
    free: usize,
    /// Chunked requests waiting to grow; served before `fresh`.
    growing: VecDeque<Waiter>,
    /// New requests waiting for their first room, in arrival order.
    fresh: VecDeque<Waiter>,
    next_id: u64,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    bytes: usize,
    granted: oneshot::Sender<()>,
}

/// Which queue a wait goes to.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Fresh,
    Grow,
}

/// Room held by one request; given back when dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a Budget,
    bytes: usize,
}

/// No room came free within the wait.
#[derive(Debug, thiserror::Error)]
#[error(
    "the ingress has {total} bytes of requests in memory and no room came free within {waited:?}"
)]
pub struct Exhausted {
    pub total: usize,
    pub waited: Duration,
}

impl Budget {
    /// A budget of `total` bytes (at least one).
    pub fn new(total: usize) -> Budget {
        let total = total.max(1);
        Budget {
            state: Mutex::new(State {
                free: total,
                growing: VecDeque::new(),
                fresh: VecDeque::new(),
                next_id: 0,
            }),
            total,
        }
    }

    /// The budget's size in bytes.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes reserved by requests right now.
    pub fn in_use(&self) -> usize {
        self.total - self.lock().free
    }

    /// Reserves `bytes`, waiting up to `wait` for room. A request larger than the whole budget
    /// reserves all of it (so it still runs, alone).
    pub async fn reserve(
        &self,
        bytes: usize,
        wait: Duration,
    ) -> Result<Reservation<'_>, Exhausted> {
        let bytes = bytes.clamp(1, self.total);
        self.acquire(bytes, wait, Kind::Fresh).await?;
        Ok(Reservation {
            budget: self,
            bytes,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn acquire(&self, bytes: usize, wait: Duration, kind: Kind) -> Result<(), Exhausted> {
        let granted = {
            let mut state = self.lock();
            let ahead = match kind {
                Kind::Grow => !state.growing.is_empty(),
                Kind::Fresh => !state.growing.is_empty() || !state.fresh.is_empty(),
            };
            if !ahead && bytes <= state.free {
                state.free -= bytes;
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            let id = state.next_id;
            state.next_id += 1;
            let waiter = Waiter {
                id,
                bytes,
                granted: tx,
            };
            state.queue(kind).push_back(waiter);
            Queued {
                budget: self,
                id,
                bytes,
                kind,
                granted: Some(rx),
            }
        };
        granted.wait(wait).await
    }

    /// Gives `bytes` back and hands room to the waiters it lets through.
    fn release(&self, bytes: usize) {
        let mut state = self.lock();
        state.free += bytes;
        state.hand_out();
    }
}

impl State {
    fn queue(&mut self, kind: Kind) -> &mut VecDeque<Waiter> {
        match kind {
            Kind::Grow => &mut self.growing,
            Kind::Fresh => &mut self.fresh,
        }
    }

    /// Grants room to waiting requests, growing ones first, each in arrival order; the first
    /// that does not fit holds back those behind it (so a large request is not starved by
    /// smaller ones), and a waiting grow holds back every new request.
    fn hand_out(&mut self) {
        for queue in [&mut self.growing, &mut self.fresh] {
            while let Some(waiter) = queue.front() {
                if waiter.bytes > self.free {
                    return;
                }
                let waiter = queue.pop_front().expect("the front waiter exists");
                self.free -= waiter.bytes;
                // A waiter leaves its queue before it stops listening; should it not, the room
                // stays free.
                if waiter.granted.send(()).is_err() {
                    self.free += waiter.bytes;
                }
            }
        }
    }
}

/// A request waiting in one of the queues. Dropped before its room came (timed out, or the
/// request went away), it leaves the queue; dropped with room granted but not taken, it gives
/// the room back.
struct Queued<'a> {
    budget: &'a Budget,
    id: u64,
    bytes: usize,
    kind: Kind,
    granted: Option<oneshot::Receiver<()>>,
}

impl Queued<'_> {
    async fn wait(mut self, wait: Duration) -> Result<(), Exhausted> {
        let granted = self
            .granted
            .as_mut()
            .expect("a queued request has a receiver");
        if let Ok(Ok(())) = tokio::time::timeout(wait, granted).await {
            self.granted = None;
            return Ok(());
        }
        Err(Exhausted {
            total: self.budget.total,
            waited: wait,
        })
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let Some(mut granted) = self.granted.take() else {
            return;
        };
        let mut state = self.budget.lock();
        let queue = state.queue(self.kind);
        if let Some(at) = queue.iter().position(|w| w.id == self.id) {
            queue.remove(at);
        } else if granted.try_recv().is_ok() {
            state.free += self.bytes;
        }
        // Leaving the queue (or giving room back) may let those behind through.
        state.hand_out();
    }
}

impl Reservation<'_> {
    /// Bytes this reservation holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `bytes` more, waiting up to `wait` for room; never more than the whole budget. On
    /// failure the reservation keeps what it had.
    pub async fn grow(&mut self, bytes: usize, wait: Duration) -> Result<(), Exhausted> {
        let wanted = bytes.min(self.budget.total - self.bytes);
        if wanted > 0 {
            self.budget.acquire(wanted, wait, Kind::Grow).await?;
            self.bytes += wanted;
        }
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::task::JoinHandle;

    /// Reserves `bytes` in a task of its own; the task ends with the bytes it got.
    fn spawn_reserve(budget: &Arc<Budget>, bytes: usize) -> JoinHandle<Result<usize, Exhausted>> {
        let budget = budget.clone();
        tokio::spawn(async move { budget.reserve(bytes, MAX_WAIT).await.map(|r| r.bytes()) })
    }

    /// Asserts that `task` is still waiting a moment later.
    async fn assert_waiting<T>(task: &JoinHandle<T>, why: &str) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!task.is_finished(), "{why}");
    }

    #[tokio::test]
    async fn reservations_are_given_back_when_dropped() {
        let budget = Budget::new(1000);
        let a = budget.reserve(600, MAX_WAIT).await.unwrap();
        assert_eq!(budget.in_use(), 600);
        let b = budget.reserve(400, MAX_WAIT).await.unwrap();
        assert_eq!(budget.in_use(), 1000);
        drop(a);
        assert_eq!(budget.in_use(), 400);
        drop(b);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_request_waits_for_room_and_gets_it_when_another_finishes() {
        let budget = Arc::new(Budget::new(1000));
        let held = budget.reserve(800, MAX_WAIT).await.unwrap();
        let waiter = spawn_reserve(&budget, 500);
        assert_waiting(&waiter, "500 bytes do not fit beside 800 of 1000").await;
        drop(held);
        assert_eq!(waiter.await.unwrap().unwrap(), 500);
    }

    #[tokio::test]
    async fn no_room_within_the_wait_is_an_error_and_takes_nothing() {
        let budget = Budget::new(1000);
        let _held = budget.reserve(1000, MAX_WAIT).await.unwrap();
        let err = budget
            .reserve(1, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!(err.total, 1000);
        assert_eq!(budget.in_use(), 1000);
    }

    #[tokio::test]
    async fn a_request_larger_than_the_budget_runs_alone() {
        let budget = Budget::new(1000);
        let all = budget.reserve(5000, MAX_WAIT).await.unwrap();
        assert_eq!(budget.in_use(), 1000);
        assert!(budget.reserve(1, Duration::from_millis(10)).await.is_err());
        drop(all);
        assert!(budget.reserve(1, Duration::from_millis(10)).await.is_ok());
    }

    #[tokio::test]
    async fn a_reservation_grows_as_a_chunked_body_arrives_up_to_the_whole_budget() {
        let budget = Budget::new(1000);
        let mut room = budget.reserve(0, MAX_WAIT).await.unwrap();
        assert_eq!(room.bytes(), 1);
        room.grow(300, MAX_WAIT).await.unwrap();
        assert_eq!(budget.in_use(), 301);
        let other = budget.reserve(600, MAX_WAIT).await.unwrap();
        // 200 more do not fit beside 301 + 600: the grow fails and keeps what it had.
        assert!(room.grow(200, Duration::from_millis(20)).await.is_err());
        assert_eq!(room.bytes(), 301);
        drop(other);
        room.grow(5000, MAX_WAIT).await.unwrap();
        assert_eq!(room.bytes(), 1000);
        drop(room);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_chunked_request_grows_past_a_new_request_waiting_for_more_than_is_free() {
        let budget = Arc::new(Budget::new(1000));
        let mut chunked = budget.reserve(0, MAX_WAIT).await.unwrap();
        chunked.grow(299, MAX_WAIT).await.unwrap();
        let large = spawn_reserve(&budget, 900);
        assert_waiting(&large, "900 bytes do not fit beside 300 of 1000").await;
        // The waiting request holds nothing, so the chunked one still finds its room.
        assert_eq!(budget.in_use(), 300);
        tokio::time::timeout(Duration::from_secs(1), chunked.grow(200, MAX_WAIT))
            .await
            .expect("the chunked request is not held behind the waiting one")
            .unwrap();
        drop(chunked);
        assert_eq!(large.await.unwrap().unwrap(), 900);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn room_that_comes_free_goes_to_a_waiting_grow_before_new_requests() {
        let budget = Arc::new(Budget::new(1000));
        let first = budget.reserve(500, MAX_WAIT).await.unwrap();
        let mut chunked = budget.reserve(300, MAX_WAIT).await.unwrap();
        let mut grow = Box::pin(chunked.grow(300, MAX_WAIT));
        assert!(
            futures::poll!(&mut grow).is_pending(),
            "300 more do not fit in 200"
        );
        let fresh = spawn_reserve(&budget, 200);
        // 200 bytes are free, enough for the new request, but a grow is waiting first.
        assert_waiting(&fresh, "a new request does not jump a waiting grow").await;
        assert_eq!(budget.in_use(), 800);
        drop(first);
        grow.await.unwrap();
        assert_eq!(chunked.bytes(), 600);
        drop(chunked);
        assert_eq!(fresh.await.unwrap().unwrap(), 200);
    }

    #[tokio::test]
    async fn a_request_that_stops_waiting_takes_no_room_and_holds_no_one_back() {
        let budget = Arc::new(Budget::new(1000));
        let held = budget.reserve(600, MAX_WAIT).await.unwrap();
        let gone = spawn_reserve(&budget, 900);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let next = spawn_reserve(&budget, 300);
        assert_waiting(&next, "300 waits behind the 900 that came first").await;
        // The client of the 900-byte request disconnects while it waits.
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        assert_eq!(next.await.unwrap().unwrap(), 300);
        drop(held);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn room_granted_to_a_request_that_went_away_comes_back() {
        let budget = Budget::new(1000);
        let held = budget.reserve(1000, MAX_WAIT).await.unwrap();
        let mut waiting = Box::pin(budget.reserve(500, MAX_WAIT));
        assert!(futures::poll!(&mut waiting).is_pending());
        // Room is handed to the waiting request, which goes away before it takes it.
        drop(held);
        drop(waiting);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_churn_every_byte_comes_back() {
        let budget = Arc::new(Budget::new(1000));
        let mut tasks = tokio::task::JoinSet::new();
        let mut handles = Vec::new();
        for i in 0..300usize {
            let budget = budget.clone();
            let handle = tasks.spawn(async move {
                // Some give up quickly, most wait; some are chunked and grow.
                let wait = Duration::from_millis(if i % 3 == 0 { 1 } else { 300 });
                let Ok(mut room) = budget.reserve((i * 37) % 700, wait).await else {
                    return;
                };
                if i % 2 == 0 {
                    let _ = room.grow((i * 13) % 400, wait).await;
                }
                tokio::time::sleep(Duration::from_micros((i as u64 * 7) % 500)).await;
            });
            handles.push(handle);
        }
        // Requests whose clients go away at any point: waiting, just granted, or holding room.
        for (i, handle) in handles.iter().enumerate() {
            if i % 5 == 0 {
                tokio::time::sleep(Duration::from_micros(50)).await;
                handle.abort();
            }
        }
        while let Some(ended) = tasks.join_next().await {
            if let Err(err) = ended {
                assert!(err.is_cancelled(), "{err}");
            }
        }
        assert_eq!(budget.in_use(), 0);
        assert!(
            budget
                .reserve(1000, Duration::from_millis(10))
                .await
                .is_ok()
        );
    }
}
