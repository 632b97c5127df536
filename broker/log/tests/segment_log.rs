//! Tests specific to the segment-file log: files on disk, reopening, crash recovery, corruption,
//! whole-segment retention, locking and group commit.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_log::{Clock, EventLog, LogConfig, LogError, SegmentLog, SyncObserver};

fn payload(i: u64) -> Bytes {
    Bytes::from(format!("payload number {i:06}"))
}

/// Size of one `payload(i)` record on disk: 24-byte header plus 21-byte payload.
const RECORD: u64 = 45;

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 10 * RECORD,
        read_cache_bytes: 0,
        ..LogConfig::default()
    }
}

/// Segment files in `dir`, oldest first.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

async fn append_each(log: &SegmentLog, range: std::ops::Range<u64>) {
    for i in range {
        assert_eq!(log.append(vec![payload(i)]).await.expect("append"), i);
    }
}

/// Reads every record from earliest to head.
async fn read_all(log: &SegmentLog) -> Vec<herald_log::LogRecord> {
    let mut out = Vec::new();
    let mut from = 0;
    while from < log.head() {
        let batch = log.read(from, 1000).await.expect("read");
        let Some(last) = batch.last() else { break };
        from = last.offset + 1;
        out.extend(batch);
    }
    out
}

fn assert_records(records: &[herald_log::LogRecord], offsets: impl Iterator<Item = u64>) {
    let offsets: Vec<u64> = offsets.collect();
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        offsets
    );
    for record in records {
        assert_eq!(record.payload, payload(record.offset));
    }
}

#[tokio::test]
async fn reopen_after_clean_close_keeps_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = SegmentLog::open(dir.path(), small_segments())
        .await
        .expect("open");
    append_each(&log, 0..35).await;
    let before = read_all(&log).await;
    log.close().await.expect("close");
    drop(log);

    let names: Vec<String> = segment_files(dir.path())
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "00000000000000000000.log",
            "00000000000000000010.log",
            "00000000000000000020.log",
            "00000000000000000030.log"
        ]
    );

    let log = SegmentLog::open(dir.path(), small_segments())
        .await
        .expect("reopen");
    assert_eq!((log.earliest(), log.head()), (0, 35));
    assert_eq!(*log.watch_head().borrow(), 35);
    assert_eq!(read_all(&log).await, before);
    assert_eq!(log.append(vec![payload(35)]).await.expect("append"), 35);
    log.close().await.expect("close");
}

#[tokio::test]
async fn a_directory_is_opened_by_one_log_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = SegmentLog::open(dir.path(), LogConfig::default())
        .await
        .expect("open");
    assert!(matches!(
        SegmentLog::open(dir.path(), LogConfig::default()).await,
        Err(LogError::Locked { .. })
    ));
    log.close().await.expect("close");
    drop(log);
    SegmentLog::open(dir.path(), LogConfig::default())
        .await
        .expect("reopen");
}

/// Writes `count` records into one segment, closes, lets `damage` alter the segment file, reopens
/// and checks that exactly `survivors` records remain, the file was cut back to them, and appends
/// continue at the right offset (also across another reopen).
async fn crash_case(count: u64, survivors: u64, damage: impl FnOnce(&Path, u64)) {
    let dir = tempfile::tempdir().expect("temp dir");
    write_and_close(dir.path(), LogConfig::default(), count).await;

    let segment = segment_files(dir.path()).remove(0);
    damage(&segment, fs::metadata(&segment).expect("stat").len());

    let log = SegmentLog::open(dir.path(), LogConfig::default())
        .await
        .expect("reopen");
    assert_eq!(log.head(), survivors);
    assert_records(&read_all(&log).await, 0..survivors);
    assert_eq!(
        fs::metadata(&segment).expect("stat").len(),
        survivors * RECORD
    );
    assert_eq!(
        log.append(vec![payload(survivors)]).await.expect("append"),
        survivors
    );
    log.close().await.expect("close");
    drop(log);

    let log = SegmentLog::open(dir.path(), LogConfig::default())
        .await
        .expect("reopen again");
    assert_records(&read_all(&log).await, 0..survivors + 1);
}

/// Opens a log in `dir`, appends records `0..count` one by one, and closes it.
async fn write_and_close(dir: &Path, config: LogConfig, count: u64) {
    let log = SegmentLog::open(dir, config).await.expect("open");
    append_each(&log, 0..count).await;
    log.close().await.expect("close");
}

fn open_rw(path: &Path) -> fs::File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open segment")
}

#[tokio::test]
async fn a_record_truncated_mid_payload_is_cut() {
    crash_case(10, 9, |path, len| {
        open_rw(path).set_len(len - 5).expect("truncate")
    })
    .await;
}

