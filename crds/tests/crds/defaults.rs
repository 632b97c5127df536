//! Knative's (and Herald's) defaults, delivery resolution on real resources, and status helpers.

use std::time::Duration;

use herald_crds::Resource;
use herald_crds::broker::{BROKER_CLASS_ANNOTATION, DEFAULT_BROKER_CLASS};
use herald_crds::delivery::{BackoffPolicy, DeliverySource, DeliverySpec};
use herald_crds::meta::{Condition, ConditionStatus};
use herald_crds::sources::kafka::{DeliveryOrdering, InitialOffset};
use herald_crds::sources::nats::NatsDeliverPolicy;
use herald_crds::trigger::BROKER_LABEL;

use crate::common::{load, parse};

fn defaulted(yaml: &str) -> Resource {
    let mut r = parse(yaml);
    r.apply_defaults();
    r
}

#[test]
fn trigger_gets_namespace_broker_label_and_ref_namespaces() {
    let r = defaulted(
        r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t}
spec:
  broker: orders
  subscriber: {ref: {apiVersion: v1, kind: Service, name: svc}}
  delivery: {deadLetterSink: {ref: {apiVersion: v1, kind: Service, name: dls}}}
"#,
    );
    let Resource::Trigger(t) = &r else { panic!() };
    assert_eq!(t.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(t.metadata.labels[BROKER_LABEL], "orders");
    assert_eq!(
        t.spec
            .subscriber
            .r#ref
            .as_ref()
            .unwrap()
            .namespace
            .as_deref(),
        Some("default")
    );
    let dls = t
        .spec
        .delivery
        .as_ref()
        .unwrap()
        .dead_letter_sink
        .as_ref()
        .unwrap();
    assert_eq!(
        dls.r#ref.as_ref().unwrap().namespace.as_deref(),
        Some("default")
    );
}

#[test]
fn ref_namespace_written_by_the_user_is_kept() {
    let r = defaulted(
        r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, namespace: shop}
spec:
  broker: b
  subscriber: {ref: {apiVersion: v1, kind: Service, name: svc, namespace: other}}
"#,
    );
    let Resource::Trigger(t) = &r else { panic!() };
    assert_eq!(
        t.spec
            .subscriber
            .r#ref
            .as_ref()
            .unwrap()
            .namespace
            .as_deref(),
        Some("other")
    );
    assert_eq!(r.namespace(), "shop");
}

#[test]
fn broker_class_is_defaulted_and_delivery_is_not_filled_in() {
    let brokers = load("broker-knative.yaml");
    let mut plain = brokers[2].clone();
    plain.apply_defaults();
    let Resource::Broker(b) = &plain else {
        panic!()
    };
    assert_eq!(
        b.metadata.annotations[BROKER_CLASS_ANNOTATION],
        DEFAULT_BROKER_CLASS
    );
    assert_eq!(b.class(), Some("MTChannelBasedBroker"));
    assert!(
        b.spec.delivery.is_none(),
        "the runtime applies delivery defaults"
    );
    assert!(b.spec.config.is_none());

    let mut kafka = brokers[1].clone();
    kafka.apply_defaults();
    assert_eq!(
        kafka.metadata().annotations[BROKER_CLASS_ANNOTATION],
        "Kafka"
    );

    let mut knative = brokers[0].clone();
    knative.apply_defaults();
    let Resource::Broker(b) = &knative else {
        panic!()
    };
    let dls = b
        .spec
        .delivery
        .as_ref()
        .unwrap()
        .dead_letter_sink
        .as_ref()
        .unwrap();
    assert_eq!(
        dls.r#ref.as_ref().unwrap().namespace.as_deref(),
        Some("shop")
    );
}

#[test]
fn pingsource_schedule_defaults_to_every_minute() {
    let r = defaulted(
        "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata: {name: p}\nspec: {sink: {uri: 'http://x'}}\n",
    );
    let Resource::PingSource(p) = &r else {
        panic!()
    };
    assert_eq!(p.spec.schedule, "* * * * *");
    assert!(r.validate().is_ok());
}

