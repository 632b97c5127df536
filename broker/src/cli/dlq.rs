//! `herald dlq`: inspect, replay and purge Herald's dead letters through the admin API.
//!
//! - `list`, `show ID`, `stats` — what failed, where, how often, and why;
//! - `replay` — deliver the selection again (one entry per request, paced by `--rate`); re-running
//!   an interrupted replay skips the entries already delivered;
//! - `purge` — delete the selection after a confirmation (or `--yes`).
//!
//! Every command but `show` takes the same selection: `--broker`, `--trigger`, `--since`,
//! `--until`, `--filter` (CESQL over the dead-lettered event), `--limit`, `--include-resolved`,
//! `-A` (every namespace; otherwise `-n`), or `--id` (repeatable) for given entries.

use super::Global;
use super::client::AdminClient;
use super::output::{self, Format};
use super::replay::{Pacer, Progress, Rate, text, until_interrupted};
use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::BufRead;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first.
    List {
        #[command(flatten)]
        selection: SelectionArgs,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Show one dead letter: the event, every attempt, the reason and its replays.
    Show {
        /// The dead letter's ID, as listed (`namespace/broker/id`).
        id: String,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
        #[command(flatten)]
        global: Global,
    },
    /// Count dead letters by Trigger, reason and status code.
    Stats {
        #[command(flatten)]
        selection: SelectionArgs,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Deliver dead letters again: by default each back to the Trigger it failed on, under the
    /// Trigger's delivery policy (its filter is not re-applied unless --apply-filter).
    Replay(ReplayArgs),
    /// Delete dead letters.
    Purge {
        #[command(flatten)]
        selection: SelectionArgs,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// Which dead letters a command applies to.
#[derive(Debug, Clone, Args)]
pub struct SelectionArgs {
    /// Only dead letters of this broker's Triggers.
    #[arg(long)]
    pub broker: Option<String>,
    /// Only dead letters of this Trigger.
    #[arg(long)]
    pub trigger: Option<String>,
    /// Dead-lettered at or after this time: RFC 3339, or a duration ago (15m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Dead-lettered before this time: RFC 3339, or a duration ago.
    #[arg(long)]
    pub until: Option<String>,
    /// CESQL over the dead-lettered event's attributes, e.g. "type = 'order.created'".
    #[arg(long)]
    pub filter: Option<String>,
    /// At most this many, oldest first (list: 100 unless given).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Include dead letters a replay already delivered.
    #[arg(long)]
    pub include_resolved: bool,
    /// Across every namespace (otherwise only -n's).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Exactly these dead letters (repeatable); the other criteria are ignored.
    #[arg(long = "id", value_name = "ID", conflicts_with_all = ["broker", "trigger", "since", "until", "filter"])]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub global: Global,
}

impl SelectionArgs {
    /// The selection as query parameters.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if !self.all_namespaces {
            query.push(("namespace", self.global.namespace.clone()));
        }
        let optional = [
            ("broker", &self.broker),
            ("trigger", &self.trigger),
            ("since", &self.since),
            ("until", &self.until),
            ("filter", &self.filter),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                query.push((name, value.clone()));
            }
        }
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        if self.include_resolved {
            query.push(("includeResolved", "true".into()));
        }
        if !self.ids.is_empty() {
            query.push(("ids", self.ids.join(",")));
        }
        query
    }

    /// The selection as the `selection` object of a replay request.
    fn json(&self) -> Value {
        let mut object = serde_json::Map::new();
        for (name, value) in self.query() {
            let value = match name {
                "limit" => json!(value.parse::<usize>().unwrap_or(usize::MAX)),
                "includeResolved" => json!(true),
                "ids" => json!(self.ids),
                _ => json!(value),
            };
            object.insert(name.to_string(), value);
        }
        Value::Object(object)
    }

    fn client(&self) -> AdminClient {
        AdminClient::new(&self.global.server)
    }
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Send to this Trigger's subscriber (in -n's namespace), under its delivery policy.
    #[arg(long, conflicts_with = "to")]
    pub to_trigger: Option<String>,
    /// Send to this URL, under the delivery policy of each entry's Trigger.
    #[arg(long, visible_alias = "to-url", value_name = "URL")]
    pub to: Option<String>,
    /// Most entries sent per second (N/s, N/m).
    #[arg(long)]
    pub rate: Option<Rate>,
    /// Print how many would be replayed, to where, and a sample; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip entries the destination Trigger's filter does not match.
    #[arg(long)]
    pub apply_filter: bool,
}

pub async fn run(command: DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List { selection, output } => list(&selection, output).await,
        DlqCommand::Show { id, output, global } => show(&global, &id, output).await,
        DlqCommand::Stats { selection, output } => stats(&selection, output).await,
        DlqCommand::Replay(args) => replay(args).await,
        DlqCommand::Purge { selection, yes } => purge(&selection, yes).await,
    }
}

const DEFAULT_LIST_LIMIT: usize = 100;