#[tokio::test]
async fn a_record_truncated_mid_header_is_cut() {
    crash_case(10, 9, |path, len| {
        open_rw(path).set_len(len - RECORD + 10).expect("truncate")
    })
    .await;
}

#[tokio::test]
async fn a_flipped_byte_in_the_tail_is_cut() {
    crash_case(10, 8, |path, len| {
        let file = open_rw(path);
        let at = len - RECORD - 3; // inside the payload of the second-to-last record
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, at).expect("read");
        file.write_all_at(&[byte[0] ^ 0x20], at).expect("flip");
    })
    .await;
}

#[tokio::test]
async fn a_flipped_length_field_is_cut() {
    crash_case(10, 9, |path, len| {
        open_rw(path)
            .write_all_at(&[0xff, 0xff, 0xff, 0x7f], len - RECORD)
            .expect("overwrite length")
    })
    .await;
}

#[tokio::test]
async fn garbage_after_the_last_record_is_cut() {
    crash_case(10, 10, |path, len| {
        let garbage: Vec<u8> = (0..37u8).map(|b| b.wrapping_mul(97)).collect();
        open_rw(path)
            .write_all_at(&garbage, len)
            .expect("append garbage")
    })
    .await;
}

#[tokio::test]
async fn corruption_inside_an_older_segment_is_not_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_and_close(dir.path(), small_segments(), 25).await;

    let first = segment_files(dir.path()).remove(0);
    let length_before = fs::metadata(&first).expect("stat").len();
    // Flip a payload byte of record 4 (of 0..10 in the first segment).
    open_rw(&first)
        .write_all_at(b"#", 4 * RECORD + 30)
        .expect("flip");

    let log = SegmentLog::open(dir.path(), small_segments())
        .await
        .expect("reopen");
    assert_eq!((log.earliest(), log.head()), (0, 25));
    let records = read_all(&log).await;
    assert_records(&records, (0..4).chain(10..25));
    // A read starting inside the unserved range skips to the next served record.
    assert_eq!(log.read(6, 1).await.expect("read")[0].offset, 10);
    // The older segment is kept as it was, for inspection.
    assert_eq!(fs::metadata(&first).expect("stat").len(), length_before);
    assert_eq!(log.append(vec![payload(25)]).await.expect("append"), 25);
}

#[tokio::test]
async fn corruption_found_while_reading_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = SegmentLog::open(dir.path(), small_segments())
        .await
        .expect("open");
    append_each(&log, 0..15).await;
    let first = segment_files(dir.path()).remove(0);
    open_rw(&first)
        .write_all_at(b"#", 2 * RECORD + 30)
        .expect("flip");

    assert_records(&log.read(0, 2).await.expect("read before the damage"), 0..2);
    match log.read(0, 5).await {
        Err(LogError::Corrupt { position, .. }) => assert_eq!(position, 2 * RECORD),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn tail_reads_come_from_the_cache_and_old_reads_from_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        segment_bytes: 10 * RECORD,
        read_cache_bytes: (5 * RECORD) as usize,
        ..LogConfig::default()
    };
    let log = SegmentLog::open(dir.path(), config).await.expect("open");
    append_each(&log, 0..30).await;
    // Remove the files behind the log's back: only the cached tail stays readable.
    for file in segment_files(dir.path()) {
        open_rw(&file).set_len(0).expect("wipe");
    }
    assert_records(&log.read(25, 100).await.expect("cached tail"), 25..30);
    assert!(
        log.read(0, 1).await.is_err(),
        "old records must come from disk"
    );
}

#[tokio::test]
async fn retention_never_deletes_the_active_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        retention_bytes: Some(1),
        ..small_segments()
    };
    let log = SegmentLog::open(dir.path(), config).await.expect("open");
    append_each(&log, 0..9).await;
    assert_eq!(log.apply_retention().await.expect("retention"), 0);
    append_each(&log, 9..25).await;
    // Rolling applied retention already: only the active segment (from 20) is left.
    assert_eq!(log.earliest(), 20);
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_records(&read_all(&log).await, 20..25);
    log.close().await.expect("close");
    drop(log);

    let log = SegmentLog::open(dir.path(), small_segments())
        .await
        .expect("reopen");
    assert_eq!((log.earliest(), log.head()), (20, 25));
    assert_eq!(log.read(0, 1).await.expect("read")[0].offset, 20);
}

