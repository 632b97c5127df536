//! What the source integration tests share: a recording test sink ([`sink::TestSink`]), a
//! [`SourceContext`] builder with a fast delivery policy, unique names, and waiting helpers.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

pub mod sink;
pub mod tansu;

use std::sync::Arc;
use std::time::Duration;

use herald_crds::delivery::{BackoffPolicy, DeliveryFormat};
use herald_crds::resource::Resource;
use herald_log::MemoryStateStore;
use herald_sources::{HttpSink, MemoryDeadLetters, SourceContext, SourceHandle, spawn};
use herald_triggers::delivery::{Backoff, Policy, Sender};

pub use sink::TestSink;

/// A name no other test (or earlier run) uses: `{prefix}-{12 hex digits}`.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// A delivery policy with `retry` retries, `delay` linear backoff capped at 500 ms, a 5 s
/// attempt timeout and binary mode.
pub fn policy(retry: u32, delay: Duration) -> Policy {
    Policy {
        retry,
        backoff: Backoff {
            policy: BackoffPolicy::Linear,
            delay,
            max: Duration::from_millis(500),
            retry_after_max: Duration::ZERO,
        },
        timeout: Duration::from_secs(5),
        format: DeliveryFormat::Binary,
        dead_letter_sink: None,
    }
}

/// What a test keeps of a source's context.
pub struct Harness {
    pub context: SourceContext,
    pub dead_letters: Arc<MemoryDeadLetters>,
}

/// A context delivering to `sink` (and `dls`) with `policy`, fresh in-memory state.
pub fn harness(sink: &TestSink, dls: Option<&TestSink>, policy: Policy) -> Harness {
    harness_with_state(sink, dls, policy, MemoryStateStore::new())
}

/// Like [`harness`], with the given state store (shared across restarts).
pub fn harness_with_state(
    sink: &TestSink,
    dls: Option<&TestSink>,
    mut policy: Policy,
    state: Arc<MemoryStateStore>,
) -> Harness {
    let http = |s: &TestSink| -> Arc<dyn herald_sources::Sink> {
        Arc::new(HttpSink::new(
            s.url(),
            Sender::new(),
            DeliveryFormat::Binary,
            Duration::from_secs(5),
        ))
    };
    policy.dead_letter_sink = dls.map(TestSink::url);
    let dead_letters = MemoryDeadLetters::new();
    Harness {
        context: SourceContext {
            sink: http(sink),
            dead_letter_sink: dls.map(http),
            policy,
            state,
            dead_letters: dead_letters.clone(),
            secrets_dir: None,
        },
        dead_letters,
    }
}

/// Starts a source from its JSON manifest.
pub fn start(manifest: serde_json::Value, harness: &Harness) -> SourceHandle {
    let resource = Resource::from_json_value(manifest).expect("the test manifest is valid");
    spawn(&resource, harness.context.clone()).expect("the source starts")
}

/// Waits until `handle` reports ready, or panics after `timeout`.
pub async fn wait_ready(handle: &SourceHandle, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !handle.stats.readiness().ready {
        assert!(
            tokio::time::Instant::now() < deadline,
            "source {} not ready after {timeout:?}: {:?}",
            handle.key(),
            handle.stats.readiness()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Test logs, once per binary (`RUST_LOG` selects what is shown).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}
