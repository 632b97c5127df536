//! A running broker: its event log, its state store (trigger positions) and its Triggers' workers.

use crate::config::{LogBackend, ServeConfig};
use crate::latency::Latencies;
use herald_crds::broker::Broker;
use herald_log::{
    EventLog, FileStateStore, LogConfig, LogError, MemoryLog, MemoryStateStore, SegmentLog,
    StateStore, SyncObserver,
};
use herald_triggers::deadletter::{DeadLetterStore, KvDeadLetterStore, Retention};
use herald_triggers::dispatch::{ReplySink, Router, TriggerHandle, TriggerStats};
use prometheus_client::metrics::histogram::Histogram;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::Mutex;

/// Broker annotation overriding the log's retention age (ISO-8601 duration).
pub const RETENTION_AGE_ANNOTATION: &str = "herald.dev/retention-age";
/// Broker annotation overriding the log's retention size (bytes).
pub const RETENTION_BYTES_ANNOTATION: &str = "herald.dev/retention-bytes";

/// Names a broker.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BrokerId {
    pub namespace: String,
    pub name: String,
}

/// A Trigger worker with the fingerprint of the plan it runs, to tell when it must restart.
pub(crate) struct RunningTrigger {
    pub handle: TriggerHandle,
    pub fingerprint: String,
}

/// A broker that is serving.
pub struct BrokerRuntime {
    pub id: BrokerId,
    pub log: Arc<dyn EventLog>,
    /// Reads the log once for every Trigger that keeps up.
    pub router: Router,
    pub state: Arc<dyn StateStore>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    pub(crate) triggers: Mutex<HashMap<String, RunningTrigger>>,
    /// Events accepted by the ingress.
    pub received: AtomicU64,
    /// How long the ingress took to accept each publish (see [`crate::latency`]).
    pub accept_latency: Histogram,
    /// Stops the broker's background maintenance.
    maintenance: tokio_util::sync::CancellationToken,
}

/// How often dead-letter retention is enforced.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

impl BrokerRuntime {
    /// Opens the broker's log and state store; the ingress observes each accepted publish's
    /// latency in `latencies.accept`, the log each sync's in `latencies.log_sync`.
    pub async fn open(
        id: BrokerId,
        broker: &Broker,
        config: &ServeConfig,
        latencies: Latencies,
    ) -> Result<BrokerRuntime, LogError> {
        let log_sync = latencies.log_sync;
        let log_config = LogConfig {
            sync_observer: Some(SyncObserver::new(move |took| {
                log_sync.observe(took.as_secs_f64())
            })),
            ..log_config(broker, config)
        };
        type Stores = (Arc<dyn EventLog>, Arc<dyn StateStore>, Arc<dyn StateStore>);
        let (log, state, dead_letter_state): Stores = match config.log_backend {
            LogBackend::Memory => (
                MemoryLog::new(log_config),
                MemoryStateStore::new(),
                MemoryStateStore::new(),
            ),
            LogBackend::Embedded => {
                let dir = broker_dir(config, &id);
                let fsync = !config.no_fsync;
                let log = SegmentLog::open(dir.join("log"), log_config).await?;
                let state = FileStateStore::open(dir.join("state"), fsync).await?;
                let dead = FileStateStore::open(dir.join("deadletters"), fsync).await?;
                (log, state, dead)
            }
        };
        let dead_letters: Arc<dyn DeadLetterStore> =
            Arc::new(KvDeadLetterStore::new(dead_letter_state));
        let maintenance = tokio_util::sync::CancellationToken::new();
        tokio::spawn(enforce_retention(
            id.clone(),
            dead_letters.clone(),
            maintenance.clone(),
        ));
        Ok(BrokerRuntime {
            id,
            router: Router::spawn(log.clone()),
            log,
            state,
            dead_letters,
            triggers: Mutex::new(HashMap::new()),
            received: AtomicU64::new(0),
            accept_latency: latencies.accept,
            maintenance,
        })
    }

