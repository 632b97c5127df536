//! results.md: the machine and settings, the headline table, the open-loop steps, the
//! alternated pairs, the ratios, the targets as PASS/FAIL lines, the errors, and how to
//! reproduce the run.

use super::latency::Percentiles;
use super::report::Report;
use super::results::{PhaseResult, ScenarioResult};
use super::targets::Verdict;
use std::fmt::Write;

pub fn render(report: &Report) -> String {
    let mut md = String::new();
    let s = &report.settings;
    let _ = writeln!(md, "# Herald benchmark\n");
    let _ = writeln!(md, "- Machine: {}", report.machine.summary());
    let _ = writeln!(md, "- Date: {}", report.machine.date);
    let _ = writeln!(md, "- Placement: {}", report.cores.describe());
    let steps: Vec<String> = s.steps.iter().map(|p| format!("{p}%")).collect();
    let _ = writeln!(
        md,
        "- Load: {} B events; closed loop of {} senders for {:.1} s after a {:.1} s warm-up; then a {:.1} s \
         warm-up and open-loop steps of {:.1} s at {} of the closed-loop rate{}",
        s.event_size,
        s.concurrency,
        s.duration.as_secs_f64(),
        s.warmup.as_secs_f64(),
        s.warmup.as_secs_f64(),
        s.duration.as_secs_f64(),
        if steps.is_empty() {
            "none".to_string()
        } else {
            steps.join(", ")
        },
        if s.quick { " (quick mode)" } else { "" }
    );
    let _ = writeln!(
        md,
        "- Sender: one thread (a current_thread Tokio runtime, hyper HTTP/1.1 keep-alive; open-loop \
         send times from a timerfd on that runtime); subscriber: a second thread in the same process; both \
         allocate with jemalloc, as Herald does; Herald and NATS run as their own processes{}\n",
        if s.herald_args.is_empty() {
            String::new()
        } else {
            format!("; herald serve {}", s.herald_args.join(" "))
        }
    );

    let _ = writeln!(md, "## Results\n");
    let _ = writeln!(
        md,
        "Throughput and CPU from the closed loop; latencies from the open-loop step at 50% of each \
         scenario's closed-loop rate (publish = request to 202/200/ack, e2e = send to arrival at the \
         subscriber). CPU: seconds per 1,000 accepted events of the system under test (Herald, or \
         nats-server) / of this process (sender and subscriber).\n"
    );
    let _ = writeln!(
        md,
        "| scenario | accepted/s | delivered/s | publish p50 / p90 / p99 / p99.9 ms | e2e p50 / p90 / p99 / p99.9 ms | CPU s/1k system / bench | peak RSS MiB | errors |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &report.scenarios {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} / {} | {} | {} |",
            r.name,
            rate(r.accepted_per_sec),
            rate(r.delivered_per_sec),
            four(
                r.publish_p50_ms,
                r.publish_p90_ms,
                r.publish_p99_ms,
                r.publish_p999_ms
            ),
            four(r.e2e_p50_ms, r.e2e_p90_ms, r.e2e_p99_ms, r.e2e_p999_ms),
            number(r.cpu_s_per_1k, 3),
            number(r.bench_cpu_s_per_1k, 3),
            memory(r),
            r.errors
        );
    }

    let stepped: Vec<&ScenarioResult> = report
        .scenarios
        .iter()
        .filter(|r| !r.open_loop.is_empty() || r.closed_loop.is_some())
        .collect();
    if !stepped.is_empty() {
        let _ = writeln!(md, "\n## Every phase\n");
        let _ = writeln!(
            md,
            "Open-loop latencies count from each send's scheduled time. Sender lag: how late sends \
             started (the generator busy, or all {0} open-loop senders waiting for answers); when \
             it is large, the step measured the load generator's limit as much as the system's. In \
             brackets: the most sends unanswered at once, how far the system under test fell \
             behind at worst (at {0}, sends waited for a free sender). Herald accept: Herald's \
             own time from a request's arrival at its ingress to the 202, from its \
             `herald_ingress_accept_latency_seconds` histogram over the phase (each figure the \
             upper bound of its bucket; bounds double from 0.1 ms); a publish p99 far above it \
             was spent before Herald read the request or after it answered. Herald fsync: the \
             same for each of its log's group-commit `fdatasync`s (`herald_log_sync_seconds`), \
             the disk's share of the accept time, and in brackets how many a second. After Herald's \
             stamp: the part of e2e after Herald's ingress stamped the event's arrival \
             (`knativearrivaltime`, once it had read the request), by the wall clock: the log's \
             commit, the routing, the delivery and the subscriber's read; the rest of e2e \
             passed before Herald had read the request. \
             Machine pauses: wake-ups of a real-time sleeper thread on each core that came 5 ms or \
             more late during the phase (the host stopped the VM's cores), and the latest; every \
             request in flight then waits as long. e2e > 10 ms: the events of the phase slower \
             than the p99 target's bound, and in brackets those of them in flight during a \
             machine pause or as long again after it (while the work that piled up drained), and \
             the share of the phase's time those windows cover, the share of slow events they \
             would hold by chance. CPU: seconds per 1,000 events accepted in the \
             phase, of the system under test / of this process, over the whole phase (the \
             delivery of its events included); at a low rate each event pays for more wake-ups \
             than in the closed loop. Sleeps: how often the threads of the system under test / of \
             this process's sender and subscriber went to sleep (voluntary context switches) per \
             event accepted, over the same span; each is a wake-up to pay for later. \
             Herald's wait for its core: the mean time its tokio threads / its log writer thread \
             spent runnable but not running, per time it got the core (`schedstat`), over the same \
             span.\n",
            s.open_workers
        );
        let _ = writeln!(
            md,
            "| scenario | phase | target/s | accepted/s | delivered/s | publish p50 / p99 / p99.9 ms | e2e p50 / p99 / p99.9 ms | after Herald's stamp p50 / p99 ms | sender lag p99 ms (most in flight) | Herald accept p50 / p99 ms (≤) | Herald fsync p50 / p99 ms (≤) (syncs/s) | machine pauses ≥ 5 ms (latest ms) | e2e > 10 ms: events (in a pause's window; windows' share of the time) | CPU s/1k system / bench | sleeps / event system / bench | Herald's wait for its core µs tokio / writer | errors |"
        );
        let _ = writeln!(
            md,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in stepped {
            for phase in r.closed_loop.iter().chain(&r.open_loop) {
                let _ = writeln!(md, "{}", phase_row(&r.name, phase));
            }
        }
    }

    if !report.paired.is_empty() {
        let _ = writeln!(md, "\n## Alternated pairs\n");
        let _ = writeln!(
            md,
            "Both scenarios of a throughput target up at once, their closed loops ({} senders, \
             {:.1} s after a {:.1} s warm-up) taken in turn, the order swapped every round; each \
             round's ratio compares two loops seconds apart. The targets read the median.\n",
            s.concurrency,
            s.duration.as_secs_f64(),
            s.warmup.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| comparison | rounds (delivered/s vs delivered/s = ratio) | median | errors |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|");
        for p in &report.paired {
            let rounds: Vec<String> = p
                .rounds
                .iter()
                .map(|r| {
                    format!(
                        "{} vs {} = {}",
                        rate(Some(r.numerator_per_sec)),
                        rate(Some(r.denominator_per_sec)),
                        number(r.ratio, 3)
                    )
                })
                .collect();
            let failure = p
                .failure
                .as_deref()
                .map(|f| format!(" (failed: {})", f.replace('\n', " ")))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| {} | {}{failure} | {} | {} |",
                p.name,
                rounds.join("; "),
                number(p.median, 3),
                p.errors
            );
        }
    }

    let _ = writeln!(md, "\n## Ratios (same run)\n");
    for ratio in &report.ratios {
        let _ = writeln!(md, "- {}: {}", ratio.name, number(ratio.value, 2));
    }

    let _ = writeln!(md, "\n## Targets\n");
    for t in &report.targets {
        let verdict = match t.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NotMeasured => "NOT MEASURED",
        };
        let _ = writeln!(md, "- **{verdict}** {}: {}", t.target, t.measured);
    }

    let errored: Vec<&ScenarioResult> = report.scenarios.iter().filter(|r| r.errors > 0).collect();
    if !errored.is_empty() {
        let _ = writeln!(md, "\n## Errors\n");
        for r in errored {
            let e = &r.error_detail;
            let failed: Vec<String> = e
                .failed_requests
                .iter()
                .map(|(label, n)| format!("{label} ×{n}"))
                .collect();
            let _ = writeln!(
                md,
                "- {}: lost {}, duplicated {}, misrouted {}, failed requests [{}]{}",
                r.name,
                e.lost,
                e.duplicated,
                e.misrouted,
                failed.join(", "),
                e.failure
                    .as_deref()
                    .map(|f| format!("; failure: {}", f.replace('\n', " ")))
                    .unwrap_or_default()
            );
        }
    }

    let _ = writeln!(md, "\n## Reproduce\n");
    let _ = writeln!(
        md,
        "```sh\ncargo build --release -p herald-broker --bin herald\n\
         export NATS_SERVER_BIN=\"$(tests/nats-server)\"\n\
         cargo run --release -p herald-tests --bin herald-bench -- --out bench-out\n```\n\n\
         The jetstream scenario needs a NATS server with JetStream on 127.0.0.1:4222 (`nats-server -js`); \
         jetstream-fsync starts a nats-server of 2.10 or later itself (`tests/nats-server` installs 2.15.1 from PyPI)."
    );
    md
}

