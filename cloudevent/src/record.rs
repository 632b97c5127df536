//! The compact binary encoding the event log stores: the whole event (typed attributes in
//! order, data kind and bytes) behind a leading format byte.
//!
//! Format 1 layout (`varint` = unsigned LEB128):
//!
//! ```text
//! u8      format (1)
//! u8      spec version: 0 = 0.3, 1 = 1.0
//! varint  0 if there is no string `type` attribute, else len(type) + 1; then the type bytes
//! varint  attribute count
//! per attribute, in order:
//!   u8    name: 0 = custom (varint len + bytes follow), n >= 1 = WELL_KNOWN[n - 1]
//!   u8    value: 0 string (varint len + bytes), 1 integer (i32 little-endian),
//!               2 false, 3 true, 4 the `type` from the header, 5 the spec version string
//! u8      data: 0 none, 1 JSON, 2 binary; unless 0: varint len + bytes
//! ```
//!
//! `type` sits at a fixed offset so [`peek_type`] can read it without decoding the record.
//! Decoding checks the structure (lengths, tags, UTF-8) but does not re-run
//! [`Event::validate`]: records are written only for events that were validated on ingress.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use crate::event::{AttrValue, Data, Event, SpecVersion};

/// The current record format, written as the first byte.
pub const FORMAT_V1: u8 = 1;

/// Attribute names stored as one byte. Append only: codes are part of format 1.
pub(crate) const WELL_KNOWN: [&str; 17] = [
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    "schemaurl",
    "datacontentencoding",
    "traceparent",
    "tracestate",
    "knativearrivaltime",
    "knativeerrordest",
    "knativeerrorcode",
    "knativeerrordata",
    "partitionkey",
];

const VALUE_STRING: u8 = 0;
const VALUE_INTEGER: u8 = 1;
const VALUE_FALSE: u8 = 2;
const VALUE_TRUE: u8 = 3;
const VALUE_HEADER_TYPE: u8 = 4;
const VALUE_HEADER_SPECVERSION: u8 = 5;

const DATA_NONE: u8 = 0;
const DATA_JSON: u8 = 1;
const DATA_BINARY: u8 = 2;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The first byte names a format this build does not know.
    #[error("unsupported record format {0} (this build reads format {FORMAT_V1})")]
    UnsupportedFormat(u8),
    /// The record ends before the named field is complete.
    #[error("record is truncated while reading {0}")]
    Truncated(&'static str),
    /// A length field does not fit in memory.
    #[error("record has an oversized length while reading {0}")]
    LengthOverflow(&'static str),
    /// A tag byte has a value format 1 does not define.
    #[error("record has unknown {field} tag {tag}")]
    UnknownTag {
        /// Which tag.
        field: &'static str,
        /// Its value.
        tag: u8,
    },
    /// A string field is not valid UTF-8.
    #[error("record {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// An attribute refers to the header `type`, but the header has none.
    #[error("record attribute refers to a type the header does not carry")]
    MissingHeaderType,
    /// Bytes remain after the data.
    #[error("record has {0} trailing bytes")]
    TrailingBytes(usize),
}

/// Appends the record for `event` to `out`.
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    let version = event.specversion();
    let ty = event.get("type").and_then(AttrValue::as_str);
    let data_len = event.data().map_or(0, |d| d.bytes().len());
    out.reserve(
        16 + data_len
            + event
                .attributes()
                .map(|(n, v)| n.len() + v.as_str().map_or(5, str::len) + 4)
                .sum::<usize>(),
    );

    out.push(FORMAT_V1);
    out.push(match version {
        SpecVersion::V03 => 0,
        SpecVersion::V10 => 1,
    });
    match ty {
        Some(ty) => {
            put_varint(out, ty.len() as u64 + 1);
            out.extend_from_slice(ty.as_bytes());
        }
        None => put_varint(out, 0),
    }
    put_varint(out, event.attribute_count() as u64);
    for (name, value) in event.attributes() {
        match WELL_KNOWN.iter().position(|known| *known == name) {
            Some(index) => out.push(index as u8 + 1),
            None => {
                out.push(0);
                put_bytes(out, name.as_bytes());
            }
        }
        match value {
            AttrValue::String(_) if name == "type" && ty.is_some() => out.push(VALUE_HEADER_TYPE),
            AttrValue::String(s) if name == "specversion" && s == version.as_str() => {
                out.push(VALUE_HEADER_SPECVERSION);
            }
            AttrValue::String(s) => {
                out.push(VALUE_STRING);
                put_bytes(out, s.as_bytes());
            }
            AttrValue::Integer(i) => {
                out.push(VALUE_INTEGER);
                out.extend_from_slice(&i.to_le_bytes());
            }
            AttrValue::Boolean(false) => out.push(VALUE_FALSE),
            AttrValue::Boolean(true) => out.push(VALUE_TRUE),
        }
    }
    match event.data() {
        None => out.push(DATA_NONE),
        Some(Data::Json(bytes)) => {
            out.push(DATA_JSON);
            put_bytes(out, bytes);
        }
        Some(Data::Binary(bytes)) => {
            out.push(DATA_BINARY);
            put_bytes(out, bytes);
        }
    }
}

