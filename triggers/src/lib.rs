//! Herald's triggers: which events a Trigger wants, and getting them to its subscriber.
//!
//! The path of an event through this crate:
//! 1. [`dispatch`] — a worker per Trigger reads the broker's log from the Trigger's position;
//! 2. [`filter`] — the Trigger's compiled filter (attributes, Subscriptions API dialects, [`cesql`])
//!    decides whether it matches;
//! 3. [`delivery`] — matching events are sent to the subscriber with retries and backoff;
//! 4. [`dispatch::settle`] — a reply goes back into the broker; a failure goes to the dead-letter
//!    sink and the [`deadletter`] store;
//! 5. back in [`dispatch`], the position advances past events whose outcome is final.
//!
//! [`metrics`] counts attempts, latency, dead letters and replies for `/metrics`; [`replay`] sends
//! dead letters or a window of the log once more.

pub mod cesql;
pub mod deadletter;
pub mod delivery;
pub mod dispatch;
pub mod filter;
pub mod metrics;
pub mod replay;
