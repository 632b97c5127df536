//! Replay from the log, end to end: `herald trigger seek` moves a Trigger while it serves (to a
//! time, an offset, the earliest or the latest event) and delivers exactly the events from there
//! through its filter, in log order; `herald replay` sends a time window of a broker's log,
//! filtered, to one destination without moving any Trigger's position.

use herald_tests::eventually;
use herald_tests::process::Herald;
use herald_tests::subscriber::{Answer, Subscriber};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// An ordered Trigger (one delivery at a time, in log order) on the default broker.
fn trigger(name: &str, subscriber: &str, filter: &str) -> String {
    format!(
        r#"
apiVersion: eventing.herald.dev/v1
kind: Trigger
metadata:
  name: {name}
  annotations:
    herald.dev/delivery-order: ordered
spec:
  broker: default
{filter}
  subscriber:
    uri: {subscriber}
  delivery:
    retry: 50
    backoffPolicy: linear
    backoffDelay: PT0.2S
"#
    )
}

const KEEP_ONLY: &str = "  filter:\n    attributes:\n      type: keep";

async fn send(herald: &Herald, id: &str, ty: &str) {
    let status = reqwest::Client::new()
        .post(herald.broker_url("default", "default"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/replay-tests")
        .header("ce-type", ty)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
}

/// Now as RFC 3339, between two pauses so that events before and after get other milliseconds.
async fn instant_between() -> String {
    tokio::time::sleep(Duration::from_millis(30)).await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(30)).await;
    now
}

/// Waits for `n` requests in all, then checks nothing more arrives; returns the ids after `from`.
async fn settle_at(sub: &Subscriber, n: usize, from: usize) -> Vec<String> {
    sub.wait_for(n, WAIT).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ids = sub.ids();
    assert_eq!(ids.len(), n, "exactly {n} requests expected: {ids:?}");
    ids[from..].to_vec()
}

fn position(herald: &Herald, trigger: &str) -> u64 {
    let t = herald.cli_json(&["get", "triggers", trigger]);
    t["status"]["position"]
        .as_u64()
        .unwrap_or_else(|| panic!("no position: {t}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn seek_redelivers_from_a_time_an_offset_or_the_earliest_in_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    let sub = Subscriber::start(move |_| {
        if flag.load(Ordering::SeqCst) {
            Answer::ok()
        } else {
            Answer::status(500)
        }
    })
    .await;
    herald.apply(&trigger("audit", &sub.url, KEEP_ONLY));

    // Offsets: k1=0 s1=1 k2=2 s2=3 k3=4 | k4=5 s3=6 k5=7
    for (id, ty) in [
        ("k1", "keep"),
        ("s1", "skip"),
        ("k2", "keep"),
        ("s2", "skip"),
        ("k3", "keep"),
    ] {
        send(&herald, id, ty).await;
    }
    sub.wait_for(3, WAIT).await;
    let between = instant_between().await;
    for (id, ty) in [("k4", "keep"), ("s3", "skip"), ("k5", "keep")] {
        send(&herald, id, ty).await;
    }
    assert_eq!(settle_at(&sub, 5, 0).await, ["k1", "k2", "k3", "k4", "k5"]);
    assert!(eventually(WAIT, async || position(&herald, "audit") == 8).await);

    let out = herald.cli_ok(&["trigger", "seek", "audit", "--to-time", &between]);
    assert!(out.contains("from position 8 to position 5"), "{out}");
    assert_eq!(settle_at(&sub, 7, 5).await, ["k4", "k5"]);

    herald.cli_ok(&["trigger", "seek", "audit", "--earliest"]);
    assert_eq!(settle_at(&sub, 12, 7).await, ["k1", "k2", "k3", "k4", "k5"]);

    herald.cli_ok(&["trigger", "seek", "audit", "--to-offset", "2"]);
    assert_eq!(settle_at(&sub, 16, 12).await, ["k2", "k3", "k4", "k5"]);

    // --latest skips an event stuck in its retry schedule: it is never delivered.
    up.store(false, Ordering::SeqCst);
    send(&herald, "k6", "keep").await;
    sub.wait_for(17, WAIT).await;
    let out = herald.cli_ok(&["trigger", "seek", "audit", "--latest"]);
    assert!(out.contains("to position 9"), "{out}");
    let failed_attempts = sub.received().len();
    up.store(true, Ordering::SeqCst);
    send(&herald, "k7", "keep").await;
    assert_eq!(
        settle_at(&sub, failed_attempts + 1, failed_attempts).await,
        ["k7"]
    );

    let beyond = herald.cli(&["trigger", "seek", "audit", "--to-offset", "99"]);
    assert!(!beyond.status.success());
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("beyond the log's head"));
    let missing = herald.cli(&["trigger", "seek", "ghost", "--earliest"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("trigger default/ghost not found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn window_replay_sends_exactly_the_window_in_log_order_and_moves_no_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let live = Subscriber::accepting().await;
    let elsewhere = Subscriber::accepting().await;
    herald.apply(&trigger("live", &live.url, ""));

    send(&herald, "w0", "a").await;
    let from = instant_between().await;
    for (id, ty) in [("w1", "a"), ("w2", "b"), ("w3", "a"), ("w4", "a")] {
        send(&herald, id, ty).await;
    }
    let to = instant_between().await;
    send(&herald, "w5", "a").await;
    settle_at(&live, 6, 0).await;
    assert!(eventually(WAIT, async || position(&herald, "live") == 6).await);

    let window = [
        "replay",
        "--from",
        &from,
        "--to",
        &to,
        "--filter",
        "type = 'a'",
    ];
    let mut dry = window.to_vec();
    dry.extend(["--to-url", &elsewhere.url, "--dry-run"]);
    let out = herald.cli_ok(&dry);
    assert!(
        out.contains("Would replay 3 event(s) of broker default/default (offsets 1..5)"),
        "{out}"
    );
    assert!(out.contains("w1") && out.contains(&elsewhere.url), "{out}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(elsewhere.received().is_empty(), "a dry run sends nothing");

    let mut to_url = window.to_vec();
    to_url.extend(["--to-url", &elsewhere.url, "--rate", "20/s"]);
    let out = herald.cli_ok(&to_url);
    assert!(out.contains("delivered 3"), "{out}");
    assert_eq!(elsewhere.ids(), ["w1", "w3", "w4"]);
    let replays: Vec<String> = elsewhere
        .received()
        .iter()
        .map(|r| {
            r.event
                .as_ref()
                .unwrap()
                .get("heraldreplay")
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(replays.iter().all(|r| *r == replays[0]), "{replays:?}");

    // To the Trigger: its subscriber gets the window (its filter matches everything) in order.
    let all = [
        "replay",
        "--from",
        &from,
        "--to",
        &to,
        "--to-trigger",
        "live",
    ];
    let out = herald.cli_ok(&all);
    assert!(out.contains("delivered 4"), "{out}");
    assert_eq!(settle_at(&live, 10, 6).await, ["w1", "w2", "w3", "w4"]);
    assert_eq!(
        position(&herald, "live"),
        6,
        "a window replay moves no Trigger"
    );
}
