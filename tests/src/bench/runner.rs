//! Runs the scenarios one after another. Each starts what it needs (subscriber, Herald with its
//! Triggers, a JetStream stream, for jetstream-fsync a nats-server of its own), runs the closed
//! loop and the open-loop steps, reads the system's CPU and memory, and tears everything down. A
//! scenario that fails is recorded with its reason and the run goes on.

use super::clock::Clock;
use super::error::BenchError;
use super::event::EventTemplate;
use super::herald::HeraldProcess;
use super::herald_latency::HeraldLatency;
use super::http_target::HttpTarget;
use super::jetstream::JetStreamTarget;
use super::load::Load;
use super::nats_server::NatsServer;
use super::options::Settings;
use super::pauses::{self, PauseMeter};
use super::phase::{self, Pace, PhaseContext};
use super::placement::{self, Cores};
use super::procfs::{CoreWaits, ProcessProbe, Sleeps};
use super::relay::Relay;
use super::results::{PhaseResult, ScenarioResult};
use super::scenario::{NatsServerKind, ScenarioName, System, TriggerSet};
use super::sink::Sink;
use super::target::Target;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// How long Triggers may take to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long idle Herald settles before its memory is read.
const IDLE_SETTLE: Duration = Duration::from_secs(2);

/// What every scenario of a run shares.
pub struct Runner<'a> {
    pub settings: &'a Settings,
    /// The herald binary, when a scenario needs it.
    pub herald: Option<PathBuf>,
    /// Herald's data directories go under here (one per scenario, removed afterwards).
    pub data_root: PathBuf,
    pub clock: Clock,
    pub template: EventTemplate,
    /// Where the system under test and the load generator run.
    pub cores: Cores,
    /// Notes the machine's own pauses during each phase.
    pub pauses: PauseMeter,
}

