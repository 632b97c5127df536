//! Herald's broker: where events enter and where they are kept.
//!
//! The path of an event: a source or client POSTs it to the [`ingress`], which appends it to the
//! broker's log (`herald-log`) and answers 202 once it is durable; the [`runtime`] runs a worker per
//! Trigger (`herald-triggers`) that reads the log and delivers to the subscriber.
//!
//! Around that path:
//! - [`dlq`] inspects, replays and purges dead letters, seeks Triggers and replays log windows;
//! - [`registry`] holds the declared resources (from the [`admin`] API and the [`config_dir`]);
//! - [`runtime`] reconciles brokers and Triggers with the registry;
//! - [`server`] starts and stops everything, serving HTTP through [`http_server`]; [`config`]
//!   holds its settings;
//! - [`metrics`] renders Prometheus text, with the per-broker histograms of [`latency`];
//!   [`error`] shapes JSON error answers;
//! - [`cli`] is the `herald` command line (serve, standalone sources, the admin API client);
//!   [`signal`] waits for SIGTERM/SIGINT.

pub mod admin;
pub mod cli;
pub mod config;
pub mod config_dir;
pub mod dlq;
pub mod error;
pub mod http_server;
pub mod ingress;
pub mod latency;
pub mod metrics;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod signal;
