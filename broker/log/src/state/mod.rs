//! The durable key-value state store ([`FileStateStore`]) and its in-memory twin
//! ([`MemoryStateStore`]), plus the rules both share.

mod file;
mod journal;
mod memory;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::error::LogError;

pub use file::FileStateStore;
pub use memory::MemoryStateStore;

/// Largest accepted key.
const MAX_KEY_BYTES: usize = 64 * 1024;
/// Largest accepted value.
const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// Checks a key and value against the store's limits.
fn check_entry(key: &str, value: Option<&Bytes>) -> Result<(), LogError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(LogError::TooLarge {
            what: "state key",
            size: key.len(),
            limit: MAX_KEY_BYTES,
        });
    }
    match value {
        Some(value) if value.len() > MAX_VALUE_BYTES => Err(LogError::TooLarge {
            what: "state value",
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        }),
        _ => Ok(()),
    }
}

/// Entries of `map` whose key starts with `prefix`, in key order.
fn scan_prefix(map: &BTreeMap<String, Bytes>, prefix: &str) -> Vec<(String, Bytes)> {
    map.range(prefix.to_owned()..)
        .take_while(|(key, _)| key.starts_with(prefix))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}
