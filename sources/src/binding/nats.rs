//! The NATS protocol binding: `ce-` headers (binary mode) or a JSON event as the payload
//! (structured mode), and the wrapping of messages that are not CloudEvents.
//!
//! - Structured mode: a `Content-Type` header of `application/cloudevents+json`, or — as servers
//!   before NATS 2.2 had no headers, so every CloudEvent was structured — a message without
//!   CloudEvents headers whose payload is a valid JSON CloudEvent.
//! - Binary mode: a `ce-specversion` header. Header names are case-insensitive; values are
//!   percent-encoded exactly as in the HTTP binding (so the HTTP codec decodes them);
//!   `datacontenttype` travels as `ce-datacontenttype` (a plain `Content-Type` is accepted when
//!   that header is absent).
//! - [`wrap`] turns any other message into a `dev.herald.nats.event` whose `subject` is the NATS
//!   subject and whose `id` the caller chooses (a stable one for JetStream: the stream sequence).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use herald_cloudevent::{Event, SpecVersion, http as ce_http, json};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::{
    BindingError, STRUCTURED_CONTENT_TYPE, is_structured_json, rfc3339, set_wrapped_content_type,
    wrapped_data,
};

/// Type of a wrapped message.
pub const WRAPPED_TYPE: &str = "dev.herald.nats.event";
/// The header carrying `datacontenttype` in binary mode.
pub const DATACONTENTTYPE_HEADER: &str = "ce-datacontenttype";

/// A NATS message's headers (in order) and payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatsMessage {
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

impl NatsMessage {
    /// The first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a wrapped message's event is built from besides the message itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrapInfo<'a> {
    /// The `source` attribute.
    pub source: &'a str,
    /// The NATS subject the message was published to.
    pub subject: &'a str,
    /// The `id` attribute.
    pub id: String,
    /// When the server stored the message (JetStream), for `time`.
    pub time: Option<DateTime<Utc>>,
}

/// Decodes a message that carries a CloudEvent; `Ok(None)` when it does not claim to.
pub fn decode(message: &NatsMessage) -> Result<Option<Event>, BindingError> {
    if message
        .header("content-type")
        .is_some_and(is_structured_json)
    {
        return Ok(Some(json::from_json(&message.payload)?));
    }
    if message.header("ce-specversion").is_some() {
        return decode_binary(message).map(Some);
    }
    let has_ce_headers = message
        .headers
        .iter()
        .any(|(name, _)| starts_with_ignore_case(name, "ce-"));
    if !has_ce_headers && looks_like_json_event(&message.payload) {
        // Pre-2.2 style structured mode; a payload that does not parse is simply not an event.
        return Ok(json::from_json(&message.payload).ok());
    }
    Ok(None)
}

fn decode_binary(message: &NatsMessage) -> Result<Event, BindingError> {
    let mut headers = HeaderMap::with_capacity(message.headers.len());
    let mut content_type = None;
    let mut plain_content_type = None;
    for (name, value) in &message.headers {
        let lower = name.to_ascii_lowercase();
        if lower == DATACONTENTTYPE_HEADER {
            content_type = Some(value);
        } else if lower == "content-type" {
            plain_content_type = Some(value);
        } else if let Some(attribute) = lower.strip_prefix("ce-") {
            let invalid = |reason: &str| BindingError::Value {
                attribute: attribute.to_owned(),
                reason: reason.to_owned(),
            };
            let header = HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| invalid("the header name is not a valid attribute name"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid("the header value is not visible ASCII"))?;
            if headers.insert(header, value).is_some() {
                return Err(BindingError::Duplicate(attribute.to_owned()));
            }
        }
    }
    if let Some(content_type) = content_type.or(plain_content_type) {
        let value = HeaderValue::from_str(content_type).map_err(|_| BindingError::Value {
            attribute: "datacontenttype".to_owned(),
            reason: "the header value is not visible ASCII".to_owned(),
        })?;
        headers.insert(CONTENT_TYPE, value);
    }
    let (_, events) = ce_http::decode_request(&headers, message.payload.clone())?;
    events
        .into_iter()
        .next()
        .ok_or_else(|| BindingError::Value {
            attribute: "datacontenttype".to_owned(),
            reason: "a batch media type cannot label a binary-mode event".to_owned(),
        })
}