#[tokio::test]
async fn retention_is_also_applied_periodically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Clock::manual(0);
    let config = LogConfig {
        retention_age: Some(Duration::from_secs(10)),
        retention_check_interval: Duration::from_millis(20),
        clock: clock.clone(),
        ..small_segments()
    };
    let log = SegmentLog::open(dir.path(), config).await.expect("open");
    append_each(&log, 0..25).await;
    assert_eq!(log.earliest(), 0);
    clock.advance(Duration::from_secs(11));
    // Retention first moves `earliest` (so no reader starts in the doomed segments), then deletes
    // their files: wait for both.
    let mut watched = 0;
    for _ in 0..500 {
        watched = log.earliest();
        if watched > 0 && segment_files(dir.path()).len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(watched, 20);
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_fsyncs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = SegmentLog::open(dir.path(), LogConfig::default())
        .await
        .expect("open");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let log: Arc<SegmentLog> = log.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    log.append(vec![Bytes::from_static(&[0u8; 256])])
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let stats = log.stats();
    assert_eq!(stats.records, 640);
    assert_eq!(stats.fsyncs, stats.batches);
    assert!(
        stats.fsyncs < stats.records,
        "group commit should batch appends: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_keep_the_minimum_interval_and_a_trickle_of_appends_gathers_between_them() {
    let interval = Duration::from_millis(25);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        min_sync_interval: interval,
        ..LogConfig::default()
    };
    let log = SegmentLog::open(dir.path(), config).await.expect("open");

    // One appender waiting for each append: every sync after the first waits out the interval.
    let started = std::time::Instant::now();
    append_each(&log, 0..8).await;
    assert!(
        started.elapsed() >= interval * 7,
        "8 syncs in {:?}",
        started.elapsed()
    );
    assert_eq!(log.stats().fsyncs, 8);

    // Appends arriving every 2 ms for 80 ms share the few syncs the interval allows.
    let trickle: Vec<_> = (0..40)
        .map(|i| {
            let log: Arc<SegmentLog> = log.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2 * i)).await;
                log.append(vec![payload(100 + i)]).await.expect("append")
            })
        })
        .collect();
    for task in trickle {
        task.await.expect("task");
    }
    let stats = log.stats();
    assert_eq!(stats.records, 48);
    // Five syncs fit in 80 ms at this interval; the margin is for a slow scheduler, far below
    // the sync each that lone appends would otherwise get.
    assert!(
        stats.fsyncs - 8 <= 10,
        "40 appends over 80 ms took {} syncs",
        stats.fsyncs - 8
    );
}

#[tokio::test]
async fn the_observer_is_told_how_long_each_sync_took_and_only_syncs() {
    use std::sync::Mutex;
    let took = Arc::new(Mutex::new(Vec::new()));
    let observer = SyncObserver::new({
        let took = took.clone();
        move |duration| took.lock().unwrap().push(duration)
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        sync_observer: Some(observer),
        ..LogConfig::default()
    };
    let log = SegmentLog::open(dir.path(), config).await.expect("open");
    let started = std::time::Instant::now();
    append_each(&log, 0..6).await;
    let elapsed = started.elapsed();
    let took = took.lock().unwrap().clone();
    assert_eq!(took.len() as u64, log.stats().fsyncs);
    assert_eq!(took.len(), 6, "one sync per lone append");
    assert!(
        took.iter().sum::<Duration>() <= elapsed,
        "{took:?} in {elapsed:?}"
    );

    // Without fsync there is nothing to time.
    let unsynced = Arc::new(Mutex::new(0));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        fsync: false,
        sync_observer: Some(SyncObserver::new({
            let unsynced = unsynced.clone();
            move |_| *unsynced.lock().unwrap() += 1
        })),
        ..LogConfig::default()
    };
    let log = SegmentLog::open(dir.path(), config).await.expect("open");
    append_each(&log, 0..3).await;
    assert_eq!(*unsynced.lock().unwrap(), 0);
}

#[tokio::test]
async fn without_fsync_the_sync_interval_delays_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        fsync: false,
        min_sync_interval: Duration::from_secs(1),
        ..LogConfig::default()
    };
    let log = SegmentLog::open(dir.path(), config).await.expect("open");
    let started = std::time::Instant::now();
    append_each(&log, 0..5).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!((log.stats().records, log.stats().fsyncs), (5, 0));
}

