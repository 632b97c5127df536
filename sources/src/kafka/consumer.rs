//! One consumer of a KafkaSource's group: reads records, starts deliveries within the
//! per-partition and per-consumer windows, pauses partitions whose backlog is full, commits the
//! low watermark of each partition, and follows rebalances.
//!
//! Commits are asynchronous every [`COMMIT_INTERVAL`], synchronous when partitions are revoked
//! and when the consumer stops. The same timer re-checks pauses against the sink's push-back. A revoked partition's state is dropped; deliveries of it still in
//! flight finish, but their offsets are no longer committed by this consumer (the new owner
//! reads them again: at-least-once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::partition::{Partition, Record};
use crate::binding::kafka::{self as binding, KafkaMessage, KeyType, RecordPosition, SourceRef};
use crate::deliver::{Deliverer, Disposition};
use crate::flow::Flow;
use crate::stats::{SourceStats, reason};

/// How often positions that moved are committed.
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(500);

/// A topic and partition.
type TopicPartition = (String, i32);

/// What the consumer shares with librdkafka's callbacks.
pub(crate) struct Context {
    stats: Arc<SourceStats>,
    /// Committable position of every owned partition, for the commit on revocation.
    positions: Mutex<HashMap<TopicPartition, i64>>,
    /// Partitions revoked since the consumer loop last looked.
    revoked: Mutex<Vec<TopicPartition>>,
}

impl Context {
    pub(crate) fn new(stats: Arc<SourceStats>) -> Context {
        Context {
            stats,
            positions: Mutex::new(HashMap::new()),
            revoked: Mutex::new(Vec::new()),
        }
    }
}

impl ClientContext for Context {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.stats
                .set_readiness(false, reason::CONNECTION_FAILED, reason);
        }
        tracing::warn!(error = %error, reason, "kafka client error");
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let mut positions = self
            .positions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut commit = TopicPartitionList::new();
        let mut revoked = Vec::new();
        for element in list.elements() {
            let tp = (element.topic().to_owned(), element.partition());
            if let Some(position) = positions.remove(&tp)
                && let Err(err) = commit.add_partition_offset(&tp.0, tp.1, Offset::Offset(position))
            {
                tracing::warn!(error = %err, "cannot commit a revoked partition");
            }
            revoked.push(tp);
        }
        drop(positions);
        if commit.count() > 0
            && let Err(err) = consumer.commit(&commit, CommitMode::Sync)
        {
            tracing::warn!(error = %err, "committing revoked partitions failed");
        }
        tracing::info!(partitions = revoked.len(), "partitions revoked");
        self.revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(revoked);
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            tracing::info!(partitions = list.count(), "partitions assigned");
            // A newly assigned partition starts with fresh, unpaused state here; make sure
            // librdkafka does not keep a pause from an earlier assignment.
            if let Err(err) = consumer.resume(list) {
                tracing::warn!(error = %err, "resuming newly assigned partitions failed");
            }
            self.stats.mark_running();
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        if let Err(err) = result {
            tracing::warn!(error = %err, "offset commit failed; it is retried with the next one");
        }
    }
}

/// The outcome of one delivery, sent back to the consumer loop.
struct Done {
    tp: TopicPartition,
    epoch: u64,
    offset: i64,
    disposition: Disposition,
}

/// One consumer instance and its partitions.
pub(crate) struct Instance {
    consumer: StreamConsumer<Context>,
    deliverer: Arc<Deliverer>,
    flow: Arc<Flow>,
    /// Most deliveries in flight per partition (1 when ordered).
    window: usize,
    namespace: String,
    name: String,
    key_type: KeyType,
    partitions: HashMap<TopicPartition, Partition>,
    next_epoch: u64,
}

/// How the consumer loop's wait ended.
enum Step {
    Stop,
    Done(Done),
    Record(Result<(TopicPartition, Record), KafkaError>),
    Commit,
}

impl Instance {
    pub(crate) fn new(
        consumer: StreamConsumer<Context>,
        deliverer: Arc<Deliverer>,
        flow: Arc<Flow>,
        window: usize,
        namespace: String,
        name: String,
        key_type: KeyType,
    ) -> Instance {
        Instance {
            consumer,
            deliverer,
            flow,
            window,
            namespace,
            name,
            key_type,
            partitions: HashMap::new(),
            next_epoch: 0,
        }
    }

