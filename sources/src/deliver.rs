//! [`Deliverer`]: takes one event of a source to its sink — `ceOverrides`, the retry schedule of
//! the source's `delivery`, then the dead-letter path — and says whether the upstream message may
//! now be acknowledged.
//!
//! After the last failed attempt the event goes to the dead-letter sink (same policy) with
//! Knative's extensions: `knativeerrordest` (the sink's URI), `knativeerrorcode` (the last HTTP
//! status, an Integer, when there was one) and `knativeerrordata` (base64 of at most the first
//! 1024 bytes of the last response body, when it had one). Whatever the dead-letter sink does,
//! the event is then handed to the [`DeadLetterRecorder`], so nothing is dropped silently, and
//! only then may the message be acknowledged. Shutdown during a retry wait leaves the outcome
//! open: the message must not be acknowledged, so it is consumed again after a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use herald_cloudevent::{AttrValue, Event, attr_name};
use herald_triggers::delivery::{Attempt, AttemptRecord, Final, Policy};
use tokio_util::sync::CancellationToken;

use crate::context::{DeadLetterRecorder, SourceContext};
use crate::flow::Flow;
use crate::sink::Sink;
use crate::stats::SourceStats;

/// Most response-body bytes kept in `knativeerrordata`.
pub const ERROR_DATA_MAX_BYTES: usize = 1024;
/// Shortest interval between keep-alive beats.
const MIN_KEEPALIVE: Duration = Duration::from_millis(100);

/// What to do with the upstream message once [`Deliverer::deliver`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// The outcome is final (sink accepted, or dead-lettered and recorded): acknowledge.
    Settled,
    /// Shutdown interrupted the delivery: do not acknowledge; the message must come again.
    Interrupted,
}

/// Delivers the events of one source.
pub(crate) struct Deliverer {
    /// `kind/namespace/name`, for the recorder and logs.
    label: String,
    overrides: BTreeMap<String, String>,
    sink: Arc<dyn Sink>,
    dead_letter_sink: Option<Arc<dyn Sink>>,
    policy: Policy,
    recorder: Arc<dyn DeadLetterRecorder>,
    stats: Arc<SourceStats>,
    stop: CancellationToken,
}

impl Deliverer {
    pub(crate) fn new(
        label: String,
        overrides: BTreeMap<String, String>,
        context: &SourceContext,
        stats: Arc<SourceStats>,
        stop: CancellationToken,
    ) -> Deliverer {
        Deliverer {
            label,
            overrides,
            sink: context.sink.clone(),
            dead_letter_sink: context.dead_letter_sink.clone(),
            policy: context.policy.clone(),
            recorder: context.dead_letters.clone(),
            stats,
            stop,
        }
    }

    /// The source's `kind/namespace/name`.
    /// After a lost connection or session: reports it (log and readiness) and waits `delay`
    /// before the caller reconnects. Returns false when the source was stopped meanwhile.
    pub(crate) async fn wait_to_reconnect(&self, what: &str, err: String, delay: Duration) -> bool {
        tracing::warn!(
            source = self.label(),
            error = err.as_str(),
            "{what} source failed; retrying"
        );
        self.stats()
            .set_readiness(false, crate::stats::reason::CONNECTION_FAILED, err);
        tokio::select! {
            _ = self.stop().cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn stats(&self) -> &Arc<SourceStats> {
        &self.stats
    }

    /// The token that stops the source.
    pub(crate) fn stop(&self) -> &CancellationToken {
        &self.stop
    }

    /// Delivers `event` (after applying `ceOverrides`), teaching `flow` whether the sink pushes
    /// back.
    pub(crate) async fn deliver(&self, mut event: Event, flow: &Flow) -> Disposition {
        for (name, value) in &self.overrides {
            event.set(attr_name(name), value.as_str().into());
        }
        let sink_uri = self.sink.uri();
        let outcome = {
            let (sink, event) = (&self.sink, &event);
            let attempt = || async move {
                let attempt = sink.attempt(event).await;
                flow.observe(&attempt);
                attempt
            };
            self.policy
                .run(&sink_uri, event, attempt, 1, &self.stop, |_, _| async {})
                .await
        };
        match outcome {
            Final::Delivered { .. } => {
                self.stats.count_sent();
                Disposition::Settled
            }
            Final::Failed { last, attempts } => {
                self.dead_letter(&event, &sink_uri, &last, &attempts).await
            }
            Final::Interrupted { .. } => Disposition::Interrupted,
        }
    }

    /// [`Deliverer::deliver`], calling `beat` every `every` while the delivery lasts (to keep
    /// an upstream lease alive, such as a JetStream ack deadline).
    pub(crate) async fn deliver_with_keepalive<K, KF>(
        &self,
        event: Event,
        flow: &Flow,
        every: Duration,
        mut beat: K,
    ) -> Disposition
    where
        K: FnMut() -> KF,
        KF: Future<Output = ()>,
    {
        let delivery = self.deliver(event, flow);
        tokio::pin!(delivery);
        let every = every.max(MIN_KEEPALIVE);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                disposition = &mut delivery => return disposition,
                _ = ticker.tick() => beat().await,
            }
        }
    }

