//! The Kafka protocol binding: records with `ce_` headers (binary mode) or an
//! `application/cloudevents+json` value (structured mode), and Knative's wrapping of records that
//! are not CloudEvents.
//!
//! - Structured mode is recognised by a `content-type` header of `application/cloudevents+json`;
//!   binary mode by a `ce_specversion` header. Header values are raw UTF-8 (no percent-encoding).
//! - In binary mode `content-type` maps to `datacontenttype` and the value is the data.
//! - The record key is the producer's business ([`partition_key`] is the opt-in key mapper that
//!   uses the `partitionkey` extension); decoding never turns the key into an attribute of a
//!   CloudEvent, so a CloudEvent record passes through unchanged.
//! - [`wrap`] turns any other record into a `dev.knative.kafka.event` exactly as Knative's
//!   KafkaSource does: source `/apis/v1/namespaces/{ns}/kafkasources/{name}#{topic}`, subject
//!   `partition:{p}#{offset}`, id `partition:{p}/offset:{offset}`, time = the record timestamp,
//!   the key as `key` and `partitionkey` (read as the source's [`KeyType`]), every header as
//!   `kafkaheader<name>` (name lowercased, reduced to `[a-z0-9]`) and `content-type` as
//!   `datacontenttype`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use herald_cloudevent::{AttrValue, Data, Event, SpecVersion, json};

use super::{
    BindingError, STRUCTURED_CONTENT_TYPE, binary_body, event_from_attributes, extension_name,
    is_structured_json, rfc3339_millis, set_wrapped_content_type, text_or_base64, wrapped_data,
};

/// Type of a wrapped record.
pub const WRAPPED_TYPE: &str = "dev.knative.kafka.event";
/// Prefix of binary-mode attribute headers.
pub const HEADER_PREFIX: &str = "ce_";
/// The header carrying the content type.
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// A Kafka record's key, headers (in order, values may be null) and value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaMessage {
    pub key: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub value: Option<Bytes>,
}

impl KafkaMessage {
    /// The first header named `name` (compared case-insensitively) that has a value.
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|(n, v)| n.eq_ignore_ascii_case(name) && v.is_some())
            .and_then(|(_, v)| v.as_ref())
    }
}

/// The label of a KafkaSource that says how record keys are read (Knative's).
pub const KEY_TYPE_LABEL: &str = "kafkasources.sources.knative.dev/key-type";

/// How a wrapped record's key becomes the `key`/`partitionkey` text ([`KEY_TYPE_LABEL`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyType {
    /// UTF-8 text (base64 when the bytes are not UTF-8). The default.
    #[default]
    String,
    /// A big-endian 32- or 64-bit signed integer, in decimal.
    Int,
    /// A big-endian 32- or 64-bit IEEE float, in decimal.
    Float,
    /// Raw bytes, in base64.
    ByteArray,
}

impl KeyType {
    /// The key type a label value names (`string`, `int`, `float`, `byte-array`).
    pub fn from_label(value: &str) -> Option<KeyType> {
        match value {
            "string" => Some(KeyType::String),
            "int" => Some(KeyType::Int),
            "float" => Some(KeyType::Float),
            "byte-array" => Some(KeyType::ByteArray),
            _ => None,
        }
    }

    /// The key as text; a key whose length does not fit the type is read as a string.
    pub fn text(self, key: &[u8]) -> String {
        let number = match (self, key.len()) {
            (KeyType::Int, 4) => key
                .try_into()
                .ok()
                .map(|b| i32::from_be_bytes(b).to_string()),
            (KeyType::Int, 8) => key
                .try_into()
                .ok()
                .map(|b| i64::from_be_bytes(b).to_string()),
            (KeyType::Float, 4) => key
                .try_into()
                .ok()
                .map(|b| f32::from_be_bytes(b).to_string()),
            (KeyType::Float, 8) => key
                .try_into()
                .ok()
                .map(|b| f64::from_be_bytes(b).to_string()),
            (KeyType::ByteArray, _) => Some(STANDARD.encode(key)),
            _ => None,
        };
        number.unwrap_or_else(|| text_or_base64(key))
    }
}

