//! The `tally` processes a bench starts from the executable of its [`Setup`], with the same
//! config: `tally migrate`, an ingest node (`tally serve --roles ingest`) with the benchmark
//! baseline enabled, an aggregator (`tally serve --roles meter`) and an API node
//! (`tally serve --roles api`), each serving HTTP on a free loopback port. A node is killed if
//! the bench fails or drops it, and stopped with SIGTERM otherwise.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::StatusCode;
use tokio::process::{Child, Command};

use crate::{Setup, http, progress};

/// How long a node may take to answer `/readyz` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between readiness checks.
const READY_POLL: Duration = Duration::from_millis(100);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A `tally` command running the setup's executable with its config file, if any.
fn tally(setup: &Setup) -> Command {
    let mut command = Command::new(&setup.executable);
    if let Some(path) = &setup.config_path {
        command.arg("--config").arg(path);
    }
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

/// Runs `tally migrate` and insists that it succeeds.
pub async fn migrate(setup: &Setup) -> anyhow::Result<()> {
    let output = tally(setup)
        .arg("migrate")
        .output()
        .await
        .context("cannot run tally migrate")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr.lines().rev().find(|line| !line.trim().is_empty());
        bail!(
            "tally migrate failed ({}): {}",
            output.status,
            reason.unwrap_or("no message")
        );
    }
    Ok(())
}

/// Limits the node must allow for the bench's requests.
pub struct NodeLimits {
    /// Events per request.
    pub batch_events: usize,
    /// Bytes per event.
    pub event_bytes: usize,
    /// Bytes per request body.
    pub body_bytes: usize,
}

impl Node {
    /// Starts an ingest node (`tally serve --roles ingest`, with the benchmark baseline) that
    /// allows the bench's requests.
    pub async fn ingest(setup: &Setup, limits: &NodeLimits) -> anyhow::Result<Self> {
        let mut command = tally(setup);
        command
            .args(["serve", "--roles", "ingest"])
            .env("TALLY__INGEST__BENCH_BASELINE", "true")
            .env(
                "TALLY__INGEST__MAX_BATCH_EVENTS",
                limits.batch_events.max(1000).to_string(),
            )
            .env(
                "TALLY__INGEST__MAX_EVENT_BYTES",
                limits.event_bytes.max(64 * 1024).to_string(),
            )
            .env(
                "TALLY__INGEST__MAX_BODY_BYTES",
                (limits.body_bytes * 2).max(5 * 1024 * 1024).to_string(),
            );
        Self::start(command, "the ingest node").await
    }

    /// Starts an aggregator (`tally serve --roles meter`) in consumer group `group_id`. Being
    /// ready does not mean it has joined the group yet: only a counted event says that.
    pub async fn meter(setup: &Setup, group_id: &str) -> anyhow::Result<Self> {
        let mut command = tally(setup);
        command
            .args(["serve", "--roles", "meter"])
            .env("TALLY__METER__GROUP_ID", group_id);
        Self::start(command, "the aggregator").await
    }

    /// Starts an ingest node that allows the bench's requests, as [`Node::ingest`] does, and
    /// an aggregator in a consumer group of the bench's own (the configured group, suffixed
    /// with the topic prefix), and reports both; returns the ingest node, then the aggregator.
    pub async fn ingest_and_aggregator(
        setup: &Setup,
        limits: &NodeLimits,
    ) -> anyhow::Result<(Self, Self)> {
        let group_id = format!(
            "{}-bench-{}",
            setup.meter.group_id,
            setup.kafka.topic_prefix.trim_end_matches('.')
        );
        progress("starting an ingest node and an aggregator");
        let ingest = Self::ingest(setup, limits).await?;
        let aggregator = Self::meter(setup, &group_id).await?;
        progress(&format!(
            "ingest node {} listens on {}; aggregator {} consumes as group {group_id}",
            ingest.pid(),
            ingest.address(),
            aggregator.pid(),
        ));
        Ok((ingest, aggregator))
    }

    /// Starts an API node (`tally serve --roles api`: GraphQL at `/graphql`) with per-key
    /// request limits too high to throttle the bench.
    pub async fn api(setup: &Setup) -> anyhow::Result<Self> {
        let mut command = tally(setup);
        command
            .args(["serve", "--roles", "api"])
            .env("TALLY__API__RATE_PER_KEY_PER_SEC", "100000000")
            .env("TALLY__API__BURST_PER_KEY", "100000000");
        Self::start(command, "the API node").await
    }

    /// The node's process id, to read its CPU time.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The node's HTTP address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

/// A `tally serve` child started by the bench, on a free loopback port, ready (`/readyz`
/// answered 200): its process, and the address it serves HTTP on.
pub struct Node {
    child: Child,
    pid: u32,
    address: SocketAddr,
    /// What it is, in messages: "the ingest node".
    name: &'static str,
}

impl Node {
    /// Spawns `command` (a `tally serve …`) on a free loopback port, quiet but for warnings,
    /// and waits until it is ready.
    async fn start(mut command: Command, name: &'static str) -> anyhow::Result<Self> {
        let address = free_loopback_address()?;
        command
            .env("TALLY__HTTP__LISTEN", address.to_string())
            .env("TALLY__LOG__FILTER", "warn")
            .stdout(Stdio::null());
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let pid = child
            .id()
            .with_context(|| format!("{name} exited at once"))?;
        let mut node = Self {
            child,
            pid,
            address,
            name,
        };
        node.wait_ready().await?;
        Ok(node)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited before it was ready ({status})", self.name);
            }
            let last = match http::get_status(self.address, "/readyz").await {
                Ok(StatusCode::OK) => return Ok(()),
                Ok(status) => format!("/readyz answered {status}"),
                Err(error) => format!("{error:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "{} was not ready within {} s: {last}",
                    self.name,
                    READY_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Sends SIGTERM and waits for the node to drain and exit; kills it if it takes too long.
    pub async fn stop(mut self) -> anyhow::Result<ExitStatus> {
        let signalled = Command::new("kill")
            .args(["-s", "TERM", &self.pid.to_string()])
            .status()
            .await
            .context("cannot run kill")?;
        if signalled.success()
            && let Ok(status) = tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await
        {
            return Ok(status?);
        }
        self.child
            .kill()
            .await
            .with_context(|| format!("cannot kill {}", self.name))?;
        bail!(
            "{} did not stop within {} s of SIGTERM and was killed",
            self.name,
            STOP_TIMEOUT.as_secs()
        )
    }
}

/// A loopback address whose port was free a moment ago.
fn free_loopback_address() -> anyhow::Result<SocketAddr> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free loopback port")?;
    Ok(listener.local_addr()?)
}
