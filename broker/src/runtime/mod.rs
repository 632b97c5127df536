//! The runtime: makes what runs match what the registry declares. Brokers get a log and state
//! store; Triggers get a worker (restarted when their spec changes); statuses report the outcome.
//!
//! - [`broker`] owns one running broker;
//! - [`plan`] turns a Trigger resource into what its worker runs;
//! - [`sources`] runs the sources declared here;
//! - [`append`] is how every entry point puts events on a broker's log;
//! - [`replay`] finds dead-letter stores and replay destinations; [`seek`] moves a Trigger.

pub mod append;
pub mod broker;
pub mod plan;
pub mod replay;
pub mod seek;
pub mod sources;

pub use broker::{BrokerId, BrokerRuntime};

use crate::config::ServeConfig;
use crate::ingress::budget::Budget;
use crate::latency::LatencyMetrics;
use crate::registry::{Registry, ResourceKey};
use broker::RunningTrigger;
use herald_crds::broker::Broker;
use herald_crds::meta::{Condition, set_condition};
use herald_crds::resource::{Kind, Resource};
use herald_crds::trigger::Trigger;
use herald_triggers::delivery::Sender;
use herald_triggers::dispatch::{self, BrokerLink, position, retry_state};
use herald_triggers::metrics::DispatchMetrics;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

/// The running brokers and the machinery to reconcile them.
pub struct Runtime {
    pub config: ServeConfig,
    pub registry: Arc<Registry>,
    brokers: RwLock<foldhash::HashMap<BrokerId, Arc<BrokerRuntime>>>,
    sender: Sender,
    pub metrics: DispatchMetrics,
    /// Each broker's ingress accept latency and log sync times.
    pub latency: LatencyMetrics,
    pub sources: sources::Sources,
    /// Request bytes the ingress may hold in memory at once.
    pub ingress_budget: Budget,
    reconciling: tokio::sync::Mutex<()>,
}

impl Runtime {
    /// A runtime with nothing running yet (the first [`Runtime::reconcile`] starts things).
    pub async fn open(
        config: ServeConfig,
        registry: Arc<Registry>,
    ) -> Result<Runtime, herald_log::LogError> {
        let sources = sources::Sources::open(
            config.log_backend,
            &config.data_dir,
            !config.no_fsync,
            config.secrets_dir.clone(),
        )
        .await?;
        Ok(Runtime {
            ingress_budget: Budget::new(config.max_ingress_bytes),
            config,
            registry,
            brokers: RwLock::default(),
            sender: Sender::new(),
            metrics: DispatchMetrics::default(),
            latency: LatencyMetrics::default(),
            sources,
            reconciling: tokio::sync::Mutex::new(()),
        })
    }

