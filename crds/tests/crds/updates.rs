//! Immutable fields on update.

use herald_crds::Resource;

use crate::common::{assert_error, load, parse};

fn defaulted(yaml: &str) -> Resource {
    let mut r = parse(yaml);
    r.apply_defaults();
    r
}

#[test]
fn trigger_broker_is_immutable() {
    let old = defaulted(
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t}\nspec: {broker: a, subscriber: {uri: 'http://x'}}\n",
    );
    let mut new = old.clone();
    let Resource::Trigger(t) = &mut new else {
        panic!()
    };
    t.spec.subscriber.uri = Some("http://y".into());
    assert!(
        new.validate_update(&old).is_ok(),
        "the subscriber may change"
    );
    let Resource::Trigger(t) = &mut new else {
        panic!()
    };
    t.spec.broker = "b".into();
    let e = new.validate_update(&old).unwrap_err();
    assert_error(
        &e,
        "spec.broker",
        "Immutable fields changed (-old +new): -\"a\" +\"b\"",
    );
}

#[test]
fn broker_class_and_config_are_immutable_delivery_is_not() {
    let old = load("broker-knative.yaml").remove(0);
    let mut new = old.clone();
    let Resource::Broker(b) = &mut new else {
        panic!()
    };
    b.spec.delivery.as_mut().unwrap().retry = Some(1);
    assert!(new.validate_update(&old).is_ok());

    let Resource::Broker(b) = &mut new else {
        panic!()
    };
    b.metadata
        .annotations
        .insert("eventing.knative.dev/broker.class".into(), "Kafka".into());
    b.spec.config.as_mut().unwrap().name = "other".into();
    let e = new.validate_update(&old).unwrap_err();
    assert_error(
        &e,
        "metadata.annotations[eventing.knative.dev/broker.class]",
        "Immutable fields changed (-old +new): -\"MTChannelBasedBroker\" +\"Kafka\"",
    );
    assert!(
        e.for_field("spec.config")
            .unwrap()
            .message
            .starts_with("Immutable fields changed")
    );
    assert_eq!(e.len(), 2);
}

#[test]
fn defaulting_the_class_is_not_a_change() {
    let old = parse("apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b}\n");
    let mut new = old.clone();
    new.apply_defaults();
    assert!(new.validate_update(&old).is_ok());
}

#[test]
fn kafka_consumer_group_is_immutable() {
    let yaml = "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata: {name: k}\nspec: {bootstrapServers: [b:9092], topics: [t], sink: {uri: 'http://x'}}\n";
    let old_raw = parse(yaml);
    let old = defaulted(yaml);
    let mut new = old.clone();
    assert!(
        new.validate_update(&old_raw).is_ok(),
        "defaulted group equals the implicit one"
    );
    let Resource::KafkaSource(k) = &mut new else {
        panic!()
    };
    k.spec.topics.push("more".into());
    assert!(new.validate_update(&old).is_ok());
    let Resource::KafkaSource(k) = &mut new else {
        panic!()
    };
    k.spec.consumer_group = Some("changed".into());
    let e = new.validate_update(&old).unwrap_err();
    assert_error(
        &e,
        "spec.consumerGroup",
        "Immutable fields changed (-old +new): -\"knative-kafka-source-default-k\" +\"changed\"",
    );
}

#[test]
fn kind_cannot_change() {
    let broker =
        defaulted("apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: x}\n");
    let trigger = defaulted(
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: x}\nspec: {broker: a, subscriber: {uri: 'http://x'}}\n",
    );
    let e = trigger.validate_update(&broker).unwrap_err();
    assert_error(
        &e,
        "kind",
        "Immutable fields changed (-old +new): -Broker +Trigger",
    );
}

#[test]
fn update_also_runs_every_validation_rule() {
    let old = defaulted(
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t}\nspec: {broker: a, subscriber: {uri: 'http://x'}}\n",
    );
    let mut new = old.clone();
    let Resource::Trigger(t) = &mut new else {
        panic!()
    };
    t.spec.broker = String::new();
    let e = new.validate_update(&old).unwrap_err();
    assert_error(&e, "spec.broker", "missing field");
    assert_eq!(e.len(), 2, "missing and changed: {e}");
}
