//! The registry of declared resources: what users applied through the admin API or put in the
//! config directory, with the status the runtime reports. Resources applied through the API are
//! persisted in the data directory so they survive restarts; config-directory resources are
//! reloaded from their files.

use herald_crds::resource::{Kind, Resource};
use herald_crds::validation::{ValidationError, ValidationErrors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use tokio::sync::watch;

/// Identifies a resource: kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ResourceKey {
    pub fn of(resource: &Resource) -> ResourceKey {
        ResourceKey {
            kind: resource.kind(),
            namespace: resource.namespace().to_string(),
            name: resource.name().to_string(),
        }
    }
}

/// Where a resource was declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Through the admin API (persisted in the data directory).
    Api,
    /// In a file of the config directory.
    File(PathBuf),
}

/// Why a resource could not be applied or found.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        kind: String,
        namespace: String,
        name: String,
    },
    #[error("persisting resources to {path}: {source}")]
    Persist {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading persisted resources from {path}: {reason}")]
    Load { path: PathBuf, reason: String },
}

#[derive(Clone, Debug)]
struct Entry {
    resource: Resource,
    origin: Origin,
}

/// Extra validation the runtime applies on top of the resource model's own (e.g. CESQL parsing).
pub type Check = fn(&Resource) -> Result<(), ValidationErrors>;

/// The registry. Cheap to share behind an `Arc`.
pub struct Registry {
    entries: RwLock<BTreeMap<ResourceKey, Entry>>,
    path: PathBuf,
    check: Check,
    changes: watch::Sender<u64>,
}

impl Registry {
    /// Opens the registry, loading API-applied resources from `data_dir/resources.json`.
    /// Returns whether the file existed (false on a first start).
    pub fn open(data_dir: &Path, check: Check) -> Result<(Registry, bool), RegistryError> {
        let path = data_dir.join("resources.json");
        let mut entries = BTreeMap::new();
        let existed = path.exists();
        if existed {
            let load_err = |reason: String| RegistryError::Load {
                path: path.clone(),
                reason,
            };
            let text = std::fs::read_to_string(&path).map_err(|e| load_err(e.to_string()))?;
            let values: Vec<serde_json::Value> =
                serde_json::from_str(&text).map_err(|e| load_err(e.to_string()))?;
            for value in values {
                let resource =
                    Resource::from_json_value(value).map_err(|e| load_err(e.to_string()))?;
                entries.insert(
                    ResourceKey::of(&resource),
                    Entry {
                        resource,
                        origin: Origin::Api,
                    },
                );
            }
        }
        let registry = Registry {
            entries: RwLock::new(entries),
            path,
            check,
            changes: watch::channel(0).0,
        };
        Ok((registry, existed))
    }

    /// Notified (with a change counter) whenever a spec is applied or a resource deleted.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Creates or replaces a resource after defaulting and validation. Returns the stored
    /// resource and whether it was created (false: replaced).
    pub fn apply(
        &self,
        mut resource: Resource,
        origin: Origin,
    ) -> Result<(Resource, bool), RegistryError> {
        resource.apply_defaults();
        resource.validate().map_err(RegistryError::Invalid)?;
        (self.check)(&resource).map_err(RegistryError::Invalid)?;
        let key = ResourceKey::of(&resource);
        let stored = {
            let mut entries = self.entries.write().expect("registry lock");
            let previous = entries.get(&key);
            if let Some(previous) = previous {
                resource
                    .validate_update(&previous.resource)
                    .map_err(RegistryError::Invalid)?;
            }
            let unchanged =
                previous.is_some_and(|p| p.origin == origin && same_spec(&p.resource, &resource));
            if unchanged {
                let previous = previous.expect("checked above");
                return Ok((previous.resource.clone(), false));
            }
            stamp(&mut resource, previous.map(|p| &p.resource));
            let created = previous.is_none();
            entries.insert(
                key,
                Entry {
                    resource: resource.clone(),
                    origin: origin.clone(),
                },
            );
            (resource, created)
        };
        if origin == Origin::Api {
            self.persist()?;
        }
        self.changes.send_modify(|n| *n += 1);
        Ok(stored)
    }

