//! A Kafka-protocol broker (tansu) of a test's own, to kill and restart.

use std::process::Stdio;
use std::time::Duration;

use tally_testkit::service_env;
use tokio::process::Command;

use super::own_process::OwnProcess;
use crate::e2e::support::{eventually_holds, free_port};

/// A Kafka-protocol broker (tansu) of the test's own, which the test may stop and restart
/// without disturbing other tests; its data lives in a SQLite file that survives restarts.
pub struct OwnBroker {
    /// `127.0.0.1:PORT`.
    pub address: String,
    process: OwnProcess,
}

impl OwnBroker {
    /// Starts a broker on a free port with its data in a fresh directory.
    pub async fn start() -> Self {
        let mut broker = Self {
            address: format!("127.0.0.1:{}", free_port()),
            process: OwnProcess::new("tansu", "broker"),
        };
        broker.resume().await;
        broker
    }

    /// Kills the broker at once, as a crash would.
    pub async fn kill(&mut self) {
        self.process.kill().await;
    }

    /// Starts the broker again on the same port with the same data, and waits until it listens.
    pub async fn resume(&mut self) {
        let url = format!("tcp://{}", self.address);
        self.process.spawn(
            Command::new(service_env("TALLY_TEST_TANSU_BIN"))
                .current_dir(self.process.directory())
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
                .stderr(Stdio::null()),
        );
        eventually_holds(
            Duration::from_secs(20),
            Duration::from_millis(50),
            "tansu did not listen within 20 s",
            async || tokio::net::TcpStream::connect(&self.address).await.is_ok(),
        )
        .await;
    }
}
