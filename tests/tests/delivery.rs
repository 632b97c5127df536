//! Delivery semantics against real local subscribers that fail on purpose: exact attempt counts
//! and spacing, Retry-After, timeouts, dead letters with Knative's error extensions, replies, the
//! hop counter, ordering per key, and retries that survive `kill -9`.

use base64::Engine;
use herald_cloudevent::{AttrValue, Event, SpecVersion};
use herald_tests::eventually;
use herald_tests::process::Herald;
use herald_tests::subscriber::{Answer, Received, Subscriber};
use std::collections::HashMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn trigger(
    name: &str,
    filter_type: &str,
    subscriber: &str,
    delivery: &str,
    annotations: &str,
) -> String {
    format!(
        r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: {name}
  annotations:
    herald.dev/placeholder: "x"
{annotations}
spec:
  broker: default
  filter:
    attributes:
      type: {filter_type}
  subscriber:
    uri: {subscriber}
  delivery:
{delivery}
"#
    )
}

async fn send(herald: &Herald, id: &str, ty: &str, extra: &[(&str, &str)]) {
    let mut request = reqwest::Client::new()
        .post(herald.broker_url("default", "default"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/delivery-tests")
        .header("ce-type", ty);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let status = request.send().await.unwrap().status();
    assert_eq!(status, 202);
}

fn gaps(received: &[Received]) -> Vec<Duration> {
    received.windows(2).map(|w| w[1].at - w[0].at).collect()
}

fn assert_near(actual: Duration, expected_ms: u64) {
    let expected = Duration::from_millis(expected_ms);
    assert!(
        actual >= expected.mul_f64(0.9) && actual <= expected + Duration::from_millis(300),
        "waited {actual:?}, expected about {expected:?}"
    );
}

fn ext<'a>(r: &'a Received, name: &str) -> &'a AttrValue {
    r.event
        .as_ref()
        .and_then(|e| e.get(name))
        .unwrap_or_else(|| panic!("extension {name} missing"))
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_first_n_then_deliver_with_linear_spacing() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let sub = Subscriber::start(|r| {
        if r.attempt <= 3 {
            Answer::status(500)
        } else {
            Answer::ok()
        }
    })
    .await;
    herald.apply(&trigger(
        "linear",
        "t.linear",
        &sub.url,
        "    retry: 5\n    backoffPolicy: linear\n    backoffDelay: PT0.2S",
        "",
    ));
    send(&herald, "l1", "t.linear", &[]).await;
    let got = sub.wait_for(4, WAIT).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        sub.received().len(),
        4,
        "three failures, then one success, then nothing"
    );
    for (gap, expected) in gaps(&got).into_iter().zip([200, 400, 600]) {
        assert_near(gap, expected);
    }
    // Every request asked for a reply.
    assert!(got.iter().all(|r| r.headers["prefer"] == "reply"));
}