    pub(crate) async fn run(mut self) {
        let stop = self.deliverer.stop().clone();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut tasks = JoinSet::new();
        let mut commit_timer = tokio::time::interval(COMMIT_INTERVAL);
        commit_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                biased;
                _ = stop.cancelled() => Step::Stop,
                Some(done) = done_rx.recv() => Step::Done(done),
                _ = commit_timer.tick() => Step::Commit,
                received = self.consumer.recv() => Step::Record(received.map(record_of)),
            };
            // Rebalance callbacks ran while the select polled the consumer: drop the state of
            // revoked partitions before a record of a new assignment can land in it.
            self.forget_revoked();
            match step {
                Step::Stop => break,
                Step::Done(done) => {
                    self.finish(done);
                    self.start_ready(&mut tasks, &done_tx);
                }
                Step::Commit => {
                    self.commit(CommitMode::Async, false);
                    self.flow_control();
                }
                Step::Record(Ok((tp, record))) => {
                    self.deliverer.stats().count_received();
                    self.deliverer.stats().mark_running();
                    self.push(tp, record);
                    self.start_ready(&mut tasks, &done_tx);
                }
                Step::Record(Err(err)) => {
                    tracing::warn!(error = %err, "reading from kafka failed");
                }
            }
            while tasks.try_join_next().is_some() {}
        }

        // Attempts on the wire finish; retry waits were interrupted by the same token.
        drop(done_tx);
        while tasks.join_next().await.is_some() {}
        while let Some(done) = done_rx.recv().await {
            self.finish(done);
        }
        self.commit(CommitMode::Sync, true);
        // Closing the consumer leaves the group; librdkafka blocks while it does.
        let consumer = self.consumer;
        if let Err(err) = tokio::task::spawn_blocking(move || drop(consumer)).await {
            tracing::error!(error = %err, "closing the kafka consumer panicked");
        }
    }

    fn push(&mut self, tp: TopicPartition, record: Record) {
        let partition = match self.partitions.get_mut(&tp) {
            Some(partition) => partition,
            None => {
                self.next_epoch += 1;
                self.partitions
                    .entry(tp.clone())
                    .or_insert(Partition::new(self.next_epoch))
            }
        };
        partition.push(record);
        if partition.should_pause(self.flow.is_pushing_back()) {
            self.pause_resume(&tp, true);
        }
    }

    /// Starts every delivery the windows allow, partition by partition.
    fn start_ready(&mut self, tasks: &mut JoinSet<()>, done: &mpsc::UnboundedSender<Done>) {
        let mut to_resume = Vec::new();
        let pushback = self.flow.is_pushing_back();
        for (tp, partition) in &mut self.partitions {
            while partition.can_start(self.window) {
                let Some(slot) = self.flow.try_admit() else {
                    break;
                };
                let Some(record) = partition.start() else {
                    break;
                };
                let event = binding::to_event(
                    &record.message,
                    &RecordPosition {
                        topic: &tp.0,
                        partition: tp.1,
                        offset: record.offset,
                        timestamp_ms: record.timestamp_ms,
                    },
                    &SourceRef {
                        namespace: &self.namespace,
                        name: &self.name,
                        key_type: self.key_type,
                    },
                );
                let (deliverer, flow, done) =
                    (self.deliverer.clone(), self.flow.clone(), done.clone());
                let (tp, epoch, offset) = (tp.clone(), partition.epoch, record.offset);
                tasks.spawn(async move {
                    let disposition = deliverer.deliver(event, &flow).await;
                    drop(slot);
                    let _ = done.send(Done {
                        tp,
                        epoch,
                        offset,
                        disposition,
                    });
                });
            }
            if partition.should_resume(pushback) {
                to_resume.push(tp.clone());
            }
        }
        for tp in to_resume {
            self.pause_resume(&tp, false);
        }
    }

    /// Pauses or resumes partitions for the sink's current push-back state (which changes
    /// while deliveries retry, without a record arriving or a delivery ending).
    fn flow_control(&mut self) {
        let pushback = self.flow.is_pushing_back();
        let mut changes = Vec::new();
        for (tp, partition) in &mut self.partitions {
            if partition.should_pause(pushback) {
                changes.push((tp.clone(), true));
            } else if partition.should_resume(pushback) {
                changes.push((tp.clone(), false));
            }
        }
        for (tp, pause) in changes {
            self.pause_resume(&tp, pause);
        }
    }

    fn finish(&mut self, done: Done) {
        let Some(partition) = self.partitions.get_mut(&done.tp) else {
            return;
        };
        if partition.epoch != done.epoch {
            return;
        }
        partition.finish(done.offset, done.disposition == Disposition::Settled);
        if let Some(position) = partition.position() {
            self.consumer
                .context()
                .positions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(done.tp, position);
        }
    }

    fn pause_resume(&self, tp: &TopicPartition, pause: bool) {
        let mut list = TopicPartitionList::new();
        list.add_partition(&tp.0, tp.1);
        let result = if pause {
            self.consumer.pause(&list)
        } else {
            self.consumer.resume(&list)
        };
        match result {
            Ok(()) => tracing::debug!(
                topic = tp.0.as_str(),
                partition = tp.1,
                pause,
                "flow control"
            ),
            Err(err) => {
                tracing::warn!(error = %err, pause, "pausing or resuming a partition failed")
            }
        }
    }

    /// Commits every position that moved since the last commit, or every position when `all`
    /// (a failed asynchronous commit is then made good).
    fn commit(&mut self, mode: CommitMode, all: bool) {
        let mut list = TopicPartitionList::new();
        for (tp, partition) in &mut self.partitions {
            let moved = partition.take_commit();
            let position = if all { partition.position() } else { moved };
            if let Some(position) = position
                && let Err(err) = list.add_partition_offset(&tp.0, tp.1, Offset::Offset(position))
            {
                tracing::warn!(error = %err, "cannot commit an offset");
            }
        }
        if list.count() == 0 {
            return;
        }
        if let Err(err) = self.consumer.commit(&list, mode) {
            tracing::warn!(error = %err, "committing offsets failed");
        }
    }

    /// Drops the state of partitions revoked by a rebalance.
    fn forget_revoked(&mut self) {
        let revoked = std::mem::take(
            &mut *self
                .consumer
                .context()
                .revoked
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for tp in revoked {
            self.partitions.remove(&tp);
        }
    }
}

/// The partition and record of a received message.
fn record_of(message: BorrowedMessage<'_>) -> (TopicPartition, Record) {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_owned(), h.value.map(bytes::Bytes::copy_from_slice)))
                .collect()
        })
        .unwrap_or_default();
    let record = Record {
        offset: message.offset(),
        timestamp_ms: message.timestamp().to_millis(),
        message: KafkaMessage {
            key: message.key().map(bytes::Bytes::copy_from_slice),
            headers,
            value: message.payload().map(bytes::Bytes::copy_from_slice),
        },
    };
    ((message.topic().to_owned(), message.partition()), record)
}