    /// Where this broker's Triggers send reply events.
    pub fn reply_sink(&self, max_event_bytes: usize) -> Arc<dyn ReplySink> {
        Arc::new(LogReplySink {
            log: self.log.clone(),
            max_event_bytes,
        })
    }

    /// Each running Trigger's name and live figures.
    pub async fn trigger_stats(&self) -> Vec<(String, Arc<TriggerStats>)> {
        let triggers = self.triggers.lock().await;
        triggers
            .iter()
            .map(|(name, t)| (name.clone(), t.handle.stats.clone()))
            .collect()
    }

    /// Stops every Trigger (draining in-flight work) and closes the log and state store.
    pub async fn shutdown(&self) {
        self.maintenance.cancel();
        let triggers: Vec<_> = self.triggers.lock().await.drain().collect();
        for (_, trigger) in triggers {
            trigger.handle.stop().await;
        }
        self.router.stop();
        if let Err(err) = self.log.close().await {
            tracing::error!(broker = %self.id.name, error = %err, "closing the log failed");
        }
        if let Err(err) = self.state.close().await {
            tracing::error!(broker = %self.id.name, error = %err, "closing the state store failed");
        }
    }
}

fn broker_dir(config: &ServeConfig, id: &BrokerId) -> PathBuf {
    config
        .data_dir
        .join("brokers")
        .join(&id.namespace)
        .join(&id.name)
}

fn log_config(broker: &Broker, config: &ServeConfig) -> LogConfig {
    let annotations = &broker.metadata.annotations;
    let age = annotations
        .get(RETENTION_AGE_ANNOTATION)
        .unwrap_or(&config.retention_age);
    let retention_age = age
        .parse::<herald_crds::duration::IsoDuration>()
        .map(|d| d.as_duration())
        .unwrap_or(Duration::from_secs(7 * 24 * 3600));
    let retention_bytes = annotations
        .get(RETENTION_BYTES_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(config.retention_bytes);
    let defaults = LogConfig::default();
    LogConfig {
        fsync: !config.no_fsync,
        min_sync_interval: config
            .min_sync_interval
            .unwrap_or(defaults.min_sync_interval),
        retention_age: Some(retention_age),
        retention_bytes: Some(retention_bytes),
        max_record_bytes: config.max_event_bytes + 64 * 1024,
        ..defaults
    }
}

/// Appends reply events to the broker's log, stamped like events from the ingress.
struct LogReplySink {
    log: Arc<dyn EventLog>,
    max_event_bytes: usize,
}

#[async_trait::async_trait]
impl ReplySink for LogReplySink {
    async fn ingest(&self, event: herald_cloudevent::Event) -> Result<(), String> {
        event
            .validate()
            .map_err(|e| format!("invalid reply: {e}"))?;
        super::append::append_events(self.log.as_ref(), vec![event], self.max_event_bytes)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Drops dead letters past their retention, once a minute, until stopped.
async fn enforce_retention(
    id: BrokerId,
    store: Arc<dyn DeadLetterStore>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        match store.enforce_retention(Retention::default()).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(broker = %id.name, removed = n, "dead letters past retention removed")
            }
            Err(err) => {
                tracing::warn!(broker = %id.name, error = %err, "dead-letter retention failed")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(MAINTENANCE_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogBackend;

    #[test]
    fn the_sync_interval_is_the_logs_default_unless_serve_sets_one() {
        let mut config = ServeConfig::for_tests("unused".into(), LogBackend::Embedded);
        let log = log_config(&Broker::new("default"), &config);
        assert_eq!(
            log.min_sync_interval,
            LogConfig::default().min_sync_interval
        );
        assert!(!log.min_sync_interval.is_zero());

        config.min_sync_interval = Some(Duration::ZERO);
        assert_eq!(
            log_config(&Broker::new("default"), &config).min_sync_interval,
            Duration::ZERO
        );
    }
}
