//! The ingress memory budget: how many bytes of request bodies the ingress holds at once, over
//! all requests. A request reserves its declared `Content-Length` before its body is read (a
//! chunked body, with no length, grows its reservation chunk by chunk as they arrive), and keeps
//! the reservation until its events are durable: while they are decoded, encoded into records
//! and waiting for the fsync. Requests beyond the budget wait their turn, first come first
//! served, with their bodies still in the kernel's socket buffers, so overload turns into latency
//! (and, past [`MAX_WAIT`], a 503), never into unbounded memory.

use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// The longest a request waits for room before it is answered 503.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// Bytes of request bodies the ingress may hold at once.
#[derive(Debug)]
pub struct Budget {
    free: Semaphore,
    total: usize,
}

/// Room held by one request; given back when dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a Budget,
    permit: SemaphorePermit<'a>,
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
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        Budget {
            free: Semaphore::new(total),
            total,
        }
    }

    /// The budget's size in bytes.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes reserved by requests right now.
    pub fn in_use(&self) -> usize {
        self.total - self.free.available_permits()
    }

    /// Reserves `bytes`, waiting up to `wait` for room. A request larger than the whole budget
    /// reserves all of it (so it still runs, alone).
    pub async fn reserve(
        &self,
        bytes: usize,
        wait: Duration,
    ) -> Result<Reservation<'_>, Exhausted> {
        let permit = self.acquire(bytes.clamp(1, self.total), wait).await?;
        Ok(Reservation {
            budget: self,
            permit,
        })
    }

    async fn acquire(
        &self,
        bytes: usize,
        wait: Duration,
    ) -> Result<SemaphorePermit<'_>, Exhausted> {
        let wanted = u32::try_from(bytes).unwrap_or(u32::MAX);
        match tokio::time::timeout(wait, self.free.acquire_many(wanted)).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(Exhausted {
                total: self.total,
                waited: wait,
            }),
        }
    }
}

impl Reservation<'_> {
    /// Bytes this reservation holds.
    pub fn bytes(&self) -> usize {
        self.permit.num_permits()
    }

    /// Holds `bytes` more, waiting up to `wait` for room; never more than the whole budget. On
    /// failure the reservation keeps what it had.
    pub async fn grow(&mut self, bytes: usize, wait: Duration) -> Result<(), Exhausted> {
        let wanted = bytes.min(self.budget.total - self.bytes());
        if wanted > 0 {
            let more = self.budget.acquire(wanted, wait).await?;
            self.permit.merge(more);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let budget = std::sync::Arc::new(Budget::new(1000));
        let held = budget.reserve(800, MAX_WAIT).await.unwrap();
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let _room = budget.reserve(500, MAX_WAIT).await.unwrap();
                started.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "500 bytes do not fit beside 800 of 1000"
        );
        drop(held);
        let waited = waiter.await.unwrap();
        assert!(waited >= Duration::from_millis(40), "{waited:?}");
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
}
