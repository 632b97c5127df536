//! Crash safety of the embedded log: `kill -9` a real `herald serve` in the middle of a load, and
//! every event that was answered 202 is on disk; the restarted server serves again.

use herald_log::{EventLog, LogConfig, SegmentLog};
use herald_tests::process::Herald;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_event_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let herald = Herald::start(&data, &[]);
    let url = herald.broker_url("default", "default");
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));

    let client = reqwest::Client::new();
    let mut senders = Vec::new();
    for sender in 0..16 {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for n in 0.. {
                let id = format!("{sender}-{n}");
                let sent = client
                    .post(&url)
                    .header("ce-specversion", "1.0")
                    .header("ce-id", &id)
                    .header("ce-source", "/crash")
                    .header("ce-type", "com.example.crash")
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"n":{n},"pad":"{}"}}"#, "x".repeat(512)))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 202 => acked.lock().unwrap().push(id),
                    Ok(r) => panic!("unexpected answer {}", r.status()),
                    Err(_) => return, // the server died
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    herald.kill9();
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the load was too small to mean anything: {}",
        acked.len()
    );

    // Read the log straight from disk, as the restarted server will.
    let log = SegmentLog::open(
        data.join("brokers/default/default/log"),
        LogConfig::default(),
    )
    .await
    .expect("the log reopens after kill -9");
    let mut stored = HashSet::new();
    let mut from = log.earliest();
    loop {
        let records = log.read(from, 1024).await.unwrap();
        let Some(last) = records.last() else { break };
        from = last.offset + 1;
        for r in &records {
            let event =
                herald_cloudevent::record::decode(&r.payload).expect("a stored record decodes");
            stored.insert(event.id().to_string());
        }
    }
    log.close().await.unwrap();
    drop(log);
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );

    // The restarted server accepts events after the recovered ones.
    let herald = Herald::start(&data, &[]);
    let status = client
        .post(herald.broker_url("default", "default"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "after-restart")
        .header("ce-source", "/crash")
        .header("ce-type", "com.example.crash")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202, "{}", herald.logs());
}
