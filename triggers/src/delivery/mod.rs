//! Delivery of one event to one destination under a delivery policy: attempts, retries with backoff,
//! and the dead-letter sink when the subscriber gives up.
//!
//! - [`sender`] makes one HTTP attempt and classifies the answer ([`outcome`]), on a keep-alive
//!   connection from `pool` that speaks HTTP/1.1 itself (`http1`), to a URL parsed once
//!   (`destination`).
//! - [`schedule`] says how long to wait before each retry.
//! - [`Policy::deliver`] runs the whole schedule and reports a [`Final`] outcome.

mod destination;
mod http1;
pub mod outcome;
mod pool;
pub mod schedule;
pub mod sender;

pub use outcome::Attempt;
pub use schedule::Backoff;
pub use sender::Sender;

use herald_cloudevent::Event;
use herald_crds::delivery::DeliveryFormat;
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// A resolved delivery policy: what the Trigger (or its Broker) asked for, with defaults filled in.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Retries after the first attempt.
    pub retry: u32,
    pub backoff: Backoff,
    /// Bound on each attempt.
    pub timeout: Duration,
    pub format: DeliveryFormat,
    /// Where events go after the last failed attempt, if anywhere.
    pub dead_letter_sink: Option<String>,
}

/// What happened on one attempt, kept for status, logs and the dead-letter store.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub at: SystemTime,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency: Duration,
}

/// The final outcome of delivering one event.
#[derive(Debug, Clone)]
pub enum Final {
    /// The subscriber took it (2xx), maybe with a reply event.
    Delivered {
        reply: Option<Event>,
        attempts: Vec<AttemptRecord>,
    },
    /// The subscriber gave up; `last` is the last attempt's result.
    Failed {
        last: Attempt,
        attempts: Vec<AttemptRecord>,
    },
    /// Shutdown interrupted the retry schedule: the outcome is not final, and the event must be
    /// delivered again (its schedule resumes) after a restart.
    Interrupted { attempts: Vec<AttemptRecord> },
}

impl Policy {
    /// Delivers `event` to `url`, starting at attempt `first_attempt` (1 for a fresh event; higher
    /// when a retry schedule resumes). `before_retry` is told the next attempt's number and the wait
    /// before it, so the caller can make the schedule durable. Cancelling `stop` ends a wait between
    /// attempts with [`Final::Interrupted`]; an attempt already on the wire runs to its end.
    pub async fn deliver<BF>(
        &self,
        sender: &Sender,
        url: &str,
        event: &Event,
        first_attempt: u32,
        stop: &CancellationToken,
        before_retry: impl FnMut(u32, Duration) -> BF,
    ) -> Final
    where
        BF: Future<Output = ()>,
    {
        let attempt = || sender.attempt(url, event, self.format, self.timeout);
        self.run(url, event, attempt, first_attempt, stop, before_retry)
            .await
    }

    /// Runs the retry schedule around any kind of attempt (an HTTP POST, an append to a local
    /// broker's log): the same retries, backoff, logging and outcome as [`Policy::deliver`].
    pub async fn run<AF, BF>(
        &self,
        destination: &str,
        event: &Event,
        mut attempt: impl FnMut() -> AF,
        first_attempt: u32,
        stop: &CancellationToken,
        mut before_retry: impl FnMut(u32, Duration) -> BF,
    ) -> Final
    where
        AF: Future<Output = Attempt>,
        BF: Future<Output = ()>,
    {
        let mut attempts = Vec::new();
        let mut n = first_attempt.max(1);
        loop {
            let started = Instant::now();
            let at = SystemTime::now();
            let attempt = attempt().await;
            let latency = started.elapsed();
            log_attempt(destination, event, n, &attempt, latency);
            attempts.push(AttemptRecord {
                at,
                status: attempt.status(),
                error: match &attempt {
                    Attempt::Delivered { .. } => None,
                    Attempt::Retryable { error, .. } | Attempt::Rejected { error, .. } => {
                        Some(error.clone())
                    }
                },
                latency,
            });
            let retry_after = match &attempt {
                Attempt::Delivered { reply, .. } => {
                    return Final::Delivered {
                        reply: reply.clone(),
                        attempts,
                    };
                }
                Attempt::Rejected { .. } => {
                    return Final::Failed {
                        last: attempt,
                        attempts,
                    };
                }
                Attempt::Retryable { retry_after, .. } => *retry_after,
            };
            // Attempt n is retry n-1; there are `retry` retries after the first attempt.
            if n > self.retry {
                return Final::Failed {
                    last: attempt,
                    attempts,
                };
            }
            let wait = self.backoff.wait_before_retry(n, retry_after);
            before_retry(n + 1, wait).await;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => return Final::Interrupted { attempts },
            }
            n += 1;
        }
    }
}

fn log_attempt(url: &str, event: &Event, n: u32, attempt: &Attempt, latency: Duration) {
    let latency_ms = latency.as_secs_f64() * 1000.0;
    match attempt {
        Attempt::Delivered { status, .. } => tracing::debug!(
            event_id = event.id(),
            destination = url,
            attempt = n,
            status,
            latency_ms,
            "delivered"
        ),
        Attempt::Retryable { status, error, .. } | Attempt::Rejected { status, error, .. } => {
            tracing::warn!(
                event_id = event.id(),
                destination = url,
                attempt = n,
                status = status.map(i64::from).unwrap_or(-1),
                latency_ms,
                outcome = attempt.label(),
                error = error.as_str(),
                "delivery attempt failed"
            )
        }
    }
}
