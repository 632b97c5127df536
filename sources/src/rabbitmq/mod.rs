//! The RabbitmqSource adapter: consumes `queueName` (declaring it, a durable topic exchange
//! `exchangeName` and their binding with `routingKey` unless `predeclared`) and hands every
//! message, as a CloudEvent (see [`binding::amqp`](crate::binding::amqp)), to the sink.
//!
//! - **At least once.** Messages are consumed with manual acks and acknowledged only once their
//!   outcome is final (delivered, or dead-lettered and recorded). A delivery interrupted by
//!   shutdown is NACK'd with requeue; anything unacknowledged when a connection drops is requeued
//!   by the broker.
//! - **Parallelism and backpressure.** `parallelism` is both the prefetch (`basic.qos`) and the
//!   number of deliveries in flight, so the broker never sends more than that many unacknowledged
//!   messages: a slow sink slows consumption, and nothing piles up in memory. While the sink
//!   pushes back (429, 503, …) only one delivery runs at a time. `parallelism: 1` keeps queue
//!   order.
//! - **Connection.** `url` (`amqp://user:password@host:port/vhost`, `amqps://` for TLS), or the
//!   `uri` key of `rabbitmqClusterReference.connectionSecret` (plus `username`/`password` keys when
//!   the URI has no credentials) read from the secrets directory; `vhost` overrides the URL's.
//!   A lost connection is re-established every [`RECONNECT_DELAY`].
//! - RabbitMQ closes a channel whose deliveries stay unacknowledged beyond its
//!   `consumer_timeout` (30 minutes by default); keep the delivery policy's total retry time below
//!   it.

pub mod convert;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use herald_crds::RabbitmqSource;
use herald_crds::ResourceKey;
use herald_crds::sources::rabbitmq::DEFAULT_ROUTING_KEY;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::task::JoinSet;

use crate::binding::amqp::{WrapInfo, to_event};
use crate::context::SourceContext;
use crate::deliver::{Deliverer, Disposition};
use crate::error::SourceError;
use crate::flow::Flow;

/// Wait between connection attempts.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// A RabbitmqSource ready to run.
pub(crate) struct Plan {
    url: String,
    queue: ShortString,
    exchange: Option<ShortString>,
    routing_key: ShortString,
    predeclared: bool,
    parallelism: u16,
    /// `/apis/v1/namespaces/{ns}/rabbitmqsources/{name}#{queue}`.
    source: String,
    client_name: String,
    deliverer: Arc<Deliverer>,
}

fn short(key: &ResourceKey, field: &str, value: &str) -> Result<ShortString, SourceError> {
    ShortString::try_new(value).map_err(|_| {
        SourceError::config(
            key,
            field,
            "must be at most 255 bytes (an AMQP short string)",
        )
    })
}

/// Checks the connection settings and names of `source`.
pub(crate) fn prepare(
    source: &RabbitmqSource,
    context: &SourceContext,
    deliverer: Arc<Deliverer>,
) -> Result<Plan, SourceError> {
    let key = herald_crds::Resource::RabbitmqSource(source.clone()).key();
    let config = &source.spec.rabbitmq_resources_config;
    let url = connection_url(source, &key, context)?;
    let parallelism = config.parallelism.unwrap_or(1).clamp(1, 1000);
    Ok(Plan {
        url,
        queue: short(
            &key,
            "spec.rabbitmqResourcesConfig.queueName",
            &config.queue_name,
        )?,
        exchange: config
            .exchange_name
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(|e| short(&key, "spec.rabbitmqResourcesConfig.exchangeName", e))
            .transpose()?,
        routing_key: short(
            &key,
            "spec.rabbitmqResourcesConfig.routingKey",
            config.routing_key.as_deref().unwrap_or(DEFAULT_ROUTING_KEY),
        )?,
        predeclared: config.predeclared,
        parallelism: u16::try_from(parallelism).unwrap_or(1),
        source: format!(
            "/apis/v1/namespaces/{}/rabbitmqsources/{}#{}",
            key.namespace, key.name, config.queue_name
        ),
        client_name: format!("herald-{}-{}", key.namespace, key.name),
        deliverer,
    })
}

/// The AMQP URL: `spec.url` or the connection secret, with `vhost` applied.
fn connection_url(
    source: &RabbitmqSource,
    key: &ResourceKey,
    context: &SourceContext,
) -> Result<String, SourceError> {
    let (text, field) = match source.spec.url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => (url.to_owned(), "spec.url"),
        None => (
            secret_url(source, key, context)?,
            "spec.rabbitmqClusterReference.connectionSecret",
        ),
    };
    let mut url = url::Url::parse(&text)
        .map_err(|e| SourceError::config(key, field, format!("invalid AMQP URL: {e}")))?;
    if let Some(vhost) = source.spec.rabbitmq_resources_config.vhost.as_deref() {
        let encoded = vhost.replace('%', "%25").replace('/', "%2F");
        url.set_path(&format!("/{encoded}"));
    }
    Ok(url.to_string())
}

