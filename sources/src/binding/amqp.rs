//! The AMQP protocol binding: attributes as `cloudEvents_`/`cloudEvents:` application
//! properties (binary mode) or an `application/cloudevents+json` body (structured mode). RabbitMQ
//! (AMQP 0-9-1) carries the same names in message headers; the RabbitMQ adapter converts its
//! header table to and from [`AmqpMessage`].
//!
//! - Binary mode is recognised by a `cloudEvents_specversion` or `cloudEvents:specversion`
//!   property; both separators are read (a message mixing them for one attribute is invalid) and
//!   `_` is written, as the binding recommends for JMS compatibility.
//! - The AMQP `content-type` maps to `datacontenttype`.
//! - Typed values: strings stay strings, `long` becomes an Integer (it must fit the CloudEvents
//!   Integer range), `boolean` a Boolean, `timestamp` an RFC 3339 string and `binary` its base64
//!   form. Encoding writes Integers as `long`, Booleans as `boolean` and everything else in its
//!   canonical string form (so `time` keeps its exact spelling).
//! - [`wrap`] builds Knative's `dev.knative.rabbitmq.event` for messages that are not
//!   CloudEvents: id = the `message-id` property (a fresh UUID without one), subject = the id,
//!   time = the `timestamp` property, the content type and body as data.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use herald_cloudevent::{AttrValue, Data, Event, SpecVersion, json};

use super::{
    BindingError, STRUCTURED_CONTENT_TYPE, binary_body, event_from_attributes, is_structured_json,
    rfc3339_millis, set_wrapped_content_type, wrapped_data,
};

/// Type of a wrapped RabbitMQ message (Knative eventing-rabbitmq).
pub const WRAPPED_TYPE: &str = "dev.knative.rabbitmq.event";
/// The property prefix this crate writes.
pub const PROPERTY_PREFIX: &str = "cloudEvents_";
/// The alternative prefix the binding allows.
pub const ALTERNATIVE_PREFIX: &str = "cloudEvents:";

/// An AMQP value of an application property (or RabbitMQ header), reduced to the types the
/// binding maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmqpValue {
    String(String),
    Long(i64),
    Boolean(bool),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Binary(Bytes),
}

/// An AMQP message: its content type, application properties and body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AmqpMessage {
    pub content_type: Option<String>,
    pub properties: Vec<(String, AmqpValue)>,
    pub body: Bytes,
}

/// Message properties a wrapped event is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrapInfo<'a> {
    /// The `source` attribute.
    pub source: &'a str,
    /// The `message-id` property.
    pub message_id: Option<&'a str>,
    /// The `timestamp` property, milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
}

/// The attribute a property name carries, if it is a CloudEvents property.
fn attribute_name(property: &str) -> Option<&str> {
    property
        .strip_prefix(PROPERTY_PREFIX)
        .or_else(|| property.strip_prefix(ALTERNATIVE_PREFIX))
}

/// Decodes a message that carries a CloudEvent; `Ok(None)` when it does not claim to.
pub fn decode(message: &AmqpMessage) -> Result<Option<Event>, BindingError> {
    if message
        .content_type
        .as_deref()
        .is_some_and(is_structured_json)
    {
        return Ok(Some(json::from_json(&message.body)?));
    }
    let is_binary = message
        .properties
        .iter()
        .any(|(name, _)| attribute_name(name) == Some("specversion"));
    if !is_binary {
        return Ok(None);
    }
    let mut attributes = Vec::with_capacity(message.properties.len() + 1);
    for (name, value) in &message.properties {
        if let Some(attribute) = attribute_name(name) {
            attributes.push((attribute.to_owned(), attribute_value(attribute, value)?));
        }
    }
    if let Some(content_type) = &message.content_type {
        attributes.push(("datacontenttype".to_owned(), content_type.as_str().into()));
    }
    let data = (!message.body.is_empty()).then(|| Data::Binary(message.body.clone()));
    event_from_attributes(attributes, data).map(Some)
}

