//! What the dead-letter and replay API needs from the runtime: every dead-letter store, and
//! destinations for replayed events — a Trigger's subscriber under its delivery policy (replies
//! back into its broker), or any URL under the delivery policy of a Trigger or a broker.

use super::Runtime;
use super::plan::{self, PlanError};
use herald_crds::broker::{Broker, BrokerSpec};
use herald_crds::delivery::Destination as DestinationSpec;
use herald_crds::meta::ObjectMeta;
use herald_crds::resource::{Kind, Resource};
use herald_crds::trigger::{Trigger, TriggerSpec};
use herald_triggers::deadletter::DeadLetterStore;
use herald_triggers::replay::Destination;
use std::sync::Arc;

/// Why a replay destination cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("trigger {namespace}/{name} not found")]
    TriggerNotFound { namespace: String, name: String },
    #[error("broker {namespace}/{name} is not running")]
    BrokerNotRunning { namespace: String, name: String },
    #[error("trigger {namespace}/{name} cannot deliver: {source}")]
    Plan {
        namespace: String,
        name: String,
        source: Box<PlanError>,
    },
}

/// Whose delivery policy (retries, backoff, timeout, format) events sent to a URL go under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyOf {
    /// A Trigger's (falling back to its broker's, as for the Trigger itself).
    Trigger { namespace: String, name: String },
    /// A broker's `delivery`.
    Broker { namespace: String, name: String },
    /// Herald's stock default.
    Default,
}

impl Runtime {
    /// Every dead-letter store, named by scope: `namespace/broker` for each running broker.
    pub fn dead_letter_stores(&self) -> Vec<(String, Arc<dyn DeadLetterStore>)> {
        let mut stores: Vec<(String, Arc<dyn DeadLetterStore>)> = self
            .brokers()
            .into_iter()
            .map(|b| {
                let scope = format!("{}/{}", b.id.namespace, b.id.name);
                (scope, b.dead_letters.clone())
            })
            .collect();
        stores.sort_by(|a, b| a.0.cmp(&b.0));
        stores.push(("sources".to_string(), self.sources.dead_letters.clone()));
        stores
    }

    /// The subscriber of Trigger `namespace/name`, under its delivery policy and filter, with
    /// replies going back into its broker.
    pub async fn trigger_destination(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Destination, DestinationError> {
        let trigger = self.trigger_resource(namespace, name)?;
        let broker = self.broker_resource(namespace, &trigger.spec.broker)?;
        let plan = plan::plan(&trigger, &broker, &self.config).map_err(|source| {
            DestinationError::Plan {
                namespace: namespace.to_string(),
                name: name.to_string(),
                source: Box::new(source),
            }
        })?;
        let running = self
            .broker(namespace, &trigger.spec.broker)
            .ok_or_else(|| DestinationError::BrokerNotRunning {
                namespace: namespace.to_string(),
                name: trigger.spec.broker.clone(),
            })?;
        let link = self.link(&running);
        Ok(Destination::Trigger {
            plan: Box::new(plan),
            link,
        })
    }

    /// `url`, under the delivery policy `policy` names. A Trigger or broker that no longer
    /// exists gives way to the stock default. Replies are not ingested.
    pub fn url_destination(
        &self,
        url: &str,
        policy: &PolicyOf,
    ) -> Result<Destination, DestinationError> {
        let (trigger, broker) = match policy {
            PolicyOf::Trigger { namespace, name } => match self.trigger_resource(namespace, name) {
                Ok(trigger) => {
                    let broker = self
                        .broker_resource(namespace, &trigger.spec.broker)
                        .unwrap_or_else(|_| bare_broker(namespace, &trigger.spec.broker));
                    (trigger, broker)
                }
                Err(_) => (
                    bare_trigger(namespace, "replay"),
                    bare_broker(namespace, "replay"),
                ),
            },
            PolicyOf::Broker { namespace, name } => (
                bare_trigger(namespace, name),
                self.broker_resource(namespace, name)
                    .unwrap_or_else(|_| bare_broker(namespace, name)),
            ),
            PolicyOf::Default => (
                bare_trigger("default", "replay"),
                bare_broker("default", "replay"),
            ),
        };
        // The Trigger's own policy, with the URL as its subscriber and no filter.
        let mut trigger = trigger;
        trigger.spec.subscriber = DestinationSpec {
            uri: Some(url.to_string()),
            ..DestinationSpec::default()
        };
        trigger.spec.filter = None;
        trigger.spec.filters.clear();
        let namespace = trigger.metadata.namespace_or_default().to_string();
        let plan = plan::plan(&trigger, &broker, &self.config).map_err(|source| {
            DestinationError::Plan {
                namespace,
                name: trigger.metadata.name.clone(),
                source: Box::new(source),
            }
        })?;
        Ok(Destination::Url {
            url: url.to_string(),
            policy: plan.policy,
            sender: self.sender.clone(),
            metrics: self.metrics.clone(),
        })
    }

    fn trigger_resource(&self, namespace: &str, name: &str) -> Result<Trigger, DestinationError> {
        match self.registry.get(Kind::Trigger, namespace, name) {
            Some(Resource::Trigger(trigger)) => Ok(trigger),
            _ => Err(DestinationError::TriggerNotFound {
                namespace: namespace.to_string(),
                name: name.to_string(),
            }),
        }
    }

    fn broker_resource(&self, namespace: &str, name: &str) -> Result<Broker, DestinationError> {
        match self.registry.get(Kind::Broker, namespace, name) {
            Some(Resource::Broker(broker)) => Ok(broker),
            _ => Err(DestinationError::BrokerNotRunning {
                namespace: namespace.to_string(),
                name: name.to_string(),
            }),
        }
    }
}

/// A Trigger with nothing but a name and a broker: it delivers under its broker's policy.
fn bare_trigger(namespace: &str, broker: &str) -> Trigger {
    Trigger {
        api_version: "eventing.herald.dev/v1".into(),
        kind: "Trigger".into(),
        metadata: ObjectMeta {
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::named("replay")
        },
        spec: TriggerSpec {
            broker: broker.to_string(),
            ..TriggerSpec::default()
        },
        status: None,
    }
}

/// A broker without a `delivery`: its Triggers get the stock default policy.
fn bare_broker(namespace: &str, name: &str) -> Broker {
    Broker {
        api_version: "eventing.herald.dev/v1".into(),
        kind: "Broker".into(),
        metadata: ObjectMeta {
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::named(name)
        },
        spec: BrokerSpec::default(),
        status: None,
    }
}
