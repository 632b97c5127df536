//! Replay: delivers a stored dead letter, or a record of a broker's log, once more — to a
//! Trigger's subscriber under that Trigger's delivery policy, or to any URL.
//!
//! - [`Destination`] is where replayed events go and under which policy;
//! - [`send()`] delivers one event there (retries, backoff and, for a Trigger, its reply);
//! - [`dead_letter`] replays one entry of a [`DeadLetterStore`](crate::deadletter::DeadLetterStore)
//!   and records the outcome in the entry's history;
//! - [`window`] scans a window of a broker's log through a filter.
//!
//! A replayed event is the original, byte for byte, with two changes: the hop counter
//! (`knativebrokerttl`) is not sent, as on every delivery, and the [`REPLAY_EXTENSION`] names the
//! replay. Its `id` and `source` are unchanged, so subscribers can de-duplicate. Delivery attempts
//! of replays are counted in `herald_delivery_attempts_total` with the extra label `replay="true"`.

pub mod dead_letter;
mod locks;
mod send;
pub mod window;

pub use dead_letter::{EntryOutcome, ReplayError, ReplayOptions, Replayer};
pub use send::send;

use crate::delivery::{Policy, Sender};
use crate::dispatch::{BrokerLink, TriggerPlan};
use crate::filter::Filter;
use crate::metrics::{DispatchMetrics, Labels, trigger_labels};

/// The CloudEvents extension replayed events carry: the id of the replay that sent them.
pub const REPLAY_EXTENSION: &str = "heraldreplay";

/// Where replayed events go.
#[derive(Clone)]
pub enum Destination {
    /// A Trigger's subscriber, under the Trigger's delivery policy. Replies go back into the
    /// Trigger's broker, as on normal delivery.
    Trigger {
        plan: Box<TriggerPlan>,
        link: BrokerLink,
    },
    /// Any URL, under `policy`. Replies are not ingested anywhere.
    Url {
        url: String,
        policy: Policy,
        sender: Sender,
        metrics: DispatchMetrics,
    },
}

impl Destination {
    /// How the destination is named in replay history and answers: `trigger NS/NAME` or the URL.
    pub fn label(&self) -> String {
        match self {
            Destination::Trigger { plan, .. } => format!("trigger {}", plan.id),
            Destination::Url { url, .. } => url.clone(),
        }
    }

    /// The URL events are POSTed to.
    pub fn url(&self) -> &str {
        match self {
            Destination::Trigger { plan, .. } => &plan.subscriber,
            Destination::Url { url, .. } => url,
        }
    }

    /// The delivery policy replayed events go under.
    pub fn policy(&self) -> &Policy {
        match self {
            Destination::Trigger { plan, .. } => &plan.policy,
            Destination::Url { policy, .. } => policy,
        }
    }

    /// The Trigger's filter, for a Trigger destination.
    pub fn filter(&self) -> Option<&Filter> {
        match self {
            Destination::Trigger { plan, .. } => Some(&plan.filter),
            Destination::Url { .. } => None,
        }
    }

    fn sender(&self) -> &Sender {
        match self {
            Destination::Trigger { link, .. } => &link.sender,
            Destination::Url { sender, .. } => sender,
        }
    }

    fn metrics(&self) -> &DispatchMetrics {
        match self {
            Destination::Trigger { link, .. } => &link.metrics,
            Destination::Url { metrics, .. } => metrics,
        }
    }

    /// Metric labels of attempts to this destination (the Trigger's, or the URL), marked as a
    /// replay.
    fn replay_labels(&self) -> Labels {
        let mut labels = match self {
            Destination::Trigger { plan, .. } => {
                trigger_labels(&plan.id.namespace, &plan.id.broker, &plan.id.name)
            }
            Destination::Url { url, .. } => vec![("destination", url.clone())],
        };
        labels.push(("replay", "true".to_string()));
        labels
    }
}