fn attribute_value(attribute: &str, value: &AmqpValue) -> Result<AttrValue, BindingError> {
    Ok(match value {
        AmqpValue::String(s) => AttrValue::String(s.clone()),
        AmqpValue::Long(n) => {
            AttrValue::Integer(i32::try_from(*n).map_err(|_| BindingError::Value {
                attribute: attribute.to_owned(),
                reason: format!("{n} is outside the CloudEvents Integer range"),
            })?)
        }
        AmqpValue::Boolean(b) => AttrValue::Boolean(*b),
        AmqpValue::Timestamp(ms) => {
            AttrValue::String(rfc3339_millis(*ms).ok_or_else(|| BindingError::Value {
                attribute: attribute.to_owned(),
                reason: format!("timestamp {ms} ms is out of range"),
            })?)
        }
        AmqpValue::Binary(bytes) => AttrValue::String(STANDARD.encode(bytes)),
    })
}

/// The event of any message: its CloudEvent, or the message wrapped when it carries none or an
/// invalid one.
pub fn to_event(message: &AmqpMessage, info: WrapInfo<'_>) -> Event {
    match decode(message) {
        Ok(Some(event)) => event,
        Ok(None) => wrap(message, info),
        Err(err) => {
            tracing::warn!(
                error = %err,
                "message claims to be a CloudEvent but is not valid; wrapping it"
            );
            wrap(message, info)
        }
    }
}

/// Wraps a message as Knative's RabbitmqSource does (see the module docs).
pub fn wrap(message: &AmqpMessage, info: WrapInfo<'_>) -> Event {
    let id = info
        .message_id
        .filter(|id| !id.is_empty())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let mut event = Event::new(SpecVersion::V10, id.clone(), info.source, WRAPPED_TYPE);
    event.set("subject", id.into());
    if let Some(time) = info.timestamp_ms.and_then(rfc3339_millis) {
        event.set("time", time.into());
    }
    set_wrapped_content_type(&mut event, message.content_type.as_deref());
    event.set_data(wrapped_data(&message.body));
    event
}

/// Encodes an event in binary mode: `cloudEvents_` properties, `datacontenttype` as the
/// content type, the data as the body.
pub fn encode_binary(event: &Event) -> AmqpMessage {
    let (content_type, body) = binary_body(event);
    let properties = event
        .attributes()
        .filter(|(name, _)| *name != "datacontenttype")
        .map(|(name, value)| {
            let value = match value {
                AttrValue::String(s) => AmqpValue::String(s.clone()),
                AttrValue::Integer(i) => AmqpValue::Long(i64::from(*i)),
                AttrValue::Boolean(b) => AmqpValue::Boolean(*b),
            };
            (format!("{PROPERTY_PREFIX}{name}"), value)
        })
        .collect();
    AmqpMessage {
        content_type,
        properties,
        body: body.unwrap_or_default(),
    }
}