impl Runner<'_> {
    /// Runs every selected scenario.
    pub async fn run_all(&self) -> Vec<ScenarioResult> {
        let mut results = Vec::new();
        for &name in &self.settings.scenarios {
            eprintln!("herald-bench: {} ({})", name.as_str(), name.description());
            let mut result = ScenarioResult::new(name.as_str(), name.description());
            if let Err(err) = self.run(name, &mut result).await {
                eprintln!("herald-bench:   failed: {err}");
                result.fail(err.to_string());
            }
            eprintln!("herald-bench:   errors: {}", result.errors);
            results.push(result);
        }
        results
    }

    async fn run(&self, name: ScenarioName, result: &mut ScenarioResult) -> Result<(), BenchError> {
        match name.system() {
            System::Relay => {
                // The relay takes Herald's place on the system core; the subscriber stays with
                // the load generator, as in the Herald scenarios.
                let sink = Sink::start(self.clock, None)?;
                let relay = Relay::start(
                    &sink.url(0),
                    self.template.clone(),
                    self.cores.system.as_ref(),
                )
                .await?;
                let target = HttpTarget::new(&relay.url(), self.template.clone()).await?;
                let context = self.context(Arc::new(Target::Http(target)), Some(&sink), 1);
                self.measure(&context, None, None, result).await
            }
            System::Direct | System::Herald { .. } => {
                let deployed = self.deploy(name).await?;
                let herald = deployed.herald.as_ref().map(|h| &h.process);
                result.idle_rss_mib = herald.and_then(|h| h.probe.rss_mib());
                let context = self.deployed_context(&deployed);
                let measured = self
                    .measure(&context, herald.map(|h| h.probe), herald, result)
                    .await;
                result.peak_rss_mib = herald.and_then(|h| h.probe.peak_rss_mib());
                let stopped = deployed.stop(measured.is_ok()).await;
                measured.and(stopped)
            }
            System::JetStream(NatsServerKind::Machine) => {
                let nats = ProcessProbe::find_by_name("nats-server");
                // Without the right to move it (another user's server), it runs where it is.
                let _pinned = match (nats, &self.cores.system) {
                    (Some(nats), Some(system)) => placement::pin_process(nats.pid, system)
                        .inspect_err(|err| {
                            eprintln!("herald-bench:   {err}");
                            result
                                .description
                                .push_str(" (nats-server not moved: shared cores)");
                        })
                        .ok(),
                    _ => None,
                };
                self.publish_to_jetstream(&self.settings.nats_url, nats, result)
                    .await
            }
            System::JetStream(NatsServerKind::SyncAlways) => {
                let binary = (self.settings.nats_server_bin.as_ref())
                    .ok_or(BenchError::NatsServerMissing)?;
                let dir = self.data_dir(name)?;
                let server = NatsServer::start(binary, &dir, self.cores.system.as_ref()).await?;
                result
                    .description
                    .push_str(&format!(" (nats-server {})", server.version));
                let measured = self
                    .publish_to_jetstream(&server.url, Some(server.probe), result)
                    .await;
                // This server lived only for the scenario: its high-water mark is the peak.
                result.peak_rss_mib = server.probe.peak_rss_mib().or(result.peak_rss_mib);
                let stopped = server.stop().await;
                if measured.is_ok() && stopped.is_ok() {
                    let _ = std::fs::remove_dir_all(&dir);
                } else {
                    eprintln!(
                        "herald-bench:   nats-server's store and log are kept in {}",
                        dir.display()
                    );
                }
                measured.and(stopped)
            }
            System::IdleHerald { triggers } => {
                let sink = Sink::start(self.clock, None)?;
                let data_dir = self.data_dir(name)?;
                let herald = self.start_herald(&data_dir, &[], triggers, &sink).await?;
                tokio::time::sleep(IDLE_SETTLE).await;
                result.idle_rss_mib = herald.probe.rss_mib();
                result.peak_rss_mib = herald.probe.peak_rss_mib();
                eprintln!(
                    "herald-bench:   idle RSS with {} Triggers: {:.1} MiB",
                    triggers.total(),
                    result.idle_rss_mib.unwrap_or(0.0)
                );
                let stopped = herald.stop().await;
                remove_data_dir(&data_dir, stopped.is_ok());
                stopped
            }
        }
    }

    /// Publish-with-ack to a stream of its own on the server at `url`, whose process is `nats`.
    async fn publish_to_jetstream(
        &self,
        url: &str,
        nats: Option<ProcessProbe>,
        result: &mut ScenarioResult,
    ) -> Result<(), BenchError> {
        let stream = JetStreamTarget::create(url, &self.template).await?;
        let target = Arc::new(Target::JetStream(stream));
        let context = self.context(target.clone(), None, 0);
        let measured = self.measure(&context, nats, None, result).await;
        result.peak_rss_mib = nats.and_then(|p| p.rss_mib());
        let deleted = match &*target {
            Target::JetStream(stream) => stream.delete().await,
            Target::Http(_) => Ok(()),
        };
        measured.and(deleted)
    }

    fn load(&self, target: Arc<Target>) -> Load {
        Load {
            target,
            clock: self.clock,
            next_seq: Arc::new(AtomicU64::new(0)),
            request_timeout: self.settings.request_timeout,
        }
    }

    fn context<'s>(
        &self,
        target: Arc<Target>,
        sink: Option<&'s Sink>,
        matching: u32,
    ) -> PhaseContext<'s> {
        PhaseContext {
            load: self.load(target),
            sink,
            matching,
            drain_stall: self.settings.drain_timeout,
            open_workers: self.settings.open_workers,
            pauses: self.pauses.clone(),
        }
    }

    /// Starts what a direct or Herald scenario sends to, and keeps it up until
    /// [`Deployed::stop`]: the subscriber (on the system's core for direct, where the receiving
    /// end of the hop is the system under test), and Herald with its Triggers.
    pub(super) async fn deploy(&self, name: ScenarioName) -> Result<Deployed, BenchError> {
        match name.system() {
            System::Direct => {
                let sink = Sink::start(self.clock, self.cores.system.as_ref())?;
                let target = HttpTarget::new(&sink.url(0), self.template.clone()).await?;
                Ok(Deployed {
                    target: Arc::new(Target::Http(target)),
                    sink,
                    matching: 1,
                    herald: None,
                })
            }
            System::Herald {
                flags,
                triggers,
                batch,
            } => {
                let sink = Sink::start(self.clock, None)?;
                let data_dir = self.data_dir(name)?;
                let process = self.start_herald(&data_dir, flags, triggers, &sink).await?;
                let herald = RunningHerald { process, data_dir };
                match HttpTarget::new(&herald.process.broker_url(), self.template.clone()).await {
                    Ok(target) => Ok(Deployed {
                        target: Arc::new(Target::Http(target.batching(batch))),
                        sink,
                        matching: triggers.matching,
                        herald: Some(herald),
                    }),
                    Err(err) => {
                        // The log is kept; the target's error is the one to report.
                        let _ = herald.stop(false).await;
                        Err(err)
                    }
                }
            }
            _ => Err(BenchError::NotDeployable(name.as_str())),
        }
    }

    /// The phases' view of a deployed system.
    pub(super) fn deployed_context<'s>(&self, deployed: &'s Deployed) -> PhaseContext<'s> {
        // With no matching Trigger there is nothing to wait for or to time.
        let sink = (deployed.matching > 0).then_some(&deployed.sink);
        self.context(deployed.target.clone(), sink, deployed.matching)
    }

    /// A fresh data directory for the scenario's Herald.
    fn data_dir(&self, name: ScenarioName) -> Result<PathBuf, BenchError> {
        let dir = self.data_root.join(name.as_str());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| BenchError::io(format!("clearing {}", dir.display()), e))?;
        }
        std::fs::create_dir_all(&self.data_root)
            .map_err(|e| BenchError::io(format!("creating {}", self.data_root.display()), e))?;
        Ok(dir)
    }

    async fn start_herald(
        &self,
        data_dir: &Path,
        flags: &[&str],
        triggers: TriggerSet,
        sink: &Sink,
    ) -> Result<HeraldProcess, BenchError> {
        let binary = self
            .herald
            .as_deref()
            .ok_or_else(|| BenchError::HeraldMissing(PathBuf::from("herald")))?;
        let mut all_flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        all_flags.extend(self.settings.herald_args.iter().cloned());
        let herald =
            HeraldProcess::start(binary, data_dir, &all_flags, self.cores.system.as_ref()).await?;
        let manifests = triggers.manifests(|i| sink.url(i));
        let started = Instant::now();
        herald.apply(&manifests).await?;
        herald
            .wait_triggers_ready(manifests.len(), READY_TIMEOUT)
            .await?;
        eprintln!(
            "herald-bench:   {} Triggers applied and ready in {:.1} s",
            manifests.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(herald)
    }

    /// The closed loop, then the warm-up and the open-loop steps, each with the CPU it cost.
    async fn measure(
        &self,
        context: &PhaseContext<'_>,
        system: Option<ProcessProbe>,
        herald: Option<&HeraldProcess>,
        result: &mut ScenarioResult,
    ) -> Result<(), BenchError> {
        let s = self.settings;
        let cpu = Probes {
            system,
            bench: ProcessProbe::current(),
            herald,
        };
        let pace = Pace::Closed {
            concurrency: s.concurrency,
            warmup: s.warmup,
        };
        let closed = cpu.phase(context, pace, s.duration).await?;
        report_phase("closed loop", &closed);

        let max = closed.accepted_per_sec;
        let mut warmup = None;
        let mut steps = Vec::new();
        if let Some(&first) = s.steps.first().filter(|_| max > 0.0) {
            let rate = |percent: u32| max * f64::from(percent) / 100.0;
            let pace = Pace::Open {
                rate: rate(first),
                percent: first,
                warmup: true,
            };
            warmup = Some(cpu.phase(context, pace, s.warmup).await?);
            for &percent in &s.steps {
                let pace = Pace::Open {
                    rate: rate(percent),
                    percent,
                    warmup: false,
                };
                let step = cpu.phase(context, pace, s.duration).await?;
                report_phase(&format!("open loop {percent}%"), &step);
                steps.push(step);
            }
        }
        result.set_phases(closed, warmup, steps);
        Ok(())
    }
}

