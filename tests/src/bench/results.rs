//! The figures of a run as they go to results.json: one [`ScenarioResult`] per scenario with its
//! headline numbers, and one [`PhaseResult`] per load phase behind them.

use super::latency::Percentiles;
use super::pauses::Pauses;
use serde::Serialize;
use std::collections::BTreeMap;

/// How a phase drove load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// N senders back to back.
    Closed,
    /// The open-loop warm-up before the rate steps (not used for figures).
    Warmup,
    /// A constant-rate step.
    Open,
}

/// One load phase.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseResult {
    pub kind: PhaseKind,
    /// Open loop: the step as a percentage of the closed-loop accepted rate.
    pub percent_of_max: Option<u32>,
    /// Open loop: the scheduled rate, events/s.
    pub target_rate: Option<f64>,
    /// Closed loop: the number of concurrent senders.
    pub concurrency: Option<usize>,
    /// Length of the measured window, seconds.
    pub duration_s: f64,
    /// Events sent in the phase, warm-up included.
    pub sent: u64,
    /// Events accepted in the phase, warm-up included (each must be delivered).
    pub accepted_total: u64,
    /// Events accepted among those sent within the measured window.
    pub accepted: u64,
    /// `accepted` per second of the window, or until the last of them was answered when that
    /// was later (the system fell behind the schedule).
    pub accepted_per_sec: f64,
    /// Deliveries (to every matching Trigger) that arrived within the window; None without a
    /// subscriber (jetstream).
    pub delivered: Option<u64>,
    pub delivered_per_sec: Option<f64>,
    /// Request to acceptance (202, 200 or the JetStream ack).
    pub publish: Option<Percentiles>,
    /// Send stamp to arrival at the subscriber.
    pub e2e: Option<Percentiles>,
    /// Herald only: the part of `e2e` after its ingress stamped the event's arrival
    /// (`knativearrivaltime`, set once the request has been read), by the wall clock: the log's
    /// commit, the routing, the delivery and the subscriber's read. The rest of `e2e` passed
    /// before Herald had read the request: in the load generator and the sockets.
    pub after_stamp: Option<Percentiles>,
    /// Open loop: the 99th percentile of how late the generator started a send.
    pub sender_lag_p99_ms: Option<f64>,
    /// Open loop: the most sends unanswered at once; at the number of open-loop senders, sends
    /// waited for a free one because the system under test had fallen behind.
    pub peak_in_flight: Option<usize>,
    /// The machine's own pauses during the phase (its warm-up and drain included).
    pub machine_pauses: Pauses,
    /// Events of the measured window slower than 10 ms end to end (the p99 target's bound)...
    pub e2e_over_10ms: Option<u64>,
    /// ...and of those, the ones in flight during a machine pause or as long again after it,
    /// while the work piled up in the pause drained: the share of the tail the machine accounts
    /// for.
    pub e2e_over_10ms_in_pause: Option<u64>,
    /// The share of the phase's measured time those pause windows cover: the share of slow
    /// events they would hold by chance alone.
    pub pause_window_share: Option<f64>,
    pub lost: u64,
    pub duplicated: u64,
    pub misrouted: u64,
    pub failed_requests: BTreeMap<String, u64>,
    /// CPU seconds of the system under test (Herald, or nats-server) per 1,000 events accepted
    /// in the phase, over the whole phase (its warm-up and the delivery of its events included).
    pub cpu_s_per_1k: Option<f64>,
    /// The same for this process (sender and subscriber).
    pub bench_cpu_s_per_1k: Option<f64>,
    /// How many times the system under test's threads went to sleep (voluntary context
    /// switches) per event accepted in the phase, over the same span as `cpu_s_per_1k`. A
    /// process that keeps busy sleeps seldom; one that idles between arrivals pays a wake-up
    /// for most events, which is why an event costs more CPU at half rate than flat out.
    pub sleeps_per_event: Option<f64>,
    /// The same for this process's sender and subscriber threads (the pause meter's sleepers
    /// left out): the load generator's own wake-ups.
    pub bench_sleeps_per_event: Option<f64>,
    /// Herald only: the median and 99th percentile of its own accept latency (arrival at the
    /// ingress to 202) over the phase, from its `/metrics` histogram; each is the upper bound of
    /// the histogram bucket it falls in (bounds double from 0.1 ms).
    pub herald_accept_p50_ms: Option<f64>,
    pub herald_accept_p99_ms: Option<f64>,
    /// Herald's embedded log with fsync only: the same percentiles of its group-commit
    /// `fdatasync`s over the phase (`herald_log_sync_seconds`), the disk's share of the accept
    /// latency.
    pub herald_sync_p50_ms: Option<f64>,
    pub herald_sync_p99_ms: Option<f64>,
    /// How many of those syncs a second, over the phase (its warm-up and drain included). On
    /// some VMs frequent flushes from a busy guest make the host stop its cores (see the notes'
    /// seventeenth round), so this is the figure to hold against the machine's pauses.
    pub herald_syncs_per_sec: Option<f64>,
    /// Herald only: how long its tokio threads (the runtime's worker, and its mostly idle
    /// blocking pool), and its log writer thread, waited on average for
    /// their core each time they were woken or preempted (run-queue wait per time slice, from
    /// `/proc/PID/task/TID/schedstat`), in µs. A long writer wait means commits wait behind the
    /// request path; a long worker wait, that answers and deliveries wait behind the writer or
    /// behind other work on the core.
    pub herald_tokio_core_wait_us: Option<f64>,
    pub herald_writer_core_wait_us: Option<f64>,
}

