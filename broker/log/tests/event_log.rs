//! Behavioural tests of the `EventLog` contract, run against both backends: each test body is one
//! generic function, instantiated for `SegmentLog` and `MemoryLog` by the `behaviours!` macro.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_log::{Clock, EventLog, LogConfig, LogError, MemoryLog, SegmentLog};
use tempfile::TempDir;

/// Creates logs of one backend.
trait Backend {
    type Log: EventLog;
    async fn open(&self, config: LogConfig) -> Arc<Self::Log>;
}

struct Segments {
    dir: TempDir,
}

impl Segments {
    fn new() -> Self {
        Segments {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

impl Backend for Segments {
    type Log = SegmentLog;
    async fn open(&self, config: LogConfig) -> Arc<SegmentLog> {
        // Every call gets its own directory so one test can open several logs.
        let dir = tempfile::tempdir_in(self.dir.path())
            .expect("log dir")
            .keep();
        SegmentLog::open(dir, config)
            .await
            .expect("open segment log")
    }
}

struct Memory;

impl Backend for Memory {
    type Log = MemoryLog;
    async fn open(&self, config: LogConfig) -> Arc<MemoryLog> {
        MemoryLog::new(config)
    }
}

macro_rules! behaviours {
    ($($name:ident),* $(,)?) => {
        mod segment_log {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Segments::new()).await;
                }
            )*
        }
        mod memory_log {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Memory).await;
                }
            )*
        }
    };
}

behaviours!(
    round_trip,
    concurrent_appends_get_dense_unique_offsets,
    head_and_watch_follow_durable_appends,
    retention_by_size_moves_earliest,
    retention_by_age_moves_earliest,
    offset_at_time_finds_the_first_record_at_or_after,
    close_refuses_appends_but_keeps_reads,
    oversized_appends_are_refused_whole,
);

fn payload(i: u64) -> Bytes {
    Bytes::from(format!("record-{i:05}"))
}

/// Reads everything from `from` to the head, following short reads.
async fn read_all(log: &impl EventLog, mut from: u64) -> Vec<herald_log::LogRecord> {
    let mut out = Vec::new();
    while from < log.head() {
        let batch = log.read(from, 7).await.expect("read");
        let last = batch
            .last()
            .expect("read below head returned nothing")
            .offset;
        assert!(batch.len() <= 7);
        out.extend(batch);
        from = last + 1;
    }
    out
}

/// The two cache settings every read-heavy behaviour runs with (the memory log ignores it).
const CACHE_SETTINGS: [usize; 2] = [16 << 20, 0];

async fn round_trip<B: Backend>(backend: B) {
    for read_cache_bytes in CACHE_SETTINGS {
        let log = backend
            .open(LogConfig {
                read_cache_bytes,
                segment_bytes: 200,
                ..LogConfig::default()
            })
            .await;
        assert_eq!((log.earliest(), log.head()), (0, 0));
        assert!(log.read(0, 10).await.expect("read empty").is_empty());

        assert_eq!(
            log.append((0..3).map(payload).collect())
                .await
                .expect("append"),
            0
        );
        assert_eq!(
            log.append((3..5).map(payload).collect())
                .await
                .expect("append"),
            3
        );
        assert_eq!(log.append(vec![]).await.expect("empty append"), 5);
        for i in 5..20 {
            assert_eq!(log.append(vec![payload(i)]).await.expect("append"), i);
        }
        assert_eq!(log.head(), 20);

        let records = read_all(&*log, 0).await;
        assert_eq!(records.len(), 20);
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.offset, i as u64);
            assert_eq!(record.payload, payload(i as u64));
        }
        assert!(
            records
                .windows(2)
                .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms)
        );

        let some = log.read(2, 2).await.expect("read");
        assert_eq!(some.iter().map(|r| r.offset).collect::<Vec<_>>(), [2, 3]);
        assert!(log.read(20, 10).await.expect("read at head").is_empty());
        assert!(log.read(1000, 10).await.expect("read past head").is_empty());
        assert!(log.read(0, 0).await.expect("read none").is_empty());
    }
}

