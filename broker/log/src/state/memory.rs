//! [`MemoryStateStore`]: the [`StateStore`] contract kept in memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::StateStore;
use crate::error::LogError;
use crate::sync::{read, write};

/// An in-memory state store; writes are visible (and "durable") immediately.
#[derive(Default)]
pub struct MemoryStateStore {
    map: RwLock<BTreeMap<String, Bytes>>,
    closed: AtomicBool,
}

impl MemoryStateStore {
    /// An empty store.
    pub fn new() -> Arc<MemoryStateStore> {
        Arc::new(MemoryStateStore::default())
    }

    fn check_open(&self) -> Result<(), LogError> {
        if self.closed.load(Ordering::Acquire) {
            Err(LogError::Closed)
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryStateStore {
    async fn put(&self, key: &str, value: Bytes) -> Result<(), LogError> {
        super::check_entry(key, Some(&value))?;
        self.check_open()?;
        write(&self.map).insert(key.to_owned(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), LogError> {
        super::check_entry(key, None)?;
        self.check_open()?;
        write(&self.map).remove(key);
        Ok(())
    }

    fn get(&self, key: &str) -> Option<Bytes> {
        read(&self.map).get(key).cloned()
    }

    fn scan_prefix(&self, prefix: &str) -> Vec<(String, Bytes)> {
        super::scan_prefix(&read(&self.map), prefix)
    }

    async fn close(&self) -> Result<(), LogError> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}
