//! CloudEvents protocol bindings for the systems sources read from — [`kafka`], [`nats`] and
//! [`amqp`] (RabbitMQ's AMQP 0-9-1 headers use the AMQP application-property names) — in both
//! directions and both content modes, plus the wrapping of messages that are not CloudEvents.
//!
//! Each binding works on a plain message type of its own (no client-library types), so it can be
//! tested without a broker and reused by producers. Decoding returns:
//! - `Ok(Some(event))` for a CloudEvent (structured when the content type is
//!   `application/cloudevents+json`, binary when the CloudEvents headers are present);
//! - `Ok(None)` for a message that does not claim to be a CloudEvent;
//! - `Err` for a message that claims to be one but is not valid.
//!
//! Sources wrap both of the latter (an invalid CloudEvent is logged and wrapped like any other
//! message, as Knative's KafkaSource does), so no message is ever dropped for its content.
//!
//! Attributes of a decoded event keep the order in which the message carried them, their exact
//! string values and the exact data bytes, so a CloudEvent passes through a source unchanged.

pub mod amqp;
pub mod kafka;
pub mod nats;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use herald_cloudevent::{AttrValue, Data, Event, EventError, SpecVersion};

/// The media type of a structured-mode JSON event.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// Why a message that claims to be a CloudEvent could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// An attribute is carried twice (for instance as `cloudEvents_id` and `cloudEvents:id`).
    #[error("attribute `{0}` is carried more than once")]
    Duplicate(String),
    /// A header or property value is not usable as the attribute's value.
    #[error("attribute `{attribute}`: {reason}")]
    Value {
        /// The attribute.
        attribute: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// The attributes do not form a valid CloudEvent.
    #[error("invalid CloudEvent: {0}")]
    Invalid(#[from] EventError),
    /// A structured-mode body, or binary-mode headers, could not be decoded.
    #[error("{0}")]
    Decode(#[from] herald_cloudevent::json::DecodeError),
}

/// Builds a validated event from attributes in arrival order and data. The event keeps exactly
/// that order (unlike [`Event::new`], which puts the required attributes first).
pub(crate) fn event_from_attributes(
    attributes: Vec<(String, AttrValue)>,
    data: Option<Data>,
) -> Result<Event, BindingError> {
    for (i, (name, _)) in attributes.iter().enumerate() {
        if attributes[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(BindingError::Duplicate(name.clone()));
        }
    }
    let mut event = Event::new(SpecVersion::V10, "", "", "");
    for required in ["specversion", "id", "source", "type"] {
        event.remove(required);
    }
    for (name, value) in attributes {
        event.set(name, value);
    }
    event.set_data(data);
    event.validate()?;
    Ok(event)
}

/// Whether a content type is the JSON event format: structured mode this crate can read.
pub(crate) fn is_structured_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(STRUCTURED_CONTENT_TYPE))
}

/// The data of `event` as a binary-mode message body, and the content type to label it with:
/// exactly what the HTTP binding sends (JSON data as its text, a JSON string under a non-JSON
/// content type unescaped, `application/json` for JSON data without a `datacontenttype`).
pub(crate) fn binary_body(event: &Event) -> (Option<String>, Option<Bytes>) {
    let (headers, body) = herald_cloudevent::http::encode_binary(event);
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (content_type, event.data().map(|_| body))
}

/// Whether `content_type` is acceptable as a `datacontenttype` (a media type Herald validates).
pub(crate) fn is_valid_content_type(content_type: &str) -> bool {
    let mut probe = Event::new(SpecVersion::V10, "probe", "/probe", "probe");
    probe.set("datacontenttype", content_type.into());
    probe.validate().is_ok()
}

/// An extension attribute name built from `prefix` and a foreign name: lowercased, with every
/// character outside `[a-z0-9]` removed (Knative's rule for `kafkaheader<name>`).
pub(crate) fn extension_name(prefix: &str, foreign: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + foreign.len());
    name.push_str(prefix);
    name.extend(
        foreign
            .chars()
            .map(|c| c.to_ascii_lowercase())
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
    );
    name
}

/// Bytes as an attribute string: the text when they are UTF-8, else their base64 (the canonical
/// string form of a CloudEvents Binary value).
pub(crate) fn text_or_base64(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => STANDARD.encode(bytes),
    }
}

/// RFC 3339 in UTC, with fractional seconds only when there are some (`2024-01-01T10:00:00Z`).
pub(crate) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A Unix time in milliseconds as RFC 3339, `None` when out of range.
pub(crate) fn rfc3339_millis(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(rfc3339)
}

/// Data for a wrapped message: the payload as binary data, none when empty.
pub(crate) fn wrapped_data(payload: &[u8]) -> Option<Data> {
    (!payload.is_empty()).then(|| Data::Binary(Bytes::copy_from_slice(payload)))
}

/// Sets `datacontenttype` on a wrapped event when the message's content type is a valid media
/// type; an invalid one is left out rather than making the event invalid.
pub(crate) fn set_wrapped_content_type(event: &mut Event, content_type: Option<&str>) {
    if let Some(content_type) = content_type.map(str::trim)
        && is_valid_content_type(content_type)
    {
        event.set("datacontenttype", content_type.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_arrival_order() {
        let event = event_from_attributes(
            vec![
                ("type".into(), "t".into()),
                ("myext".into(), "x".into()),
                ("id".into(), "1".into()),
                ("specversion".into(), "0.3".into()),
                ("source".into(), "/s".into()),
            ],
            None,
        )
        .unwrap();
        let names: Vec<&str> = event.attributes().map(|(n, _)| n).collect();
        assert_eq!(names, ["type", "myext", "id", "specversion", "source"]);
        assert_eq!(event.specversion(), SpecVersion::V03);
    }

    #[test]
    fn duplicates_and_missing_attributes_are_rejected() {
        let dup = event_from_attributes(
            vec![("id".into(), "1".into()), ("id".into(), "2".into())],
            None,
        );
        assert!(matches!(dup, Err(BindingError::Duplicate(name)) if name == "id"));
        let missing = event_from_attributes(vec![("id".into(), "1".into())], None);
        assert!(matches!(missing, Err(BindingError::Invalid(e)) if e.attribute == "specversion"));
    }

    #[test]
    fn helpers() {
        assert!(is_structured_json(
            "Application/CloudEvents+JSON; charset=utf-8"
        ));
        assert!(!is_structured_json("application/cloudevents+avro"));
        assert!(is_valid_content_type("text/plain; charset=utf-8"));
        assert!(!is_valid_content_type("not a type"));
        assert_eq!(
            extension_name("kafkaheader", "X-Trace_ID.2"),
            "kafkaheaderxtraceid2"
        );
        assert_eq!(text_or_base64(b"abc"), "abc");
        assert_eq!(text_or_base64(&[0xff, 0x00]), "/wA=");
        assert_eq!(
            rfc3339_millis(1_700_000_000_000).unwrap(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339_millis(1_700_000_000_123).unwrap(),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
