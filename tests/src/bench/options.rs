//! Command-line options of `herald-bench` and the settings a run resolves from them (what
//! `--quick` changes), with parsers for sizes (`1KiB`) and durations (`10s`, `500ms`).

use super::placement::Placement;
use super::scenario::ScenarioName;
use clap::Parser;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

const ABOUT: &str = "Benchmarks Herald against a direct HTTP hop, a bare relay and NATS \
                     JetStream on this machine.";

const LONG_ABOUT: &str = "\
Benchmarks Herald against a direct HTTP hop, a bare relay and NATS JetStream on this machine.

Every scenario starts what it needs on 127.0.0.1: the real `herald serve` as a child process
(so its CPU and memory are measured apart from the load generator), a subscriber in this
process, a relay (answers 202 and passes each event on: two hops and nothing else) in this
process, or a JetStream stream on the local NATS server. Each scenario runs a closed loop
(--concurrency senders back to back) and then open-loop steps at a constant rate (--steps, in
percent of the closed-loop rate) after a warm-up.

The herald binary is $HERALD_BIN, or `herald` next to this executable: with
`cargo run --release -p herald-tests --bin herald-bench` that is target/release/herald, so build
it first with `cargo build --release -p herald-broker --bin herald`.

Outputs in --out: results.json, results.md (table, ratios, target pass/fail, machine) and
latency.svg. The exit status is 1 when any scenario had errors (failed requests, lost,
duplicated or misrouted events, a component that did not start), never because of speed.";

/// `herald-bench` command line.
#[derive(Clone, Debug, Parser)]
#[command(name = "herald-bench", about = ABOUT, long_about = LONG_ABOUT)]
pub struct Options {
    /// Run only these scenarios (repeatable); all of them when omitted.
    #[arg(long = "scenario", value_name = "NAME", value_enum)]
    pub scenarios: Vec<ScenarioName>,
    /// Length of the closed loop and of each open-loop step [default: 10s, 1s with --quick].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Warm-up before the closed loop and before the open-loop steps [default: 2s, 500ms with --quick].
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Size of each event's body.
    #[arg(long, default_value = "1KiB", value_parser = parse_size)]
    pub event_size: usize,
    /// Where results.json, results.md and latency.svg go (Herald's data too, while it runs).
    #[arg(long, default_value = "bench-out")]
    pub out: PathBuf,
    /// Closed-loop senders.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Open-loop steps, in percent of the closed-loop accepted rate [default: 25,50,75,100; 50 with --quick].
    #[arg(long, value_delimiter = ',')]
    pub steps: Vec<u32>,
    /// CI mode: every scenario for about two seconds; the exit status only reflects errors.
    #[arg(long)]
    pub quick: bool,
    /// Rounds of alternated closed loops for each throughput target's two scenarios (herald-durable
    /// and direct; selective-1000 and herald-durable), taken in turn while both are up, so that
    /// the machine's drift over the run cancels out of the ratio; 0 skips them [default: 3, 1
    /// with --quick].
    #[arg(long)]
    pub pairs: Option<u32>,
    /// The NATS server of the jetstream scenario.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// The nats-server binary (2.10 or later) that jetstream-fsync starts itself;
    /// `tests/nats-server` installs one and prints its path.
    #[arg(long, env = "NATS_SERVER_BIN", value_name = "PATH")]
    pub nats_server_bin: Option<PathBuf>,
    /// An extra flag for `herald serve`, e.g. --herald-arg=--max-in-flight=256 (repeatable).
    #[arg(long = "herald-arg", value_name = "FLAG", allow_hyphen_values = true)]
    pub herald_args: Vec<String>,
    /// Open loop: senders taking scheduled sends (so at most this many unanswered at once).
    #[arg(long, default_value_t = 256)]
    pub open_workers: usize,
    /// A send unanswered after this long counts as failed.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Stop waiting for deliveries after this long without one (then the missing ones are lost).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// `split`: the system under test on the first core, the load generator on the others (as
    /// if on another machine); `shared`: every process on every core.
    #[arg(long, value_enum, default_value_t = Placement::Split)]
    pub placement: Placement,
}

