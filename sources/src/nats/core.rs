//! Core NATS: a subscription (in a queue group when `queueGroup` is set) read one message per
//! free place in the window. Wrapped messages get the `Nats-Msg-Id` header as their id when the
//! publisher set one, else a fresh UUID (core NATS has no stable message identity).

use futures::StreamExt as _;
use tokio::task::JoinSet;

use super::{MAX_IN_FLIGHT, Plan, binding_message};
use crate::binding::nats::{WrapInfo, to_event};
use crate::flow::Flow;

/// Consumes until the source stops (`Ok`) or the subscription fails (`Err`).
pub(crate) async fn run(plan: &Plan, client: async_nats::Client) -> Result<(), String> {
    let subject = plan.spec.subject.clone();
    let mut subscriber = match plan.spec.queue_group.as_ref().filter(|g| !g.is_empty()) {
        Some(group) => client.queue_subscribe(subject, group.clone()).await,
        None => client.subscribe(subject).await,
    }
    .map_err(|e| format!("cannot subscribe to {}: {e}", plan.spec.subject))?;
    let deliverer = &plan.deliverer;
    deliverer.stats().mark_running();
    let stop = deliverer.stop().clone();
    let flow = Flow::new(MAX_IN_FLIGHT);
    let mut tasks = JoinSet::new();
    let result = loop {
        while tasks.try_join_next().is_some() {}
        let Some(slot) = flow.admit(&stop).await else {
            break Ok(());
        };
        let message = tokio::select! {
            message = subscriber.next() => message,
            _ = stop.cancelled() => break Ok(()),
        };
        let Some(message) = message else {
            break Err(format!("the subscription to {} ended", plan.spec.subject));
        };
        deliverer.stats().count_received();
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_owned())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let event = to_event(
            &binding_message(&message),
            WrapInfo {
                source: &plan.source,
                subject: message.subject.as_str(),
                id,
                time: None,
            },
        );
        let (deliverer, flow) = (deliverer.clone(), flow.clone());
        tasks.spawn(async move {
            deliverer.deliver(event, &flow).await;
            drop(slot);
        });
    };
    if let Err(err) = subscriber.unsubscribe().await {
        tracing::debug!(error = %err, "unsubscribing failed");
    }
    while tasks.join_next().await.is_some() {}
    result
}
