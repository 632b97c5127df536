//! Settling a final outcome: a reply goes back into the broker (with the hop counter decremented);
//! a failure goes to the dead-letter sink with Knative's error extensions and, whatever happens
//! there, into Herald's dead-letter store.

use super::{BrokerLink, TriggerPlan};
use crate::deadletter::entry::MAX_RESPONSE_BODY;
use crate::deadletter::{AttemptInfo, DeadLetter, Origin};
use crate::delivery::{Attempt, AttemptRecord, Final};
use crate::metrics::Labels;
use base64::Engine;
use bytes::Bytes;
use herald_cloudevent::{AttrValue, Event, record};
use tokio_util::sync::CancellationToken;

/// The hop counter: decremented each time an event passes through a broker as a reply.
pub const TTL: &str = "knativebrokerttl";
/// The hop counter given to events that arrive without one.
pub const DEFAULT_TTL: i32 = 255;
/// The destination that failed.
pub const ERROR_DEST: &str = "knativeerrordest";
/// The last HTTP status (an integer extension).
pub const ERROR_CODE: &str = "knativeerrorcode";
/// Base64 of the first 1024 bytes of the last response body.
pub const ERROR_DATA: &str = "knativeerrordata";

/// The hop counter of an event, when it has a readable one.
pub fn ttl_of(event: &Event) -> Option<i32> {
    match event.get(TTL)? {
        AttrValue::Integer(n) => Some(*n),
        AttrValue::String(s) => s.trim().parse().ok(),
        AttrValue::Boolean(_) => None,
    }
}

/// Why an event reached the dead-letter path.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Short machine label for metrics (`retries_exhausted`, `rejected`, `ttl_exhausted`,
    /// `reply_failed`).
    pub label: &'static str,
    pub reason: String,
    pub status: Option<u16>,
    pub body: Bytes,
    pub attempts: Vec<AttemptRecord>,
}

impl Failure {
    /// The failure described by a delivery's last attempt.
    pub fn from_attempt(last: &Attempt, attempts: Vec<AttemptRecord>) -> Failure {
        let (label, reason, body) = match last {
            Attempt::Retryable { error, body, .. } => (
                "retries_exhausted",
                format!(
                    "retries exhausted after {} attempts: {error}",
                    attempts.len()
                ),
                body.clone(),
            ),
            Attempt::Rejected { error, body, .. } => {
                ("rejected", format!("not retried: {error}"), body.clone())
            }
            Attempt::Delivered { .. } => ("delivered", String::new(), Bytes::new()),
        };
        Failure {
            label,
            reason,
            status: last.status(),
            body,
            attempts,
        }
    }
}

/// The outcomes that settle without looking at the event, with whether they are final: an
/// interrupted delivery (not final) and one delivered without a reply (final). `None` when a reply
/// or a dead letter needs the event, so a caller holding only the stored record decodes it then.
pub fn settled_without_event(outcome: &Final) -> Option<bool> {
    match outcome {
        Final::Interrupted { .. } => Some(false),
        Final::Delivered { reply: None, .. } => Some(true),
        Final::Failed { .. } | Final::Delivered { reply: Some(_), .. } => None,
    }
}

/// Settles a final delivery outcome. Returns false when the outcome could not be made final (the
/// dead-letter store failed, or shutdown interrupted it): the event stays in flight.
pub async fn settle(
    plan: &TriggerPlan,
    link: &BrokerLink,
    labels: &Labels,
    event: &Event,
    outcome: Final,
    stop: &CancellationToken,
) -> bool {
    if let Some(is_final) = settled_without_event(&outcome) {
        return is_final;
    }
    match outcome {
        Final::Interrupted { .. } | Final::Delivered { reply: None, .. } => {
            unreachable!("settled without the event above")
        }
        Final::Failed { last, attempts } => {
            let failure = Failure::from_attempt(&last, attempts);
            dead_letter(plan, link, labels, event, &plan.subscriber, failure, stop).await
        }
        Final::Delivered {
            reply: Some(reply),
            attempts,
        } => {
            let Some(reply) = with_decremented_ttl(event, reply) else {
                link.metrics.reply(labels, "ttl_exhausted");
                let failure = Failure {
                    label: "ttl_exhausted",
                    reason: format!(
                        "{TTL} exhausted: the reply passed through broker {} {DEFAULT_TTL} times (a reply loop?)",
                        plan.id.broker
                    ),
                    status: None,
                    body: Bytes::new(),
                    attempts,
                };
                return dead_letter(plan, link, labels, event, &plan.subscriber, failure, stop)
                    .await;
            };
            match link.replies.ingest(reply).await {
                Ok(()) => {
                    link.metrics.reply(labels, "ingested");
                    true
                }
                Err(err) => {
                    link.metrics.reply(labels, "failed");
                    let failure = Failure {
                        label: "reply_failed",
                        reason: format!("the reply could not be ingested: {err}"),
                        status: None,
                        body: Bytes::new(),
                        attempts,
                    };
                    dead_letter(plan, link, labels, event, &plan.subscriber, failure, stop).await
                }
            }
        }
    }
}

