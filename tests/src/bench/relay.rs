//! The relay baseline: the least a broker can do with an event. A [`ServerThread`] (on the
//! system core, where Herald runs in its scenarios) reads each request whole, answers 202, then
//! passes the same headers and body on to the subscriber over pooled keep-alive connections, one
//! task per event. Nothing is stored, filtered, retried or ordered, so its rate is the ceiling
//! of two HTTP hops per event (a publish received, a delivery sent) on one core of this machine:
//! the work any broker's ingress and delivery share, with none of its own.

use super::error::BenchError;
use super::event::EventTemplate;
use super::http_target::HttpTarget;
use super::placement::Cpus;
use super::server_thread::ServerThread;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Semaphore;

/// Events being passed on at once; beyond this the relay answers the next publish only when one
/// is done (as a broker bounds its deliveries in flight).
pub const MAX_FORWARDS: usize = 256;

/// A running relay.
pub struct Relay {
    server: ServerThread,
}

struct Forwarding {
    to: HttpTarget,
    room: Arc<Semaphore>,
    /// Whether a failed pass-on was reported already (the bench counts every lost event).
    reported: AtomicBool,
}

impl Relay {
    /// Starts a relay that passes every event on to `to`; its thread runs on `cpus` when given.
    pub async fn start(
        to: &str,
        template: EventTemplate,
        cpus: Option<&Cpus>,
    ) -> Result<Relay, BenchError> {
        let forwarding = Arc::new(Forwarding {
            to: HttpTarget::new(to, template).await?,
            room: Arc::new(Semaphore::new(MAX_FORWARDS)),
            reported: AtomicBool::new(false),
        });
        let server = ServerThread::start("relay", cpus, move |request| {
            relay(forwarding.clone(), request)
        })?;
        Ok(Relay { server })
    }

    /// Where to publish.
    pub fn url(&self) -> String {
        format!("{}/default/default", self.server.base_url())
    }
}

async fn relay(
    forwarding: Arc<Forwarding>,
    request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let answer = |status: StatusCode| {
        let mut response = Response::new(Empty::new());
        *response.status_mut() = status;
        Ok(response)
    };
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let Ok(permit) = forwarding.room.clone().acquire_owned().await else {
        return answer(StatusCode::SERVICE_UNAVAILABLE);
    };
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(err) = forwarding.to.forward(parts.headers, body).await
            && !forwarding.reported.swap(true, Ordering::Relaxed)
        {
            eprintln!("herald-bench: the relay could not pass an event on: {err}");
        }
    });
    answer(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::clock::Clock;
    use crate::bench::sink::Sink;
    use std::time::Duration;

    #[tokio::test]
    async fn answers_202_and_passes_each_event_on_with_its_headers() {
        let clock = Clock::new();
        let sink = Sink::start(clock, None).unwrap();
        let template = EventTemplate::new(64);
        let relay = Relay::start(&sink.url(0), template.clone(), None)
            .await
            .unwrap();
        let publish = HttpTarget::new(&relay.url(), template).await.unwrap();
        for seq in 0..20 {
            publish.send(seq, clock.now_ns()).await.unwrap();
        }
        let answer = reqwest::Client::new()
            .post(relay.url())
            .body("not an event")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        for _ in 0..200 {
            if sink.delivered() == 20 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The id and send stamp headers came through: the subscriber logged every event.
        let mut seqs: Vec<u64> = sink.take().iter().map(|d| d.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..20).collect::<Vec<_>>());
    }
}
