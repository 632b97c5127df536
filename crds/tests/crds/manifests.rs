//! Multi-document manifest parsing and decoding errors.

use herald_crds::{Kind, ManifestError, Resource, parse_manifests};

const MIXED: &str = r#"
# three good resources and two bad ones
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
---
---
apiVersion: eventing.knative.dev/v1
kind: Channel
metadata:
  name: imc
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: t1
spec:
  broker: default
  subscriber:
    uri: http://sink
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: bad-delivery
spec:
  broker: default
  delivery:
    backoffDelay: 1s
  subscriber:
    uri: http://sink
---
apiVersion: sources.herald.dev/v1
kind: NatsSource
metadata:
  name: n
spec:
  servers: [nats://localhost:4222]
  subject: a.b
  sink: {uri: "http://sink"}
...
"#;

#[test]
fn one_bad_document_reports_its_index_while_others_parse() {
    let results = parse_manifests(MIXED);
    assert_eq!(results.len(), 5, "the empty document is skipped");
    let ok: Vec<(Kind, &str)> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| (r.kind(), r.name()))
        .collect();
    assert_eq!(
        ok,
        [
            (Kind::Broker, "default"),
            (Kind::Trigger, "t1"),
            (Kind::NatsSource, "n")
        ]
    );

    let Err(err) = &results[1] else {
        panic!("Channel must fail")
    };
    let ManifestError::InDocument {
        index,
        name,
        source,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*index, 2, "empty documents count in the index");
    assert_eq!(name.as_deref(), Some("imc"));
    assert!(matches!(**source, ManifestError::UnknownKind { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with("document at index 2 \"imc\": unknown kind \"Channel\""),
        "{text}"
    );
    assert!(
        text.contains("Broker (eventing.herald.dev/v1, eventing.knative.dev/v1)"),
        "{text}"
    );
    assert!(
        text.contains("NatsSource (sources.herald.dev/v1)"),
        "{text}"
    );

    let Err(err) = &results[3] else {
        panic!("bad duration must fail")
    };
    let ManifestError::InDocument { index, source, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(*index, 4);
    let ManifestError::Invalid {
        kind,
        name,
        field,
        message,
    } = &**source
    else {
        panic!("{source:?}")
    };
    assert_eq!(*kind, Kind::Trigger);
    assert_eq!(name.as_deref(), Some("bad-delivery"));
    assert_eq!(field, "spec.delivery.backoffDelay");
    assert!(
        message.starts_with("invalid ISO-8601 duration \"1s\""),
        "{message}"
    );
    assert!(
        err.to_string().starts_with(
            "document at index 4 \"bad-delivery\": invalid Trigger \"bad-delivery\": spec.delivery.backoffDelay: invalid ISO-8601 duration \"1s\""
        ),
        "{err}"
    );
}

#[test]
fn yaml_syntax_error_in_one_document_does_not_hide_the_others() {
    let yaml = "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: a\n---\nkind: [oops\n---\napiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: b\n";
    let results = parse_manifests(yaml);
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap().name(), "a");
    assert_eq!(results[2].as_ref().unwrap().name(), "b");
    let err = results[1].as_ref().unwrap_err();
    assert!(
        matches!(err, ManifestError::InDocument { index: 1, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("invalid YAML"), "{text}");
    assert!(
        text.contains("flow sequence at line 6 column 7"),
        "line of the whole file: {text}"
    );
}

#[test]
fn list_documents_yield_their_items() {
    let yaml = r#"
apiVersion: v1
kind: List
items:
  - apiVersion: eventing.knative.dev/v1
    kind: Broker
    metadata: {name: one}
  - apiVersion: eventing.knative.dev/v1
    kind: Broker
    metadata: {name: two}
    spec: {delivery: {retry: "many"}}
  - apiVersion: sources.knative.dev/v1
    kind: PingSource
    metadata: {name: three}
"#;
    let results = parse_manifests(yaml);
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap().name(), "one");
    assert_eq!(results[2].as_ref().unwrap().kind(), Kind::PingSource);
    let err = results[1].as_ref().unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::InDocument {
                index: 0,
                item: Some(1),
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("document at index 0, item 1 \"two\": invalid Broker"),
        "{text}"
    );
    assert!(text.contains("spec.delivery.retry"), "{text}");
}

#[test]
fn empty_and_comment_only_documents_are_skipped() {
    assert!(parse_manifests("").is_empty());
    assert!(parse_manifests("---\n# nothing\n---\n\n...\n").is_empty());
}

#[test]
fn unsupported_api_version_names_the_supported_ones() {
    let err = Resource::from_json_value(serde_json::json!({
        "apiVersion": "sources.knative.dev/v1alpha1", "kind": "PingSource", "metadata": {"name": "p"}
    }))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported apiVersion \"sources.knative.dev/v1alpha1\" for kind PingSource; supported: \
         sources.herald.dev/v1, sources.knative.dev/v1, sources.knative.dev/v1beta2"
    );
    let err = Resource::from_json_value(serde_json::json!({
        "apiVersion": "sources.knative.dev/v1", "kind": "NatsSource"
    }))
    .unwrap_err();
    assert!(matches!(
        err,
        ManifestError::UnsupportedApiVersion {
            kind: Kind::NatsSource,
            ..
        }
    ));
}

#[test]
fn missing_type_fields_and_non_objects() {
    let err = Resource::from_json_value(serde_json::json!({"kind": "Broker"})).unwrap_err();
    assert_eq!(err.to_string(), "missing field \"apiVersion\"");
    let err =
        Resource::from_json_value(serde_json::json!({"apiVersion": "eventing.knative.dev/v1"}))
            .unwrap_err();
    assert_eq!(err.to_string(), "missing field \"kind\"");
    let err = Resource::from_json_value(serde_json::json!(["x"])).unwrap_err();
    assert!(matches!(
        err,
        ManifestError::NotAnObject { found: "a list" }
    ));
    let results = parse_manifests("just a string\n");
    assert!(
        results[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("found a string")
    );
}

#[test]
fn unknown_enum_values_list_the_allowed_ones_with_the_field_path() {
    let err = Resource::from_json_value(serde_json::json!({
        "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "t"},
        "spec": {"broker": "b", "subscriber": {"uri": "http://x"},
                 "delivery": {"backoffPolicy": "fibonacci"}}
    }))
    .unwrap_err();
    let ManifestError::Invalid { field, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(field, "spec.delivery.backoffPolicy");
    assert_eq!(
        message,
        "unknown variant `fibonacci`, expected `linear` or `exponential`"
    );
    let err = Resource::from_json_value(serde_json::json!({
        "apiVersion": "sources.knative.dev/v1", "kind": "KafkaSource", "metadata": {"name": "k"},
        "spec": {"initialOffset": "middle"}
    }))
    .unwrap_err();
    assert!(
        err.to_string().contains(
            "spec.initialOffset: unknown variant `middle`, expected `earliest` or `latest`"
        ),
        "{err}"
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let r = Resource::from_json_value(serde_json::json!({
        "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
        "metadata": {"name": "t", "ownerReferences": []},
        "spec": {"broker": "b", "brokerRef": null, "subscriber": {"uri": "http://x", "group": "g"},
                 "somethingNew": {"a": 1}},
        "extra": true
    }))
    .unwrap();
    assert_eq!(r.name(), "t");
}

#[test]
fn resource_implements_serde() {
    let r: Resource = serde_json::from_value(serde_json::json!({
        "apiVersion": "eventing.herald.dev/v1", "kind": "Broker", "metadata": {"name": "b"}
    }))
    .unwrap();
    assert_eq!(r.kind(), Kind::Broker);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v, r.to_json_value());
    assert_eq!(v["kind"], "Broker");
    let e = serde_json::from_value::<Resource>(
        serde_json::json!({"kind": "Nope", "apiVersion": "x/v1"}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown kind \"Nope\""));
}
