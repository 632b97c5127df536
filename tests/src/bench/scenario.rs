//! The scenarios: their names on the command line, what each one runs (the direct baseline,
//! Herald with a backend and a Trigger set, JetStream, or idle Herald), and the Trigger
//! manifests they apply.

use super::event::EVENT_TYPE;
use clap::ValueEnum;
use serde_json::{Value, json};

/// A scenario, in the order a run goes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum ScenarioName {
    Direct,
    Relay,
    HeraldMemory,
    HeraldDurable,
    HeraldDurableNofsync,
    HeraldDurableIngress,
    HeraldDurableBatch,
    #[value(name = "fanout-10")]
    Fanout10,
    #[value(name = "selective-1000")]
    Selective1000,
    #[value(name = "selective-1000-cesql")]
    Selective1000Cesql,
    Jetstream,
    JetstreamFsync,
    #[value(name = "idle-100-triggers")]
    Idle100Triggers,
}

/// Which nats-server a JetStream scenario publishes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatsServerKind {
    /// The machine's own server (`--nats-url`), as configured there: by default JetStream
    /// acknowledges a publish once written, and syncs to disk every two minutes.
    Machine,
    /// A server the benchmark starts itself with `sync_interval: always`: acknowledged only
    /// after its fsync, like herald-durable.
    SyncAlways,
}

/// How Triggers filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `spec.filter.attributes.type`
    ExactType,
    /// `spec.filters: [{cesql: "type = '...'"}]`
    Cesql,
}

/// `matching` Triggers that take every benchmark event, and `others` that take none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TriggerSet {
    pub matching: u32,
    pub others: u32,
    pub dialect: Dialect,
}

impl TriggerSet {
    const fn exact(matching: u32, others: u32) -> TriggerSet {
        TriggerSet {
            matching,
            others,
            dialect: Dialect::ExactType,
        }
    }

    pub fn total(&self) -> u32 {
        self.matching + self.others
    }

    /// Trigger manifests; Trigger `i` sends to `subscriber(i)`. Triggers `0..matching` match
    /// [`EVENT_TYPE`], the others each a type no event has.
    pub fn manifests(&self, subscriber: impl Fn(u32) -> String) -> Vec<Value> {
        (0..self.total())
            .map(|i| {
                let event_type = if i < self.matching {
                    EVENT_TYPE.to_string()
                } else {
                    format!("bench.other.{i}")
                };
                trigger(i, self.dialect, &event_type, &subscriber(i))
            })
            .collect()
    }
}

fn trigger(index: u32, dialect: Dialect, event_type: &str, subscriber: &str) -> Value {
    let mut spec = json!({
        "broker": "default",
        "subscriber": { "uri": subscriber },
    });
    match dialect {
        Dialect::ExactType => spec["filter"] = json!({ "attributes": { "type": event_type } }),
        Dialect::Cesql => spec["filters"] = json!([{ "cesql": format!("type = '{event_type}'") }]),
    }
    json!({
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": { "name": format!("bench-{index}"), "namespace": "default" },
        "spec": spec,
    })
}

/// What a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// The sender posts straight to the subscriber.
    Direct,
    /// A relay that answers 202 and passes each event on to the subscriber, doing nothing else.
    Relay,
    /// Herald with extra `serve` flags and Triggers, under load of `batch` events per request
    /// (1: binary mode; more: batch mode).
    Herald {
        flags: &'static [&'static str],
        triggers: TriggerSet,
        batch: u64,
    },
    /// Publish-with-ack to a JetStream file-storage stream on the given server.
    JetStream(NatsServerKind),
    /// Herald with Triggers and no load: its idle memory.
    IdleHerald { triggers: TriggerSet },
}

const MEMORY: &[&str] = &["--log-backend", "memory"];
const DURABLE: &[&str] = &["--log-backend", "embedded"];
const NO_FSYNC: &[&str] = &["--log-backend", "embedded", "--no-fsync"];
/// Events per request of the batch scenario.
pub const BATCH_EVENTS: u64 = 100;

