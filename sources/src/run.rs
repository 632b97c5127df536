//! Starting and stopping sources: [`spawn`] dispatches on the resource kind and returns a
//! [`SourceHandle`]; stopping is graceful (stop consuming, let attempts on the wire finish,
//! acknowledge or commit what is final, leave the rest to be consumed again).

use std::sync::Arc;

use futures::future::BoxFuture;
use herald_crds::resource::{Resource, ResourceKey};
use herald_crds::sources::SourceSpec;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::context::SourceContext;
use crate::deliver::Deliverer;
use crate::error::SourceError;
use crate::stats::reason;
use crate::{kafka, nats, ping, rabbitmq};

pub use crate::stats::SourceStats;

/// A running source. Dropping the handle without [`SourceHandle::stop`] also stops the source,
/// in the background.
pub struct SourceHandle {
    /// Live figures and readiness.
    pub stats: Arc<SourceStats>,
    key: ResourceKey,
    sink_uri: String,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl SourceHandle {
    /// Which source this is.
    pub fn key(&self) -> &ResourceKey {
        &self.key
    }

    /// The resolved sink, for `status.sinkUri`.
    pub fn sink_uri(&self) -> &str {
        &self.sink_uri
    }

    /// Stops consuming, ends retry waits, lets attempts on the wire finish, acknowledges or
    /// commits every message whose outcome is final, and returns once the source is closed.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take()
            && let Err(err) = task.await
        {
            tracing::error!(source = %self.key, error = %err, "source task panicked");
        }
        self.stats.set_readiness(false, reason::STOPPED, "");
    }
}

/// Starts the source `resource` (defaults are applied and it is validated first). Must be
/// called within a Tokio runtime. Fails for Brokers and Triggers, invalid resources and
/// configurations that cannot work (unreadable credentials, bad URLs); connection problems are
/// retried by the running source and shown in its readiness instead.
pub fn spawn(resource: &Resource, context: SourceContext) -> Result<SourceHandle, SourceError> {
    let kind = resource.kind();
    if !kind.is_source() {
        return Err(SourceError::NotASource(kind));
    }
    let mut resource = resource.clone();
    resource.apply_defaults();
    let key = resource.key();
    resource.validate().map_err(|errors| SourceError::Invalid {
        key: key.clone(),
        errors,
    })?;
    let stats = Arc::new(SourceStats::default());
    let stop = CancellationToken::new();
    let overrides = match &resource {
        Resource::PingSource(s) => s.spec.ce_overrides(),
        Resource::KafkaSource(s) => s.spec.ce_overrides(),
        Resource::RabbitmqSource(s) => s.spec.ce_overrides(),
        Resource::NatsSource(s) => s.spec.ce_overrides(),
        Resource::Broker(_) | Resource::Trigger(_) => None,
    }
    .map(|o| o.extensions.clone())
    .unwrap_or_default();
    let deliverer = Arc::new(Deliverer::new(
        key.to_string(),
        overrides,
        &context,
        stats.clone(),
        stop.clone(),
    ));
    let task: BoxFuture<'static, ()> = match &resource {
        Resource::PingSource(s) => Box::pin(ping::prepare(s, &context, deliverer)?.run()),
        Resource::KafkaSource(s) => Box::pin(kafka::prepare(s, &context, deliverer)?),
        Resource::RabbitmqSource(s) => Box::pin(rabbitmq::prepare(s, &context, deliverer)?.run()),
        Resource::NatsSource(s) => Box::pin(nats::prepare(s, &context, deliverer)?.run()),
        Resource::Broker(_) | Resource::Trigger(_) => return Err(SourceError::NotASource(kind)),
    };
    let span = tracing::info_span!("source", source = %key);
    tracing::info!(parent: &span, sink = context.sink.uri(), "source starting");
    let task = tokio::spawn(task.instrument(span));
    Ok(SourceHandle {
        stats,
        key,
        sink_uri: context.sink.uri(),
        stop,
        task: Some(task),
    })
}
