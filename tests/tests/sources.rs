//! Sources inside `herald serve` (sink: a Broker of the same process, reached in-process) and
//! alone as `herald source run` (sink: a URL): their events reach subscribers, and
//! `herald get sources` shows them with status.

use herald_tests::eventually;
use herald_tests::process::{Herald, herald_bin};
use herald_tests::subscriber::Subscriber;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn trigger(ty: &str, subscriber: &str) -> String {
    format!(
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: t-{}\nspec:\n  broker: default\n  filter:\n    attributes:\n      type: {ty}\n  subscriber:\n    uri: {subscriber}\n",
        ty.replace('.', "-")
    )
}

const PING_TO_BROKER: &str = r#"
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: heartbeat
spec:
  schedule: "*/1 * * * * *"
  timezone: Europe/Paris
  contentType: application/json
  data: '{"beat": true}'
  sink:
    ref:
      apiVersion: eventing.knative.dev/v1
      kind: Broker
      name: default
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_ping_source_in_serve_feeds_a_local_broker() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let sub = Subscriber::accepting().await;
    herald.apply(&trigger("dev.knative.sources.ping", &sub.url));
    herald.apply(PING_TO_BROKER);
    let got = sub.wait_for(2, WAIT).await;
    let event = got[0].event.as_ref().unwrap();
    assert_eq!(
        event.source(),
        "/apis/v1/namespaces/default/pingsources/heartbeat"
    );
    assert_eq!(got[0].body, r#"{"beat": true}"#.as_bytes());
    // It went through the broker: the broker stamped its arrival.
    assert!(event.get("knativearrivaltime").is_some());
    assert_ne!(
        got[0].event.as_ref().unwrap().id(),
        got[1].event.as_ref().unwrap().id()
    );

    let listed = herald.cli(&["get", "sources"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("heartbeat") && text.contains("PingSource") && text.contains("True"),
        "{text}"
    );
    assert!(
        text.contains(&herald.broker_url("default", "default")),
        "{text}"
    );
    let json = herald.cli(&["get", "pingsources", "heartbeat", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        status["status"]["eventsSent"].as_u64().unwrap() >= 2,
        "{status}"
    );

    // Deleting the source stops it.
    let deleted = herald.cli(&["delete", "pingsource", "heartbeat"]);
    assert!(deleted.status.success());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = sub.received().len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        sub.received().len(),
        before,
        "the deleted source kept sending"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_runs_alone_with_its_sink_given_as_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let sub = Subscriber::accepting().await;
    let manifest = dir.path().join("ping.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata:\n  name: alone\nspec:\n  schedule: \"*/1 * * * * *\"\n  data: hello\n  sink:\n    ref:\n      apiVersion: eventing.knative.dev/v1\n      kind: Broker\n      name: default\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(herald_bin())
        .args([
            "source",
            "run",
            "-f",
            manifest.to_str().unwrap(),
            "--sink",
            &sub.url,
        ])
        .arg("--data-dir")
        .arg(dir.path().join("source-data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let got = sub.wait_for(2, WAIT).await;
    assert_eq!(
        got[0].event.as_ref().unwrap().ty(),
        "dev.knative.sources.ping"
    );
    assert_eq!(got[0].body, "hello".as_bytes());
    // SIGTERM: a graceful stop.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nats_source_in_serve_delivers_through_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let sub = Subscriber::accepting().await;
    let subject = format!("herald.e2e.{}", std::process::id());
    herald.apply(&trigger("dev.herald.nats.event", &sub.url));
    herald.apply(&format!(
        "apiVersion: sources.herald.dev/v1\nkind: NatsSource\nmetadata:\n  name: nats-in\nspec:\n  servers: [\"nats://127.0.0.1:4222\"]\n  subject: {subject}\n  sink:\n    ref:\n      apiVersion: eventing.knative.dev/v1\n      kind: Broker\n      name: default\n"
    ));
    let nats = async_nats::connect("nats://127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222");
    // Core NATS has no replay: publish until the source (once connected) has taken one.
    assert!(
        eventually(WAIT, async || {
            nats.publish(subject.clone(), "plain payload".into())
                .await
                .unwrap();
            nats.flush().await.unwrap();
            !sub.received().is_empty()
        })
        .await,
        "nothing arrived: {}",
        herald.logs()
    );
    let got = &sub.received()[0];
    let event = got.event.as_ref().unwrap();
    assert_eq!(event.get("subject").unwrap().to_string(), subject);
    assert_eq!(got.body, "plain payload".as_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_herald_resumes_a_jetstream_source_from_its_acknowledged_position() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let suffix = format!(
        "{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let stream = format!("HERALD_E2E_{suffix}");
    let subject = format!("herald.e2e.js.{suffix}");
    let nats = async_nats::connect("nats://127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222");
    let js = async_nats::jetstream::new(nats);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![subject.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    for n in 0..30 {
        js.publish(subject.clone(), format!("m{n}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    // A slow subscriber, so the kill lands mid-stream.
    let sub = Subscriber::start(|_| {
        herald_tests::subscriber::Answer::ok().delay(Duration::from_millis(60))
    })
    .await;
    let source = format!(
        "apiVersion: sources.herald.dev/v1\nkind: NatsSource\nmetadata:\n  name: js-in\nspec:\n  servers: [\"nats://127.0.0.1:4222\"]\n  subject: {subject}\n  jetstream:\n    stream: {stream}\n    durableName: herald-e2e\n  sink:\n    ref:\n      apiVersion: eventing.knative.dev/v1\n      kind: Broker\n      name: default\n"
    );
    let herald = Herald::start(&data, &[]);
    herald.apply(&trigger("dev.herald.nats.event", &sub.url));
    herald.apply(&source);
    sub.wait_for(8, WAIT).await;
    herald.kill9();
    let mut before = sub.ids();
    before.sort();
    before.dedup();
    assert!(
        before.len() < 30,
        "everything arrived before the kill; the test proves nothing"
    );

    let _herald = Herald::start(&data, &[]);
    let distinct = async || {
        let mut ids = sub.ids();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    assert!(
        eventually(Duration::from_secs(40), async || distinct().await == 30).await,
        "only {} of 30 messages arrived after the restart",
        distinct().await
    );
    // Each message's id is its stream sequence: stable across the redelivery of what was in flight.
    let ids = sub.ids();
    assert!(
        ids.iter()
            .all(|id| id.starts_with(&format!("stream:{stream}/sequence:"))),
        "{ids:?}"
    );
    js.delete_stream(&stream).await.unwrap();
}
