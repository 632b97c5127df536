//! HTTP binary content mode: byte-exact round trips, header value codec, validation errors.

mod common;

use bytes::Bytes;
use common::{Header, Pairs, headers, sorted};
use herald_cloudevent::http::{self, DecodeError, Mode};
use herald_cloudevent::{AttrValue, Data, Event, SpecVersion};

fn decode_one(pairs: &Pairs<'_>, body: &'static [u8]) -> Result<Event, DecodeError> {
    let (mode, mut events) = http::decode_request(&headers(pairs), Bytes::from_static(body))?;
    assert_eq!(mode, Mode::Binary);
    assert_eq!(events.len(), 1);
    Ok(events.remove(0))
}

fn error_attribute(pairs: &Pairs<'_>, body: &'static [u8]) -> String {
    let err = decode_one(pairs, body).expect_err("must be rejected");
    assert!(!err.is_unsupported_media_type());
    err.attribute()
        .expect("error names an attribute")
        .to_owned()
}

const REQUIRED: [Header<'static>; 4] = [
    ("ce-specversion", b"1.0"),
    ("ce-id", b"A234-1234-1234"),
    ("ce-source", b"/mycontext"),
    ("ce-type", b"com.example.someevent"),
];

fn with_required(extra: &Pairs<'static>) -> Vec<Header<'static>> {
    REQUIRED.iter().chain(extra).copied().collect()
}

#[test]
fn binary_round_trip_is_byte_exact() {
    let pairs = with_required(&[
        ("ce-time", b"2018-04-05T17:31:00.000000123+01:00"),
        ("ce-subject", b"Euro%20%E2%82%AC%20%F0%9F%98%80"),
        ("ce-quoted", b"say%20%22hi%22%20100%25"),
        ("ce-comexampleothervalue", b"5"),
        ("ce-path", b"/a/b?c=d&e={f}|'~!*"),
        ("ce-dataschema", b"https://example.com/schema.json#v1"),
        ("content-type", b"application/vnd.apache.thrift.binary"),
    ]);
    let body: &'static [u8] = b"\x00\x01raw\xffbytes";
    let event = decode_one(&pairs, body).unwrap();
    assert_eq!(event.get_str("subject"), Some("Euro \u{20AC} \u{1F600}"));
    assert_eq!(event.get_str("quoted"), Some("say \"hi\" 100%"));
    assert_eq!(
        event.get("comexampleothervalue"),
        Some(&AttrValue::from("5"))
    );
    assert_eq!(
        event.datacontenttype(),
        Some("application/vnd.apache.thrift.binary")
    );
    assert_eq!(event.data(), Some(&Data::Binary(Bytes::from_static(body))));

    let (out_headers, out_body) = http::encode_binary(&event);
    assert_eq!(sorted(&out_headers), sorted(&headers(&pairs)));
    assert_eq!(out_body, body);
}

#[test]
fn attributes_keep_header_order_including_content_type() {
    let pairs = with_required(&[
        ("content-type", b"text/plain"),
        ("ce-zeta", b"z"),
        ("ce-alpha", b"a"),
    ]);
    let event = decode_one(&pairs, b"x").unwrap();
    let names: Vec<&str> = event.attributes().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "specversion",
            "id",
            "source",
            "type",
            "datacontenttype",
            "zeta",
            "alpha"
        ]
    );
}

#[test]
fn spec_version_0_3_is_kept() {
    let pairs = [
        ("ce-specversion", &b"0.3"[..]),
        ("ce-id", b"1"),
        ("ce-source", b"/s"),
        ("ce-type", b"t"),
        ("ce-schemaurl", b"https://example.com/s"),
        ("ce-datacontentencoding", b"base64"),
    ];
    let event = decode_one(&pairs, b"payload").unwrap();
    assert_eq!(event.specversion(), SpecVersion::V03);
    let (out_headers, out_body) = http::encode_binary(&event);
    assert_eq!(sorted(&out_headers), sorted(&headers(&pairs)));
    assert_eq!(out_body, "payload");
}