fn phase_row(name: &str, p: &PhaseResult) -> String {
    let phase = match (p.percent_of_max, p.concurrency) {
        (Some(percent), _) => format!("open {percent}%"),
        (None, Some(n)) => format!("closed ×{n}"),
        (None, None) => "closed".into(),
    };
    format!(
        "| {name} | {phase} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({:.1}) | {} | {} / {} | {} / {} | {} / {} | {} |",
        rate(p.target_rate),
        rate(Some(p.accepted_per_sec)),
        rate(p.delivered_per_sec),
        three(p.publish),
        three(p.e2e),
        two(p.after_stamp),
        lag(p),
        bucket_bounds(p.herald_accept_p50_ms, p.herald_accept_p99_ms),
        syncs(p),
        p.machine_pauses.over_5ms,
        p.machine_pauses.longest_ms,
        slow(p),
        number(p.cpu_s_per_1k, 3),
        number(p.bench_cpu_s_per_1k, 3),
        number(p.sleeps_per_event, 2),
        number(p.bench_sleeps_per_event, 2),
        number(p.herald_tokio_core_wait_us, 0),
        number(p.herald_writer_core_wait_us, 0),
        p.errors()
    )
}

fn slow(p: &PhaseResult) -> String {
    match (
        p.e2e_over_10ms,
        p.e2e_over_10ms_in_pause,
        p.pause_window_share,
    ) {
        (Some(slow), Some(in_pause), Some(share)) => format!(
            "{} ({}; {:.1}%)",
            rate(Some(slow as f64)),
            rate(Some(in_pause as f64)),
            share * 100.0
        ),
        _ => "–".into(),
    }
}

