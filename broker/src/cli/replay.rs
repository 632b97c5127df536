//! Replaying from the command line: `herald replay` (a window of a broker's log to one
//! destination), `herald trigger seek`, and what every long replay shares — pacing
//! (`--rate N/s`), progress (a bar on a terminal, a summary line otherwise) and a clean stop on
//! Ctrl-C that says how to resume.
//!
//! The CLI drives a replay one request at a time (one event per request with `--rate`), so an
//! interrupted replay stops between events: a dead-letter replay resumes by running the same
//! command again (delivered entries are resolved and skipped), a window replay with the
//! `--from-offset`/`--to-offset` it prints.

use super::Global;
use super::client::AdminClient;
use super::output;
use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Events per second, from `N/s`, `N/m` or a plain `N` (per second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate(pub f64);

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Rate, String> {
        let (number, per) = match text.trim().split_once('/') {
            Some((n, unit)) => (n, unit.trim()),
            None => (text.trim(), "s"),
        };
        let seconds = match per {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            other => return Err(format!("unknown rate unit {other:?}: use N/s, N/m or N/h")),
        };
        match number.trim().parse::<f64>() {
            Ok(n) if n > 0.0 && n.is_finite() => Ok(Rate(n / seconds)),
            _ => Err(format!("{text:?} is not a positive rate such as 5/s")),
        }
    }
}

/// Spaces requests out to a [`Rate`].
pub(super) struct Pacer {
    every: Option<Duration>,
    next: tokio::time::Instant,
}

impl Pacer {
    pub(super) fn new(rate: Option<Rate>) -> Pacer {
        Pacer {
            every: rate.map(|r| Duration::from_secs_f64(1.0 / r.0)),
            next: tokio::time::Instant::now(),
        }
    }

    /// Whether requests are paced (then each carries one event).
    pub(super) fn paced(&self) -> bool {
        self.every.is_some()
    }

    /// Waits for the next slot.
    pub(super) async fn wait(&mut self) {
        if let Some(every) = self.every {
            tokio::time::sleep_until(self.next).await;
            self.next = self.next.max(tokio::time::Instant::now() - every) + every;
        }
    }
}

/// Progress of a replay: a bar on a terminal, one summary line at the end otherwise.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    counts: BTreeMap<String, u64>,
    started: Instant,
}

impl Progress {
    pub(super) fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{bar:40.cyan/blue} {pos}/{len} {msg} [{elapsed}, {eta} left]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Progress {
            bar,
            total,
            done: 0,
            counts: BTreeMap::new(),
            started: Instant::now(),
        }
    }

    /// Counts one event or entry with its outcome.
    pub(super) fn record(&mut self, outcome: &str) {
        self.done += 1;
        *self.counts.entry(outcome.to_string()).or_default() += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(self.tally());
        }
    }

    /// Prints a line without breaking the bar.
    pub(super) fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub(super) fn count(&self, outcome: &str) -> u64 {
        self.counts.get(outcome).copied().unwrap_or(0)
    }

    fn tally(&self) -> String {
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        parts.join(", ")
    }

    /// Clears the bar and returns the summary: outcomes, how far, how long.
    pub(super) fn finish(&self) -> String {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let tally = if self.counts.is_empty() {
            "nothing sent".to_string()
        } else {
            self.tally()
        };
        format!(
            "{tally} ({} of {} in {:.1}s)",
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        )
    }
}

/// Runs `work` to its end, or until Ctrl-C: then `None` (the work stops between requests).
pub(super) async fn until_interrupted<T>(work: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        result = work => Some(result),
        _ = tokio::signal::ctrl_c() => None,
    }
}

/// `herald replay`: a window of a broker's log, filtered, to one destination.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("destination").required(true).args(["to_trigger", "to_url"])))]
pub struct WindowArgs {
    /// The broker whose log is replayed.
    #[arg(long, default_value = "default")]
    pub broker: String,
    /// Start of the window: RFC 3339, or a duration ago (15m, 2h, 7d).
    #[arg(long, required_unless_present = "from_offset")]
    pub from: Option<String>,
    /// End of the window, exclusive (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// CESQL the events must satisfy.
    #[arg(long)]
    pub filter: Option<String>,
    /// Send to this Trigger's subscriber, under its delivery policy and through its filter.
    #[arg(long)]
    pub to_trigger: Option<String>,
    /// Send to this URL, under the broker's delivery policy.
    #[arg(long)]
    pub to_url: Option<String>,
    /// Most events sent per second (N/s, N/m).
    #[arg(long)]
    pub rate: Option<Rate>,
    /// Print how many events would be sent, where, and a sample; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Start at this log offset instead of --from (to resume an interrupted replay).
    #[arg(long)]
    pub from_offset: Option<u64>,
    /// End at this log offset, exclusive, instead of --to.
    #[arg(long)]
    pub to_offset: Option<u64>,
    #[command(flatten)]
    pub global: Global,
}

/// Events per request when not paced.
const WINDOW_BATCH: usize = 50;

