//! `herald-bench`: benchmarks Herald against a direct HTTP hop and NATS JetStream on this
//! machine (`cargo run --release -p herald-tests --bin herald-bench -- --help`).
//!
//! The sender runs on this thread in a current_thread Tokio runtime, so the load generator takes
//! at most one core; the subscriber has a thread of its own; Herald is a separate process.

use clap::Parser;
use herald_tests::bench::{self, markdown, options::Options};
use std::process::ExitCode;

/// The allocator Herald uses, so that `direct`, the physical limit Herald is measured against,
/// does not pay for glibc's malloc where Herald does not.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let settings = Options::parse().settings();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("herald-bench: cannot build the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench::run(settings)) {
        Ok(report) => {
            println!("{}", markdown::render(&report));
            if report.has_errors() {
                eprintln!("herald-bench: some scenarios had errors (see the Errors section)");
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("herald-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
