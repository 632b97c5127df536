//! KafkaSource against librdkafka's mock cluster (always) and a real `tansu` broker (when
//! `TANSU_BIN` is set): CloudEvent and plain records, a failing sink, restarts from the committed
//! position, dead-lettering, interrupted deliveries, and bounded in-flight under push-back.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use common::tansu::Tansu;
use common::{TestSink, harness, policy, start, unique};
use herald_cloudevent::{AttrValue, Data, Event, SpecVersion};
use herald_sources::binding::kafka::{self as binding, KafkaMessage};
use herald_sources::kafka::UNORDERED_WINDOW;
use herald_sources::kafka::partition::PENDING_HIGH;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;

/// Produces test records.
struct Producer(FutureProducer);

impl Producer {
    fn new(bootstrap: &str) -> Producer {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("message.timeout.ms", "15000")
            .create()
            .expect("create a producer");
        Producer(producer)
    }

    async fn send(&self, topic: &str, partition: i32, message: &KafkaMessage) {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &message.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(partition)
            .headers(headers);
        if let Some(key) = &message.key {
            record = record.key(&key[..]);
        }
        if let Some(value) = &message.value {
            record = record.payload(&value[..]);
        }
        self.0
            .send(record, Duration::from_secs(15))
            .await
            .map_err(|(e, _)| e)
            .expect("produce a record");
    }

    /// Plain records `v{i}` with key `k{i}`, round-robin over `partitions`.
    async fn send_plain(&self, topic: &str, partitions: i32, range: std::ops::Range<usize>) {
        for i in range {
            let message = KafkaMessage {
                key: Some(Bytes::from(format!("k{i}"))),
                headers: Vec::new(),
                value: Some(Bytes::from(format!("v{i}"))),
            };
            self.send(topic, i as i32 % partitions, &message).await;
        }
    }
}

fn manifest(
    name: &str,
    bootstrap: &str,
    topic: &str,
    group: &str,
    ordering: &str,
    sink: &TestSink,
) -> serde_json::Value {
    json!({
        "apiVersion": "sources.knative.dev/v1",
        "kind": "KafkaSource",
        "metadata": {"name": name, "namespace": "kafka"},
        "spec": {
            "bootstrapServers": [bootstrap],
            "topics": [topic],
            "consumerGroup": group,
            "initialOffset": "earliest",
            "ordering": ordering,
            "sink": {"uri": sink.url()}
        }
    })
}

/// The partition and offset of a wrapped record's id `partition:{p}/offset:{o}`.
fn position(event: &Event) -> (i32, i64) {
    let (p, o) = event
        .id()
        .strip_prefix("partition:")
        .and_then(|rest| rest.split_once("/offset:"))
        .unwrap_or_else(|| panic!("not a wrapped record id: {}", event.id()));
    (p.parse().unwrap(), o.parse().unwrap())
}

fn mock_cluster(
    topic: &str,
    partitions: i32,
) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let mock = MockCluster::new(1).expect("start the mock cluster");
    mock.create_topic(topic, partitions, 1)
        .expect("create the topic");
    mock
}

