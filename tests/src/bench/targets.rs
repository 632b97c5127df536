//! Figures as ratios against the baselines of the same run, and the targets as
//! pass/fail verdicts computed from them: the throughput targets from the median of their
//! alternated pairs when the run has them, else from the scenarios' own closed loops. Speed
//! never changes the exit status; these are read.

use super::paired::PairedRatio;
use super::results::ScenarioResult;
use super::scenario::{ScenarioName, System};
use serde::Serialize;

/// One figure of a scenario divided by the same (or a related) figure of a baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    pub name: String,
    /// None when either side was not measured.
    pub value: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NotMeasured,
}

/// One target of the issue, checked against this run.
#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub verdict: Verdict,
    /// What was measured, in words and numbers.
    pub measured: String,
}

type Figure = fn(&ScenarioResult) -> Option<f64>;

fn accepted(r: &ScenarioResult) -> Option<f64> {
    r.accepted_per_sec
}

fn delivered(r: &ScenarioResult) -> Option<f64> {
    r.delivered_per_sec
}

fn find(results: &[ScenarioResult], name: ScenarioName) -> Option<&ScenarioResult> {
    results.iter().find(|r| r.name == name.as_str())
}

fn figure(results: &[ScenarioResult], name: ScenarioName, f: Figure) -> Option<f64> {
    find(results, name).and_then(f)
}

fn divide(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    }
}

const HERALD_LOAD: [ScenarioName; 8] = [
    ScenarioName::HeraldMemory,
    ScenarioName::HeraldDurable,
    ScenarioName::HeraldDurableNofsync,
    ScenarioName::HeraldDurableIngress,
    ScenarioName::HeraldDurableBatch,
    ScenarioName::Fanout10,
    ScenarioName::Selective1000,
    ScenarioName::Selective1000Cesql,
];

/// Whether a Herald scenario has a Trigger that delivers its events.
fn delivers(name: ScenarioName) -> bool {
    matches!(name.system(), System::Herald { triggers, .. } if triggers.matching > 0)
}

/// Every ratio the report lists.
pub fn ratios(results: &[ScenarioResult]) -> Vec<Ratio> {
    let ratio =
        |a: ScenarioName, fa: Figure, what_a: &str, b: ScenarioName, fb: Figure, what_b: &str| {
            Ratio {
                name: format!("{} {what_a} ÷ {} {what_b}", a.as_str(), b.as_str()),
                value: divide(figure(results, a, fa), figure(results, b, fb)),
            }
        };
    let mut out = Vec::new();
    for name in HERALD_LOAD.into_iter().filter(|name| delivers(*name)) {
        out.push(ratio(
            name,
            delivered,
            "delivered/s",
            ScenarioName::Direct,
            delivered,
            "delivered/s",
        ));
    }
    for name in HERALD_LOAD {
        out.push(ratio(
            name,
            accepted,
            "accepted/s",
            ScenarioName::Direct,
            accepted,
            "accepted/s",
        ));
    }
    use ScenarioName::*;
    // What users would pick instead: every durable ingress scenario against JetStream's acks,
    // as configured by default (acked before fsync) and syncing every write (acked after it).
    for jetstream in [Jetstream, JetstreamFsync] {
        for name in [
            HeraldDurable,
            HeraldDurableNofsync,
            HeraldDurableIngress,
            HeraldDurableBatch,
        ] {
            out.push(ratio(
                name,
                accepted,
                "accepted/s",
                jetstream,
                accepted,
                "acks/s",
            ));
        }
    }
    // The bare relay: two hops per event and nothing else, the ceiling of any broker here.
    out.push(ratio(
        Relay,
        delivered,
        "delivered/s",
        Direct,
        delivered,
        "delivered/s",
    ));
    for name in [HeraldMemory, HeraldDurable] {
        out.push(ratio(
            name,
            delivered,
            "delivered/s",
            Relay,
            delivered,
            "delivered/s",
        ));
    }
    out.extend([
        ratio(
            Selective1000,
            delivered,
            "delivered/s",
            HeraldDurable,
            delivered,
            "delivered/s",
        ),
        ratio(
            Selective1000Cesql,
            delivered,
            "delivered/s",
            HeraldDurable,
            delivered,
            "delivered/s",
        ),
        ratio(
            Fanout10,
            delivered,
            "deliveries/s",
            HeraldDurable,
            delivered,
            "delivered/s",
        ),
        ratio(
            HeraldDurable,
            accepted,
            "accepted/s",
            HeraldDurableNofsync,
            accepted,
            "accepted/s",
        ),
        ratio(
            HeraldDurable,
            accepted,
            "accepted/s",
            HeraldMemory,
            accepted,
            "accepted/s",
        ),
    ]);
    out
}

