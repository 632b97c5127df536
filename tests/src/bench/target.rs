//! What the load generator sends to: an HTTP endpoint (Herald's ingress, or the subscriber itself
//! for the direct baseline) or a JetStream stream, and how a send can fail.

use super::http_target::HttpTarget;
use super::jetstream::JetStreamTarget;

/// Why one send did not count as accepted.
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    #[error("HTTP {0}")]
    Status(u16),
    #[error("connect: {0}")]
    Connect(String),
    #[error("request: {0}")]
    Request(String),
    #[error("timed out")]
    Timeout,
    #[error("publish: {0}")]
    Publish(String),
}

impl SendFailure {
    /// A short label to count failures by (the status code, or the kind of failure).
    pub fn label(&self) -> String {
        match self {
            SendFailure::Status(code) => format!("http_{code}"),
            SendFailure::Connect(_) => "connect".into(),
            SendFailure::Request(_) => "request".into(),
            SendFailure::Timeout => "timeout".into(),
            SendFailure::Publish(_) => "publish".into(),
        }
    }
}

/// Where events go.
pub enum Target {
    Http(HttpTarget),
    JetStream(JetStreamTarget),
}

impl Target {
    /// Events one [`Target::send`] carries (ids `seq..seq + n`).
    pub fn events_per_send(&self) -> u64 {
        match self {
            Target::Http(http) => http.events_per_send(),
            Target::JetStream(_) => 1,
        }
    }

    /// Sends event `seq` (or the batch from `seq`), stamped as sent at `sent_ns`; Ok once it is
    /// accepted (a 2xx answer, or JetStream's publish acknowledgement).
    pub async fn send(&self, seq: u64, sent_ns: u64) -> Result<(), SendFailure> {
        match self {
            Target::Http(http) => http.send(seq, sent_ns).await,
            Target::JetStream(js) => js.send().await,
        }
    }
}