    async fn dead_letter(
        &self,
        event: &Event,
        sink_uri: &str,
        last: &Attempt,
        attempts: &[AttemptRecord],
    ) -> Disposition {
        let reason = match last {
            Attempt::Retryable { error, .. } | Attempt::Rejected { error, .. } => error.as_str(),
            Attempt::Delivered { .. } => "delivered",
        };
        tracing::warn!(
            source = self.label.as_str(),
            event_id = event.id(),
            attempts = attempts.len(),
            reason,
            "the sink did not accept the event; dead-lettering it"
        );
        let delivered_to_dls = match &self.dead_letter_sink {
            None => false,
            Some(dls) => {
                let dead = with_error_extensions(event, sink_uri, last);
                let attempt = || dls.attempt(&dead);
                match self
                    .policy
                    .run(&dls.uri(), &dead, attempt, 1, &self.stop, |_, _| async {})
                    .await
                {
                    Final::Delivered { .. } => true,
                    Final::Failed { .. } => false,
                    Final::Interrupted { .. } => return Disposition::Interrupted,
                }
            }
        };
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        if delivered_to_dls {
            self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        }
        self.recorder
            .record(&self.label, event, attempts, reason, delivered_to_dls)
            .await;
        Disposition::Settled
    }
}

/// `event` with Knative's dead-letter extensions for a failed delivery to `sink_uri`.
fn with_error_extensions(event: &Event, sink_uri: &str, last: &Attempt) -> Event {
    let mut dead = event.clone();
    dead.set("knativeerrordest", sink_uri.into());
    if let Some(status) = last.status() {
        dead.set("knativeerrorcode", AttrValue::Integer(i32::from(status)));
    }
    let body = match last {
        Attempt::Retryable { body, .. } | Attempt::Rejected { body, .. } => &body[..],
        Attempt::Delivered { .. } => &[],
    };
    if !body.is_empty() {
        let kept = &body[..body.len().min(ERROR_DATA_MAX_BYTES)];
        dead.set("knativeerrordata", STANDARD.encode(kept).into());
    }
    dead
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use herald_cloudevent::SpecVersion;

    use super::*;

    #[test]
    fn error_extensions_follow_knative() {
        let event = Event::new(SpecVersion::V10, "1", "/s", "t");
        let last = Attempt::Rejected {
            status: Some(400),
            body: Bytes::from(vec![b'x'; 2000]),
            error: "bad".into(),
        };
        let dead = with_error_extensions(&event, "http://sink", &last);
        assert_eq!(dead.get_str("knativeerrordest"), Some("http://sink"));
        assert_eq!(dead.get("knativeerrorcode"), Some(&AttrValue::Integer(400)));
        let data = STANDARD
            .decode(dead.get_str("knativeerrordata").unwrap())
            .unwrap();
        assert_eq!(data.len(), ERROR_DATA_MAX_BYTES);

        let no_response = Attempt::Retryable {
            status: None,
            retry_after: None,
            body: Bytes::new(),
            error: "refused".into(),
        };
        let dead = with_error_extensions(&event, "http://sink", &no_response);
        assert_eq!(dead.get("knativeerrorcode"), None);
        assert_eq!(dead.get("knativeerrordata"), None);
    }
}
