//! The `herald` client commands against a running server: apply, get, describe, delete and send;
//! resources applied through the admin API persist across restarts.

use herald_tests::process::Herald;
use herald_tests::subscriber::Subscriber;
use serde_json::Value;
use std::time::Duration;

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_session_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let subscriber = Subscriber::accepting().await;
    let herald = Herald::start(&data, &[]);

    // The default broker exists from the first start.
    let brokers = stdout(&herald.cli(&["get", "brokers"]));
    assert!(brokers.starts_with("NAME"), "{brokers}");
    assert!(
        brokers.contains("default") && brokers.contains("True"),
        "{brokers}"
    );
    assert!(
        brokers.contains(&herald.broker_url("default", "default")),
        "{brokers}"
    );

    // Apply a file with two documents.
    let manifest = dir.path().join("trigger.yaml");
    std::fs::write(
        &manifest,
        format!(
            r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: greetings
spec:
  broker: default
  filter:
    attributes:
      type: com.example.greeting
  subscriber:
    uri: {url}
---
apiVersion: eventing.herald.dev/v1
kind: Trigger
metadata:
  name: orphan
spec:
  broker: missing
  subscriber:
    uri: {url}
"#,
            url = subscriber.url
        ),
    )
    .unwrap();
    let applied = stdout(&herald.cli(&["apply", "-f", manifest.to_str().unwrap()]));
    assert!(
        applied.contains("trigger.eventing.knative.dev/greetings created"),
        "{applied}"
    );
    // Applying again changes nothing and says so.
    let again = stdout(&herald.cli(&["apply", "-f", manifest.to_str().unwrap()]));
    assert!(again.contains("greetings configured"), "{again}");

    let triggers = stdout(&herald.cli(&["get", "triggers"]));
    assert!(triggers.contains("greetings"), "{triggers}");
    assert!(triggers.contains("BrokerDoesNotExist"), "{triggers}");

    let yaml = stdout(&herald.cli(&["get", "triggers", "greetings", "-o", "yaml"]));
    let parsed: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(
        parsed["spec"]["filter"]["attributes"]["type"],
        "com.example.greeting"
    );
    assert_eq!(
        parsed["metadata"]["labels"]["eventing.knative.dev/broker"],
        "default"
    );
    let json: Value =
        serde_json::from_str(&stdout(&herald.cli(&["get", "triggers", "-o", "json"]))).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2);

    let described = stdout(&herald.cli(&["describe", "trigger", "greetings"]));
    for needle in [
        "Name:         greetings",
        "Conditions:",
        "Ready",
        &subscriber.url,
    ] {
        assert!(
            described.contains(needle),
            "{needle:?} missing in\n{described}"
        );
    }

    // Send through the CLI; the subscriber gets it.
    let sent = stdout(&herald.cli(&[
        "send",
        "--broker",
        "default",
        "--type",
        "com.example.greeting",
        "--source",
        "/cli",
        "--data",
        r#"{"hello":"world"}"#,
        "--extension",
        "lang=en",
        "--id",
        "cli-1",
    ]));
    assert!(sent.starts_with("202"), "{sent}");
    let got = subscriber.wait_for(1, Duration::from_secs(10)).await;
    let event = got[0].event.as_ref().unwrap();
    assert_eq!(event.id(), "cli-1");
    assert_eq!(got[0].body, r#"{"hello":"world"}"#.as_bytes());
    assert_eq!(got[0].headers["ce-lang"], "en");

    // Invalid resources are refused with the field and reason.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: bad\nspec:\n  broker: default\n  filter:\n    attributes:\n      SOURCE: x\n  subscriber:\n    uri: http://127.0.0.1:1/\n",
    )
    .unwrap();
    let out = herald.cli(&["apply", "-f", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SOURCE"), "{err}");

    // An invalid CESQL expression is refused with the parser's position.
    std::fs::write(
        &bad,
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: bad-sql\nspec:\n  broker: default\n  filters:\n    - cesql: \"type = \"\n  subscriber:\n    uri: http://127.0.0.1:1/\n",
    )
    .unwrap();
    let out = herald.cli(&["apply", "-f", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cesql") && err.contains("position"), "{err}");

    // Delete, and what was applied through the API survives a restart.
    stdout(&herald.cli(&["delete", "trigger", "orphan"]));
    assert!(herald.stop().success());
    let herald = Herald::start(&data, &[]);
    let triggers = stdout(&herald.cli(&["get", "triggers"]));
    assert!(
        triggers.contains("greetings") && !triggers.contains("orphan"),
        "{triggers}"
    );
    let none = herald.cli(&["get", "sources"]);
    assert!(none.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &["--log-backend", "memory"]);
    for path in ["healthz", "readyz"] {
        let status = reqwest::get(format!("{}/{path}", herald.admin))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
}