async fn concurrent_appends_get_dense_unique_offsets<B: Backend>(backend: B) {
    let log = backend.open(LogConfig::default()).await;
    let tasks: Vec<_> = (0..16u64)
        .map(|task| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut ranges = Vec::new();
                for seq in 0..40u64 {
                    let count = 1 + (seq % 3);
                    let payloads = (0..count)
                        .map(|k| Bytes::from(format!("{task}/{seq}/{k}")))
                        .collect();
                    let first = log.append(payloads).await.expect("append");
                    ranges.push((first, task, seq, count));
                }
                ranges
            })
        })
        .collect();
    let mut ranges = Vec::new();
    for task in tasks {
        ranges.extend(task.await.expect("task"));
    }
    ranges.sort();
    let mut expected_next = 0;
    for &(first, _, _, count) in &ranges {
        assert_eq!(first, expected_next, "offsets must be dense and unique");
        expected_next += count;
    }
    assert_eq!(log.head(), expected_next);

    let records = read_all(&*log, 0).await;
    let mut seen = BTreeSet::new();
    for (first, task, seq, count) in ranges {
        for k in 0..count {
            let record = &records[(first + k) as usize];
            assert_eq!(record.payload, Bytes::from(format!("{task}/{seq}/{k}")));
            assert!(seen.insert(record.offset));
        }
    }
}

async fn head_and_watch_follow_durable_appends<B: Backend>(backend: B) {
    let log = backend.open(LogConfig::default()).await;
    let mut watch = log.watch_head();
    assert_eq!(*watch.borrow_and_update(), 0);

    let writer = {
        let log = log.clone();
        tokio::spawn(async move { log.append(vec![payload(0), payload(1)]).await })
    };
    tokio::time::timeout(Duration::from_secs(10), watch.changed())
        .await
        .expect("head changed in time")
        .expect("sender alive");
    let seen = *watch.borrow_and_update();
    assert_eq!(seen, 2);
    // Whatever the watch announced is readable at once.
    let records = log.read(0, 10).await.expect("read");
    assert_eq!(records.len(), 2);
    assert_eq!(writer.await.expect("task").expect("append"), 0);
    assert_eq!(log.head(), 2);

    // A fresh receiver starts at the current head.
    assert_eq!(*log.watch_head().borrow(), 2);
    log.append(vec![payload(2)]).await.expect("append");
    assert!(watch.has_changed().expect("sender alive"));
    assert_eq!(*watch.borrow(), 3);
}

/// 100-byte payloads: 124 bytes each with the record header, 8 to a 1000-byte segment.
fn sized_payload(i: u64) -> Bytes {
    let mut p = format!("{i:08}").into_bytes();
    p.resize(100, b'.');
    Bytes::from(p)
}
const STORED: u64 = 124;
const SEGMENT: u64 = 1000;

async fn retention_by_size_moves_earliest<B: Backend>(backend: B) {
    let limit = 3000;
    let log = backend
        .open(LogConfig {
            segment_bytes: SEGMENT,
            retention_bytes: Some(limit),
            retention_age: None,
            ..LogConfig::default()
        })
        .await;
    for i in 0..100 {
        log.append(vec![sized_payload(i)]).await.expect("append");
    }
    let earliest = log.apply_retention().await.expect("retention");
    assert_eq!(earliest, log.earliest());
    let retained = (log.head() - earliest) * STORED;
    assert!(retained <= limit + SEGMENT, "kept {retained} bytes");
    assert!(
        retained > limit - SEGMENT,
        "deleted too much: kept {retained} bytes"
    );

    // Reading from before earliest starts at earliest; everything after it is intact.
    let records = read_all(&*log, 0).await;
    assert_eq!(records.first().map(|r| r.offset), Some(earliest));
    assert_eq!(records.len() as u64, log.head() - earliest);
    for record in &records {
        assert_eq!(record.payload, sized_payload(record.offset));
    }
    assert_eq!(log.head(), 100);
}

