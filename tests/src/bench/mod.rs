//! `herald-bench`: measures Herald on this machine against baselines of the same run — a direct
//! HTTP hop to the same subscriber, a bare relay (two hops and nothing else), and NATS JetStream
//! publish-with-ack — and writes results.json, results.md and latency.svg. See [`options`] for
//! the command line and [`runner`] for what each scenario does.

pub mod analysis;
pub mod chart;
pub mod clock;
pub mod error;
pub mod event;
pub mod herald;
pub mod herald_latency;
pub mod http_target;
pub mod jetstream;
pub mod latency;
pub mod load;
pub mod machine;
pub mod markdown;
pub mod nats_server;
pub mod options;
pub mod pacer;
pub mod paired;
pub mod pauses;
pub mod phase;
pub mod placement;
pub mod procfs;
pub mod relay;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod server_thread;
pub mod sink;
pub mod target;
pub mod targets;

use error::BenchError;
use options::Settings;
use report::Report;
use scenario::System;

/// Runs the benchmark and writes its outputs; returns the report (check
/// [`Report::has_errors`]). Fails before running anything when Herald is needed and missing.
pub async fn run(settings: Settings) -> Result<Report, BenchError> {
    let needs_herald = settings.scenarios.iter().any(|s| {
        matches!(
            s.system(),
            System::Herald { .. } | System::IdleHerald { .. }
        )
    });
    let herald = if needs_herald {
        Some(herald::herald_binary()?)
    } else {
        None
    };
    std::fs::create_dir_all(&settings.out)
        .map_err(|e| BenchError::io(format!("creating {}", settings.out.display()), e))?;
    let data_root = settings.out.join("herald-data");
    let machine = machine::Machine::describe(&settings.out);
    eprintln!("herald-bench: {}", machine.summary());
    let cores = placement::Cores::resolve(settings.placement, &placement::allowed_cpus()?);
    eprintln!("herald-bench: placement {}", cores.describe());
    // This thread runs the sender and its pacer; the threads it starts (the subscriber) inherit
    // its cores.
    if let Some(generator) = &cores.generator {
        placement::pin_this_thread(generator)?;
    }
    let runner = runner::Runner {
        settings: &settings,
        herald,
        data_root: data_root.clone(),
        clock: clock::Clock::new(),
        template: event::EventTemplate::new(settings.event_size),
        cores: cores.clone(),
        pauses: pauses::PauseMeter::start(&placement::allowed_cpus()?)?,
    };
    let scenarios = runner.run_all().await;
    let paired = runner.run_pairs().await;
    // Only logs of failed scenarios remain; drop the directory when there are none.
    let _ = std::fs::remove_dir(&data_root);
    let out = settings.out.clone();
    let report = Report::new(machine, settings, cores, scenarios, paired);
    for path in report.write(&out)? {
        eprintln!("herald-bench: wrote {}", path.display());
    }
    Ok(report)
}
