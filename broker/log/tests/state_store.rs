//! Tests of the `StateStore` contract for both stores (shared generic bodies), plus journal replay,
//! torn tails and compaction of the file store.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use herald_log::{FileStateStore, LogError, StateStore};

const JOURNAL: &str = "state.journal";

macro_rules! behaviours {
    ($($name:ident),* $(,)?) => {
        mod file_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = herald_log::FileStateStore::open(dir.path(), true)
                        .await
                        .expect("open");
                    super::$name(store).await;
                }
            )*
        }
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(herald_log::MemoryStateStore::new()).await;
                }
            )*
        }
    };
}

behaviours!(
    put_get_overwrite_delete,
    scan_prefix_returns_matching_keys_in_order,
    concurrent_writers_all_land,
    close_refuses_writes_but_keeps_reads,
    oversized_values_are_refused,
);

fn value(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn put_get_overwrite_delete(store: Arc<impl StateStore>) {
    assert_eq!(store.get("a"), None);
    store.put("a", value("1")).await.expect("put");
    assert_eq!(store.get("a"), Some(value("1")));
    store.put("a", value("2")).await.expect("overwrite");
    assert_eq!(store.get("a"), Some(value("2")));
    store.put("", value("empty key")).await.expect("empty key");
    store.put("b", Bytes::new()).await.expect("empty value");
    assert_eq!(store.get("b"), Some(Bytes::new()));
    store.delete("a").await.expect("delete");
    store.delete("never-there").await.expect("delete absent");
    assert_eq!(store.get("a"), None);
    assert_eq!(store.get(""), Some(value("empty key")));
}

async fn scan_prefix_returns_matching_keys_in_order(store: Arc<impl StateStore>) {
    for key in [
        "trigger/b",
        "trigger/a",
        "retry/x",
        "trigger",
        "triggers/z",
        "trigger/c",
    ] {
        store.put(key, value(key)).await.expect("put");
    }
    store.delete("trigger/c").await.expect("delete");
    let found: Vec<String> = store
        .scan_prefix("trigger/")
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(v, value(&k));
            k
        })
        .collect();
    assert_eq!(found, ["trigger/a", "trigger/b"]);
    assert_eq!(store.scan_prefix("").len(), 5);
    assert!(store.scan_prefix("nothing/").is_empty());
}

async fn concurrent_writers_all_land(store: Arc<impl StateStore>) {
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    let key = format!("pos/{task:02}/{i:02}");
                    store.put(&key, value(&key)).await.expect("put");
                    assert_eq!(
                        store.get(&key),
                        Some(value(&key)),
                        "visible once put resolves"
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(store.scan_prefix("pos/").len(), 320);
}

async fn close_refuses_writes_but_keeps_reads(store: Arc<impl StateStore>) {
    store.put("k", value("v")).await.expect("put");
    store.close().await.expect("close");
    assert!(matches!(
        store.put("k", value("w")).await,
        Err(LogError::Closed)
    ));
    assert!(matches!(store.delete("k").await, Err(LogError::Closed)));
    assert_eq!(store.get("k"), Some(value("v")));
}

async fn oversized_values_are_refused(store: Arc<impl StateStore>) {
    let huge = Bytes::from(vec![0u8; 16 * 1024 * 1024 + 1]);
    assert!(matches!(
        store.put("k", huge).await,
        Err(LogError::TooLarge {
            what: "state value",
            ..
        })
    ));
    assert_eq!(store.get("k"), None);
}

fn journal_len(dir: &Path) -> u64 {
    fs::metadata(dir.join(JOURNAL)).expect("journal").len()
}

#[tokio::test]
async fn the_journal_is_replayed_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStateStore::open(dir.path(), true).await.expect("open");
    store.put("a", value("1")).await.expect("put");
    store.put("b", value("2")).await.expect("put");
    store.put("a", value("3")).await.expect("put");
    store.delete("b").await.expect("delete");
    store.put("c", value("4")).await.expect("put");
    store.close().await.expect("close");
    drop(store);

    let store = FileStateStore::open(dir.path(), true)
        .await
        .expect("reopen");
    assert_eq!(
        store.scan_prefix(""),
        vec![("a".to_owned(), value("3")), ("c".to_owned(), value("4"))]
    );
}