#[test]
fn kafkasource_defaults_are_knatives_with_a_stable_consumer_group() {
    let yaml = "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata: {name: k, namespace: shop}\nspec: {bootstrapServers: [b:9092], topics: [t], sink: {uri: 'http://x'}}\n";
    let r = defaulted(yaml);
    let Resource::KafkaSource(k) = &r else {
        panic!()
    };
    assert_eq!(
        k.spec.consumer_group.as_deref(),
        Some("knative-kafka-source-shop-k")
    );
    assert_eq!(k.spec.initial_offset, Some(InitialOffset::Latest));
    assert_eq!(k.spec.ordering, Some(DeliveryOrdering::Ordered));
    assert_eq!(k.spec.consumers, Some(1));
    assert_eq!(
        defaulted(yaml),
        r,
        "reloading gives the same consumer group"
    );

    let mut fixture = load("kafkasources.yaml").remove(0);
    fixture.apply_defaults();
    let Resource::KafkaSource(k) = &fixture else {
        panic!()
    };
    assert_eq!(k.spec.consumer_group.as_deref(), Some("orders-group"));
    assert_eq!(k.spec.initial_offset, Some(InitialOffset::Earliest));
    assert_eq!(k.spec.consumers, Some(3));
}

#[test]
fn rabbitmqsource_defaults() {
    let mut r = load("rabbitmqsource.yaml").remove(0);
    r.apply_defaults();
    let Resource::RabbitmqSource(s) = &r else {
        panic!()
    };
    let config = &s.spec.rabbitmq_resources_config;
    assert_eq!(config.parallelism, Some(10), "kept");
    assert_eq!(config.routing_key.as_deref(), Some("#"));
    assert_eq!(
        s.spec
            .rabbitmq_cluster_reference
            .as_ref()
            .unwrap()
            .namespace
            .as_deref(),
        Some("shop")
    );
    let r = defaulted(
        "apiVersion: sources.herald.dev/v1\nkind: RabbitmqSource\nmetadata: {name: r}\nspec: {url: 'amqp://guest:guest@localhost:5672/%2f', rabbitmqResourcesConfig: {queueName: q}, sink: {uri: 'http://x'}}\n",
    );
    let Resource::RabbitmqSource(s) = &r else {
        panic!()
    };
    assert_eq!(s.spec.rabbitmq_resources_config.parallelism, Some(1));
    assert!(!s.spec.rabbitmq_resources_config.predeclared);
    assert!(r.validate().is_ok(), "{:?}", r.validate());
}

#[test]
fn natssource_jetstream_defaults() {
    let r = defaulted(
        "apiVersion: sources.herald.dev/v1\nkind: NatsSource\nmetadata: {name: my.src, namespace: ns}\nspec: {servers: ['nats://h:4222'], subject: a, jetstream: {stream: S}, sink: {uri: 'http://x'}}\n",
    );
    let Resource::NatsSource(n) = &r else {
        panic!()
    };
    let js = n.spec.jetstream.as_ref().unwrap();
    assert_eq!(js.deliver_policy, Some(NatsDeliverPolicy::All));
    assert_eq!(js.durable_name.as_deref(), Some("herald-ns-my_src"));
    assert!(r.validate().is_ok(), "{:?}", r.validate());
}

