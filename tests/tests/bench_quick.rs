//! The benchmark's CI mode: `herald-bench --quick` runs every scenario for a moment against the
//! herald binary the suite built, and must finish without errors (no failed request, no lost,
//! duplicated or misrouted event). Speed is not judged here: this build is unoptimised and the
//! machine is shared with the rest of the suite.

use herald_tests::process::herald_bin;
use std::process::Command;

#[test]
fn every_scenario_runs_without_errors_in_quick_mode() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_herald-bench"))
        .arg("--quick")
        .arg("--out")
        .arg(out.path())
        .env("HERALD_BIN", herald_bin())
        .output()
        .expect("herald-bench runs");
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
    for expected in [
        "direct",
        "herald-memory",
        "herald-durable",
        "herald-durable-nofsync",
        "fanout-10",
        "selective-1000",
        "selective-1000-cesql",
        "jetstream",
        "idle-100-triggers",
    ] {
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
    let herald = scenarios
        .iter()
        .find(|s| s["name"] == "herald-durable")
        .unwrap();
    assert!(
        herald["delivered_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "nothing was delivered end to end: {herald}"
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
