//! [`TestSink`]: an HTTP CloudEvents receiver on 127.0.0.1 that records what it accepts and can
//! be told to fail or to be slow.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald_cloudevent::Event;
use tokio::sync::Notify;

#[derive(Default)]
struct Shared {
    events: Mutex<Vec<Event>>,
    /// Every event id that reached the sink, accepted or not.
    seen: Mutex<Vec<String>>,
    arrived: Notify,
    /// Status to answer with instead of 200; 0 for none.
    failing: AtomicU16,
    delay_ms: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A recording sink.
#[derive(Clone)]
pub struct TestSink {
    url: String,
    shared: Arc<Shared>,
}

impl TestSink {
    /// Starts a sink on a free port.
    pub async fn start() -> TestSink {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .route("/", axum::routing::post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test sink");
        let url = format!("http://{}/", listener.local_addr().expect("local address"));
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("test sink serves");
        });
        TestSink { url, shared }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Answers every request with `status` (a failure) until [`TestSink::recover`].
    pub fn fail_with(&self, status: u16) {
        self.shared.failing.store(status, Ordering::SeqCst);
    }

    /// Accepts requests again.
    pub fn recover(&self) {
        self.shared.failing.store(0, Ordering::SeqCst);
    }

    /// Holds every request this long before answering.
    pub fn set_delay(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Events accepted so far, in arrival order.
    pub fn events(&self) -> Vec<Event> {
        self.shared.events.lock().unwrap().clone()
    }

    /// Ids of every event that reached the sink, accepted or refused, in arrival order.
    pub fn seen_ids(&self) -> Vec<String> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The most requests that were in progress at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` events were accepted; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "the sink accepted {} events, expected {n} within {timeout:?}",
                    self.events().len()
                );
            }
        }
    }

    /// Waits `quiet` and asserts no more than `n` events were accepted in total.
    pub async fn assert_settles_at(&self, n: usize, quiet: Duration) {
        tokio::time::sleep(quiet).await;
        let count = self.events().len();
        assert_eq!(
            count, n,
            "the sink accepted {count} events, expected exactly {n}"
        );
    }
}

/// How many times each id occurs.
pub fn id_counts(events: &[Event]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events {
        *counts.entry(event.id().to_owned()).or_default() += 1;
    }
    counts
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = match herald_cloudevent::http::decode_request(&headers, body) {
        Err(_) => StatusCode::BAD_REQUEST,
        Ok((_, events)) => {
            shared
                .seen
                .lock()
                .unwrap()
                .extend(events.iter().map(|e| e.id().to_owned()));
            match shared.failing.load(Ordering::SeqCst) {
                0 => {
                    shared.events.lock().unwrap().extend(events);
                    shared.arrived.notify_waiters();
                    StatusCode::OK
                }
                code => StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            }
        }
    };
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    status
}
