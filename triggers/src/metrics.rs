//! Delivery metrics shared by every Trigger worker, rendered by the broker at `/metrics`: attempts
//! by outcome and status code, delivery latency, dead letters, replies.

use foldhash::{HashMap, HashMapExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

/// Label pairs of a metric.
pub type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The delivery metrics; cheap to clone (the families are shared).
#[derive(Clone, Debug)]
pub struct DispatchMetrics {
    attempts: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    dead_lettered: Family<Labels, Counter>,
    replies: Family<Labels, Counter>,
}

impl Default for DispatchMetrics {
    fn default() -> Self {
        DispatchMetrics {
            attempts: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            dead_lettered: Family::default(),
            replies: Family::default(),
        }
    }
}

/// Labels naming one Trigger.
pub fn trigger_labels(namespace: &str, broker: &str, trigger: &str) -> Labels {
    vec![
        ("namespace", namespace.to_string()),
        ("broker", broker.to_string()),
        ("trigger", trigger.to_string()),
    ]
}

impl DispatchMetrics {
    /// Counts one attempt and observes its latency.
    pub fn attempt(&self, trigger: &Labels, outcome: &str, status: Option<u16>, seconds: f64) {
        let mut labels = trigger.clone();
        labels.push(("outcome", outcome.to_string()));
        labels.push((
            "code",
            status.map_or_else(|| "none".to_string(), |s| s.to_string()),
        ));
        self.attempts.get_or_create(&labels).inc();
        self.latency.get_or_create(trigger).observe(seconds);
    }

    /// Counts one dead-lettered event, by reason.
    pub fn dead_lettered(&self, trigger: &Labels, reason: &str) {
        let mut labels = trigger.clone();
        labels.push(("reason", reason.to_string()));
        self.dead_lettered.get_or_create(&labels).inc();
    }

    /// Counts one reply event, by result (`ingested` or `failed`).
    pub fn reply(&self, trigger: &Labels, result: &str) {
        let mut labels = trigger.clone();
        labels.push(("result", result.to_string()));
        self.replies.get_or_create(&labels).inc();
    }

    /// A per-Trigger handle that counts attempts without building labels each time.
    pub fn meter(&self, trigger: Labels) -> AttemptMeter {
        AttemptMeter {
            latency: self.latency.get_or_create(&trigger).clone(),
            metrics: self.clone(),
            trigger,
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// Registers the families in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "delivery_attempts",
            "Delivery attempts by outcome and HTTP status code",
            self.attempts.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "Latency of delivery attempts",
            self.latency.clone(),
        );
        registry.register(
            "dead_lettered",
            "Events that reached the dead-letter path, by reason",
            self.dead_lettered.clone(),
        );
        registry.register(
            "replies",
            "Reply events sent back into the broker",
            self.replies.clone(),
        );
    }
}

/// Counts one Trigger's attempts: the latency histogram and each (outcome, status) counter are
/// looked up once and kept, so the hot path allocates nothing.
#[derive(Debug)]
pub struct AttemptMeter {
    metrics: DispatchMetrics,
    trigger: Labels,
    latency: Histogram,
    counters: Mutex<HashMap<(&'static str, Option<u16>), Counter>>,
}

impl AttemptMeter {
    /// Counts one attempt and observes its latency.
    pub fn attempt(&self, outcome: &'static str, status: Option<u16>, seconds: f64) {
        self.latency.observe(seconds);
        let mut counters = self.counters.lock().expect("meter lock");
        counters
            .entry((outcome, status))
            .or_insert_with(|| {
                let mut labels = self.trigger.clone();
                labels.push(("outcome", outcome.to_string()));
                labels.push((
                    "code",
                    status.map_or_else(|| "none".to_string(), |s| s.to_string()),
                ));
                self.metrics.attempts.get_or_create(&labels).clone()
            })
            .inc();
    }
}
