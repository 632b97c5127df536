//! `herald serve` as a library: opens the registry, starts the runtime, the config-directory
//! watcher and both HTTP servers, and shuts them down in order (stop accepting, drain deliveries,
//! flush logs).

use crate::config::ServeConfig;
use crate::config_dir::ConfigDir;
use crate::registry::{Origin, Registry, RegistryError, invalid};
use crate::runtime::Runtime;
use crate::runtime::broker::{RETENTION_AGE_ANNOTATION, RETENTION_BYTES_ANNOTATION};
use crate::runtime::plan::{MAX_IN_FLIGHT_ANNOTATION, RATE_LIMIT_ANNOTATION, delivery_order};
use crate::{admin, http_server, ingress};
use herald_crds::resource::Resource;
use herald_crds::validation::ValidationErrors;
use herald_triggers::filter::Filter;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("creating the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("opening the sources' stores: {0}")]
    Sources(herald_log::LogError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running Herald.
pub struct Server {
    pub ingress_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    runtime: Arc<Runtime>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Starts serving. With no resources yet (first start), a broker `default` is created in
    /// namespace `default`.
    pub async fn start(mut config: ServeConfig) -> Result<Server, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let (registry, existed) = Registry::open(&config.data_dir, check)?;
        let registry = Arc::new(registry);
        if !existed {
            registry.apply(default_broker(), Origin::Api)?;
        }

        let ingress_listener = bind(config.listen).await?;
        let admin_listener = bind(config.admin_listen).await?;
        let ingress_addr = ingress_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let admin_addr = admin_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.admin_listen,
                source,
            })?;
        config.listen = ingress_addr;
        config.admin_listen = admin_addr;

        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        if let Some(dir) = config.config.clone() {
            let mut watcher = ConfigDir::new(dir, registry.clone());
            watcher.sync();
            tasks.push(tokio::spawn(watcher.watch(stop.clone())));
        }
        let runtime = Arc::new(
            Runtime::open(config, registry)
                .await
                .map_err(StartError::Sources)?,
        );
        runtime.reconcile().await;
        tasks.push(tokio::spawn(runtime.clone().run(stop.clone())));

        tasks.push(tokio::spawn(http_server::serve(
            ingress_listener,
            ingress::service(runtime.clone()),
            stop.clone(),
        )));
        tasks.push(tokio::spawn(http_server::serve(
            admin_listener,
            admin::router(runtime.clone()),
            stop.clone(),
        )));
        tracing::info!(%ingress_addr, %admin_addr, "herald is serving");
        Ok(Server {
            ingress_addr,
            admin_addr,
            runtime,
            stop,
            tasks,
        })
    }

    /// The runtime, for tests and embedding.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Stops accepting requests, lets in-flight requests and deliveries finish, flushes logs.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for task in self.tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "a server task panicked");
            }
        }
        self.runtime.shutdown().await;
        tracing::info!("herald stopped");
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

fn default_broker() -> Resource {
    Resource::from_json_value(serde_json::json!({
        "apiVersion": "eventing.herald.dev/v1",
        "kind": "Broker",
        "metadata": { "name": "default", "namespace": "default" },
    }))
    .expect("the default broker is a valid resource")
}

/// Checks beyond the resource model: CESQL parses, Herald annotations hold valid values.
fn check(resource: &Resource) -> Result<(), ValidationErrors> {
    let annotations = &resource.metadata().annotations;
    match resource {
        Resource::Trigger(trigger) => {
            Filter::compile(trigger.spec.filter.as_ref(), &trigger.spec.filters)
                .map_err(|err| invalid("spec.filters", err.to_string()))?;
            if let Some(value) = annotations.get(MAX_IN_FLIGHT_ANNOTATION)
                && value.parse::<usize>().map_or(true, |n| n == 0)
            {
                return Err(invalid(
                    format!("metadata.annotations.{MAX_IN_FLIGHT_ANNOTATION}"),
                    format!("must be a positive integer, got {value:?}"),
                ));
            }
            if let Some(value) = annotations.get(RATE_LIMIT_ANNOTATION)
                && value
                    .parse::<f64>()
                    .map_or(true, |r| !(r > 0.0 && r.is_finite()))
            {
                return Err(invalid(
                    format!("metadata.annotations.{RATE_LIMIT_ANNOTATION}"),
                    format!("must be a positive number of events per second, got {value:?}"),
                ));
            }
            delivery_order(annotations)
                .map_err(|message| invalid("metadata.annotations", message))?;
        }
        Resource::Broker(_) => {
            if let Some(value) = annotations.get(RETENTION_AGE_ANNOTATION)
                && let Err(err) = value.parse::<herald_crds::duration::IsoDuration>()
            {
                return Err(invalid(
                    format!("metadata.annotations.{RETENTION_AGE_ANNOTATION}"),
                    err.to_string(),
                ));
            }
            if let Some(value) = annotations.get(RETENTION_BYTES_ANNOTATION)
                && value.parse::<u64>().is_err()
            {
                return Err(invalid(
                    format!("metadata.annotations.{RETENTION_BYTES_ANNOTATION}"),
                    format!("must be a number of bytes, got {value:?}"),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}
