//! `herald source run -f FILE`: runs the sources of a manifest file alone, as their own process
//! (the way Knative runs adapters), sending to a sink given as a URL. Progress and dead letters are
//! kept under `--data-dir`; SIGTERM/SIGINT stop the sources gracefully (what is in flight finishes,
//! what is final is acknowledged upstream).

use crate::runtime::plan;
use crate::runtime::sources::SourceDeadLetters;
use anyhow::{Context, bail};
use clap::Args;
use herald_crds::delivery::{DeliveryFormat, DeliverySpec, Destination};
use herald_crds::resource::{Resource, parse_manifests};
use herald_log::FileStateStore;
use herald_sources::{HttpSink, Sink, SourceContext};
use herald_triggers::deadletter::KvDeadLetterStore;
use herald_triggers::delivery::Sender;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct SourceRunArgs {
    /// A YAML file with one or more sources.
    #[arg(short = 'f', long = "filename")]
    pub file: PathBuf,
    /// Send every source's events here instead of its `spec.sink` (which must otherwise be a uri).
    #[arg(long, env = "HERALD_SINK")]
    pub sink: Option<String>,
    /// Where the sources keep their progress and dead letters.
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "herald-source-data")]
    pub data_dir: PathBuf,
    /// Secrets mounted the Kubernetes way (`DIR/{name}/{key}`).
    #[arg(long, env = "HERALD_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
}

/// Where a standalone source sends: `--sink`, else the Destination's uri.
fn url_of(
    destination: &Destination,
    sink_override: Option<&str>,
    what: &str,
) -> anyhow::Result<String> {
    if let Some(url) = sink_override {
        return Ok(url.to_string());
    }
    match (&destination.uri, &destination.r#ref) {
        (Some(uri), None) => Ok(uri.clone()),
        _ => bail!("a standalone source needs its {what} as a uri (or pass --sink URL)"),
    }
}

pub async fn run(args: SourceRunArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let mut sources = Vec::new();
    for parsed in parse_manifests(&text) {
        let resource = parsed.with_context(|| format!("in {}", args.file.display()))?;
        if !resource.kind().is_source() {
            bail!("{} is a {}, not a source", resource.name(), resource.kind());
        }
        sources.push(resource);
    }
    if sources.is_empty() {
        bail!("{} holds no source", args.file.display());
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let state = FileStateStore::open(args.data_dir.join("state"), true).await?;
    let dead_letters = Arc::new(KvDeadLetterStore::new(
        FileStateStore::open(args.data_dir.join("deadletters"), true).await?,
    ));
    let sender = Sender::new();
    let mut handles = Vec::new();
    for resource in &sources {
        let (sink, delivery) = sink_and_delivery(resource);
        let resolved = DeliverySpec::effective(delivery, None);
        let format = resolved.format.unwrap_or(DeliveryFormat::Binary);
        let http = |url: String| -> Arc<dyn Sink> {
            Arc::new(HttpSink::new(url, sender.clone(), format, resolved.timeout))
        };
        let sink_url = url_of(sink, args.sink.as_deref(), "sink")?;
        let dead_letter_sink = match &resolved.dead_letter_sink {
            Some(dls) => Some(http(url_of(dls, None, "dead-letter sink")?)),
            None => None,
        };
        let context = SourceContext {
            sink: http(sink_url.clone()),
            dead_letter_sink,
            policy: plan::policy(&resolved, None),
            state: state.clone(),
            dead_letters: Arc::new(SourceDeadLetters {
                store: dead_letters.clone(),
                destination: sink_url.clone(),
            }),
            secrets_dir: args.secrets_dir.clone(),
        };
        let handle = herald_sources::spawn(resource, context)?;
        tracing::info!(kind = %resource.kind(), source = resource.name(), sink = sink_url, "source running");
        handles.push(handle);
    }
    println!("herald source running {} source(s)", handles.len());

    let mut report = tokio::time::interval(Duration::from_secs(30));
    let stop = crate::signal::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = report.tick() => {
                for handle in &handles {
                    let key = handle.key();
                    let readiness = handle.stats.readiness();
                    tracing::info!(source = %key, ready = readiness.ready, reason = readiness.reason, progress = %serde_json::Value::Object(handle.stats.snapshot()), "source status");
                }
            }
        }
    }
    tracing::info!("stopping sources");
    for handle in handles {
        handle.stop().await;
    }
    use herald_log::StateStore;
    state.close().await?;
    Ok(())
}

fn sink_and_delivery(resource: &Resource) -> (&Destination, Option<&DeliverySpec>) {
    crate::runtime::sources::sink_and_delivery(resource).expect("checked to be a source")
}