/// A cheap test before trying to parse a header-less payload as a JSON event.
fn looks_like_json_event(payload: &[u8]) -> bool {
    payload.trim_ascii_start().first() == Some(&b'{')
        && payload.windows(13).any(|w| w == b"\"specversion\"")
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The event of any message: its CloudEvent, or the message wrapped when it carries none or an
/// invalid one.
pub fn to_event(message: &NatsMessage, info: WrapInfo<'_>) -> Event {
    match decode(message) {
        Ok(Some(event)) => event,
        Ok(None) => wrap(message, info),
        Err(err) => {
            tracing::warn!(
                subject = info.subject,
                error = %err,
                "message claims to be a CloudEvent but is not valid; wrapping it"
            );
            wrap(message, info)
        }
    }
}

/// Wraps a message: type [`WRAPPED_TYPE`], the given source and id, `subject` = the NATS
/// subject, `time` when known, `datacontenttype` from a valid `Content-Type` header, the payload
/// as data.
pub fn wrap(message: &NatsMessage, info: WrapInfo<'_>) -> Event {
    let mut event = Event::new(SpecVersion::V10, info.id, info.source, WRAPPED_TYPE);
    event.set("subject", info.subject.into());
    if let Some(time) = info.time {
        event.set("time", rfc3339(time).into());
    }
    set_wrapped_content_type(&mut event, message.header("content-type"));
    event.set_data(wrapped_data(&message.payload));
    event
}

/// Encodes an event in binary mode: `ce-` headers with percent-encoded values,
/// `datacontenttype` as `ce-datacontenttype`, the data as the payload.
pub fn encode_binary(event: &Event) -> NatsMessage {
    let (headers, payload) = ce_http::encode_binary(event);
    let headers = headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?.to_owned();
            let name = if name == CONTENT_TYPE {
                DATACONTENTTYPE_HEADER.to_owned()
            } else {
                name.as_str().to_owned()
            };
            Some((name, value))
        })
        .collect();
    NatsMessage { headers, payload }
}

/// Encodes an event in structured mode: `Content-Type: application/cloudevents+json` and the
/// JSON event format as the payload.
pub fn encode_structured(event: &Event) -> NatsMessage {
    NatsMessage {
        headers: vec![(
            "Content-Type".to_owned(),
            STRUCTURED_CONTENT_TYPE.to_owned(),
        )],
        payload: Bytes::from(json::to_json(event)),
    }
}

#[cfg(test)]
mod tests {
    use herald_cloudevent::{AttrValue, Data};

    use super::*;

    fn sample() -> Event {
        let mut event = Event::new(SpecVersion::V10, "id 1", "/src", "com.example.t");
        event.set("subject", "Euro \u{20AC}".into());
        event.set("datacontenttype", "text/plain".into());
        event.set_data(Some(Data::Binary(Bytes::from_static(b"hi"))));
        event
    }

    fn info() -> WrapInfo<'static> {
        WrapInfo {
            source: "/apis/v1/namespaces/ns/natssources/n",
            subject: "orders.new",
            id: "stream:S/sequence:7".to_owned(),
            time: None,
        }
    }

    #[test]
    fn binary_round_trip_percent_encodes() {
        let event = sample();
        let message = encode_binary(&event);
        assert_eq!(message.header("ce-subject"), Some("Euro%20%E2%82%AC"));
        assert_eq!(message.header("ce-id"), Some("id%201"));
        assert_eq!(message.header("ce-datacontenttype"), Some("text/plain"));
        assert_eq!(message.header("content-type"), None);
        let decoded = decode(&message).unwrap().unwrap();
        assert_eq!(decoded.get_str("subject"), Some("Euro \u{20AC}"));
        assert_eq!(decoded.id(), "id 1");
        assert_eq!(decoded.datacontenttype(), Some("text/plain"));
        assert_eq!(decoded.data(), event.data());
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let message = NatsMessage {
            headers: vec![
                ("CE-SpecVersion".into(), "1.0".into()),
                ("Ce-Id".into(), "1".into()),
                ("ce-source".into(), "/s".into()),
                ("ce-type".into(), "t".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            payload: Bytes::from_static(b"{}"),
        };
        let event = decode(&message).unwrap().unwrap();
        assert_eq!(event.id(), "1");
        assert_eq!(event.datacontenttype(), Some("application/json"));
    }

    #[test]
    fn structured_with_and_without_content_type() {
        let mut event = sample();
        event.set("count", AttrValue::Integer(2));
        let message = encode_structured(&event);
        assert_eq!(decode(&message).unwrap().as_ref(), Some(&event));
        let bare = NatsMessage {
            headers: Vec::new(),
            payload: message.payload.clone(),
        };
        assert_eq!(decode(&bare).unwrap(), Some(event));
    }

    #[test]
    fn plain_messages_are_wrapped() {
        for payload in [&b"{\"specversion\": 1}"[..], b"{\"a\":1}", b"plain"] {
            let message = NatsMessage {
                headers: vec![("Content-Type".into(), "application/json".into())],
                payload: Bytes::copy_from_slice(payload),
            };
            assert_eq!(decode(&message).unwrap(), None, "{payload:?}");
            let event = to_event(&message, info());
            assert_eq!(event.ty(), WRAPPED_TYPE);
            assert_eq!(event.id(), "stream:S/sequence:7");
            assert_eq!(event.get_str("subject"), Some("orders.new"));
            assert_eq!(event.datacontenttype(), Some("application/json"));
            assert_eq!(event.data().unwrap().bytes(), payload);
        }
    }

    #[test]
    fn invalid_binary_events_are_wrapped() {
        let message = NatsMessage {
            headers: vec![("ce-specversion".into(), "1.0".into())],
            payload: Bytes::new(),
        };
        assert!(decode(&message).is_err());
        let event = to_event(&message, info());
        assert_eq!(event.ty(), WRAPPED_TYPE);
        assert_eq!(event.data(), None);
    }
}