/// The KafkaSource a wrapped record is attributed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceRef<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub key_type: KeyType,
}

/// Where a record was read, for wrapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordPosition<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// The record timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
}

/// Decodes a record that carries a CloudEvent; `Ok(None)` when it does not claim to.
pub fn decode(message: &KafkaMessage) -> Result<Option<Event>, BindingError> {
    let content_type = message
        .header(CONTENT_TYPE_HEADER)
        .and_then(|v| std::str::from_utf8(v).ok());
    if content_type.is_some_and(is_structured_json) {
        let body = message.value.as_deref().unwrap_or_default();
        return Ok(Some(json::from_json(body)?));
    }
    let is_binary = message
        .headers
        .iter()
        .any(|(name, _)| name == "ce_specversion");
    if !is_binary {
        return Ok(None);
    }
    let mut attributes = Vec::with_capacity(message.headers.len());
    for (name, value) in &message.headers {
        let attribute = if let Some(attribute) = name.strip_prefix(HEADER_PREFIX) {
            attribute
        } else if name.eq_ignore_ascii_case(CONTENT_TYPE_HEADER) {
            "datacontenttype"
        } else {
            continue;
        };
        let value = value.as_deref().ok_or_else(|| BindingError::Value {
            attribute: attribute.to_owned(),
            reason: "the header has no value".to_owned(),
        })?;
        let value = std::str::from_utf8(value).map_err(|_| BindingError::Value {
            attribute: attribute.to_owned(),
            reason: "the header value is not UTF-8".to_owned(),
        })?;
        attributes.push((attribute.to_owned(), AttrValue::String(value.to_owned())));
    }
    let data = message
        .value
        .as_ref()
        .filter(|v| !v.is_empty())
        .map(|v| Data::Binary(v.clone()));
    event_from_attributes(attributes, data).map(Some)
}

/// The event of any record: its CloudEvent, or the record wrapped (see the module docs) when it
/// carries none or an invalid one.
pub fn to_event(
    message: &KafkaMessage,
    position: &RecordPosition<'_>,
    source: &SourceRef<'_>,
) -> Event {
    match decode(message) {
        Ok(Some(event)) => event,
        Ok(None) => wrap(message, position, source),
        Err(err) => {
            tracing::warn!(
                topic = position.topic,
                partition = position.partition,
                offset = position.offset,
                error = %err,
                "record claims to be a CloudEvent but is not valid; wrapping it"
            );
            wrap(message, position, source)
        }
    }
}

/// Wraps a record as Knative's KafkaSource does (see the module docs).
pub fn wrap(
    message: &KafkaMessage,
    position: &RecordPosition<'_>,
    source: &SourceRef<'_>,
) -> Event {
    let RecordPosition {
        topic,
        partition,
        offset,
        timestamp_ms,
    } = *position;
    let mut event = Event::new(
        SpecVersion::V10,
        format!("partition:{partition}/offset:{offset}"),
        format!(
            "/apis/v1/namespaces/{}/kafkasources/{}#{topic}",
            source.namespace, source.name
        ),
        WRAPPED_TYPE,
    );
    event.set("subject", format!("partition:{partition}#{offset}").into());
    if let Some(time) = timestamp_ms.and_then(rfc3339_millis) {
        event.set("time", time.into());
    }
    let content_type = message
        .header(CONTENT_TYPE_HEADER)
        .and_then(|v| std::str::from_utf8(v).ok());
    set_wrapped_content_type(&mut event, content_type);
    if let Some(key) = &message.key {
        let key = source.key_type.text(key);
        event.set("key", key.clone().into());
        event.set("partitionkey", key.into());
    }
    for (header, value) in &message.headers {
        if header.eq_ignore_ascii_case(CONTENT_TYPE_HEADER) {
            continue;
        }
        let value = value.as_deref().map(text_or_base64).unwrap_or_default();
        event.set(extension_name("kafkaheader", header), value.into());
    }
    event.set_data(wrapped_data(message.value.as_deref().unwrap_or_default()));
    event
}

