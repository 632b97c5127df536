//! Writing the JSON event format straight into a byte buffer: attributes in order with their
//! JSON types, then the data member chosen by [`DataOut::of`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::event::{AttrValue, Data, Event, SpecVersion};
use crate::media_type;

/// How an event's data is represented in the JSON object.
enum DataOut<'a> {
    None,
    /// `"data": <raw JSON text>`.
    Raw(&'a [u8]),
    /// 1.0: `"data_base64": "<base64>"`.
    DataBase64(&'a [u8]),
    /// 0.3: `"data": "<base64>"` together with `"datacontentencoding": "base64"`.
    LegacyBase64(&'a [u8]),
}

impl<'a> DataOut<'a> {
    fn of(event: &'a Event) -> DataOut<'a> {
        let bytes = match event.data() {
            None => return DataOut::None,
            Some(Data::Json(raw)) => return DataOut::Raw(raw),
            Some(Data::Binary(bytes)) => bytes,
        };
        let legacy = event.specversion() == SpecVersion::V03;
        // A 0.3 event that declares a content encoding received its data as base64: keep it so.
        if legacy && event.get("datacontentencoding").is_some() {
            return DataOut::LegacyBase64(bytes);
        }
        if event.datacontenttype().is_some_and(media_type::is_json) && is_json_text(bytes) {
            return DataOut::Raw(bytes);
        }
        if legacy {
            DataOut::LegacyBase64(bytes)
        } else {
            DataOut::DataBase64(bytes)
        }
    }
}

fn is_json_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .is_ok_and(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok())
}

/// Appends the JSON object for `event` to `out`.
pub(super) fn write_event(event: &Event, out: &mut Vec<u8>) {
    let data = DataOut::of(event);
    out.push(b'{');
    let mut first = true;
    let mut wrote_encoding = false;
    for (name, value) in event.attributes() {
        if matches!(data, DataOut::LegacyBase64(_)) && name == "datacontentencoding" {
            // The data is written as base64, so the declared encoding must say so.
            wrote_encoding = true;
            write_member_name(out, &mut first, name);
            match value.as_str() {
                Some(v) if v.eq_ignore_ascii_case("base64") => write_string(out, v),
                _ => write_string(out, "base64"),
            }
            continue;
        }
        write_member_name(out, &mut first, name);
        write_value(out, value);
    }
    match data {
        DataOut::None => {}
        DataOut::Raw(raw) => {
            write_member_name(out, &mut first, "data");
            out.extend_from_slice(raw);
        }
        DataOut::DataBase64(bytes) => {
            write_member_name(out, &mut first, "data_base64");
            write_base64(out, bytes);
        }
        DataOut::LegacyBase64(bytes) => {
            if !wrote_encoding {
                write_member_name(out, &mut first, "datacontentencoding");
                write_string(out, "base64");
            }
            write_member_name(out, &mut first, "data");
            write_base64(out, bytes);
        }
    }
    out.push(b'}');
}

fn write_member_name(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    write_string(out, name);
    out.push(b':');
}

fn write_value(out: &mut Vec<u8>, value: &AttrValue) {
    match value {
        AttrValue::String(s) => write_string(out, s),
        AttrValue::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        AttrValue::Boolean(true) => out.extend_from_slice(b"true"),
        AttrValue::Boolean(false) => out.extend_from_slice(b"false"),
    }
}

fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(STANDARD.encode(bytes).as_bytes());
    out.push(b'"');
}

/// Writes a JSON string, escaping `"`, `\` and control characters (as serde_json does).
pub(super) fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "plain",
            "q\"b\\s",
            "ctl\n\r\t\u{8}\u{c}\u{1}\u{1f}",
            "ünï €😀",
            "</script>",
        ] {
            let mut out = Vec::new();
            write_string(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }
}