impl PhaseResult {
    pub fn errors(&self) -> u64 {
        self.lost + self.duplicated + self.misrouted + self.failed_requests.values().sum::<u64>()
    }
}

/// Everything that went wrong in a scenario.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ErrorDetail {
    pub failed_requests: BTreeMap<String, u64>,
    pub lost: u64,
    pub duplicated: u64,
    pub misrouted: u64,
    /// Why the scenario could not run to its end (Herald did not start, NATS unreachable, ...).
    pub failure: Option<String>,
}

impl ErrorDetail {
    fn add(&mut self, phase: &PhaseResult) {
        self.lost += phase.lost;
        self.duplicated += phase.duplicated;
        self.misrouted += phase.misrouted;
        for (label, n) in &phase.failed_requests {
            *self.failed_requests.entry(label.clone()).or_insert(0) += n;
        }
    }

    /// Lost + duplicated + misrouted + failed requests, plus one for a failure.
    pub fn total(&self) -> u64 {
        self.lost
            + self.duplicated
            + self.misrouted
            + self.failed_requests.values().sum::<u64>()
            + u64::from(self.failure.is_some())
    }
}

/// One scenario: headline figures first (the fields scripts rely on), the phases after.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub description: String,
    /// Closed loop: events/s accepted by the ingress (or the subscriber, or JetStream).
    pub accepted_per_sec: Option<f64>,
    /// Closed loop: deliveries/s arriving at the subscriber (10 per event for fan-out).
    pub delivered_per_sec: Option<f64>,
    pub publish_p50_ms: Option<f64>,
    pub publish_p90_ms: Option<f64>,
    pub publish_p99_ms: Option<f64>,
    pub publish_p999_ms: Option<f64>,
    pub e2e_p50_ms: Option<f64>,
    pub e2e_p90_ms: Option<f64>,
    pub e2e_p99_ms: Option<f64>,
    pub e2e_p999_ms: Option<f64>,
    /// Which phase the latency figures come from (the open-loop step nearest 50% of the
    /// closed-loop rate, or the closed loop when there is no step).
    pub latency_from: Option<String>,
    /// CPU seconds of the system under test (Herald, or nats-server) per 1,000 accepted events,
    /// over the closed loop and the delivery of its events.
    pub cpu_s_per_1k: Option<f64>,
    /// The same for this process (sender and subscriber).
    pub bench_cpu_s_per_1k: Option<f64>,
    /// Herald only: its own accept latency (see [`PhaseResult`]) in the phase the latencies
    /// come from.
    pub herald_accept_p50_ms: Option<f64>,
    pub herald_accept_p99_ms: Option<f64>,
    /// Herald's VmHWM at the end; for nats-server (which outlives the run) its VmRSS at the end.
    pub peak_rss_mib: Option<f64>,
    /// Herald's VmRSS once its Triggers are ready, before any load.
    pub idle_rss_mib: Option<f64>,
    /// Sum of everything in `error_detail`.
    pub errors: u64,
    pub error_detail: ErrorDetail,
    pub closed_loop: Option<PhaseResult>,
    pub warmup: Option<PhaseResult>,
    pub open_loop: Vec<PhaseResult>,
}