async fn retention_by_age_moves_earliest<B: Backend>(backend: B) {
    let clock = Clock::manual(1_000_000);
    let log = backend
        .open(LogConfig {
            segment_bytes: SEGMENT,
            retention_bytes: None,
            retention_age: Some(Duration::from_secs(60)),
            clock: clock.clone(),
            ..LogConfig::default()
        })
        .await;
    for i in 0..40 {
        log.append(vec![sized_payload(i)]).await.expect("append");
    }
    clock.advance(Duration::from_secs(30));
    for i in 40..80 {
        log.append(vec![sized_payload(i)]).await.expect("append");
    }
    assert_eq!(log.apply_retention().await.expect("retention"), 0);

    clock.advance(Duration::from_secs(45));
    let earliest = log.apply_retention().await.expect("retention");
    // The first 40 records are 75 s old, the rest 45 s. Segments hold 8 records, so the boundary
    // falls on a segment boundary and whole-segment retention lands exactly on it as well.
    assert_eq!(earliest, 40);
    assert_eq!(log.earliest(), 40);
    let first = log.read(0, 1).await.expect("read");
    assert_eq!(first[0].offset, 40);
    assert_eq!(log.offset_at_time(0).await.expect("time"), 40);
    assert_eq!(read_all(&*log, 0).await.len(), 40);
}

async fn offset_at_time_finds_the_first_record_at_or_after<B: Backend>(backend: B) {
    for read_cache_bytes in CACHE_SETTINGS {
        let clock = Clock::manual(1000);
        let log = backend
            .open(LogConfig {
                segment_bytes: 100,
                read_cache_bytes,
                clock: clock.clone(),
                ..LogConfig::default()
            })
            .await;
        assert_eq!(log.offset_at_time(0).await.expect("time"), 0);
        log.append((0..3).map(payload).collect())
            .await
            .expect("append");
        clock.set(2000);
        log.append((3..5).map(payload).collect())
            .await
            .expect("append");
        clock.set(3000);
        log.append(vec![payload(5)]).await.expect("append");

        for (ts, expected) in [
            (0, 0),
            (1000, 0),
            (1001, 3),
            (2000, 3),
            (2500, 5),
            (3000, 5),
            (3001, 6),
        ] {
            assert_eq!(
                log.offset_at_time(ts).await.expect("time"),
                expected,
                "ts {ts}"
            );
        }

        // Timestamps never go backwards, even when the clock does.
        clock.set(500);
        log.append(vec![payload(6)]).await.expect("append");
        let last = log.read(6, 1).await.expect("read");
        assert_eq!(last[0].timestamp_ms, 3000);
        assert_eq!(log.offset_at_time(3001).await.expect("time"), 7);
    }
}

async fn close_refuses_appends_but_keeps_reads<B: Backend>(backend: B) {
    let log = backend.open(LogConfig::default()).await;
    log.append(vec![payload(0)]).await.expect("append");
    log.close().await.expect("close");
    assert!(matches!(
        log.append(vec![payload(1)]).await,
        Err(LogError::Closed)
    ));
    assert!(matches!(log.append(vec![]).await, Err(LogError::Closed)));
    assert_eq!(log.head(), 1);
    assert_eq!(log.read(0, 10).await.expect("read").len(), 1);
    log.close().await.expect("second close");
}

async fn oversized_appends_are_refused_whole<B: Backend>(backend: B) {
    let log = backend
        .open(LogConfig {
            max_record_bytes: 100,
            max_pending_bytes: 1000,
            ..LogConfig::default()
        })
        .await;
    let small = Bytes::from(vec![1u8; 10]);
    let big = Bytes::from(vec![1u8; 101]);
    match log.append(vec![small.clone(), big]).await {
        Err(LogError::TooLarge {
            size: 101,
            limit: 100,
            ..
        }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Ten 100-byte records take 1240 bytes with headers: more than may ever be pending.
    let call = vec![Bytes::from(vec![1u8; 100]); 10];
    assert!(matches!(
        log.append(call).await,
        Err(LogError::TooLarge { .. })
    ));
    assert_eq!(log.head(), 0, "nothing of a refused call is appended");
    assert_eq!(log.append(vec![small]).await.expect("append"), 0);
}