fn secret_url(
    source: &RabbitmqSource,
    key: &ResourceKey,
    context: &SourceContext,
) -> Result<String, SourceError> {
    let field = "spec.rabbitmqClusterReference.connectionSecret";
    let name = source
        .spec
        .rabbitmq_cluster_reference
        .as_ref()
        .and_then(|r| r.connection_secret.as_ref())
        .map(|s| s.name.as_str())
        .ok_or_else(|| {
            SourceError::config(
                key,
                "spec.url",
                "neither url nor a connection secret is set",
            )
        })?;
    let dir = context.secrets_dir.as_deref().ok_or_else(|| {
        SourceError::config(
            key,
            field,
            "a connection secret needs a secrets directory, and none was configured",
        )
    })?;
    let read = |item: &str| {
        let path = dir.join(name).join(item);
        std::fs::read_to_string(&path)
            .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|e| {
                SourceError::config(key, field, format!("cannot read {}: {e}", path.display()))
            })
    };
    let mut url = url::Url::parse(&read("uri")?).map_err(|e| {
        SourceError::config(key, field, format!("invalid AMQP URL in the secret: {e}"))
    })?;
    if url.username().is_empty()
        && let (Ok(user), Ok(password)) = (read("username"), read("password"))
    {
        let credentials_set =
            url.set_username(&user).is_ok() && url.set_password(Some(&password)).is_ok();
        if !credentials_set {
            return Err(SourceError::config(
                key,
                field,
                "the secret's URI cannot carry credentials",
            ));
        }
    }
    Ok(url.to_string())
}

impl Plan {
    pub(crate) async fn run(self) {
        let stop = self.deliverer.stop().clone();
        while !stop.is_cancelled() {
            match self.session().await {
                Ok(()) => break,
                Err(err) => {
                    if !self
                        .deliverer
                        .wait_to_reconnect("RabbitMQ", err, RECONNECT_DELAY)
                        .await
                    {
                        break;
                    }
                }
            }
        }
    }

    async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable_queue = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(self.queue.clone(), durable_queue, FieldTable::default())
            .await?;
        if let Some(exchange) = &self.exchange {
            let durable_exchange = ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            };
            channel
                .exchange_declare(
                    exchange.clone(),
                    ExchangeKind::Topic,
                    durable_exchange,
                    FieldTable::default(),
                )
                .await?;
            channel
                .queue_bind(
                    self.queue.clone(),
                    exchange.clone(),
                    self.routing_key.clone(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    /// One connection: consume until the source stops (`Ok`) or the connection fails (`Err`).
    async fn session(&self) -> Result<(), String> {
        let properties =
            ConnectionProperties::default().with_connection_name(self.client_name.as_str().into());
        let connection = Connection::connect(&self.url, properties)
            .await
            .map_err(|e| format!("cannot connect to RabbitMQ: {e}"))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| format!("cannot open a channel: {e}"))?;
        if !self.predeclared {
            self.declare(&channel)
                .await
                .map_err(|e| format!("cannot declare queue {}: {e}", self.queue))?;
        }
        channel
            .basic_qos(self.parallelism, BasicQosOptions::default())
            .await
            .map_err(|e| format!("cannot set the prefetch: {e}"))?;
        let tag = ShortString::from(format!("{}-{}", self.client_name, uuid::Uuid::new_v4()));
        let mut consumer = channel
            .basic_consume(
                self.queue.clone(),
                tag.clone(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("cannot consume queue {}: {e}", self.queue))?;
        self.deliverer.stats().mark_running();

        let stop = self.deliverer.stop().clone();
        let flow = Flow::new(usize::from(self.parallelism));
        let mut tasks = JoinSet::new();
        let result = loop {
            while tasks.try_join_next().is_some() {}
            let Some(slot) = flow.admit(&stop).await else {
                break Ok(());
            };
            let delivery = tokio::select! {
                delivery = consumer.next() => delivery,
                _ = stop.cancelled() => break Ok(()),
            };
            let delivery = match delivery {
                Some(Ok(delivery)) => delivery,
                Some(Err(err)) => break Err(format!("consuming {} failed: {err}", self.queue)),
                None => {
                    break Err(format!(
                        "the broker cancelled the consumer of {}",
                        self.queue
                    ));
                }
            };
            self.deliverer.stats().count_received();
            let message = convert::message_of(&delivery.properties, &delivery.data);
            let timestamp_ms = delivery
                .properties
                .timestamp()
                .and_then(|seconds| i64::try_from(seconds).ok())
                .and_then(|seconds| seconds.checked_mul(1000));
            let event = to_event(
                &message,
                WrapInfo {
                    source: &self.source,
                    message_id: delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|m| m.as_str()),
                    timestamp_ms,
                },
            );
            let (deliverer, flow, acker) = (self.deliverer.clone(), flow.clone(), delivery.acker);
            tasks.spawn(async move {
                let disposition = deliverer.deliver(event, &flow).await;
                drop(slot);
                let settled = match disposition {
                    Disposition::Settled => acker.ack(BasicAckOptions::default()).await,
                    Disposition::Interrupted => {
                        let requeue = BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        };
                        acker.nack(requeue).await
                    }
                };
                if let Err(err) = settled {
                    tracing::warn!(error = %err, "settling a RabbitMQ message failed; the broker will redeliver it");
                }
            });
        };
        if result.is_ok()
            && let Err(err) = channel
                .basic_cancel(tag, BasicCancelOptions::default())
                .await
        {
            tracing::debug!(error = %err, "cancelling the consumer failed");
        }
        while tasks.join_next().await.is_some() {}
        if let Err(err) = channel.close(200, "OK".into()).await {
            tracing::debug!(error = %err, "closing the channel failed");
        }
        if let Err(err) = connection.close(200, "OK".into()).await {
            tracing::debug!(error = %err, "closing the connection failed");
        }
        result
    }
}
