//! The NatsSource adapter: core NATS subscriptions (optionally in a queue group) or a JetStream
//! pull consumer, each message handed to the sink as a CloudEvent (see
//! [`binding::nats`](crate::binding::nats)).
//!
//! **JetStream** ([`jetstream`]) is at-least-once: a message is acknowledged only once its
//! outcome is final (delivered, or dead-lettered and recorded); one whose delivery shutdown
//! interrupted is NAK'd and redelivered. Deliveries that outlast half of `ackWait` send progress
//! acks so the server does not redeliver them meanwhile. Backpressure: each fetch asks for as
//! many messages as there are free places in the window ([`MAX_IN_FLIGHT`], one while the sink
//! pushes back), so a slow sink means fewer, smaller fetches. A `durableName` consumer resumes
//! where it stopped; `queueGroup` does not apply (instances sharing the durable share its
//! messages).
//!
//! **Core NATS** ([`core`]) has no acknowledgements: it is at-most-once upstream. The source
//! reads the next message only when a place in the window is free, so it never buffers more than
//! the client's subscription queue ([`SUBSCRIPTION_CAPACITY`] messages); beyond that the NATS
//! client drops messages for the slow consumer (logged as a slow-consumer event). Messages in
//! flight when the source stops are delivered or dead-lettered first; only interrupted retries
//! are lost. Use JetStream when every message matters.
//!
//! The connection is retried every [`RECONNECT_DELAY`] until it succeeds; after that the NATS
//! client reconnects on its own. Readiness follows the client's connection events.

pub mod core;
pub mod jetstream;

use std::sync::Arc;
use std::time::Duration;

use async_nats::{ConnectOptions, ServerAddr};
use herald_crds::NatsSource;
use herald_crds::ResourceKey;
use herald_crds::sources::nats::NatsSourceSpec;

use crate::binding::nats::NatsMessage;
use crate::context::SourceContext;
use crate::deliver::Deliverer;
use crate::error::SourceError;
use crate::secret;
use crate::stats::{SourceStats, reason};

/// Deliveries in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// Messages the NATS client queues for a core subscription before it drops them.
pub const SUBSCRIPTION_CAPACITY: usize = 8192;
/// Wait between connection attempts.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// How the source authenticates.
#[derive(Clone)]
enum Auth {
    None,
    CredsFile(String),
    UserPassword(String, String),
    Token(String),
}

/// A NatsSource ready to run.
pub(crate) struct Plan {
    servers: Vec<ServerAddr>,
    auth: Auth,
    spec: NatsSourceSpec,
    /// `/apis/v1/namespaces/{ns}/natssources/{name}`.
    source: String,
    client_name: String,
    deliverer: Arc<Deliverer>,
}

/// Checks servers and credentials of `source`.
pub(crate) fn prepare(
    source: &NatsSource,
    context: &SourceContext,
    deliverer: Arc<Deliverer>,
) -> Result<Plan, SourceError> {
    let key = herald_crds::Resource::NatsSource(source.clone()).key();
    let servers = source
        .spec
        .servers
        .iter()
        .enumerate()
        .map(|(i, server)| {
            server
                .parse::<ServerAddr>()
                .map_err(|e| SourceError::config(&key, format!("spec.servers[{i}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let auth = auth(&source.spec, &key, context)?;
    Ok(Plan {
        servers,
        auth,
        spec: source.spec.clone(),
        source: format!(
            "/apis/v1/namespaces/{}/natssources/{}",
            key.namespace, key.name
        ),
        client_name: format!("herald-{}-{}", key.namespace, key.name),
        deliverer,
    })
}

fn auth(
    spec: &NatsSourceSpec,
    key: &ResourceKey,
    context: &SourceContext,
) -> Result<Auth, SourceError> {
    let Some(creds) = &spec.credentials else {
        return Ok(Auth::None);
    };
    let dir = context.secrets_dir.as_deref();
    let read = |value, field: &str| {
        secret::resolve(value, dir).map_err(|e| SourceError::config(key, field, e.to_string()))
    };
    if let Some(file) = creds.creds_file.as_ref().filter(|f| !f.is_empty()) {
        return Ok(Auth::CredsFile(file.clone()));
    }
    if let Some(user) = creds.user.as_ref().filter(|u| !u.is_empty()) {
        let password = read(&creds.password, "spec.credentials.password")?.ok_or_else(|| {
            SourceError::config(key, "spec.credentials.password", "a user needs a password")
        })?;
        return Ok(Auth::UserPassword(user.clone(), password));
    }
    Ok(match read(&creds.token, "spec.credentials.token")? {
        Some(token) => Auth::Token(token),
        None => Auth::None,
    })
}

impl Plan {
    /// Connects, reporting connection events in the source's readiness.
    async fn connect(&self) -> Result<async_nats::Client, String> {
        let options = match &self.auth {
            Auth::None => ConnectOptions::new(),
            Auth::CredsFile(path) => ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| format!("cannot read the credentials file {path}: {e}"))?,
            Auth::UserPassword(user, password) => {
                ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            Auth::Token(token) => ConnectOptions::with_token(token.clone()),
        };
        let stats = self.deliverer.stats().clone();
        options
            .name(&self.client_name)
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .event_callback(move |event| {
                let stats = stats.clone();
                async move { on_event(&stats, event) }
            })
            .connect(self.servers.as_slice())
            .await
            .map_err(|e| format!("cannot connect to NATS: {e}"))
    }

    pub(crate) async fn run(self) {
        let stop = self.deliverer.stop().clone();
        while !stop.is_cancelled() {
            let result = match self.connect().await {
                Ok(client) => match &self.spec.jetstream {
                    Some(js) => jetstream::run(&self, client, js).await,
                    None => core::run(&self, client).await,
                },
                Err(err) => Err(err),
            };
            match result {
                Ok(()) => break,
                Err(err) => {
                    if !self
                        .deliverer
                        .wait_to_reconnect("NATS", err, RECONNECT_DELAY)
                        .await
                    {
                        break;
                    }
                }
            }
        }
    }
}

fn on_event(stats: &SourceStats, event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => stats.mark_running(),
        async_nats::Event::Disconnected => {
            stats.set_readiness(false, reason::CONNECTION_FAILED, "disconnected from NATS")
        }
        async_nats::Event::SlowConsumer(sid) => tracing::warn!(
            subscription = sid,
            "the NATS client dropped messages: the sink is slower than the subject"
        ),
        other => tracing::info!(event = %other, "NATS connection event"),
    }
}

/// The binding's view of a NATS message.
fn binding_message(message: &async_nats::Message) -> NatsMessage {
    let mut headers = Vec::new();
    if let Some(map) = &message.headers {
        for (name, values) in map.iter() {
            for value in values {
                headers.push((name.to_string(), value.as_str().to_owned()));
            }
        }
    }
    NatsMessage {
        headers,
        payload: message.payload.clone(),
    }
}
