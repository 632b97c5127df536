//! Small file-system helpers: directory creation and fsync, exclusive directory locks, and running
//! blocking file work off the async runtime.

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use crate::error::LogError;

/// Creates `dir` (and parents) if needed.
pub(crate) fn create_dir(dir: &Path) -> Result<(), LogError> {
    fs::create_dir_all(dir).map_err(|e| LogError::io("create directory", dir, e))
}

/// Makes entries created, renamed or removed in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io("fsync directory", dir, e))
}

/// Takes an exclusive advisory lock on `dir/name`, held for as long as the returned file lives.
pub(crate) fn lock_dir(dir: &Path, name: &str) -> Result<File, LogError> {
    let path = dir.join(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LogError::io("open lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(LogError::Locked { path }),
        Err(fs::TryLockError::Error(e)) => Err(LogError::io("lock", path, e)),
    }
}

/// Runs blocking file work on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, LogError>
where
    F: FnOnce() -> Result<T, LogError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| LogError::TaskFailed(e.to_string()))?
}