/// Encodes an event in binary mode: every attribute as a `ce_` header with its canonical string
/// value, `datacontenttype` as `content-type`, the data as the value (none without data).
pub fn encode_binary(event: &Event, key: Option<Bytes>) -> KafkaMessage {
    let (content_type, value) = binary_body(event);
    let mut headers = Vec::with_capacity(event.attribute_count() + 1);
    for (name, value) in event.attributes() {
        if name != "datacontenttype" {
            headers.push((
                format!("{HEADER_PREFIX}{name}"),
                Some(Bytes::from(value.to_string())),
            ));
        }
    }
    if let Some(content_type) = content_type {
        headers.push((
            CONTENT_TYPE_HEADER.to_owned(),
            Some(Bytes::from(content_type)),
        ));
    }
    KafkaMessage {
        key,
        headers,
        value,
    }
}

/// Encodes an event in structured mode: the JSON event format as the value.
pub fn encode_structured(event: &Event, key: Option<Bytes>) -> KafkaMessage {
    KafkaMessage {
        key,
        headers: vec![(
            CONTENT_TYPE_HEADER.to_owned(),
            Some(Bytes::from_static(STRUCTURED_CONTENT_TYPE.as_bytes())),
        )],
        value: Some(Bytes::from(json::to_json(event))),
    }
}