async fn list(selection: &SelectionArgs, format: Format) -> anyhow::Result<()> {
    let mut selection = selection.clone();
    selection.limit.get_or_insert(DEFAULT_LIST_LIMIT);
    let answer = selection
        .client()
        .get_path("/api/v1/deadletters", &selection.query())
        .await?;
    let items = answer["items"].as_array().cloned().unwrap_or_default();
    if format != Format::Table {
        print!("{}", output::document(&answer, format)?);
        return Ok(());
    }
    if items.is_empty() {
        eprintln!("No dead letters found.");
        return Ok(());
    }
    print!("{}", summary_table(&items, false));
    let matched = answer["matched"].as_u64().unwrap_or(0);
    if matched > items.len() as u64 {
        eprintln!(
            "({} of {matched} shown; use --limit to see more)",
            items.len()
        );
    }
    Ok(())
}

/// Dead letters as table rows; with `to`, the destination a dry run found for each.
fn summary_table(items: &[Value], to: bool) -> String {
    let mut header = vec![
        "ID", "TRIGGER", "EVENT ID", "TYPE", "REASON", "CODE", "ATTEMPTS", "AGE", "STATE",
    ];
    if to {
        header.push("TO");
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|d| {
            let mut row = vec![
                text(&d["id"]),
                text(&d["from"]),
                text(&d["eventId"]),
                text(&d["eventType"]),
                text(&d["reasonCategory"]),
                text(&d["lastStatus"]),
                text(&d["attempts"]),
                output::age(d["created"].as_str()),
                if d["resolved"] == true {
                    "resolved"
                } else {
                    "unresolved"
                }
                .to_string(),
            ];
            if to {
                row.push(text(&d["to"]));
            }
            row
        })
        .collect();
    output::table(&header, &rows)
}

async fn show(global: &Global, id: &str, format: Format) -> anyhow::Result<()> {
    let path = format!("/api/v1/deadletters/{}", id.trim_start_matches('/'));
    let d = AdminClient::new(&global.server)
        .get_path(&path, &[])
        .await?;
    if format != Format::Table {
        print!("{}", output::document(&d, format)?);
        return Ok(());
    }
    let yes_no = |v: &Value| if *v == true { "yes" } else { "no" };
    let mut out = format!(
        "ID:           {}\nTrigger:      {}\nDestination:  {}\nCreated:      {} ({} ago)\nReason:       {}\nSink took it: {}\nResolved:     {}\nEvent:\n",
        text(&d["id"]),
        text(&d["from"]),
        text(&d["destination"]),
        text(&d["created"]),
        output::age(d["created"].as_str()),
        text(&d["reason"]),
        yes_no(&d["deliveredToDeadLetterSink"]),
        yes_no(&d["resolved"]),
    );
    for line in serde_json::to_string_pretty(&d["event"])?.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("Attempts:\n");
    let attempts: Vec<Vec<String>> = d["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                text(&a["at"]),
                text(&a["status"]),
                format!("{}ms", text(&a["latencyMs"])),
                text(&a["error"]),
            ]
        })
        .collect();
    indent(
        &mut out,
        &output::table(&["AT", "STATUS", "LATENCY", "ERROR"], &attempts),
    );
    let body = text(&d["responseBody"]);
    if !body.is_empty() {
        out.push_str("Last response body:\n");
        indent(&mut out, &body);
    }
    let replays: Vec<Vec<String>> = d["replays"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                text(&r["at"]),
                text(&r["to"]),
                text(&r["outcome"]),
                text(&r["replayId"]),
            ]
        })
        .collect();
    if !replays.is_empty() {
        out.push_str("Replays:\n");
        indent(
            &mut out,
            &output::table(&["AT", "TO", "OUTCOME", "REPLAY"], &replays),
        );
    }
    print!("{out}");
    Ok(())
}

fn indent(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str(&format!("  {line}\n"));
    }
}