fn lag(p: &PhaseResult) -> String {
    match p.peak_in_flight {
        Some(peak) => format!("{} ({peak})", number(p.sender_lag_p99_ms, 3)),
        None => number(p.sender_lag_p99_ms, 3),
    }
}

fn syncs(p: &PhaseResult) -> String {
    let bounds = bucket_bounds(p.herald_sync_p50_ms, p.herald_sync_p99_ms);
    match p.herald_syncs_per_sec {
        Some(per_sec) => format!("{bounds} ({}/s)", rate(Some(per_sec))),
        None => bounds,
    }
}

fn bucket_bounds(p50: Option<f64>, p99: Option<f64>) -> String {
    match (p50, p99) {
        (Some(p50), Some(p99)) => format!("{} / {}", ms(p50), ms(p99)),
        _ => "–".into(),
    }
}

fn rate(value: Option<f64>) -> String {
    let Some(v) = value else {
        return "–".into();
    };
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or("–".into(), |v| format!("{v:.decimals$}"))
}

fn ms(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.3}")
    } else {
        format!("{value:.2}")
    }
}

fn four(a: Option<f64>, b: Option<f64>, c: Option<f64>, d: Option<f64>) -> String {
    match (a, b, c, d) {
        (Some(a), Some(b), Some(c), Some(d)) => {
            format!("{} / {} / {} / {}", ms(a), ms(b), ms(c), ms(d))
        }
        _ => "–".into(),
    }
}

fn two(p: Option<Percentiles>) -> String {
    p.map_or("–".into(), |p| {
        format!("{} / {}", ms(p.p50_ms), ms(p.p99_ms))
    })
}

fn three(p: Option<Percentiles>) -> String {
    p.map_or("–".into(), |p| {
        format!("{} / {} / {}", ms(p.p50_ms), ms(p.p99_ms), ms(p.p999_ms))
    })
}