/// At least once across a failing sink and a restart, ordered per partition. Used against the
/// mock cluster and against tansu.
async fn failing_sink_and_restart(bootstrap: &str, topic: &str) {
    let producer = Producer::new(bootstrap);
    producer.send_plain(topic, 2, 0..30).await;

    let sink = TestSink::start().await;
    sink.fail_with(503);
    let group = unique("group");
    let name = unique("orders");
    let h = harness(&sink, None, policy(100, Duration::from_millis(50)));
    let source = start(
        manifest(&name, bootstrap, topic, &group, "ordered", &sink),
        &h,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sink.requests() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the source never reached the sink"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sink.events().is_empty());
    sink.recover();
    let events = sink.wait_for(30, Duration::from_secs(30)).await;
    assert_eq!(
        events.len(),
        30,
        "503s are not recorded, so nothing is duplicated"
    );
    let stats = source.stats.clone();

    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for event in &events {
        let (partition, offset) = position(event);
        if let Some(previous) = last_offset.insert(partition, offset) {
            assert!(previous < offset, "partition {partition} out of order");
        }
        assert_eq!(event.ty(), binding::WRAPPED_TYPE);
        assert_eq!(
            event.source(),
            format!("/apis/v1/namespaces/kafka/kafkasources/{name}#{topic}")
        );
    }
    assert_eq!(last_offset, BTreeMap::from([(0, 14), (1, 14)]));
    source.stop().await;
    assert_eq!(stats.snapshot()["eventsSent"], 30);
    assert_eq!(stats.snapshot()["eventsReceived"], 30);

    producer.send_plain(topic, 2, 30..40).await;
    let h = harness(&sink, None, policy(100, Duration::from_millis(50)));
    let source = start(
        manifest(&name, bootstrap, topic, &group, "ordered", &sink),
        &h,
    );
    let events = sink.wait_for(40, Duration::from_secs(45)).await;
    sink.assert_settles_at(40, Duration::from_secs(1)).await;
    source.stop().await;
    let after_restart: HashSet<String> = events[30..]
        .iter()
        .map(|e| {
            e.data()
                .map(|d| String::from_utf8_lossy(d.bytes()).into_owned())
                .unwrap()
        })
        .collect();
    let expected: HashSet<String> = (30..40).map(|i| format!("v{i}")).collect();
    assert_eq!(
        after_restart, expected,
        "the restart resumed from the committed offsets"
    );
}

#[tokio::test]
async fn mock_cluster_failing_sink_and_restart() {
    common::init_tracing();
    let topic = unique("resume");
    let mock = mock_cluster(&topic, 2);
    failing_sink_and_restart(&mock.bootstrap_servers(), &topic).await;
}

#[tokio::test]
async fn tansu_failing_sink_and_restart() {
    common::init_tracing();
    // The mock cluster part always runs, so this test asserts something either way.
    let topic = unique("resume");
    let mock = mock_cluster(&topic, 2);
    failing_sink_and_restart(&mock.bootstrap_servers(), &topic).await;
    drop(mock);

    let Some(tansu) = Tansu::start().await else {
        return;
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .create()
        .expect("create an admin client");
    let topic = unique("resume");
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 2, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics on tansu");
    for result in created {
        result.expect("tansu created the topic");
    }
    failing_sink_and_restart(tansu.bootstrap(), &topic).await;
}

#[tokio::test]
async fn cloudevents_pass_through_and_plain_records_are_wrapped() {
    common::init_tracing();
    let topic = unique("mixed");
    let mock = mock_cluster(&topic, 1);
    let producer = Producer::new(&mock.bootstrap_servers());

    let mut binary = Event::new(SpecVersion::V10, "b-1", "/orders", "com.example.created");
    binary.set("partitionkey", "customer-9".into());
    binary.set("datacontenttype", "application/json".into());
    binary.set_data(Some(Data::Binary(Bytes::from_static(b"{\"n\":1}"))));
    let mut structured = Event::new(SpecVersion::V10, "s-1", "/orders", "com.example.updated");
    structured.set("count", AttrValue::Integer(2));
    structured.set_data(Some(Data::Json(Bytes::from_static(b"[1, 2]"))));
    let plain = KafkaMessage {
        key: Some(Bytes::from_static(b"user-7")),
        headers: vec![
            (
                "content-type".into(),
                Some(Bytes::from_static(b"text/plain")),
            ),
            ("X-Trace".into(), Some(Bytes::from_static(b"t-1"))),
        ],
        value: Some(Bytes::from_static(b"hello")),
    };
    producer
        .send(
            &topic,
            0,
            &binding::encode_binary(&binary, binding::partition_key(&binary)),
        )
        .await;
    producer
        .send(&topic, 0, &binding::encode_structured(&structured, None))
        .await;
    producer.send(&topic, 0, &plain).await;

    let sink = TestSink::start().await;
    let h = harness(&sink, None, policy(3, Duration::from_millis(50)));
    let name = unique("mixed");
    let source = start(
        manifest(
            &name,
            &mock.bootstrap_servers(),
            &topic,
            &unique("g"),
            "ordered",
            &sink,
        ),
        &h,
    );
    let events = sink.wait_for(3, Duration::from_secs(30)).await;
    source.stop().await;

    let got = &events[0];
    assert_eq!(
        (got.id(), got.source(), got.ty()),
        ("b-1", "/orders", "com.example.created")
    );
    assert_eq!(got.get_str("partitionkey"), Some("customer-9"));
    assert_eq!(got.datacontenttype(), Some("application/json"));
    assert_eq!(got.data().unwrap().bytes(), &b"{\"n\":1}"[..]);
    assert_eq!(
        got.get("key"),
        None,
        "a CloudEvent record gets no wrapping attributes"
    );

    let got = &events[1];
    assert_eq!((got.id(), got.ty()), ("s-1", "com.example.updated"));
    assert_eq!(got.get_str("count"), Some("2"));
    assert_eq!(got.data().unwrap().bytes(), &b"[1, 2]"[..]);

    let got = &events[2];
    assert_eq!(got.ty(), "dev.knative.kafka.event");
    assert_eq!(got.id(), "partition:0/offset:2");
    assert_eq!(got.get_str("subject"), Some("partition:0#2"));
    assert_eq!(
        got.source(),
        format!("/apis/v1/namespaces/kafka/kafkasources/{name}#{topic}")
    );
    assert_eq!(got.get_str("key"), Some("user-7"));
    assert_eq!(got.get_str("partitionkey"), Some("user-7"));
    assert_eq!(got.get_str("kafkaheaderxtrace"), Some("t-1"));
    assert_eq!(got.datacontenttype(), Some("text/plain"));
    assert!(got.get_str("time").is_some(), "the record timestamp");
    assert_eq!(got.data().unwrap().bytes(), &b"hello"[..]);
}

#[tokio::test]
async fn pushback_bounds_what_is_read_and_in_flight() {
    common::init_tracing();
    let topic = unique("pushback");
    let mock = mock_cluster(&topic, 1);
    let producer = Producer::new(&mock.bootstrap_servers());
    let total = 3000;
    let plain: Vec<KafkaMessage> = (0..total)
        .map(|i| KafkaMessage {
            key: None,
            headers: Vec::new(),
            value: Some(Bytes::from(format!("v{i}"))),
        })
        .collect();
    futures::future::join_all(plain.iter().map(|m| producer.send(&topic, 0, m))).await;

    let sink = TestSink::start().await;
    sink.fail_with(429);
    let h = harness(&sink, None, policy(1000, Duration::from_millis(50)));
    let source = start(
        manifest(
            &unique("pb"),
            &mock.bootstrap_servers(),
            &topic,
            &unique("g"),
            "unordered",
            &sink,
        ),
        &h,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sink.requests() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the source never reached the sink"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tried: HashSet<String> = sink.seen_ids().into_iter().collect();
    assert!(
        tried.len() <= UNORDERED_WINDOW,
        "{} distinct records were tried while the sink pushed back",
        tried.len()
    );
    let read = source
        .stats
        .received
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        read <= (UNORDERED_WINDOW + PENDING_HIGH) as u64,
        "the paused partition bounds what is read: {read} of {total}"
    );

    sink.set_delay(Duration::from_millis(5));
    sink.recover();
    let events = sink.wait_for(total, Duration::from_secs(120)).await;
    source.stop().await;
    let ids: HashSet<&str> = events.iter().map(Event::id).collect();
    assert_eq!(ids.len(), total, "every record delivered once");
    let max = sink.max_in_flight();
    assert!(
        (2..=UNORDERED_WINDOW).contains(&max),
        "unordered deliveries overlap, within the window: {max}"
    );
}

#[tokio::test]
async fn dead_lettered_records_are_committed() {
    common::init_tracing();
    let topic = unique("dead");
    let mock = mock_cluster(&topic, 1);
    let producer = Producer::new(&mock.bootstrap_servers());
    producer.send_plain(&topic, 1, 0..5).await;

    let sink = TestSink::start().await;
    sink.fail_with(400);
    let dls = TestSink::start().await;
    let group = unique("g");
    let name = unique("dead");
    let h = harness(&sink, Some(&dls), policy(3, Duration::from_millis(10)));
    let source = start(
        manifest(
            &name,
            &mock.bootstrap_servers(),
            &topic,
            &group,
            "ordered",
            &sink,
        ),
        &h,
    );
    let dead = dls.wait_for(5, Duration::from_secs(30)).await;
    source.stop().await;

    for event in &dead {
        assert_eq!(event.get_str("knativeerrordest"), Some(sink.url().as_str()));
        assert_eq!(event.get_str("knativeerrorcode"), Some("400"));
    }
    assert_eq!(sink.requests(), 5, "a 400 is not retried");
    let recorded = h.dead_letters.entries();
    assert_eq!(recorded.len(), 5);
    assert!(
        recorded
            .iter()
            .all(|e| e.delivered_to_dls && e.source == format!("kafkasources/kafka/{name}"))
    );

    // The offsets were committed after dead-lettering: a healthy restart reads nothing again.
    sink.recover();
    let h = harness(&sink, Some(&dls), policy(3, Duration::from_millis(10)));
    let source = start(
        manifest(
            &name,
            &mock.bootstrap_servers(),
            &topic,
            &group,
            "ordered",
            &sink,
        ),
        &h,
    );
    common::wait_ready(&source, Duration::from_secs(45)).await;
    sink.assert_settles_at(0, Duration::from_secs(3)).await;
    source.stop().await;
}

#[tokio::test]
async fn interrupted_deliveries_are_not_committed() {
    common::init_tracing();
    let topic = unique("interrupt");
    let mock = mock_cluster(&topic, 1);
    let producer = Producer::new(&mock.bootstrap_servers());
    producer.send_plain(&topic, 1, 0..1).await;

    let sink = TestSink::start().await;
    sink.fail_with(503);
    let group = unique("g");
    let name = unique("int");
    let h = harness(&sink, None, policy(1000, Duration::from_millis(100)));
    let source = start(
        manifest(
            &name,
            &mock.bootstrap_servers(),
            &topic,
            &group,
            "ordered",
            &sink,
        ),
        &h,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sink.requests() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the source never reached the sink"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    source.stop().await;
    assert!(
        h.dead_letters.entries().is_empty(),
        "stopping is not giving up"
    );

    sink.recover();
    let h = harness(&sink, None, policy(3, Duration::from_millis(50)));
    let source = start(
        manifest(
            &name,
            &mock.bootstrap_servers(),
            &topic,
            &group,
            "ordered",
            &sink,
        ),
        &h,
    );
    let events = sink.wait_for(1, Duration::from_secs(45)).await;
    source.stop().await;
    assert_eq!(events[0].id(), "partition:0/offset:0");
}

#[tokio::test]
async fn consumers_of_one_source_share_the_partitions() {
    common::init_tracing();
    let topic = unique("shared");
    let mock = mock_cluster(&topic, 4);
    let producer = Producer::new(&mock.bootstrap_servers());
    producer.send_plain(&topic, 4, 0..40).await;

    let sink = TestSink::start().await;
    let h = harness(&sink, None, policy(3, Duration::from_millis(50)));
    let mut manifest = manifest(
        &unique("shared"),
        &mock.bootstrap_servers(),
        &topic,
        &unique("g"),
        "ordered",
        &sink,
    );
    manifest["spec"]["consumers"] = json!(2);
    let source = start(manifest, &h);
    // A member joining late moves partitions; records in flight then may come twice (at least
    // once), so wait for every distinct record rather than for a count.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let positions = loop {
        let positions: HashSet<(i32, i64)> = sink.events().iter().map(position).collect();
        if positions.len() == 40 {
            break positions;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 40 records arrived",
            positions.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    source.stop().await;
    assert_eq!(
        positions.iter().map(|(p, _)| *p).collect::<HashSet<_>>(),
        HashSet::from([0, 1, 2, 3])
    );
    assert!(
        positions.iter().all(|(_, offset)| *offset < 10),
        "nothing beyond the records produced"
    );
}
