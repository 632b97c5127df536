//! Sends one replayed event to a [`Destination`]: the hop counter stripped, the replay extension
//! added, attempts under the destination's policy (counted as replay attempts), and for a Trigger
//! the reply settled back into its broker.

use super::{Destination, REPLAY_EXTENSION};
use crate::delivery::Final;
use crate::dispatch::settle::{TTL, settle};
use crate::metrics::trigger_labels;
use herald_cloudevent::{AttrValue, Event};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Delivers `event` (as it was stored) to `destination` as part of replay `replay_id`, with the
/// destination's retries and backoff. A Trigger destination's reply goes back into its broker
/// (with the hop counter decremented, dead-lettered if that fails, as on normal delivery).
pub async fn send(
    destination: &Destination,
    event: &Event,
    replay_id: &str,
    stop: &CancellationToken,
) -> Final {
    let mut outgoing = event.clone();
    outgoing.remove(TTL);
    outgoing.set(REPLAY_EXTENSION, AttrValue::String(replay_id.to_string()));
    let url = destination.url();
    let policy = destination.policy();
    let sender = destination.sender();
    let metrics = destination.metrics();
    let labels = destination.replay_labels();
    let outcome = policy
        .run(
            url,
            &outgoing,
            || async {
                let started = Instant::now();
                let attempt = sender
                    .attempt(url, &outgoing, policy.format, policy.timeout)
                    .await;
                let seconds = started.elapsed().as_secs_f64();
                metrics.attempt(&labels, attempt.label(), attempt.status(), seconds);
                attempt
            },
            1,
            stop,
            |_, _| async {},
        )
        .await;
    if let Destination::Trigger { plan, link } = destination
        && matches!(outcome, Final::Delivered { reply: Some(_), .. })
    {
        let labels = trigger_labels(&plan.id.namespace, &plan.id.broker, &plan.id.name);
        settle(plan, link, &labels, event, outcome.clone(), stop).await;
    }
    outcome
}