async fn stats(selection: &SelectionArgs, format: Format) -> anyhow::Result<()> {
    let stats = selection
        .client()
        .get_path("/api/v1/deadletters/stats", &selection.query())
        .await?;
    if format != Format::Table {
        print!("{}", output::document(&stats, format)?);
        return Ok(());
    }
    println!(
        "Total: {} (resolved: {})",
        stats["total"], stats["resolved"]
    );
    for (title, field) in [
        ("TRIGGER", "byTrigger"),
        ("REASON", "byReason"),
        ("STATUS", "byStatus"),
    ] {
        let rows: Vec<Vec<String>> = stats[field]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect();
        if !rows.is_empty() {
            println!();
            print!("{}", output::table(&[title, "COUNT"], &rows));
        }
    }
    Ok(())
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let selection = &args.selection;
    let client = selection.client();
    let destination = match (&args.to_trigger, &args.to) {
        (Some(trigger), _) => {
            json!({ "trigger": trigger, "namespace": selection.global.namespace })
        }
        (None, Some(url)) => json!({ "url": url }),
        (None, None) => Value::Null,
    };
    let mut request = json!({
        "selection": selection.json(),
        "destination": destination,
        "applyFilter": args.apply_filter,
        "dryRun": true,
    });
    let plan = client.post("/api/v1/deadletters/replay", &request).await?;
    let count = plan["count"].as_u64().unwrap_or(0);
    if args.dry_run {
        println!("Would replay {count} dead letter(s):");
        for d in plan["destinations"].as_array().into_iter().flatten() {
            println!("  {} to {}", d["count"], text(&d["to"]));
        }
        let sample = plan["sample"].as_array().cloned().unwrap_or_default();
        if !sample.is_empty() {
            println!("Sample:");
            print!("{}", summary_table(&sample, true));
        }
        return Ok(());
    }
    if count == 0 {
        println!("Nothing to replay.");
        return Ok(());
    }

    let replay_id = uuid::Uuid::new_v4().to_string();
    request["dryRun"] = json!(false);
    request["replayId"] = json!(replay_id);
    let ids: Vec<String> = plan["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let mut progress = Progress::new(count);
    let mut pacer = Pacer::new(args.rate);
    let work = async {
        for id in &ids {
            pacer.wait().await;
            request["selection"] = json!({
                "ids": [id],
                "includeResolved": selection.include_resolved,
            });
            let answer = client.post("/api/v1/deadletters/replay", &request).await?;
            for result in answer["results"].as_array().into_iter().flatten() {
                let outcome = result["outcome"].as_str().unwrap_or("error");
                progress.record(outcome);
                if matches!(outcome, "failed" | "error" | "interrupted") {
                    progress.note(&format!(
                        "{}: {outcome}: {}",
                        text(&result["id"]),
                        text(&result["error"])
                    ));
                }
            }
        }
        Ok::<(), anyhow::Error>(())
    };
    let Some(result) = until_interrupted(work).await else {
        bail!(
            "interrupted: {}; run the same command again to resume (delivered entries are skipped)",
            progress.finish()
        );
    };
    result?;
    println!("Replay {replay_id}: {}", progress.finish());
    let failed = progress.count("failed") + progress.count("error");
    if failed > 0 {
        bail!("{failed} dead letter(s) were not delivered; they remain in the store");
    }
    Ok(())
}

/// Entry names deleted per request.
const PURGE_BATCH: usize = 100;

async fn purge(selection: &SelectionArgs, yes: bool) -> anyhow::Result<()> {
    let client = selection.client();
    // Purge exactly what was counted (and confirmed), not what arrives meanwhile.
    let listed = client
        .get_path("/api/v1/deadletters", &selection.query())
        .await?;
    let ids: Vec<String> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| text(&d["id"]))
        .collect();
    if ids.is_empty() {
        println!("Nothing to purge.");
        return Ok(());
    }
    if !yes && !confirm(&format!("Purge {} dead letter(s)? [y/N] ", ids.len()))? {
        bail!("purge cancelled; nothing was deleted");
    }
    let mut purged = 0;
    for batch in ids.chunks(PURGE_BATCH) {
        let answer = client
            .delete_path("/api/v1/deadletters", &[("ids", batch.join(","))])
            .await?;
        purged += answer["purged"].as_u64().unwrap_or(0);
    }
    println!("{purged} dead letter(s) purged.");
    Ok(())
}

/// Asks on stderr and reads a line from stdin: true for y or yes.
fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::{CommandFactory, Parser};
    use serde_json::json;

    fn selection_of(args: &[&str]) -> super::SelectionArgs {
        let mut argv = vec!["herald", "dlq", "list"];
        argv.extend(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Dlq {
                command: super::DlqCommand::List { selection, .. },
            } => selection,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let conflicting = ["herald", "dlq", "replay", "--id", "a/b/1", "--trigger", "t"];
        assert!(Cli::try_parse_from(conflicting).is_err());
        let both = [
            "herald",
            "dlq",
            "replay",
            "--to",
            "http://h/",
            "--to-trigger",
            "t",
        ];
        assert!(Cli::try_parse_from(both).is_err());
        assert!(Cli::try_parse_from(["herald", "trigger", "seek", "t"]).is_err());
        assert!(Cli::try_parse_from(["herald", "replay", "--from", "1h"]).is_err());
    }

    #[test]
    fn selections_become_query_parameters_and_json() {
        let s = selection_of(&[
            "-n",
            "prod",
            "--trigger",
            "orders",
            "--filter",
            "type = 'x'",
            "--limit",
            "5",
        ]);
        assert_eq!(
            s.query(),
            [
                ("namespace", "prod".to_string()),
                ("trigger", "orders".to_string()),
                ("filter", "type = 'x'".to_string()),
                ("limit", "5".to_string()),
            ]
        );
        assert_eq!(
            s.json(),
            json!({"namespace": "prod", "trigger": "orders", "filter": "type = 'x'", "limit": 5})
        );
        let s = selection_of(&["-A", "--id", "a/b/1", "--id", "a/b/2", "--include-resolved"]);
        assert_eq!(
            s.query(),
            [
                ("includeResolved", "true".to_string()),
                ("ids", "a/b/1,a/b/2".to_string())
            ]
        );
        assert_eq!(
            s.json(),
            json!({"includeResolved": true, "ids": ["a/b/1", "a/b/2"]})
        );
    }
}