impl ScenarioResult {
    /// A scenario with no figures yet.
    pub fn new(name: &str, description: &str) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            description: description.into(),
            accepted_per_sec: None,
            delivered_per_sec: None,
            publish_p50_ms: None,
            publish_p90_ms: None,
            publish_p99_ms: None,
            publish_p999_ms: None,
            e2e_p50_ms: None,
            e2e_p90_ms: None,
            e2e_p99_ms: None,
            e2e_p999_ms: None,
            latency_from: None,
            cpu_s_per_1k: None,
            bench_cpu_s_per_1k: None,
            herald_accept_p50_ms: None,
            herald_accept_p99_ms: None,
            peak_rss_mib: None,
            idle_rss_mib: None,
            errors: 0,
            error_detail: ErrorDetail::default(),
            closed_loop: None,
            warmup: None,
            open_loop: Vec::new(),
        }
    }

    /// Records why the scenario stopped (the first reason wins).
    pub fn fail(&mut self, reason: String) {
        self.error_detail.failure.get_or_insert(reason);
        self.errors = self.error_detail.total();
    }

    /// Fills the headline figures from the phases.
    pub fn set_phases(
        &mut self,
        closed: PhaseResult,
        warmup: Option<PhaseResult>,
        steps: Vec<PhaseResult>,
    ) {
        for phase in std::iter::once(&closed).chain(warmup.iter()).chain(&steps) {
            self.error_detail.add(phase);
        }
        self.errors = self.error_detail.total();
        self.accepted_per_sec = Some(closed.accepted_per_sec);
        self.delivered_per_sec = closed.delivered_per_sec;
        self.cpu_s_per_1k = closed.cpu_s_per_1k;
        self.bench_cpu_s_per_1k = closed.bench_cpu_s_per_1k;
        let half = steps
            .iter()
            .filter_map(|s| s.percent_of_max.map(|p| (p.abs_diff(50), s)))
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, s)| s);
        let (source, label) = match half {
            Some(step) => (
                step,
                format!(
                    "open loop at {}% of the closed-loop rate ({:.0}/s)",
                    step.percent_of_max.unwrap_or(0),
                    step.target_rate.unwrap_or(0.0)
                ),
            ),
            None => (&closed, "closed loop".to_string()),
        };
        if let Some(p) = source.publish {
            self.publish_p50_ms = Some(p.p50_ms);
            self.publish_p90_ms = Some(p.p90_ms);
            self.publish_p99_ms = Some(p.p99_ms);
            self.publish_p999_ms = Some(p.p999_ms);
        }
        if let Some(p) = source.e2e {
            self.e2e_p50_ms = Some(p.p50_ms);
            self.e2e_p90_ms = Some(p.p90_ms);
            self.e2e_p99_ms = Some(p.p99_ms);
            self.e2e_p999_ms = Some(p.p999_ms);
        }
        self.herald_accept_p50_ms = source.herald_accept_p50_ms;
        self.herald_accept_p99_ms = source.herald_accept_p99_ms;
        self.latency_from = Some(label);
        self.closed_loop = Some(closed);
        self.warmup = warmup;
        self.open_loop = steps;
    }
}