#[test]
fn header_names_are_case_insensitive_and_values_are_unquoted() {
    let pairs = [
        ("CE-SpecVersion", &b"1.0"[..]),
        ("Ce-Id", b"\"quoted \\\"id\\\"\""),
        ("ce-SOURCE", b"\"/my%20ctx\""),
        ("ce-type", b"  t  "),
        ("ce-MyExt", b"caf\xc3\xa9"),
    ];
    let event = decode_one(&pairs, b"").unwrap();
    assert_eq!(event.id(), "quoted \"id\"");
    assert_eq!(event.source(), "/my ctx");
    assert_eq!(event.ty(), "t");
    assert_eq!(event.get_str("myext"), Some("caf\u{e9}"));
    assert_eq!(event.data(), None, "empty body is no data");

    let (out, body) = http::encode_binary(&event);
    assert_eq!(out["ce-id"], "quoted%20%22id%22");
    assert_eq!(out["ce-source"], "/my%20ctx");
    assert_eq!(out["ce-myext"], "caf%C3%A9");
    assert!(!out.contains_key("content-type"));
    assert!(body.is_empty());
}

#[test]
fn every_attribute_is_a_string_in_binary_mode() {
    let event = decode_one(
        &with_required(&[("ce-count", b"5"), ("ce-flag", b"true")]),
        b"",
    )
    .unwrap();
    assert_eq!(event.get("count"), Some(&AttrValue::from("5")));
    assert_eq!(event.get("flag"), Some(&AttrValue::from("true")));
}

#[test]
fn typed_attributes_encode_in_canonical_string_form() {
    let mut event = Event::new(SpecVersion::V10, "1", "/s", "t");
    event.set("count", AttrValue::Integer(-17));
    event.set("flag", AttrValue::Boolean(false));
    let (out, _) = http::encode_binary(&event);
    assert_eq!(out["ce-count"], "-17");
    assert_eq!(out["ce-flag"], "false");
}

#[test]
fn encoding_then_decoding_preserves_any_string() {
    let nasty = "  \"q\" 100% \\ \u{0}\u{1f}\u{7f}\u{80}\u{9f} €😀 %41 %zz ";
    let mut event = Event::new(SpecVersion::V10, "1", "/s", "t");
    event.set("nasty", nasty.into());
    let (out, body) = http::encode_binary(&event);
    let value = out["ce-nasty"].to_str().unwrap();
    assert!(
        value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"'),
        "{value}"
    );
    let (_, events) = http::decode_request(&out, body).unwrap();
    assert_eq!(events[0].get_str("nasty"), Some(nasty));
}

#[test]
fn validation_errors_name_the_attribute() {
    let cases: Vec<(Vec<Header<'_>>, &str)> = vec![
        (REQUIRED[1..].to_vec(), "specversion"),
        (vec![REQUIRED[0], REQUIRED[2], REQUIRED[3]], "id"),
        (vec![REQUIRED[0], REQUIRED[1], REQUIRED[3]], "source"),
        (REQUIRED[..3].to_vec(), "type"),
        (with_required(&[("ce-time", b"yesterday")]), "time"),
        (
            with_required(&[("ce-dataschema", b"relative/path")]),
            "dataschema",
        ),
        (
            with_required(&[("content-type", b"not a media type")]),
            "datacontenttype",
        ),
        (
            with_required(&[("ce-datacontenttype", b"text/plain")]),
            "datacontenttype",
        ),
        (with_required(&[("ce-bad_name", b"x")]), "bad_name"),
        (with_required(&[("ce-data", b"x")]), "data"),
        (with_required(&[("ce-", b"x")]), ""),
        (with_required(&[("ce-broken", b"%C0%A0")]), "broken"),
        (with_required(&[("ce-quote", b"\"unterminated")]), "quote"),
        (with_required(&[("ce-id", b"again")]), "id"),
        (with_required(&[("ce-subject", b"")]), "subject"),
    ];
    for (pairs, attribute) in cases {
        assert_eq!(error_attribute(&pairs, b""), attribute, "{pairs:?}");
    }
    let mut version = REQUIRED.to_vec();
    version[0] = ("ce-specversion", b"2.0");
    assert_eq!(error_attribute(&version, b""), "specversion");
}

