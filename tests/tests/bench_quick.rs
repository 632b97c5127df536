//! The benchmark's CI mode: `herald-bench --quick` runs every scenario for a moment against the
//! herald binary the suite built, and must finish without errors (no failed request, no lost,
//! duplicated or misrouted event). Speed is not judged here: this build is unoptimised and the
//! machine is shared with the rest of the suite.

use herald_tests::process::herald_bin;
use std::process::Command;

/// Every scenario but jetstream-fsync, which needs a nats-server of its own (`NATS_SERVER_BIN`).
const SCENARIOS: [&str; 12] = [
    "direct",
    "relay",
    "herald-memory",
    "herald-durable",
    "herald-durable-nofsync",
    "herald-durable-ingress",
    "herald-durable-batch",
    "fanout-10",
    "selective-1000",
    "selective-1000-cesql",
    "jetstream",
    "idle-100-triggers",
];

#[test]
fn every_scenario_runs_without_errors_in_quick_mode() {
    let out = tempfile::tempdir().unwrap();
    let mut bench = Command::new(env!("CARGO_BIN_EXE_herald-bench"));
    bench
        .arg("--quick")
        .arg("--out")
        .arg(out.path())
        .env("HERALD_BIN", herald_bin());
    let own_nats = std::env::var_os("NATS_SERVER_BIN").is_some_and(|bin| !bin.is_empty());
    if !own_nats {
        eprintln!(
            "NATS_SERVER_BIN is not set: skipping jetstream-fsync \
             (run `export NATS_SERVER_BIN=$(tests/nats-server)` to include it)"
        );
        for name in SCENARIOS {
            bench.arg("--scenario").arg(name);
        }
    }
    let run = bench.output().expect("herald-bench runs");
    let report = std::fs::read_to_string(out.path().join("results.md")).unwrap_or_default();
    assert!(
        run.status.success(),
        "herald-bench --quick failed ({}):\n{}\n{}\n{report}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );

    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    let scenarios = results["scenarios"]
        .as_array()
        .expect("a list of scenarios");
    let names: Vec<&str> = scenarios
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    let own_nats_scenario = own_nats.then_some("jetstream-fsync");
    for expected in SCENARIOS.into_iter().chain(own_nats_scenario) {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for scenario in scenarios {
        assert_eq!(scenario["errors"], 0, "{scenario}");
        for field in [
            "accepted_per_sec",
            "publish_p99_ms",
            "cpu_s_per_1k",
            "peak_rss_mib",
        ] {
            assert!(
                scenario.get(field).is_some(),
                "{field} missing from {scenario}"
            );
        }
    }
    if let Some(name) = own_nats_scenario {
        // The server the bench started took acknowledged publishes.
        let synced = scenarios.iter().find(|s| s["name"] == name).unwrap();
        assert!(
            synced["accepted_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
            "no publish acknowledged: {synced}"
        );
    }
    let herald = scenarios
        .iter()
        .find(|s| s["name"] == "herald-durable")
        .unwrap();
    assert!(
        herald["delivered_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "nothing was delivered end to end: {herald}"
    );
    // Herald's own accept latency and how often its threads slept were read around every
    // phase, and its arrival stamp splits each event's e2e latency; a baseline has none of them.
    // The load generator's own sleeps are counted in every scenario.
    for phase in herald["open_loop"].as_array().expect("open-loop steps") {
        let bench_sleeps = phase["bench_sleeps_per_event"].as_f64();
        assert!(
            bench_sleeps.is_some_and(|n| n > 0.0),
            "no sleeps of the load generator counted: {phase}"
        );
        let p99 = phase["herald_accept_p99_ms"].as_f64();
        assert!(p99.is_some_and(|ms| ms > 0.0), "no accept latency: {phase}");
        let sync = phase["herald_sync_p99_ms"].as_f64();
        assert!(sync.is_some_and(|ms| ms > 0.0), "no fsync latency: {phase}");
        let syncs = phase["herald_syncs_per_sec"].as_f64();
        assert!(syncs.is_some_and(|n| n > 0.0), "no syncs a second: {phase}");
        for thread in ["tokio", "writer"] {
            let wait = phase[format!("herald_{thread}_core_wait_us")].as_f64();
            assert!(
                wait.is_some_and(|us| us >= 0.0),
                "no {thread} wait: {phase}"
            );
        }
        let sleeps = phase["sleeps_per_event"].as_f64();
        assert!(
            sleeps.is_some_and(|n| n > 0.0),
            "no sleeps counted: {phase}"
        );
        // The slow events, and those of them the machine's pauses account for, are counted.
        let slow = phase["e2e_over_10ms"]
            .as_u64()
            .expect("slow events counted");
        let in_pause = phase["e2e_over_10ms_in_pause"].as_u64();
        assert!(in_pause.is_some_and(|n| n <= slow), "{phase}");
        let share = phase["pause_window_share"].as_f64();
        assert!(share.is_some_and(|s| (0.0..=1.0).contains(&s)), "{phase}");
        let after_stamp = phase["after_stamp"]["p99_ms"].as_f64();
        let e2e = phase["e2e"]["max_ms"].as_f64().expect("e2e latency");
        assert!(
            after_stamp.is_some_and(|ms| ms > 0.0 && ms <= e2e),
            "no part of e2e after Herald's stamp: {phase}"
        );
    }
    // The memory log never syncs, and has no writer thread.
    let memory = scenarios
        .iter()
        .find(|s| s["name"] == "herald-memory")
        .unwrap();
    for phase in memory["open_loop"].as_array().expect("open-loop steps") {
        assert!(phase["herald_accept_p99_ms"].as_f64().is_some(), "{phase}");
        assert!(phase["herald_sync_p99_ms"].is_null(), "{phase}");
        assert!(phase["herald_syncs_per_sec"].is_null(), "{phase}");
        assert!(phase["herald_tokio_core_wait_us"].is_f64(), "{phase}");
        assert!(phase["herald_writer_core_wait_us"].is_null(), "{phase}");
    }
    let direct = scenarios.iter().find(|s| s["name"] == "direct").unwrap();
    assert!(direct["herald_accept_p99_ms"].is_null(), "{direct}");
    for phase in direct["open_loop"].as_array().expect("open-loop steps") {
        assert!(phase["after_stamp"].is_null(), "{phase}");
        assert!(phase["sleeps_per_event"].is_null(), "{phase}");
        assert!(phase["herald_tokio_core_wait_us"].is_null(), "{phase}");
        assert!(
            phase["bench_sleeps_per_event"]
                .as_f64()
                .is_some_and(|n| n > 0.0),
            "{phase}"
        );
    }
    // Quick mode takes one alternated round of each throughput target's two scenarios.
    let paired = results["paired"].as_array().expect("a list of pairs");
    let compared: Vec<(&str, &str)> = paired
        .iter()
        .map(|p| {
            assert_eq!(p["errors"], 0, "{p}");
            assert_eq!(p["rounds"].as_array().map(Vec::len), Some(1), "{p}");
            assert!(p["median"].as_f64().is_some_and(|r| r > 0.0), "{p}");
            (
                p["numerator"].as_str().unwrap_or(""),
                p["denominator"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        compared,
        [
            ("herald-durable", "direct"),
            ("selective-1000", "herald-durable")
        ]
    );
    assert!(out.path().join("latency.svg").exists(), "no chart");
    // Where the system under test and the load generator ran is part of the record.
    let placement = results["cores"]["placement"].as_str();
    assert!(
        matches!(placement, Some("split" | "shared")),
        "no placement in {}",
        results["cores"]
    );
}