/// Decodes a record, copying the data bytes.
pub fn decode(bytes: &[u8]) -> Result<Event, RecordError> {
    decode_with(bytes, |range| Bytes::copy_from_slice(&bytes[range]))
}

/// Decodes a record whose data shares `bytes`' buffer instead of being copied.
pub fn decode_shared(bytes: &Bytes) -> Result<Event, RecordError> {
    decode_with(bytes, |range| bytes.slice(range))
}

/// The `type` attribute, read from the record header without decoding the rest. `None` for an
/// unknown format, a malformed header, or an event without a string `type`.
pub fn peek_type(bytes: &[u8]) -> Option<&str> {
    let mut reader = Reader { bytes, pos: 0 };
    let (_, ty) = reader.header().ok()?;
    ty
}

fn decode_with(
    bytes: &[u8],
    data: impl FnOnce(Range<usize>) -> Bytes,
) -> Result<Event, RecordError> {
    let mut reader = Reader { bytes, pos: 0 };
    let (version, ty) = reader.header()?;
    let count = reader.len("attribute count")?;
    // Every attribute takes at least two bytes, which bounds the allocation for corrupt counts.
    let mut attributes = Vec::with_capacity(count.min(reader.remaining() / 2));
    for _ in 0..count {
        let name = match reader.u8("attribute name")? {
            0 => Cow::Owned(reader.str("attribute name")?.to_owned()),
            code => match WELL_KNOWN.get(usize::from(code) - 1) {
                Some(known) => Cow::Borrowed(*known),
                None => {
                    return Err(RecordError::UnknownTag {
                        field: "attribute name",
                        tag: code,
                    });
                }
            },
        };
        let value = match reader.u8("attribute value")? {
            VALUE_STRING => AttrValue::String(reader.str("attribute value")?.to_owned()),
            VALUE_INTEGER => AttrValue::Integer(i32::from_le_bytes(reader.array("integer value")?)),
            VALUE_FALSE => AttrValue::Boolean(false),
            VALUE_TRUE => AttrValue::Boolean(true),
            VALUE_HEADER_TYPE => {
                AttrValue::String(ty.ok_or(RecordError::MissingHeaderType)?.to_owned())
            }
            VALUE_HEADER_SPECVERSION => AttrValue::String(version.as_str().to_owned()),
            tag => {
                return Err(RecordError::UnknownTag {
                    field: "attribute value",
                    tag,
                });
            }
        };
        attributes.push((name, value));
    }
    let data = match reader.u8("data kind")? {
        DATA_NONE => None,
        DATA_JSON => Some(Data::Json(data(reader.slice_range("data")?))),
        DATA_BINARY => Some(Data::Binary(data(reader.slice_range("data")?))),
        tag => {
            return Err(RecordError::UnknownTag {
                field: "data kind",
                tag,
            });
        }
    };
    if reader.remaining() > 0 {
        return Err(RecordError::TrailingBytes(reader.remaining()));
    }
    Ok(Event::from_parts(version, attributes, data))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A cursor over a record; every read names the field it is reading for error messages.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Format byte, spec version and header `type`.
    fn header(&mut self) -> Result<(SpecVersion, Option<&'a str>), RecordError> {
        let format = self.u8("format")?;
        if format != FORMAT_V1 {
            return Err(RecordError::UnsupportedFormat(format));
        }
        let version = match self.u8("spec version")? {
            0 => SpecVersion::V03,
            1 => SpecVersion::V10,
            tag => {
                return Err(RecordError::UnknownTag {
                    field: "spec version",
                    tag,
                });
            }
        };
        let ty = match self.len("type length")? {
            0 => None,
            n => Some(self.utf8("type", n - 1)?),
        };
        Ok((version, ty))
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, RecordError> {
        let byte = *self
            .bytes
            .get(self.pos)
            .ok_or(RecordError::Truncated(field))?;
        self.pos += 1;
        Ok(byte)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let range = self.take(field, N)?;
        let mut array = [0; N];
        array.copy_from_slice(&self.bytes[range]);
        Ok(array)
    }

    /// A varint used as a length or count.
    fn len(&mut self, field: &'static str) -> Result<usize, RecordError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8(field)?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return usize::try_from(value).map_err(|_| RecordError::LengthOverflow(field));
            }
        }
        Err(RecordError::LengthOverflow(field))
    }

    fn take(&mut self, field: &'static str, len: usize) -> Result<Range<usize>, RecordError> {
        if len > self.remaining() {
            return Err(RecordError::Truncated(field));
        }
        let start = self.pos;
        self.pos += len;
        Ok(start..self.pos)
    }

    /// A length-prefixed byte range.
    fn slice_range(&mut self, field: &'static str) -> Result<Range<usize>, RecordError> {
        let len = self.len(field)?;
        self.take(field, len)
    }

    fn utf8(&mut self, field: &'static str, len: usize) -> Result<&'a str, RecordError> {
        let range = self.take(field, len)?;
        std::str::from_utf8(&self.bytes[range]).map_err(|_| RecordError::InvalidUtf8(field))
    }

    /// A length-prefixed UTF-8 string.
    fn str(&mut self, field: &'static str) -> Result<&'a str, RecordError> {
        let len = self.len(field)?;
        self.utf8(field, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut event = Event::new(SpecVersion::V10, "id-1", "/src", "com.example.created");
        event.set("time", "2018-04-05T17:31:00Z".into());
        event.set("myext", "x".into());
        event.set("count", AttrValue::Integer(i32::MIN));
        event.set("flag", AttrValue::Boolean(true));
        event.set("off", AttrValue::Boolean(false));
        event.set_data(Some(Data::Json(Bytes::from_static(b"{\"a\": 1}"))));
        event
    }

    fn encoded(event: &Event) -> Vec<u8> {
        let mut out = Vec::new();
        encode(event, &mut out);
        out
    }

    #[test]
    fn varint_round_trips() {
        for value in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = Reader {
                bytes: &out,
                pos: 0,
            };
            assert_eq!(reader.len("v").map(|v| v as u64), Ok(value));
            assert_eq!(reader.remaining(), 0);
        }
        let overlong = [0xffu8; 11];
        assert_eq!(
            Reader {
                bytes: &overlong,
                pos: 0
            }
            .len("v"),
            Err(RecordError::LengthOverflow("v"))
        );
    }

    #[test]
    fn type_is_at_a_fixed_offset() {
        let bytes = encoded(&sample());
        assert_eq!(&bytes[..3], &[FORMAT_V1, 1, 20]);
        assert_eq!(&bytes[3..22], b"com.example.created");
    }

    #[test]
    fn event_without_string_type_round_trips() {
        let mut event = sample();
        event.set("type", AttrValue::Integer(7));
        let bytes = encoded(&event);
        assert_eq!(peek_type(&bytes), None);
        assert_eq!(decode(&bytes), Ok(event.clone()));
        event.remove("type");
        assert_eq!(decode(&encoded(&event)), Ok(event));
    }

    #[test]
    fn non_canonical_specversion_value_is_stored_verbatim() {
        let mut event = sample();
        event.set("specversion", "weird".into());
        assert_eq!(decode(&encoded(&event)), Ok(event));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encoded(&sample());
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
    }

    #[test]
    fn corrupt_records_are_rejected() {
        let good = encoded(&sample());
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(RecordError::TrailingBytes(1)));

        let mut format = good.clone();
        format[0] = 9;
        assert_eq!(decode(&format), Err(RecordError::UnsupportedFormat(9)));
        assert_eq!(peek_type(&format), None);

        let mut version = good.clone();
        version[1] = 7;
        assert_eq!(
            decode(&version),
            Err(RecordError::UnknownTag {
                field: "spec version",
                tag: 7
            })
        );

        let mut utf8 = good.clone();
        utf8[3] = 0xff;
        assert_eq!(decode(&utf8), Err(RecordError::InvalidUtf8("type")));
        assert_eq!(peek_type(&utf8), None);

        let data_kind = good.len() - 1 - 1 - 8; // tag, length, 8 data bytes
        let mut kind = good.clone();
        kind[data_kind] = 9;
        assert_eq!(
            decode(&kind),
            Err(RecordError::UnknownTag {
                field: "data kind",
                tag: 9
            })
        );

        // Attribute count far beyond the record: truncated, not a huge allocation.
        let mut count = good[..22].to_vec();
        count.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            decode(&count),
            Err(RecordError::Truncated("attribute name"))
        );
    }

    #[test]
    fn header_type_reference_without_header_type_is_rejected() {
        let bytes = [FORMAT_V1, 1, 0, 1, 4, VALUE_HEADER_TYPE, DATA_NONE];
        assert_eq!(decode(&bytes), Err(RecordError::MissingHeaderType));
        let unknown_name = [FORMAT_V1, 1, 0, 1, 200, VALUE_TRUE, DATA_NONE];
        assert_eq!(
            decode(&unknown_name),
            Err(RecordError::UnknownTag {
                field: "attribute name",
                tag: 200
            })
        );
    }
}