/// Phases made up for the tests of the report's parts.
#[cfg(test)]
pub mod fixtures {
    use super::*;

    /// Percentiles that all equal `p50`.
    pub fn percentiles(p50: f64) -> Percentiles {
        Percentiles {
            count: 1,
            p50_ms: p50,
            p90_ms: p50,
            p99_ms: p50,
            p999_ms: p50,
            max_ms: p50,
        }
    }

    /// A phase of 1,000 accepted and 900 delivered events/s (an open step's target rate ten
    /// times its percentage), publish latencies `p50` and end-to-end latencies twice that.
    pub fn phase(kind: PhaseKind, percent: Option<u32>, p50: f64) -> PhaseResult {
        PhaseResult {
            kind,
            percent_of_max: percent,
            target_rate: percent.map(|p| f64::from(p) * 10.0),
            concurrency: None,
            duration_s: 1.0,
            sent: 10,
            accepted_total: 10,
            accepted: 10,
            accepted_per_sec: 1000.0,
            delivered: Some(10),
            delivered_per_sec: Some(900.0),
            publish: Some(percentiles(p50)),
            e2e: Some(percentiles(p50 * 2.0)),
            after_stamp: None,
            e2e_over_10ms: None,
            e2e_over_10ms_in_pause: None,
            pause_window_share: None,
            sender_lag_p99_ms: None,
            peak_in_flight: None,
            machine_pauses: Pauses::default(),
            lost: 0,
            duplicated: 0,
            misrouted: 0,
            failed_requests: BTreeMap::new(),
            cpu_s_per_1k: None,
            bench_cpu_s_per_1k: None,
            sleeps_per_event: None,
            bench_sleeps_per_event: None,
            herald_accept_p50_ms: None,
            herald_accept_p99_ms: None,
            herald_sync_p50_ms: None,
            herald_sync_p99_ms: None,
            herald_syncs_per_sec: None,
            herald_tokio_core_wait_us: None,
            herald_writer_core_wait_us: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::phase;
    use super::*;

    #[test]
    fn latency_comes_from_the_step_nearest_half_rate_and_errors_add_up() {
        let mut closed = phase(PhaseKind::Closed, None, 9.0);
        closed.failed_requests.insert("http_503".into(), 2);
        closed.cpu_s_per_1k = Some(0.03);
        closed.bench_cpu_s_per_1k = Some(0.02);
        let mut warmup = phase(PhaseKind::Warmup, Some(25), 1.0);
        warmup.lost = 1;
        let mut half = phase(PhaseKind::Open, Some(50), 2.0);
        half.cpu_s_per_1k = Some(0.06);
        let steps = vec![
            phase(PhaseKind::Open, Some(25), 1.0),
            half,
            phase(PhaseKind::Open, Some(75), 3.0),
        ];
        let mut r = ScenarioResult::new("x", "y");
        r.set_phases(closed, Some(warmup), steps);
        assert_eq!(r.accepted_per_sec, Some(1000.0));
        assert_eq!(r.delivered_per_sec, Some(900.0));
        assert_eq!(r.publish_p50_ms, Some(2.0));
        assert_eq!(r.e2e_p99_ms, Some(4.0));
        // CPU per event is the closed loop's, whichever step the latencies come from.
        assert_eq!(r.cpu_s_per_1k, Some(0.03));
        assert_eq!(r.bench_cpu_s_per_1k, Some(0.02));
        assert_eq!(r.errors, 3);
        r.fail("herald died".into());
        r.fail("second reason".into());
        assert_eq!(r.errors, 4);
        assert_eq!(r.error_detail.failure.as_deref(), Some("herald died"));
    }

    #[test]
    fn without_steps_latency_comes_from_the_closed_loop() {
        let mut r = ScenarioResult::new("x", "y");
        r.set_phases(phase(PhaseKind::Closed, None, 5.0), None, Vec::new());
        assert_eq!(r.publish_p99_ms, Some(5.0));
        assert_eq!(r.latency_from.as_deref(), Some("closed loop"));
    }
}