fn memory(r: &ScenarioResult) -> String {
    match (r.peak_rss_mib, r.idle_rss_mib) {
        (Some(peak), Some(idle)) => format!("{peak:.1} (idle {idle:.1})"),
        (Some(peak), None) => format!("{peak:.1}"),
        _ => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::machine::Machine;
    use crate::bench::options::Options;
    use crate::bench::paired::fixtures::durable_vs_direct;
    use crate::bench::placement::{Cores, Cpus};
    use crate::bench::results::PhaseKind;
    use crate::bench::results::fixtures::phase;
    use clap::Parser;

    #[test]
    fn renders_the_table_targets_and_errors() {
        let settings = Options::parse_from(["herald-bench", "--quick"]).settings();
        let mut direct = ScenarioResult::new("direct", "");
        direct.accepted_per_sec = Some(20_000.0);
        direct.delivered_per_sec = Some(20_000.0);
        let mut durable = ScenarioResult::new("herald-durable", "");
        durable.accepted_per_sec = Some(8_000.0);
        durable.delivered_per_sec = Some(8_000.0);
        durable.error_detail.lost = 3;
        durable.fail("herald exited badly".into());
        let cores = Cores::resolve(settings.placement, &Cpus(vec![0, 1]));
        let paired = durable_vs_direct(&[(7_500.0, 25_000.0)]);
        let report = Report::new(
            Machine::describe(std::path::Path::new(".")),
            settings,
            cores,
            vec![direct, durable],
            vec![paired],
        );
        let md = render(&report);
        assert!(md.contains("| direct | 20,000 | 20,000 |"), "{md}");
        assert!(md.contains(
            "- Placement: split: the system under test on CPU 0, the load generator on CPU 1"
        ));
        assert!(md.contains(
            "| herald-durable delivered/s ÷ direct delivered/s | 7,500 vs 25,000 = 0.300 | 0.300 | 0 |"
        ));
        // The median round decides, not the scenarios' own 0.40.
        assert!(md.contains(
            "**FAIL** herald-durable end-to-end throughput ≥ 0.35 × direct: 0.30, the median of 1 \
             alternated rounds (0.30); the scenarios' own closed loops, minutes apart: 0.40"
        ));
        assert!(md.contains("**NOT MEASURED** herald-durable ingress accept rate"));
        assert!(md.contains("- herald-durable: lost 3,"));
        assert!(md.contains("failure: herald exited badly"));
        assert!(report.has_errors());
    }

    #[test]
    fn every_phase_row_shows_the_cpu_and_the_sleeps_the_phase_cost() {
        let mut step = phase(PhaseKind::Open, Some(50), 1.0);
        step.cpu_s_per_1k = Some(0.0612);
        step.bench_cpu_s_per_1k = Some(0.035);
        step.sleeps_per_event = Some(0.634);
        step.bench_sleeps_per_event = Some(2.216);
        (
            step.herald_tokio_core_wait_us,
            step.herald_writer_core_wait_us,
        ) = (Some(41.6), Some(7.2));
        (step.e2e_over_10ms, step.e2e_over_10ms_in_pause) = (Some(1520), Some(1204));
        step.pause_window_share = Some(0.0612);
        (step.herald_accept_p50_ms, step.herald_accept_p99_ms) = (Some(0.8), Some(3.2));
        (step.herald_sync_p50_ms, step.herald_sync_p99_ms) = (Some(0.4), Some(1.6));
        step.herald_syncs_per_sec = Some(1436.4);
        step.sender_lag_p99_ms = Some(52.6581);
        step.peak_in_flight = Some(256);
        let row = phase_row("herald-durable", &step);
        assert!(row.contains("| 52.658 (256) |"), "{row}");
        assert!(
            row.contains("| 0.800 / 3.20 | 0.400 / 1.60 (1,436/s) |"),
            "{row}"
        );
        assert!(
            row.starts_with("| herald-durable | open 50% | 500 |"),
            "{row}"
        );
        assert!(
            row.ends_with(
                "| 0 (0.0) | 1,520 (1,204; 6.1%) | 0.061 / 0.035 | 0.63 / 2.22 | 42 / 7 | 0 |"
            ),
            "{row}"
        );
        let closed = phase(PhaseKind::Closed, None, 1.0);
        assert!(
            phase_row("jetstream", &closed).ends_with(" (0.0) | – | – / – | – / – | – / – | 0 |")
        );
    }

    #[test]
    fn rates_get_thousands_separators() {
        assert_eq!(rate(Some(1234567.4)), "1,234,567");
        assert_eq!(rate(Some(999.0)), "999");
        assert_eq!(rate(None), "–");
    }

    #[test]
    fn small_latencies_keep_three_decimals() {
        assert_eq!(ms(0.1234), "0.123");
        assert_eq!(ms(12.345), "12.35");
    }
}
