//! `--config DIR`: manifests are loaded at start and followed while running (add, change,
//! delete); a bad file is reported with its name and reason while the good ones keep working.

use herald_tests::eventually;
use herald_tests::process::Herald;
use herald_tests::subscriber::Subscriber;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn trigger(subscriber: &str, ty: &str) -> String {
    format!(
        r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: orders-trigger
  namespace: shop
spec:
  broker: orders
  filter:
    attributes:
      type: {ty}
  subscriber:
    uri: {subscriber}
"#
    )
}

const BROKER: &str = r#"
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: orders
  namespace: shop
  annotations:
    eventing.knative.dev/broker.class: MTChannelBasedBroker
"#;

async fn send(herald: &Herald, id: &str, ty: &str) -> u16 {
    reqwest::Client::new()
        .post(herald.broker_url("shop", "orders"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/config-dir")
        .header("ce-type", ty)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn triggers(herald: &Herald) -> String {
    let out = herald.cli(&["get", "triggers", "-n", "shop"]);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_directory_is_followed_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    let subscriber = Subscriber::accepting().await;
    std::fs::write(config.join("broker.yaml"), BROKER).unwrap();
    std::fs::write(
        config.join("trigger.yml"),
        trigger(&subscriber.url, "order.created"),
    )
    .unwrap();
    std::fs::write(config.join("bad.yaml"), "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: broken\nspec:\n  broker: orders\n").unwrap();
    std::fs::write(config.join("notes.txt"), "not a manifest").unwrap();

    let herald = Herald::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    // The bad file is reported by name with the reason; the good ones run.
    let logs = herald.logs();
    assert!(
        logs.contains("bad.yaml") && logs.contains("subscriber"),
        "{logs}"
    );
    assert_eq!(send(&herald, "1", "order.created").await, 202);
    subscriber.wait_for(1, WAIT).await;

    // Change the filter: only the new type is delivered.
    std::fs::write(
        config.join("trigger.yml"),
        trigger(&subscriber.url, "order.paid"),
    )
    .unwrap();
    assert!(
        eventually(WAIT, async || {
            let out = herald.cli(&[
                "get",
                "triggers",
                "orders-trigger",
                "-n",
                "shop",
                "-o",
                "json",
            ]);
            String::from_utf8_lossy(&out.stdout).contains("order.paid")
        })
        .await,
        "the changed file was not picked up"
    );
    assert_eq!(send(&herald, "2", "order.created").await, 202);
    assert_eq!(send(&herald, "3", "order.paid").await, 202);
    subscriber.wait_for(2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(subscriber.ids(), ["1", "3"]);

    // Fix the bad file: it appears.
    std::fs::write(
        config.join("bad.yaml"),
        format!("apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: broken\n  namespace: shop\nspec:\n  broker: orders\n  subscriber:\n    uri: {}\n", subscriber.url),
    )
    .unwrap();
    assert!(eventually(WAIT, async || triggers(&herald).contains("broken")).await);

    // Delete a file: its resources go away.
    std::fs::remove_file(config.join("trigger.yml")).unwrap();
    assert!(
        eventually(WAIT, async || !triggers(&herald).contains("orders-trigger")).await,
        "the deleted file's trigger is still there: {}",
        triggers(&herald)
    );
}
