//! `kill -9` a `herald serve` whose Kafka and RabbitMQ sources are mid-stream: after a restart each
//! resumes from what it had committed or acknowledged, so every message arrives (those in flight at
//! the kill may arrive twice, at least once).

use herald_tests::eventually;
use herald_tests::process::Herald;
use herald_tests::subscriber::{Answer, Subscriber};
use lapin::options::{BasicPublishOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

const MESSAGES: usize = 30;

fn trigger(ty: &str, subscriber: &str) -> String {
    format!(
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: to-sub\nspec:\n  broker: default\n  filter:\n    attributes:\n      type: {ty}\n  subscriber:\n    uri: {subscriber}\n"
    )
}

/// Whether the only RabbitmqSource reports `Ready: True` (consuming, its topology declared).
fn source_ready(herald: &Herald) -> bool {
    let sources = herald.cli_json(&["get", "rabbitmqsources"]);
    sources["items"][0]["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn distinct(sub: &Subscriber) -> usize {
    let mut ids = sub.ids();
    ids.sort();
    ids.dedup();
    ids.len()
}

/// Kills Herald once some messages arrived, restarts it on the same data, and waits for all.
async fn kill_and_resume(
    data: &std::path::Path,
    herald: Herald,
    sub: &Subscriber,
    within: Duration,
) {
    sub.wait_for(5, Duration::from_secs(30)).await;
    herald.kill9();
    assert!(
        distinct(sub) < MESSAGES,
        "everything arrived before the kill; the test proves nothing"
    );
    let restarted = Herald::start(data, &[]);
    assert!(
        eventually(within, async || distinct(sub) == MESSAGES).await,
        "only {} of {MESSAGES} arrived after the restart: {}",
        distinct(sub),
        restarted.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_source_resumes_from_its_committed_offsets_after_kill_9() {
    let mock = MockCluster::new(1).expect("start librdkafka's mock cluster");
    let topic = format!("herald-crash-{}", std::process::id());
    mock.create_topic(&topic, 1, 1).expect("create the topic");
    let bootstrap = mock.bootstrap_servers();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("a producer");
    for n in 0..MESSAGES {
        let payload = format!("record {n}");
        producer
            .send(
                FutureRecord::<(), _>::to(&topic).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sub = Subscriber::start(|_| Answer::ok().delay(Duration::from_millis(100))).await;
    let herald = Herald::start(&data, &[]);
    herald.apply(&trigger("dev.knative.kafka.event", &sub.url));
    herald.apply(&format!(
        "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata:\n  name: orders\nspec:\n  bootstrapServers: [\"{bootstrap}\"]\n  topics: [\"{topic}\"]\n  initialOffset: earliest\n  sink:\n    ref:\n      apiVersion: eventing.knative.dev/v1\n      kind: Broker\n      name: default\n"
    ));
    // The dead member's partitions are reassigned after its session times out (10 s).
    kill_and_resume(&data, herald, &sub, Duration::from_secs(60)).await;
    let ids = sub.ids();
    assert!(
        ids.iter().all(|id| id.starts_with("partition:0/offset:")),
        "{ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rabbitmq_source_resumes_from_its_acknowledgements_after_kill_9() {
    let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (tests/run starts it)");
    let queue = format!("herald-crash-{}", std::process::id());
    let exchange = format!("{queue}-x");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sub = Subscriber::start(|_| Answer::ok().delay(Duration::from_millis(100))).await;
    let herald = Herald::start(&data, &[]);
    herald.apply(&trigger("dev.knative.rabbitmq.event", &sub.url));
    herald.apply(&format!(
        "apiVersion: sources.knative.dev/v1alpha1\nkind: RabbitmqSource\nmetadata:\n  name: orders\nspec:\n  url: {url}\n  rabbitmqResourcesConfig:\n    queueName: {queue}\n    exchangeName: {exchange}\n    parallelism: 2\n  sink:\n    ref:\n      apiVersion: eventing.knative.dev/v1\n      kind: Broker\n      name: default\n"
    ));
    // The source declares the queue, the exchange and their binding, then reports Ready; a
    // message published before the binding exists would be dropped by the exchange as unroutable.
    assert!(
        eventually(Duration::from_secs(20), async || source_ready(&herald)).await,
        "the RabbitmqSource did not become Ready: {}",
        herald.logs()
    );
    let channel = connection.create_channel().await.unwrap();
    for n in 0..MESSAGES {
        channel
            .basic_publish(
                ShortString::from(exchange.as_str()),
                ShortString::from("orders"),
                BasicPublishOptions::default(),
                format!("message {n}").as_bytes(),
                BasicProperties::default().with_message_id(ShortString::from(format!("m{n}"))),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    kill_and_resume(&data, herald, &sub, Duration::from_secs(40)).await;
    let _ = channel
        .queue_delete(
            ShortString::from(queue.as_str()),
            QueueDeleteOptions::default(),
        )
        .await;
    let _ = channel
        .exchange_delete(
            ShortString::from(exchange.as_str()),
            ExchangeDeleteOptions::default(),
        )
        .await;
}
