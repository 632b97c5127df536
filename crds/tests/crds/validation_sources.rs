//! Source rules: PingSource, KafkaSource, RabbitmqSource, NatsSource, and the shared sink and
//! ceOverrides rules.

use crate::common::{assert_error, assert_error_contains, errors};

fn ping(spec: &str) -> String {
    format!(
        "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata: {{name: p}}\nspec:\n  sink: {{uri: 'http://x'}}\n{spec}"
    )
}

fn kafka(spec: &str) -> String {
    format!(
        "apiVersion: sources.knative.dev/v1beta1\nkind: KafkaSource\nmetadata: {{name: k}}\nspec:\n  sink: {{uri: 'http://x'}}\n{spec}"
    )
}

fn rabbit(spec: &str) -> String {
    format!(
        "apiVersion: sources.knative.dev/v1alpha1\nkind: RabbitmqSource\nmetadata: {{name: r}}\nspec:\n  sink: {{uri: 'http://x'}}\n{spec}"
    )
}

fn nats(spec: &str) -> String {
    format!(
        "apiVersion: sources.herald.dev/v1\nkind: NatsSource\nmetadata: {{name: n}}\nspec:\n  sink: {{uri: 'http://x'}}\n{spec}"
    )
}

const KAFKA_BASE: &str = "  bootstrapServers: [b:9092]\n  topics: [t]\n";
const RABBIT_BASE: &str =
    "  url: amqp://guest:guest@localhost:5672/\n  rabbitmqResourcesConfig: {queueName: q}\n";
const NATS_BASE: &str = "  servers: ['nats://localhost:4222']\n  subject: a.b\n";

#[test]
fn sink_is_required_and_overrides_need_valid_names() {
    let e = errors(
        "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata: {name: p}\nspec:\n  ceOverrides: {extensions: {Team: x, ok: y, 'with-dash': z}}\n",
    );
    assert_error(
        &e,
        "spec.sink",
        "expected at least one of ref, uri; got neither (missing field)",
    );
    assert_error(
        &e,
        "spec.ceOverrides.extensions.Team",
        "invalid attribute name \"Team\": must match ^[a-z][a-z0-9]*$",
    );
    assert_error_contains(
        &e,
        "spec.ceOverrides.extensions.with-dash",
        "invalid attribute name",
    );
    assert_eq!(e.len(), 3, "{e}");
    let e = errors(
        &ping("  schedule: '@hourly'\n")
            .replace("uri: 'http://x'", "ref: {kind: Broker, name: default}"),
    );
    assert_error(&e, "spec.sink.ref.apiVersion", "missing field");
}

#[test]
fn ping_schedule_rules() {
    assert!(errors(&ping("  schedule: '0 9 * * 1-5'\n")).is_empty());
    assert!(errors(&ping("  schedule: '*/10 * * * * *'\n")).is_empty());
    assert!(errors(&ping("  schedule: '@weekly'\n")).is_empty());
    assert!(errors(&ping("  schedule: 'CRON_TZ=America/New_York 0 9 * * *'\n")).is_empty());
    let e = errors(&ping("  schedule: '@every 1m'\n"));
    assert_error(
        &e,
        "spec.schedule",
        "invalid schedule \"@every 1m\": @every is not supported; use a cron expression such as \"*/5 * * * *\"",
    );
    let e = errors(&ping("  schedule: '* * * *'\n"));
    assert_error_contains(&e, "spec.schedule", "expected 5 fields");
    let e = errors(&ping("  schedule: '0 25 * * *'\n"));
    assert_error_contains(&e, "spec.schedule", "invalid schedule \"0 25 * * *\"");
}

#[test]
fn ping_timezone_must_be_iana() {
    let e = errors(&ping("  timezone: Mars/Olympus\n"));
    assert_error(
        &e,
        "spec.timezone",
        "invalid timezone \"Mars/Olympus\": not an IANA time zone name (for example \"Europe/Paris\" or \"UTC\")",
    );
    let e = errors(&ping("  schedule: 'CRON_TZ=Nowhere 0 * * * *'\n"));
    assert_error_contains(&e, "spec.schedule", "invalid timezone \"Nowhere\"");
    let e = errors(&ping(
        "  schedule: 'CRON_TZ=UTC 0 * * * *'\n  timezone: Europe/Paris\n",
    ));
    assert_error_contains(&e, "spec.timezone", "conflicts with the schedule's prefix");
}

