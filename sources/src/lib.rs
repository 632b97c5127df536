//! Herald's sources: adapters that read an external system — a cron schedule ([`ping`]), Kafka
//! ([`kafka`]), NATS ([`nats`]) or RabbitMQ ([`rabbitmq`]) — turn each message into a CloudEvent
//! ([`binding`]) and hand it to a [`Sink`].
//!
//! Every adapter shares the same guarantees:
//! - **No acknowledgement before the sink accepted.** A message is acknowledged upstream (Kafka
//!   offset committed, JetStream or AMQP ack, PingSource tick stored) only once its outcome is
//!   final: the sink answered 2xx, or the source's `delivery` retries were exhausted, the event
//!   went to the dead-letter sink (with Knative's `knativeerror*` extensions) and was handed to
//!   the [`DeadLetterRecorder`] — never dropped silently. Core NATS, which has no
//!   acknowledgements, is the documented exception (at-most-once upstream).
//! - **Backpressure.** Each consumer has a bounded window of deliveries in flight and reads
//!   upstream only when a place is free; a sink answering 429/503 shrinks the window to one.
//! - **Graceful stop.** [`SourceHandle::stop`] ends retry waits, lets attempts on the wire
//!   finish and leaves interrupted messages unacknowledged so they come again after a restart.
//! - **`ceOverrides.extensions`** are set on every event a source emits, CloudEvents passed
//!   through included (as Knative's adapters do); without them a CloudEvent passes unchanged.
//! - Reply events a sink answers with are ignored.
//!
//! Entry point: [`spawn`] with a source resource and a [`SourceContext`].

pub mod binding;
mod context;
mod deliver;
mod error;
mod flow;
pub mod kafka;
pub mod nats;
pub mod ping;
pub mod rabbitmq;
pub mod run;
mod secret;
pub mod sink;
pub mod stats;

pub use context::{DeadLetter, DeadLetterRecorder, MemoryDeadLetters, SourceContext};
pub use deliver::ERROR_DATA_MAX_BYTES;
pub use error::SourceError;
pub use run::{SourceHandle, spawn};
pub use sink::{HttpSink, Sink};
pub use stats::{Readiness, SourceStats};
