//! Keep-alive HTTP/1.1 connections to subscribers, used by one delivery at a time.
//!
//! A delivery checks a connection out, makes its exchange on it ([`http1`](super::http1)) in its
//! own task, and checks it back in when the exchange left it fit for another. Between requests a
//! connection waits in a per-origin pool and is checked for a close by the peer before it is used
//! again. A background task closes connections that stayed idle too long, so a burst or a
//! deleted Trigger leaves no sockets open.

use super::destination::Destination;
use super::http1::Connection;
use hyper_tls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tower::Service;

/// A connection's byte stream: TCP, or TLS over TCP for `https` subscribers.
type Stream = TokioIo<MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>>;

/// Idle connections kept per subscriber origin.
const IDLE_PER_ORIGIN: usize = 256;
/// An idle connection older than this is closed instead of reused (servers close theirs after a
/// similar while, and a request written into a closing connection is an ambiguous failure).
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often idle connections are looked over, to close those past [`IDLE_TIMEOUT`].
pub(super) const REAP_EVERY: Duration = Duration::from_secs(10);

/// One open connection and the origin it belongs to.
pub struct Live {
    origin: String,
    pub connection: Connection<Stream>,
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

    /// An idle connection to the destination's origin that is still open, or a new one.
    pub async fn checkout(&self, destination: &Destination) -> Result<Live, String> {
        while let Some(mut idle) = self.take_idle(&destination.origin) {
            if idle.since.elapsed() < IDLE_TIMEOUT && idle.live.connection.is_open_while_idle() {
                return Ok(idle.live);
            }
        }
        let stream = self
            .connector
            .clone()
            .call(destination.uri.clone())
            .await
            .map_err(|e| chain(e.as_ref()))?;
        Ok(Live {
            origin: destination.origin.clone(),
            connection: Connection::new(TokioIo::new(stream)),
        })
    }

    /// Puts a connection back for the next request to its origin, unless its last exchange
    /// left it unfit for another.
    pub fn checkin(&self, live: Live) {
        if !live.connection.is_reusable() {
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

/// An error and its causes, joined with `: `.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
