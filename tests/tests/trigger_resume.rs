//! A Trigger resumes from its stored position: after a graceful restart nothing already delivered
//! is sent again; after `kill -9` at most the deliveries that were in flight are.

use herald_tests::process::Herald;
use herald_tests::subscriber::{Answer, Subscriber};
use std::collections::HashMap;
use std::time::Duration;

fn trigger(subscriber: &str, max_in_flight: usize) -> String {
    format!(
        r#"
apiVersion: eventing.herald.dev/v1
kind: Trigger
metadata:
  name: resume
  annotations:
    herald.dev/max-in-flight: "{max_in_flight}"
spec:
  broker: default
  subscriber:
    uri: {subscriber}
"#
    )
}

async fn send(herald: &Herald, ids: std::ops::Range<usize>) {
    let client = reqwest::Client::new();
    for n in ids {
        let status = client
            .post(herald.broker_url("default", "default"))
            .header("ce-specversion", "1.0")
            .header("ce-id", format!("e{n}"))
            .header("ce-source", "/resume")
            .header("ce-type", "com.example.resume")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 202);
    }
}

fn duplicates(ids: &[String]) -> Vec<String> {
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for id in ids {
        *counts.entry(id).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_restart_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let subscriber = Subscriber::accepting().await;
    let herald = Herald::start(&data, &[]);
    herald.apply(&trigger(&subscriber.url, 8));
    send(&herald, 0..50).await;
    subscriber.wait_for(50, Duration::from_secs(10)).await;
    assert!(herald.stop().success(), "graceful exit");

    let herald = Herald::start(&data, &[]);
    send(&herald, 50..60).await;
    subscriber.wait_for(60, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids = subscriber.ids();
    assert_eq!(ids.len(), 60, "no event delivered twice");
    assert!(duplicates(&ids).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_redelivers_at_most_what_was_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let subscriber = Subscriber::start(|_| Answer::ok().delay(Duration::from_millis(100))).await;
    let herald = Herald::start(&data, &[]);
    let max_in_flight = 2;
    herald.apply(&trigger(&subscriber.url, max_in_flight));
    send(&herald, 0..30).await;
    subscriber.wait_for(10, Duration::from_secs(10)).await;
    herald.kill9();

    let herald = Herald::start(&data, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ids = subscriber.ids();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        if distinct.len() == 30 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 30 delivered",
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dups = duplicates(&subscriber.ids());
    // Not final at the kill: up to `max_in_flight` requests on the wire, plus those that finished
    // since the last durable position write (the window refills as they finish, so at most as many
    // again).
    assert!(
        dups.len() <= 2 * max_in_flight,
        "redelivered {dups:?}, more than were in flight"
    );
    drop(herald);
}
