//! DeliverySpec rules wherever a delivery appears (Broker, Trigger, sources), including the
//! checks that happen while reading the manifest (durations and enum values).

use herald_crds::{Kind, ManifestError, Resource};

use crate::common::{assert_error, assert_error_contains, errors};

fn trigger_with_delivery(delivery: &str) -> String {
    format!(
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {{name: t}}\nspec:\n  broker: b\n  subscriber: {{uri: 'http://x'}}\n  delivery: {delivery}\n"
    )
}

fn decode_error(yaml: &str) -> (String, String) {
    let value: serde_json::Value = serde_yaml_ng::from_str(yaml).unwrap();
    match Resource::from_json_value(value) {
        Err(ManifestError::Invalid { field, message, .. }) => (field, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn durations_must_be_iso_8601_with_field_path() {
    for field in ["backoffDelay", "backoffMax", "timeout", "retryAfterMax"] {
        let (path, message) = decode_error(&trigger_with_delivery(&format!("{{{field}: 10s}}")));
        assert_eq!(path, format!("spec.delivery.{field}"));
        assert_eq!(
            message,
            "invalid ISO-8601 duration \"10s\": must start with 'P' (for example PT1S, PT0.2S, PT1M, P1D)"
        );
    }
    let (path, message) = decode_error(&trigger_with_delivery("{backoffDelay: -PT1S}"));
    assert_eq!(path, "spec.delivery.backoffDelay");
    assert!(
        message.ends_with("negative durations are not allowed"),
        "{message}"
    );
}

#[test]
fn enum_values_are_checked_while_reading() {
    let (path, message) = decode_error(&trigger_with_delivery("{backoffPolicy: Linear}"));
    assert_eq!(path, "spec.delivery.backoffPolicy");
    assert_eq!(
        message,
        "unknown variant `Linear`, expected `linear` or `exponential`"
    );
    let (path, message) = decode_error(&trigger_with_delivery("{format: cbor}"));
    assert_eq!(path, "spec.delivery.format");
    assert_eq!(
        message,
        "unknown variant `cbor`, expected `json` or `binary`"
    );
}

#[test]
fn retry_timeout_and_dead_letter_sink() {
    let e = errors(&trigger_with_delivery(
        "{retry: -1, timeout: PT0S, backoffDelay: PT0S, backoffMax: PT0S, retryAfterMax: PT0S, deadLetterSink: {uri: 'relative/path'}}",
    ));
    assert_error(&e, "spec.delivery.retry", "invalid value -1: must be >= 0");
    assert_error(
        &e,
        "spec.delivery.timeout",
        "invalid value \"PT0S\": must be greater than zero",
    );
    assert_error_contains(
        &e,
        "spec.delivery.deadLetterSink.uri",
        "relative URI is not allowed when ref is absent",
    );
    assert_eq!(
        e.len(),
        3,
        "zero backoffDelay/backoffMax/retryAfterMax are fine: {e}"
    );
    assert!(errors(&trigger_with_delivery("{retry: 0, timeout: PT0.001S}")).is_empty());
}

#[test]
fn source_delivery_is_validated() {
    let e = errors(
        "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata: {name: k}\nspec: {bootstrapServers: [b:9092], topics: [t], sink: {uri: 'http://x'}, delivery: {retry: -3}}\n",
    );
    assert_error(&e, "spec.delivery.retry", "invalid value -3: must be >= 0");
    let (path, _) = decode_error(
        "apiVersion: sources.knative.dev/v1alpha1\nkind: RabbitmqSource\nmetadata: {name: r}\nspec: {delivery: {backoffDelay: soon}}\n",
    );
    assert_eq!(path, "spec.delivery.backoffDelay");
    assert_eq!(Kind::RabbitmqSource.plural(), "rabbitmqsources");
}
