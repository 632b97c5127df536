//! The `herald` command line: `serve` runs the broker; the other commands talk to a running
//! Herald's admin API (`--server`, default http://127.0.0.1:8081).
//!
//! - [`client`] is the admin API client;
//! - [`resources`] implements `apply`, `get`, `describe` and `delete`;
//! - [`send`] posts a CloudEvent to a broker;
//! - [`dlq`] inspects, replays and purges dead letters;
//! - [`replay`] replays a window of a broker's log and seeks Triggers;
//! - [`output`] prints tables, YAML and JSON.

pub mod client;
pub mod dlq;
pub mod output;
pub mod replay;
pub mod resources;
pub mod send;
pub mod source_run;

use crate::config::ServeConfig;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Herald: a CloudEvents eventing mesh.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every client command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Namespace of the resources.
    #[arg(short = 'n', long, global = true, default_value = "default")]
    pub namespace: String,
    /// The admin API of the Herald to talk to.
    #[arg(
        long,
        global = true,
        env = "HERALD_SERVER",
        default_value = "http://127.0.0.1:8081"
    )]
    pub server: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Herald: ingress, brokers, Triggers, admin API.
    Serve(Box<ServeConfig>),
    /// Create or replace the resources in a file or a directory of YAML manifests.
    Apply {
        /// A YAML file (multi-document) or a directory of them.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        #[command(flatten)]
        global: Global,
    },
    /// List resources: brokers, triggers, sources (or one kind of source).
    Get {
        /// brokers | triggers | sources | pingsources | kafkasources | rabbitmqsources | natssources
        kind: String,
        /// Show only this resource.
        name: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: output::Format,
        /// List across every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        #[command(flatten)]
        global: Global,
    },
    /// Show one resource in detail, with its status.
    Describe {
        kind: String,
        name: String,
        #[command(flatten)]
        global: Global,
    },
    /// Delete resources by kind and name, or those in a file.
    Delete {
        kind: Option<String>,
        name: Option<String>,
        #[arg(short = 'f', long = "filename")]
        file: Option<PathBuf>,
        #[command(flatten)]
        global: Global,
    },
    /// Send a CloudEvent to a broker and print the answer.
    Send(send::SendArgs),
    /// Inspect, replay and purge dead letters.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// Send a time window of a broker's log, filtered, to one destination (no Trigger moves).
    Replay(replay::WindowArgs),
    /// Trigger operations: `seek`.
    Trigger {
        #[command(subcommand)]
        command: replay::TriggerCommand,
    },
    /// Run sources on their own: `herald source run -f FILE --sink URL`.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
}

/// `herald source …`
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Run the sources of a manifest file as this process, until SIGTERM/SIGINT.
    Run(source_run::SourceRunArgs),
}

/// Runs a client command (everything but `serve`).
pub async fn run_client(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => unreachable!("serve is run by main"),
        Command::Source {
            command: SourceCommand::Run(args),
        } => source_run::run(args).await,
        Command::Apply { file, global } => resources::apply(&global, &file).await,
        Command::Get {
            kind,
            name,
            output,
            all_namespaces,
            global,
        } => resources::get(&global, &kind, name.as_deref(), output, all_namespaces).await,
        Command::Describe { kind, name, global } => {
            resources::describe(&global, &kind, &name).await
        }
        Command::Delete {
            kind,
            name,
            file,
            global,
        } => resources::delete(&global, kind.as_deref(), name.as_deref(), file.as_deref()).await,
        Command::Send(args) => send::send(args).await,
        Command::Dlq { command } => dlq::run(command).await,
        Command::Replay(args) => replay::window(args).await,
        Command::Trigger { command } => replay::trigger(command).await,
    }
}
