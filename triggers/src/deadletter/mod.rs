//! Herald's own dead-letter store: every event that reaches the dead-letter path is kept here with
//! its failure history, whether or not a `deadLetterSink` also took it, so it is never lost.
//!
//! - [`entry`] is what is kept for each dead letter;
//! - [`store`] is the [`DeadLetterStore`] trait and its implementation over a broker's
//!   [`StateStore`](herald_log::StateStore), so every log backend that provides a state store
//!   provides a dead-letter store too;
//! - [`select`] chooses entries (origin, time, CESQL filter, resolved or not);
//! - [`stats`] counts them by Trigger, reason and status code.
//!
//! Replaying entries lives in [`crate::replay`].

pub mod entry;
pub mod select;
pub mod stats;
pub mod store;

pub use entry::{AttemptInfo, DeadLetter, Origin, ReplayInfo};
pub use select::Selection;
pub use stats::Stats;
pub use store::{DeadLetterStore, KvDeadLetterStore, Retention};
