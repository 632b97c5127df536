//! Keep-alive HTTP/1.1 connections to subscribers, driven by the delivery that uses them.
//!
//! A hyper connection normally runs in a task of its own, so every request costs two hand-offs
//! between tasks (request in, response out). Here the delivery polls its connection and its
//! request together, in its own task; between requests the connection waits in a per-origin pool
//! and is checked for a close by the peer before it is used again. A background task closes
//! connections that stayed idle too long, so a burst or a deleted Trigger leaves no sockets open.

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_tls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tower::Service;

type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

/// Idle connections kept per subscriber origin.
const IDLE_PER_ORIGIN: usize = 256;
/// An idle connection older than this is closed instead of reused (servers close theirs after a
/// similar while, and a request written into a closing connection is an ambiguous failure).
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often idle connections are looked over, to close those past [`IDLE_TIMEOUT`].
pub(super) const REAP_EVERY: Duration = Duration::from_secs(10);

/// Why an exchange got no complete answer.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Request(String),
}

/// One open connection: the handle requests go through, and the connection itself.
pub struct Live {
    origin: String,
    sender: SendRequest<Full<Bytes>>,
    connection: Pin<Box<Connection<Stream, Full<Bytes>>>>,
    /// Set once the connection future ended: it cannot be reused.
    ended: bool,
}

impl Live {
    /// Runs `work` (which uses this connection's sender) while driving the connection.
    pub async fn drive<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut SendRequest<Full<Bytes>>) -> Result<T, hyper::Error>,
    ) -> Result<T, ExchangeError> {
        let request_failed = |e: hyper::Error| ExchangeError::Request(chain(&e));
        let mut work = pin!(work(&mut self.sender));
        let connection = &mut self.connection;
        let ended = &mut self.ended;
        poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(out.map_err(request_failed));
            }
            if !*ended && let Poll::Ready(result) = connection.as_mut().poll(cx) {
                *ended = true;
                if let Err(e) = result {
                    return Poll::Ready(Err(request_failed(e)));
                }
            }
            // The connection may have just completed the work.
            match work.as_mut().poll(cx) {
                Poll::Ready(out) => Poll::Ready(out.map_err(request_failed)),
                Poll::Pending if *ended => Poll::Ready(Err(ExchangeError::Request(
                    "the connection closed before the response".into(),
                ))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

struct Idle {
    live: Live,
    since: Instant,
}

/// Idle connections by origin, each list oldest first.
type IdleMap = Mutex<foldhash::HashMap<String, Vec<Idle>>>;

/// Connections to every subscriber origin, shared by clones.
#[derive(Clone)]
pub struct Pool {
    connector: HttpsConnector<HttpConnector>,
    idle: Arc<IdleMap>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool; made inside a Tokio runtime, it also closes expired idle connections in the
    /// background for as long as it (or a clone) lives. Made outside one, it closes them only
    /// when it comes across them.
    pub fn new() -> Pool {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let idle: Arc<IdleMap> = Arc::default();
        reap_in_background(Arc::downgrade(&idle));
        Pool {
            connector: HttpsConnector::new_with_connector(http),
            idle,
        }
    }

    /// An idle connection to `uri`'s origin that is still open, or a new one.
    pub async fn checkout(&self, uri: &http::Uri) -> Result<Live, ExchangeError> {
        let origin = origin(uri);
        while let Some(mut idle) = self.take_idle(&origin) {
            if idle.since.elapsed() < IDLE_TIMEOUT && still_open(&mut idle.live) {
                return Ok(idle.live);
            }
        }
        let stream = self
            .connector
            .clone()
            .call(uri.clone())
            .await
            .map_err(|e| ExchangeError::Connect(chain(e.as_ref())))?;
        let (sender, connection) = http1::handshake(stream)
            .await
            .map_err(|e| ExchangeError::Connect(chain(&e)))?;
        Ok(Live {
            origin,
            sender,
            connection: Box::pin(connection),
            ended: false,
        })
    }

    /// Puts a connection whose exchange completed back for the next request to its origin.
    pub fn checkin(&self, live: Live) {
        if live.ended {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Looked up before inserting: `entry` would take (and so copy) the origin every time.
        let list = match idle.get_mut(&live.origin) {
            Some(list) => list,
            None => idle.entry(live.origin.clone()).or_default(),
        };
        if list.len() < IDLE_PER_ORIGIN {
            list.push(Idle {
                live,
                since: Instant::now(),
            });
        }
    }

    fn take_idle(&self, origin: &str) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.get_mut(origin)?.pop()
    }
}

impl Default for Pool {
    fn default() -> Self {
        Self::new()
    }
}

/// Every [`REAP_EVERY`], closes the idle connections past [`IDLE_TIMEOUT`], until the pool is
/// gone.
fn reap_in_background(idle: Weak<IdleMap>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(REAP_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(idle) = idle.upgrade() else {
                return;
            };
            drop(expired(&idle));
        }
    });
}

/// Takes the idle connections past [`IDLE_TIMEOUT`] out of the pool (closed when dropped, after
/// the lock is released), and forgets origins left with none.
fn expired(idle: &IdleMap) -> Vec<Idle> {
    let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = Vec::new();
    for list in idle.values_mut() {
        out.extend(list.extract_if(.., |i| i.since.elapsed() >= IDLE_TIMEOUT));
    }
    idle.retain(|_, list| !list.is_empty());
    out
}

/// Polls an idle connection once: a peer that closed it (or sent something unasked) ends it.
fn still_open(live: &mut Live) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    live.connection.as_mut().poll(&mut cx).is_pending() && !live.sender.is_closed()
}

fn origin(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map_or("", |a| a.as_str());
    // Built by hand: `format!` costs ten times as much, once per delivery.
    let mut origin = String::with_capacity(scheme.len() + 3 + authority.len());
    origin.push_str(scheme);
    origin.push_str("://");
    origin.push_str(authority);
    origin
}

/// An error and its causes, joined with `: `.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn an_origin_is_scheme_and_authority() {
        let uri: http::Uri = "https://user@example.com:8443/a/b?q=1".parse().unwrap();
        assert_eq!(origin(&uri), "https://user@example.com:8443");
        let uri: http::Uri = "http://127.0.0.1/".parse().unwrap();
        assert_eq!(origin(&uri), "http://127.0.0.1");
    }
}