    /// The running broker `namespace/name`, if any.
    pub fn broker(&self, namespace: &str, name: &str) -> Option<Arc<BrokerRuntime>> {
        let id = BrokerId {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        self.brokers.read().expect("brokers lock").get(&id).cloned()
    }

    /// Every running broker.
    pub fn brokers(&self) -> Vec<Arc<BrokerRuntime>> {
        self.brokers
            .read()
            .expect("brokers lock")
            .values()
            .cloned()
            .collect()
    }

    /// Reconciles until `stop` fires: once now, then after every registry change.
    pub async fn run(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let mut changes = self.registry.subscribe();
        loop {
            changes.borrow_and_update();
            self.reconcile().await;
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Brings the running brokers and Triggers in line with the registry, once.
    pub async fn reconcile(&self) {
        let _one_at_a_time = self.reconciling.lock().await;
        let brokers: Vec<Broker> = self
            .registry
            .list(Kind::Broker, None)
            .into_iter()
            .filter_map(|r| match r {
                Resource::Broker(b) => Some(b),
                _ => None,
            })
            .collect();
        let wanted: HashMap<BrokerId, Broker> = brokers
            .into_iter()
            .map(|b| {
                let id = BrokerId {
                    namespace: b.metadata.namespace_or_default().to_string(),
                    name: b.metadata.name.clone(),
                };
                (id, b)
            })
            .collect();

        // Stop brokers that are no longer declared.
        let gone: Vec<Arc<BrokerRuntime>> = {
            let mut running = self.brokers.write().expect("brokers lock");
            let ids: Vec<BrokerId> = running
                .keys()
                .filter(|id| !wanted.contains_key(*id))
                .cloned()
                .collect();
            ids.iter().filter_map(|id| running.remove(id)).collect()
        };
        for broker in gone {
            tracing::info!(broker = %broker.id.name, namespace = %broker.id.namespace, "stopping broker");
            broker.shutdown().await;
            self.latency.forget(&broker.id);
        }

        // Start new brokers and report their status.
        for (id, broker) in &wanted {
            let key = ResourceKey {
                kind: Kind::Broker,
                namespace: id.namespace.clone(),
                name: id.name.clone(),
            };
            let ready = match self.ensure_broker(id, broker).await {
                Ok(()) => Condition::new_true("Ready"),
                Err(err) => {
                    tracing::error!(broker = %id.name, namespace = %id.namespace, error = %err, "opening the broker's log failed");
                    Condition::new_false("Ready", "LogUnavailable", err.to_string())
                }
            };
            let url = plan::broker_url(&self.config, &id.namespace, &id.name);
            let running = ready.is_true();
            self.registry.set_status(&key, |r| {
                if let Resource::Broker(b) = r {
                    let status = b.status.get_or_insert_default();
                    set_condition(&mut status.conditions, ready);
                    status.address = running.then(|| herald_crds::broker::Addressable {
                        url: Some(url),
                        name: Some("http".into()),
                    });
                    status.observed_generation = b.metadata.generation;
                }
            });
        }

        self.reconcile_triggers(&wanted).await;
        self.reconcile_sources().await;
    }

    async fn ensure_broker(
        &self,
        id: &BrokerId,
        broker: &Broker,
    ) -> Result<(), herald_log::LogError> {
        if self.broker(&id.namespace, &id.name).is_some() {
            return Ok(());
        }
        let latencies = self.latency.of(id);
        let runtime = BrokerRuntime::open(id.clone(), broker, &self.config, latencies)
            .await
            .inspect_err(|_| self.latency.forget(id))?;
        tracing::info!(broker = %id.name, namespace = %id.namespace, "broker started");
        self.brokers
            .write()
            .expect("brokers lock")
            .insert(id.clone(), Arc::new(runtime));
        Ok(())
    }

    async fn reconcile_triggers(&self, brokers: &HashMap<BrokerId, Broker>) {
        let triggers: Vec<Trigger> = self
            .registry
            .list(Kind::Trigger, None)
            .into_iter()
            .filter_map(|r| match r {
                Resource::Trigger(t) => Some(t),
                _ => None,
            })
            .collect();
        let mut wanted: HashMap<BrokerId, Vec<&Trigger>> = HashMap::new();
        for trigger in &triggers {
            let id = BrokerId {
                namespace: trigger.metadata.namespace_or_default().to_string(),
                name: trigger.spec.broker.clone(),
            };
            wanted.entry(id).or_default().push(trigger);
        }

        for runtime in self.brokers() {
            let declared = wanted.remove(&runtime.id).unwrap_or_default();
            let Some(broker) = brokers.get(&runtime.id) else {
                continue;
            };
            let mut running = runtime.triggers.lock().await;
            // Triggers deleted from this broker: stop them and forget their position.
            let names: Vec<String> = running
                .keys()
                .filter(|name| !declared.iter().any(|t| &t.metadata.name == *name))
                .cloned()
                .collect();
            for name in names {
                if let Some(old) = running.remove(&name) {
                    old.handle.stop().await;
                }
                let state = runtime.state.as_ref();
                let forgotten = match position::forget(state, &name).await {
                    Ok(()) => retry_state::clear_all(state, &name).await,
                    Err(err) => Err(err),
                };
                if let Err(err) = forgotten {
                    tracing::warn!(trigger = name, error = %err, "forgetting the trigger's state failed");
                }
            }
            for trigger in declared {
                let condition = self
                    .ensure_trigger(&runtime, &mut running, trigger, broker)
                    .await;
                self.report_trigger(trigger, condition);
            }
        }

        // Triggers whose broker does not exist.
        for (broker, triggers) in wanted {
            for trigger in triggers {
                let condition = Condition::new_false(
                    "Ready",
                    "BrokerDoesNotExist",
                    format!("Broker {:?} does not exist", broker.name),
                );
                self.report_trigger(trigger, condition);
            }
        }
    }

    async fn ensure_trigger(
        &self,
        runtime: &BrokerRuntime,
        running: &mut HashMap<String, RunningTrigger>,
        trigger: &Trigger,
        broker: &Broker,
    ) -> Condition {
        let name = &trigger.metadata.name;
        let fingerprint = plan::fingerprint(trigger, broker);
        if running
            .get(name)
            .is_some_and(|r| r.fingerprint == fingerprint)
        {
            return Condition::new_true("Ready");
        }
        if let Some(old) = running.remove(name) {
            old.handle.stop().await;
        }
        let plan = match plan::plan(trigger, broker, &self.config) {
            Ok(plan) => plan,
            Err(err) => return Condition::new_false("Ready", err.reason(), err.to_string()),
        };
        match dispatch::spawn(plan, self.link(runtime)).await {
            Ok(handle) => {
                running.insert(
                    name.clone(),
                    RunningTrigger {
                        handle,
                        fingerprint,
                    },
                );
                Condition::new_true("Ready")
            }
            Err(err) => Condition::new_false("Ready", "PositionUnavailable", err.to_string()),
        }
    }

    /// What a Trigger of `runtime` delivers through: its log, router, stores and replies.
    pub(crate) fn link(&self, runtime: &BrokerRuntime) -> BrokerLink {
        BrokerLink {
            log: runtime.log.clone(),
            router: runtime.router.clone(),
            state: runtime.state.clone(),
            sender: self.sender.clone(),
            replies: runtime.reply_sink(self.config.max_event_bytes),
            dead_letters: runtime.dead_letters.clone(),
            metrics: self.metrics.clone(),
        }
    }

    fn report_trigger(&self, trigger: &Trigger, ready: Condition) {
        let key = ResourceKey {
            kind: Kind::Trigger,
            namespace: trigger.metadata.namespace_or_default().to_string(),
            name: trigger.metadata.name.clone(),
        };
        let subscriber = plan::resolve_destination(
            &trigger.spec.subscriber,
            trigger.metadata.namespace_or_default(),
            &self.config,
        )
        .ok();
        self.registry.set_status(&key, |r| {
            if let Resource::Trigger(t) = r {
                let status = t.status.get_or_insert_default();
                set_condition(&mut status.conditions, ready);
                status.subscriber_uri = subscriber;
                status.observed_generation = t.metadata.generation;
            }
        });
    }

    /// Live delivery figures of a running Trigger: position, lag, in flight, delivered, failed,
    /// expired (removed by retention before it was read).
    pub async fn trigger_stats(
        &self,
        namespace: &str,
        broker: &str,
        name: &str,
    ) -> Option<Vec<(&'static str, u64)>> {
        let runtime = self.broker(namespace, broker)?;
        let triggers = runtime.triggers.lock().await;
        let stats = &triggers.get(name)?.handle.stats;
        let position = stats.position.load(Ordering::Relaxed);
        Some(vec![
            ("position", position),
            ("lag", runtime.log.head().saturating_sub(position)),
            ("inFlight", stats.in_flight.load(Ordering::Relaxed)),
            ("delivered", stats.delivered.load(Ordering::Relaxed)),
            ("failed", stats.failed.load(Ordering::Relaxed)),
            ("expired", stats.expired.load(Ordering::Relaxed)),
            (
                "concurrencyLimit",
                stats.concurrency_limit.load(Ordering::Relaxed),
            ),
        ])
    }

    /// Stops sources (they feed brokers) then every broker: Triggers drain, logs flush.
    pub async fn shutdown(&self) {
        self.sources.shutdown().await;
        let brokers: Vec<Arc<BrokerRuntime>> = self
            .brokers
            .write()
            .expect("brokers lock")
            .drain()
            .map(|(_, b)| b)
            .collect();
        for broker in brokers {
            broker.shutdown().await;
        }
    }
}