#[tokio::test]
async fn an_append_larger_than_one_write_lands_whole_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        read_cache_bytes: 0,
        ..LogConfig::default()
    };
    // 2 MiB in one call: the writer frames it in several writes, under one fsync.
    let big = |i: u64| Bytes::from(format!("{i:08}").repeat(512));
    let payloads: Vec<Bytes> = (0..512).map(big).collect();
    let log = SegmentLog::open(dir.path(), config.clone())
        .await
        .expect("open");
    assert_eq!(log.append(payloads.clone()).await.expect("append"), 0);
    assert_eq!(log.append(vec![payload(512)]).await.expect("append"), 512);
    let check = |records: Vec<herald_log::LogRecord>| {
        assert_eq!(records.len(), 513);
        for (record, expected) in records.iter().zip(&payloads) {
            assert_eq!(&record.payload, expected, "offset {}", record.offset);
        }
        assert_eq!(records[512].payload, payload(512));
    };
    check(read_all(&log).await);
    log.close().await.expect("close");
    drop(log);

    let files = segment_files(dir.path());
    let on_disk = fs::metadata(&files[0]).expect("segment").len();
    assert_eq!(on_disk, 512 * (24 + 4096) + RECORD);
    let log = SegmentLog::open(dir.path(), config).await.expect("reopen");
    assert_eq!(log.head(), 513);
    check(read_all(&log).await);
    log.close().await.expect("close");
}

#[tokio::test]
async fn zeros_after_the_last_record_are_unused_space_and_cut() {
    crash_case(10, 10, |path, len| {
        open_rw(path)
            .set_len(len + 4096)
            .expect("extend with zeros")
    })
    .await;
}

#[tokio::test]
async fn zeros_where_a_record_should_start_with_data_after_them_are_damage() {
    crash_case(10, 5, |path, _| {
        open_rw(path)
            .write_all_at(&[0u8; 24], 5 * RECORD)
            .expect("zero a header")
    })
    .await;
}

/// Waits until the log's spare segment has been made (its file has `bytes`), then a little
/// longer for its fsync to finish.
async fn wait_for_spare(dir: &Path, bytes: u64) {
    let spare = dir.join("next-segment.spare");
    for _ in 0..500 {
        if fs::metadata(&spare).is_ok_and(|m| m.len() == bytes) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "no spare segment of {bytes} bytes appeared in {}",
        dir.display()
    );
}

#[tokio::test]
async fn a_roll_takes_the_zero_filled_spare_and_reopening_cuts_its_unused_zeros() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = SegmentLog::open(dir.path(), small_segments())
        .await
        .expect("open");
    append_each(&log, 0..2).await;
    assert!(
        !dir.path().join("next-segment.spare").exists(),
        "a spare is made only once a quarter of the segment is written"
    );
    append_each(&log, 2..10).await;
    wait_for_spare(dir.path(), 10 * RECORD).await;

    // Record 10 rolls into the spare: a full-size file of zeros holding one record.
    append_each(&log, 10..12).await;
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2);
    assert_eq!(fs::metadata(&files[0]).expect("stat").len(), 10 * RECORD);
    assert_eq!(fs::metadata(&files[1]).expect("stat").len(), 10 * RECORD);
    assert!(!dir.path().join("next-segment.spare").exists());
    assert_records(&read_all(&log).await, 0..12);
    log.close().await.expect("close");
    drop(log);

    let log = SegmentLog::open(dir.path(), small_segments())
        .await
        .expect("reopen");
    assert_eq!(log.head(), 12);
    assert_records(&read_all(&log).await, 0..12);
    assert_eq!(fs::metadata(&files[1]).expect("stat").len(), 2 * RECORD);
    assert_eq!(log.append(vec![payload(12)]).await.expect("append"), 12);
    assert_records(&read_all(&log).await, 0..13);
}

#[tokio::test]
async fn an_older_segment_ending_in_zeros_is_served_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_and_close(dir.path(), small_segments(), 25).await;
    // As if the writer crashed before trimming a full segment made from a spare.
    let first = segment_files(dir.path()).remove(0);
    open_rw(&first).set_len(20 * RECORD).expect("extend");

    let log = SegmentLog::open(dir.path(), small_segments())
        .await
        .expect("reopen");
    assert_eq!((log.earliest(), log.head()), (0, 25));
    assert_records(&read_all(&log).await, 0..25);
}

#[tokio::test]
async fn without_fsync_no_spare_is_made() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        fsync: false,
        ..small_segments()
    };
    let log = SegmentLog::open(dir.path(), config).await.expect("open");
    append_each(&log, 0..25).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!dir.path().join("next-segment.spare").exists());
    for file in &segment_files(dir.path())[..2] {
        assert_eq!(fs::metadata(file).expect("stat").len(), 10 * RECORD);
    }
}

#[tokio::test]
async fn closing_the_log_removes_an_unused_spare() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = SegmentLog::open(dir.path(), small_segments())
        .await
        .expect("open");
    append_each(&log, 0..5).await;
    wait_for_spare(dir.path(), 10 * RECORD).await;
    log.close().await.expect("close");
    drop(log);
    assert!(!dir.path().join("next-segment.spare").exists());
}