pub async fn window(args: WindowArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.global.server);
    let destination = match (&args.to_trigger, &args.to_url) {
        (Some(trigger), _) => json!({ "trigger": trigger, "namespace": args.global.namespace }),
        (None, Some(url)) => json!({ "url": url }),
        (None, None) => bail!("give --to-trigger or --to-url"),
    };
    let mut request = json!({
        "namespace": args.global.namespace,
        "broker": args.broker,
        "from": args.from,
        "to": args.to,
        "fromOffset": args.from_offset,
        "toOffset": args.to_offset,
        "filter": args.filter,
        "destination": destination,
        "dryRun": true,
    });
    let plan = client.post("/api/v1/replay", &request).await?;
    let count = plan["count"].as_u64().unwrap_or(0);
    let (from, to) = (offset(&plan["fromOffset"])?, offset(&plan["toOffset"])?);
    let to_label = text(&plan["destination"]);
    if args.dry_run {
        println!(
            "Would replay {count} event(s) of broker {} (offsets {from}..{to}) to {to_label}.",
            text(&plan["broker"])
        );
        print_window_sample(&plan["sample"]);
        return Ok(());
    }
    if count == 0 {
        println!("Nothing to replay in offsets {from}..{to}.");
        return Ok(());
    }

    let replay_id = uuid::Uuid::new_v4().to_string();
    request["dryRun"] = json!(false);
    request["replayId"] = json!(replay_id);
    request["toOffset"] = json!(to);
    let mut pacer = Pacer::new(args.rate);
    request["limit"] = json!(if pacer.paced() { 1 } else { WINDOW_BATCH });
    let mut progress = Progress::new(count);
    let mut cursor = from;
    let work = async {
        while cursor < to {
            pacer.wait().await;
            request["fromOffset"] = json!(cursor);
            let answer = client.post("/api/v1/replay", &request).await?;
            for result in answer["results"].as_array().into_iter().flatten() {
                let outcome = result["outcome"].as_str().unwrap_or("error");
                progress.record(outcome);
                if outcome != "delivered" {
                    progress.note(&format!(
                        "event {} (offset {}): {outcome}: {}",
                        text(&result["eventId"]),
                        result["offset"],
                        text(&result["error"])
                    ));
                }
            }
            let next = offset(&answer["next"])?;
            if next <= cursor || answer["done"] == true {
                break;
            }
            cursor = next;
        }
        Ok::<(), anyhow::Error>(())
    };
    let Some(result) = until_interrupted(work).await else {
        bail!(
            "interrupted: {}; resume with `herald replay --broker {} --from-offset {cursor} --to-offset {to}` and the same destination",
            progress.finish(),
            args.broker
        );
    };
    result?;
    println!("Replay {replay_id} to {to_label}: {}", progress.finish());
    let failed = progress.count("failed");
    if failed > 0 {
        bail!("{failed} event(s) could not be delivered");
    }
    Ok(())
}

fn offset(value: &Value) -> anyhow::Result<u64> {
    value
        .as_u64()
        .with_context(|| format!("the server answered an unexpected offset {value}"))
}

fn print_window_sample(sample: &Value) {
    let rows: Vec<Vec<String>> = sample
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            vec![
                e["offset"].to_string(),
                text(&e["time"]),
                text(&e["eventId"]),
                text(&e["eventType"]),
                text(&e["eventSource"]),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!("Sample:");
        print!(
            "{}",
            output::table(&["OFFSET", "TIME", "EVENT ID", "TYPE", "SOURCE"], &rows)
        );
    }
}

/// A JSON value as plain text (strings unquoted, null empty).
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `herald trigger ...`
#[derive(Debug, Subcommand)]
pub enum TriggerCommand {
    /// Move a Trigger's position in its broker's log; events from there on are delivered again
    /// through its filter. Works while Herald serves.
    Seek(SeekArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("position").required(true).args(["to_time", "to_offset", "earliest", "latest"])))]
pub struct SeekArgs {
    /// The Trigger.
    pub name: String,
    /// The first event appended at or after this time (RFC 3339, or a duration ago: 15m, 2h).
    #[arg(long)]
    pub to_time: Option<String>,
    /// This log offset.
    #[arg(long)]
    pub to_offset: Option<u64>,
    /// The oldest event the log retains.
    #[arg(long)]
    pub earliest: bool,
    /// The head of the log: skip everything not yet delivered.
    #[arg(long)]
    pub latest: bool,
    #[command(flatten)]
    pub global: Global,
}

pub async fn trigger(command: TriggerCommand) -> anyhow::Result<()> {
    let TriggerCommand::Seek(args) = command;
    let body = json!({
        "toTime": args.to_time,
        "toOffset": args.to_offset,
        "earliest": args.earliest,
        "latest": args.latest,
    });
    let path = format!(
        "/api/v1/namespaces/{}/triggers/{}/seek",
        args.global.namespace, args.name
    );
    let answer = AdminClient::new(&args.global.server)
        .post(&path, &body)
        .await?;
    let previous = match &answer["previousPosition"] {
        Value::Null => "no position".to_string(),
        p => format!("position {p}"),
    };
    println!(
        "trigger {} moved from {previous} to position {} (log head {})",
        text(&answer["trigger"]),
        answer["position"],
        answer["head"]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_per_second_minute_and_plain() {
        assert_eq!("5/s".parse(), Ok(Rate(5.0)));
        assert_eq!("120/m".parse(), Ok(Rate(2.0)));
        assert_eq!("0.5".parse(), Ok(Rate(0.5)));
        assert!("0/s".parse::<Rate>().is_err());
        assert!("5/fortnight".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_requests_to_the_rate() {
        let mut pacer = Pacer::new(Some(Rate(4.0)));
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            pacer.wait().await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(1),
            "the first at once, then every 250 ms"
        );
        let mut unpaced = Pacer::new(None);
        unpaced.wait().await;
        assert!(!unpaced.paced());
    }
}
