//! The JetStream baseline: publish-with-ack through async-nats to a uniquely named file-storage
//! stream on the local NATS server, created for the run and deleted afterwards.

use super::error::BenchError;
use super::event::EventTemplate;
use super::target::SendFailure;
use async_nats::Subject;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest size the benchmark stream may grow to before NATS discards its oldest messages.
const STREAM_MAX_BYTES: i64 = 4 << 30;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes benchmark payloads to a stream of its own.
pub struct JetStreamTarget {
    context: jetstream::Context,
    stream: String,
    subject: Subject,
    payload: Bytes,
}

impl JetStreamTarget {
    /// Connects to `url` and creates the stream.
    pub async fn create(
        url: &str,
        template: &EventTemplate,
    ) -> Result<JetStreamTarget, BenchError> {
        let nats = |what: &str, detail: String| BenchError::Nats {
            what: what.into(),
            detail,
        };
        let client = tokio::time::timeout(CONNECT_TIMEOUT, async_nats::connect(url))
            .await
            .map_err(|_| nats(&format!("connecting to {url}"), "timed out".into()))?
            .map_err(|e| nats(&format!("connecting to {url}"), e.to_string()))?;
        let context = jetstream::new(client);
        let unique = format!(
            "{}_{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis()
        );
        let stream = format!("HERALD_BENCH_{unique}");
        let subject = format!("herald-bench.{unique}");
        context
            .create_stream(stream::Config {
                name: stream.clone(),
                subjects: vec![subject.clone()],
                storage: stream::StorageType::File,
                max_bytes: STREAM_MAX_BYTES,
                ..Default::default()
            })
            .await
            .map_err(|e| nats(&format!("creating stream {stream}"), e.to_string()))?;
        Ok(JetStreamTarget {
            context,
            stream,
            subject: Subject::from(subject),
            payload: template.body(),
        })
    }

    /// Publishes one payload and waits for the stream's acknowledgement.
    pub async fn send(&self) -> Result<(), SendFailure> {
        let ack = self
            .context
            .publish(self.subject.clone(), self.payload.clone())
            .await
            .map_err(|e| SendFailure::Publish(e.to_string()))?;
        ack.await
            .map(drop)
            .map_err(|e| SendFailure::Publish(e.to_string()))
    }

    /// Deletes the stream and its messages.
    pub async fn delete(&self) -> Result<(), BenchError> {
        self.context
            .delete_stream(&self.stream)
            .await
            .map(drop)
            .map_err(|e| BenchError::Nats {
                what: format!("deleting stream {}", self.stream),
                detail: e.to_string(),
            })
    }
}
