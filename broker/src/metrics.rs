//! Prometheus metrics at `/metrics` on the admin port, in the OpenMetrics text format. Counters
//! kept by the brokers and Trigger workers are read at scrape time.

use crate::runtime::Runtime;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;

type Labels = Vec<(&'static str, String)>;

/// Renders every metric as text.
pub async fn render(runtime: &Runtime) -> String {
    let received = Family::<Labels, Counter>::default();
    let log_head = Family::<Labels, Gauge>::default();
    let delivered = Family::<Labels, Counter>::default();
    let failed = Family::<Labels, Counter>::default();
    let expired = Family::<Labels, Counter>::default();
    let in_flight = Family::<Labels, Gauge>::default();
    let concurrency = Family::<Labels, Gauge>::default();
    let lag = Family::<Labels, Gauge>::default();
    let log_batches = Family::<Labels, Counter>::default();
    let log_syncs = Family::<Labels, Counter>::default();

    for broker in runtime.brokers() {
        let labels = vec![
            ("namespace", broker.id.namespace.clone()),
            ("broker", broker.id.name.clone()),
        ];
        received
            .get_or_create(&labels)
            .inc_by(broker.received.load(Ordering::Relaxed));
        let head = broker.log.head();
        log_head.get_or_create(&labels).set(head as i64);
        if let Some(stats) = broker.log.disk_stats() {
            log_batches.get_or_create(&labels).inc_by(stats.batches);
            log_syncs.get_or_create(&labels).inc_by(stats.fsyncs);
        }
        for (name, stats) in broker.trigger_stats().await {
            let mut labels = labels.clone();
            labels.push(("trigger", name));
            delivered
                .get_or_create(&labels)
                .inc_by(stats.delivered.load(Ordering::Relaxed));
            failed
                .get_or_create(&labels)
                .inc_by(stats.failed.load(Ordering::Relaxed));
            expired
                .get_or_create(&labels)
                .inc_by(stats.expired.load(Ordering::Relaxed));
            in_flight
                .get_or_create(&labels)
                .set(stats.in_flight.load(Ordering::Relaxed) as i64);
            concurrency
                .get_or_create(&labels)
                .set(stats.concurrency_limit.load(Ordering::Relaxed) as i64);
            let position = stats.position.load(Ordering::Relaxed);
            lag.get_or_create(&labels)
                .set(head.saturating_sub(position) as i64);
        }
    }

    let mut registry = Registry::with_prefix("herald");
    registry.register(
        "events_received",
        "Events accepted by the ingress",
        received,
    );
    registry.register(
        "log_head_offset",
        "Next offset of the broker's log",
        log_head,
    );
    registry.register(
        "log_batches",
        "Group-commit batches written to the broker's log on disk",
        log_batches,
    );
    registry.register(
        "log_syncs",
        "fdatasyncs of the broker's log on disk (at most one per batch, spaced by --min-sync-interval)",
        log_syncs,
    );
    registry.register(
        "trigger_delivered",
        "Events delivered to the subscriber",
        delivered,
    );
    registry.register(
        "trigger_failed",
        "Events whose delivery failed for good",
        failed,
    );
    registry.register(
        "trigger_expired",
        "Log records retention removed before the trigger read them (never delivered)",
        expired,
    );
    registry.register("trigger_in_flight", "Deliveries in flight", in_flight);
    registry.register(
        "trigger_lag",
        "Events between the trigger's position and the log head",
        lag,
    );
    registry.register(
        "trigger_concurrency_limit",
        "Current adaptive limit of deliveries in flight",
        concurrency,
    );
    registry.register(
        "ingress_budget_bytes",
        "Bytes of request bodies the ingress may hold at once",
        gauge_of(runtime.ingress_budget.total()),
    );
    registry.register(
        "ingress_reserved_bytes",
        "Bytes of the ingress budget held by requests now",
        gauge_of(runtime.ingress_budget.in_use()),
    );
    runtime.metrics.register(&mut registry);
    runtime.latency.register(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}

/// An unlabelled gauge holding `value`.
fn gauge_of(value: usize) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(value as i64);
    gauge
}
