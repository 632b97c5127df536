//! Why a benchmark scenario could not run: Herald missing or failing to start, the admin API
//! refusing Triggers, NATS unreachable, the subscriber or the output files failing.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(
        "the herald binary is not at {0}: build it with `cargo build --release -p herald-broker --bin herald` \
         (or without --release when the bench runs from a debug build), or point HERALD_BIN at it"
    )]
    HeraldMissing(PathBuf),
    #[error("starting {binary} failed: {source}")]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("herald did not start: {reason}; its log ends with:\n{log_tail}")]
    HeraldStart { reason: String, log_tail: String },
    #[error("herald exited badly when stopped: {0}")]
    HeraldStop(String),
    #[error("the admin API refused {what}: {detail}")]
    Admin { what: String, detail: String },
    #[error("Triggers not ready after {waited_s} s: {ready} of {wanted} ready")]
    TriggersNotReady {
        waited_s: u64,
        ready: usize,
        wanted: usize,
    },
    #[error(
        "{0} does not run over HTTP to a subscriber, so it cannot be deployed for paired loops"
    )]
    NotDeployable(&'static str),
    #[error("the target URL {url:?} is not a plain http://host:port/path URL")]
    BadUrl { url: String },
    #[error(
        "jetstream-fsync needs a nats-server of 2.10 or later (for `sync_interval: always`): \
         `tests/nats-server` installs one and prints its path; pass it with --nats-server-bin \
         or NATS_SERVER_BIN"
    )]
    NatsServerMissing,
    #[error("NATS JetStream: {what}: {detail}")]
    Nats { what: String, detail: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("drawing the chart {path}: {detail}")]
    Chart { path: PathBuf, detail: String },
}

impl BenchError {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> BenchError {
        BenchError::Io {
            what: what.into(),
            source,
        }
    }
}
