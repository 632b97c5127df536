//! Binary content mode: attributes in `ce-` headers, `datacontenttype` in `Content-Type`, data
//! as the body.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::{header_value, put_line};
use crate::event::{AttrValue, Data, Event, EventError, attr_name};
use crate::media_type;

/// Decodes a binary-mode message. Every attribute becomes an [`AttrValue::String`]; a non-empty
/// body becomes [`Data::Binary`].
pub(super) fn decode(headers: &HeaderMap, body: Bytes) -> Result<Event, EventError> {
    let mut attributes = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if let Some(attribute) = name.as_str().strip_prefix("ce-") {
            if attribute == "datacontenttype" {
                return Err(EventError::new(
                    attribute,
                    "must be carried in the Content-Type header, not ce-datacontenttype",
                ));
            }
            let value = header_value::decode(value.as_bytes())
                .map_err(|reason| EventError::new(attribute, reason))?;
            attributes.push((attr_name(attribute), AttrValue::String(value)));
        } else if name == CONTENT_TYPE {
            let value = value.to_str().map_err(|_| {
                EventError::new(
                    "datacontenttype",
                    "Content-Type header is not visible ASCII",
                )
            })?;
            attributes.push((
                Cow::Borrowed("datacontenttype"),
                AttrValue::String(value.trim().to_owned()),
            ));
        }
    }
    let data = (!body.is_empty()).then_some(Data::Binary(body));
    Event::from_decoded(attributes, data)
}

/// One header of a binary-mode message, before it is made a header.
enum Line<'a> {
    /// `Content-Type`: the `datacontenttype`, or `application/json` for JSON data without one.
    ContentType(Cow<'a, str>),
    /// `ce-<name>` carrying an attribute's canonical string form (not yet escaped).
    Attribute(&'a str, Cow<'a, str>),
}

/// Calls `line` for each header of the event's binary-mode message and returns its body.
fn each_line<'a>(event: &'a Event, mut line: impl FnMut(Line<'a>)) -> Bytes {
    for (name, value) in event.attributes() {
        let text = match value.as_str() {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(value.to_string()),
        };
        if name == "datacontenttype" {
            line(Line::ContentType(text));
        } else {
            line(Line::Attribute(name, text));
        }
    }
    match event.data() {
        None => Bytes::new(),
        Some(Data::Binary(bytes)) => bytes.clone(),
        Some(Data::Json(raw)) => {
            let content_type = event.datacontenttype();
            if content_type.is_none() {
                // The JSON format implies application/json; make it explicit (JSON format 3.1.2).
                line(Line::ContentType(Cow::Borrowed("application/json")));
            }
            json_body(content_type, raw)
        }
    }
}

/// Encodes an event in binary mode. Assumes a valid event: attributes whose name cannot form a
/// header name, and a `datacontenttype` that is not a valid header value, are left out.
pub(super) fn encode(event: &Event) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::with_capacity(event.attribute_count() + 1);
    let body = each_line(event, |line| match line {
        Line::ContentType(text) => {
            if let Ok(content_type) = HeaderValue::from_str(&text) {
                headers.insert(CONTENT_TYPE, content_type);
            }
        }
        Line::Attribute(name, text) => {
            if let Some(header) = header_name(name) {
                headers.insert(header, header_value::encode(&text));
            }
        }
    });
    (headers, body)
}

/// Writes the event's binary-mode header lines (`name: value\r\n`) to `head`, leaving out what
/// [`encode`] leaves out, and returns the body.
pub(super) fn write_head(event: &Event, head: &mut Vec<u8>) -> Bytes {
    each_line(event, |line| match line {
        Line::ContentType(text) => {
            if header_value::is_valid(text.as_bytes()) {
                put_line(head, b"content-type", text.as_bytes());
            }
        }
        Line::Attribute(name, text) => {
            if let Some(known) = known_header(name) {
                put_line(
                    head,
                    known.as_bytes(),
                    header_value::escape(&text).as_bytes(),
                );
            } else if media_type::is_token(name) {
                let start = head.len();
                head.extend_from_slice(b"ce-");
                head.extend_from_slice(name.as_bytes());
                head[start..].make_ascii_lowercase();
                head.extend_from_slice(b": ");
                head.extend_from_slice(header_value::escape(&text).as_bytes());
                head.extend_from_slice(b"\r\n");
            }
        }
    })
}

/// Body for JSON-format data: the raw JSON text for JSON content types; for other content types
/// a JSON string holds the encoded content itself, so the body is the unescaped string.
fn json_body(content_type: Option<&str>, raw: &Bytes) -> Bytes {
    if content_type.is_none_or(media_type::is_json) {
        return raw.clone();
    }
    match serde_json::from_slice::<String>(raw) {
        Ok(text) => Bytes::from(text),
        Err(_) => raw.clone(),
    }
}

/// `ce-<name>`, using static names for the common attributes and the extensions a broker stamps
/// on every event.
fn header_name(attribute: &str) -> Option<HeaderName> {
    if let Some(known) = known_header(attribute) {
        return Some(HeaderName::from_static(known));
    }
    let mut name = Vec::with_capacity(3 + attribute.len());
    name.extend_from_slice(b"ce-");
    name.extend_from_slice(attribute.as_bytes());
    HeaderName::from_bytes(&name).ok()
}

/// The header of a common attribute, or of an extension a broker stamps on every event.
fn known_header(attribute: &str) -> Option<&'static str> {
    Some(match attribute {
        "specversion" => "ce-specversion",
        "id" => "ce-id",
        "source" => "ce-source",
        "type" => "ce-type",
        "subject" => "ce-subject",
        "time" => "ce-time",
        "dataschema" => "ce-dataschema",
        "traceparent" => "ce-traceparent",
        "tracestate" => "ce-tracestate",
        "knativearrivaltime" => "ce-knativearrivaltime",
        "knativebrokerttl" => "ce-knativebrokerttl",
        _ => return None,
    })
}
