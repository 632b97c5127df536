//! The broker's router: one task reads the log once for all Triggers that are keeping up, looks up
//! the candidates of each record by its `type` (an index over Triggers whose filter requires one
//! exact type) plus the Triggers that cannot be indexed, evaluates only those, and hands matching
//! records to each Trigger's bounded channel. A broker with thousands of Triggers therefore does not
//! pay per Trigger for every event.
//!
//! A Trigger whose channel is full (its subscriber is slow) is detached: the router stops feeding
//! it and tells it where to resume, and the Trigger reads the log itself until it has caught up,
//! then attaches again. Backlog stays in the log, never in the router.
//!
//! Ordering guarantee the workers rely on: the router sends a batch's records before it publishes
//! the position after that batch, so a worker that reads the position and then drains its channel
//! has seen every match below that position.

use super::index::TriggerIndex;
use crate::filter::Filter;
use foldhash::{HashMap, HashMapExt};
use herald_cloudevent::record;
use herald_log::{EventLog, LogRecord};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Matching records a Trigger's channel holds before the Trigger is detached.
pub const CHANNEL_CAPACITY: usize = 1024;
/// How far behind the router a Trigger may be and still be caught up by the router on attach.
pub const CATCH_UP_MAX: u64 = 512;
/// Records read from the log per batch.
const READ_BATCH: usize = 512;
/// Marks an attached subscription in [`Subscription::detached_at`].
const ATTACHED: u64 = u64::MAX;

/// What a Trigger receives while attached.
pub struct Subscription {
    /// Matching records, in log order.
    pub records: mpsc::Receiver<LogRecord>,
    /// [`u64::MAX`] while attached; once detached, the first offset the router did not send.
    pub detached_at: Arc<AtomicU64>,
}

impl Subscription {
    /// Where to resume reading the log, once the router has detached this subscription.
    pub fn resume_at(&self) -> Option<u64> {
        let at = self.detached_at.load(Ordering::Acquire);
        (at != ATTACHED).then_some(at)
    }
}

enum Command {
    Attach {
        name: String,
        filter: Arc<Filter>,
        from: u64,
        reply: oneshot::Sender<Result<Subscription, u64>>,
    },
    Detach {
        name: String,
    },
}

/// A handle on a broker's router.
#[derive(Clone)]
pub struct Router {
    commands: mpsc::UnboundedSender<Command>,
    position: watch::Receiver<u64>,
    stop: CancellationToken,
}

impl Router {
    /// Starts routing from the log's head.
    pub fn spawn(log: Arc<dyn EventLog>) -> Router {
        let start = log.head();
        let (commands, rx) = mpsc::unbounded_channel();
        let (position_tx, position) = watch::channel(start);
        let stop = CancellationToken::new();
        let task = RouterTask {
            log,
            cursor: start,
            slots: HashMap::new(),
            index: TriggerIndex::default(),
            position: position_tx,
        };
        tokio::spawn(task.run(rx, stop.clone()));
        Router {
            commands,
            position,
            stop,
        }
    }

    /// Asks to be fed the matches of `filter` from offset `from` on. Refused with the router's
    /// position when `from` is too far behind it (read the log yourself, then ask again).
    pub async fn attach(
        &self,
        name: &str,
        filter: Arc<Filter>,
        from: u64,
    ) -> Result<Subscription, u64> {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(Command::Attach {
            name: name.to_string(),
            filter,
            from,
            reply,
        });
        if sent.is_err() {
            return Err(*self.position.borrow());
        }
        answer
            .await
            .unwrap_or_else(|_| Err(*self.position.borrow()))
    }

    /// Stops feeding a Trigger.
    pub fn detach(&self, name: &str) {
        let _ = self.commands.send(Command::Detach {
            name: name.to_string(),
        });
    }

    /// The offset below which every record has been routed.
    pub fn position(&self) -> watch::Receiver<u64> {
        self.position.clone()
    }

