//! Runs the real `herald` binary: `serve` in a child process on ephemeral ports (read from the
//! line it prints on stdout), and client commands.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The `herald` binary next to the test executable (target/<profile>/herald), or `$HERALD_BIN`.
pub fn herald_bin() -> PathBuf {
    if let Ok(path) = std::env::var("HERALD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> -> target/<profile>/herald
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let bin = profile_dir.join("herald");
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build -p herald-broker --bin herald)",
        bin.display()
    );
    bin
}

/// A running `herald serve`.
pub struct Herald {
    child: Child,
    pub ingress: String,
    pub admin: String,
    pub data_dir: PathBuf,
}

impl Herald {
    /// Starts `herald serve` with the given data directory and extra flags, on ports 0.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Herald {
        let mut child = Command::new(herald_bin())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env(
                "HERALD_LOG",
                std::env::var("HERALD_LOG").unwrap_or("info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log_file(data_dir))
            .spawn()
            .expect("herald starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("herald prints its addresses");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("herald did not print {name}= (got {line:?})"))
                .to_string()
        };
        Herald {
            ingress: field("ingress"),
            admin: field("admin"),
            child,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// What the server logged so far (its stderr).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(log_path(&self.data_dir)).unwrap_or_default()
    }

    /// The ingress URL of a broker.
    pub fn broker_url(&self, namespace: &str, broker: &str) -> String {
        format!("{}/{namespace}/{broker}", self.ingress)
    }

    /// Runs a client command against this Herald's admin API.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(herald_bin())
            .args(args)
            .env("HERALD_SERVER", &self.admin)
            .output()
            .expect("the herald client runs")
    }

    /// Applies YAML manifests with `herald apply -f`; panics with the CLI's output if it fails.
    pub fn apply(&self, yaml: &str) {
        let file = tempfile::Builder::new()
            .suffix(".yaml")
            .tempfile()
            .expect("a temp file");
        std::fs::write(file.path(), yaml).expect("write manifest");
        let out = self.cli(&["apply", "-f", file.path().to_str().expect("utf-8 path")]);
        assert!(
            out.status.success(),
            "herald apply failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// SIGTERM, then wait for a graceful exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a plain signal number on our own, not yet reaped, child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        wait_with_timeout(&mut self.child, Duration::from_secs(30))
    }

    /// SIGKILL: the process dies at once, with no chance to flush anything.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9 the child");
        let _ = self.child.wait();
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.with_extension("log")
}

/// Appends the server's stderr to a file beside its data directory (kept across restarts).
fn log_file(data_dir: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(data_dir))
        .expect("open the server log file")
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waiting on herald") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "herald did not exit within {timeout:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
