//! Durable Trigger positions in the broker's state store: the first log offset whose delivery is
//! not final. Writes coalesce: while one write is in flight, newer positions replace older ones.

use herald_log::{LogError, StateStore};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn key(trigger: &str) -> String {
    format!("position/{trigger}")
}

/// Reads a Trigger's stored position.
pub fn load(state: &dyn StateStore, trigger: &str) -> Option<u64> {
    let bytes = state.get(&key(trigger))?;
    let raw: [u8; 8] = bytes.as_ref().try_into().ok()?;
    Some(u64::from_be_bytes(raw))
}

fn encode(position: u64) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(&position.to_be_bytes())
}

/// Stores a Trigger's position durably.
pub async fn store(state: &dyn StateStore, trigger: &str, position: u64) -> Result<(), LogError> {
    state.put(&key(trigger), encode(position)).await
}

/// Stores a Trigger's position for the commit loop: safe across a crash of the process at once,
/// across a power loss with the store's next fsync. A position lost that way is an older one,
/// which redelivers a few events and never skips one, so it does not cost an fsync per batch.
async fn store_progress(
    state: &dyn StateStore,
    trigger: &str,
    position: u64,
) -> Result<(), LogError> {
    state.put_relaxed(&key(trigger), encode(position)).await
}

/// Forgets a deleted Trigger's position.
pub async fn forget(state: &dyn StateStore, trigger: &str) -> Result<(), LogError> {
    state.delete(&key(trigger)).await
}

/// What a worker publishes for its committer: the position, and how many events it has settled
/// (delivered or dead-lettered) so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub position: u64,
    pub settled: u64,
}

/// How long a position that only skipped non-matching records may wait before it is stored.
/// Re-reading skipped records after a crash costs a filter evaluation, not a duplicate delivery,
/// so a broker with many idle Triggers does not write every Trigger's position for every batch.
pub const LAZY_COMMIT: Duration = Duration::from_secs(1);

/// The pause after each stored position. It bounds how many positions a Trigger writes (at most
/// 200 a second) and how many settled events a crash can redeliver beyond those in flight (those
/// settled in the last few milliseconds).
pub const COMMIT_PAUSE: Duration = Duration::from_millis(5);

/// Stores the latest published position until the sender is dropped (then once more if it
/// changed). A position that moved past newly settled events is stored at once (writes coalesce
/// while one is in flight and for [`COMMIT_PAUSE`] after it); one that only skipped records is
/// stored within [`LAZY_COMMIT`].
pub async fn commit_loop(
    state: Arc<dyn StateStore>,
    trigger: String,
    mut progress: watch::Receiver<Progress>,
) {
    let mut committed = *progress.borrow_and_update();
    let mut closed = false;
    while !closed {
        closed = progress.changed().await.is_err();
        let mut latest = *progress.borrow_and_update();
        if latest.position == committed.position {
            committed.settled = latest.settled;
            continue;
        }
        if latest.settled == committed.settled && !closed {
            // Only skipped records: wait (still following changes) unless something settles.
            let deadline = tokio::time::Instant::now() + LAZY_COMMIT;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    changed = progress.changed() => {
                        closed = changed.is_err();
                        latest = *progress.borrow_and_update();
                        if closed || latest.settled != committed.settled {
                            break;
                        }
                    }
                }
            }
        }
        match store_progress(state.as_ref(), &trigger, latest.position).await {
            Ok(()) => {
                committed = latest;
                if !closed {
                    // Newer positions coalesce meanwhile: a busy Trigger writes a few hundred
                    // positions a second, not one per settled batch.
                    tokio::time::sleep(COMMIT_PAUSE).await;
                }
            }
            Err(err) => tracing::error!(
                trigger,
                position = latest.position,
                error = %err,
                "storing the trigger position failed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_log::MemoryStateStore;

    #[tokio::test(start_paused = true)]
    async fn settled_progress_is_stored_at_once_and_skips_lazily() {
        let state = MemoryStateStore::new();
        let (tx, rx) = watch::channel(Progress::default());
        let committer = tokio::spawn(commit_loop(state.clone(), "t".into(), rx));
        tokio::task::yield_now().await;
        let stored = || load(state.as_ref(), "t");

        tx.send_replace(Progress {
            position: 5,
            settled: 1,
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(stored(), Some(5));

        // Skipping only: not stored before the lazy deadline, stored after it.
        tx.send_replace(Progress {
            position: 9,
            settled: 1,
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(stored(), Some(5));
        tokio::time::sleep(LAZY_COMMIT).await;
        assert_eq!(stored(), Some(9));

        // A skip then a settle: stored at once.
        tx.send_replace(Progress {
            position: 12,
            settled: 1,
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        tx.send_replace(Progress {
            position: 13,
            settled: 2,
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(stored(), Some(13));

        // The last position is stored when the worker stops.
        tx.send_replace(Progress {
            position: 20,
            settled: 2,
        });
        drop(tx);
        committer.await.unwrap();
        assert_eq!(stored(), Some(20));
    }
}
