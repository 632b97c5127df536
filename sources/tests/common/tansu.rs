//! A real Kafka-protocol broker for the KafkaSource tests: a `tansu` process on a free port, with
//! in-memory storage, killed when dropped. The binary comes from `TANSU_BIN` (`tests/tansu`
//! prints a path for it).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running tansu broker.
pub struct Tansu {
    child: Child,
    bootstrap: String,
}

impl Tansu {
    /// Starts tansu when `TANSU_BIN` is set, waiting until it accepts connections. `None` (with
    /// a message on stderr) when it is not set.
    pub async fn start() -> Option<Tansu> {
        let Some(bin) = std::env::var_os("TANSU_BIN").filter(|b| !b.is_empty()) else {
            eprintln!(
                "TANSU_BIN is not set: skipping the real Kafka-protocol broker part of this test \
                 (run `export TANSU_BIN=$(tests/tansu)` to include it); the mock cluster part ran"
            );
            return None;
        };
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            listener.local_addr().expect("local address").port()
        };
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/", "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.to_string_lossy()));
        let tansu = Tansu {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(&tansu.bootstrap)
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "tansu did not accept connections on {} within 30 s",
                tansu.bootstrap
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(tansu)
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
