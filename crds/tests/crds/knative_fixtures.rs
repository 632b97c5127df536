//! Real Knative (and Herald) manifests load unchanged, keep their values and field names, and
//! pass validation once defaulted.

use std::time::Duration;

use herald_crds::broker::BROKER_CLASS_ANNOTATION;
use herald_crds::delivery::{BackoffPolicy, DeliveryFormat};
use herald_crds::filter::Dialect;
use herald_crds::meta::ConditionStatus;
use herald_crds::sources::kafka::{DeliveryOrdering, InitialOffset};
use herald_crds::sources::nats::NatsDeliverPolicy;
use herald_crds::sources::{SecretSource, SecretValueFromSource};
use herald_crds::{Kind, Resource};

use crate::common::load;

#[test]
fn every_fixture_is_valid_after_defaults_and_round_trips() {
    for name in [
        "broker-knative.yaml",
        "triggers-attributes.yaml",
        "triggers-filters.yaml",
        "pingsources.yaml",
        "kafkasources.yaml",
        "rabbitmqsource.yaml",
        "natssource.yaml",
    ] {
        for mut resource in load(name) {
            let json = resource.to_json_value();
            let back = Resource::from_json_value(json.clone()).unwrap();
            assert_eq!(
                back, resource,
                "{name}: JSON round trip changed the resource"
            );
            assert_eq!(back.to_json_value(), json);
            resource.apply_defaults();
            if let Err(e) = resource.validate() {
                panic!("{name}/{}: {e}", resource.name());
            }
        }
    }
}

#[test]
fn knative_broker() {
    let brokers = load("broker-knative.yaml");
    assert_eq!(brokers.len(), 3);
    let Resource::Broker(b) = &brokers[0] else {
        panic!("not a broker")
    };
    assert_eq!(b.api_version, "eventing.knative.dev/v1");
    assert_eq!(b.metadata.namespace.as_deref(), Some("shop"));
    assert_eq!(b.metadata.generation, Some(3));
    assert_eq!(b.metadata.resource_version.as_deref(), Some("4242"));
    assert_eq!(b.class(), Some("MTChannelBasedBroker"));
    let config = b.spec.config.as_ref().unwrap();
    assert_eq!(
        (config.kind.as_str(), config.name.as_str()),
        ("ConfigMap", "config-br-default-channel")
    );
    let d = b.spec.delivery.as_ref().unwrap();
    assert_eq!(d.retry, Some(5));
    assert_eq!(d.backoff_policy, Some(BackoffPolicy::Exponential));
    assert_eq!(
        d.backoff_delay.as_ref().unwrap().as_duration(),
        Duration::from_millis(500)
    );
    assert_eq!(
        d.timeout.as_ref().unwrap().as_duration(),
        Duration::from_secs(10)
    );
    assert_eq!(
        d.retry_after_max.as_ref().unwrap().as_duration(),
        Duration::from_secs(120)
    );
    assert_eq!(
        d.backoff_max.as_ref().unwrap().as_duration(),
        Duration::from_secs(60)
    );
    assert_eq!(d.format, Some(DeliveryFormat::Json));
    let dls = d.dead_letter_sink.as_ref().unwrap().r#ref.as_ref().unwrap();
    assert_eq!(
        (dls.kind.as_str(), dls.name.as_str()),
        ("Service", "dead-letters")
    );
    let status = b.status.as_ref().unwrap();
    assert_eq!(status.conditions[0].status, ConditionStatus::True);
    assert_eq!(
        status.address.as_ref().unwrap().url.as_deref(),
        Some("http://broker-ingress.knative-eventing.svc.cluster.local/shop/default")
    );
    assert_eq!(status.observed_generation, Some(3));
    assert!(brokers[0].is_ready());

    let json = brokers[0].to_json_value();
    assert_eq!(
        json["apiVersion"], "eventing.knative.dev/v1",
        "apiVersion kept as written"
    );
    assert_eq!(json["spec"]["delivery"]["backoffDelay"], "PT0.5S");
    assert_eq!(
        json["spec"]["delivery"]["deadLetterSink"]["ref"]["kind"],
        "Service"
    );
    assert_eq!(
        json["metadata"]["creationTimestamp"],
        "2024-05-02T10:11:12Z"
    );
    assert_eq!(
        json["status"]["deadLetterSinkUri"],
        "http://dead-letters.shop.svc.cluster.local"
    );
    assert!(
        json["metadata"].get("managedFields").is_none(),
        "unknown fields are dropped"
    );

    assert_eq!(
        brokers[1].metadata().annotations[BROKER_CLASS_ANNOTATION],
        "Kafka"
    );
    assert_eq!(brokers[2].api_version(), "eventing.herald.dev/v1");
    assert_eq!(brokers[2].namespace(), "default");
}

