//! Sources declared in `herald serve`: each PingSource, KafkaSource, RabbitmqSource and NatsSource
//! runs as a task of this process. A sink that is a Broker of this process is reached in-process
//! (an append to its log, no HTTP hop); any other sink over HTTP. Events a source gives up on go
//! to the sources' own dead-letter store (`DATA_DIR/sources/deadletters`).

use super::append::AppendError;
use super::{BrokerRuntime, Runtime, plan};
use crate::config::LogBackend;
use crate::registry::ResourceKey;
use herald_cloudevent::Event;
use herald_crds::delivery::{DeliveryFormat, DeliverySpec, Destination};
use herald_crds::meta::{Condition, set_condition};
use herald_crds::resource::{Kind, Resource};
use herald_log::{FileStateStore, LogError, MemoryStateStore, StateStore};
use herald_sources::{DeadLetterRecorder, HttpSink, Sink, SourceContext, SourceHandle};
use herald_triggers::deadletter::{
    AttemptInfo, DeadLetter, DeadLetterStore, KvDeadLetterStore, Origin,
};
use herald_triggers::delivery::{Attempt, AttemptRecord};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The running sources and what they share.
pub struct Sources {
    state: Arc<dyn StateStore>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    running: Mutex<HashMap<ResourceKey, RunningSource>>,
    secrets_dir: Option<PathBuf>,
}

struct RunningSource {
    handle: SourceHandle,
    fingerprint: String,
}

impl Sources {
    /// Opens the sources' state and dead-letter stores.
    pub async fn open(
        backend: LogBackend,
        data_dir: &std::path::Path,
        fsync: bool,
        secrets_dir: Option<PathBuf>,
    ) -> Result<Sources, LogError> {
        let (state, dead): (Arc<dyn StateStore>, Arc<dyn StateStore>) = match backend {
            LogBackend::Memory => (MemoryStateStore::new(), MemoryStateStore::new()),
            LogBackend::Embedded => {
                let dir = data_dir.join("sources");
                (
                    FileStateStore::open(dir.join("state"), fsync).await?,
                    FileStateStore::open(dir.join("deadletters"), fsync).await?,
                )
            }
        };
        Ok(Sources {
            state,
            dead_letters: Arc::new(KvDeadLetterStore::new(dead)),
            running: Mutex::new(HashMap::new()),
            secrets_dir,
        })
    }

    /// Live status of a running source: readiness and progress figures.
    pub async fn live(
        &self,
        key: &ResourceKey,
    ) -> Option<(Condition, serde_json::Map<String, serde_json::Value>)> {
        let running = self.running.lock().await;
        let stats = &running.get(key)?.handle.stats;
        Some((readiness(stats), stats.snapshot()))
    }

    /// Stops every source (they finish what is in flight and acknowledge what is final).
    pub async fn shutdown(&self) {
        let running: Vec<_> = self.running.lock().await.drain().collect();
        for (_, source) in running {
            source.handle.stop().await;
        }
        for store in [&self.state] {
            if let Err(err) = store.close().await {
                tracing::error!(error = %err, "closing the sources' state store failed");
            }
        }
    }
}

fn readiness(stats: &herald_sources::SourceStats) -> Condition {
    let r = stats.readiness();
    if r.ready {
        Condition::new_true("Ready")
    } else {
        Condition::new_false("Ready", r.reason, r.message)
    }
}

/// The sink and delivery of a source resource.
pub(crate) fn sink_and_delivery(
    resource: &Resource,
) -> Option<(&Destination, Option<&DeliverySpec>)> {
    match resource {
        Resource::PingSource(s) => Some((&s.spec.sink, s.spec.delivery.as_ref())),
        Resource::KafkaSource(s) => Some((&s.spec.sink, s.spec.delivery.as_ref())),
        Resource::RabbitmqSource(s) => Some((&s.spec.sink, s.spec.delivery.as_ref())),
        Resource::NatsSource(s) => Some((&s.spec.sink, s.spec.delivery.as_ref())),
        Resource::Broker(_) | Resource::Trigger(_) => None,
    }
}

