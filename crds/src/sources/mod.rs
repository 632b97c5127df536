//! Event sources: [`PingSource`], [`KafkaSource`], [`RabbitmqSource`] and [`NatsSource`], plus what
//! they share ([`Source`], [`SourceSpec`], [`SourceStatus`], [`CloudEventOverrides`],
//! [`SecretValueFromSource`]).

mod common;
pub mod kafka;
pub mod nats;
pub mod ping;
pub mod rabbitmq;
mod secret;

pub use common::{CeAttributes, CloudEventOverrides, Source, SourceSpec, SourceStatus};
pub use kafka::{KafkaSource, KafkaSourceSpec};
pub use nats::{NatsSource, NatsSourceSpec};
pub use ping::{PingSource, PingSourceSpec};
pub use rabbitmq::{RabbitmqSource, RabbitmqSourceSpec};
pub use secret::{SecretKeySelector, SecretSource, SecretValueFromSource};