#[tokio::test]
async fn a_torn_or_garbled_tail_is_cut() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStateStore::open(dir.path(), true).await.expect("open");
    store.put("kept", value("yes")).await.expect("put");
    let kept_len = journal_len(dir.path());
    store.put("torn", value("no")).await.expect("put");
    store.close().await.expect("close");
    drop(store);

    let journal = OpenOptions::new()
        .write(true)
        .open(dir.path().join(JOURNAL))
        .expect("open journal");
    journal.set_len(journal_len(dir.path()) - 2).expect("tear");
    drop(journal);

    let store = FileStateStore::open(dir.path(), true)
        .await
        .expect("reopen");
    assert_eq!(store.get("kept"), Some(value("yes")));
    assert_eq!(store.get("torn"), None);
    assert_eq!(
        journal_len(dir.path()),
        kept_len,
        "the torn entry is cut off the file"
    );
    store
        .put("after", value("ok"))
        .await
        .expect("put after recovery");
    store.close().await.expect("close");
    drop(store);

    let mut data = fs::read(dir.path().join(JOURNAL)).expect("read");
    data.extend_from_slice(b"\x05\0\0\0garbage that is not an entry");
    fs::write(dir.path().join(JOURNAL), data).expect("write");
    let store = FileStateStore::open(dir.path(), true)
        .await
        .expect("reopen");
    assert_eq!(
        store.scan_prefix(""),
        vec![
            ("after".to_owned(), value("ok")),
            ("kept".to_owned(), value("yes"))
        ]
    );
}

#[tokio::test]
async fn the_journal_is_compacted_when_mostly_dead() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStateStore::open(dir.path(), false).await.expect("open");
    for i in 0..10 {
        store
            .put(&format!("keep/{i}"), value("v"))
            .await
            .expect("put");
    }
    store.put("gone", value("soon")).await.expect("put");
    store.delete("gone").await.expect("delete");
    let blob = Bytes::from(vec![b'x'; 200]);
    let rounds = 2000u64;
    for round in 0..rounds {
        let mut v = blob.to_vec();
        v[..8].copy_from_slice(&round.to_le_bytes());
        store.put("hot", Bytes::from(v)).await.expect("put");
    }
    // Without compaction the journal would hold every one of the ~2000 × 216 bytes.
    let len = journal_len(dir.path());
    assert!(len < 100 * 1024, "journal not compacted: {len} bytes");
    assert!(!dir.path().join("state.journal.compact").exists());
    store.close().await.expect("close");
    drop(store);

    let store = FileStateStore::open(dir.path(), true)
        .await
        .expect("reopen");
    assert_eq!(store.scan_prefix("keep/").len(), 10);
    assert_eq!(store.get("gone"), None);
    let hot = store.get("hot").expect("hot key");
    assert_eq!(hot[..8], (rounds - 1).to_le_bytes());
}

#[tokio::test]
async fn an_unfinished_compaction_is_discarded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStateStore::open(dir.path(), true).await.expect("open");
    store.put("k", value("v")).await.expect("put");
    store.close().await.expect("close");
    drop(store);
    fs::write(dir.path().join("state.journal.compact"), b"half written").expect("write");

    let store = FileStateStore::open(dir.path(), true)
        .await
        .expect("reopen");
    assert_eq!(store.get("k"), Some(value("v")));
    assert!(!dir.path().join("state.journal.compact").exists());
}

#[tokio::test]
async fn a_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _store = FileStateStore::open(dir.path(), true).await.expect("open");
    assert!(matches!(
        FileStateStore::open(dir.path(), true).await,
        Err(LogError::Locked { .. })
    ));
}
