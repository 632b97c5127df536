//! Append throughput benchmark for the segment log.
//!
//! `cargo run --release -p herald-log --example append_bench -- [tasks] [record_bytes] [seconds] [fsync]`
//! (defaults: 64 tasks, 1024-byte records, 2 seconds, fsync on). Each task appends one record at a
//! time and waits for it to be durable, while one reader tails the head the way a trigger does; the
//! log lives in a temporary directory.

use std::time::{Duration, Instant};

use bytes::Bytes;
use herald_log::{EventLog, LogConfig, SegmentLog};

fn arg<T: std::str::FromStr>(index: usize, default: T) -> T {
    std::env::args()
        .nth(index)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tasks: usize = arg(1, 64);
    let record_bytes: usize = arg(2, 1024);
    let seconds: f64 = arg(3, 2.0);
    let fsync: bool = arg(4, true);

    let dir = tempfile::tempdir()?;
    let log = SegmentLog::open(
        dir.path(),
        LogConfig {
            fsync,
            ..LogConfig::default()
        },
    )
    .await?;
    let payload = Bytes::from(vec![b'e'; record_bytes]);
    let run_for = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tail_reader = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut head = log.watch_head();
            let (mut next, mut read) = (0u64, 0u64);
            while started.elapsed() < run_for {
                let records = log.read(next, 1000).await?;
                match records.last() {
                    Some(last) => {
                        next = last.offset + 1;
                        read += records.len() as u64;
                    }
                    None => {
                        let _ =
                            tokio::time::timeout(Duration::from_millis(50), head.changed()).await;
                    }
                }
            }
            Ok::<_, herald_log::LogError>(read)
        })
    };
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let log = log.clone();
            let payload = payload.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < run_for {
                    let t = Instant::now();
                    log.append(vec![payload.clone()]).await?;
                    latencies.push(t.elapsed());
                }
                Ok::<_, herald_log::LogError>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = log.stats();
    let tailed = tail_reader.await??;
    log.close().await?;

    latencies.sort();
    let percentile = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).copied().unwrap_or_default()
    };
    println!(
        "tasks={tasks} record_bytes={record_bytes} fsync={fsync} elapsed={elapsed:.2}s\n\
         records/s={:.0} MiB/s={:.1} fsyncs/s={:.0} batches/s={:.0} records/batch={:.1}\n\
         append latency p50={:?} p99={:?} max={:?}\n\
         tail reader: {tailed} records ({:.0}/s)",
        stats.records as f64 / elapsed,
        stats.records as f64 * record_bytes as f64 / elapsed / (1 << 20) as f64,
        stats.fsyncs as f64 / elapsed,
        stats.batches as f64 / elapsed,
        stats.records as f64 / stats.batches.max(1) as f64,
        percentile(0.5),
        percentile(0.99),
        latencies.last().copied().unwrap_or_default(),
        tailed as f64 / elapsed,
    );
    Ok(())
}
