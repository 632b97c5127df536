//! Validation rules of Brokers and Triggers: field paths and messages.

use herald_crds::Resource;

use crate::common::{assert_error, assert_error_contains, errors, parse};

fn trigger(spec: &str) -> String {
    format!(
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {{name: t}}\nspec:\n{spec}"
    )
}

const SUB: &str = "  subscriber: {uri: 'http://sink'}\n";

#[test]
fn trigger_requires_broker_and_subscriber() {
    let e = errors(&trigger("  {}\n"));
    assert_error(&e, "spec.broker", "missing field");
    assert_error(
        &e,
        "spec.subscriber",
        "expected at least one of ref, uri; got neither (missing field)",
    );
    assert_eq!(e.len(), 2, "{e}");
    assert_eq!(
        e.to_string(),
        "spec.broker: missing field; spec.subscriber: expected at least one of ref, uri; got neither (missing field)"
    );
}

#[test]
fn subscriber_uri_and_ref_rules() {
    let e = errors(&trigger(
        "  broker: b\n  subscriber: {uri: 'http://abs/x', ref: {apiVersion: v1, kind: Service, name: s}}\n",
    ));
    assert_error(
        &e,
        "spec.subscriber",
        "absolute URI is not allowed when ref is present",
    );
    let e = errors(&trigger("  broker: b\n  subscriber: {uri: '/relative'}\n"));
    assert_error(
        &e,
        "spec.subscriber.uri",
        "invalid value \"/relative\": relative URI is not allowed when ref is absent",
    );
    let e = errors(&trigger(
        "  broker: b\n  subscriber: {uri: 'ftp://host/x'}\n",
    ));
    assert_error(
        &e,
        "spec.subscriber.uri",
        "invalid value \"ftp://host/x\": scheme must be http or https, not \"ftp\"",
    );
    let e = errors(&trigger(
        "  broker: b\n  subscriber: {ref: {kind: Service}}\n",
    ));
    assert_error(&e, "spec.subscriber.ref.apiVersion", "missing field");
    assert_error(&e, "spec.subscriber.ref.name", "missing field");
    let e = errors(&trigger(
        "  broker: b\n  subscriber: {uri: 'http://x', CACerts: 'garbage'}\n",
    ));
    assert_error_contains(&e, "spec.subscriber.CACerts", "PEM-encoded X.509");
}

#[test]
fn filter_attribute_names_follow_knative() {
    let keys = [
        "SOURCE", "Source", "s pace s", "s_pace_s", "s-pace-s", "123", "😀",
    ];
    let attrs: Vec<String> = keys.iter().map(|k| format!("      \"{k}\": x\n")).collect();
    let e = errors(&trigger(&format!(
        "  broker: b\n{SUB}  filter:\n    attributes:\n      source: ok\n{}",
        attrs.concat()
    )));
    assert_eq!(e.len(), keys.len(), "{e}");
    for key in keys {
        assert_error(
            &e,
            &format!("spec.filter.attributes.{key}"),
            &format!("invalid attribute name {key:?}: must match ^[a-z][a-z0-9]*$"),
        );
    }
}

#[test]
fn filters_need_exactly_one_dialect() {
    let e = errors(&trigger(&format!(
        "  broker: b\n{SUB}  filters:\n    - {{}}\n    - {{exact: {{type: a}}, prefix: {{type: b}}}}\n"
    )));
    assert_error(
        &e,
        "spec.filters[0]",
        "expected exactly one of exact, prefix, suffix, all, any, not, cesql; got none",
    );
    assert_error(
        &e,
        "spec.filters[1]",
        "expected exactly one of exact, prefix, suffix, all, any, not, cesql; got exact, prefix",
    );
}

#[test]
fn filter_maps_need_entries_valid_keys_and_values() {
    let e = errors(&trigger(&format!(
        "  broker: b\n{SUB}  filters:\n    - exact: {{}}\n    - exact: {{'': x}}\n    - exact: {{Type: x, id: ''}}\n    - prefix: {{source: ''}}\n    - suffix: {{subject: ''}}\n"
    )));
    assert_error(
        &e,
        "spec.filters[0].exact",
        "must contain at least one attribute",
    );
    assert_error(
        &e,
        "spec.filters[1].exact",
        "attribute name must not be empty",
    );
    assert_error(
        &e,
        "spec.filters[2].exact.Type",
        "invalid attribute name \"Type\": must match ^[a-z][a-z0-9]*$",
    );
    assert_error(
        &e,
        "spec.filters[3].prefix.source",
        "value must not be empty",
    );
    assert_error(
        &e,
        "spec.filters[4].suffix.subject",
        "value must not be empty",
    );
    assert_eq!(e.len(), 5, "exact allows an empty value: {e}");
}