/// A direct or Herald scenario's system, up and ready for load.
pub(super) struct Deployed {
    target: Arc<Target>,
    sink: Sink,
    /// Deliveries each event makes (1 for direct).
    matching: u32,
    herald: Option<RunningHerald>,
}

impl Deployed {
    /// Stops Herald and removes its data; its log too when everything went well.
    pub(super) async fn stop(self, clean: bool) -> Result<(), BenchError> {
        match self.herald {
            Some(herald) => herald.stop(clean).await,
            None => Ok(()),
        }
    }
}

struct RunningHerald {
    process: HeraldProcess,
    data_dir: PathBuf,
}

impl RunningHerald {
    async fn stop(self, clean: bool) -> Result<(), BenchError> {
        let stopped = self.process.stop().await;
        remove_data_dir(&self.data_dir, clean && stopped.is_ok());
        stopped
    }
}

/// Herald's threads' waits for their core so far.
struct HeraldCoreWaits {
    tokio: CoreWaits,
    writer: CoreWaits,
}

/// What each phase reads from the processes around it: the CPU they used and how often they
/// slept, and Herald's own accept and sync latencies and its threads' waits for their core.
struct Probes<'h> {
    /// The system under test (Herald or nats-server), when there is one to read.
    system: Option<ProcessProbe>,
    /// This process: the sender and the subscriber.
    bench: ProcessProbe,
    /// Herald, when it is the system under test.
    herald: Option<&'h HeraldProcess>,
}

