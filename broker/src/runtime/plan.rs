//! Turns a Trigger resource (and its Broker) into a [`TriggerPlan`]: compiled filter, resolved
//! subscriber URL, effective delivery policy and concurrency.

use crate::config::ServeConfig;
use herald_crds::broker::Broker;
use herald_crds::delivery::{DeliveryFormat, DeliverySpec, Destination, ResolvedDelivery};
use herald_crds::trigger::Trigger;
use herald_triggers::delivery::{Backoff, Policy};
use herald_triggers::dispatch::{Order, TriggerId, TriggerPlan};
use herald_triggers::filter::Filter;

/// Trigger annotation: most deliveries in flight at once (the adaptive limit's ceiling).
pub const MAX_IN_FLIGHT_ANNOTATION: &str = "herald.dev/max-in-flight";
/// Trigger annotation: most deliveries started per second.
pub const RATE_LIMIT_ANNOTATION: &str = "herald.dev/rate-limit";
/// Trigger annotation: `ordered` or `unordered` (the default).
pub const DELIVERY_ORDER_ANNOTATION: &str = "herald.dev/delivery-order";
/// Knative Kafka broker's ordering annotation, honoured too.
pub const KAFKA_DELIVERY_ORDER_ANNOTATION: &str = "kafka.eventing.knative.dev/delivery.order";

/// The delivery order a Trigger's annotations ask for; Herald's annotation wins over Knative's.
pub fn delivery_order(
    annotations: &std::collections::BTreeMap<String, String>,
) -> Result<Order, String> {
    let value = annotations
        .get(DELIVERY_ORDER_ANNOTATION)
        .or_else(|| annotations.get(KAFKA_DELIVERY_ORDER_ANNOTATION));
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("unordered") => Ok(Order::Unordered),
        Some("ordered") => Ok(Order::Ordered),
        Some(other) => Err(format!(
            "unknown delivery order {other:?}: use ordered or unordered"
        )),
    }
}

/// Why a Trigger cannot run; becomes a `Ready=False` condition.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Subscriber(String),
    #[error("{0}")]
    DeadLetterSink(String),
    #[error("{0}")]
    Filter(#[from] herald_triggers::filter::FilterError),
}

impl PlanError {
    /// The condition reason Knative would report.
    pub fn reason(&self) -> &'static str {
        match self {
            PlanError::Subscriber(_) => "SubscriberResolveFailed",
            PlanError::DeadLetterSink(_) => "DeadLetterSinkResolveFailed",
            PlanError::Filter(_) => "InvalidFilter",
        }
    }
}

/// Resolves a Destination to a URL: a `uri`, or a `ref` to a Broker served by this process.
pub fn resolve_destination(
    destination: &Destination,
    parent_namespace: &str,
    config: &ServeConfig,
) -> Result<String, String> {
    if let Some(reference) = &destination.r#ref {
        if reference.kind != "Broker" {
            return Err(format!(
                "cannot resolve a reference to kind {:?}: Herald resolves references to Brokers; use a uri",
                reference.kind
            ));
        }
        let namespace = reference.namespace.as_deref().unwrap_or(parent_namespace);
        let base = broker_url(config, namespace, &reference.name);
        return Ok(match &destination.uri {
            Some(relative) => format!("{}/{}", base, relative.trim_start_matches('/')),
            None => base,
        });
    }
    destination
        .uri
        .clone()
        .ok_or_else(|| "the destination has neither uri nor ref".to_string())
}

/// The ingress URL of a broker.
pub fn broker_url(config: &ServeConfig, namespace: &str, name: &str) -> String {
    format!("http://{}/{}/{}", config.listen, namespace, name)
}

/// The delivery policy a resolved DeliverySpec describes, with its dead-letter sink's URL.
pub fn policy(resolved: &ResolvedDelivery, dead_letter_sink: Option<String>) -> Policy {
    Policy {
        retry: resolved.retry,
        backoff: Backoff {
            policy: resolved.backoff_policy,
            delay: resolved.backoff_delay,
            max: resolved.backoff_max,
            retry_after_max: resolved.retry_after_max,
        },
        timeout: resolved.timeout,
        format: resolved.format.unwrap_or(DeliveryFormat::Binary),
        dead_letter_sink,
    }
}

/// Builds the plan a Trigger worker runs.
pub fn plan(
    trigger: &Trigger,
    broker: &Broker,
    config: &ServeConfig,
) -> Result<TriggerPlan, PlanError> {
    let namespace = trigger.metadata.namespace_or_default();
    let filter = Filter::compile(trigger.spec.filter.as_ref(), &trigger.spec.filters)?;
    let subscriber = resolve_destination(&trigger.spec.subscriber, namespace, config)
        .map_err(PlanError::Subscriber)?;
    let resolved = DeliverySpec::effective(
        trigger.spec.delivery.as_ref(),
        broker.spec.delivery.as_ref(),
    );
    let dead_letter_sink = resolved
        .dead_letter_sink
        .as_ref()
        .map(|d| resolve_destination(d, namespace, config))
        .transpose()
        .map_err(PlanError::DeadLetterSink)?;
    let policy = policy(&resolved, dead_letter_sink);
    let max_in_flight = trigger
        .metadata
        .annotations
        .get(MAX_IN_FLIGHT_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(config.max_in_flight);
    let annotations = &trigger.metadata.annotations;
    let rate_limit = annotations
        .get(RATE_LIMIT_ANNOTATION)
        .and_then(|v| v.parse::<f64>().ok());
    let order = delivery_order(annotations).unwrap_or(Order::Unordered);
    Ok(TriggerPlan {
        id: TriggerId {
            namespace: namespace.to_string(),
            broker: trigger.spec.broker.clone(),
            name: trigger.metadata.name.clone(),
        },
        filter,
        subscriber,
        policy,
        max_in_flight,
        rate_limit,
        order,
    })
}

/// What, if changed, requires the Trigger's worker to restart.
pub fn fingerprint(trigger: &Trigger, broker: &Broker) -> String {
    serde_json::json!({
        "spec": trigger.spec,
        "annotations": trigger.metadata.annotations,
        "brokerDelivery": broker.spec.delivery,
    })
    .to_string()
}
