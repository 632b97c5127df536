//! How long the ingress takes to accept a publish, per broker: from the moment the request's head
//! has been read until its 202, which the ingress sends only once the events are durable on the
//! broker's log. Rendered at `/metrics` as `herald_ingress_accept_latency_seconds`.
//!
//! It is the broker's share of a publisher's latency: reading the body, decoding, the wait for the
//! log's group commit (write and `fdatasync`) and answering. A publisher that sees much more than
//! this waited elsewhere: in its own process, on the network, or for the ingress to get to its
//! request (a busy core).

use crate::runtime::BrokerId;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// 0.1 ms .. ~13 s, doubling: fine enough to tell a group commit (well under a millisecond on a
/// fast disk) from a stalled one.
fn accept_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

fn labels(id: &BrokerId) -> Labels {
    vec![
        ("namespace", id.namespace.clone()),
        ("broker", id.name.clone()),
    ]
}

/// The accept-latency histograms of every running broker; cheap to clone (the family is shared).
#[derive(Clone, Debug)]
pub struct IngressMetrics {
    accept_latency: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Default for IngressMetrics {
    fn default() -> Self {
        IngressMetrics {
            accept_latency: Family::new_with_constructor(accept_histogram),
        }
    }
}

impl IngressMetrics {
    /// The histogram of broker `id`, to keep for its lifetime (observing it builds no labels).
    pub fn accept_latency(&self, id: &BrokerId) -> Histogram {
        self.accept_latency.get_or_create(&labels(id)).clone()
    }

    /// Drops a stopped broker's series, so a broker declared again starts from zero.
    pub fn forget(&self, id: &BrokerId) {
        self.accept_latency.remove(&labels(id));
    }

    /// Registers the family in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "ingress_accept_latency",
            "Time from a publish's arrival at the ingress to its 202 (its events durable on the log)",
            prometheus_client::registry::Unit::Seconds,
            self.accept_latency.clone(),
        );
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

    fn render(metrics: &IngressMetrics) -> String {
        let mut registry = Registry::with_prefix("herald");
        metrics.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn a_kept_handle_feeds_the_broker_series_until_it_is_forgotten() {
        let metrics = IngressMetrics::default();
        let kept = metrics.accept_latency(&id("orders"));
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
        metrics.accept_latency(&id("orders")).observe(0.001);
        let count =
            r#"herald_ingress_accept_latency_seconds_count{namespace="default",broker="orders"} 1"#;
        assert!(render(&metrics).contains(count));
    }
}
