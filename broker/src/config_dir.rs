//! The config directory (`--config DIR`): every `*.yaml`/`*.yml` file in it (multi-document) is
//! applied at start and re-applied when files are added, changed or deleted. A bad document is
//! reported with its file and reason; the good ones keep working.

use crate::registry::{Origin, Registry, ResourceKey};
use herald_crds::resource::parse_manifests;
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Quiet time after a file event before re-reading the directory.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// A problem with one manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    pub reason: String,
}

/// Applies the directory's manifests to the registry and remembers which files it saw.
pub struct ConfigDir {
    dir: PathBuf,
    registry: Arc<Registry>,
    known: BTreeSet<PathBuf>,
}

impl ConfigDir {
    pub fn new(dir: PathBuf, registry: Arc<Registry>) -> ConfigDir {
        ConfigDir {
            dir,
            registry,
            known: BTreeSet::new(),
        }
    }

    /// Reads every manifest file once and applies it; returns the problems found.
    pub fn sync(&mut self) -> Vec<FileError> {
        let mut errors = Vec::new();
        let files = match manifest_files(&self.dir) {
            Ok(files) => files,
            Err(err) => {
                errors.push(FileError {
                    file: self.dir.clone(),
                    reason: format!("reading the directory failed: {err}"),
                });
                return errors;
            }
        };
        for file in &files {
            errors.extend(self.apply_file(file));
        }
        for vanished in self.known.difference(&files) {
            let removed = self.registry.retain_from_file(vanished, &[]);
            tracing::info!(file = %vanished.display(), removed = removed.len(), "manifest file deleted");
        }
        self.known = files;
        for error in &errors {
            tracing::error!(file = %error.file.display(), reason = %error.reason, "bad manifest");
        }
        errors
    }

    fn apply_file(&self, file: &Path) -> Vec<FileError> {
        let mut errors = Vec::new();
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(err) => {
                return vec![FileError {
                    file: file.to_path_buf(),
                    reason: format!("cannot read: {err}"),
                }];
            }
        };
        let mut keep = Vec::new();
        let mut file_is_whole = true;
        for parsed in parse_manifests(&text) {
            let resource = match parsed {
                Ok(resource) => resource,
                Err(err) => {
                    file_is_whole = false;
                    errors.push(FileError {
                        file: file.to_path_buf(),
                        reason: err.to_string(),
                    });
                    continue;
                }
            };
            let key = ResourceKey::of(&resource);
            match self
                .registry
                .apply(resource, Origin::File(file.to_path_buf()))
            {
                Ok(_) => keep.push(key),
                Err(err) => {
                    // Keep the last good version of this resource running.
                    keep.push(key.clone());
                    errors.push(FileError {
                        file: file.to_path_buf(),
                        reason: format!("{:?} {}/{}: {err}", key.kind, key.namespace, key.name),
                    });
                }
            }
        }
        // Resources no longer in the file go away, unless part of the file failed to parse
        // (then we cannot tell which resources the user removed).
        if file_is_whole {
            self.registry.retain_from_file(file, &keep);
        }
        errors
    }

    /// Applies the directory now, then again after every change, until `stop` fires.
    pub async fn watch(mut self, stop: CancellationToken) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        });
        let mut watcher = match watcher {
            Ok(watcher) => watcher,
            Err(err) => {
                tracing::error!(error = %err, "cannot watch the config directory; changes need a restart");
                return;
            }
        };
        if let Err(err) = watcher.watch(&self.dir, RecursiveMode::NonRecursive) {
            tracing::error!(dir = %self.dir.display(), error = %err, "cannot watch the config directory");
            return;
        }
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                event = rx.recv() => {
                    if event.is_none() { return }
                    // Let a burst of events (editors write several times) settle.
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(DEBOUNCE) => break,
                            more = rx.recv() => if more.is_none() { return },
                        }
                    }
                    self.sync();
                }
            }
        }
    }
}

/// The manifest files directly in `dir`.
fn manifest_files(dir: &Path) -> std::io::Result<BTreeSet<PathBuf>> {
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_manifest = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if is_manifest && path.is_file() {
            files.insert(path);
        }
    }
    Ok(files)
}