impl Probes<'_> {
    /// Runs one phase and records the CPU seconds each process used during it, per 1,000 events
    /// the phase had accepted, how often each went to sleep per event, and
    /// Herald's accept-latency and log-sync percentiles and its syncs a second over it.
    async fn phase(
        &self,
        context: &PhaseContext<'_>,
        pace: Pace,
        duration: Duration,
    ) -> Result<PhaseResult, BenchError> {
        let latency_before = self.herald_latency().await;
        let read_before = Instant::now();
        let waits_before = self.herald_core_waits();
        let system_before = self.system.and_then(|p| p.cpu_seconds());
        let sleeps_before = self.system.and_then(|p| p.sleeps());
        let bench_sleeps_before = self.bench_sleeps();
        let bench_before = self.bench.cpu_seconds();
        let mut phase = phase::run(context, pace, duration).await?;
        let events = phase.accepted_total as f64 / 1000.0;
        let per_1k = |before: Option<f64>, after: Option<f64>| {
            Some((after? - before?) / events).filter(|_| events > 0.0)
        };
        phase.cpu_s_per_1k = per_1k(system_before, self.system.and_then(|p| p.cpu_seconds()));
        phase.bench_cpu_s_per_1k = per_1k(bench_before, self.bench.cpu_seconds());
        let accepted = phase.accepted_total as f64;
        let per_event = |before: Option<Sleeps>, after: Option<Sleeps>| {
            let [sleeps] = after?.since(&before?);
            Some(sleeps as f64 / accepted).filter(|_| accepted > 0.0)
        };
        phase.sleeps_per_event = per_event(sleeps_before, self.system.and_then(|p| p.sleeps()));
        phase.bench_sleeps_per_event = per_event(bench_sleeps_before, self.bench_sleeps());
        if let (Some(before), Some(after)) = (waits_before, self.herald_core_waits()) {
            phase.herald_tokio_core_wait_us = after.tokio.mean_wait_us_since(&before.tokio);
            phase.herald_writer_core_wait_us = after.writer.mean_wait_us_since(&before.writer);
        }
        if let (Some(before), Some(after)) = (latency_before, self.herald_latency().await) {
            let during = after.since(&before);
            let seconds = read_before.elapsed().as_secs_f64();
            let syncs = during.sync.count();
            phase.herald_syncs_per_sec =
                (syncs > 0 && seconds > 0.0).then(|| syncs as f64 / seconds);
            phase.herald_accept_p50_ms = during.accept.quantile_ms(0.50);
            phase.herald_accept_p99_ms = during.accept.quantile_ms(0.99);
            phase.herald_sync_p50_ms = during.sync.quantile_ms(0.50);
            phase.herald_sync_p99_ms = during.sync.quantile_ms(0.99);
        }
        Ok(phase)
    }

    /// How long Herald's tokio threads (named `tokio-rt-worker`: the runtime's worker, and its
    /// blocking pool, mostly idle) and its log writer have waited for their core so far; None
    /// without Herald.
    fn herald_core_waits(&self) -> Option<HeraldCoreWaits> {
        let herald = self.herald?.probe;
        Some(HeraldCoreWaits {
            tokio: herald.core_waits_of(|thread| thread == "tokio-rt-worker")?,
            // Thread names are cut to 15 bytes: "herald-log-writer".
            writer: herald.core_waits_of(|thread| thread == "herald-log-writ")?,
        })
    }

    /// How often this process's sender and subscriber threads have slept so far.
    fn bench_sleeps(&self) -> Option<Sleeps> {
        self.bench
            .sleeps_of(|thread| !pauses::is_sleeper_thread(thread))
    }

    /// Herald's accept-latency and log-sync histograms now; None without Herald, or when they
    /// cannot be read (said once per reading: the figures are diagnostics, the phase goes on
    /// without them).
    async fn herald_latency(&self) -> Option<HeraldLatency> {
        match self.herald?.latency().await {
            Ok(histograms) => Some(histograms),
            Err(err) => {
                eprintln!("herald-bench:   no latency histograms from Herald: {err}");
                None
            }
        }
    }
}

