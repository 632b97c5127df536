//! NatsSource against the NATS server on 127.0.0.1:4222 (JetStream enabled): core subscriptions
//! with CloudEvent and plain messages, and JetStream with a failing sink, restarts of a durable
//! consumer, interrupted deliveries, dead-lettering and progress acks.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use common::{TestSink, harness, policy, start, unique, wait_ready};
use herald_cloudevent::{AttrValue, Data, Event, SpecVersion};
use herald_sources::binding::nats::{self as binding, NatsMessage};
use serde_json::json;

const SERVER: &str = "nats://127.0.0.1:4222";

async fn client() -> async_nats::Client {
    async_nats::connect(SERVER)
        .await
        .expect("the NATS server on 127.0.0.1:4222 is running (tests/run starts it)")
}

fn headers_of(message: &NatsMessage) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    for (name, value) in &message.headers {
        headers.append(name.as_str(), value.as_str());
    }
    headers
}

fn manifest(
    name: &str,
    subject: &str,
    jetstream: Option<serde_json::Value>,
    sink: &TestSink,
) -> serde_json::Value {
    let mut spec = json!({
        "servers": [SERVER],
        "subject": subject,
        "sink": {"uri": sink.url()},
    });
    if let Some(js) = jetstream {
        spec["jetstream"] = js;
    }
    json!({
        "apiVersion": "sources.herald.dev/v1",
        "kind": "NatsSource",
        "metadata": {"name": name, "namespace": "nats"},
        "spec": spec
    })
}

/// A memory stream for `subject` that expires leftovers of failed runs.
async fn create_stream(context: &jetstream::Context, subject: &str) -> String {
    let name = unique("stream").replace('-', "_");
    context
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.to_owned()],
            storage: stream::StorageType::Memory,
            max_age: Duration::from_secs(600),
            ..stream::Config::default()
        })
        .await
        .expect("create a JetStream stream");
    name
}

