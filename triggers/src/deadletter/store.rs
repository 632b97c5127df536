//! The dead-letter store trait and its implementation over a [`StateStore`]: one key per dead
//! letter (`deadletter/{id}`, ids sort by time), JSON values, retention by age and count.

use super::entry::DeadLetter;
use herald_log::{LogError, StateStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const PREFIX: &str = "deadletter/";

/// How long and how many dead letters are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Duration,
    pub max_count: usize,
}

impl Default for Retention {
    /// 14 days and 100,000 entries per broker.
    fn default() -> Retention {
        Retention {
            max_age: Duration::from_secs(14 * 24 * 3600),
            max_count: 100_000,
        }
    }
}

/// Where dead letters are kept.
#[async_trait::async_trait]
pub trait DeadLetterStore: Send + Sync + 'static {
    /// Stores a new dead letter (its `id` is assigned here) durably; returns the id.
    async fn insert(&self, entry: DeadLetter) -> Result<String, LogError>;
    /// Replaces an existing entry (replay history, resolution).
    async fn update(&self, entry: &DeadLetter) -> Result<(), LogError>;
    /// Removes an entry.
    async fn remove(&self, id: &str) -> Result<(), LogError>;
    /// One entry.
    fn get(&self, id: &str) -> Option<DeadLetter>;
    /// Every entry, oldest first.
    fn list(&self) -> Vec<DeadLetter>;
    /// Drops entries past the retention; returns how many.
    async fn enforce_retention(&self, retention: Retention) -> Result<usize, LogError>;
}

/// A dead-letter store kept in a [`StateStore`].
pub struct KvDeadLetterStore {
    state: Arc<dyn StateStore>,
    sequence: AtomicU64,
}

impl KvDeadLetterStore {
    pub fn new(state: Arc<dyn StateStore>) -> KvDeadLetterStore {
        KvDeadLetterStore {
            state,
            sequence: AtomicU64::new(0),
        }
    }

    /// A time-ordered id: creation ms (13 digits) and a per-process sequence.
    fn next_id(&self, created_ms: i64) -> String {
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("{created_ms:013}-{seq:06}")
    }
}

fn encode(entry: &DeadLetter) -> bytes::Bytes {
    bytes::Bytes::from(serde_json::to_vec(entry).expect("dead letters serialize"))
}

fn decode(key: &str, value: &[u8]) -> Option<DeadLetter> {
    match serde_json::from_slice(value) {
        Ok(entry) => Some(entry),
        Err(err) => {
            tracing::error!(key, error = %err, "unreadable dead-letter entry skipped");
            None
        }
    }
}

#[async_trait::async_trait]
impl DeadLetterStore for KvDeadLetterStore {
    async fn insert(&self, mut entry: DeadLetter) -> Result<String, LogError> {
        // Ids must stay unique across restarts: skip past any id already stored for this ms.
        let mut id = self.next_id(entry.created_ms);
        while self.state.get(&format!("{PREFIX}{id}")).is_some() {
            id = self.next_id(entry.created_ms);
        }
        entry.id = id.clone();
        self.state
            .put(&format!("{PREFIX}{id}"), encode(&entry))
            .await?;
        Ok(id)
    }

    async fn update(&self, entry: &DeadLetter) -> Result<(), LogError> {
        self.state
            .put(&format!("{PREFIX}{}", entry.id), encode(entry))
            .await
    }

    async fn remove(&self, id: &str) -> Result<(), LogError> {
        self.state.delete(&format!("{PREFIX}{id}")).await
    }

    fn get(&self, id: &str) -> Option<DeadLetter> {
        let key = format!("{PREFIX}{id}");
        self.state.get(&key).and_then(|v| decode(&key, &v))
    }

    fn list(&self) -> Vec<DeadLetter> {
        let mut entries: Vec<DeadLetter> = self
            .state
            .scan_prefix(PREFIX)
            .into_iter()
            .filter_map(|(k, v)| decode(&k, &v))
            .collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        entries
    }

    async fn enforce_retention(&self, retention: Retention) -> Result<usize, LogError> {
        let now = chrono::Utc::now().timestamp_millis();
        let oldest_kept = now - retention.max_age.as_millis() as i64;
        let mut keys: Vec<String> = self
            .state
            .scan_prefix(PREFIX)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        let over = keys.len().saturating_sub(retention.max_count);
        let mut removed = 0;
        for (i, key) in keys.iter().enumerate() {
            let created: i64 = key[PREFIX.len()..]
                .split('-')
                .next()
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(0);
            if i < over || created < oldest_kept {
                self.state.delete(key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadletter::entry::{AttemptInfo, Origin};
    use herald_log::MemoryStateStore;

    fn entry(created_ms: i64) -> DeadLetter {
        DeadLetter {
            id: String::new(),
            origin: Origin::Trigger {
                namespace: "default".into(),
                broker: "default".into(),
                trigger: "t".into(),
            },
            destination: "http://127.0.0.1:1/".into(),
            event: bytes::Bytes::from_static(b"\x01raw"),
            event_id: "e1".into(),
            event_type: "t".into(),
            event_source: "/s".into(),
            attempts: vec![AttemptInfo {
                at_ms: created_ms,
                status: Some(500),
                error: None,
                latency_ms: 3,
            }],
            response_body: bytes::Bytes::from_static(b"boom"),
            reason: "retries exhausted".into(),
            delivered_to_dead_letter_sink: false,
            created_ms,
            replays: vec![],
            resolved: false,
        }
    }

    #[tokio::test]
    async fn entries_round_trip_in_time_order() {
        let store = KvDeadLetterStore::new(MemoryStateStore::new());
        let b = store.insert(entry(2_000)).await.unwrap();
        let a = store.insert(entry(1_000)).await.unwrap();
        let listed = store.list();
        assert_eq!(listed.iter().map(|e| &e.id).collect::<Vec<_>>(), [&a, &b]);
        let mut got = store.get(&a).unwrap();
        assert_eq!(got.event, bytes::Bytes::from_static(b"\x01raw"));
        got.resolved = true;
        store.update(&got).await.unwrap();
        assert!(store.get(&a).unwrap().resolved);
        store.remove(&a).await.unwrap();
        assert!(store.get(&a).is_none());
    }

    #[tokio::test]
    async fn retention_drops_the_oldest_and_the_expired() {
        let store = KvDeadLetterStore::new(MemoryStateStore::new());
        let now = chrono::Utc::now().timestamp_millis();
        let expired = store.insert(entry(now - 10_000)).await.unwrap();
        let old = store.insert(entry(now - 2_000)).await.unwrap();
        let new = store.insert(entry(now - 1_000)).await.unwrap();
        let newest = store.insert(entry(now)).await.unwrap();
        let removed = store
            .enforce_retention(Retention {
                max_age: Duration::from_secs(5),
                max_count: 2,
            })
            .await
            .unwrap();
        assert_eq!(removed, 2);
        assert!(store.get(&expired).is_none() && store.get(&old).is_none());
        assert!(store.get(&new).is_some() && store.get(&newest).is_some());
    }
}
