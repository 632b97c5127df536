//! Parsing the JSON event format without an intermediate `serde_json::Value`: serde splits the
//! object into borrowed members, then each member is classified from its raw JSON text.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::event::{AttrName, AttrValue, Data, Event, EventError, SpecVersion, attr_name};

/// One member of an event object: its name and raw JSON value.
type Member<'a> = (Cow<'a, str>, &'a RawValue);

/// An event object split into members, in document order.
pub(super) struct RawEvent<'a>(Vec<Member<'a>>);

/// A batch: a JSON array of event objects.
pub(super) struct RawBatch<'a>(pub(super) Vec<RawEvent<'a>>);

/// A member name, borrowed from the input unless it contained escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = RawEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CloudEvent JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(12));
                while let Some(Key(name)) = map.next_key()? {
                    members.push((name, map.next_value::<&'de RawValue>()?));
                }
                Ok(RawEvent(members))
            }
        }
        deserializer.deserialize_map(EventVisitor)
    }
}

impl<'de> Deserialize<'de> for RawBatch<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BatchVisitor;
        impl<'de> Visitor<'de> for BatchVisitor {
            type Value = RawBatch<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array of CloudEvent objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(event) = seq.next_element()? {
                    events.push(event);
                }
                Ok(RawBatch(events))
            }
        }
        deserializer.deserialize_seq(BatchVisitor)
    }
}

impl RawEvent<'_> {
    /// Turns the members into a validated event; `keep` turns the raw JSON text of `data` into
    /// the bytes the event holds (a copy, or a slice of the shared input).
    pub(super) fn into_event(self, keep: &impl Fn(&str) -> Bytes) -> Result<Event, EventError> {
        let mut attributes = Vec::with_capacity(self.0.len());
        let mut data = None;
        let mut data_base64 = None;
        for (name, raw) in self.0 {
            match name.as_ref() {
                "data" => set_once(&mut data, "data", raw)?,
                "data_base64" => set_once(&mut data_base64, "data_base64", raw)?,
                _ => {
                    if let Some(value) = attribute_value(&name, raw)? {
                        attributes.push((attr_name(&name), value));
                    }
                }
            }
        }
        let data_base64 = data_base64.filter(|raw| raw.get() != "null");
        let version = declared_version(&attributes);
        let data = match (data, data_base64) {
            (Some(_), Some(_)) => {
                return Err(EventError::new(
                    "data_base64",
                    "`data` and `data_base64` must not both be present",
                ));
            }
            (None, Some(_)) if version == Some(SpecVersion::V03) => {
                return Err(EventError::new(
                    "data_base64",
                    "not defined in specversion 0.3; use `data` with `datacontentencoding: base64`",
                ));
            }
            (None, Some(raw)) => Some(Data::Binary(base64_string("data_base64", raw)?)),
            (Some(raw), None)
                if version == Some(SpecVersion::V03) && is_base64_encoded(&attributes) =>
            {
                (raw.get() != "null")
                    .then(|| base64_string("data", raw).map(Data::Binary))
                    .transpose()?
            }
            (Some(raw), None) => Some(Data::Json(keep(raw.get()))),
            (None, None) => None,
        };
        Event::from_decoded(attributes, data)
    }
}

fn set_once<'a>(
    slot: &mut Option<&'a RawValue>,
    name: &str,
    raw: &'a RawValue,
) -> Result<(), EventError> {
    if slot.replace(raw).is_some() {
        return Err(EventError::new(name, "member appears more than once"));
    }
    Ok(())
}

/// The spec version the attributes declare, if it is a known one. Errors about a missing or
/// unknown version are reported by `Event::from_decoded`.
fn declared_version(attributes: &[(AttrName, AttrValue)]) -> Option<SpecVersion> {
    attributes
        .iter()
        .find(|(n, _)| n == "specversion")
        .and_then(|(_, v)| v.as_str())
        .and_then(|v| v.parse().ok())
}

/// 0.3: `datacontentencoding: base64` means `data` holds a base64 string.
fn is_base64_encoded(attributes: &[(AttrName, AttrValue)]) -> bool {
    attributes
        .iter()
        .find(|(n, _)| n == "datacontentencoding")
        .and_then(|(_, v)| v.as_str())
        .is_some_and(|v| v.eq_ignore_ascii_case("base64"))
}

/// Decodes a JSON string member holding canonical (padded) base64.
fn base64_string(name: &str, raw: &RawValue) -> Result<Bytes, EventError> {
    let text = json_string(raw).ok_or_else(|| {
        EventError::new(
            name,
            format!(
                "must be a base64 JSON string, not `{}`",
                abbreviate(raw.get())
            ),
        )
    })?;
    STANDARD
        .decode(text.as_bytes())
        .map(Bytes::from)
        .map_err(|e| EventError::new(name, format!("invalid base64: {e}")))
}

/// The value of a JSON string (already validated by the parser); `None` if `raw` is no string.
fn json_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// Maps a raw JSON member value to an attribute value; `None` for `null` (treated as absent).
fn attribute_value(name: &str, raw: &RawValue) -> Result<Option<AttrValue>, EventError> {
    let text = raw.get();
    let value = match text.as_bytes().first() {
        Some(b'n') => return Ok(None),
        Some(b't') => AttrValue::Boolean(true),
        Some(b'f') => AttrValue::Boolean(false),
        Some(b'"') => match json_string(raw) {
            Some(s) => AttrValue::String(s.into_owned()),
            None => return Err(EventError::new(name, "invalid JSON string")),
        },
        Some(b'-' | b'0'..=b'9') => AttrValue::Integer(integer(name, text)?),
        _ => {
            return Err(EventError::new(
                name,
                format!(
                    "attribute values must be a string, integer or boolean, not `{}`",
                    abbreviate(text)
                ),
            ));
        }
    };
    Ok(Some(value))
}

/// A JSON number that must be a plain integer (no fraction or exponent) in the `i32` range.
fn integer(name: &str, text: &str) -> Result<i32, EventError> {
    if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return Err(EventError::new(
            name,
            format!("`{text}` is not an integer (fraction and exponent are not allowed)"),
        ));
    }
    text.parse().map_err(|_| {
        EventError::new(
            name,
            format!("integer `{text}` is outside the range -2147483648..=2147483647"),
        )
    })
}

/// The first characters of a JSON text, for error messages.
fn abbreviate(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((end, _)) => Cow::Owned(format!("{}...", &text[..end])),
        None => Cow::Borrowed(text),
    }
}
