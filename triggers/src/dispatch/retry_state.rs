//! Durable retry schedules: before waiting for a retry, the next attempt's number and due time are
//! stored, so a restart resumes the schedule instead of starting it over or dropping the event.

use herald_log::{LogError, StateStore};

/// A stored schedule: the next attempt and when it is due (ms since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub next_attempt: u32,
    pub due_ms: i64,
}

fn key(trigger: &str, offset: u64) -> String {
    format!("retry/{trigger}/{offset:020}")
}

/// The stored schedule of one event, if its delivery was retrying.
pub fn load(state: &dyn StateStore, trigger: &str, offset: u64) -> Option<Pending> {
    let bytes = state.get(&key(trigger, offset))?;
    let raw: [u8; 12] = bytes.as_ref().try_into().ok()?;
    Some(Pending {
        next_attempt: u32::from_be_bytes(raw[..4].try_into().ok()?),
        due_ms: i64::from_be_bytes(raw[4..].try_into().ok()?),
    })
}

/// Stores the schedule of one event.
pub async fn store(
    state: &dyn StateStore,
    trigger: &str,
    offset: u64,
    pending: Pending,
) -> Result<(), LogError> {
    let mut raw = Vec::with_capacity(12);
    raw.extend_from_slice(&pending.next_attempt.to_be_bytes());
    raw.extend_from_slice(&pending.due_ms.to_be_bytes());
    state.put(&key(trigger, offset), raw.into()).await
}

/// Forgets the schedule of one event (its outcome is final).
pub async fn clear(state: &dyn StateStore, trigger: &str, offset: u64) -> Result<(), LogError> {
    state.delete(&key(trigger, offset)).await
}

/// The offsets of a Trigger whose schedules were stored (by an earlier run): only their
/// deliveries need to look a schedule up.
pub fn stored_offsets(state: &dyn StateStore, trigger: &str) -> foldhash::HashSet<u64> {
    let prefix = format!("retry/{trigger}/");
    state
        .scan_prefix(&prefix)
        .into_iter()
        .filter_map(|(k, _)| k[prefix.len()..].parse().ok())
        .collect()
}

/// Forgets every schedule of a deleted Trigger.
pub async fn clear_all(state: &dyn StateStore, trigger: &str) -> Result<(), LogError> {
    for (k, _) in state.scan_prefix(&format!("retry/{trigger}/")) {
        state.delete(&k).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_log::MemoryStateStore;

    #[tokio::test]
    async fn schedules_round_trip_and_clear() {
        let state = MemoryStateStore::new();
        let p = Pending {
            next_attempt: 3,
            due_ms: 1_700_000_000_123,
        };
        store(state.as_ref(), "t", 42, p).await.unwrap();
        store(state.as_ref(), "t", 43, p).await.unwrap();
        store(state.as_ref(), "other", 42, p).await.unwrap();
        assert_eq!(load(state.as_ref(), "t", 42), Some(p));
        assert_eq!(
            stored_offsets(state.as_ref(), "t"),
            [42, 43].into_iter().collect()
        );
        clear(state.as_ref(), "t", 42).await.unwrap();
        assert_eq!(load(state.as_ref(), "t", 42), None);
        clear_all(state.as_ref(), "t").await.unwrap();
        assert_eq!(load(state.as_ref(), "t", 43), None);
        assert_eq!(load(state.as_ref(), "other", 42), Some(p));
    }
}
