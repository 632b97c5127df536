//! Replaying a dead letter against a local subscriber that fails, then recovers.

use super::*;
use crate::deadletter::{KvDeadLetterStore, Origin};
use crate::delivery::{Backoff, Policy, Sender};
use crate::dispatch::settle::TTL;
use crate::metrics::DispatchMetrics;
use crate::replay::REPLAY_EXTENSION;
use axum::http::{HeaderMap, StatusCode};
use herald_cloudevent::{AttrValue, Event, SpecVersion};
use herald_crds::delivery::{BackoffPolicy, DeliveryFormat};
use herald_log::MemoryStateStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

struct Subscriber {
    url: String,
    healthy: Arc<AtomicBool>,
    seen: Arc<std::sync::Mutex<Vec<HeaderMap>>>,
}

async fn subscriber() -> Subscriber {
    let healthy = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = {
        let (healthy, seen) = (healthy.clone(), seen.clone());
        axum::Router::new().fallback(move |headers: HeaderMap| {
            let (healthy, seen) = (healthy.clone(), seen.clone());
            async move {
                seen.lock().unwrap().push(headers);
                if healthy.load(Ordering::SeqCst) {
                    (StatusCode::ACCEPTED, "")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "still down")
                }
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Subscriber { url, healthy, seen }
}

fn destination(url: &str) -> Destination {
    Destination::Url {
        url: url.to_string(),
        policy: Policy {
            retry: 1,
            backoff: Backoff {
                policy: BackoffPolicy::Linear,
                delay: Duration::from_millis(10),
                max: Duration::from_millis(10),
                retry_after_max: Duration::ZERO,
            },
            timeout: Duration::from_secs(5),
            format: DeliveryFormat::Binary,
            dead_letter_sink: None,
        },
        sender: Sender::new(),
        metrics: DispatchMetrics::default(),
    }
}

async fn stored_entry(store: &KvDeadLetterStore) -> String {
    let mut event = Event::new(SpecVersion::V10, "order-1", "/shop", "com.example.order");
    event.set(TTL, AttrValue::Integer(255));
    let mut encoded = Vec::new();
    record::encode(&event, &mut encoded);
    let entry = DeadLetter {
        id: String::new(),
        origin: Origin::Trigger {
            namespace: "default".into(),
            broker: "default".into(),
            trigger: "orders".into(),
        },
        destination: "http://127.0.0.1:1/".into(),
        event: encoded.into(),
        event_id: "order-1".into(),
        event_type: "com.example.order".into(),
        event_source: "/shop".into(),
        attempts: vec![AttemptInfo {
            at_ms: 1,
            status: Some(500),
            error: Some("boom".into()),
            latency_ms: 1,
        }],
        response_body: bytes::Bytes::from_static(b"boom"),
        reason: "retries exhausted after 1 attempts: boom".into(),
        delivered_to_dead_letter_sink: false,
        created_ms: chrono::Utc::now().timestamp_millis(),
        replays: vec![],
        resolved: false,
    };
    store.insert(entry).await.unwrap()
}

fn options(include_resolved: bool) -> ReplayOptions {
    ReplayOptions {
        replay_id: "r1".into(),
        include_resolved,
        apply_filter: false,
    }
}

#[tokio::test]
async fn a_failed_replay_appends_and_a_delivered_one_resolves_once() {
    let store = KvDeadLetterStore::new(MemoryStateStore::new());
    let id = stored_entry(&store).await;
    let sub = subscriber().await;
    let to = destination(&sub.url);
    let replayer = Replayer::default();
    let stop = CancellationToken::new();

    let failed = replayer
        .replay("s", &store, &id, &to, &options(false), &stop)
        .await
        .unwrap();
    assert!(
        matches!(failed, EntryOutcome::Failed { attempts: 2, .. }),
        "{failed:?}"
    );
    let entry = store.get(&id).unwrap();
    assert_eq!(
        store.list().len(),
        1,
        "the entry is updated, not duplicated"
    );
    assert!(!entry.resolved);
    assert_eq!(
        entry.attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [Some(500), Some(503), Some(503)]
    );
    assert_eq!(entry.response_body.as_ref(), b"still down");
    assert_eq!(entry.replays.len(), 1);
    assert_eq!(entry.replays[0].outcome, "failed");

    sub.healthy.store(true, Ordering::SeqCst);
    let delivered = replayer
        .replay("s", &store, &id, &to, &options(false), &stop)
        .await
        .unwrap();
    assert_eq!(delivered, EntryOutcome::Delivered { attempts: 1 });
    let entry = store.get(&id).unwrap();
    assert!(entry.resolved);
    assert_eq!(
        entry
            .replays
            .iter()
            .map(|r| r.outcome.as_str())
            .collect::<Vec<_>>(),
        ["failed", "delivered"]
    );
    let last = sub.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last["ce-id"], "order-1");
    assert_eq!(last["ce-source"], "/shop");
    assert_eq!(last[format!("ce-{REPLAY_EXTENSION}").as_str()], "r1");
    assert!(
        !last.contains_key(format!("ce-{TTL}").as_str()),
        "the hop counter is not sent"
    );

    let sent = sub.seen.lock().unwrap().len();
    let again = replayer
        .replay("s", &store, &id, &to, &options(false), &stop)
        .await
        .unwrap();
    assert!(matches!(again, EntryOutcome::Skipped { .. }));
    assert_eq!(
        sub.seen.lock().unwrap().len(),
        sent,
        "a resolved entry is not sent again"
    );
    let forced = replayer
        .replay("s", &store, &id, &to, &options(true), &stop)
        .await
        .unwrap();
    assert_eq!(forced, EntryOutcome::Delivered { attempts: 1 });
    assert_eq!(sub.seen.lock().unwrap().len(), sent + 1);
}

#[tokio::test]
async fn unknown_entries_are_an_error() {
    let store = KvDeadLetterStore::new(MemoryStateStore::new());
    let err = Replayer::default()
        .replay(
            "s",
            &store,
            "nope",
            &destination("http://127.0.0.1:1/"),
            &options(false),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "dead letter nope not found");
}