#[test]
fn ping_data_rules() {
    let e = errors(&ping("  data: hi\n  dataBase64: aGk=\n"));
    assert_error(
        &e,
        "spec.data",
        "expected exactly one of data, dataBase64; got both",
    );
    let e = errors(&ping("  dataBase64: '***'\n"));
    assert_error_contains(&e, "spec.dataBase64", "invalid value: not valid base64");
    let e = errors(&ping(
        "  contentType: application/json\n  data: '{not json'\n",
    ));
    assert_error_contains(
        &e,
        "spec.data",
        "invalid value: contentType is application/json but data is not valid JSON",
    );
    assert!(
        errors(&ping(
            "  contentType: 'application/json; charset=utf-8'\n  data: '{\"a\": 1}'\n"
        ))
        .is_empty()
    );
    assert!(errors(&ping("  contentType: text/plain\n  data: '{not json'\n")).is_empty());
}

#[test]
fn kafka_required_lists_and_consumers() {
    let e = errors(&kafka("  consumers: 0\n"));
    assert_error(&e, "spec.bootstrapServers", "missing field");
    assert_error(&e, "spec.topics", "missing field");
    assert_error(&e, "spec.consumers", "invalid value 0: must be >= 1");
    let e = errors(&kafka("  bootstrapServers: ['']\n  topics: ['a b']\n"));
    assert_error(&e, "spec.bootstrapServers[0]", "must not be empty");
    assert_error(
        &e,
        "spec.topics[0]",
        "invalid value \"a b\": must not contain whitespace",
    );
    assert!(
        errors(&kafka(
            &format!("{KAFKA_BASE}  bootstrapServers: ['a:9092,b:9092']\n").replacen(
                "  bootstrapServers: [b:9092]\n",
                "",
                1
            )
        ))
        .is_empty()
    );
}

#[test]
fn kafka_sasl_and_tls() {
    let e = errors(&kafka(&format!(
        "{KAFKA_BASE}  net:\n    sasl: {{enable: true, user: {{}}, type: {{value: GSSAPI}}}}\n    tls: {{enable: true, cert: {{file: /c.pem}}}}\n"
    )));
    assert_error(&e, "spec.net.sasl.user", "missing field");
    assert_error(&e, "spec.net.sasl.password", "missing field");
    assert_error(
        &e,
        "spec.net.sasl.type.value",
        "invalid value \"GSSAPI\": expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
    );
    assert_error(
        &e,
        "spec.net.tls",
        "cert and key must be set together (mutual TLS)",
    );
    assert_eq!(e.len(), 4, "{e}");
    let e = errors(&kafka(&format!(
        "{KAFKA_BASE}  net:\n    sasl:\n      enable: true\n      user: {{value: u, env: U}}\n      password: {{secretKeyRef: {{name: s}}}}\n"
    )));
    assert_error(
        &e,
        "spec.net.sasl.user",
        "expected exactly one of secretKeyRef, file, env, value; got env, value",
    );
    assert_error(
        &e,
        "spec.net.sasl.password.secretKeyRef.key",
        "missing field",
    );
    let ok = errors(&kafka(&format!(
        "{KAFKA_BASE}  net:\n    sasl: {{enable: false, user: {{}}, password: {{}}, type: {{}}}}\n"
    )));
    assert!(ok.is_empty(), "disabled SASL needs no credentials: {ok}");
}

#[test]
fn rabbitmq_connection_rules() {
    let e = errors(&rabbit("  rabbitmqResourcesConfig: {queueName: q}\n"));
    assert_error(
        &e,
        "spec",
        "expected exactly one of url, rabbitmqClusterReference.connectionSecret; got neither",
    );
    let e = errors(&rabbit(&format!(
        "{RABBIT_BASE}  rabbitmqClusterReference: {{name: c, connectionSecret: {{name: s}}}}\n"
    )));
    assert_error_contains(&e, "spec", "got both");
    let e = errors(&rabbit(
        "  url: 'http://user:secret@host/'\n  rabbitmqResourcesConfig: {queueName: q}\n",
    ));
    assert_error(
        &e,
        "spec.url",
        "invalid AMQP URL: scheme must be amqp or amqps, not \"http\"",
    );
    assert!(
        !e.to_string().contains("secret@"),
        "the URL's password is not echoed"
    );
    let e = errors(&rabbit(
        "  rabbitmqClusterReference: {connectionSecret: {name: ''}}\n  rabbitmqResourcesConfig: {queueName: q}\n",
    ));
    assert_error(
        &e,
        "spec.rabbitmqClusterReference.connectionSecret.name",
        "missing field",
    );
    assert!(errors(&rabbit("  url: 'amqps://u:p@mq.example.com:5671/vhost'\n  rabbitmqResourcesConfig: {queueName: q}\n")).is_empty());
}

