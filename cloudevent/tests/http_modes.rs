//! HTTP content mode selection, structured and batched messages, and response decoding.

mod common;

use bytes::Bytes;
use common::{Pairs, headers, sorted};
use herald_cloudevent::http::{
    self, BATCH_CONTENT_TYPE, DecodeError, Mode, STRUCTURED_CONTENT_TYPE, decode_request,
    decode_response,
};
use herald_cloudevent::{Data, Event, SpecVersion, json};

const EVENT: &str =
    r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":5,"data":{ "k": [1, 2] }}"#;

fn structured(content_type: &str, body: &str) -> Result<(Mode, Vec<Event>), DecodeError> {
    decode_request(
        &headers(&[("content-type", content_type.as_bytes())]),
        Bytes::from(body.to_owned()),
    )
}

#[test]
fn structured_mode_is_chosen_case_insensitively_with_parameters() {
    for content_type in [
        "application/cloudevents+json",
        "Application/CloudEvents+JSON; charset=UTF-8",
        " application/cloudevents+json ;charset=utf-8",
    ] {
        let (mode, events) = structured(content_type, EVENT).unwrap();
        assert_eq!(mode, Mode::Structured, "{content_type}");
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].data(),
            Some(&Data::Json(Bytes::from_static(br#"{ "k": [1, 2] }"#)))
        );
    }
}

#[test]
fn structured_round_trip_through_http() {
    let (_, events) = structured(STRUCTURED_CONTENT_TYPE, EVENT).unwrap();
    let (out_headers, body) = http::encode_structured(&events[0]);
    assert_eq!(out_headers["content-type"], STRUCTURED_CONTENT_TYPE);
    assert_eq!(
        body, EVENT,
        "compact structured input is reproduced byte for byte"
    );
    let (mode, again) = decode_request(&out_headers, body).unwrap();
    assert_eq!((mode, again), (Mode::Structured, events));
}

#[test]
fn structured_mode_ignores_ce_headers() {
    let map = headers(&[
        ("content-type", STRUCTURED_CONTENT_TYPE.as_bytes()),
        ("ce-id", b"from-header"),
    ]);
    let (_, events) = decode_request(&map, Bytes::from_static(EVENT.as_bytes())).unwrap();
    assert_eq!(events[0].id(), "1");
}

#[test]
fn batched_mode() {
    let body = format!("[{EVENT},{}]", EVENT.replace(r#""id":"1""#, r#""id":"2""#));
    let (mode, events) =
        structured("application/cloudevents-batch+json; charset=utf-8", &body).unwrap();
    assert_eq!(mode, Mode::Batch);
    assert_eq!(events.iter().map(Event::id).collect::<Vec<_>>(), ["1", "2"]);

    let (out_headers, out_body) = http::encode_batch(&events);
    assert_eq!(out_headers["content-type"], BATCH_CONTENT_TYPE);
    assert_eq!(out_body, body);

    let (mode, events) = structured(BATCH_CONTENT_TYPE, "[]").unwrap();
    assert_eq!((mode, events.len()), (Mode::Batch, 0));
}

#[test]
fn other_cloudevents_formats_are_unsupported_media_types() {
    for content_type in [
        "application/cloudevents+avro",
        "application/cloudevents-batch+protobuf",
        "application/cloudevents",
        "APPLICATION/CLOUDEVENTS+XML; charset=utf-8",
    ] {
        let err = structured(content_type, EVENT).unwrap_err();
        assert!(err.is_unsupported_media_type(), "{content_type}: {err}");
        assert_eq!(err.attribute(), None);
        assert!(err.to_string().contains(content_type), "{err}");
    }
    assert!(
        !structured(STRUCTURED_CONTENT_TYPE, "{")
            .unwrap_err()
            .is_unsupported_media_type()
    );
}

#[test]
fn non_cloudevents_content_type_is_binary_mode() {
    let map = headers(&[
        ("content-type", b"application/json"),
        ("ce-specversion", b"0.3"),
        ("ce-id", b"1"),
        ("ce-source", b"/s"),
        ("ce-type", b"t"),
    ]);
    let (mode, events) = decode_request(&map, Bytes::from_static(EVENT.as_bytes())).unwrap();
    assert_eq!(mode, Mode::Binary);
    assert_eq!(events[0].specversion(), SpecVersion::V03);
    assert_eq!(
        events[0].data(),
        Some(&Data::Binary(Bytes::from_static(EVENT.as_bytes())))
    );

    // Re-sent structured, JSON bytes under a JSON content type become `data` verbatim; decoded
    // again and re-sent binary, the body is unchanged.
    let (structured_headers, structured_body) = http::encode_structured(&events[0]);
    let (_, again) = decode_request(&structured_headers, structured_body).unwrap();
    assert_eq!(again[0].specversion(), SpecVersion::V03);
    let (binary_headers, body) = http::encode_binary(&again[0]);
    assert_eq!(body, EVENT);
    assert_eq!(sorted(&binary_headers), sorted(&map));
}

#[test]
fn request_without_any_cloudevent_headers_is_rejected() {
    let err = decode_request(
        &headers(&[("content-type", b"text/plain")]),
        Bytes::from_static(b"hi"),
    )
    .unwrap_err();
    assert_eq!(err.attribute(), Some("specversion"));
}

#[test]
fn response_without_a_cloudevent_is_none() {
    let cases: [(&Pairs<'_>, &[u8]); 5] = [
        (&[], b""),
        (&[], b"plain body"),
        (&[("content-type", b"text/plain")], b"hello"),
        (&[("content-type", b"application/cloudevents+json")], b""),
        (
            &[("content-type", b"application/json"), ("ce-id", b"1")],
            b"{}",
        ),
    ];
    for (pairs, body) in cases {
        let decoded = decode_response(&headers(pairs), Bytes::from_static(body)).unwrap();
        assert_eq!(decoded, None, "{pairs:?}");
    }
}

#[test]
fn response_with_a_cloudevent_is_decoded() {
    let binary = headers(&[
        ("ce-specversion", b"1.0"),
        ("ce-id", b"r"),
        ("ce-source", b"/s"),
        ("ce-type", b"reply"),
    ]);
    let event = decode_response(&binary, Bytes::new())
        .unwrap()
        .expect("binary event without data");
    assert_eq!((event.ty(), event.data()), ("reply", None));

    let structured = headers(&[("content-type", STRUCTURED_CONTENT_TYPE.as_bytes())]);
    let event = decode_response(&structured, Bytes::from_static(EVENT.as_bytes()))
        .unwrap()
        .unwrap();
    assert_eq!(event, json::from_json(EVENT.as_bytes()).unwrap());

    let incomplete = headers(&[
        ("ce-specversion", b"1.0"),
        ("ce-id", b"r"),
        ("ce-source", b"/s"),
    ]);
    let err = decode_response(&incomplete, Bytes::new()).unwrap_err();
    assert_eq!(err.attribute(), Some("type"));

    let batch = headers(&[("content-type", BATCH_CONTENT_TYPE.as_bytes())]);
    let err = decode_response(&batch, Bytes::from_static(b"[]")).unwrap_err();
    assert!(matches!(err, DecodeError::UnexpectedBatch), "{err}");

    let avro = headers(&[("content-type", b"application/cloudevents+avro")]);
    assert!(
        decode_response(&avro, Bytes::from_static(b"x"))
            .unwrap_err()
            .is_unsupported_media_type()
    );
}