async fn publish_plain(context: &jetstream::Context, subject: &str, range: std::ops::Range<usize>) {
    for i in range {
        context
            .publish(subject.to_owned(), Bytes::from(format!("m{i}")))
            .await
            .expect("publish")
            .await
            .expect("the stream stored the message");
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
async fn core_cloudevents_and_plain_messages() {
    common::init_tracing();
    let sink = TestSink::start().await;
    let subject = format!("herald.test.{}", unique("core"));
    let name = unique("core");
    let h = harness(&sink, None, policy(3, Duration::from_millis(50)));
    let source = start(manifest(&name, &subject, None, &sink), &h);
    wait_ready(&source, Duration::from_secs(10)).await;
    // The subscription is registered with the server before the source reports ready, but the
    // publisher uses another connection: give the server a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let nats = client().await;
    let mut binary = Event::new(SpecVersion::V10, "bin 1", "/orders", "com.example.created");
    binary.set("subject", "Euro \u{20AC}".into());
    binary.set("datacontenttype", "text/plain".into());
    binary.set_data(Some(Data::Binary(Bytes::from_static(b"hi"))));
    let encoded = binding::encode_binary(&binary);
    nats.publish_with_headers(subject.clone(), headers_of(&encoded), encoded.payload)
        .await
        .unwrap();

    let mut structured = Event::new(SpecVersion::V10, "str-1", "/orders", "com.example.updated");
    structured.set("count", AttrValue::Integer(3));
    structured.set_data(Some(Data::Json(Bytes::from_static(b"{\"a\": 1}"))));
    let encoded = binding::encode_structured(&structured);
    nats.publish_with_headers(
        subject.clone(),
        headers_of(&encoded),
        encoded.payload.clone(),
    )
    .await
    .unwrap();
    let mut bare = structured.clone();
    bare.set("id", "str-2".into());
    let bare_payload = binding::encode_structured(&bare).payload;
    nats.publish(subject.clone(), bare_payload).await.unwrap();

    let mut plain_headers = async_nats::HeaderMap::new();
    plain_headers.insert("Nats-Msg-Id", "msg-42");
    plain_headers.insert("Content-Type", "application/json");
    nats.publish_with_headers(
        subject.clone(),
        plain_headers,
        Bytes::from_static(b"{\"x\":1}"),
    )
    .await
    .unwrap();
    nats.publish(subject.clone(), Bytes::from_static(b"anonymous"))
        .await
        .unwrap();
    nats.flush().await.unwrap();

    let events = sink.wait_for(5, Duration::from_secs(10)).await;
    source.stop().await;
    let by_id = |id: &str| -> Event {
        events
            .iter()
            .find(|e| e.id() == id)
            .unwrap_or_else(|| panic!("no event {id} in {events:?}"))
            .clone()
    };

    let got = by_id("bin 1");
    assert_eq!(got.get_str("subject"), Some("Euro \u{20AC}"));
    assert_eq!(got.datacontenttype(), Some("text/plain"));
    assert_eq!(got.data().unwrap().bytes(), &b"hi"[..]);
    for id in ["str-1", "str-2"] {
        let got = by_id(id);
        assert_eq!(got.ty(), "com.example.updated");
        assert_eq!(got.get_str("count"), Some("3"));
        assert_eq!(got.data().unwrap().bytes(), &b"{\"a\": 1}"[..]);
    }
    let got = by_id("msg-42");
    assert_eq!(got.ty(), binding::WRAPPED_TYPE);
    assert_eq!(
        got.source(),
        format!("/apis/v1/namespaces/nats/natssources/{name}")
    );
    assert_eq!(got.get_str("subject"), Some(subject.as_str()));
    assert_eq!(got.datacontenttype(), Some("application/json"));
    assert_eq!(got.data().unwrap().bytes(), &b"{\"x\":1}"[..]);
    let anonymous = events
        .iter()
        .find(|e| e.data().is_some_and(|d| d.bytes() == &b"anonymous"[..]))
        .expect("the header-less plain message");
    assert_eq!(anonymous.ty(), binding::WRAPPED_TYPE);
    assert!(
        uuid::Uuid::parse_str(anonymous.id()).is_ok(),
        "{}",
        anonymous.id()
    );
}

#[tokio::test]
async fn jetstream_failing_sink_and_durable_restart() {
    common::init_tracing();
    let js = jetstream::new(client().await);
    let subject = format!("herald.test.{}", unique("js"));
    let stream = create_stream(&js, &subject).await;
    publish_plain(&js, &subject, 0..20).await;

    let sink = TestSink::start().await;
    sink.fail_with(503);
    let name = unique("js");
    let settings = json!({"stream": stream, "durableName": unique("durable")});
    let h = harness(&sink, None, policy(100, Duration::from_millis(50)));
    let source = start(manifest(&name, &subject, Some(settings.clone()), &sink), &h);
    wait_requests(&sink, 3).await;
    sink.recover();
    let events = sink.wait_for(20, Duration::from_secs(20)).await;
    let expected: HashSet<String> = (1..=20)
        .map(|seq| format!("stream:{stream}/sequence:{seq}"))
        .collect();
    let ids: HashSet<String> = events.iter().map(|e| e.id().to_owned()).collect();
    assert_eq!(
        ids, expected,
        "every message once, with its stream sequence as id"
    );
    for event in &events {
        assert_eq!(event.get_str("subject"), Some(subject.as_str()));
        assert!(event.get_str("time").is_some(), "the stored time");
    }
    source.stop().await;

    publish_plain(&js, &subject, 20..25).await;
    let h = harness(&sink, None, policy(3, Duration::from_millis(50)));
    let source = start(manifest(&name, &subject, Some(settings), &sink), &h);
    let events = sink.wait_for(25, Duration::from_secs(20)).await;
    sink.assert_settles_at(25, Duration::from_secs(1)).await;
    source.stop().await;
    let resumed: HashSet<String> = events[20..].iter().map(|e| e.id().to_owned()).collect();
    let expected: HashSet<String> = (21..=25)
        .map(|seq| format!("stream:{stream}/sequence:{seq}"))
        .collect();
    assert_eq!(
        resumed, expected,
        "the durable consumer resumed after its acks"
    );
    js.delete_stream(&stream).await.expect("delete the stream");
}

#[tokio::test]
async fn jetstream_interrupted_delivery_is_redelivered_and_dead_letters_are_acked() {
    common::init_tracing();
    let js = jetstream::new(client().await);
    let subject = format!("herald.test.{}", unique("jsint"));
    let stream = create_stream(&js, &subject).await;
    publish_plain(&js, &subject, 0..1).await;
    let name = unique("jsint");
    let settings = json!({"stream": stream, "durableName": unique("durable")});

    // Stopped during its retries: not acknowledged, so it comes again.
    let sink = TestSink::start().await;
    sink.fail_with(503);
    let h = harness(&sink, None, policy(1000, Duration::from_millis(100)));
    let source = start(manifest(&name, &subject, Some(settings.clone()), &sink), &h);
    wait_requests(&sink, 2).await;
    source.stop().await;
    assert!(h.dead_letters.entries().is_empty());

    // Now refused for good: dead-lettered, recorded, and acknowledged.
    sink.fail_with(400);
    let dls = TestSink::start().await;
    let h = harness(&sink, Some(&dls), policy(3, Duration::from_millis(10)));
    let source = start(manifest(&name, &subject, Some(settings.clone()), &sink), &h);
    let dead = dls.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(dead[0].id(), format!("stream:{stream}/sequence:1"));
    assert_eq!(dead[0].get_str("knativeerrorcode"), Some("400"));
    let stats = source.stats.clone();
    source.stop().await;
    assert_eq!(stats.snapshot()["eventsDeadLettered"], 1);
    assert_eq!(h.dead_letters.entries().len(), 1);

    // A healthy restart gets nothing: the dead-lettered message was acknowledged.
    sink.recover();
    let h = harness(&sink, None, policy(3, Duration::from_millis(10)));
    let source = start(manifest(&name, &subject, Some(settings), &sink), &h);
    wait_ready(&source, Duration::from_secs(10)).await;
    sink.assert_settles_at(0, Duration::from_secs(2)).await;
    source.stop().await;
    js.delete_stream(&stream).await.expect("delete the stream");
}

#[tokio::test]
async fn jetstream_progress_acks_prevent_redelivery_of_slow_deliveries() {
    common::init_tracing();
    let js = jetstream::new(client().await);
    let subject = format!("herald.test.{}", unique("jsslow"));
    let stream = create_stream(&js, &subject).await;
    publish_plain(&js, &subject, 0..1).await;

    let sink = TestSink::start().await;
    sink.set_delay(Duration::from_millis(2500));
    let settings = json!({"stream": stream, "durableName": unique("durable"), "ackWait": "PT1S"});
    let h = harness(&sink, None, policy(0, Duration::ZERO));
    let source = start(
        manifest(&unique("slow"), &subject, Some(settings), &sink),
        &h,
    );
    sink.wait_for(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    source.stop().await;
    assert_eq!(
        sink.requests(),
        1,
        "a delivery longer than ackWait was not redelivered"
    );
    js.delete_stream(&stream).await.expect("delete the stream");
}

#[tokio::test]
async fn core_queue_group_members_share_messages() {
    common::init_tracing();
    let sink = TestSink::start().await;
    let subject = format!("herald.test.{}", unique("queue"));
    let mut manifests = Vec::new();
    for _ in 0..2 {
        let mut m = manifest(&unique("member"), &subject, None, &sink);
        m["spec"]["queueGroup"] = json!("workers");
        manifests.push(m);
    }
    let h = harness(&sink, None, policy(3, Duration::from_millis(50)));
    let members: Vec<_> = manifests.into_iter().map(|m| start(m, &h)).collect();
    for member in &members {
        wait_ready(member, Duration::from_secs(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let nats = client().await;
    for i in 0..20 {
        nats.publish(subject.clone(), Bytes::from(format!("m{i}")))
            .await
            .unwrap();
    }
    nats.flush().await.unwrap();
    let events = sink.wait_for(20, Duration::from_secs(10)).await;
    sink.assert_settles_at(20, Duration::from_millis(500)).await;
    let received: Vec<u64> = members
        .iter()
        .map(|m| m.stats.received.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    for member in members {
        member.stop().await;
    }
    let bodies: HashSet<Vec<u8>> = events
        .iter()
        .map(|e| e.data().unwrap().bytes().to_vec())
        .collect();
    assert_eq!(
        bodies.len(),
        20,
        "each message went to one member of the group"
    );
    assert_eq!(received.iter().sum::<u64>(), 20, "{received:?}");
}