#[test]
fn rabbitmq_resources_config_rules() {
    let e = errors(&rabbit(
        "  url: amqp://localhost/\n  rabbitmqResourcesConfig: {parallelism: 0}\n",
    ));
    assert_error(
        &e,
        "spec.rabbitmqResourcesConfig.queueName",
        "missing field",
    );
    assert_error(
        &e,
        "spec.rabbitmqResourcesConfig.parallelism",
        "invalid value 0: must be between 1 and 1000",
    );
    let e = errors(&rabbit(
        "  url: amqp://localhost/\n  rabbitmqResourcesConfig: {queueName: q, parallelism: 1001}\n",
    ));
    assert_error_contains(&e, "spec.rabbitmqResourcesConfig.parallelism", "1001");
    assert!(errors(&rabbit("  url: amqp://localhost/\n  rabbitmqResourcesConfig: {queueName: q, parallelism: 1000}\n")).is_empty());
}

#[test]
fn nats_server_and_subject_rules() {
    let e = errors(&nats(""));
    assert_error(&e, "spec.servers", "missing field");
    assert_error(&e, "spec.subject", "missing field");
    let e = errors(&nats(
        "  servers: ['http://h:4222', 'nats://']\n  subject: 'a..b'\n  queueGroup: 'a b'\n",
    ));
    assert_error(
        &e,
        "spec.servers[0]",
        "invalid value \"http://h:4222\": scheme must be nats or tls",
    );
    assert_error_contains(&e, "spec.servers[1]", "nats://");
    assert_error(&e, "spec.subject", "invalid subject \"a..b\": empty token");
    assert_error(
        &e,
        "spec.queueGroup",
        "invalid value \"a b\": must not contain whitespace",
    );
    for bad in ["a.>.b", "a.b*", "a b"] {
        let e = errors(&nats(&format!(
            "  servers: ['nats://h']\n  subject: '{bad}'\n"
        )));
        assert_error_contains(&e, "spec.subject", "invalid subject");
    }
    for good in ["a.*.c", "a.>", ">", "orders"] {
        assert!(
            errors(&nats(&format!(
                "  servers: ['nats://h']\n  subject: '{good}'\n"
            )))
            .is_empty(),
            "{good}"
        );
    }
}

#[test]
fn nats_jetstream_rules() {
    let e = errors(&nats(&format!(
        "{NATS_BASE}  jetstream: {{deliverPolicy: byStartTime, ackWait: PT0S, maxDeliver: 0, durableName: 'a.b'}}\n"
    )));
    assert_error(&e, "spec.jetstream.stream", "missing field");
    assert_error(&e, "spec.jetstream.optStartTime", "missing field");
    assert_error(
        &e,
        "spec.jetstream.ackWait",
        "invalid value \"PT0S\": must be greater than zero",
    );
    assert_error(
        &e,
        "spec.jetstream.maxDeliver",
        "invalid value 0: must be >= 1, or -1 for unlimited",
    );
    assert_error_contains(
        &e,
        "spec.jetstream.durableName",
        "must not contain whitespace, '.', '*' or '>'",
    );
    let e = errors(&nats(&format!(
        "{NATS_BASE}  jetstream: {{stream: S, deliverPolicy: byStartTime, optStartTime: yesterday}}\n"
    )));
    assert_error_contains(
        &e,
        "spec.jetstream.optStartTime",
        "invalid value \"yesterday\": not an RFC 3339 time",
    );
    let e = errors(&nats(&format!(
        "{NATS_BASE}  jetstream: {{stream: S, optStartTime: '2024-01-01T00:00:00Z'}}\n"
    )));
    assert_error(
        &e,
        "spec.jetstream.optStartTime",
        "only valid with deliverPolicy byStartTime",
    );
    assert!(
        errors(&nats(&format!(
            "{NATS_BASE}  jetstream: {{stream: S, maxDeliver: -1, deliverPolicy: new}}\n"
        )))
        .is_empty()
    );
}

#[test]
fn nats_credentials_rules() {
    let e = errors(&nats(&format!(
        "{NATS_BASE}  credentials: {{credsFile: /x.creds, token: {{env: T}}}}\n"
    )));
    assert_error(
        &e,
        "spec.credentials",
        "expected at most one of credsFile, user/password, token; got credsFile, token",
    );
    let e = errors(&nats(&format!(
        "{NATS_BASE}  credentials: {{password: {{value: p}}}}\n"
    )));
    assert_error(&e, "spec.credentials.user", "missing field");
    let e = errors(&nats(&format!("{NATS_BASE}  credentials: {{user: u}}\n")));
    assert_error(&e, "spec.credentials.password", "missing field");
    assert!(
        errors(&nats(&format!(
            "{NATS_BASE}  credentials: {{token: {{file: /t}}}}\n"
        )))
        .is_empty()
    );
}
