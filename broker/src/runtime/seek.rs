//! Seeking a Trigger: moves its position in the broker's log while Herald serves. The worker is
//! stopped (deliveries on the wire finish), the new position and a clean slate of retry schedules
//! are stored, and reconciling starts the worker again from there — every event from that
//! position on is delivered again through the Trigger's filter.

use super::Runtime;
use herald_crds::resource::{Kind, Resource};
use herald_log::LogError;
use herald_triggers::dispatch::{position, retry_state};

/// Where to move a Trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeekTo {
    /// The first event appended at or after this time (ms since the Unix epoch).
    Time(i64),
    /// This offset (at most the head; below the earliest retained means the earliest).
    Offset(u64),
    /// The oldest retained event.
    Earliest,
    /// The head: skip everything not yet delivered.
    Latest,
}

/// Where a seek moved a Trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeked {
    pub broker: String,
    /// The stored position before the seek, if any.
    pub previous: Option<u64>,
    pub position: u64,
    /// The log's head at the time of the seek.
    pub head: u64,
}

/// Why a seek failed.
#[derive(Debug, thiserror::Error)]
pub enum SeekError {
    #[error("trigger {namespace}/{name} not found")]
    TriggerNotFound { namespace: String, name: String },
    #[error("broker {namespace}/{name} is not running")]
    BrokerNotRunning { namespace: String, name: String },
    #[error("offset {offset} is beyond the log's head ({head})")]
    BeyondHead { offset: u64, head: u64 },
    #[error("moving the trigger's position failed: {0}")]
    Store(#[from] LogError),
}

impl Runtime {
    /// Moves Trigger `namespace/name` to `to` and restarts its worker from there.
    pub async fn seek_trigger(
        &self,
        namespace: &str,
        name: &str,
        to: SeekTo,
    ) -> Result<Seeked, SeekError> {
        let Some(Resource::Trigger(trigger)) = self.registry.get(Kind::Trigger, namespace, name)
        else {
            return Err(SeekError::TriggerNotFound {
                namespace: namespace.to_string(),
                name: name.to_string(),
            });
        };
        let broker_name = trigger.spec.broker;
        let seeked = {
            // No reconcile may restart the worker between its stop and the new position.
            let _no_reconcile = self.reconciling.lock().await;
            let broker = self.broker(namespace, &broker_name).ok_or_else(|| {
                SeekError::BrokerNotRunning {
                    namespace: namespace.to_string(),
                    name: broker_name.clone(),
                }
            })?;
            let log = broker.log.as_ref();
            let head = log.head();
            let target = match to {
                SeekTo::Time(ms) => log.offset_at_time(ms).await?,
                SeekTo::Offset(offset) if offset > head => {
                    return Err(SeekError::BeyondHead { offset, head });
                }
                SeekTo::Offset(offset) => offset.max(log.earliest()),
                SeekTo::Earliest => log.earliest(),
                SeekTo::Latest => head,
            };
            let mut running = broker.triggers.lock().await;
            if let Some(worker) = running.remove(name) {
                worker.handle.stop().await;
            }
            let state = broker.state.as_ref();
            let previous = position::load(state, name);
            position::store(state, name, target).await?;
            retry_state::clear_all(state, name).await?;
            tracing::info!(trigger = name, namespace, from = ?previous, to = target, "trigger position moved");
            Seeked {
                broker: broker_name,
                previous,
                position: target,
                head,
            }
        };
        self.reconcile().await;
        Ok(seeked)
    }
}