impl Runtime {
    /// Starts, restarts and stops sources to match the registry, and reports their status.
    pub(super) async fn reconcile_sources(&self) {
        let declared: Vec<Resource> = Kind::ALL
            .into_iter()
            .filter(|k| k.is_source())
            .flat_map(|k| self.registry.list(k, None))
            .collect();
        let mut running = self.sources.running.lock().await;
        let keys: Vec<ResourceKey> = declared.iter().map(ResourceKey::of).collect();
        let gone: Vec<ResourceKey> = running
            .keys()
            .filter(|k| !keys.contains(k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(source) = running.remove(&key) {
                source.handle.stop().await;
            }
        }
        for resource in &declared {
            let key = ResourceKey::of(resource);
            let outcome = self.ensure_source(&mut running, resource).await;
            let (condition, sink_uri) = match outcome {
                Ok(sink_uri) => {
                    let source = running.get(&key).expect("just ensured");
                    (readiness(&source.handle.stats), Some(sink_uri))
                }
                Err((reason, message)) => (Condition::new_false("Ready", reason, message), None),
            };
            self.registry.set_status(&key, |r| {
                let generation = r.metadata().generation;
                set_condition(r.conditions_mut(), condition);
                if let Some(generation) = generation {
                    r.set_observed_generation(generation);
                }
                set_sink_uri(r, sink_uri);
            });
        }
    }

    /// Makes sure `resource` runs with its current spec; returns its sink URI, or why it cannot run.
    async fn ensure_source(
        &self,
        running: &mut HashMap<ResourceKey, RunningSource>,
        resource: &Resource,
    ) -> Result<String, (&'static str, String)> {
        let key = ResourceKey::of(resource);
        let (sink, delivery) =
            sink_and_delivery(resource).expect("only sources are reconciled here");
        let namespace = resource.namespace();
        let sink_broker = self.local_broker(sink, namespace);
        let fingerprint = serde_json::json!({
            "resource": strip_status(resource),
            "broker": sink_broker.as_ref().map(|b| Arc::as_ptr(b) as usize),
        })
        .to_string();
        if let Some(existing) = running.get(&key) {
            if existing.fingerprint == fingerprint {
                return Ok(existing.handle.sink_uri().to_string());
            }
            let old = running.remove(&key).expect("present");
            old.handle.stop().await;
        }
        let resolved = DeliverySpec::effective(delivery, None);
        let sink = self
            .source_sink(sink, namespace, sink_broker, &resolved)
            .map_err(|e| ("SinkNotFound", e))?;
        let dead_letter_sink = match &resolved.dead_letter_sink {
            Some(dls) => {
                let broker = self.local_broker(dls, namespace);
                Some(
                    self.source_sink(dls, namespace, broker, &resolved)
                        .map_err(|e| ("DeadLetterSinkNotFound", e))?,
                )
            }
            None => None,
        };
        let destination = sink.uri();
        let context = SourceContext {
            sink,
            dead_letter_sink,
            policy: plan::policy(&resolved, None),
            state: self.sources.state.clone(),
            dead_letters: Arc::new(SourceDeadLetters {
                store: self.sources.dead_letters.clone(),
                destination,
            }),
            secrets_dir: self.sources.secrets_dir.clone(),
        };
        let handle = herald_sources::spawn(resource, context)
            .map_err(|e| ("InvalidSource", e.to_string()))?;
        let sink_uri = handle.sink_uri().to_string();
        tracing::info!(source = %key.name, kind = %key.kind, sink = %sink_uri, "source started");
        running.insert(
            key,
            RunningSource {
                handle,
                fingerprint,
            },
        );
        Ok(sink_uri)
    }

    /// The running broker a Destination refers to, when it is one of this process.
    fn local_broker(
        &self,
        destination: &Destination,
        namespace: &str,
    ) -> Option<Arc<BrokerRuntime>> {
        let reference = destination.r#ref.as_ref()?;
        if reference.kind != "Broker" || destination.uri.is_some() {
            return None;
        }
        self.broker(
            reference.namespace.as_deref().unwrap_or(namespace),
            &reference.name,
        )
    }

    fn source_sink(
        &self,
        destination: &Destination,
        namespace: &str,
        broker: Option<Arc<BrokerRuntime>>,
        resolved: &herald_crds::delivery::ResolvedDelivery,
    ) -> Result<Arc<dyn Sink>, String> {
        if let Some(broker) = broker {
            return Ok(Arc::new(LocalBrokerSink {
                url: plan::broker_url(&self.config, &broker.id.namespace, &broker.id.name),
                broker,
                max_event_bytes: self.config.max_event_bytes,
            }));
        }
        if destination.r#ref.is_some() && destination.uri.is_none() {
            return Err("the sink refers to a Broker that is not running here".into());
        }
        let url = plan::resolve_destination(destination, namespace, &self.config)?;
        Ok(Arc::new(HttpSink::new(
            url,
            self.sender.clone(),
            resolved.format.unwrap_or(DeliveryFormat::Binary),
            resolved.timeout,
        )))
    }
}