#[tokio::test(flavor = "multi_thread")]
async fn exponential_backoff_is_capped_then_dead_lettered_with_error_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let sub = Subscriber::start(|_| Answer::status(500).body("database on fire")).await;
    let dls = Subscriber::accepting().await;
    herald.apply(&trigger(
        "expo",
        "t.expo",
        &sub.url,
        &format!(
            "    retry: 4\n    backoffPolicy: exponential\n    backoffDelay: PT0.1S\n    backoffMax: PT0.25S\n    deadLetterSink:\n      uri: {}",
            dls.url
        ),
        "",
    ));
    send(&herald, "x1", "t.expo", &[]).await;
    let dead = dls.wait_for(1, WAIT).await;
    let got = sub.received();
    assert_eq!(got.len(), 5, "one attempt and four retries");
    for (gap, expected) in gaps(&got).into_iter().zip([100, 200, 250, 250]) {
        assert_near(gap, expected);
    }
    let d = &dead[0];
    assert_eq!(d.event.as_ref().unwrap().id(), "x1");
    assert_eq!(
        ext(d, "knativeerrordest"),
        &AttrValue::String(sub.url.clone())
    );
    assert_eq!(ext(d, "knativeerrorcode").to_string(), "500");
    let data = base64::engine::general_purpose::STANDARD
        .decode(ext(d, "knativeerrordata").to_string())
        .unwrap();
    assert_eq!(data, b"database on fire");

    let metrics = herald.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("herald_delivery_attempts_total{")
                && l.contains("trigger=\"expo\"")
                && l.contains("code=\"500\"")
                && l.ends_with(" 5")),
        "{metrics}"
    );
    assert!(metrics.contains("herald_dead_lettered_total{"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let sub = Subscriber::start(|r| match (r.event.as_ref().unwrap().id(), r.attempt) {
        ("ra1", 1) => Answer::status(429).header("retry-after", "1"),
        ("ra2", 1) => Answer::status(503).header("retry-after", "30"),
        _ => Answer::ok(),
    })
    .await;
    herald.apply(&trigger(
        "retry-after",
        "t.ra",
        &sub.url,
        "    retry: 2\n    backoffPolicy: linear\n    backoffDelay: PT0.05S\n    retryAfterMax: PT0.6S",
        "",
    ));
    send(&herald, "ra1", "t.ra", &[]).await;
    send(&herald, "ra2", "t.ra", &[]).await;
    sub.wait_for(4, WAIT).await;
    let by_id = |id: &str| -> Vec<Received> {
        sub.received()
            .into_iter()
            .filter(|r| r.event.as_ref().unwrap().id() == id)
            .collect()
    };
    // Retry-After: 1 is below retryAfterMax: about a second.
    assert_near(gaps(&by_id("ra1"))[0], 600);
    // Retry-After: 30 is capped by retryAfterMax (0.6 s).
    assert_near(gaps(&by_id("ra2"))[0], 600);
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_bounds_each_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let sub = Subscriber::start(|r| {
        if r.attempt == 1 {
            Answer::ok().delay(Duration::from_secs(3))
        } else {
            Answer::ok()
        }
    })
    .await;
    herald.apply(&trigger(
        "timeout",
        "t.timeout",
        &sub.url,
        "    retry: 1\n    backoffPolicy: linear\n    backoffDelay: PT0.1S\n    timeout: PT0.3S",
        "",
    ));
    send(&herald, "to1", "t.timeout", &[]).await;
    let got = sub.wait_for(2, WAIT).await;
    // 0.3 s timeout, then 0.1 s backoff.
    assert_near(got[1].at - got[0].at, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_and_client_errors_are_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let sub = Subscriber::start(|r| match r.event.as_ref().unwrap().id() {
        "redirect" => Answer::status(302).header("location", "http://127.0.0.1:1/"),
        "bad" => Answer::status(400).body("{\"error\":\"no\"}"),
        "gone" => Answer::status(410),
        _ => Answer::status(404),
    })
    .await;
    let dls = Subscriber::accepting().await;
    herald.apply(&trigger(
        "no-retry",
        "t.noretry",
        &sub.url,
        &format!(
            "    retry: 3\n    backoffDelay: PT0.05S\n    deadLetterSink:\n      uri: {}",
            dls.url
        ),
        "",
    ));
    for id in ["redirect", "bad", "gone", "missing"] {
        send(&herald, id, "t.noretry", &[]).await;
    }
    let dead = dls.wait_for(4, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut attempts: HashMap<String, usize> = HashMap::new();
    for r in sub.received() {
        *attempts
            .entry(r.event.unwrap().id().to_string())
            .or_default() += 1;
    }
    assert_eq!(attempts["redirect"], 1);
    assert_eq!(attempts["bad"], 1);
    assert_eq!(attempts["gone"], 1);
    assert_eq!(attempts["missing"], 4, "404 is retried");
    let code = |id: &str| {
        let d = dead
            .iter()
            .find(|d| d.event.as_ref().unwrap().id() == id)
            .unwrap();
        ext(d, "knativeerrorcode").to_string()
    };
    assert_eq!(code("redirect"), "302");
    assert_eq!(code("bad"), "400");
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_go_back_into_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let responder = Subscriber::start(|r| {
        let request = r.event.as_ref().unwrap();
        let mut reply = Event::new(
            SpecVersion::V10,
            format!("reply-to-{}", request.id()),
            "/responder",
            "t.response",
        );
        reply.set("datacontenttype", AttrValue::String("text/plain".into()));
        reply.set_data(Some(herald_cloudevent::Data::Binary("pong".into())));
        if request.id() == "accepted-only" {
            // A 202 body is not a reply.
            Answer::reply(&reply).status_code(202)
        } else {
            Answer::reply(&reply)
        }
    })
    .await;
    let listener = Subscriber::accepting().await;
    herald.apply(&trigger(
        "requests",
        "t.request",
        &responder.url,
        "    retry: 0",
        "",
    ));
    herald.apply(&trigger(
        "responses",
        "t.response",
        &listener.url,
        "    retry: 0",
        "",
    ));
    send(&herald, "ping-1", "t.request", &[]).await;
    send(&herald, "accepted-only", "t.request", &[]).await;
    let got = listener.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        listener.received().len(),
        1,
        "only the 200 reply is an event"
    );
    let reply = got[0].event.as_ref().unwrap();
    assert_eq!(reply.id(), "reply-to-ping-1");
    assert_eq!(got[0].body, "pong".as_bytes());
    assert!(reply.get("knativearrivaltime").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn reply_loops_are_cut_by_the_hop_counter() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let looper = Subscriber::start(|r| {
        let e = r.event.as_ref().unwrap();
        let reply = Event::new(
            SpecVersion::V10,
            format!("{}+", e.id()),
            "/looper",
            "t.loop",
        );
        Answer::reply(&reply)
    })
    .await;
    let dls = Subscriber::accepting().await;
    herald.apply(&trigger(
        "loop",
        "t.loop",
        &looper.url,
        &format!("    retry: 0\n    deadLetterSink:\n      uri: {}", dls.url),
        "",
    ));
    send(&herald, "loop", "t.loop", &[("ce-knativebrokerttl", "5")]).await;
    let dead = dls.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids = looper.ids();
    assert_eq!(ids, ["loop", "loop+", "loop++", "loop+++", "loop++++"]);
    // Subscribers do not see the hop counter.
    assert!(
        looper
            .received()
            .iter()
            .all(|r| !r.headers.contains_key("ce-knativebrokerttl"))
    );
    assert_eq!(dead[0].event.as_ref().unwrap().id(), "loop++++");
    // A hop counter already at zero is refused at the ingress.
    let status = reqwest::Client::new()
        .post(herald.broker_url("default", "default"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "dead")
        .header("ce-source", "/s")
        .header("ce-type", "t.loop")
        .header("ce-knativebrokerttl", "0")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
}

/// Uneven, deterministic subscriber latency per event (`e{n}`).
fn delay_of(r: &Received) -> Duration {
    let n: u64 = r.event.as_ref().unwrap().id()[1..].parse().unwrap();
    Duration::from_millis(5 + (n * 7) % 25)
}

#[tokio::test(flavor = "multi_thread")]
async fn ordered_delivery_keeps_order_per_key_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    // Uneven latency, so unordered delivery would reorder.
    let sub = Subscriber::start(|r| Answer::ok().delay(delay_of(r))).await;
    herald.apply(&trigger(
        "ordered",
        "t.ordered",
        &sub.url,
        "    retry: 0",
        "    herald.dev/delivery-order: ordered\n    herald.dev/max-in-flight: \"8\"",
    ));
    // One batch, so the whole backlog is in the log before delivery starts.
    let keys = ["a", "b", "c"];
    post_batch(
        &herald,
        (0..60)
            .map(|n| {
                serde_json::json!({
                    "specversion": "1.0", "id": format!("e{n}"), "source": "/ordered",
                    "type": "t.ordered", "partitionkey": keys[n % 3],
                })
            })
            .collect(),
    )
    .await;
    let got = sub.wait_for(60, WAIT).await;
    for key in keys {
        let seq: Vec<u64> = got
            .iter()
            .filter(|r| {
                r.event
                    .as_ref()
                    .unwrap()
                    .get("partitionkey")
                    .unwrap()
                    .to_string()
                    == key
            })
            .map(|r| r.event.as_ref().unwrap().id()[1..].parse().unwrap())
            .collect();
        let mut sorted = seq.clone();
        sorted.sort();
        assert_eq!(seq, sorted, "key {key} out of order");
        assert_eq!(seq.len(), 20);
    }
    // Keys proceeded concurrently: some request of one key arrived while another key's request
    // was still being answered.
    let key = |r: &Received| {
        r.event
            .as_ref()
            .unwrap()
            .get("partitionkey")
            .unwrap()
            .to_string()
    };
    let answered = |r: &Received| r.at + delay_of(r);
    let overlapped = got
        .windows(2)
        .any(|w| key(&w[0]) != key(&w[1]) && w[1].at < answered(&w[0]));
    let status = herald.cli(&["get", "triggers", "ordered", "-o", "json"]);
    assert!(
        overlapped,
        "ordered mode serialised different keys: {}",
        String::from_utf8_lossy(&status.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_retry_schedule_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let herald = Herald::start(&data, &[]);
    let sub = Subscriber::start(|_| Answer::status(503)).await;
    herald.apply(&trigger(
        "durable",
        "t.durable",
        &sub.url,
        "    retry: 20\n    backoffPolicy: linear\n    backoffDelay: PT0.2S",
        "",
    ));
    for id in ["d1", "d2", "d3"] {
        send(&herald, id, "t.durable", &[]).await;
    }
    // Each event is in the middle of its schedule (two attempts made).
    assert!(
        eventually(WAIT, async || {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for id in sub.ids() {
                *counts.entry(id).or_default() += 1;
            }
            ["d1", "d2", "d3"]
                .iter()
                .all(|id| counts.get(*id).copied().unwrap_or(0) >= 2)
        })
        .await
    );
    herald.kill9();
    let before_restart = sub.received().len();
    sub.set_script(|_| Answer::ok());

    let herald = Herald::start(&data, &[]);
    assert!(
        eventually(WAIT, async || {
            let delivered: Vec<String> = sub.received()[before_restart..]
                .iter()
                .map(|r| r.event.as_ref().unwrap().id().to_string())
                .collect();
            ["d1", "d2", "d3"]
                .iter()
                .all(|id| delivered.iter().any(|d| d == id))
        })
        .await,
        "events lost across kill -9"
    );
    // The schedule resumed where it was: attempt numbers continue rather than restarting, so no
    // event used more than its 21 attempts and the dead-letter store stayed empty.
    let dead = herald.cli(&["get", "triggers", "durable", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&dead.stdout).unwrap();
    assert_eq!(status["status"]["failed"], 0);
    drop(herald);
}

async fn send_batch(herald: &Herald, ty: &str, ids: std::ops::Range<usize>) {
    let batch = ids
        .map(|n| serde_json::json!({"specversion": "1.0", "id": format!("e{n}"), "source": "/batch", "type": ty}))
        .collect();
    post_batch(herald, batch).await;
}

/// Posts events as one batch (all durable before any is delivered).
async fn post_batch(herald: &Herald, batch: Vec<serde_json::Value>) {
    let status = reqwest::Client::new()
        .post(herald.broker_url("default", "default"))
        .header("content-type", "application/cloudevents-batch+json")
        .body(serde_json::to_vec(&batch).unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
}

fn trigger_status(herald: &Herald, name: &str) -> serde_json::Value {
    let out = herald.cli(&["get", "triggers", name, "-o", "json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["status"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_subscriber_does_not_slow_other_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let slow = Subscriber::start(|_| Answer::ok().delay(Duration::from_secs(2))).await;
    let fast = Subscriber::accepting().await;
    herald.apply(&trigger(
        "slow",
        "t.shared",
        &slow.url,
        "    retry: 0",
        "    herald.dev/max-in-flight: \"2\"",
    ));
    herald.apply(&trigger("fast", "t.shared", &fast.url, "    retry: 0", ""));
    let started = std::time::Instant::now();
    send_batch(&herald, "t.shared", 0..100).await;
    fast.wait_for(100, WAIT).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the fast trigger waited for the slow one"
    );
    // The slow one has at most its two requests on the wire; the rest waits in the log.
    assert!(slow.received().len() <= 2, "{}", slow.received().len());
    assert!(trigger_status(&herald, "slow")["lag"].as_u64().unwrap() >= 98);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trigger_that_matches_nothing_keeps_up_with_the_log_after_a_quiet_spell() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let sub = Subscriber::accepting().await;
    herald.apply(&trigger("quiet", "t.never", &sub.url, "    retry: 0", ""));
    let position = || trigger_status(&herald, "quiet")["position"].as_u64();
    send_batch(&herald, "t.other", 0..5).await;
    assert!(eventually(WAIT, async || position() == Some(5)).await);
    // Several progress ticks with nothing routed: the Trigger stops ticking until the log moves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    send_batch(&herald, "t.other", 5..8).await;
    assert!(
        eventually(WAIT, async || position() == Some(8)).await,
        "{:?}",
        position()
    );
    assert!(sub.received().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_adapts_to_the_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(&dir.path().join("data"), &[]);
    let sub = Subscriber::start(|_| Answer::ok().delay(Duration::from_millis(20))).await;
    herald.apply(&trigger(
        "adaptive",
        "t.adaptive",
        &sub.url,
        "    retry: 50\n    backoffPolicy: linear\n    backoffDelay: PT0.05S",
        "    herald.dev/max-in-flight: \"16\"",
    ));
    send_batch(&herald, "t.adaptive", 0..400).await;
    // The limit climbs while latency holds...
    assert!(
        eventually(WAIT, async || {
            trigger_status(&herald, "adaptive")["concurrencyLimit"]
                .as_u64()
                .unwrap()
                >= 8
        })
        .await,
        "the limit did not grow: {}",
        trigger_status(&herald, "adaptive")
    );
    // ...and falls to one when the subscriber pushes back.
    sub.set_script(|_| Answer::status(429));
    assert!(
        eventually(WAIT, async || {
            trigger_status(&herald, "adaptive")["concurrencyLimit"]
                .as_u64()
                .unwrap()
                == 1
        })
        .await,
        "the limit did not fall: {}",
        trigger_status(&herald, "adaptive")
    );
    // Never above the configured maximum.
    let metrics = herald.metrics().await;
    assert!(
        metrics.contains("herald_trigger_concurrency_limit{"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_schedule_resumes_after_kill_9_instead_of_restarting() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let herald = Herald::start(&data, &[]);
    let sub = Subscriber::start(|_| Answer::status(500)).await;
    let dls = Subscriber::accepting().await;
    herald.apply(&trigger(
        "resume-schedule",
        "t.resume",
        &sub.url,
        &format!(
            "    retry: 3\n    backoffPolicy: linear\n    backoffDelay: PT0.4S\n    deadLetterSink:\n      uri: {}",
            dls.url
        ),
        "",
    ));
    send(&herald, "r1", "t.resume", &[]).await;
    // Attempt 2 failed; the wait before attempt 3 (0.8 s) has begun and its schedule is stored.
    sub.wait_for(2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    herald.kill9();

    let _herald = Herald::start(&data, &[]);
    dls.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // 1 attempt + 3 retries in all, across the crash: the schedule resumed at attempt 3.
    assert_eq!(sub.received().len(), 4, "attempts: {:?}", sub.ids());
}
