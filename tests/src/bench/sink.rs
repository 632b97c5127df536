//! The benchmark's subscriber: a [`ServerThread`] that reads each event whole, answers 200 with
//! no body, and logs which Trigger path it came to, its id, its send stamp and its arrival time.

use super::clock::Clock;
use super::error::BenchError;
use super::event::{ID_HEADER, SENT_HEADER};
use super::placement::Cpus;
use super::server_thread::ServerThread;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One event as the subscriber received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The event id (the sender's sequence number).
    pub seq: u64,
    /// Which Trigger delivered it (the `N` of the `/t/N` path its subscriber URI has).
    pub trigger: u32,
    /// The `benchsent` stamp, ns since the Unix epoch.
    pub sent_ns: u64,
    /// When the whole request had been read, ns since the Unix epoch.
    pub arrived_ns: u64,
}

struct Shared {
    log: Mutex<Vec<Delivery>>,
    count: AtomicU64,
    clock: Clock,
}

/// A running subscriber.
pub struct Sink {
    base_url: String,
    shared: Arc<Shared>,
    _server: ServerThread,
}

impl Sink {
    /// Starts the subscriber on 127.0.0.1, on a port the system picks; its thread runs on
    /// `cpus` when given (else where the calling thread may run).
    pub fn start(clock: Clock, cpus: Option<&Cpus>) -> Result<Sink, BenchError> {
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            count: AtomicU64::new(0),
            clock,
        });
        let serving = shared.clone();
        let server = ServerThread::start("subscriber", cpus, move |request| {
            receive(serving.clone(), request)
        })?;
        Ok(Sink {
            base_url: server.base_url(),
            shared,
            _server: server,
        })
    }

    /// The subscriber URI for Trigger `trigger`.
    pub fn url(&self, trigger: u32) -> String {
        format!("{}/t/{trigger}", self.base_url)
    }

    /// How many benchmark events arrived so far.
    pub fn delivered(&self) -> u64 {
        self.shared.count.load(Ordering::Acquire)
    }

    /// Takes the deliveries logged since the last call.
    pub fn take(&self) -> Vec<Delivery> {
        self.shared
            .log
            .lock()
            .map(|mut log| std::mem::take(&mut *log))
            .unwrap_or_default()
    }
}

async fn receive(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let trigger = trigger_of(request.uri().path());
    let seq = header_u64(request.headers(), ID_HEADER);
    let sent_ns = header_u64(request.headers(), SENT_HEADER);
    let complete = request.into_body().collect().await.is_ok();
    if let (true, Some(seq), Some(sent_ns)) = (complete, seq, sent_ns) {
        let delivery = Delivery {
            seq,
            trigger,
            sent_ns,
            arrived_ns: shared.clock.now_ns(),
        };
        if let Ok(mut log) = shared.log.lock() {
            log.push(delivery);
        }
        shared.count.fetch_add(1, Ordering::Release);
    }
    Ok(Response::new(Empty::new()))
}

/// The `N` of a `/t/N` path; 0 for any other path.
fn trigger_of(path: &str) -> u32 {
    path.strip_prefix("/t/")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_paths_name_the_trigger() {
        assert_eq!(trigger_of("/t/7"), 7);
        assert_eq!(trigger_of("/t/x"), 0);
        assert_eq!(trigger_of("/"), 0);
    }

    #[tokio::test]
    async fn logs_benchmark_events_and_ignores_others() {
        let clock = Clock::new();
        let sink = Sink::start(clock, None).unwrap();
        let client = reqwest::Client::new();
        let sent = clock.now_ns();
        let answer = client
            .post(sink.url(3))
            .header(ID_HEADER, "41")
            .header(SENT_HEADER, sent.to_string())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let other = client.post(sink.url(0)).body("x").send().await.unwrap();
        assert_eq!(other.status(), 200);
        assert_eq!(sink.delivered(), 1);
        let log = sink.take();
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].seq, log[0].trigger, log[0].sent_ns), (41, 3, sent));
        assert!(log[0].arrived_ns >= sent);
        assert!(sink.take().is_empty());
    }
}