/// The reply with the original's hop counter minus one; None when that reaches zero.
fn with_decremented_ttl(original: &Event, mut reply: Event) -> Option<Event> {
    let ttl = ttl_of(original).unwrap_or(DEFAULT_TTL) - 1;
    if ttl <= 0 {
        return None;
    }
    reply.set(TTL, AttrValue::Integer(ttl));
    Some(reply)
}

/// The event as sent to a dead-letter sink: Knative's error extensions added.
pub fn with_error_extensions(event: &Event, destination: &str, failure: &Failure) -> Event {
    let mut event = event.clone();
    event.set(ERROR_DEST, AttrValue::String(destination.to_string()));
    if let Some(status) = failure.status {
        event.set(ERROR_CODE, AttrValue::Integer(i32::from(status)));
    }
    if !failure.body.is_empty() {
        let end = failure.body.len().min(MAX_RESPONSE_BODY);
        let data = base64::engine::general_purpose::STANDARD.encode(&failure.body[..end]);
        event.set(ERROR_DATA, AttrValue::String(data));
    }
    event
}

/// Sends the event to the dead-letter sink (if any, with the same policy) and records it in the
/// dead-letter store. Returns whether the outcome is final.
pub async fn dead_letter(
    plan: &TriggerPlan,
    link: &BrokerLink,
    labels: &Labels,
    event: &Event,
    destination: &str,
    failure: Failure,
    stop: &CancellationToken,
) -> bool {
    let mut delivered_to_sink = false;
    if let Some(sink) = &plan.policy.dead_letter_sink {
        let dead = with_error_extensions(event, destination, &failure);
        let outcome = plan
            .policy
            .deliver(&link.sender, sink, &dead, 1, stop, |_, _| async {})
            .await;
        match outcome {
            Final::Delivered { .. } => delivered_to_sink = true,
            Final::Interrupted { .. } => return false,
            Final::Failed { last, .. } => tracing::warn!(
                event_id = event.id(),
                dead_letter_sink = sink.as_str(),
                error = ?last.status(),
                "the dead-letter sink failed too; the event is kept in the dead-letter store"
            ),
        }
    }
    let mut encoded = Vec::new();
    record::encode(event, &mut encoded);
    let body_end = failure.body.len().min(MAX_RESPONSE_BODY);
    let entry = DeadLetter {
        id: String::new(),
        origin: Origin::Trigger {
            namespace: plan.id.namespace.clone(),
            broker: plan.id.broker.clone(),
            trigger: plan.id.name.clone(),
        },
        destination: destination.to_string(),
        event: Bytes::from(encoded),
        event_id: event.id().to_string(),
        event_type: event.ty().to_string(),
        event_source: event.source().to_string(),
        attempts: failure.attempts.iter().map(AttemptInfo::from).collect(),
        response_body: failure.body.slice(..body_end),
        reason: failure.reason.clone(),
        delivered_to_dead_letter_sink: delivered_to_sink,
        created_ms: chrono::Utc::now().timestamp_millis(),
        replays: Vec::new(),
        resolved: false,
    };
    match link.dead_letters.insert(entry).await {
        Ok(id) => {
            link.metrics.dead_lettered(labels, failure.label);
            tracing::warn!(
                event_id = event.id(),
                dead_letter = id,
                reason = failure.reason,
                delivered_to_dead_letter_sink = delivered_to_sink,
                "event dead-lettered"
            );
            true
        }
        Err(err) => {
            tracing::error!(event_id = event.id(), error = %err, "storing a dead letter failed; the event stays in flight");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_cloudevent::SpecVersion;

    fn event() -> Event {
        Event::new(SpecVersion::V10, "1", "/s", "t")
    }

    #[test]
    fn replies_inherit_the_decremented_ttl() {
        let mut original = event();
        original.set(TTL, AttrValue::String("3".into()));
        let reply = with_decremented_ttl(&original, event()).unwrap();
        assert_eq!(reply.get(TTL), Some(&AttrValue::Integer(2)));
        original.set(TTL, AttrValue::Integer(1));
        assert!(with_decremented_ttl(&original, event()).is_none());
        // No TTL on the original: it started at the default.
        let reply = with_decremented_ttl(&event(), event()).unwrap();
        assert_eq!(reply.get(TTL), Some(&AttrValue::Integer(DEFAULT_TTL - 1)));
    }

    #[test]
    fn error_extensions_follow_knative() {
        let failure = Failure {
            label: "rejected",
            reason: "x".into(),
            status: Some(400),
            body: Bytes::from(vec![b'a'; 2000]),
            attempts: vec![],
        };
        let dead = with_error_extensions(&event(), "http://sub/", &failure);
        assert_eq!(
            dead.get(ERROR_DEST),
            Some(&AttrValue::String("http://sub/".into()))
        );
        assert_eq!(dead.get(ERROR_CODE), Some(&AttrValue::Integer(400)));
        let data = dead.get(ERROR_DATA).unwrap().to_string();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert_eq!(decoded.len(), 1024);
    }
}
