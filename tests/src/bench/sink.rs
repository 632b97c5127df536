//! The benchmark's subscriber: a [`ServerThread`] that reads each event whole, answers 200 with
//! no body, and logs which Trigger path it came to, its id, its send stamp, its arrival time and,
//! for events that came through a broker, how long ago the broker stamped their arrival.

use super::clock::{Clock, wall_now_ns};
use super::error::BenchError;
use super::event::{ARRIVAL_HEADER, ID_HEADER, SENT_HEADER};
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
    /// From the broker's arrival stamp (`knativearrivaltime`) to that read, by the wall clock;
    /// None when the event carries no stamp (no broker on its way).
    pub after_stamp_ns: Option<u64>,
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
    let stamped_ns = request
        .headers()
        .get(ARRIVAL_HEADER)
        .and_then(|v| wall_clock_ns(v.to_str().ok()?));
    let complete = request.into_body().collect().await.is_ok();
    if let (true, Some(seq), Some(sent_ns)) = (complete, seq, sent_ns) {
        let delivery = Delivery {
            seq,
            trigger,
            sent_ns,
            arrived_ns: shared.clock.now_ns(),
            after_stamp_ns: stamped_ns.map(|stamped| wall_now_ns().saturating_sub(stamped)),
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

/// An RFC 3339 time as ns since the Unix epoch. The broker's stamp is wall-clock time, so it is
/// compared with the wall clock ([`wall_now_ns`]), not with the run's monotonic [`Clock`].
fn wall_clock_ns(rfc3339: &str) -> Option<u64> {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    u64::try_from(at.timestamp_nanos_opt()?).ok()
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

    #[test]
    fn broker_stamps_read_as_wall_clock_nanoseconds() {
        assert_eq!(
            wall_clock_ns("1970-01-01T00:00:01.000250Z"),
            Some(1_000_250_000)
        );
        assert_eq!(
            wall_clock_ns("2026-12-06T21:30:00.5+01:00"),
            Some(1_796_589_000_500_000_000)
        );
        assert_eq!(wall_clock_ns("yesterday"), None);
        assert_eq!(wall_clock_ns("1960-01-01T00:00:00Z"), None);
    }

    #[tokio::test]
    async fn logs_how_long_ago_the_broker_stamped_an_event() {
        let sink = Sink::start(Clock::new(), None).unwrap();
        let stamped = chrono::Utc::now() - chrono::Duration::milliseconds(40);
        let answer = reqwest::Client::new()
            .post(sink.url(0))
            .header(ID_HEADER, "1")
            .header(SENT_HEADER, "5")
            .header(
                ARRIVAL_HEADER,
                stamped.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            )
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let after = sink.take()[0].after_stamp_ns.expect("a stamped event");
        assert!(
            (40_000_000..5_000_000_000).contains(&after),
            "{after} ns after the stamp"
        );
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
        assert_eq!(log[0].after_stamp_ns, None);
        assert!(log[0].arrived_ns >= sent);
        assert!(sink.take().is_empty());
    }
}
