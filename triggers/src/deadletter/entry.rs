//! One dead letter: the original event byte-exact, where it failed, every attempt, the last
//! response, the reason, and what happened to it since (dead-letter sink, replays).

use crate::delivery::AttemptRecord;
use serde::{Deserialize, Serialize};
use std::time::UNIX_EPOCH;

/// Where the dead letter came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Origin {
    /// A Trigger of a broker.
    Trigger {
        namespace: String,
        broker: String,
        trigger: String,
    },
    /// A source (`kind/namespace/name`).
    Source { source: String },
}

impl Origin {
    /// The namespace of the Trigger, or of the source (`kind/namespace/name`).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Origin::Trigger { namespace, .. } => Some(namespace),
            Origin::Source { source } => source.split('/').nth(1),
        }
    }

    /// A short label: `namespace/trigger` for a Trigger, `kind/namespace/name` for a source.
    pub fn label(&self) -> String {
        match self {
            Origin::Trigger {
                namespace, trigger, ..
            } => format!("{namespace}/{trigger}"),
            Origin::Source { source } => source.clone(),
        }
    }
}

/// One delivery attempt, as kept in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptInfo {
    /// When the attempt started, ms since the Unix epoch.
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
}

impl From<&AttemptRecord> for AttemptInfo {
    fn from(a: &AttemptRecord) -> AttemptInfo {
        AttemptInfo {
            at_ms: a
                .at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            status: a.status,
            error: a.error.clone(),
            latency_ms: a.latency.as_millis() as u64,
        }
    }
}

/// One replay of a dead letter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayInfo {
    pub at_ms: i64,
    /// Where it was sent (a Trigger or a URL).
    pub to: String,
    /// `delivered` or `failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<String>,
}

/// A dead-lettered event and its history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Time-ordered unique id.
    pub id: String,
    pub origin: Origin,
    /// The destination that failed (subscriber URL).
    pub destination: String,
    /// The original event in the log's record encoding (byte-exact), base64 in JSON.
    #[serde(with = "base64_bytes")]
    pub event: bytes::Bytes,
    /// The event's id, type and source, for listing without decoding.
    pub event_id: String,
    pub event_type: String,
    pub event_source: String,
    pub attempts: Vec<AttemptInfo>,
    /// The last response body, at most [`MAX_RESPONSE_BODY`] bytes.
    #[serde(with = "base64_bytes")]
    pub response_body: bytes::Bytes,
    /// Why the event was dead-lettered.
    pub reason: String,
    /// Whether the `deadLetterSink` accepted it.
    pub delivered_to_dead_letter_sink: bool,
    /// When it was dead-lettered, ms since the Unix epoch.
    pub created_ms: i64,
    #[serde(default)]
    pub replays: Vec<ReplayInfo>,
    /// A replay delivered it.
    #[serde(default)]
    pub resolved: bool,
}

impl DeadLetter {
    /// The HTTP status of the last attempt, when it got an answer.
    pub fn last_status(&self) -> Option<u16> {
        self.attempts.last().and_then(|a| a.status)
    }
}

/// The most of the last response body kept with a dead letter.
pub const MAX_RESPONSE_BODY: usize = 1024;

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &bytes::Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bytes::Bytes, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text)
            .map(bytes::Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}
