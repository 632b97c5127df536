//! The dispatcher: one worker per Trigger reads its broker's log from the Trigger's committed
//! position, filters, delivers matching events, settles each outcome (reply, dead letter) and
//! commits the low watermark of final outcomes, so a restart resumes where delivery stopped.
//!
//! - [`router`] reads the log once per broker and feeds each Trigger its matches, found through
//!   the [`index`] (by exact type);
//! - [`worker`] is the filter → deliver → commit loop of one Trigger;
//! - [`pacing`] bounds how fast it sends (adaptive concurrency, rate limit);
//! - [`ordering`] keeps per-key order when the Trigger asks for it;
//! - [`settle`] handles a final outcome: replies back into the broker, dead letters;
//! - [`watermark`], [`position`] and [`retry_state`] make progress and retries durable.

pub mod index;
pub mod ordering;
pub mod pacing;
pub mod position;
pub mod retry_state;
pub mod router;
pub mod settle;
pub mod watermark;
pub mod worker;

pub use ordering::Order;
pub use router::Router;
pub use worker::{TriggerHandle, TriggerStats, spawn};

use crate::deadletter::DeadLetterStore;
use crate::delivery::{Policy, Sender};
use crate::filter::Filter;
use crate::metrics::DispatchMetrics;
use herald_cloudevent::Event;
use herald_log::{EventLog, StateStore};
use std::fmt;
use std::sync::Arc;

/// Names a Trigger: its namespace, broker and own name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TriggerId {
    pub namespace: String,
    pub broker: String,
    pub name: String,
}

impl fmt::Display for TriggerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A Trigger ready to run: compiled filter, resolved subscriber URL, delivery policy and pacing.
#[derive(Clone, Debug)]
pub struct TriggerPlan {
    pub id: TriggerId,
    pub filter: Filter,
    pub subscriber: String,
    pub policy: Policy,
    /// Most deliveries in flight at once (the adaptive limit's ceiling).
    pub max_in_flight: usize,
    /// Most deliveries started per second, if limited.
    pub rate_limit: Option<f64>,
    pub order: Order,
}

/// Takes reply events back into the broker a Trigger belongs to.
#[async_trait::async_trait]
pub trait ReplySink: Send + Sync + 'static {
    /// Appends the reply to the broker's log; resolves once it is durable.
    async fn ingest(&self, event: Event) -> Result<(), String>;
}

/// What a Trigger's worker uses of its broker.
#[derive(Clone)]
pub struct BrokerLink {
    pub log: Arc<dyn EventLog>,
    pub router: Router,
    pub state: Arc<dyn StateStore>,
    pub sender: Sender,
    pub replies: Arc<dyn ReplySink>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    pub metrics: DispatchMetrics,
}
