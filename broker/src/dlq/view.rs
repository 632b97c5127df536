//! Dead letters as the API shows them: a summary for lists, the full record for `GET {id}`.

use super::selection::Selected;
use super::time::rfc3339;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_cloudevent::{json as ce_json, record};
use herald_triggers::deadletter::stats::reason_category;
use serde_json::{Value, json};

/// The fields a list shows.
pub fn summary(selected: &Selected) -> Value {
    let e = &selected.entry;
    json!({
        "id": selected.name(),
        "scope": selected.scope,
        "origin": e.origin,
        "from": e.origin.label(),
        "destination": e.destination,
        "eventId": e.event_id,
        "eventType": e.event_type,
        "eventSource": e.event_source,
        "reason": e.reason,
        "reasonCategory": reason_category(&e.reason),
        "lastStatus": e.last_status(),
        "attempts": e.attempts.len(),
        "created": rfc3339(e.created_ms),
        "deliveredToDeadLetterSink": e.delivered_to_dead_letter_sink,
        "replays": e.replays.len(),
        "resolved": e.resolved,
    })
}

/// Everything kept: the event (as JSON, and byte-exact as stored), every attempt, the last
/// response body and the replay history.
pub fn detail(selected: &Selected) -> Value {
    let e = &selected.entry;
    let mut value = summary(selected);
    value["event"] = match record::decode(&e.event) {
        Ok(event) => serde_json::from_slice(&ce_json::to_json(&event)).unwrap_or(Value::Null),
        Err(err) => json!({ "undecodable": err.to_string() }),
    };
    value["eventRecord"] = json!(STANDARD.encode(&e.event));
    value["attempts"] = e
        .attempts
        .iter()
        .map(|a| {
            json!({
                "at": rfc3339(a.at_ms),
                "status": a.status,
                "error": a.error,
                "latencyMs": a.latency_ms,
            })
        })
        .collect();
    value["responseBody"] = json!(String::from_utf8_lossy(&e.response_body));
    value["replays"] = e
        .replays
        .iter()
        .map(|r| {
            json!({
                "at": rfc3339(r.at_ms),
                "to": r.to,
                "outcome": r.outcome,
                "replayId": r.replay_id,
            })
        })
        .collect();
    value
}