impl ScenarioName {
    pub fn as_str(&self) -> &'static str {
        match self {
            ScenarioName::Direct => "direct",
            ScenarioName::Relay => "relay",
            ScenarioName::HeraldMemory => "herald-memory",
            ScenarioName::HeraldDurable => "herald-durable",
            ScenarioName::HeraldDurableNofsync => "herald-durable-nofsync",
            ScenarioName::HeraldDurableIngress => "herald-durable-ingress",
            ScenarioName::HeraldDurableBatch => "herald-durable-batch",
            ScenarioName::Fanout10 => "fanout-10",
            ScenarioName::Selective1000 => "selective-1000",
            ScenarioName::Selective1000Cesql => "selective-1000-cesql",
            ScenarioName::Jetstream => "jetstream",
            ScenarioName::JetstreamFsync => "jetstream-fsync",
            ScenarioName::Idle100Triggers => "idle-100-triggers",
        }
    }

    pub fn description(&self) -> &'static str {
        match self {
            ScenarioName::Direct => "the sender posts straight to the subscriber: one HTTP hop",
            ScenarioName::Relay => {
                "a bare relay answers 202 and passes each event on: two HTTP hops, nothing else"
            }
            ScenarioName::HeraldMemory => "Herald, memory log, 1 Trigger",
            ScenarioName::HeraldDurable => {
                "Herald, embedded log with group-committed fsync (the default), 1 Trigger"
            }
            ScenarioName::HeraldDurableNofsync => "Herald, embedded log without fsync, 1 Trigger",
            ScenarioName::HeraldDurableIngress => {
                "Herald durable, no Trigger: the ingress alone, like jetstream's publish"
            }
            ScenarioName::HeraldDurableBatch => {
                "Herald durable, no Trigger, 100 events per request (batch mode)"
            }
            ScenarioName::Fanout10 => {
                "Herald durable, 10 matching Triggers (delivered counts every copy)"
            }
            ScenarioName::Selective1000 => "Herald durable, 1,000 exact-type Triggers, 1 matches",
            ScenarioName::Selective1000Cesql => "Herald durable, 1,000 CESQL Triggers, 1 matches",
            ScenarioName::Jetstream => "NATS JetStream publish-with-ack, file storage",
            ScenarioName::JetstreamFsync => {
                "NATS JetStream publish-with-ack, file storage, sync_interval: always (acked after fsync)"
            }
            ScenarioName::Idle100Triggers => "Herald durable, 100 Triggers, no load: idle memory",
        }
    }

    pub fn system(&self) -> System {
        let herald = |flags, triggers| System::Herald {
            flags,
            triggers,
            batch: 1,
        };
        match self {
            ScenarioName::Direct => System::Direct,
            ScenarioName::Relay => System::Relay,
            ScenarioName::HeraldMemory => herald(MEMORY, TriggerSet::exact(1, 0)),
            ScenarioName::HeraldDurable => herald(DURABLE, TriggerSet::exact(1, 0)),
            ScenarioName::HeraldDurableNofsync => herald(NO_FSYNC, TriggerSet::exact(1, 0)),
            ScenarioName::HeraldDurableIngress => herald(DURABLE, TriggerSet::exact(0, 0)),
            ScenarioName::HeraldDurableBatch => System::Herald {
                flags: DURABLE,
                triggers: TriggerSet::exact(0, 0),
                batch: BATCH_EVENTS,
            },
            ScenarioName::Fanout10 => herald(DURABLE, TriggerSet::exact(10, 0)),
            ScenarioName::Selective1000 => herald(DURABLE, TriggerSet::exact(1, 999)),
            ScenarioName::Selective1000Cesql => herald(
                DURABLE,
                TriggerSet {
                    matching: 1,
                    others: 999,
                    dialect: Dialect::Cesql,
                },
            ),
            ScenarioName::Jetstream => System::JetStream(NatsServerKind::Machine),
            ScenarioName::JetstreamFsync => System::JetStream(NatsServerKind::SyncAlways),
            ScenarioName::Idle100Triggers => System::IdleHerald {
                triggers: TriggerSet::exact(100, 0),
            },
        }
    }

    /// Every scenario, in run order.
    pub fn all() -> &'static [ScenarioName] {
        ScenarioName::value_variants()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_the_command_line() {
        for name in ScenarioName::all() {
            assert_eq!(ScenarioName::from_str(name.as_str(), false), Ok(*name));
        }
    }

    #[test]
    fn selective_sets_have_one_matching_trigger_among_a_thousand() {
        for name in [
            ScenarioName::Selective1000,
            ScenarioName::Selective1000Cesql,
        ] {
            let System::Herald { triggers, .. } = name.system() else {
                panic!("{name:?} runs Herald");
            };
            let manifests = triggers.manifests(|i| format!("http://sub/t/{i}"));
            assert_eq!(manifests.len(), 1000);
            assert_eq!(manifests[0]["spec"]["subscriber"]["uri"], "http://sub/t/0");
            assert_eq!(manifests[999]["metadata"]["name"], "bench-999");
        }
    }

    #[test]
    fn manifests_filter_by_type_in_either_dialect() {
        let exact = TriggerSet::exact(1, 1).manifests(|_| "http://s/".into());
        assert_eq!(exact[0]["spec"]["filter"]["attributes"]["type"], EVENT_TYPE);
        assert_eq!(
            exact[1]["spec"]["filter"]["attributes"]["type"],
            "bench.other.1"
        );
        let cesql = TriggerSet {
            matching: 1,
            others: 1,
            dialect: Dialect::Cesql,
        }
        .manifests(|_| "http://s/".into());
        assert_eq!(
            cesql[0]["spec"]["filters"][0]["cesql"],
            format!("type = '{EVENT_TYPE}'")
        );
        assert!(cesql[0]["spec"].get("filter").is_none());
    }
}
