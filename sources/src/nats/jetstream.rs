//! JetStream: a pull consumer on `jetstream.stream` filtered to `subject` — durable when
//! `durableName` is set (the default after defaulting), ephemeral otherwise — with explicit acks.
//! Wrapped messages get the stable id `stream:{stream}/sequence:{stream sequence}` and the time
//! the server stored them.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt as _;
use herald_crds::sources::nats::{NatsDeliverPolicy, NatsJetStreamSpec};
use tokio::task::JoinSet;

use super::{MAX_IN_FLIGHT, Plan, binding_message};
use crate::binding::nats::{WrapInfo, to_event};
use crate::deliver::Disposition;
use crate::flow::Flow;

/// How long one fetch waits for messages.
pub const FETCH_WAIT: Duration = Duration::from_secs(1);
/// The server's default `ackWait`, used to time progress acks when the spec has none.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// The consumer configuration of the spec.
fn consumer_config(subject: &str, spec: &NatsJetStreamSpec) -> Result<pull::Config, String> {
    let deliver_policy = match spec.deliver_policy.unwrap_or(NatsDeliverPolicy::All) {
        NatsDeliverPolicy::All => DeliverPolicy::All,
        NatsDeliverPolicy::New => DeliverPolicy::New,
        NatsDeliverPolicy::Last => DeliverPolicy::Last,
        NatsDeliverPolicy::ByStartTime => {
            let time = spec.opt_start_time.as_deref().unwrap_or_default();
            let start_time = chrono::DateTime::parse_from_rfc3339(time)
                .map_err(|e| format!("optStartTime {time:?} is not RFC 3339: {e}"))?
                .with_timezone(&chrono::Utc);
            DeliverPolicy::ByStartTime { start_time }
        }
    };
    Ok(pull::Config {
        durable_name: spec.durable_name.clone().filter(|d| !d.is_empty()),
        deliver_policy,
        ack_policy: AckPolicy::Explicit,
        ack_wait: spec
            .ack_wait
            .as_ref()
            .map(|d| d.as_duration())
            .unwrap_or_default(),
        max_deliver: spec.max_deliver.unwrap_or_default(),
        filter_subject: subject.to_owned(),
        ..pull::Config::default()
    })
}

async fn consumer(
    context: &jetstream::Context,
    subject: &str,
    spec: &NatsJetStreamSpec,
) -> Result<PullConsumer, String> {
    let config = consumer_config(subject, spec)?;
    let stream = context
        .get_stream(&spec.stream)
        .await
        .map_err(|e| format!("cannot open JetStream stream {}: {e}", spec.stream))?;
    match config.durable_name.clone() {
        Some(durable) => stream.get_or_create_consumer(&durable, config).await,
        None => stream.create_consumer(config).await,
    }
    .map_err(|e| {
        format!(
            "cannot create the JetStream consumer on {}: {e}",
            spec.stream
        )
    })
}

/// Consumes until the source stops (`Ok`) or JetStream fails (`Err`).
pub(crate) async fn run(
    plan: &Plan,
    client: async_nats::Client,
    spec: &NatsJetStreamSpec,
) -> Result<(), String> {
    let context = jetstream::new(client.clone());
    let consumer = consumer(&context, &plan.spec.subject, spec).await?;
    let deliverer = &plan.deliverer;
    deliverer.stats().mark_running();
    let stop = deliverer.stop().clone();
    let flow = Flow::new(MAX_IN_FLIGHT);
    let ack_wait = spec
        .ack_wait
        .as_ref()
        .map(|d| d.as_duration())
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_ACK_WAIT);
    let mut tasks = JoinSet::new();
    let result = loop {
        while tasks.try_join_next().is_some() {}
        let Some(first) = flow.admit(&stop).await else {
            break Ok(());
        };
        let mut slots = vec![first];
        while let Some(slot) = flow.try_admit() {
            slots.push(slot);
        }
        let batch = consumer
            .batch()
            .max_messages(slots.len())
            .expires(FETCH_WAIT)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(err) => break Err(format!("fetching from JetStream failed: {err}")),
        };
        while let Some(message) = batch.next().await {
            let message = match message {
                Ok(message) => message,
                Err(err) => {
                    tracing::warn!(error = %err, "a JetStream fetch failed");
                    break;
                }
            };
            if stop.is_cancelled() {
                // Fetched after stop: hand it back at once instead of waiting for ackWait.
                nak(&message).await;
                continue;
            }
            let Some(slot) = slots.pop() else {
                nak(&message).await;
                continue;
            };
            deliverer.stats().count_received();
            let event = event_of(plan, &message);
            let (deliverer, flow) = (deliverer.clone(), flow.clone());
            tasks.spawn(async move {
                let lease = &message;
                let disposition = deliverer
                    .deliver_with_keepalive(event, &flow, ack_wait / 2, move || async move {
                        if let Err(err) = lease.ack_with(AckKind::Progress).await {
                            tracing::debug!(error = %err, "progress ack failed");
                        }
                    })
                    .await;
                drop(slot);
                match disposition {
                    Disposition::Settled => {
                        if let Err(err) = message.ack().await {
                            tracing::warn!(error = %err, "acknowledging a JetStream message failed; it will be redelivered");
                        }
                    }
                    Disposition::Interrupted => nak(&message).await,
                }
            });
        }
        if stop.is_cancelled() {
            break Ok(());
        }
    };
    while tasks.join_next().await.is_some() {}
    if let Err(err) = client.flush().await {
        tracing::warn!(error = %err, "flushing acknowledgements to NATS failed");
    }
    result
}

/// The event of a JetStream message.
fn event_of(plan: &Plan, message: &jetstream::Message) -> herald_cloudevent::Event {
    let info = message.info().ok();
    let id = info.as_ref().map_or_else(
        || uuid::Uuid::new_v4().to_string(),
        |info| format!("stream:{}/sequence:{}", info.stream, info.stream_sequence),
    );
    to_event(
        &binding_message(message),
        WrapInfo {
            source: &plan.source,
            subject: message.subject.as_str(),
            id,
            time: info.map(|info| info.published),
        },
    )
}

async fn nak(message: &jetstream::Message) {
    if let Err(err) = message.ack_with(AckKind::Nak(None)).await {
        tracing::debug!(error = %err, "NAK failed; the message is redelivered after ackWait");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_config_follows_the_spec() {
        let spec: NatsJetStreamSpec = serde_json::from_value(serde_json::json!({
            "stream": "S", "durableName": "d", "deliverPolicy": "byStartTime",
            "optStartTime": "2024-01-01T00:00:00Z", "ackWait": "PT10S", "maxDeliver": 5
        }))
        .unwrap();
        let config = consumer_config("orders.>", &spec).unwrap();
        assert_eq!(config.durable_name.as_deref(), Some("d"));
        assert_eq!(config.filter_subject, "orders.>");
        assert_eq!(config.ack_wait, Duration::from_secs(10));
        assert_eq!(config.max_deliver, 5);
        assert!(matches!(config.ack_policy, AckPolicy::Explicit));
        assert!(matches!(
            config.deliver_policy,
            DeliverPolicy::ByStartTime { start_time } if start_time.timestamp() == 1_704_067_200
        ));
    }
}
