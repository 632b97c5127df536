//! A nats-server of the benchmark's own for the jetstream-fsync scenario: JetStream with
//! `sync_interval: always`, so that a publish is acknowledged only after the fsync that covers it,
//! as herald-durable answers 202 only after its group commit's fsync. It listens on an ephemeral
//! 127.0.0.1 port (read from the ports file it writes), keeps its store in the scenario's data
//! directory, and runs on the system-under-test cores from its first instruction.

use super::error::BenchError;
use super::placement::{self, Cpus};
use super::procfs::ProcessProbe;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const START_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The config file: loopback only, an ephemeral port, JetStream syncing every write.
fn config(dir: &Path) -> String {
    format!(
        "listen: \"127.0.0.1:-1\"\nports_file_dir: {dir:?}\n\
         jetstream {{\n  store_dir: {store:?}\n  sync_interval: always\n}}\n",
        dir = dir.display().to_string(),
        store = dir.join("jetstream").display().to_string(),
    )
}

/// The client URL in a ports file (`{"nats":["nats://127.0.0.1:4222"], ...}`).
fn client_url(ports_file: &str) -> Option<String> {
    let ports: serde_json::Value = serde_json::from_str(ports_file).ok()?;
    ports["nats"]
        .as_array()?
        .first()?
        .as_str()
        .map(str::to_owned)
}

/// `nats-server: v2.15.1` → `v2.15.1`.
fn version_of(output: &str) -> Option<String> {
    output
        .split_whitespace()
        .find(|word| word.starts_with('v'))
        .map(str::to_owned)
}

/// A running nats-server started by the benchmark.
pub struct NatsServer {
    child: Child,
    pub url: String,
    pub version: String,
    pub probe: ProcessProbe,
}

impl NatsServer {
    /// Starts `binary` with its config, store and log in `dir`, on `cpus` when given.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        cpus: Option<&Cpus>,
    ) -> Result<NatsServer, BenchError> {
        let version = Command::new(binary)
            .arg("--version")
            .output()
            .await
            .map_err(|source| BenchError::Spawn {
                binary: binary.to_path_buf(),
                source,
            })?;
        let version = version_of(&String::from_utf8_lossy(&version.stdout))
            .ok_or_else(|| nats_start(binary, "`--version` printed no version".into()))?;
        std::fs::create_dir_all(dir)
            .map_err(|e| BenchError::io(format!("creating {}", dir.display()), e))?;
        let config_path = dir.join("nats-server.conf");
        std::fs::write(&config_path, config(dir))
            .map_err(|e| BenchError::io(format!("writing {}", config_path.display()), e))?;
        let log_path = dir.join("nats-server.log");
        let mut command = placement::system_command(binary, cpus, &log_path)?;
        command.arg("-c").arg(&config_path).stdout(Stdio::null());
        let mut child = placement::spawn(command, binary)?;
        let Some(pid) = child.id() else {
            return Err(nats_start(binary, "it exited right after starting".into()));
        };
        let ports_file = dir.join(format!(
            "{}_{pid}.ports",
            binary
                .file_name()
                .map_or("nats-server".into(), |n| n.to_string_lossy())
        ));
        let started = Instant::now();
        let url = loop {
            if let Some(url) = std::fs::read_to_string(&ports_file)
                .ok()
                .and_then(|text| client_url(&text))
            {
                break url;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(nats_start(binary, format!("it exited ({status}): {log}")));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(nats_start(
                    binary,
                    format!("no {} within {START_TIMEOUT:?}", ports_file.display()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Ok(NatsServer {
            child,
            url,
            version,
            probe: ProcessProbe::new(pid),
        })
    }

    /// SIGTERM, then waits for it to exit (killing it after a while).
    pub async fn stop(mut self) -> Result<(), BenchError> {
        // SAFETY: kill(2) with a plain signal on our own child, which has not been reaped.
        unsafe { libc::kill(self.probe.pid as libc::pid_t, libc::SIGTERM) };
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(BenchError::io("waiting for nats-server to exit", e)),
            Err(_) => {
                let _ = self.child.kill().await;
                Ok(())
            }
        }
    }
}

fn nats_start(binary: &Path, detail: String) -> BenchError {
    BenchError::Nats {
        what: format!("starting {}", binary.display()),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_to_loopback_and_syncs_every_write() {
        let text = config(Path::new("/tmp/bench/jetstream-fsync"));
        assert!(text.contains("listen: \"127.0.0.1:-1\""));
        assert!(text.contains("ports_file_dir: \"/tmp/bench/jetstream-fsync\""));
        assert!(text.contains("store_dir: \"/tmp/bench/jetstream-fsync/jetstream\""));
        assert!(text.contains("sync_interval: always"));
    }

    #[test]
    fn reads_the_client_url_and_the_version() {
        assert_eq!(
            client_url(r#"{"nats":["nats://127.0.0.1:35793"],"monitoring":[]}"#).as_deref(),
            Some("nats://127.0.0.1:35793")
        );
        assert_eq!(client_url("{}"), None);
        assert_eq!(client_url("not json"), None);
        assert_eq!(
            version_of("nats-server: v2.15.1\n").as_deref(),
            Some("v2.15.1")
        );
        assert_eq!(version_of("nats-server"), None);
    }
}
