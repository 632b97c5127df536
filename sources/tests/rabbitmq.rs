//! RabbitmqSource against the RabbitMQ server on 127.0.0.1:5672 (guest/guest): declared queue,
//! exchange and binding; CloudEvent and plain messages; a failing sink; restarts; parallelism as
//! the bound on deliveries in flight; dead-lettering; and requeueing of interrupted deliveries.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use common::{TestSink, harness, policy, start, unique, wait_ready};
use herald_cloudevent::{AttrValue, Data, Event, SpecVersion};
use herald_sources::binding::amqp::{self as binding, AmqpMessage};
use herald_sources::rabbitmq::convert;
use lapin::options::{
    BasicPublishOptions, ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::json;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A publishing connection, and the names a test created (deleted by [`Broker::clean_up`]).
struct Broker {
    _connection: Connection,
    channel: Channel,
    queue: String,
    exchange: String,
}

impl Broker {
    async fn new(prefix: &str) -> Broker {
        let connection = Connection::connect(URL, ConnectionProperties::default())
            .await
            .expect("RabbitMQ on 127.0.0.1:5672 is running (tests/run starts it)");
        let channel = connection.create_channel().await.expect("open a channel");
        Broker {
            _connection: connection,
            channel,
            queue: unique(&format!("{prefix}-q")),
            exchange: unique(&format!("{prefix}-x")),
        }
    }

    async fn publish(&self, routing_key: &str, body: &[u8], properties: BasicProperties) {
        self.channel
            .basic_publish(
                ShortString::from(self.exchange.as_str()),
                ShortString::from(routing_key),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .expect("publish")
            .await
            .expect("publish confirmation");
    }

    async fn publish_message(&self, message: &AmqpMessage) {
        self.publish(
            "orders.created",
            &message.body,
            convert::properties_of(message),
        )
        .await;
    }

    async fn publish_plain(&self, range: std::ops::Range<usize>) {
        for i in range {
            let properties = BasicProperties::default()
                .with_message_id(ShortString::from(format!("m{i}")))
                .with_content_type(ShortString::from("text/plain"));
            self.publish("orders.created", format!("body {i}").as_bytes(), properties)
                .await;
        }
    }

    /// Messages waiting in the queue.
    async fn queued(&self) -> u32 {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        self.channel
            .queue_declare(
                ShortString::from(self.queue.as_str()),
                passive,
                FieldTable::default(),
            )
            .await
            .expect("the queue exists")
            .message_count()
    }

    async fn clean_up(self) {
        self.channel
            .queue_delete(
                ShortString::from(self.queue.as_str()),
                QueueDeleteOptions::default(),
            )
            .await
            .expect("delete the queue");
        self.channel
            .exchange_delete(
                ShortString::from(self.exchange.as_str()),
                ExchangeDeleteOptions::default(),
            )
            .await
            .expect("delete the exchange");
    }

    fn manifest(&self, name: &str, parallelism: i32, sink: &TestSink) -> serde_json::Value {
        json!({
            "apiVersion": "sources.knative.dev/v1alpha1",
            "kind": "RabbitmqSource",
            "metadata": {"name": name, "namespace": "rmq"},
            "spec": {
                "url": "amqp://guest:guest@127.0.0.1:5672",
                "rabbitmqResourcesConfig": {
                    "vhost": "/",
                    "queueName": self.queue,
                    "exchangeName": self.exchange,
                    "routingKey": "orders.*",
                    "parallelism": parallelism
                },
                "sink": {"uri": sink.url()}
            }
        })
    }
}

async fn wait_requests(sink: &TestSink, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while sink.requests() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the source never reached the sink"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn cloudevents_pass_through_and_plain_messages_are_wrapped() {
    common::init_tracing();
    let broker = Broker::new("mixed").await;
    let sink = TestSink::start().await;
    let name = unique("mixed");
    let h = harness(&sink, None, policy(3, Duration::from_millis(50)));
    // The source declares the queue, the exchange and the binding.
    let source = start(broker.manifest(&name, 1, &sink), &h);
    wait_ready(&source, Duration::from_secs(10)).await;

    let mut binary = Event::new(SpecVersion::V10, "bin-1", "/orders", "com.example.created");
    binary.set("count", AttrValue::Integer(4));
    binary.set("flag", AttrValue::Boolean(true));
    binary.set("datacontenttype", "application/json".into());
    binary.set_data(Some(Data::Binary(Bytes::from_static(b"{\"n\":1}"))));
    broker
        .publish_message(&binding::encode_binary(&binary))
        .await;
    let mut structured = Event::new(SpecVersion::V10, "str-1", "/orders", "com.example.updated");
    structured.set_data(Some(Data::Json(Bytes::from_static(b"[1, 2]"))));
    broker
        .publish_message(&binding::encode_structured(&structured))
        .await;
    let plain = BasicProperties::default()
        .with_message_id(ShortString::from("m-7"))
        .with_timestamp(1_700_000_000)
        .with_content_type(ShortString::from("text/plain"));
    broker.publish("orders.created", b"hello", plain).await;
    // Not matching the binding key: never reaches the queue.
    broker
        .publish("invoices.created", b"elsewhere", BasicProperties::default())
        .await;

    let events = sink.wait_for(3, Duration::from_secs(10)).await;
    sink.assert_settles_at(3, Duration::from_millis(500)).await;
    source.stop().await;

    let got = &events[0];
    assert_eq!((got.id(), got.ty()), ("bin-1", "com.example.created"));
    assert_eq!(got.get_str("count"), Some("4"));
    assert_eq!(got.get_str("flag"), Some("true"));
    assert_eq!(got.datacontenttype(), Some("application/json"));
    assert_eq!(got.data().unwrap().bytes(), &b"{\"n\":1}"[..]);
    let got = &events[1];
    assert_eq!((got.id(), got.ty()), ("str-1", "com.example.updated"));
    assert_eq!(got.data().unwrap().bytes(), &b"[1, 2]"[..]);
    let got = &events[2];
    assert_eq!(got.ty(), binding::WRAPPED_TYPE);
    assert_eq!(got.id(), "m-7");
    assert_eq!(got.get_str("subject"), Some("m-7"));
    assert_eq!(
        got.source(),
        format!(
            "/apis/v1/namespaces/rmq/rabbitmqsources/{name}#{}",
            broker.queue
        )
    );
    assert_eq!(got.get_str("time"), Some("2023-11-14T22:13:20Z"));
    assert_eq!(got.datacontenttype(), Some("text/plain"));
    assert_eq!(got.data().unwrap().bytes(), &b"hello"[..]);
    assert_eq!(broker.queued().await, 0, "everything was acknowledged");
    broker.clean_up().await;
}

#[tokio::test]
async fn failing_sink_restart_and_bounded_parallelism() {
    common::init_tracing();
    let broker = Broker::new("resume").await;
    let sink = TestSink::start().await;
    sink.fail_with(503);
    let name = unique("resume");
    let h = harness(&sink, None, policy(200, Duration::from_millis(50)));
    let source = start(broker.manifest(&name, 4, &sink), &h);
    wait_ready(&source, Duration::from_secs(10)).await;
    broker.publish_plain(0..30).await;
    wait_requests(&sink, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tried: HashSet<String> = sink.seen_ids().into_iter().collect();
    assert!(
        tried.len() <= 4,
        "{} messages were tried while the sink failed; parallelism is 4",
        tried.len()
    );
    sink.set_delay(Duration::from_millis(50));
    sink.recover();
    let events = sink.wait_for(30, Duration::from_secs(20)).await;
    let ids: HashSet<&str> = events.iter().map(Event::id).collect();
    assert_eq!(
        ids.len(),
        30,
        "503s are not recorded, so each message arrives once"
    );
    let max = sink.max_in_flight();
    assert!(
        (2..=4).contains(&max),
        "parallelism bounds deliveries in flight: {max}"
    );
    source.stop().await;

    broker.publish_plain(30..40).await;
    let h = harness(&sink, None, policy(3, Duration::from_millis(50)));
    let source = start(broker.manifest(&name, 4, &sink), &h);
    let events = sink.wait_for(40, Duration::from_secs(20)).await;
    sink.assert_settles_at(40, Duration::from_secs(1)).await;
    source.stop().await;
    let resumed: HashSet<&str> = events[30..].iter().map(Event::id).collect();
    let expected: HashSet<String> = (30..40).map(|i| format!("m{i}")).collect();
    assert_eq!(
        resumed,
        expected.iter().map(String::as_str).collect::<HashSet<_>>()
    );
    assert_eq!(broker.queued().await, 0);
    broker.clean_up().await;
}

#[tokio::test]
async fn interrupted_deliveries_are_requeued_and_dead_letters_acknowledged() {
    common::init_tracing();
    let broker = Broker::new("dead").await;
    let sink = TestSink::start().await;
    sink.fail_with(503);
    let name = unique("dead");
    let h = harness(&sink, None, policy(1000, Duration::from_millis(100)));
    let source = start(broker.manifest(&name, 1, &sink), &h);
    wait_ready(&source, Duration::from_secs(10)).await;
    broker.publish_plain(0..1).await;
    wait_requests(&sink, 2).await;
    source.stop().await;
    assert_eq!(
        broker.queued().await,
        1,
        "the interrupted message was requeued"
    );

    sink.fail_with(400);
    let dls = TestSink::start().await;
    let h = harness(&sink, Some(&dls), policy(3, Duration::from_millis(10)));
    let source = start(broker.manifest(&name, 1, &sink), &h);
    let dead = dls.wait_for(1, Duration::from_secs(10)).await;
    source.stop().await;
    assert_eq!(dead[0].id(), "m0");
    assert_eq!(dead[0].get_str("knativeerrorcode"), Some("400"));
    assert_eq!(
        dead[0].get_str("knativeerrordest"),
        Some(sink.url().as_str())
    );
    let recorded = h.dead_letters.entries();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].source, format!("rabbitmqsources/rmq/{name}"));
    assert_eq!(
        broker.queued().await,
        0,
        "the dead-lettered message was acknowledged"
    );
    broker.clean_up().await;
}
