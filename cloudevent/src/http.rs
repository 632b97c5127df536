//! The CloudEvents HTTP protocol binding: choosing the content mode from `Content-Type`,
//! decoding requests and responses, and encoding events in binary or structured mode.
//!
//! Mode selection (binding 3): a `Content-Type` starting with `application/cloudevents-batch` is
//! batched mode, one starting with `application/cloudevents` is structured mode (only the `+json`
//! format is supported; others are [`DecodeError::UnsupportedMediaType`]), anything else is
//! binary mode.

mod binary;
mod header_value;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

pub use crate::decode_error::DecodeError;
use crate::event::Event;
use crate::{json, media_type};

/// Media type of a structured-mode JSON event.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Media type of a JSON batch of events.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// The content mode a message used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Attributes in `ce-` headers, data as the body.
    Binary,
    /// One JSON event as the body.
    Structured,
    /// A JSON array of events as the body.
    Batch,
}

/// What the `Content-Type` header says about the message.
enum ContentKind {
    Structured,
    Batch,
    /// A CloudEvents media type in a format other than JSON.
    UnsupportedFormat(String),
    /// Not a CloudEvents media type (or no `Content-Type`): binary mode.
    Other,
}

fn content_kind(headers: &HeaderMap) -> ContentKind {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return ContentKind::Other;
    };
    let essence = media_type::essence(content_type);
    let (expected, kind) =
        if media_type::starts_with_ignore_case(essence, "application/cloudevents-batch") {
            (BATCH_CONTENT_TYPE, ContentKind::Batch)
        } else if media_type::starts_with_ignore_case(essence, "application/cloudevents") {
            (STRUCTURED_CONTENT_TYPE, ContentKind::Structured)
        } else {
            return ContentKind::Other;
        };
    if essence.eq_ignore_ascii_case(expected) {
        kind
    } else {
        ContentKind::UnsupportedFormat(content_type.to_owned())
    }
}

/// Decodes the events of an HTTP request in whichever mode it uses. A batch may hold zero events.
pub fn decode_request(headers: &HeaderMap, body: Bytes) -> Result<(Mode, Vec<Event>), DecodeError> {
    match content_kind(headers) {
        ContentKind::Structured => Ok((Mode::Structured, vec![json::from_json_shared(&body)?])),
        ContentKind::Batch => Ok((Mode::Batch, json::batch_from_json_shared(&body)?)),
        ContentKind::UnsupportedFormat(content_type) => {
            Err(DecodeError::UnsupportedMediaType(content_type))
        }
        ContentKind::Other => Ok((Mode::Binary, vec![binary::decode(headers, body)?])),
    }
}

/// Decodes the event in an HTTP response (e.g. a subscriber's reply). `Ok(None)` when the
/// response carries no CloudEvent: no `ce-specversion` header and either a non-CloudEvents
/// content type or an empty body.
pub fn decode_response(headers: &HeaderMap, body: Bytes) -> Result<Option<Event>, DecodeError> {
    let has_specversion = headers.contains_key("ce-specversion");
    let kind = content_kind(headers);
    if !has_specversion && (body.is_empty() || matches!(kind, ContentKind::Other)) {
        return Ok(None);
    }
    match kind {
        ContentKind::Structured => Ok(Some(json::from_json_shared(&body)?)),
        ContentKind::Batch => Err(DecodeError::UnexpectedBatch),
        ContentKind::UnsupportedFormat(content_type) => {
            Err(DecodeError::UnsupportedMediaType(content_type))
        }
        ContentKind::Other => Ok(Some(binary::decode(headers, body)?)),
    }
}

/// Encodes an event in binary mode. Attribute values are percent-encoded; `datacontenttype`
/// goes to `Content-Type`. [`Data::Json`](crate::Data::Json) is sent as its JSON text, except
/// that a JSON string under a non-JSON `datacontenttype` is sent unescaped (it holds the
/// content itself); without a `datacontenttype`, JSON data is labelled `application/json`.
///
/// Assumes a valid event (see [`Event::validate`]).
pub fn encode_binary(event: &Event) -> (HeaderMap, Bytes) {
    binary::encode(event)
}

/// Writes the header lines (`name: value\r\n`) of the event's binary-mode message to `head` and
/// returns its body: [`encode_binary`] for a client that writes its own HTTP/1.1 request head.
pub fn write_binary(event: &Event, head: &mut Vec<u8>) -> Bytes {
    binary::write_head(event, head)
}

/// Writes the `Content-Type` line of the event's structured-mode message to `head` and returns
/// its body, as [`encode_structured`] encodes them.
pub fn write_structured(event: &Event, head: &mut Vec<u8>) -> Bytes {
    put_line(
        head,
        CONTENT_TYPE.as_str().as_bytes(),
        STRUCTURED_CONTENT_TYPE.as_bytes(),
    );
    Bytes::from(json::to_json(event))
}

/// Appends the header line `name: value\r\n`.
fn put_line(head: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    head.extend_from_slice(name);
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

/// Encodes an event in structured mode as `application/cloudevents+json`.
pub fn encode_structured(event: &Event) -> (HeaderMap, Bytes) {
    json_message(STRUCTURED_CONTENT_TYPE, json::to_json(event))
}

/// Encodes events in batched mode as `application/cloudevents-batch+json`.
pub fn encode_batch(events: &[Event]) -> (HeaderMap, Bytes) {
    json_message(BATCH_CONTENT_TYPE, json::batch_to_json(events))
}

fn json_message(content_type: &'static str, body: Vec<u8>) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    (headers, Bytes::from(body))
}
