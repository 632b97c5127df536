//! The ingress, driven through the real binary: every content mode and spec version arrives at a
//! subscriber with identical attributes and data, over HTTP/1.1 and HTTP/2, bad requests get the
//! right answers, and the bytes of requests held in memory stay within the ingress budget.

use herald_tests::process::Herald;
use herald_tests::subscriber::Subscriber;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

fn trigger(name: &str, subscriber: &str, format: &str) -> String {
    format!(
        r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: {name}
spec:
  broker: default
  subscriber:
    uri: {subscriber}
  delivery:
    format: {format}
"#
    )
}

async fn post(url: &str, headers: &[(&str, &str)], body: &str) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().post(url).body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the ingress answers");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

fn header<'a>(r: &'a herald_tests::subscriber::Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name} missing"))
        .to_str()
        .expect("ASCII header")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mode_arrives_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &[]);
    let binary = Subscriber::accepting().await;
    let structured = Subscriber::accepting().await;
    herald.apply(&trigger("to-binary", &binary.url, "binary"));
    herald.apply(&trigger("to-structured", &structured.url, "json"));
    let url = herald.broker_url("default", "default");

    // Binary mode 1.0: percent-encoded extension, JSON body with odd spacing.
    let body_b = r#"{"z": 1,  "a":[1, 2 ]}"#;
    let (status, text) = post(
        &url,
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "b1"),
            ("ce-source", "/tests/binary"),
            ("ce-type", "com.example.binary"),
            ("ce-greeting", "hello%20w%C3%B6rld%25"),
            ("content-type", "application/json"),
        ],
        body_b,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");

    // Structured mode 1.0: typed extensions, JSON data kept as written.
    let structured_1 = r#"{"specversion":"1.0","id":"s1","source":"/tests/structured","type":"com.example.structured","myint":42,"mybool":true,"datacontenttype":"application/json","data":{"k" : "v",  "n":[1,2]}}"#;
    let (status, text) = post(
        &url,
        &[(
            "content-type",
            "application/cloudevents+json; charset=utf-8",
        )],
        structured_1,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");

    // Structured with data_base64 (binary data).
    let structured_b64 = r#"{"specversion":"1.0","id":"s2","source":"/tests/structured","type":"com.example.b64","datacontenttype":"application/octet-stream","data_base64":"AAEC/w=="}"#;
    let (status, _) = post(
        &url,
        &[("content-type", "application/cloudevents+json")],
        structured_b64,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // CloudEvents 0.3, binary and structured: the version is never upgraded.
    let (status, _) = post(
        &url,
        &[
            ("ce-specversion", "0.3"),
            ("ce-id", "v03b"),
            ("ce-source", "/tests/v03"),
            ("ce-type", "com.example.v03"),
            ("content-type", "text/plain"),
        ],
        "plain text",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let structured_03 = r#"{"specversion":"0.3","id":"v03s","source":"/tests/v03","type":"com.example.v03","datacontenttype":"application/json","data":{"old":true}}"#;
    let (status, _) = post(
        &url,
        &[("content-type", "application/cloudevents+json")],
        structured_03,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // A batch of two.
    let batch = r#"[{"specversion":"1.0","id":"batch1","source":"/tests/batch","type":"com.example.batch"},{"specversion":"1.0","id":"batch2","source":"/tests/batch","type":"com.example.batch","data":"text"}]"#;
    let (status, _) = post(
        &url,
        &[("content-type", "application/cloudevents-batch+json")],
        batch,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let got_binary = binary.wait_for(7, WAIT).await;
    let got_structured = structured.wait_for(7, WAIT).await;
    // The broker timed each of the six accepted requests (the batch once), all of them within
    // the histogram's range.
    let metrics = herald.metrics().await;
    let series = r#"{namespace="default",broker="default"}"#;
    let accepted = format!("herald_ingress_accept_latency_seconds_count{series} 6");
    assert!(metrics.lines().any(|l| l == accepted), "{metrics}");
    let by_10s = format!(
        r#"herald_ingress_accept_latency_seconds_bucket{{le="13.1072",{}"#,
        &series[1..]
    );
    assert!(
        metrics.lines().any(|l| l == format!("{by_10s} 6")),
        "{metrics}"
    );
    // The embedded log wrote those seven events in one to six group commits, each synced.
    let (batches, syncs) = (
        sample(&metrics, &format!("herald_log_batches_total{series}")),
        sample(&metrics, &format!("herald_log_syncs_total{series}")),
    );
    assert!((1..=6).contains(&batches), "{batches} batches");
    assert_eq!(syncs, batches);
    // Each sync was timed.
    let timed = sample(&metrics, &format!("herald_log_sync_seconds_count{series}"));
    assert_eq!(timed, syncs);
    let by_id = |got: &[herald_tests::subscriber::Received], id: &str| {
        got.iter()
            .find(|r| r.event.as_ref().is_some_and(|e| e.id() == id))
            .cloned()
            .unwrap_or_else(|| panic!("event {id} not delivered"))
    };

    // Binary in, binary out: identical headers and body.
    let b1 = by_id(&got_binary, "b1");
    assert_eq!(header(&b1, "ce-greeting"), "hello%20w%C3%B6rld%25");
    assert_eq!(header(&b1, "ce-source"), "/tests/binary");
    assert_eq!(header(&b1, "content-type"), "application/json");
    assert_eq!(b1.body, body_b.as_bytes());
    assert!(b1.headers.contains_key("ce-knativearrivaltime"));
    assert_eq!(header(&b1, "prefer"), "reply");

    // Structured in, structured out: same JSON types, data text byte-identical.
    let s1 = by_id(&got_structured, "s1");
    let json: Value = serde_json::from_slice(&s1.body).unwrap();
    assert_eq!(json["myint"], Value::from(42));
    assert_eq!(json["mybool"], Value::from(true));
    assert_eq!(json["specversion"], "1.0");
    let text = std::str::from_utf8(&s1.body).unwrap();
    assert!(text.contains(r#""data":{"k" : "v",  "n":[1,2]}"#), "{text}");
    // Structured in, binary out: the data is the body.
    let s1b = by_id(&got_binary, "s1");
    assert_eq!(s1b.body, r#"{"k" : "v",  "n":[1,2]}"#.as_bytes());
    assert_eq!(header(&s1b, "ce-myint"), "42");

    let s2 = by_id(&got_binary, "s2");
    assert_eq!(s2.body.as_ref(), &[0u8, 1, 2, 255]);
    let s2s: Value = serde_json::from_slice(&by_id(&got_structured, "s2").body).unwrap();
    assert_eq!(s2s["data_base64"], "AAEC/w==");

    for id in ["v03b", "v03s"] {
        assert_eq!(header(&by_id(&got_binary, id), "ce-specversion"), "0.3");
        let j: Value = serde_json::from_slice(&by_id(&got_structured, id).body).unwrap();
        assert_eq!(j["specversion"], "0.3");
    }
    assert_eq!(by_id(&got_binary, "v03b").body, "plain text".as_bytes());

    // A structured event without datacontenttype holds JSON: the JSON string goes out as JSON.
    let batch2 = by_id(&got_binary, "batch2");
    assert_eq!(batch2.body, r#""text""#.as_bytes());
    assert_eq!(header(&batch2, "content-type"), "application/json");
    assert!(by_id(&got_binary, "batch1").body.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_with_prior_knowledge_is_served_like_http1() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &[]);
    let subscriber = Subscriber::accepting().await;
    herald.apply(&trigger("to-binary", &subscriber.url, "binary"));
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let send = |id: &'static str| {
        client
            .post(herald.broker_url("default", "default"))
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-source", "/tests/h2c")
            .header("ce-type", "com.example.h2c")
            .header("content-type", "text/plain")
            .body(format!("over h2c: {id}"))
            .send()
    };
    // Two events on one HTTP/2 connection, the second while the first may still be in flight.
    let (first, second) = tokio::join!(send("h2-1"), send("h2-2"));
    for response in [first.unwrap(), second.unwrap()] {
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let mut got: Vec<Vec<u8>> = subscriber
        .wait_for(2, WAIT)
        .await
        .iter()
        .map(|r| r.body.to_vec())
        .collect();
    got.sort();
    assert_eq!(
        got,
        [b"over h2c: h2-1".to_vec(), b"over h2c: h2-2".to_vec()]
    );

    // Bad input gets the same JSON answer as over HTTP/1.1.
    let bad = client
        .post(herald.broker_url("default", "default"))
        .header("ce-specversion", "1.0")
        .body("no id")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_clear_answers() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &["--max-event-bytes", "2048"]);
    let url = herald.broker_url("default", "default");
    let client = reqwest::Client::new();

    // Missing id: 400 naming the attribute.
    let (status, text) = post(
        &url,
        &[
            ("ce-specversion", "1.0"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["details"]["attribute"], "id", "{text}");

    // Malformed structured JSON.
    let (status, text) = post(
        &url,
        &[("content-type", "application/cloudevents+json")],
        "{nope",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(serde_json::from_str::<Value>(&text).unwrap()["error"].is_string());

    // Not a CloudEvent at all.
    let (status, _) = post(&url, &[("content-type", "application/json")], "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Unknown spec version.
    let (status, _) = post(
        &url,
        &[
            ("ce-specversion", "2.0"),
            ("ce-id", "1"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Bad time attribute.
    let (status, text) = post(
        &url,
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
            ("ce-time", "yesterday"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("time"), "{text}");

    // Unknown broker.
    let (status, text) = post(
        &herald.broker_url("default", "nope"),
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
        ],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("nope"), "{text}");

    // Over the size limit.
    let big = "x".repeat(4096);
    let (status, _) = post(
        &url,
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
        ],
        &big,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Wrong method.
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST, OPTIONS");

    // OPTIONS: the webhook handshake.
    let response = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("WebHook-Request-Origin", "eventemitter.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["webhook-allowed-origin"],
        "eventemitter.example.com"
    );
    assert_eq!(response.headers()["webhook-allowed-rate"], "*");

    // A batch is all or nothing: one bad event rejects the batch.
    let batch = r#"[{"specversion":"1.0","id":"ok","source":"/s","type":"t"},{"specversion":"1.0","source":"/s","type":"t"}]"#;
    let (status, _) = post(
        &url,
        &[("content-type", "application/cloudevents-batch+json")],
        batch,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Nothing of all that was stored.
    let metrics = herald.metrics().await;
    let received = metrics
        .lines()
        .find(|l| l.starts_with("herald_events_received_total{"))
        .unwrap_or_else(|| panic!("no received counter in {metrics}"));
    assert!(received.ends_with(" 0"), "{received}");
    // Only accepted publishes are timed.
    let timed =
        r#"herald_ingress_accept_latency_seconds_count{namespace="default",broker="default"} 0"#;
    assert!(metrics.lines().any(|l| l == timed), "{metrics}");
}

/// The value of an unlabelled gauge in the admin API's metrics.
async fn gauge(herald: &Herald, name: &str) -> i64 {
    sample(&herald.metrics().await, name)
}

/// The value of one series (a metric's name with its labels, if any) in a metrics page.
fn sample(metrics: &str, series: &str) -> i64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{series} ")))
        .unwrap_or_else(|| panic!("no {series} in {metrics}"))
        .parse()
        .unwrap()
}

/// Starts a POST of a binary-mode event with id `id` on a raw connection, sending the head (whose
/// last header is `framing`) and `first` bytes of body; the rest is up to the test.
async fn start_raw_post(herald: &Herald, id: &str, framing: &str, first: &[u8]) -> TcpStream {
    let address = herald.ingress.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /default/default HTTP/1.1\r\nhost: {address}\r\nce-specversion: 1.0\r\n\
         ce-id: {id}\r\nce-source: /raw\r\nce-type: t\r\ncontent-type: text/plain\r\n\
         {framing}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    stream
}

/// Reads the status line of the answer on a raw connection.
/// Opens a chunked POST of event `id` and sends its first chunk, 1,000 bytes.
async fn start_chunked_post(herald: &Herald, id: &str) -> TcpStream {
    let first_chunk = [b"3e8\r\n".as_slice(), &[b'a'; 1000], b"\r\n"].concat();
    start_raw_post(herald, id, "transfer-encoding: chunked", &first_chunk).await
}

/// Sends a chunked POST's second and last chunk, 1,000 bytes (2,000 in all).
async fn finish_chunked_post(stream: &mut TcpStream) {
    let rest = [b"3e8\r\n".as_slice(), &[b'a'; 1000], b"\r\n0\r\n\r\n"].concat();
    stream.write_all(&rest).await.unwrap();
}

async fn raw_status(stream: &mut TcpStream) -> String {
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits until the ingress budget holds at least `bytes`, and returns what it holds.
async fn reserved_at_least(herald: &Herald, bytes: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reserved = gauge(herald, "herald_ingress_reserved_bytes").await;
        if reserved >= bytes {
            return reserved;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the budget never held {bytes} bytes (it holds {reserved})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Posts a binary-mode text event with id `id`.
async fn post_text(url: &str, id: &str, body: &str) -> (StatusCode, String) {
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", id),
        ("ce-source", "/fast"),
        ("ce-type", "t"),
        ("content-type", "text/plain"),
    ];
    post(url, &headers, body).await
}

/// A Herald whose ingress may hold 3,000 bytes of requests, with one Trigger for everything.
async fn herald_with_a_small_budget(dir: &Path) -> (Herald, Subscriber) {
    let herald = Herald::start(dir, &["--max-ingress-bytes", "3000"]);
    let subscriber = Subscriber::accepting().await;
    herald.apply(&trigger("all", &subscriber.url, "binary"));
    assert_eq!(gauge(&herald, "herald_ingress_budget_bytes").await, 3000);
    (herald, subscriber)
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_beyond_the_ingress_budget_wait_for_room_instead_of_piling_up_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (herald, subscriber) = herald_with_a_small_budget(dir.path()).await;
    let url = herald.broker_url("default", "default");

    // A slow client declares 2,000 bytes and sends half: its room is held while it dawdles.
    let mut slow = start_raw_post(&herald, "slow", "content-length: 2000", &[b'a'; 1000]).await;
    assert_eq!(reserved_at_least(&herald, 2000).await, 2000);

    // 1,500 more bytes do not fit in 3,000: this request waits, it is not refused.
    let waiting = tokio::spawn(async move { post_text(&url, "waits", &"b".repeat(1500)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the second request did not wait");

    // The slow client finishes: both are accepted, and all the room comes back.
    slow.write_all(&[b'a'; 1000]).await.unwrap();
    assert_eq!(raw_status(&mut slow).await, "HTTP/1.1 202");
    let (status, text) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let mut ids = subscriber
        .wait_for(2, WAIT)
        .await
        .iter()
        .map(|r| header(r, "ce-id").to_string())
        .collect::<Vec<_>>();
    ids.sort();
    assert_eq!(ids, ["slow", "waits"]);
    assert_eq!(gauge(&herald, "herald_ingress_reserved_bytes").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_request_holds_only_the_room_of_what_it_has_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (herald, subscriber) = herald_with_a_small_budget(dir.path()).await;
    let url = herald.broker_url("default", "default");

    // A chunked body has no declared length: it holds room for each chunk as it arrives, not
    // for the largest body allowed (which would be the whole budget here).
    let mut chunked = start_chunked_post(&herald, "chunked").await;
    let reserved = reserved_at_least(&herald, 1000).await;
    assert!(
        reserved <= 1001,
        "the chunked request holds {reserved} bytes"
    );

    // 1,500 bytes fit beside it, so this request is accepted while the chunked one is open.
    let (status, text) = tokio::time::timeout(
        Duration::from_secs(5),
        post_text(&url, "beside", &"b".repeat(1500)),
    )
    .await
    .expect("the request waited for room the chunked one does not use");
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");

    // The chunked request ends: accepted whole, and all the room comes back.
    finish_chunked_post(&mut chunked).await;
    assert_eq!(raw_status(&mut chunked).await, "HTTP/1.1 202");
    let received = subscriber.wait_for(2, WAIT).await;
    let chunked_event = received
        .iter()
        .find(|r| header(r, "ce-id") == "chunked")
        .expect("the chunked event was delivered");
    assert_eq!(chunked_event.body.len(), 2000);
    assert_eq!(gauge(&herald, "herald_ingress_reserved_bytes").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_request_keeps_growing_while_a_larger_request_waits_for_room() {
    let dir = tempfile::tempdir().unwrap();
    let (herald, subscriber) = herald_with_a_small_budget(dir.path()).await;
    let url = herald.broker_url("default", "default");

    let mut chunked = start_chunked_post(&herald, "chunked").await;
    reserved_at_least(&herald, 1000).await;

    // 2,500 bytes do not fit beside the chunked request's 1,000: this one waits, holding nothing.
    let large = tokio::spawn(async move { post_text(&url, "large", &"b".repeat(2500)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!large.is_finished(), "the large request did not wait");

    // The chunked request's next 1,000 bytes still fit, and it ends well before the 10 s
    // after which a request waiting for room is refused.
    finish_chunked_post(&mut chunked).await;
    let status = tokio::time::timeout(Duration::from_secs(3), raw_status(&mut chunked))
        .await
        .expect("the chunked request was held behind the waiting one");
    assert_eq!(status, "HTTP/1.1 202");

    // Its room comes back, and the large request gets in.
    let (status, text) = large.await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(subscriber.wait_for(2, WAIT).await.len(), 2);
    assert_eq!(gauge(&herald, "herald_ingress_reserved_bytes").await, 0);
}
