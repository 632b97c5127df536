//! Replays one stored dead letter and records what happened in its history.
//!
//! - Delivered: the entry is marked resolved; later replays skip it unless asked to include
//!   resolved entries.
//! - Failed again: the entry stays in the store, unresolved, with the new attempts appended and
//!   its reason and last response updated — never duplicated, never lost.
//! - Every replay (delivered, failed or interrupted) appends a [`ReplayInfo`] to the entry.
//!
//! The entry is resolved only after its delivery succeeded, and only once that is durable does
//! [`Replayer::replay`] return; a crash in between re-sends that one entry on the next replay
//! (at least once). Replays of one entry are serialised, and each re-reads the entry once it has
//! its turn, so an entry resolved meanwhile is not sent again.

use super::locks::EntryLocks;
use super::{Destination, send};
use crate::deadletter::entry::MAX_RESPONSE_BODY;
use crate::deadletter::{AttemptInfo, DeadLetter, DeadLetterStore, ReplayInfo};
use crate::delivery::{AttemptRecord, Final};
use crate::dispatch::settle::Failure;
use herald_cloudevent::record::{self, RecordError};
use herald_log::LogError;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// How dead letters are replayed.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Names the replay; sent in the [`REPLAY_EXTENSION`](super::REPLAY_EXTENSION).
    pub replay_id: String,
    /// Send entries a replay already delivered, too.
    pub include_resolved: bool,
    /// Skip entries the destination Trigger's filter does not match.
    pub apply_filter: bool,
}

/// What replaying one entry did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum EntryOutcome {
    /// The destination took it; the entry is resolved.
    Delivered { attempts: usize },
    /// The destination failed again; the attempts were appended to the entry.
    Failed { attempts: usize, error: String },
    /// Nothing was sent.
    Skipped { reason: String },
    /// Shutdown interrupted the retry schedule; the entry stays unresolved.
    Interrupted { attempts: usize },
}

/// Why an entry could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("dead letter {0} not found")]
    NotFound(String),
    #[error("dead letter {id} holds an undecodable event: {source}")]
    Undecodable { id: String, source: RecordError },
    #[error("recording the replay of dead letter {id} failed: {source}")]
    Store { id: String, source: LogError },
}

/// Replays dead letters, one replay at a time per entry. Share one per process.
#[derive(Debug, Default)]
pub struct Replayer {
    locks: EntryLocks,
}

impl Replayer {
    /// Replays entry `id` of `store` to `destination`. `scope` names the store (entries of
    /// different stores may share ids).
    pub async fn replay(
        &self,
        scope: &str,
        store: &dyn DeadLetterStore,
        id: &str,
        destination: &Destination,
        options: &ReplayOptions,
        stop: &CancellationToken,
    ) -> Result<EntryOutcome, ReplayError> {
        let _turn = self.locks.lock(&format!("{scope}/{id}")).await;
        let mut entry = store
            .get(id)
            .ok_or_else(|| ReplayError::NotFound(id.to_string()))?;
        if entry.resolved && !options.include_resolved {
            return Ok(EntryOutcome::Skipped {
                reason: "already resolved by an earlier replay".into(),
            });
        }
        let event = record::decode(&entry.event).map_err(|source| ReplayError::Undecodable {
            id: id.to_string(),
            source,
        })?;
        if options.apply_filter
            && let Some(filter) = destination.filter()
            && !filter.matches(&event)
        {
            return Ok(EntryOutcome::Skipped {
                reason: format!("the filter of {} does not match", destination.label()),
            });
        }
        let outcome = send(destination, &event, &options.replay_id, stop).await;
        let result = record_replay(
            &mut entry,
            outcome,
            &destination.label(),
            &options.replay_id,
        );
        store
            .update(&entry)
            .await
            .map_err(|source| ReplayError::Store {
                id: id.to_string(),
                source,
            })?;
        Ok(result)
    }

    /// Removes entry `id` of `store` (purge), after any replay of it in progress has finished, so
    /// that replay cannot put it back. Returns whether it was there.
    pub async fn remove(
        &self,
        scope: &str,
        store: &dyn DeadLetterStore,
        id: &str,
    ) -> Result<bool, LogError> {
        let _turn = self.locks.lock(&format!("{scope}/{id}")).await;
        if store.get(id).is_none() {
            return Ok(false);
        }
        store.remove(id).await.map(|()| true)
    }
}

/// Appends a replay's attempts and outcome to the entry's history.
fn record_replay(
    entry: &mut DeadLetter,
    outcome: Final,
    to: &str,
    replay_id: &str,
) -> EntryOutcome {
    let append = |entry: &mut DeadLetter, attempts: &[AttemptRecord]| {
        entry
            .attempts
            .extend(attempts.iter().map(AttemptInfo::from));
    };
    let (label, result) = match outcome {
        Final::Delivered { attempts, .. } => {
            append(entry, &attempts);
            entry.resolved = true;
            (
                "delivered",
                EntryOutcome::Delivered {
                    attempts: attempts.len(),
                },
            )
        }
        Final::Failed { last, attempts } => {
            let failure = Failure::from_attempt(&last, attempts);
            append(entry, &failure.attempts);
            let end = failure.body.len().min(MAX_RESPONSE_BODY);
            entry.response_body = failure.body.slice(..end);
            entry.reason = failure.reason.clone();
            let result = EntryOutcome::Failed {
                attempts: failure.attempts.len(),
                error: failure.reason,
            };
            ("failed", result)
        }
        Final::Interrupted { attempts } => {
            append(entry, &attempts);
            (
                "interrupted",
                EntryOutcome::Interrupted {
                    attempts: attempts.len(),
                },
            )
        }
    };
    entry.replays.push(ReplayInfo {
        at_ms: chrono::Utc::now().timestamp_millis(),
        to: to.to_string(),
        outcome: label.to_string(),
        replay_id: Some(replay_id.to_string()),
    });
    result
}

#[cfg(test)]
mod tests;