/// Encodes an event in structured mode: the JSON event format as the body.
pub fn encode_structured(event: &Event) -> AmqpMessage {
    AmqpMessage {
        content_type: Some(STRUCTURED_CONTENT_TYPE.to_owned()),
        properties: Vec::new(),
        body: Bytes::from(json::to_json(event)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut event = Event::new(SpecVersion::V10, "id-1", "/src", "com.example.t");
        event.set("time", "2018-04-05T03:56:24.120Z".into());
        event.set("count", AttrValue::Integer(-4));
        event.set("flag", AttrValue::Boolean(true));
        event.set("datacontenttype", "application/json".into());
        event.set_data(Some(Data::Json(Bytes::from_static(b"[1, 2]"))));
        event
    }

    #[test]
    fn binary_round_trip_keeps_types() {
        let event = sample();
        let message = encode_binary(&event);
        assert_eq!(message.content_type.as_deref(), Some("application/json"));
        assert!(
            message
                .properties
                .contains(&("cloudEvents_count".to_owned(), AmqpValue::Long(-4)))
        );
        assert!(
            message
                .properties
                .contains(&("cloudEvents_flag".to_owned(), AmqpValue::Boolean(true)))
        );
        let decoded = decode(&message).unwrap().unwrap();
        assert_eq!(decoded.get("count"), Some(&AttrValue::Integer(-4)));
        assert_eq!(decoded.get("flag"), Some(&AttrValue::Boolean(true)));
        assert_eq!(decoded.get_str("time"), Some("2018-04-05T03:56:24.120Z"));
        assert_eq!(decoded.datacontenttype(), Some("application/json"));
        assert_eq!(decoded.data().unwrap().bytes(), &b"[1, 2]"[..]);
    }

    #[test]
    fn colon_separator_and_native_types_are_read() {
        let message = AmqpMessage {
            content_type: None,
            properties: vec![
                (
                    "cloudEvents:specversion".into(),
                    AmqpValue::String("1.0".into()),
                ),
                ("cloudEvents:id".into(), AmqpValue::String("9".into())),
                ("cloudEvents:source".into(), AmqpValue::String("/s".into())),
                ("cloudEvents:type".into(), AmqpValue::String("t".into())),
                (
                    "cloudEvents:time".into(),
                    AmqpValue::Timestamp(1_700_000_000_500),
                ),
                (
                    "cloudEvents:sig".into(),
                    AmqpValue::Binary(Bytes::from_static(&[1, 2])),
                ),
                ("other".into(), AmqpValue::Long(1)),
            ],
            body: Bytes::new(),
        };
        let event = decode(&message).unwrap().unwrap();
        assert_eq!(event.get_str("time"), Some("2023-11-14T22:13:20.500Z"));
        assert_eq!(event.get_str("sig"), Some("AQI="));
        assert_eq!(event.get("other"), None);
        assert_eq!(event.data(), None);
    }

    #[test]
    fn invalid_messages() {
        let mixed = AmqpMessage {
            content_type: None,
            properties: vec![
                (
                    "cloudEvents_specversion".into(),
                    AmqpValue::String("1.0".into()),
                ),
                (
                    "cloudEvents:specversion".into(),
                    AmqpValue::String("1.0".into()),
                ),
            ],
            body: Bytes::new(),
        };
        assert!(matches!(decode(&mixed), Err(BindingError::Duplicate(_))));
        let big = AmqpMessage {
            content_type: None,
            properties: vec![
                (
                    "cloudEvents_specversion".into(),
                    AmqpValue::String("1.0".into()),
                ),
                ("cloudEvents_n".into(), AmqpValue::Long(1 << 40)),
            ],
            body: Bytes::new(),
        };
        assert!(matches!(decode(&big), Err(BindingError::Value { .. })));
    }

    #[test]
    fn structured_round_trip_is_exact() {
        let event = sample();
        assert_eq!(decode(&encode_structured(&event)).unwrap(), Some(event));
    }

    #[test]
    fn wrapping_follows_knative() {
        let source = "/apis/v1/namespaces/ns/rabbitmqsources/r#q";
        let message = AmqpMessage {
            content_type: Some("text/plain".into()),
            properties: vec![("x".into(), AmqpValue::String("y".into()))],
            body: Bytes::from_static(b"hello"),
        };
        let event = to_event(
            &message,
            WrapInfo {
                source,
                message_id: Some("m-1"),
                timestamp_ms: Some(1_700_000_000_000),
            },
        );
        assert_eq!(event.ty(), WRAPPED_TYPE);
        assert_eq!((event.id(), event.source()), ("m-1", source));
        assert_eq!(event.get_str("subject"), Some("m-1"));
        assert_eq!(event.get_str("time"), Some("2023-11-14T22:13:20Z"));
        assert_eq!(event.datacontenttype(), Some("text/plain"));
        assert_eq!(event.data().unwrap().bytes(), &b"hello"[..]);

        let anonymous = wrap(
            &message,
            WrapInfo {
                source,
                message_id: None,
                timestamp_ms: None,
            },
        );
        assert_eq!(anonymous.id().len(), 36);
        assert_eq!(anonymous.get_str("subject"), Some(anonymous.id()));
        assert_eq!(anonymous.get("time"), None);
    }
}