fn strip_status(resource: &Resource) -> serde_json::Value {
    let mut value = resource.to_json_value();
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
    }
    value
}

fn set_sink_uri(resource: &mut Resource, sink_uri: Option<String>) {
    let status = match resource {
        Resource::PingSource(s) => s.status.get_or_insert_default(),
        Resource::KafkaSource(s) => s.status.get_or_insert_default(),
        Resource::RabbitmqSource(s) => s.status.get_or_insert_default(),
        Resource::NatsSource(s) => s.status.get_or_insert_default(),
        Resource::Broker(_) | Resource::Trigger(_) => return,
    };
    status.sink_uri = sink_uri;
}

/// A Broker of this process as a source's sink: events go straight onto its log.
struct LocalBrokerSink {
    broker: Arc<BrokerRuntime>,
    url: String,
    max_event_bytes: usize,
}

#[async_trait::async_trait]
impl Sink for LocalBrokerSink {
    async fn attempt(&self, event: &Event) -> Attempt {
        match self
            .broker
            .append(vec![event.clone()], self.max_event_bytes)
            .await
        {
            Ok(()) => Attempt::Delivered {
                status: 202,
                reply: None,
            },
            Err(AppendError::Log(LogError::Overloaded | LogError::Closed)) => Attempt::Retryable {
                status: Some(503),
                retry_after: None,
                body: bytes::Bytes::new(),
                error: "the broker's log cannot take more events right now".into(),
            },
            Err(err @ AppendError::Log(_)) => Attempt::Retryable {
                status: Some(500),
                retry_after: None,
                body: bytes::Bytes::new(),
                error: err.to_string(),
            },
            Err(err) => Attempt::Rejected {
                status: Some(if matches!(err, AppendError::TooLarge { .. }) {
                    413
                } else {
                    400
                }),
                body: bytes::Bytes::new(),
                error: err.to_string(),
            },
        }
    }

    fn uri(&self) -> String {
        self.url.clone()
    }
}

/// Records what a source gives up on in a dead-letter store.
pub(crate) struct SourceDeadLetters {
    pub store: Arc<dyn DeadLetterStore>,
    /// The source's sink.
    pub destination: String,
}

#[async_trait::async_trait]
impl DeadLetterRecorder for SourceDeadLetters {
    async fn record(
        &self,
        source: &str,
        event: &Event,
        attempts: &[AttemptRecord],
        reason: &str,
        delivered_to_dls: bool,
    ) {
        let mut encoded = Vec::new();
        herald_cloudevent::record::encode(event, &mut encoded);
        let entry = DeadLetter {
            id: String::new(),
            origin: Origin::Source {
                source: source.to_string(),
            },
            destination: self.destination.clone(),
            event: encoded.into(),
            event_id: event.id().to_string(),
            event_type: event.ty().to_string(),
            event_source: event.source().to_string(),
            attempts: attempts.iter().map(AttemptInfo::from).collect(),
            response_body: bytes::Bytes::new(),
            reason: reason.to_string(),
            delivered_to_dead_letter_sink: delivered_to_dls,
            created_ms: chrono::Utc::now().timestamp_millis(),
            replays: Vec::new(),
            resolved: false,
        };
        if let Err(err) = self.store.insert(entry).await {
            tracing::error!(source, event_id = event.id(), error = %err, "storing a source's dead letter failed");
        }
    }
}