#[test]
fn nested_filters_are_validated_recursively() {
    let e = errors(&trigger(&format!(
        "  broker: b\n{SUB}  filters:\n    - all: []\n    - any: []\n    - all:\n        - any:\n            - not:\n                prefix: {{BAD: x}}\n    - not: {{}}\n    - cesql: '  '\n    - sql: ''\n"
    )));
    assert_error(
        &e,
        "spec.filters[0].all",
        "must contain at least one nested filter",
    );
    assert_error(
        &e,
        "spec.filters[1].any",
        "must contain at least one nested filter",
    );
    assert_error(
        &e,
        "spec.filters[2].all[0].any[0].not.prefix.BAD",
        "invalid attribute name \"BAD\": must match ^[a-z][a-z0-9]*$",
    );
    assert_error_contains(&e, "spec.filters[3].not", "got none");
    assert_error(&e, "spec.filters[4].cesql", "must not be empty");
    assert_error(&e, "spec.filters[5].cesql", "must not be empty");
    assert_eq!(e.len(), 6, "{e}");
}

#[test]
fn every_problem_is_reported() {
    let e = errors(
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: Bad_Name}\nspec:\n  filter: {attributes: {X: y}}\n  filters: [{}]\n  subscriber: {uri: nope}\n  delivery: {retry: -2}\n",
    );
    let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "metadata.name",
            "spec.broker",
            "spec.filter.attributes.X",
            "spec.filters[0]",
            "spec.subscriber.uri",
            "spec.delivery.retry"
        ]
    );
    assert_error_contains(&e, "metadata.name", "lowercase RFC 1123 subdomain");
}

#[test]
fn metadata_name_and_namespace() {
    let e = errors(
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {namespace: Not_Ok}\n",
    );
    assert_error(&e, "metadata.name", "missing field");
    assert_error_contains(&e, "metadata.namespace", "lowercase RFC 1123 label");
}

#[test]
fn trigger_dependency_annotation() {
    let with = |value: &str| {
        errors(&format!(
            "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: t\n  namespace: shop\n  annotations:\n    knative.dev/dependency: '{value}'\nspec:\n  broker: b\n{SUB}"
        ))
    };
    assert!(
        with(r#"{"kind":"PingSource","name":"p","apiVersion":"sources.knative.dev/v1"}"#)
            .is_empty()
    );
    let e = with("not json");
    assert_error(
        &e,
        "metadata.annotations[knative.dev/dependency]",
        "the provided annotation was not a corev1.ObjectReference: \"not json\"",
    );
    let e = with(r#"{"namespace":"other"}"#);
    assert_error(
        &e,
        "metadata.annotations[knative.dev/dependency].kind",
        "missing field",
    );
    assert_error(
        &e,
        "metadata.annotations[knative.dev/dependency].name",
        "missing field",
    );
    assert_error(
        &e,
        "metadata.annotations[knative.dev/dependency].apiVersion",
        "missing field",
    );
    assert_error(
        &e,
        "metadata.annotations[knative.dev/dependency].namespace",
        "namespace must be empty or equal to the trigger namespace \"shop\"",
    );
}

#[test]
fn trigger_injection_annotation() {
    let with = |value: &str, broker: &str| {
        errors(&format!(
            "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: t\n  annotations:\n    eventing.knative.dev/injection: {value}\nspec:\n  broker: {broker}\n{SUB}"
        ))
    };
    assert!(with("enabled", "default").is_empty());
    assert_error(
        &with("maybe", "default"),
        "metadata.annotations[eventing.knative.dev/injection]",
        "the provided injection annotation value can only be \"enabled\" or \"disabled\", not \"maybe\"",
    );
    assert_error_contains(
        &with("enabled", "mine"),
        "metadata.annotations[eventing.knative.dev/injection]",
        "non-default broker specified here: \"mine\"",
    );
}

#[test]
fn broker_requires_class_once_defaults_ran() {
    let r = parse("apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b}\n");
    let e = r.validate().unwrap_err();
    assert_error(
        &e,
        "metadata.annotations[eventing.knative.dev/broker.class]",
        "missing field",
    );
    let mut r = r;
    r.apply_defaults();
    assert!(r.validate().is_ok());
}

#[test]
fn broker_config_and_delivery_are_validated() {
    let e = errors(
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b}\nspec:\n  config: {kind: ConfigMap}\n  delivery: {retry: -1, timeout: PT0S, deadLetterSink: {}}\n",
    );
    assert_error(&e, "spec.config.apiVersion", "missing field");
    assert_error(&e, "spec.config.name", "missing field");
    assert_error(&e, "spec.delivery.retry", "invalid value -1: must be >= 0");
    assert_error(
        &e,
        "spec.delivery.timeout",
        "invalid value \"PT0S\": must be greater than zero",
    );
    assert_error_contains(&e, "spec.delivery.deadLetterSink", "got neither");
    assert_eq!(e.len(), 5, "{e}");
}

#[test]
fn herald_classes_are_all_accepted() {
    for class in [
        "MTChannelBasedBroker",
        "Kafka",
        "RabbitMQBroker",
        "NatsJetStreamBroker",
        "Custom",
    ] {
        let mut r = parse(&format!(
            "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: b\n  annotations: {{eventing.knative.dev/broker.class: {class}}}\n"
        ));
        r.apply_defaults();
        assert!(r.validate().is_ok(), "{class}");
        let Resource::Broker(b) = &r else { panic!() };
        assert_eq!(b.class(), Some(class));
    }
}
