//! A Kafka-protocol broker (tansu) of a test's own, to kill and restart.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tally_testkit::service_env;
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::e2e::support::free_port;

/// A Kafka-protocol broker (tansu) of the test's own, which the test may stop and restart
/// without disturbing other tests; its data lives in a SQLite file that survives restarts.
pub struct OwnBroker {
    /// `127.0.0.1:PORT`.
    pub address: String,
    directory: std::path::PathBuf,
    child: Option<Child>,
}

impl OwnBroker {
    /// Starts a broker on a free port with its data in a fresh directory.
    pub async fn start() -> Self {
        let directory =
            std::env::temp_dir().join(format!("tally-broker-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&directory).expect("creates the broker directory");
        let mut broker = Self {
            address: format!("127.0.0.1:{}", free_port()),
            directory,
            child: None,
        };
        broker.resume().await;
        broker
    }

    /// Kills the broker at once, as a crash would.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kills the broker");
        }
    }

    /// Starts the broker again on the same port with the same data, and waits until it listens.
    pub async fn resume(&mut self) {
        let url = format!("tcp://{}", self.address);
        let child = Command::new(service_env("TALLY_TEST_TANSU_BIN"))
            .current_dir(&self.directory)
            .env("RUST_LOG", "warn")
            // The SQLite path must be relative: tansu mangles absolute ones.
            .args([
                "broker",
                "--silent",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starts tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&self.address).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}
