//! What a running source is given by its host ([`SourceContext`]), and where it records events it
//! gave up on ([`DeadLetterRecorder`], with the in-memory [`MemoryDeadLetters`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use herald_cloudevent::Event;
use herald_log::StateStore;
use herald_triggers::delivery::{AttemptRecord, Policy};

use crate::sink::Sink;

/// Everything a source needs from the process that runs it.
#[derive(Clone)]
pub struct SourceContext {
    /// Where events go.
    pub sink: Arc<dyn Sink>,
    /// The resolved `delivery.deadLetterSink`, if any.
    pub dead_letter_sink: Option<Arc<dyn Sink>>,
    /// Retries and backoff, resolved from the source's `delivery`
    /// (`DeliverySpec::effective(source.delivery, None)`); used for the sink and the dead-letter
    /// sink alike. Its `format`, `timeout` and `dead_letter_sink` are not read: each [`Sink`]
    /// carries its own encoding, timeout and address.
    pub policy: Policy,
    /// Durable per-source state (a PingSource's last final tick). Keys start with
    /// `{plural kind}/{namespace}/{name}/`.
    pub state: Arc<dyn StateStore>,
    /// Where events the source gave up on are recorded.
    pub dead_letters: Arc<dyn DeadLetterRecorder>,
    /// Directory holding secrets mounted the Kubernetes way: a `secretKeyRef {name, key}` is the
    /// file `{secrets_dir}/{name}/{key}`. Without it, `secretKeyRef` credentials are a
    /// configuration error.
    pub secrets_dir: Option<PathBuf>,
}

/// Where a source records an event it gave up on (after its retries and the dead-letter sink), so
/// it is never lost silently. Called for every such event, whether or not the dead-letter sink
/// took it.
#[async_trait::async_trait]
pub trait DeadLetterRecorder: Send + Sync + 'static {
    /// `source` is `kind/namespace/name` (plural kind: `kafkasources/default/orders`); `reason`
    /// is the last attempt's error.
    async fn record(
        &self,
        source: &str,
        event: &Event,
        attempts: &[AttemptRecord],
        reason: &str,
        delivered_to_dls: bool,
    );
}

/// One event a source gave up on, as [`MemoryDeadLetters`] keeps it.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub source: String,
    pub event: Event,
    pub attempts: Vec<AttemptRecord>,
    pub reason: String,
    pub delivered_to_dls: bool,
}

/// A [`DeadLetterRecorder`] that keeps everything in memory (tests, ephemeral runs).
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    entries: Mutex<Vec<DeadLetter>>,
}

impl MemoryDeadLetters {
    /// An empty recorder.
    pub fn new() -> Arc<MemoryDeadLetters> {
        Arc::new(MemoryDeadLetters::default())
    }

    /// Everything recorded so far, oldest first.
    pub fn entries(&self) -> Vec<DeadLetter> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait::async_trait]
impl DeadLetterRecorder for MemoryDeadLetters {
    async fn record(
        &self,
        source: &str,
        event: &Event,
        attempts: &[AttemptRecord],
        reason: &str,
        delivered_to_dls: bool,
    ) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(DeadLetter {
                source: source.to_owned(),
                event: event.clone(),
                attempts: attempts.to_vec(),
                reason: reason.to_owned(),
                delivered_to_dls,
            });
    }
}