/// The opt-in key mapper of the binding: the `partitionkey` extension, as-is.
pub fn partition_key(event: &Event) -> Option<Bytes> {
    event
        .get("partitionkey")
        .map(|value| Bytes::from(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut event = Event::new(SpecVersion::V10, "id-1", "/src", "com.example.t");
        event.set("time", "2018-04-05T03:56:24Z".into());
        event.set("partitionkey", "k1".into());
        event.set("count", AttrValue::Integer(3));
        event.set("datacontenttype", "application/json".into());
        event.set_data(Some(Data::Json(Bytes::from_static(b"{\"a\": 1}"))));
        event
    }

    const SOURCE: SourceRef<'static> = SourceRef {
        namespace: "ns",
        name: "src",
        key_type: KeyType::String,
    };

    const POSITION: RecordPosition<'static> = RecordPosition {
        topic: "orders",
        partition: 2,
        offset: 41,
        timestamp_ms: Some(1_700_000_000_000),
    };

    #[test]
    fn binary_round_trip_keeps_attributes_and_data() {
        let event = sample();
        let message = encode_binary(&event, partition_key(&event));
        assert_eq!(message.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(message.header("ce_id").map(|v| &v[..]), Some(&b"id-1"[..]));
        assert_eq!(
            message.header("content-type").map(|v| &v[..]),
            Some(&b"application/json"[..])
        );
        assert_eq!(message.value.as_deref(), Some(&b"{\"a\": 1}"[..]));
        let decoded = decode(&message).unwrap().unwrap();
        assert_eq!(decoded.id(), "id-1");
        assert_eq!(decoded.get_str("count"), Some("3"));
        assert_eq!(decoded.datacontenttype(), Some("application/json"));
        assert_eq!(decoded.data().unwrap().bytes(), &b"{\"a\": 1}"[..]);
        // Decoding does not add the key as an attribute.
        assert_eq!(decoded.attribute_count(), event.attribute_count());
    }

    #[test]
    fn structured_round_trip_is_exact() {
        let event = sample();
        let message = encode_structured(&event, None);
        assert_eq!(decode(&message).unwrap(), Some(event));
    }

    #[test]
    fn records_without_cloudevent_markers_are_not_decoded() {
        let message = KafkaMessage {
            key: None,
            headers: vec![("ce_id".into(), Some(Bytes::from_static(b"1")))],
            value: Some(Bytes::from_static(b"hello")),
        };
        assert!(decode(&message).unwrap().is_none());
    }

    #[test]
    fn wrapping_follows_knative() {
        let message = KafkaMessage {
            key: Some(Bytes::from_static(b"user-7")),
            headers: vec![
                (
                    "content-type".into(),
                    Some(Bytes::from_static(b"text/plain")),
                ),
                ("X-Trace-Id".into(), Some(Bytes::from_static(b"abc"))),
                ("bin".into(), Some(Bytes::from_static(&[0xff]))),
                ("empty".into(), None),
            ],
            value: Some(Bytes::from_static(b"hello")),
        };
        let event = to_event(&message, &POSITION, &SOURCE);
        assert_eq!(event.ty(), WRAPPED_TYPE);
        assert_eq!(event.id(), "partition:2/offset:41");
        assert_eq!(
            event.source(),
            "/apis/v1/namespaces/ns/kafkasources/src#orders"
        );
        assert_eq!(event.get_str("subject"), Some("partition:2#41"));
        assert_eq!(event.get_str("time"), Some("2023-11-14T22:13:20Z"));
        assert_eq!(event.datacontenttype(), Some("text/plain"));
        assert_eq!(event.get_str("key"), Some("user-7"));
        assert_eq!(event.get_str("partitionkey"), Some("user-7"));
        assert_eq!(event.get_str("kafkaheaderxtraceid"), Some("abc"));
        assert_eq!(event.get_str("kafkaheaderbin"), Some("/w=="));
        assert_eq!(event.get_str("kafkaheaderempty"), Some(""));
        assert_eq!(event.get("kafkaheadercontenttype"), None);
        assert_eq!(
            event.data(),
            Some(&Data::Binary(Bytes::from_static(b"hello")))
        );
        event.validate().unwrap();
    }

    #[test]
    fn key_types_follow_the_knative_label() {
        assert_eq!(KeyType::from_label("byte-array"), Some(KeyType::ByteArray));
        assert_eq!(KeyType::from_label("long"), None);
        assert_eq!(KeyType::Int.text(&(-7i32).to_be_bytes()), "-7");
        assert_eq!(
            KeyType::Int.text(&(1i64 << 40).to_be_bytes()),
            "1099511627776"
        );
        assert_eq!(KeyType::Float.text(&1.5f32.to_be_bytes()), "1.5");
        assert_eq!(KeyType::Float.text(&0.25f64.to_be_bytes()), "0.25");
        assert_eq!(KeyType::ByteArray.text(b"ab"), "YWI=");
        assert_eq!(
            KeyType::Int.text(b"abc"),
            "abc",
            "an odd length is read as text"
        );
        let message = KafkaMessage {
            key: Some(Bytes::copy_from_slice(&42i32.to_be_bytes())),
            headers: Vec::new(),
            value: None,
        };
        let source = SourceRef {
            key_type: KeyType::Int,
            ..SOURCE
        };
        let event = wrap(&message, &POSITION, &source);
        assert_eq!(event.get_str("key"), Some("42"));
        assert_eq!(event.get_str("partitionkey"), Some("42"));
    }

    #[test]
    fn invalid_cloudevents_are_wrapped() {
        let message = KafkaMessage {
            key: None,
            headers: vec![
                ("ce_specversion".into(), Some(Bytes::from_static(b"1.0"))),
                ("ce_id".into(), Some(Bytes::from_static(b"1"))),
            ],
            value: None,
        };
        assert!(decode(&message).is_err());
        let event = to_event(&message, &POSITION, &SOURCE);
        assert_eq!(event.ty(), WRAPPED_TYPE);
        assert_eq!(event.get_str("kafkaheadercespecversion"), Some("1.0"));
        assert_eq!(event.data(), None);

        let bad_json = KafkaMessage {
            key: None,
            headers: vec![(
                "content-type".into(),
                Some(Bytes::from_static(STRUCTURED_CONTENT_TYPE.as_bytes())),
            )],
            value: Some(Bytes::from_static(b"{not json")),
        };
        assert!(decode(&bad_json).is_err());
        let event = to_event(&bad_json, &POSITION, &SOURCE);
        assert_eq!(event.datacontenttype(), Some(STRUCTURED_CONTENT_TYPE));
    }
}
