//! The KafkaSource adapter: `consumers` members of the consumer group `consumerGroup` read
//! `topics` and hand every record, as a CloudEvent (see [`binding::kafka`](crate::binding::kafka)),
//! to the sink.
//!
//! - **At least once.** Auto-commit is off. A partition's offset is committed only up to its
//!   first record whose outcome is not final (delivered, or dead-lettered and recorded), so a
//!   crash re-delivers at most what was in flight or not yet committed, and never skips a record.
//! - **Ordering.** `ordered` (the default) delivers one record at a time per partition, in offset
//!   order; `unordered` has up to [`UNORDERED_WINDOW`] records of a partition in flight. Either
//!   way a consumer has at most [`MAX_IN_FLIGHT`] deliveries in flight across its partitions.
//! - **Backpressure.** A partition with [`PENDING_HIGH`](partition::PENDING_HIGH) records
//!   waiting is paused (librdkafka stops fetching it) until no more than
//!   [`PENDING_LOW`](partition::PENDING_LOW) wait, and librdkafka's prefetch queue is bounded (see
//!   [`config`]). A sink that answers 429/503 (or fails in any retryable way) shrinks the
//!   consumer's window to one delivery and lowers the pause mark to `PENDING_LOW`; partitions
//!   resume once the sink accepts events again.
//! - **Keys.** The label `kafkasources.sources.knative.dev/key-type` (`string`, `int`, `float`,
//!   `byte-array`) says how a wrapped record's key is read, as in Knative.
//! - **Shutdown.** Stopping ends retry waits; deliveries on the wire finish; final positions are
//!   committed synchronously and the consumer leaves the group. Interrupted records are consumed
//!   again after a restart.

pub mod config;
mod consumer;
pub mod partition;

use std::sync::Arc;

use futures::future::join_all;
use herald_crds::KafkaSource;
use herald_crds::sources::kafka::DeliveryOrdering;
use rdkafka::consumer::{Consumer as _, StreamConsumer};

use crate::binding::kafka::{KEY_TYPE_LABEL, KeyType};
use crate::context::SourceContext;
use crate::deliver::Deliverer;
use crate::error::SourceError;
use crate::flow::Flow;
use consumer::{Context, Instance};

pub use consumer::COMMIT_INTERVAL;

/// Deliveries in flight per partition in `unordered` mode.
pub const UNORDERED_WINDOW: usize = 64;
/// Deliveries in flight per consumer, across its partitions.
pub const MAX_IN_FLIGHT: usize = 256;

/// Creates the source's consumers and subscribes them; errors are configuration errors.
pub(crate) fn prepare(
    source: &KafkaSource,
    context: &SourceContext,
    deliverer: Arc<Deliverer>,
) -> Result<impl Future<Output = ()> + Send + 'static, SourceError> {
    let key = herald_crds::Resource::KafkaSource(source.clone()).key();
    let spec = &source.spec;
    let group = spec.consumer_group_or_default(&source.metadata);
    let client = config::client_config(spec, &group, &key, context.secrets_dir.as_deref())?;
    let window = match spec.ordering.unwrap_or(DeliveryOrdering::Ordered) {
        DeliveryOrdering::Ordered => 1,
        DeliveryOrdering::Unordered => UNORDERED_WINDOW,
    };
    let topics: Vec<&str> = spec.topics.iter().map(|t| t.trim()).collect();
    let key_type = match source.metadata.labels.get(KEY_TYPE_LABEL) {
        None => KeyType::default(),
        Some(label) => KeyType::from_label(label).ok_or_else(|| {
            SourceError::config(
                &key,
                format!("metadata.labels[{KEY_TYPE_LABEL}]"),
                format!("unknown key type {label:?}: expected string, int, float or byte-array"),
            )
        })?,
    };
    let count = usize::try_from(spec.consumers.unwrap_or(1).max(1)).unwrap_or(1);
    let mut instances = Vec::with_capacity(count);
    for _ in 0..count {
        let consumer: StreamConsumer<Context> = client
            .create_with_context(Context::new(deliverer.stats().clone()))
            .map_err(|e| SourceError::config(&key, "spec", e.to_string()))?;
        consumer
            .subscribe(&topics)
            .map_err(|e| SourceError::config(&key, "spec.topics", e.to_string()))?;
        instances.push(Instance::new(
            consumer,
            deliverer.clone(),
            Flow::new(MAX_IN_FLIGHT),
            window,
            key.namespace.clone(),
            key.name.clone(),
            key_type,
        ));
    }
    Ok(async move {
        join_all(instances.into_iter().map(Instance::run)).await;
    })
}