#[test]
fn knative_triggers_with_attributes() {
    let triggers = load("triggers-attributes.yaml");
    let Resource::Trigger(t) = &triggers[0] else {
        panic!("not a trigger")
    };
    let attrs = &t.spec.filter.as_ref().unwrap().attributes;
    assert_eq!(attrs["type"], "com.example.order.created");
    assert_eq!(attrs["source"], "/orders");
    assert_eq!(attrs["region"], "");
    let sub = &t.spec.subscriber;
    assert_eq!(sub.r#ref.as_ref().unwrap().name, "order-handler");
    assert_eq!(sub.uri.as_deref(), Some("/events"));
    let delivery = t.spec.delivery.as_ref().unwrap();
    assert_eq!(delivery.backoff_policy, Some(BackoffPolicy::Linear));
    let dls = delivery.dead_letter_sink.as_ref().unwrap();
    assert!(
        dls.ca_certs
            .as_ref()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(dls.audience.as_deref(), Some("dlq"));

    let json = triggers[0].to_json_value();
    assert!(json["spec"]["delivery"]["deadLetterSink"]["CACerts"].is_string());
    assert!(json["spec"]["subscriber"]["ref"].is_object());
    assert_eq!(
        json["spec"]["filter"]["attributes"]["type"],
        "com.example.order.created"
    );

    let Resource::Trigger(t) = &triggers[1] else {
        panic!("not a trigger")
    };
    assert_eq!(
        t.spec.subscriber.uri.as_deref(),
        Some("https://audit.example.com/ingest")
    );
    assert!(t.spec.filter.is_none() && t.spec.filters.is_empty());
}

#[test]
fn knative_trigger_with_every_filter_dialect() {
    let triggers = load("triggers-filters.yaml");
    let Resource::Trigger(t) = &triggers[0] else {
        panic!("not a trigger")
    };
    let f = &t.spec.filters;
    assert_eq!(f.len(), 7);
    let Some(Dialect::Exact(exact)) = f[0].dialect() else {
        panic!("exact")
    };
    assert_eq!(exact["source"], "/orders");
    assert!(matches!(f[1].dialect(), Some(Dialect::Prefix(m)) if m["subject"] == "orders/"));
    assert!(matches!(f[2].dialect(), Some(Dialect::Suffix(m)) if m["dataschema"] == ".json"));
    let Some(Dialect::All(all)) = f[3].dialect() else {
        panic!("all")
    };
    let Some(Dialect::Any(any)) = all[1].dialect() else {
        panic!("nested any")
    };
    assert!(matches!(any[1].dialect(), Some(Dialect::Suffix(m)) if m["region"] == "-west"));
    let Some(Dialect::Not(not)) = f[4].dialect() else {
        panic!("not")
    };
    assert!(matches!(not.dialect(), Some(Dialect::Exact(m)) if m["test"] == "true"));
    assert_eq!(
        f[5].dialect(),
        Some(Dialect::Cesql(
            "region = 'eu-west' AND CAST(amount AS INTEGER) > 100"
        ))
    );
    assert_eq!(
        f[6].dialect(),
        Some(Dialect::Cesql("EXISTS tenant")),
        "`sql` alias"
    );

    let json = triggers[0].to_json_value();
    assert_eq!(json["spec"]["filters"][6]["cesql"], "EXISTS tenant");
    assert_eq!(
        json["spec"]["filters"][3]["all"][1]["any"][0]["prefix"]["region"],
        "eu-"
    );
    assert_eq!(json["spec"]["filters"][4]["not"]["exact"]["test"], "true");
}

#[test]
fn knative_pingsources() {
    let sources = load("pingsources.yaml");
    let Resource::PingSource(p) = &sources[0] else {
        panic!("not a pingsource")
    };
    assert_eq!(p.api_version, "sources.knative.dev/v1");
    assert_eq!(p.spec.schedule, "*/2 * * * *");
    assert_eq!(p.timezone().unwrap(), chrono_tz::Europe::Paris);
    assert!(p.schedule().is_ok());
    assert_eq!(p.spec.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        p.spec.data.as_deref(),
        Some(r#"{"message": "Hello world!"}"#)
    );
    assert_eq!(
        p.spec.ce_overrides.as_ref().unwrap().extensions["team"],
        "payments"
    );
    assert_eq!(p.spec.sink.r#ref.as_ref().unwrap().kind, "Broker");
    let json = sources[0].to_json_value();
    assert_eq!(json["spec"]["contentType"], "application/json");
    assert_eq!(
        json["spec"]["ceOverrides"]["extensions"]["team"],
        "payments"
    );

    let Resource::PingSource(p) = &sources[1] else {
        panic!("not a pingsource")
    };
    assert_eq!(p.api_version, "sources.knative.dev/v1beta2");
    assert_eq!(p.spec.data_bytes().unwrap().unwrap(), b"hello world");
    assert_eq!(p.timezone().unwrap(), chrono_tz::Tz::UTC);
    assert_eq!(
        sources[1].to_json_value()["spec"]["dataBase64"],
        "aGVsbG8gd29ybGQ="
    );
}

#[test]
fn knative_kafkasource_with_sasl_secrets() {
    let sources = load("kafkasources.yaml");
    let Resource::KafkaSource(k) = &sources[0] else {
        panic!("not a kafkasource")
    };
    assert_eq!(k.api_version, "sources.knative.dev/v1beta1");
    assert_eq!(
        k.spec.bootstrap_servers,
        ["my-cluster-kafka-bootstrap.kafka:9093"]
    );
    assert_eq!(k.spec.topics, ["orders", "refunds"]);
    assert_eq!(k.spec.consumer_group.as_deref(), Some("orders-group"));
    assert_eq!(k.spec.initial_offset, Some(InitialOffset::Earliest));
    assert_eq!(k.spec.consumers, Some(3));
    let net = k.spec.net.as_ref().unwrap();
    let sasl = net.sasl.as_ref().unwrap();
    assert!(sasl.enable);
    let Some(SecretSource::SecretKeyRef(user)) = sasl.user.source() else {
        panic!("user secretKeyRef")
    };
    assert_eq!(
        (user.name.as_str(), user.key.as_str()),
        ("kafka-credentials", "user")
    );
    assert!(
        matches!(sasl.password.source(), Some(SecretSource::SecretKeyRef(s)) if s.key == "password")
    );
    assert!(
        matches!(sasl.type_.source(), Some(SecretSource::SecretKeyRef(s)) if s.key == "saslType")
    );
    let tls = net.tls.as_ref().unwrap();
    assert!(tls.enable);
    assert!(
        tls.cert.is_empty() && tls.key.is_empty(),
        "`{{}}` means unset"
    );
    assert!(
        matches!(tls.ca_cert.source(), Some(SecretSource::SecretKeyRef(s)) if s.key == "ca.crt")
    );
    let json = sources[0].to_json_value();
    assert_eq!(
        json["spec"]["net"]["sasl"]["user"]["secretKeyRef"]["name"],
        "kafka-credentials"
    );
    assert_eq!(
        json["spec"]["net"]["tls"]["caCert"]["secretKeyRef"]["key"],
        "ca.crt"
    );
    assert_eq!(
        json["spec"]["bootstrapServers"][0],
        "my-cluster-kafka-bootstrap.kafka:9093"
    );

    let Resource::KafkaSource(k) = &sources[1] else {
        panic!("not a kafkasource")
    };
    assert_eq!(k.spec.ordering, Some(DeliveryOrdering::Unordered));
    let sasl = k.spec.net.as_ref().unwrap().sasl.as_ref().unwrap();
    assert_eq!(sasl.user.source(), Some(SecretSource::Env("KAFKA_USER")));
    assert_eq!(
        sasl.password.source(),
        Some(SecretSource::File("/run/secrets/kafka-password"))
    );
    assert_eq!(
        sasl.type_,
        SecretValueFromSource::from_value("SCRAM-SHA-512")
    );
}

#[test]
fn knative_rabbitmqsource() {
    let sources = load("rabbitmqsource.yaml");
    let Resource::RabbitmqSource(r) = &sources[0] else {
        panic!("not a rabbitmqsource")
    };
    assert_eq!(r.api_version, "sources.knative.dev/v1alpha1");
    let cluster = r.spec.rabbitmq_cluster_reference.as_ref().unwrap();
    assert_eq!(cluster.name, "rabbitmq");
    assert_eq!(
        cluster.connection_secret.as_ref().unwrap().name,
        "rabbitmq-secret-credentials"
    );
    let config = &r.spec.rabbitmq_resources_config;
    assert!(config.predeclared);
    assert_eq!(config.queue_name, "orders-queue");
    assert_eq!(config.vhost.as_deref(), Some("/shop"));
    assert_eq!(config.parallelism, Some(10));
    assert_eq!(r.spec.delivery.as_ref().unwrap().retry, Some(5));
    let json = sources[0].to_json_value();
    assert_eq!(
        json["spec"]["rabbitmqResourcesConfig"]["queueName"],
        "orders-queue"
    );
    assert_eq!(
        json["spec"]["rabbitmqClusterReference"]["connectionSecret"]["name"],
        "rabbitmq-secret-credentials"
    );
}

#[test]
fn herald_natssource() {
    let sources = load("natssource.yaml");
    assert_eq!(sources[0].kind(), Kind::NatsSource);
    let Resource::NatsSource(n) = &sources[0] else {
        panic!("not a natssource")
    };
    assert_eq!(n.spec.servers.len(), 2);
    assert_eq!(n.spec.subject, "telemetry.>");
    let js = n.spec.jetstream.as_ref().unwrap();
    assert_eq!(js.stream, "TELEMETRY");
    assert_eq!(js.deliver_policy, Some(NatsDeliverPolicy::ByStartTime));
    assert_eq!(
        js.ack_wait.as_ref().unwrap().as_duration(),
        Duration::from_secs(30)
    );
    assert_eq!(js.max_deliver, Some(5));
    let creds = n.spec.credentials.as_ref().unwrap();
    assert_eq!(creds.user.as_deref(), Some("herald"));
    assert_eq!(
        creds.password.source(),
        Some(SecretSource::Env("NATS_PASSWORD"))
    );
    assert_eq!(
        sources[0].to_json_value()["spec"]["jetstream"]["deliverPolicy"],
        "byStartTime"
    );
}
