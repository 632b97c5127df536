//! Runs the real `herald serve` as a child process on ephemeral 127.0.0.1 ports (read from the
//! line it prints), applies Triggers through its admin API and waits until they are ready.
//! Unlike the test harness in `process`, every failure is an error, not a panic: a benchmark
//! scenario that cannot start is reported and the run goes on.

use super::error::BenchError;
use super::herald_latency::HeraldLatency;
use super::placement::{self, Cpus};
use super::procfs::ProcessProbe;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const LOG_TAIL_LINES: usize = 20;

/// `$HERALD_BIN`, or the `herald` binary next to this executable (target/<profile>/herald).
pub fn herald_binary() -> Result<PathBuf, BenchError> {
    let path = match std::env::var_os("HERALD_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()
            .map_err(|e| BenchError::io("finding this executable", e))?
            .with_file_name("herald"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(BenchError::HeraldMissing(path))
    }
}

/// A running `herald serve`.
pub struct HeraldProcess {
    child: Child,
    pub ingress: String,
    pub admin: String,
    pub probe: ProcessProbe,
    log_path: PathBuf,
    http: reqwest::Client,
}

impl HeraldProcess {
    /// Starts `binary serve` with `data_dir` and `flags`, on `cpus` when given (its runtime then
    /// sizes itself to them); its stderr goes to `<data_dir>.log`.
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        flags: &[String],
        cpus: Option<&Cpus>,
    ) -> Result<HeraldProcess, BenchError> {
        let log_path = data_dir.with_extension("log");
        let mut command = placement::system_command(binary, cpus, &log_path)?;
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(flags)
            .stdout(Stdio::piped());
        let mut child = placement::spawn(command, binary)?;
        let start_error = |reason: String| BenchError::HeraldStart {
            reason,
            log_tail: log_tail(&log_path),
        };
        let Some(stdout) = child.stdout.take() else {
            return Err(start_error("its stdout was not captured".into()));
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        match tokio::time::timeout(START_TIMEOUT, stdout.read_line(&mut line)).await {
            Err(_) => {
                return Err(start_error(format!(
                    "no address line within {START_TIMEOUT:?}"
                )));
            }
            Ok(Err(e)) => return Err(start_error(format!("reading its stdout: {e}"))),
            Ok(Ok(0)) => {
                let status = child
                    .wait()
                    .await
                    .map_or("unknown status".into(), |s| s.to_string());
                return Err(start_error(format!(
                    "it exited ({status}) before printing its addresses"
                )));
            }
            Ok(Ok(_)) => {}
        }
        // Keep reading whatever else it prints, so it never blocks on a full pipe.
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
        });
        let (Some(ingress), Some(admin)) = (field(&line, "ingress"), field(&line, "admin")) else {
            return Err(start_error(format!(
                "it printed {line:?} instead of `herald listening ingress=... admin=...`"
            )));
        };
        let Some(pid) = child.id() else {
            return Err(start_error("it exited right after starting".into()));
        };
        Ok(HeraldProcess {
            child,
            ingress,
            admin,
            probe: ProcessProbe::new(pid),
            log_path,
            http: reqwest::Client::new(),
        })
    }

    /// The ingress URL of the `default` broker in the `default` namespace.
    pub fn broker_url(&self) -> String {
        format!("{}/default/default", self.ingress)
    }

    /// The default broker's accept-latency and log-sync histograms, read from `/metrics`.
    pub async fn latency(&self) -> Result<HeraldLatency, BenchError> {
        let url = format!("{}/metrics", self.admin);
        let admin = |e: reqwest::Error| BenchError::Admin {
            what: format!("GET {url}"),
            detail: e.to_string(),
        };
        let response = self.http.get(&url).send().await.map_err(admin)?;
        let text = response
            .error_for_status()
            .map_err(admin)?
            .text()
            .await
            .map_err(admin)?;
        Ok(HeraldLatency::parse(&text))
    }

    /// Applies each manifest with `POST /api/v1/apply`.
    pub async fn apply(&self, manifests: &[Value]) -> Result<(), BenchError> {
        let url = format!("{}/api/v1/apply", self.admin);
        for manifest in manifests {
            let what = format!(
                "{} {}",
                manifest["kind"].as_str().unwrap_or("resource"),
                manifest["metadata"]["name"].as_str().unwrap_or("?")
            );
            let response = self
                .http
                .post(&url)
                .json(manifest)
                .send()
                .await
                .map_err(|e| BenchError::Admin {
                    what: what.clone(),
                    detail: e.to_string(),
                })?;
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(BenchError::Admin {
                    what,
                    detail: format!("HTTP {status}: {body}"),
                });
            }
        }
        Ok(())
    }

    /// Waits until `wanted` Triggers in the `default` namespace report `Ready=True`.
    pub async fn wait_triggers_ready(
        &self,
        wanted: usize,
        timeout: Duration,
    ) -> Result<(), BenchError> {
        let url = format!("{}/api/v1/namespaces/default/triggers", self.admin);
        let started = Instant::now();
        loop {
            let ready = match self.http.get(&url).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .map(|list| count_ready(&list))
                    .unwrap_or(0),
                Err(_) => 0,
            };
            if ready >= wanted {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(BenchError::TriggersNotReady {
                    waited_s: timeout.as_secs(),
                    ready,
                    wanted,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(mut self) -> Result<(), BenchError> {
        if let Some(status) = self.child.try_wait().ok().flatten() {
            return Err(BenchError::HeraldStop(format!(
                "it had already exited ({status}); its log ends with:\n{}",
                log_tail(&self.log_path)
            )));
        }
        // SAFETY: kill(2) with a plain signal on our own child, which has not been reaped.
        unsafe { libc::kill(self.probe.pid as libc::pid_t, libc::SIGTERM) };
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(BenchError::HeraldStop(format!(
                "{status}; its log ends with:\n{}",
                log_tail(&self.log_path)
            ))),
            Ok(Err(e)) => Err(BenchError::HeraldStop(format!("waiting for it: {e}"))),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(BenchError::HeraldStop(format!(
                    "it did not exit within {STOP_TIMEOUT:?} of SIGTERM"
                )))
            }
        }
    }
}

/// The value of `name=` in the address line.
fn field(line: &str, name: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_string)
}

/// How many items of a resource list have a `Ready` condition with status `True`.
fn count_ready(list: &Value) -> usize {
    list["items"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter(|item| {
                item["status"]["conditions"]
                    .as_array()
                    .is_some_and(|conditions| {
                        conditions
                            .iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
            .count()
    })
}

fn log_tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_addresses_from_the_listening_line() {
        let line = "herald listening ingress=http://127.0.0.1:4000 admin=http://127.0.0.1:4001\n";
        assert_eq!(
            field(line, "ingress").as_deref(),
            Some("http://127.0.0.1:4000")
        );
        assert_eq!(
            field(line, "admin").as_deref(),
            Some("http://127.0.0.1:4001")
        );
        assert_eq!(field(line, "metrics"), None);
    }

    #[test]
    fn counts_only_ready_items() {
        let list = json!({"items": [
            {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
            {"status": {}},
            {}
        ]});
        assert_eq!(count_ready(&list), 1);
        assert_eq!(count_ready(&json!({})), 0);
    }
}