fn check(target: &str, measured: Option<(bool, String)>, missing: &str) -> TargetCheck {
    let (verdict, measured) = match measured {
        Some((true, text)) => (Verdict::Pass, text),
        Some((false, text)) => (Verdict::Fail, text),
        None => (Verdict::NotMeasured, missing.to_string()),
    };
    TargetCheck {
        target: target.into(),
        verdict,
        measured,
    }
}

/// The targets.
pub fn targets(results: &[ScenarioResult], paired: &[PairedRatio]) -> Vec<TargetCheck> {
    use ScenarioName::*;
    let vs = |a: ScenarioName, b: ScenarioName, f: Figure, floor: f64| {
        let (x, y) = (figure(results, a, f)?, figure(results, b, f)?);
        let ratio = divide(Some(x), Some(y))?;
        Some((ratio >= floor, format!("{ratio:.2} ({x:.0}/s vs {y:.0}/s)")))
    };
    // Delivered/s against delivered/s: the alternated rounds' median decides when there is one.
    let delivered_vs = |a: ScenarioName, b: ScenarioName, floor: f64| {
        let single = vs(a, b, delivered, floor);
        let Some((pair, median)) = paired
            .iter()
            .find(|p| p.numerator == a.as_str() && p.denominator == b.as_str())
            .and_then(|p| Some((p, p.median?)))
        else {
            return single;
        };
        let rounds: Vec<String> = pair
            .rounds
            .iter()
            .map(|r| r.ratio.map_or("–".into(), |v| format!("{v:.2}")))
            .collect();
        let own = single
            .map(|(_, text)| format!("; the scenarios' own closed loops, minutes apart: {text}"))
            .unwrap_or_default();
        Some((
            median >= floor,
            format!(
                "{median:.2}, the median of {} alternated rounds ({}){own}",
                rounds.len(),
                rounds.join(", ")
            ),
        ))
    };
    let half_rate_p99 = find(results, HeraldDurable).and_then(|r| {
        let step = r.open_loop.iter().find(|s| s.percent_of_max == Some(50))?;
        let p99 = step.e2e?.p99_ms;
        let pauses = step.machine_pauses;
        let slow = match (
            step.e2e_over_10ms,
            step.e2e_over_10ms_in_pause,
            step.pause_window_share,
        ) {
            (Some(slow), Some(in_pause), Some(share)) if slow > 0 => {
                let events = step.e2e.map_or(0, |p| p.count).max(1);
                format!(
                    "; of its {slow} events over 10 ms, {in_pause} were in flight during a pause \
                     or as long again after it (windows covering {:.1}% of the step), the other \
                     {} are {:.2}% of its {events} events",
                    share * 100.0,
                    slow - in_pause,
                    (slow - in_pause) as f64 * 100.0 / events as f64
                )
            }
            _ => String::new(),
        };
        let senders = match (step.sender_lag_p99_ms, step.peak_in_flight) {
            (Some(lag), Some(peak)) => {
                format!("; sender lag p99 {lag:.1} ms, most sends in flight {peak}")
            }
            _ => String::new(),
        };
        let herald = step
            .herald_accept_p99_ms
            .map(|ms| format!("; Herald's own accept p99 ≤ {ms:.1} ms"))
            .unwrap_or_default();
        let sync = step
            .herald_sync_p99_ms
            .map(|ms| format!(", its log's fsync p99 ≤ {ms:.1} ms"))
            .unwrap_or_default();
        let after_stamp = step
            .after_stamp
            .map(|p| format!("; after Herald's arrival stamp p99 {:.1} ms", p.p99_ms))
            .unwrap_or_default();
        Some((
            p99 <= 10.0,
            format!(
                "{p99:.2} ms at {:.0}/s (machine pauses ≥ 5 ms during the step: {}, the latest {:.1} ms{slow}{senders}{herald}{sync}{after_stamp})",
                step.target_rate.unwrap_or(0.0),
                pauses.over_5ms,
                pauses.longest_ms
            ),
        ))
    });
    // The memory backend keeps its log (up to the retention size) in RAM by design.
    let peak = HERALD_LOAD
        .iter()
        .filter(|&&name| name != HeraldMemory)
        .filter_map(|&name| Some((figure(results, name, |r| r.peak_rss_mib)?, name)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(mib, name)| {
            (
                mib <= 100.0,
                format!("{mib:.1} MiB (highest, in {})", name.as_str()),
            )
        });
    let idle = figure(results, Idle100Triggers, |r| r.idle_rss_mib)
        .map(|mib| (mib <= 30.0, format!("{mib:.1} MiB")));
    vec![
        check(
            "herald-durable end-to-end throughput ≥ 0.35 × direct",
            delivered_vs(HeraldDurable, Direct, 0.35),
            "needs herald-durable and direct",
        ),
        check(
            "p99 end to end ≤ 10 ms at half of herald-durable's maximum rate",
            half_rate_p99,
            "needs herald-durable with a 50% open-loop step",
        ),
        check(
            "selective with 1,000 exact-type Triggers ≥ 0.9 × a single Trigger (delivered/s)",
            delivered_vs(Selective1000, HeraldDurable, 0.9),
            "needs selective-1000 and herald-durable",
        ),
        check(
            "Herald's peak RSS ≤ 100 MiB under load (embedded-log scenarios)",
            peak,
            "needs a Herald scenario under load",
        ),
        check(
            "Herald's RSS ≤ 30 MiB idle with 100 Triggers",
            idle,
            "needs idle-100-triggers",
        ),
        // Like for like: both acknowledge only what an fsync covers.
        check(
            "herald-durable ingress accept rate ≥ jetstream-fsync publish-with-ack rate \
             (both acknowledge after fsync)",
            vs(HeraldDurable, JetstreamFsync, accepted, 1.0),
            "needs herald-durable and jetstream-fsync",
        ),
        // JetStream as configured by default, which acknowledges before its data is on disk.
        check(
            "herald-durable ingress accept rate ≥ jetstream publish-with-ack rate \
             (JetStream's default: acked before fsync)",
            vs(HeraldDurable, Jetstream, accepted, 1.0),
            "needs herald-durable and jetstream",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::latency::Percentiles;
    use crate::bench::paired::fixtures::durable_vs_direct;
    use crate::bench::pauses::Pauses;
    use crate::bench::results::PhaseKind;
    use crate::bench::results::fixtures::phase;

    fn scenario(name: ScenarioName, accepted: f64, delivered: f64) -> ScenarioResult {
        let mut r = ScenarioResult::new(name.as_str(), "");
        r.accepted_per_sec = Some(accepted);
        r.delivered_per_sec = Some(delivered);
        r
    }

    #[test]
    fn throughput_targets_compare_against_the_same_run() {
        let mut durable = scenario(ScenarioName::HeraldDurable, 9000.0, 8000.0);
        durable.peak_rss_mib = Some(60.0);
        let mut memory = scenario(ScenarioName::HeraldMemory, 9000.0, 8000.0);
        memory.peak_rss_mib = Some(900.0);
        let results = vec![
            memory,
            scenario(ScenarioName::Direct, 20000.0, 20000.0),
            durable,
            scenario(ScenarioName::Selective1000, 8000.0, 7000.0),
            scenario(ScenarioName::Jetstream, 10000.0, 0.0),
            scenario(ScenarioName::JetstreamFsync, 2000.0, 0.0),
        ];
        let checks = targets(&results, &[]);
        let verdict = |prefix: &str| {
            checks
                .iter()
                .find(|c| c.target.starts_with(prefix))
                .unwrap()
                .verdict
        };
        // 8000 / 20000 = 0.40
        assert_eq!(verdict("herald-durable end-to-end"), Verdict::Pass);
        // 7000 / 8000 = 0.875
        assert_eq!(verdict("selective"), Verdict::Fail);
        // 9000 acks/s against 2000 syncing every write, and 10000 acking before the sync.
        assert_eq!(
            verdict("herald-durable ingress accept rate ≥ jetstream-fsync"),
            Verdict::Pass
        );
        assert_eq!(
            verdict("herald-durable ingress accept rate ≥ jetstream publish"),
            Verdict::Fail
        );
        // The memory backend's RSS holds its log; only embedded-log scenarios count.
        assert_eq!(verdict("Herald's peak RSS"), Verdict::Pass);
        assert_eq!(verdict("Herald's RSS"), Verdict::NotMeasured);
        assert_eq!(verdict("p99"), Verdict::NotMeasured);
        let r = ratios(&results);
        let durable_vs_direct = r
            .iter()
            .find(|r| r.name == "herald-durable delivered/s ÷ direct delivered/s")
            .unwrap();
        assert_eq!(durable_vs_direct.value, Some(0.4));
        let value = |name: &str| r.iter().find(|r| r.name == name).unwrap().value;
        assert_eq!(
            value("herald-durable accepted/s ÷ jetstream-fsync acks/s"),
            Some(4.5)
        );
        assert_eq!(
            value("herald-durable accepted/s ÷ jetstream acks/s"),
            Some(0.9)
        );
        assert!(r.iter().any(|r| r.value.is_none()));
    }

    #[test]
    fn alternated_rounds_decide_the_throughput_targets_when_the_run_has_them() {
        let results = vec![
            scenario(ScenarioName::Direct, 20000.0, 20000.0),
            // 0.30 × direct in the scenarios' own closed loops.
            scenario(ScenarioName::HeraldDurable, 6000.0, 6000.0),
            scenario(ScenarioName::Selective1000, 5700.0, 5700.0),
        ];
        let paired = vec![durable_vs_direct(&[(7200.0, 20000.0), (8000.0, 20000.0)])];
        let checks = targets(&results, &paired);
        let durable = &checks[0];
        assert_eq!(durable.verdict, Verdict::Pass);
        assert_eq!(
            durable.measured,
            "0.38, the median of 2 alternated rounds (0.36, 0.40); the scenarios' own closed \
             loops, minutes apart: 0.30 (6000/s vs 20000/s)"
        );
        // Selective has no pair here: its own closed loops decide (5700 / 6000 = 0.95).
        let selective = &checks[2];
        assert_eq!(selective.verdict, Verdict::Pass);
        assert_eq!(selective.measured, "0.95 (5700/s vs 6000/s)");
    }

    #[test]
    fn the_half_rate_tail_names_pauses_sender_lag_and_the_part_after_heralds_stamp() {
        let mut durable = scenario(ScenarioName::HeraldDurable, 9000.0, 8000.0);
        let mut step = phase(PhaseKind::Open, Some(50), 6.0);
        step.machine_pauses = Pauses {
            over_5ms: 3,
            longest_ms: 33.25,
        };
        step.sender_lag_p99_ms = Some(9.04);
        step.peak_in_flight = Some(256);
        (step.e2e_over_10ms, step.e2e_over_10ms_in_pause) = (Some(95), Some(71));
        step.pause_window_share = Some(0.052);
        step.e2e = step.e2e.map(|p| Percentiles { count: 1000, ..p });
        step.after_stamp = Some(Percentiles {
            p99_ms: 2.5,
            ..step.e2e.unwrap()
        });
        durable.open_loop = vec![phase(PhaseKind::Open, Some(25), 1.0), step];
        let checks = targets(&[durable], &[]);
        let p99 = checks.iter().find(|c| c.target.starts_with("p99")).unwrap();
        // e2e is twice the publish latency in the fixture: 12 ms.
        assert_eq!(p99.verdict, Verdict::Fail);
        assert_eq!(
            p99.measured,
            "12.00 ms at 500/s (machine pauses ≥ 5 ms during the step: 3, the latest 33.2 ms; \
             of its 95 events over 10 ms, 71 were in flight during a pause or as long again \
             after it (windows covering 5.2% of the step), the other 24 are 2.40% of its 1000 \
             events; sender lag p99 9.0 ms, most sends in flight 256; after Herald's arrival stamp p99 \
             2.5 ms)"
        );
    }
}
