//! JSON event format: structured and batch round trips, data handling, validation errors.

use std::collections::BTreeMap;

use bytes::Bytes;
use herald_cloudevent::json::{
    DecodeError, batch_from_json, batch_from_json_shared, batch_to_json, from_json,
    from_json_shared, to_json,
};
use herald_cloudevent::{AttrValue, Data, Event, SpecVersion};
use serde_json::Value;
use serde_json::value::RawValue;

/// Members of a JSON object: parsed values (for attribute comparison) and raw text of `data`.
fn members(json: &[u8]) -> (Vec<(String, Value)>, Option<String>) {
    let raw: BTreeMap<String, &RawValue> = serde_json::from_slice(json).unwrap();
    let data = raw.get("data").map(|r| r.get().to_owned());
    let object: serde_json::Map<String, Value> = serde_json::from_slice(json).unwrap();
    let attributes = object
        .into_iter()
        .filter(|(name, value)| name != "data" && !value.is_null())
        .collect();
    (attributes, data)
}

/// Asserts the structured round trip: same attributes with the same JSON types in the same
/// order, and a byte-identical `data` text.
fn assert_structured_round_trip(input: &str) -> Event {
    let event = from_json(input.as_bytes()).unwrap();
    let output = to_json(&event);
    assert_eq!(
        members(&output),
        members(input.as_bytes()),
        "{}",
        String::from_utf8_lossy(&output)
    );
    assert_eq!(
        from_json(&output).unwrap(),
        event,
        "re-decoding gives the same event"
    );
    event
}

const PRETTY: &str = r#"{
    "specversion" : "1.0",
    "type" : "com.example.someevent",
    "source" : "/mycontext",
    "subject": null,
    "id" : "C234-1234-1234",
    "time" : "2018-04-05T17:31:00.1234567890+02:00",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "negative" : -2147483648,
    "flag" : true,
    "off" : false,
    "escaped" : "caf\u00e9 \"q\" \\ \n 😀",
    "datacontenttype" : "application/json",
    "data" : {
        "appinfoA" : "abc",
        "appinfoB" : 1.50e3,
        "appinfoC" : [true, null, "\u00e9"]
    }
}"#;

#[test]
fn structured_round_trip_keeps_types_order_and_exact_data() {
    let event = assert_structured_round_trip(PRETTY);
    assert_eq!(
        event.get("comexampleothervalue"),
        Some(&AttrValue::Integer(5))
    );
    assert_eq!(event.get("negative"), Some(&AttrValue::Integer(i32::MIN)));
    assert_eq!(event.get("flag"), Some(&AttrValue::Boolean(true)));
    assert_eq!(
        event.get("escaped"),
        Some(&AttrValue::from("caf\u{e9} \"q\" \\ \n \u{1F600}"))
    );
    assert_eq!(event.get("subject"), None, "null means absent");
    assert_eq!(
        event.get_str("time"),
        Some("2018-04-05T17:31:00.1234567890+02:00")
    );
    let names: Vec<&str> = event.attributes().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "specversion",
            "type",
            "source",
            "id",
            "time",
            "comexampleextension1",
            "comexampleothervalue",
            "negative",
            "flag",
            "off",
            "escaped",
            "datacontenttype",
        ]
    );
    let Some(Data::Json(raw)) = event.data() else {
        panic!("JSON data expected")
    };
    assert!(raw.starts_with(b"{\n        \"appinfoA\"") && raw.ends_with(b"]\n    }"));
}

#[test]
fn data_of_every_json_kind_round_trips() {
    for data in [
        r#""I'm just a string""#,
        "1.5",
        "-0.0e-0",
        "null",
        "true",
        "[]",
        r#""<much wow=\"xml\"/>""#,
    ] {
        let input =
            format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{data}}}"#);
        let event = assert_structured_round_trip(&input);
        assert_eq!(
            event.data(),
            Some(&Data::Json(Bytes::from(data.to_owned())))
        );
        assert_eq!(
            to_json(&event),
            input.as_bytes(),
            "compact input is reproduced exactly"
        );
    }
}

