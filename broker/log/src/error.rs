//! The crate's error type, [`LogError`].

use std::io;
use std::path::PathBuf;

/// Errors of the event log and the state store.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file-system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("write segment", "fsync journal", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The write path is saturated; the caller should answer 503 with Retry-After.
    #[error("event log write path is saturated; retry later")]
    Overloaded,
    /// The log or store was closed.
    #[error("closed")]
    Closed,
    /// Stored data failed validation while being read.
    #[error("corrupt data in {} at byte {position}: {reason}", path.display())]
    Corrupt {
        /// The file that holds the bad data.
        path: PathBuf,
        /// Byte position of the bad frame in that file.
        position: u64,
        /// What check failed.
        reason: String,
    },
    /// A record, value or call exceeds a configured limit.
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large ("record", "append", "state value").
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The configuration is inconsistent.
    #[error("invalid log configuration: {0}")]
    InvalidConfig(String),
    /// Another process (or another open handle) already owns the directory.
    #[error("{} is already in use by another log or state store", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A blocking file task panicked or was cancelled by runtime shutdown.
    #[error("background file task failed: {0}")]
    TaskFailed(String),
    /// An earlier write or fsync failed; the writer stopped and the data must be reopened
    /// (recovery decides what made it to disk).
    #[error("writer stopped after a failure: {reason}")]
    WriterFailed {
        /// The failure that stopped the writer.
        reason: String,
    },
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A copy of this error for another waiter of the same failed batch (`io::Error` is not
    /// `Clone`, so the source is carried over by kind and message).
    pub(crate) fn duplicate(&self) -> LogError {
        match self {
            LogError::Io { op, path, source } => LogError::Io {
                op,
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            LogError::Overloaded => LogError::Overloaded,
            LogError::Closed => LogError::Closed,
            LogError::Corrupt {
                path,
                position,
                reason,
            } => LogError::Corrupt {
                path: path.clone(),
                position: *position,
                reason: reason.clone(),
            },
            LogError::TooLarge { what, size, limit } => LogError::TooLarge {
                what,
                size: *size,
                limit: *limit,
            },
            LogError::InvalidConfig(reason) => LogError::InvalidConfig(reason.clone()),
            LogError::Locked { path } => LogError::Locked { path: path.clone() },
            LogError::TaskFailed(reason) => LogError::TaskFailed(reason.clone()),
            LogError::WriterFailed { reason } => LogError::WriterFailed {
                reason: reason.clone(),
            },
        }
    }
}
