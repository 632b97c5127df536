//! `ce-` header value codec: RFC 7230 quoted-string unescaping plus one round of
//! percent-decoding on the way in, percent-encoding of space, `"`, `%` and everything outside
//! printable ASCII on the way out (HTTP binding 3.1.3.2).

use std::borrow::Cow;

use http::HeaderValue;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode, utf8_percent_encode};

/// Bytes to escape besides non-ASCII (always escaped): controls, space, DQUOTE and `%`.
const ENCODE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%');

/// The reason given for a value that is not UTF-8 text, escapes decoded or not.
const NOT_UTF8: &str = "header value is not valid UTF-8 after percent-decoding";

/// Header value for an attribute's canonical string form.
pub(super) fn encode(value: &str) -> HeaderValue {
    HeaderValue::from_str(&escape(value)).expect("escaped text is visible ASCII")
}

/// An attribute's canonical string form, percent-encoded where the binding asks for it.
pub(super) fn escape(value: &str) -> Cow<'_, str> {
    // Most values need no escape; checking first spares the encoder's byte-by-byte pass.
    if !value.bytes().any(needs_escape) {
        return Cow::Borrowed(value);
    }
    utf8_percent_encode(value, ENCODE).into()
}

/// Whether `bytes` may be sent as a header value as they are (what [`HeaderValue::from_bytes`]
/// accepts: no control characters other than tab).
pub(super) fn is_valid(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| BYTE_CLASS[usize::from(b)] & VALID != 0)
}

/// Whether `byte` is escaped in a header value ([`ENCODE`], and everything outside ASCII).
fn needs_escape(byte: u8) -> bool {
    BYTE_CLASS[usize::from(byte)] & PLAIN == 0
}

/// [`BYTE_CLASS`] bit: the byte may appear in a header value as it is.
const VALID: u8 = 1;
/// [`BYTE_CLASS`] bit: the byte is sent unescaped in an attribute's header value.
const PLAIN: u8 = 2;

/// The class bits of every byte, looked up once per byte of each header written: a table
/// costs less than the comparisons it stands for.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if (byte >= 0x20 && byte != 0x7f) || byte == b'\t' {
            table[b] |= VALID;
        }
        if byte.is_ascii_graphic() && byte != b'"' && byte != b'%' {
            table[b] |= PLAIN;
        }
        b += 1;
    }
    table
};

/// Attribute string from a raw header value; the error is the reason to report.
pub(super) fn decode(raw: &[u8]) -> Result<String, &'static str> {
    let raw = raw.trim_ascii();
    let unquoted = match raw.first() {
        Some(b'"') => Cow::Owned(unquote(raw)?),
        _ => Cow::Borrowed(raw),
    };
    if !unquoted.contains(&b'%') {
        // Nothing to decode (the usual case): only check the text.
        return std::str::from_utf8(&unquoted)
            .map(str::to_owned)
            .map_err(|_| NOT_UTF8);
    }
    match percent_decode(&unquoted).decode_utf8() {
        Ok(text) => Ok(text.into_owned()),
        Err(_) => Err(NOT_UTF8),
    }
}

/// Content of a quoted-string that spans the whole value, with quoted-pairs resolved.
fn unquote(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw[1..].iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' if bytes.as_slice().is_empty() => return Ok(out),
            b'"' => return Err("header value has characters after its closing quote"),
            b'\\' => match bytes.next() {
                Some(&escaped) => out.push(escaped),
                None => break,
            },
            _ => out.push(b),
        }
    }
    Err("header value has an unterminated quoted-string")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_per_binding() {
        let cases = [
            ("Euro \u{20AC} \u{1F600}", "Euro%20%E2%82%AC%20%F0%9F%98%80"),
            ("100% \"quoted\"", "100%25%20%22quoted%22"),
            ("a\tb\nc\u{7f}", "a%09b%0Ac%7F"),
            ("/path?q=1&x={y}|~'!", "/path?q=1&x={y}|~'!"),
            ("", ""),
        ];
        for (value, header) in cases {
            assert_eq!(encode(value), header, "{value:?}");
            assert_eq!(decode(header.as_bytes()).as_deref(), Ok(value));
        }
    }

    #[test]
    fn decoding_accepts_lowercase_unnecessary_escapes_and_raw_utf8() {
        assert_eq!(decode(b"%e2%82%ac%41").as_deref(), Ok("\u{20AC}A"));
        assert_eq!(decode("caf\u{e9}".as_bytes()).as_deref(), Ok("caf\u{e9}"));
        assert_eq!(decode(b"  padded\t").as_deref(), Ok("padded"));
        // Malformed escapes are kept literally (older senders did not encode `%`).
        assert_eq!(decode(b"100%").as_deref(), Ok("100%"));
        assert_eq!(decode(b"%zz").as_deref(), Ok("%zz"));
    }

    #[test]
    fn the_quick_check_escapes_exactly_what_the_encoder_escapes() {
        for byte in 0..=0x7f_u8 {
            let text = char::from(byte).to_string();
            let escaped = utf8_percent_encode(&text, ENCODE).to_string() != text;
            assert_eq!(needs_escape(byte), escaped, "byte {byte:#04x}");
        }
        assert!("\u{e9}".bytes().all(needs_escape), "non-ASCII is escaped");
    }

    #[test]
    fn valid_bytes_are_exactly_those_a_header_value_accepts() {
        for byte in 0..=u8::MAX {
            let accepted = HeaderValue::from_bytes(&[byte]).is_ok();
            assert_eq!(is_valid(&[byte]), accepted, "byte {byte:#04x}");
        }
    }

    #[test]
    fn decoding_rejects_invalid_utf8() {
        assert!(decode(b"caf\xe9").is_err(), "raw Latin-1, no escapes");
        assert!(decode(b"%C0%A0").is_err(), "overlong encoding of space");
        assert!(decode(b"%FF").is_err());
        assert!(decode(b"%ED%A0%80").is_err(), "surrogate");
    }

    #[test]
    fn quoted_strings_are_unescaped_before_percent_decoding() {
        assert_eq!(decode(br#""hello world""#).as_deref(), Ok("hello world"));
        assert_eq!(decode(br#""a \"b\" \\ c""#).as_deref(), Ok(r#"a "b" \ c"#));
        assert_eq!(decode(br#""%41%20""#).as_deref(), Ok("A "));
        assert_eq!(decode(br#""""#).as_deref(), Ok(""));
        assert!(decode(br#""open"#).is_err());
        assert!(decode(br#""trailing\"#).is_err());
        assert!(decode(br#""a" b"#).is_err());
        // A quote that does not start the value is ordinary content.
        assert_eq!(decode(br#"a"b"#).as_deref(), Ok("a\"b"));
    }
}
