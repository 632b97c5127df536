//! Clients of a running Herald beyond [`Herald::cli`]: commands of the `herald` binary with parsed
//! JSON output, commands that must succeed, commands left running in the background (to interrupt
//! them), and the admin API's metrics page.

use crate::process::{Herald, herald_bin};
use std::process::{Child, Command, Output, Stdio};

impl Herald {
    /// Runs a client command that must succeed; returns its stdout (panics with both streams).
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "herald {args:?} failed: {}",
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a client command with `-o json` appended and parses its output.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        let stdout = self.cli_ok(&args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|err| panic!("herald {args:?} printed no JSON ({err}): {stdout}"))
    }

    /// Starts a client command in the background (stdout and stderr discarded, no stdin).
    pub fn cli_spawn(&self, args: &[&str]) -> Child {
        Command::new(herald_bin())
            .args(args)
            .env("HERALD_SERVER", &self.admin)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the herald client starts")
    }

    /// The admin API's Prometheus metrics page.
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.admin);
        let response = reqwest::get(&url)
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"));
        assert!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        response.text().await.expect("the metrics page is text")
    }
}

/// Exit status, stdout and stderr of a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