/// Removes a scenario's data directory, and its log too when everything went well.
fn remove_data_dir(dir: &Path, clean: bool) {
    let _ = std::fs::remove_dir_all(dir);
    if clean {
        let _ = std::fs::remove_file(dir.with_extension("log"));
    } else {
        eprintln!(
            "herald-bench:   Herald's log is kept at {}",
            dir.with_extension("log").display()
        );
    }
}

fn report_phase(label: &str, p: &PhaseResult) {
    let ms = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.2} ms"));
    let lag = match (p.sender_lag_p99_ms, p.peak_in_flight) {
        (Some(lag), Some(peak)) => format!(", sender lag p99 {lag:.2} ms (most in flight {peak})"),
        _ => String::new(),
    };
    eprintln!(
        "herald-bench:   {label}: {:.0} accepted/s, {} delivered/s, publish p99 {}, e2e p50 {} p99 {}{lag}, machine pauses {} (latest {:.1} ms), CPU {} s/1k, sleeps/event {} (bench {}), Herald's waits for its core {} µs (writer {}), errors {}",
        p.accepted_per_sec,
        p.delivered_per_sec
            .map_or("–".to_string(), |v| format!("{v:.0}")),
        ms(p.publish.map(|x| x.p99_ms)),
        ms(p.e2e.map(|x| x.p50_ms)),
        ms(p.e2e.map(|x| x.p99_ms)),
        p.machine_pauses.over_5ms,
        p.machine_pauses.longest_ms,
        p.cpu_s_per_1k
            .map_or("–".to_string(), |v| format!("{v:.3}")),
        p.sleeps_per_event
            .map_or("–".to_string(), |v| format!("{v:.2}")),
        p.bench_sleeps_per_event
            .map_or("–".to_string(), |v| format!("{v:.2}")),
        p.herald_tokio_core_wait_us
            .map_or("–".to_string(), |v| format!("{v:.0}")),
        p.herald_writer_core_wait_us
            .map_or("–".to_string(), |v| format!("{v:.0}")),
        p.errors()
    );
}