    /// Deletes a resource.
    pub fn delete(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Resource, RegistryError> {
        let key = ResourceKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        let removed = self
            .entries
            .write()
            .expect("registry lock")
            .remove(&key)
            .ok_or_else(|| RegistryError::NotFound {
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            })?;
        if removed.origin == Origin::Api {
            self.persist()?;
        }
        self.changes.send_modify(|n| *n += 1);
        Ok(removed.resource)
    }

    /// Removes every resource that came from `file` and is not in `keep`; returns their keys.
    pub fn retain_from_file(&self, file: &Path, keep: &[ResourceKey]) -> Vec<ResourceKey> {
        let mut removed = Vec::new();
        self.entries
            .write()
            .expect("registry lock")
            .retain(|key, entry| {
                let stale =
                    matches!(&entry.origin, Origin::File(p) if p == file) && !keep.contains(key);
                if stale {
                    removed.push(key.clone());
                }
                !stale
            });
        if !removed.is_empty() {
            self.changes.send_modify(|n| *n += 1);
        }
        removed
    }

    /// One resource, with its current status.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Resource> {
        let key = ResourceKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        let entries = self.entries.read().expect("registry lock");
        entries.get(&key).map(|e| e.resource.clone())
    }

    /// Every resource of a kind, in one namespace or all of them, ordered by namespace and name.
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> Vec<Resource> {
        let entries = self.entries.read().expect("registry lock");
        entries
            .iter()
            .filter(|(k, _)| k.kind == kind && namespace.is_none_or(|ns| ns == k.namespace))
            .map(|(_, e)| e.resource.clone())
            .collect()
    }

    /// Replaces a resource's status without counting as a change (the runtime reports it).
    pub fn set_status(&self, key: &ResourceKey, update: impl FnOnce(&mut Resource)) {
        let mut entries = self.entries.write().expect("registry lock");
        if let Some(entry) = entries.get_mut(key) {
            update(&mut entry.resource);
        }
    }

    fn persist(&self) -> Result<(), RegistryError> {
        let values: Vec<serde_json::Value> = {
            let entries = self.entries.read().expect("registry lock");
            entries
                .values()
                .filter(|e| e.origin == Origin::Api)
                .map(|e| without_status(&e.resource))
                .collect()
        };
        let text = serde_json::to_vec_pretty(&values).expect("resources serialize");
        write_atomically(&self.path, &text).map_err(|source| RegistryError::Persist {
            path: self.path.clone(),
            source,
        })
    }
}

/// Whether two versions of a resource declare the same thing (ignoring status and bookkeeping).
fn same_spec(a: &Resource, b: &Resource) -> bool {
    without_status(a) == without_status(b)
}

/// The resource as JSON without status and server-set metadata.
fn without_status(resource: &Resource) -> serde_json::Value {
    let mut value = resource.to_json_value();
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
        if let Some(meta) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for field in ["uid", "generation", "creationTimestamp", "resourceVersion"] {
                meta.remove(field);
            }
        }
    }
    value
}

/// Sets uid, generation and creation time: kept from the previous version, generation bumped.
fn stamp(resource: &mut Resource, previous: Option<&Resource>) {
    let meta = resource.metadata_mut();
    match previous.map(Resource::metadata) {
        Some(old) => {
            meta.uid = old.uid.clone();
            meta.creation_timestamp = old.creation_timestamp.clone();
            meta.generation = Some(old.generation.unwrap_or(0) + 1);
        }
        None => {
            meta.uid = Some(uuid::Uuid::new_v4().to_string());
            meta.creation_timestamp =
                Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            meta.generation = Some(1);
        }
    }
}

/// Writes a file so that a crash leaves either the old or the new content.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A single validation error, for checks outside the resource model.
pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ValidationErrors {
    ValidationErrors(vec![ValidationError {
        field: field.into(),
        message: message.into(),
    }])
}
