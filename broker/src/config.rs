//! `herald serve` settings: listen addresses, data directory, log backend and limits, from flags
//! and environment variables.

use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which event log backs the brokers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogBackend {
    /// Segment files under the data directory, fsynced with group commit (the default).
    Embedded,
    /// In memory only: fast, and gone on restart. For tests and users who ask for it.
    Memory,
}

/// Settings of `herald serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeConfig {
    /// Ingress address (CloudEvents are POSTed to /{namespace}/{broker}).
    #[arg(long, env = "HERALD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Admin API address (resources, health, metrics).
    #[arg(long, env = "HERALD_ADMIN_LISTEN", default_value = "127.0.0.1:8081")]
    pub admin_listen: SocketAddr,
    /// Where logs, trigger positions and applied resources are kept.
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "herald-data")]
    pub data_dir: PathBuf,
    /// A directory of YAML manifests to load and watch (add, change, delete).
    #[arg(long, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,
    /// The event log backend.
    #[arg(
        long,
        env = "HERALD_LOG_BACKEND",
        value_enum,
        default_value = "embedded"
    )]
    pub log_backend: LogBackend,
    /// Skip fsync on the embedded log (events survive a process crash, not a power loss).
    #[arg(long, env = "HERALD_NO_FSYNC")]
    pub no_fsync: bool,
    /// Shortest time between two fsyncs of a broker's log (e.g. `500us`, `1ms`, `0s`): appends
    /// arriving sooner gather for the next one, which bounds the syncs a second a disk sees.
    /// Default 500us.
    #[arg(long, env = "HERALD_MIN_SYNC_INTERVAL", value_parser = humantime::parse_duration)]
    pub min_sync_interval: Option<Duration>,
    /// Largest accepted event, in bytes (413 above it).
    #[arg(long, env = "HERALD_MAX_EVENT_BYTES", default_value_t = 1024 * 1024)]
    pub max_event_bytes: usize,
    /// Largest accepted batch request, in bytes.
    #[arg(long, env = "HERALD_MAX_BATCH_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_batch_bytes: usize,
    /// Bytes of request bodies the ingress holds in memory at once, over all requests; a
    /// request waits (up to 10 s, then 503) until its body fits. Bounds memory under overload.
    #[arg(long, env = "HERALD_MAX_INGRESS_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_ingress_bytes: usize,
    /// Default retention by age for every broker's log (ISO-8601); a broker's
    /// `herald.dev/retention-age` annotation overrides it.
    #[arg(long, env = "HERALD_RETENTION_AGE", default_value = "P7D")]
    pub retention_age: String,
    /// Default retention by size (bytes) for every broker's log; a broker's
    /// `herald.dev/retention-bytes` annotation overrides it.
    #[arg(long, env = "HERALD_RETENTION_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub retention_bytes: u64,
    /// Secrets mounted the Kubernetes way: a source's `secretKeyRef {name, key}` is the file
    /// `DIR/{name}/{key}`.
    #[arg(long, env = "HERALD_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Default per-Trigger maximum of deliveries in flight; a Trigger's
    /// `herald.dev/max-in-flight` annotation overrides it. Each request in flight holds a
    /// connection and up to four unsettled events: ten Triggers fanning out at 64 each peak near
    /// 90 MiB in the benchmark, while 32 cost a single Trigger about a fifth of its throughput
    /// on a saturated 2-core machine.
    #[arg(long, env = "HERALD_MAX_IN_FLIGHT", default_value_t = 64)]
    pub max_in_flight: usize,
}

impl ServeConfig {
    /// Settings for tests: ephemeral ports on 127.0.0.1 and the given data directory.
    pub fn for_tests(data_dir: PathBuf, log_backend: LogBackend) -> ServeConfig {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            config: None,
            log_backend,
            no_fsync: false,
            min_sync_interval: None,
            max_event_bytes: 1024 * 1024,
            max_batch_bytes: 8 * 1024 * 1024,
            max_ingress_bytes: 8 * 1024 * 1024,
            retention_age: "P7D".into(),
            retention_bytes: 1024 * 1024 * 1024,
            max_in_flight: 64,
            secrets_dir: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeConfig,
    }

    #[test]
    fn the_sync_interval_takes_a_duration_and_refuses_anything_else() {
        let parsed = Cli::try_parse_from(["herald", "--min-sync-interval", "1ms"]).unwrap();
        assert_eq!(
            parsed.serve.min_sync_interval,
            Some(Duration::from_millis(1))
        );
        let unset = Cli::try_parse_from(["herald"]).unwrap();
        assert_eq!(unset.serve.min_sync_interval, None);
        let err = Cli::try_parse_from(["herald", "--min-sync-interval", "soon"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("--min-sync-interval"), "{err}");
    }
}