    /// Stops the router task.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

struct Slot {
    tx: mpsc::Sender<LogRecord>,
    detached_at: Arc<AtomicU64>,
    /// Records below this offset are not for this Trigger (it read them itself).
    skip_below: u64,
}

struct RouterTask {
    log: Arc<dyn EventLog>,
    cursor: u64,
    slots: HashMap<String, Slot>,
    index: TriggerIndex<String>,
    position: watch::Sender<u64>,
}

impl RouterTask {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        stop: CancellationToken,
    ) {
        let mut head = self.log.watch_head();
        loop {
            while let Ok(command) = commands.try_recv() {
                self.handle(command).await;
            }
            if self.cursor >= *head.borrow_and_update() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    command = commands.recv() => match command {
                        Some(command) => self.handle(command).await,
                        None => return,
                    },
                    changed = head.changed() => if changed.is_err() { return },
                }
                continue;
            }
            if stop.is_cancelled() {
                return;
            }
            let records = match self.log.read(self.cursor, READ_BATCH).await {
                Ok(records) => records,
                Err(err) => {
                    tracing::error!(error = %err, offset = self.cursor, "the router could not read the log");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    }
                }
            };
            let kept = records
                .first()
                .map_or_else(|| self.log.earliest(), |first| first.offset);
            if kept > self.cursor {
                self.hand_back_all();
            }
            match records.last() {
                Some(last) => {
                    let next = last.offset + 1;
                    for rec in records {
                        self.route(rec);
                    }
                    self.cursor = next;
                }
                None => self.cursor = self.cursor.max(kept),
            }
            self.position.send_replace(self.cursor);
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Detach { name } => self.remove(&name),
            Command::Attach {
                name,
                filter,
                from,
                reply,
            } => {
                self.remove(&name);
                if from + CATCH_UP_MAX < self.cursor {
                    let _ = reply.send(Err(self.cursor));
                    return;
                }
                let (tx, records) = mpsc::channel(CHANNEL_CAPACITY);
                let detached_at = Arc::new(AtomicU64::new(ATTACHED));
                let slot = Slot {
                    tx,
                    detached_at: detached_at.clone(),
                    skip_below: from,
                };
                // Catch up the few records between `from` and the router's cursor.
                if from < self.cursor
                    && let Err(resume) = self.catch_up(&slot, &filter, from).await
                {
                    slot.detached_at.store(resume, Ordering::Release);
                    let _ = reply.send(Err(resume));
                    return;
                }
                self.index.insert(name.clone(), filter);
                self.slots.insert(name, slot);
                let _ = reply.send(Ok(Subscription {
                    records,
                    detached_at,
                }));
            }
        }
    }

    /// Sends `slot` its matches in `[from, cursor)`; Err(offset to resume from) on failure.
    async fn catch_up(&self, slot: &Slot, filter: &Filter, from: u64) -> Result<(), u64> {
        let mut next = from;
        while next < self.cursor {
            let records = self.log.read(next, READ_BATCH).await.map_err(|_| next)?;
            let Some(last) = records.last() else { break };
            let after = last.offset + 1;
            for rec in records.into_iter().filter(|r| r.offset < self.cursor) {
                let offset = rec.offset;
                let event = record::decode(&rec.payload).ok();
                if event.as_ref().is_some_and(|e| filter.matches(e))
                    && slot.tx.try_send(rec).is_err()
                {
                    return Err(offset);
                }
            }
            next = after;
        }
        Ok(())
    }

    /// Retention removed records the router had not routed yet: every Trigger is detached at
    /// the cursor, so each reads on from there itself and accounts for what it lost.
    fn hand_back_all(&mut self) {
        for slot in self.slots.values() {
            slot.detached_at.store(self.cursor, Ordering::Release);
        }
        self.slots.clear();
        self.index = TriggerIndex::default();
    }

    fn remove(&mut self, name: &str) {
        self.slots.remove(name);
        self.index.remove(&name.to_string());
    }

    /// Hands one record to every attached Trigger it matches; detaches those that are full.
    fn route(&mut self, rec: LogRecord) {
        let mut full = Vec::new();
        let slots = &self.slots;
        self.index.for_each_match(&rec.payload, |name| {
            let slot = &slots[name];
            if rec.offset >= slot.skip_below && slot.tx.try_send(rec.clone()).is_err() {
                slot.detached_at.store(rec.offset, Ordering::Release);
                full.push(name.clone());
            }
        });
        for name in full {
            self.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use herald_cloudevent::{Event, SpecVersion};
    use herald_log::{LogConfig, MemoryLog};
    use std::time::Duration;

    fn payload(n: usize) -> Bytes {
        let event = Event::new(SpecVersion::V10, format!("e{n}"), "/router", "t");
        let mut buf = Vec::new();
        record::encode(&event, &mut buf);
        Bytes::from(buf)
    }

    #[tokio::test]
    async fn records_removed_before_they_were_routed_hand_every_trigger_back_at_the_gap() {
        let log = MemoryLog::new(LogConfig {
            retention_bytes: Some(2_000),
            ..LogConfig::default()
        });
        let router = Router::spawn(log.clone());
        let mut subscription = router
            .attach("t", Arc::new(Filter::MatchAll), 0)
            .await
            .expect("attached at the head");
        // One append far larger than what retention keeps: its oldest records are gone before
        // the router reads them.
        log.append((0..100).map(payload).collect()).await.unwrap();
        assert!(log.earliest() > 0);
        let ended = tokio::time::timeout(Duration::from_secs(5), subscription.records.recv())
            .await
            .expect("the router let go of the trigger");
        assert!(ended.is_none(), "nothing was routed past the gap");
        // The trigger reads on from where the gap starts, and so sees what it lost.
        assert_eq!(subscription.resume_at(), Some(0));
        router.stop();
    }
}