/// What a run does, with `--quick` and the defaults applied.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    #[serde(serialize_with = "names")]
    pub scenarios: Vec<ScenarioName>,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    #[serde(serialize_with = "seconds")]
    pub warmup: Duration,
    pub event_size: usize,
    pub out: PathBuf,
    pub concurrency: usize,
    pub steps: Vec<u32>,
    pub quick: bool,
    pub pairs: u32,
    pub nats_url: String,
    pub nats_server_bin: Option<PathBuf>,
    pub herald_args: Vec<String>,
    pub open_workers: usize,
    #[serde(serialize_with = "seconds")]
    pub request_timeout: Duration,
    #[serde(serialize_with = "seconds")]
    pub drain_timeout: Duration,
    pub placement: Placement,
}

impl Options {
    pub fn settings(self) -> Settings {
        let mut scenarios = if self.scenarios.is_empty() {
            ScenarioName::all().to_vec()
        } else {
            self.scenarios
        };
        scenarios.sort();
        scenarios.dedup();
        let steps = match (self.steps.is_empty(), self.quick) {
            (false, _) => self.steps,
            (true, true) => vec![50],
            (true, false) => vec![25, 50, 75, 100],
        };
        let (duration, warmup) = if self.quick {
            (Duration::from_secs(1), Duration::from_millis(500))
        } else {
            (Duration::from_secs(10), Duration::from_secs(2))
        };
        Settings {
            scenarios,
            duration: self.duration.unwrap_or(duration),
            warmup: self.warmup.unwrap_or(warmup),
            event_size: self.event_size,
            out: self.out,
            concurrency: self.concurrency.max(1),
            steps,
            quick: self.quick,
            pairs: self.pairs.unwrap_or(if self.quick { 1 } else { 3 }),
            nats_url: self.nats_url,
            nats_server_bin: self.nats_server_bin,
            herald_args: self.herald_args,
            open_workers: self.open_workers.max(1),
            request_timeout: self.request_timeout,
            drain_timeout: self.drain_timeout,
            placement: self.placement,
        }
    }
}

fn names<S: serde::Serializer>(names: &[ScenarioName], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(names.iter().map(ScenarioName::as_str))
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// `1024`, `512B`, `1KiB`, `4kib`, `1MiB`, `2KB` (KB = 1000).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 1KiB or 512B"))?;
    let multiplier = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "kb" => 1_000,
        "mb" => 1_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB, KB or MB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// `10s`, `500ms`, `1.5s`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s or 500ms"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" | "min" => number * 60.0,
        other => return Err(format!("unknown duration unit {other:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2KB"), Ok(2000));
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("1 parsec").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn quick_shortens_everything_unless_told_otherwise() {
        let s = Options::parse_from(["herald-bench", "--quick"]).settings();
        assert_eq!(s.duration, Duration::from_secs(1));
        assert_eq!(s.steps, vec![50]);
        assert_eq!(s.pairs, 1);
        assert_eq!(s.scenarios.len(), ScenarioName::all().len());
        let s = Options::parse_from([
            "herald-bench",
            "--quick",
            "--duration",
            "3s",
            "--scenario",
            "jetstream",
            "--scenario",
            "direct",
            "--herald-arg=--max-in-flight=8",
        ])
        .settings();
        assert_eq!(s.duration, Duration::from_secs(3));
        assert_eq!(
            s.scenarios,
            vec![ScenarioName::Direct, ScenarioName::Jetstream]
        );
        assert_eq!(s.herald_args, vec!["--max-in-flight=8"]);
    }

    #[test]
    fn full_runs_step_through_four_rates() {
        let s = Options::parse_from(["herald-bench", "--steps", "10,90"]).settings();
        assert_eq!(s.steps, vec![10, 90]);
        let s = Options::parse_from(["herald-bench"]).settings();
        assert_eq!(s.steps, vec![25, 50, 75, 100]);
        assert_eq!(s.duration, Duration::from_secs(10));
        assert_eq!(s.pairs, 3);
        let s = Options::parse_from(["herald-bench", "--pairs", "0"]).settings();
        assert_eq!(s.pairs, 0);
    }
}
