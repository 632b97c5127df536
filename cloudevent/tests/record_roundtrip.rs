//! The log record encoding: full round trips of typed attributes and both data kinds, and
//! `peek_type`.

use bytes::Bytes;
use herald_cloudevent::record::{self, RecordError, decode, decode_shared, encode, peek_type};
use herald_cloudevent::{AttrValue, Data, Event, SpecVersion, http, json};

fn encoded(event: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    encode(event, &mut out);
    out
}

fn rich_event(version: SpecVersion, data: Option<Data>) -> Event {
    let mut event = Event::new(
        version,
        "id-\u{1F600}",
        "https://example.com/src",
        "com.example.object.created.v2",
    );
    event.set("time", "2018-04-05T17:31:00.000001Z".into());
    event.set("datacontenttype", "application/octet-stream".into());
    event.set(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
    );
    event.set(
        "customstring",
        "value with spaces, \"quotes\" and \u{e9}".into(),
    );
    event.set("emptystring", "".into());
    event.set("intmin", AttrValue::Integer(i32::MIN));
    event.set("intmax", AttrValue::Integer(i32::MAX));
    event.set("yes", AttrValue::Boolean(true));
    event.set("no", AttrValue::Boolean(false));
    event.set_data(data);
    event
}

#[test]
fn round_trips_every_attribute_type_and_data_kind() {
    let data_kinds = [
        None,
        Some(Data::Json(Bytes::from_static(
            b"{ \"pretty\" : [1, 2.50] }",
        ))),
        Some(Data::Binary(Bytes::from_static(b"\x00\xff binary \r\n"))),
        Some(Data::Binary(Bytes::new())),
        Some(Data::Binary(Bytes::from(vec![7u8; 70_000]))),
    ];
    for version in [SpecVersion::V10, SpecVersion::V03] {
        for data in data_kinds.clone() {
            let event = rich_event(version, data);
            let bytes = encoded(&event);
            assert_eq!(decode(&bytes), Ok(event.clone()));
            assert_eq!(
                decode_shared(&Bytes::from(bytes.clone())),
                Ok(event.clone())
            );
            assert_eq!(peek_type(&bytes), Some("com.example.object.created.v2"));
        }
    }
}

#[test]
fn attribute_order_is_preserved_wherever_type_is() {
    let event =
        json::from_json(br#"{"ext":"e","id":"1","type":"t","source":"/s","specversion":"1.0"}"#)
            .unwrap();
    let decoded = decode(&encoded(&event)).unwrap();
    let names: Vec<&str> = decoded.attributes().map(|(n, _)| n).collect();
    assert_eq!(names, ["ext", "id", "type", "source", "specversion"]);
}

#[test]
fn decoded_records_re_encode_to_the_same_http_messages() {
    let map = {
        let mut map = ::http::HeaderMap::new();
        for (name, value) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/s%20x"),
            ("ce-type", "t"),
            ("content-type", "text/plain"),
        ] {
            map.insert(
                ::http::HeaderName::from_static(name),
                ::http::HeaderValue::from_static(value),
            );
        }
        map
    };
    let (_, events) = http::decode_request(&map, Bytes::from_static(b"body")).unwrap();
    let stored = decode(&encoded(&events[0])).unwrap();
    assert_eq!(
        http::encode_binary(&stored),
        (map, Bytes::from_static(b"body"))
    );
}

#[test]
fn appends_to_an_existing_buffer() {
    let event = rich_event(SpecVersion::V10, None);
    let mut out = b"prefix".to_vec();
    encode(&event, &mut out);
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(decode(&out[6..]), Ok(event));
}

#[test]
fn peek_type_rejects_foreign_bytes() {
    assert_eq!(peek_type(b""), None);
    assert_eq!(peek_type(b"{\"type\":\"t\"}"), None);
    assert_eq!(
        peek_type(&[record::FORMAT_V1, 1, 10, b'a']),
        None,
        "truncated type"
    );
    assert_eq!(decode(b""), Err(RecordError::Truncated("format")));
}

#[test]
fn records_are_compact() {
    let event = Event::new(SpecVersion::V10, "1", "/s", "t");
    // format, version, type header (2), count, 4 x (name code + tag), string lengths + bytes, data.
    assert!(encoded(&event).len() <= 20, "{:?}", encoded(&event));
}
