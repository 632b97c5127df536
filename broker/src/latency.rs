//! Per-broker latency histograms, rendered at `/metrics`:
//!
//! - `herald_ingress_accept_latency_seconds`: how long the ingress takes to accept a publish,
//!   from the moment the request's head has been read until its 202, which the ingress sends
//!   only once the events are durable on the broker's log. It is the broker's share of a
//!   publisher's latency: reading the body, decoding, the wait for the log's group commit (write
//!   and `fdatasync`) and answering. A publisher that sees much more than this waited elsewhere:
//!   in its own process, on the network, or for the ingress to get to its request (a busy core).
//! - `herald_log_sync_seconds`: how long each group-commit `fdatasync` of the broker's log took,
//!   the disk's share of the accept latency (embedded log with fsync only).

use crate::runtime::BrokerId;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

type Labels = Vec<(&'static str, String)>;

/// 0.1 ms .. ~13 s, doubling: fine enough to tell a group commit (well under a millisecond on a
/// fast disk) from a stalled one.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

fn labels(id: &BrokerId) -> Labels {
    vec![
        ("namespace", id.namespace.clone()),
        ("broker", id.name.clone()),
    ]
}

/// Both families, as the runtime keeps them.
#[derive(Clone, Debug)]
pub struct LatencyMetrics {
    accept: BrokerLatencies,
    log_sync: BrokerLatencies,
}

/// One broker's histograms, to keep for its lifetime (observing them builds no labels).
pub struct Latencies {
    /// How long the ingress took to accept each publish.
    pub accept: Histogram,
    /// How long each of the log's group-commit `fdatasync`s took.
    pub log_sync: Histogram,
}

impl Default for LatencyMetrics {
    fn default() -> Self {
        LatencyMetrics {
            accept: BrokerLatencies::accept(),
            log_sync: BrokerLatencies::log_sync(),
        }
    }
}

impl LatencyMetrics {
    /// Broker `id`'s histograms.
    pub fn of(&self, id: &BrokerId) -> Latencies {
        Latencies {
            accept: self.accept.of(id),
            log_sync: self.log_sync.of(id),
        }
    }

    /// Drops a stopped broker's series, so a broker declared again starts from zero.
    pub fn forget(&self, id: &BrokerId) {
        self.accept.forget(id);
        self.log_sync.forget(id);
    }

    /// Registers both families in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        self.accept.register(registry);
        self.log_sync.register(registry);
    }
}

/// One latency histogram per running broker; cheap to clone (the family is shared).
#[derive(Clone, Debug)]
struct BrokerLatencies {
    name: &'static str,
    help: &'static str,
    family: Family<Labels, Histogram, fn() -> Histogram>,
}

impl BrokerLatencies {
    /// `herald_ingress_accept_latency_seconds`.
    fn accept() -> BrokerLatencies {
        BrokerLatencies::new(
            "ingress_accept_latency",
            "Time from a publish's arrival at the ingress to its 202 (its events durable on the log)",
        )
    }

    /// `herald_log_sync_seconds`.
    fn log_sync() -> BrokerLatencies {
        BrokerLatencies::new(
            "log_sync",
            "Time each group-commit fdatasync of the broker's log took",
        )
    }

    fn new(name: &'static str, help: &'static str) -> BrokerLatencies {
        BrokerLatencies {
            name,
            help,
            family: Family::new_with_constructor(latency_histogram),
        }
    }

    /// The histogram of broker `id`, to keep for its lifetime (observing it builds no labels).
    fn of(&self, id: &BrokerId) -> Histogram {
        self.family.get_or_create(&labels(id)).clone()
    }

    /// Drops a stopped broker's series, so a broker declared again starts from zero.
    fn forget(&self, id: &BrokerId) {
        self.family.remove(&labels(id));
    }

    /// Registers the family in `registry`, in seconds.
    fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(self.name, self.help, Unit::Seconds, self.family.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn id(name: &str) -> BrokerId {
        BrokerId {
            namespace: "default".into(),
            name: name.into(),
        }
    }

    fn render(metrics: &BrokerLatencies) -> String {
        render_with(|registry| metrics.register(registry))
    }

    fn render_with(register: impl FnOnce(&mut Registry)) -> String {
        let mut registry = Registry::with_prefix("herald");
        register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn a_kept_handle_feeds_the_broker_series_until_it_is_forgotten() {
        let metrics = BrokerLatencies::accept();
        let kept = metrics.of(&id("orders"));
        kept.observe(0.0004);
        kept.observe(0.003);
        let text = render(&metrics);
        let count =
            r#"herald_ingress_accept_latency_seconds_count{namespace="default",broker="orders"} 2"#;
        assert!(text.contains(count), "{text}");
        // 0.4 ms falls in the bucket up to 0.8 ms (0.1 ms doubled three times); 3 ms does not.
        let bucket = r#"herald_ingress_accept_latency_seconds_bucket{le="0.0008",namespace="default",broker="orders"} 1"#;
        assert!(text.contains(bucket), "{text}");

        metrics.forget(&id("orders"));
        assert!(!render(&metrics).contains("orders"));
        // A broker declared again starts a fresh series.
        metrics.of(&id("orders")).observe(0.001);
        let count =
            r#"herald_ingress_accept_latency_seconds_count{namespace="default",broker="orders"} 1"#;
        assert!(render(&metrics).contains(count));
    }

    #[test]
    fn the_log_sync_family_renders_under_its_own_name() {
        let metrics = BrokerLatencies::log_sync();
        metrics.of(&id("orders")).observe(0.0003);
        let text = render(&metrics);
        let count = r#"herald_log_sync_seconds_count{namespace="default",broker="orders"} 1"#;
        assert!(text.contains(count), "{text}");
        assert!(!text.contains("accept"), "{text}");
    }

    #[test]
    fn a_broker_gets_both_histograms_and_loses_both_when_forgotten() {
        let metrics = LatencyMetrics::default();
        let orders = metrics.of(&id("orders"));
        orders.accept.observe(0.002);
        orders.log_sync.observe(0.0003);
        let text = render_with(|registry| metrics.register(registry));
        for family in ["ingress_accept_latency", "log_sync"] {
            let count = format!(
                r#"herald_{family}_seconds_count{{namespace="default",broker="orders"}} 1"#
            );
            assert!(text.contains(&count), "{text}");
        }

        metrics.forget(&id("orders"));
        let text = render_with(|registry| metrics.register(registry));
        assert!(!text.contains("orders"), "{text}");
    }
}