#[test]
fn effective_delivery_from_broker_and_trigger_manifests() {
    let broker = load("broker-knative.yaml").remove(0);
    let triggers = load("triggers-attributes.yaml");
    let (Resource::Broker(b), Resource::Trigger(with), Resource::Trigger(without)) =
        (&broker, &triggers[0], &triggers[1])
    else {
        panic!()
    };
    let r = DeliverySpec::effective(with.spec.delivery.as_ref(), b.spec.delivery.as_ref());
    assert_eq!(r.source, DeliverySource::Own);
    assert_eq!(r.retry, 3);
    assert_eq!(r.backoff_policy, BackoffPolicy::Linear);
    assert_eq!(r.backoff_delay, Duration::from_secs(1));
    assert_eq!(
        r.timeout,
        Duration::from_secs(30),
        "broker's PT10S is not merged in"
    );
    assert_eq!(
        r.backoff_max,
        Duration::from_secs(300),
        "broker's PT1M is not merged in"
    );
    assert_eq!(
        r.dead_letter_sink.unwrap().uri.as_deref(),
        Some("http://dlq.shop.svc.cluster.local/")
    );

    let r = DeliverySpec::effective(without.spec.delivery.as_ref(), b.spec.delivery.as_ref());
    assert_eq!(r.source, DeliverySource::Fallback);
    assert_eq!(r.retry, 5);
    assert_eq!(r.timeout, Duration::from_secs(10));
    assert_eq!(r.backoff_max, Duration::from_secs(60));
    assert_eq!(r.retry_after_max, Duration::from_secs(120));
    assert!(r.dead_letter_sink.unwrap().r#ref.is_some());

    let r = DeliverySpec::effective(without.spec.delivery.as_ref(), None);
    assert_eq!(r.source, DeliverySource::StockDefault);
    assert_eq!((r.retry, r.backoff_delay), (10, Duration::from_millis(200)));
}

#[test]
fn status_helpers_work_on_every_kind() {
    let mut all: Vec<Resource> = [
        "natssource.yaml",
        "triggers-attributes.yaml",
        "broker-knative.yaml",
        "pingsources.yaml",
        "kafkasources.yaml",
        "rabbitmqsource.yaml",
    ]
    .into_iter()
    .flat_map(load)
    .collect();
    for r in &mut all {
        r.clear_status();
        assert!(r.conditions().is_empty());
        assert!(!r.is_ready());
        r.set_condition(Condition::new_false("Ready", "NotYet", "starting"));
        r.set_observed_generation(7);
        r.set_condition(Condition::new("Ready", ConditionStatus::True));
        assert!(r.is_ready());
        assert_eq!(r.conditions().len(), 1);
        let json = r.to_json_value();
        assert_eq!(json["status"]["observedGeneration"], 7);
        assert_eq!(json["status"]["conditions"][0]["type"], "Ready");
        assert!(json["status"]["conditions"][0]["lastTransitionTime"].is_string());
    }
}

#[test]
fn status_extra_fields_round_trip() {
    let r = parse(
        r#"
apiVersion: eventing.herald.dev/v1
kind: Trigger
metadata: {name: t}
spec: {broker: b, subscriber: {uri: "http://x"}}
status:
  subscriberUri: http://x
  concurrencyLimit: 8
  conditions: [{type: Ready, status: "True"}]
"#,
    );
    let Resource::Trigger(t) = &r else { panic!() };
    let status = t.status.as_ref().unwrap();
    assert_eq!(status.extra["concurrencyLimit"], 8);
    assert_eq!(status.subscriber_uri.as_deref(), Some("http://x"));
    assert!(!status.extra.contains_key("subscriberUri"));
    assert_eq!(r.to_json_value()["status"]["concurrencyLimit"], 8);

    let r = parse(
        "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata: {name: p}\nstatus: {sinkUri: 'http://s', ceAttributes: [{type: dev.knative.sources.ping, source: /apis/v1/namespaces/default/pingsources/p}], lastEventTime: '2024-01-01T00:00:00Z', eventsSent: 3}\n",
    );
    let Resource::PingSource(p) = &r else {
        panic!()
    };
    let status = p.status.as_ref().unwrap();
    assert_eq!(status.ce_attributes[0].type_, "dev.knative.sources.ping");
    assert_eq!(status.extra["eventsSent"], 3);
    let json = r.to_json_value();
    assert_eq!(
        json["status"]["ceAttributes"][0]["type"],
        "dev.knative.sources.ping"
    );
    assert_eq!(json["status"]["lastEventTime"], "2024-01-01T00:00:00Z");
}
