//! [`Flow`]: how many events a source has in flight towards its sink, and how many it may start.
//!
//! A source starts a delivery only after [`Flow::admit`] (or [`Flow::try_admit`]) gave it a
//! [`Slot`]; the slot is released when the delivery's outcome is final. Upstream consumption
//! stops while no slot is free, so a slow sink slows the source down instead of filling memory.
//!
//! Push-back: when an attempt fails in a retryable way (429, 503, any 5xx, a timeout, a refused
//! connection), the window shrinks to one delivery until the sink accepts an event again. The
//! deliveries already in flight keep following their retry schedule; no new message is taken
//! until they are final or the sink recovers, and then one at a time as a probe.

use std::sync::{Arc, Mutex, PoisonError};

use herald_triggers::delivery::Attempt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The in-flight window of one consumer.
#[derive(Debug)]
pub(crate) struct Flow {
    window: usize,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    in_flight: usize,
    pushback: bool,
}

/// Permission to have one delivery in flight; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    flow: Arc<Flow>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.flow.lock().in_flight -= 1;
        self.flow.changed.notify_waiters();
    }
}

impl Flow {
    /// A flow allowing `window` deliveries in flight (at least one).
    pub(crate) fn new(window: usize) -> Arc<Flow> {
        Arc::new(Flow {
            window: window.max(1),
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot when one is free now.
    pub(crate) fn try_admit(self: &Arc<Self>) -> Option<Slot> {
        let mut state = self.lock();
        let limit = if state.pushback { 1 } else { self.window };
        if state.in_flight >= limit {
            return None;
        }
        state.in_flight += 1;
        Some(Slot { flow: self.clone() })
    }

    /// Waits for a free slot; `None` once `stop` is cancelled.
    pub(crate) async fn admit(self: &Arc<Self>, stop: &CancellationToken) -> Option<Slot> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if stop.is_cancelled() {
                return None;
            }
            if let Some(slot) = self.try_admit() {
                return Some(slot);
            }
            tokio::select! {
                _ = changed => {}
                _ = stop.cancelled() => return None,
            }
        }
    }

    /// Learns from one attempt at the sink: a retryable failure turns push-back on, an accepted
    /// event turns it off.
    pub(crate) fn observe(&self, attempt: &Attempt) {
        let pushback = match attempt {
            Attempt::Delivered { .. } => false,
            Attempt::Retryable { .. } => true,
            Attempt::Rejected { .. } => return,
        };
        let changed = {
            let mut state = self.lock();
            std::mem::replace(&mut state.pushback, pushback) != pushback
        };
        if changed {
            self.changed.notify_waiters();
        }
    }

    /// Whether the sink is pushing back now.
    pub(crate) fn is_pushing_back(&self) -> bool {
        self.lock().pushback
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    fn retryable() -> Attempt {
        Attempt::Retryable {
            status: Some(503),
            retry_after: None,
            body: Bytes::new(),
            error: "busy".into(),
        }
    }

    #[test]
    fn window_bounds_slots() {
        let flow = Flow::new(2);
        let a = flow.try_admit().unwrap();
        let _b = flow.try_admit().unwrap();
        assert!(flow.try_admit().is_none());
        drop(a);
        let _c = flow.try_admit().unwrap();
        assert!(flow.try_admit().is_none());
    }

    #[test]
    fn pushback_shrinks_the_window_to_one_until_the_sink_recovers() {
        let flow = Flow::new(4);
        let first = flow.try_admit().unwrap();
        flow.observe(&retryable());
        assert!(flow.try_admit().is_none(), "one in flight is the limit");
        drop(first);
        let probe = flow.try_admit().unwrap();
        assert!(flow.try_admit().is_none());
        flow.observe(&Attempt::Delivered {
            status: 202,
            reply: None,
        });
        assert!(flow.try_admit().is_some());
        drop(probe);
    }

    #[tokio::test]
    async fn admit_waits_for_a_slot_and_ends_on_stop() {
        let flow = Flow::new(1);
        let stop = CancellationToken::new();
        let held = flow.try_admit().unwrap();
        let waiter = {
            let (flow, stop) = (flow.clone(), stop.clone());
            tokio::spawn(async move { flow.admit(&stop).await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(held);
        assert!(waiter.await.unwrap());

        let held = flow.try_admit().unwrap();
        let waiter = {
            let (flow, stop) = (flow.clone(), stop.clone());
            tokio::spawn(async move { flow.admit(&stop).await.is_some() })
        };
        stop.cancel();
        assert!(!waiter.await.unwrap());
        drop(held);
    }
}
