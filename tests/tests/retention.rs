//! Retention can remove log records that a slow Trigger has not read yet. Those events are never
//! delivered, but they are not passed over in silence: the Trigger counts them
//! (`herald_trigger_expired_total` and `status.expired`) and logs a warning, and delivers
//! everything it did read.

use herald_tests::eventually;
use herald_tests::process::Herald;
use herald_tests::subscriber::{Answer, Subscriber};
use std::collections::HashSet;
use std::time::Duration;

const EVENTS: usize = 3000;

/// A broker that keeps about 40 KB of records: a hundred or so of these events.
const SMALL_BROKER: &str = r#"
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: small
  annotations:
    herald.dev/retention-bytes: "40000"
"#;

fn trigger(subscriber: &str) -> String {
    format!(
        r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: slow
  annotations:
    herald.dev/max-in-flight: "1"
spec:
  broker: small
  subscriber:
    uri: {subscriber}
"#
    )
}

/// The value of one of the `slow` Trigger's metrics.
async fn trigger_metric(herald: &Herald, name: &str) -> u64 {
    let metrics = herald.metrics().await;
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains("trigger=\"slow\""))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no {name} for the slow trigger in {metrics}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn records_removed_before_a_slow_trigger_read_them_are_counted_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &["--log-backend", "memory"]);
    // The subscriber takes half a second per event while the events arrive.
    let subscriber = Subscriber::start(|_| Answer::ok().delay(Duration::from_millis(500))).await;
    herald.apply(SMALL_BROKER);
    herald.apply(&trigger(&subscriber.url));

    let client = reqwest::Client::new();
    for n in 0..EVENTS {
        let status = client
            .post(herald.broker_url("default", "small"))
            .header("ce-specversion", "1.0")
            .header("ce-id", format!("e{n}"))
            .header("ce-source", "/retention")
            .header("ce-type", "com.example.retention")
            .body("x".repeat(100))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 202);
    }

    // Far behind, then fast: the Trigger catches up with the log.
    subscriber.set_script(|_| Answer::ok());
    let caught_up = eventually(Duration::from_secs(60), async || {
        trigger_metric(&herald, "herald_trigger_lag").await == 0
    })
    .await;
    assert!(caught_up, "the trigger did not catch up");

    let delivered: HashSet<String> = subscriber.ids().into_iter().collect();
    assert_eq!(delivered.len(), subscriber.ids().len(), "nothing twice");
    let expired = trigger_metric(&herald, "herald_trigger_expired_total").await;
    assert!(
        expired > 0,
        "retention removed nothing the trigger had not read"
    );
    assert!(delivered.len() > 100, "only {} delivered", delivered.len());
    // Every event is either delivered or counted as removed unread.
    assert_eq!(delivered.len() as u64 + expired, EVENTS as u64);
    // The Trigger's status says the same.
    let shown = herald.cli(&["get", "triggers", "slow", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(status["status"]["expired"], expired);
    assert!(
        herald
            .logs()
            .contains("retention removed log records before this Trigger read them"),
        "no warning in the logs"
    );
}