#[test]
fn absent_data_stays_absent() {
    let input =
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain"}"#;
    let event = from_json(input.as_bytes()).unwrap();
    assert_eq!(event.data(), None);
    assert_eq!(to_json(&event), input.as_bytes());
}

#[test]
fn data_base64_round_trips() {
    let input = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AAEC/w=="}"#;
    let event = from_json(input.as_bytes()).unwrap();
    assert_eq!(
        event.data(),
        Some(&Data::Binary(Bytes::from_static(&[0, 1, 2, 255])))
    );
    assert_eq!(to_json(&event), input.as_bytes());

    // Escaped solidus from some encoders is ordinary JSON string content.
    let escaped = input.replace("C/w", "C\\/w");
    assert_eq!(from_json(escaped.as_bytes()).unwrap(), event);
}

#[test]
fn binary_data_is_written_as_json_only_when_declared_and_valid() {
    let mut event = Event::new(SpecVersion::V10, "1", "/s", "t");
    event.set_data(Some(Data::Binary(Bytes::from_static(br#"{"a":1}"#))));
    let data_base64 =
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"eyJhIjoxfQ=="}"#;
    assert_eq!(
        to_json(&event),
        data_base64.as_bytes(),
        "no content type: binary"
    );

    event.set(
        "datacontenttype",
        "application/cloudevents+json; charset=utf-8".into(),
    );
    let json = to_json(&event);
    assert!(
        json.ends_with(br#","data":{"a":1}}"#),
        "{}",
        String::from_utf8_lossy(&json)
    );

    event.set_data(Some(Data::Binary(Bytes::from_static(b"{not json"))));
    let json = to_json(&event);
    assert!(
        json.ends_with(br#","data_base64":"e25vdCBqc29u"}"#),
        "{}",
        String::from_utf8_lossy(&json)
    );

    event.set_data(Some(Data::Binary(Bytes::from_static(b"\"\xff\""))));
    assert!(
        to_json(&event).windows(13).any(|w| w == b"\"data_base64\""),
        "invalid UTF-8 is not JSON"
    );
}

#[test]
fn spec_version_0_3_base64_data_re_encodes_identically() {
    for content_type in ["application/octet-stream", "application/json"] {
        let input = format!(
            r#"{{"specversion":"0.3","id":"1","source":"/s","type":"t","datacontentencoding":"base64","datacontenttype":"{content_type}","schemaurl":"https://example.com/s","data":"eyJhIjoxfQ=="}}"#
        );
        let event = from_json(input.as_bytes()).unwrap();
        assert_eq!(event.specversion(), SpecVersion::V03);
        assert_eq!(
            event.data(),
            Some(&Data::Binary(Bytes::from_static(br#"{"a":1}"#)))
        );
        assert_eq!(String::from_utf8(to_json(&event)).unwrap(), input);
    }
}

#[test]
fn spec_version_0_3_binary_data_gains_content_encoding() {
    let mut event = Event::new(SpecVersion::V03, "1", "/s", "t");
    event.set_data(Some(Data::Binary(Bytes::from_static(b"hi"))));
    let json = to_json(&event);
    assert_eq!(
        json,
        br#"{"specversion":"0.3","id":"1","source":"/s","type":"t","datacontentencoding":"base64","data":"aGk="}"#
    );
    let decoded = from_json(&json).unwrap();
    assert_eq!(decoded.specversion(), SpecVersion::V03, "never upgraded");
    assert_eq!(decoded.data(), event.data());

    // A 0.3 event without content encoding keeps JSON data as JSON.
    let input = r#"{"specversion":"0.3","id":"1","source":"/s","type":"t","data":{"x":"y"}}"#;
    assert_structured_round_trip(input);
}

#[test]
fn batch_round_trip() {
    let input = format!(
        r#"[{PRETTY}, {{"specversion":"0.3","id":"2","source":"/s","type":"u","data":"aGk=","datacontentencoding":"base64"}}]"#
    );
    let events = batch_from_json(input.as_bytes()).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].specversion(), SpecVersion::V03);
    let output = batch_to_json(&events);
    assert_eq!(batch_from_json(&output).unwrap(), events);
    let raw: Vec<&RawValue> = serde_json::from_slice(&output).unwrap();
    assert_eq!(members(raw[0].get().as_bytes()), members(PRETTY.as_bytes()));

    assert_eq!(batch_from_json(b" [ ] ").unwrap(), Vec::<Event>::new());
    assert_eq!(batch_to_json(&[]), b"[]");
}

fn decode_error(json: &str) -> DecodeError {
    from_json(json.as_bytes()).expect_err("must be rejected")
}

#[test]
fn validation_errors_name_the_attribute() {
    let base = r#""specversion":"1.0","id":"1","source":"/s","type":"t""#;
    let cases = [
        (r#"{"id":"1","source":"/s","type":"t"}"#.to_owned(), "specversion"),
        (r#"{"specversion":"1.0","source":"/s","type":"t"}"#.to_owned(), "id"),
        (r#"{"specversion":"1.0","id":"1","type":"t"}"#.to_owned(), "source"),
        (r#"{"specversion":"1.0","id":"1","source":"/s","type":null}"#.to_owned(), "type"),
        (r#"{"specversion":"1.0","id":"","source":"/s","type":"t"}"#.to_owned(), "id"),
        (r#"{"specversion":"1.0","id":5,"source":"/s","type":"t"}"#.to_owned(), "id"),
        (r#"{"specversion":1.0,"id":"1","source":"/s","type":"t"}"#.to_owned(), "specversion"),
        (r#"{"specversion":"0.2","id":"1","source":"/s","type":"t"}"#.to_owned(), "specversion"),
        (format!(r#"{{{base},"time":"2018-04-05 noon"}}"#), "time"),
        (format!(r#"{{{base},"dataschema":"schema.json"}}"#), "dataschema"),
        (format!(r#"{{{base},"datacontenttype":"json"}}"#), "datacontenttype"),
        (format!(r#"{{{base},"datacontenttype":7}}"#), "datacontenttype"),
        (format!(r#"{{{base},"subject":""}}"#), "subject"),
        (format!(r#"{{{base},"Upper":"x"}}"#), "Upper"),
        (format!(r#"{{{base},"with_underscore":"x"}}"#), "with_underscore"),
        (format!(r#"{{{base},"":"x"}}"#), ""),
        (format!(r#"{{{base},"big":2147483648}}"#), "big"),
        (format!(r#"{{{base},"small":-2147483649}}"#), "small"),
        (format!(r#"{{{base},"fraction":1.5}}"#), "fraction"),
        (format!(r#"{{{base},"exponent":1e3}}"#), "exponent"),
        (format!(r#"{{{base},"integral":5.0}}"#), "integral"),
        (format!(r#"{{{base},"object":{{"a":1}}}}"#), "object"),
        (format!(r#"{{{base},"array":[1]}}"#), "array"),
        (format!(r#"{{{base},"ext":"a","ext":"b"}}"#), "ext"),
        (format!(r#"{{{base},"id":"again"}}"#), "id"),
        (format!(r#"{{{base},"data":1,"data_base64":"AA=="}}"#), "data_base64"),
        (format!(r#"{{{base},"data":1,"data":2}}"#), "data"),
        (format!(r#"{{{base},"data_base64":"not base64!"}}"#), "data_base64"),
        (format!(r#"{{{base},"data_base64":"AA"}}"#), "data_base64"),
        (format!(r#"{{{base},"data_base64":42}}"#), "data_base64"),
        (r#"{"specversion":"0.3","id":"1","source":"/s","type":"t","data_base64":"AA=="}"#.to_owned(), "data_base64"),
        (r#"{"specversion":"0.3","id":"1","source":"/s","type":"t","schemaurl":"rel"}"#.to_owned(), "schemaurl"),
        (
            r#"{"specversion":"0.3","id":"1","source":"/s","type":"t","datacontentencoding":"base64","data":{}}"#.to_owned(),
            "data",
        ),
    ];
    for (json, attribute) in cases {
        let err = decode_error(&json);
        assert_eq!(err.attribute(), Some(attribute), "{json}: {err}");
        assert!(err.to_string().contains(&format!("`{attribute}`")), "{err}");
    }
}

#[test]
fn nulls_are_absent_and_integers_are_exact() {
    let event = from_json(
        br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","time":null,"data_base64":null,"zero":-0,"max":2147483647}"#,
    )
    .unwrap();
    assert_eq!(event.get("time"), None);
    assert_eq!(event.data(), None);
    assert_eq!(event.get("zero"), Some(&AttrValue::Integer(0)));
    assert_eq!(event.get("max"), Some(&AttrValue::Integer(i32::MAX)));
}

#[test]
fn escaped_member_names_are_unescaped() {
    let event = from_json(
        br#"{"spec\u0076ersion":"1.0","\u0069d":"1","source":"/s","type":"t","\u0064ata":7}"#,
    )
    .unwrap();
    assert_eq!(event.id(), "1");
    assert_eq!(event.data(), Some(&Data::Json(Bytes::from_static(b"7"))));
}

#[test]
fn malformed_json_is_reported_without_attribute() {
    for json in [
        "",
        "{",
        "[]",
        r#"{"id":}"#,
        r#"{"specversion":"1.0"} trailing"#,
        "\"string\"",
    ] {
        let err = decode_error(json);
        assert!(matches!(err, DecodeError::Json(_)), "{json}: {err}");
        assert_eq!(err.attribute(), None);
    }
    assert!(matches!(batch_from_json(b"{}"), Err(DecodeError::Json(_))));
}

#[test]
fn batch_errors_carry_the_index() {
    let input = r#"[{"specversion":"1.0","id":"1","source":"/s","type":"t"},{"specversion":"1.0","id":"2","source":"/s"}]"#;
    let err = batch_from_json(input.as_bytes()).unwrap_err();
    assert!(
        matches!(err, DecodeError::InvalidInBatch { index: 1, .. }),
        "{err}"
    );
    assert_eq!(err.attribute(), Some("type"));
    assert!(err.to_string().contains("batch index 1"), "{err}");
}

#[test]
fn shared_decoding_gives_the_same_events_with_data_kept_in_the_input() {
    let body = Bytes::from_static(
        br#"[{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a": [1, 2]}},
             {"specversion":"1.0","id":"2","source":"/s","type":"t","data":"caf\u00e9"},
             {"specversion":"1.0","id":"3","source":"/s","type":"t","data_base64":"AAE="}]"#,
    );
    let shared = batch_from_json_shared(&body).unwrap();
    assert_eq!(shared, batch_from_json(&body).unwrap());
    let inside = |data: &[u8]| body.as_ptr_range().contains(&data.as_ptr());
    assert!(inside(shared[0].data().unwrap().bytes()));
    assert!(inside(shared[1].data().unwrap().bytes()));
    // Base64 data is decoded, so it cannot point into the input.
    assert!(!inside(shared[2].data().unwrap().bytes()));

    let one = Bytes::from_static(
        br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":[true]}"#,
    );
    let event = from_json_shared(&one).unwrap();
    assert_eq!(event, from_json(&one).unwrap());
    assert_eq!(event.data().unwrap().bytes().as_ref(), b"[true]");
    assert!(
        one.as_ptr_range()
            .contains(&event.data().unwrap().bytes().as_ptr())
    );
}