#[test]
fn json_data_in_binary_mode() {
    let structured = |json: &str| herald_cloudevent::json::from_json(json.as_bytes()).unwrap();

    // JSON content type: the raw JSON text, byte for byte.
    let event = structured(
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/json","data":{ "a" : 1.50 }}"#,
    );
    let (out, body) = http::encode_binary(&event);
    assert_eq!(out["content-type"], "application/json");
    assert_eq!(body, r#"{ "a" : 1.50 }"#);

    // No content type: JSON is implied and made explicit; a string stays a JSON string.
    let event = structured(
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":"I'm just a string"}"#,
    );
    let (out, body) = http::encode_binary(&event);
    assert_eq!(out["content-type"], "application/json");
    assert_eq!(body, r#""I'm just a string""#);

    // Non-JSON content type with a string: the string is the content.
    let event = structured(
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/xml","data":"<much wow=\"xml\"/>"}"#,
    );
    let (out, body) = http::encode_binary(&event);
    assert_eq!(out["content-type"], "application/xml");
    assert_eq!(body, r#"<much wow="xml"/>"#);

    // Non-JSON content type with a non-string value: the raw text.
    let event = structured(
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain","data":42}"#,
    );
    assert_eq!(http::encode_binary(&event).1, "42");

    // `+json` suffix types are JSON.
    let event = structured(
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/vnd.x+json","data":"s"}"#,
    );
    assert_eq!(http::encode_binary(&event).1, r#""s""#);
}

#[test]
fn data_base64_without_content_type_has_no_content_type_header() {
    let event = herald_cloudevent::json::from_json(
        br#"{"specversion":"1.0","type":"t","source":"/s","id":"D234","data_base64":"eyAieHl6IjogMTIzIH0="}"#,
    )
    .unwrap();
    let (out, body) = http::encode_binary(&event);
    assert!(!out.contains_key("content-type"));
    assert_eq!(body, r#"{ "xyz": 123 }"#);
}

/// The header lines a written head holds, parsed back into a map.
fn written_head(head: &[u8]) -> ::http::HeaderMap {
    let text = std::str::from_utf8(head).unwrap();
    let lines: Vec<(&str, &[u8])> = text
        .strip_suffix("\r\n")
        .map_or(vec![], |t| t.split("\r\n").collect())
        .into_iter()
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("`name: value`");
            (name, value.as_bytes())
        })
        .collect();
    headers(&lines)
}

#[test]
fn a_written_head_carries_what_the_header_map_encoding_carries() {
    let structured = |json: &str| herald_cloudevent::json::from_json(json.as_bytes()).unwrap();
    let mut typed = Event::new(SpecVersion::V10, "1", "/s", "t");
    typed.set("count", AttrValue::Integer(-17));
    typed.set("flag", AttrValue::Boolean(true));
    typed.set("nasty", "  \"q\" 100% \u{0}\u{7f} €😀 %41 ".into());
    let mut bad_content_type = Event::new(SpecVersion::V10, "1", "/s", "t");
    bad_content_type.set("datacontenttype", "text/plain\r\nx: y".into());
    let events = [
        decode_one(&with_required(&[("content-type", b"text/plain")]), b"hi").unwrap(),
        typed,
        bad_content_type,
        structured(r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":1}}"#),
        structured(
            r#"{"specversion":"0.3","id":"1","source":"/s","type":"t","datacontenttype":"application/xml","data":"<x/>"}"#,
        ),
    ];
    for event in &events {
        let (expected, expected_body) = http::encode_binary(event);
        let mut head = Vec::new();
        let body = http::write_binary(event, &mut head);
        assert_eq!(sorted(&written_head(&head)), sorted(&expected), "{event:?}");
        assert_eq!(body, expected_body);

        let (expected, expected_body) = http::encode_structured(event);
        let mut head = Vec::new();
        let body = http::write_structured(event, &mut head);
        assert_eq!(sorted(&written_head(&head)), sorted(&expected));
        assert_eq!(body, expected_body);
    }
}
