//! One replay at a time per dead letter: a keyed async lock, so two replays of the same entry
//! (say, an interrupted command's last request still running and its resumption) never both send
//! it. Keys are forgotten when nobody holds or waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// Async locks by key.
#[derive(Debug, Default)]
pub(crate) struct EntryLocks {
    held: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds the lock of one key until dropped.
pub(crate) struct EntryGuard<'a> {
    locks: &'a EntryLocks,
    key: String,
    _held: OwnedMutexGuard<()>,
}

impl EntryLocks {
    /// Waits until nobody else holds `key`, then holds it.
    pub(crate) async fn lock(&self, key: &str) -> EntryGuard<'_> {
        let mutex = self
            .held
            .lock()
            .expect("entry locks")
            .entry(key.to_string())
            .or_default()
            .clone();
        EntryGuard {
            locks: self,
            key: key.to_string(),
            _held: mutex.lock_owned().await,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.lock().expect("entry locks").len()
    }
}

impl Drop for EntryGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().expect("entry locks");
        // The map and this guard are the only owners: nobody waits, so the key can go.
        if held
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) <= 2)
        {
            held.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_per_key_and_keys_are_forgotten() {
        let locks = Arc::new(EntryLocks::default());
        let first = locks.lock("a").await;
        let _other_key = locks.lock("b").await;
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _second = locks.lock("a").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "the second holder waits for the first"
        );
        drop(first);
        waiter.await.unwrap();
        drop(_other_key);
        assert_eq!(locks.len(), 0);
    }
}
