//! What every end-to-end test needs: the services' addresses, a private namespace in each
//! store, and a way to run the `tally` binary against it.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use tally_meter::api_key::Scope;
use tally_meter::ids::TenantId;
use tally_testkit::Namespace;
pub use tally_testkit::kafka::{read_events, read_topic};
use tokio::process::{Child, Command};

pub mod bench;
mod eventually;

pub use eventually::{eventually, eventually_holds};

/// Upper bound for one run of a one-shot command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `tally serve` may take to bind its port and answer `/healthz`, both together.
const SERVE_STARTS_WITHIN: Duration = Duration::from_secs(30);

/// A private namespace in each store for one test (a [`Namespace`], whose fields and store
/// handles it dereferences to), and the `tally` binary pointed at it.
pub struct TestEnv(Namespace);

impl Deref for TestEnv {
    type Target = Namespace;

    fn deref(&self) -> &Namespace {
        &self.0
    }
}

impl DerefMut for TestEnv {
    fn deref_mut(&mut self) -> &mut Namespace {
        &mut self.0
    }
}

impl TestEnv {
    /// Creates an empty namespace, as before `tally migrate`: for tests of migrations.
    pub async fn new() -> Self {
        Self(Namespace::empty().await)
    }

    /// Creates a namespace with every store ready, as after `tally migrate`.
    pub async fn migrated() -> Self {
        Self(Namespace::migrated().await)
    }

    /// Names a namespace without creating it, for a test that changes a setting first (then
    /// [`Namespace::create_migrated`]).
    pub fn named() -> Self {
        Self(Namespace::named())
    }

    /// Returns a `tally` command configured for this test's namespace only.
    pub fn tally(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
        command
            .current_dir(std::env::temp_dir())
            .env(
                "TALLY__POSTGRES__URL",
                secrecy::ExposeSecret::expose_secret(&self.postgres.url),
            )
            .env("TALLY__CLICKHOUSE__URL", &self.clickhouse.url)
            .env("TALLY__CLICKHOUSE__DATABASE", &self.clickhouse.database)
            .env("TALLY__KAFKA__BROKERS", &self.kafka.brokers)
            .env("TALLY__KAFKA__TOPIC_PREFIX", &self.kafka.topic_prefix)
            .env(
                "TALLY__KAFKA__PARTITIONS",
                self.kafka.partitions.to_string(),
            )
            // A group per test: aggregators of other tests never join its rebalances.
            .env("TALLY__METER__GROUP_ID", self.meter_group_id())
            .env("TALLY__LOG__FORMAT", "json")
            .kill_on_drop(true);
        command
    }

    /// Runs `tally ARGS…` to completion and returns what it printed.
    pub async fn run(&self, args: &[&str]) -> Output {
        run_bounded(self.tally().args(args)).await
    }

    /// Runs `tally ARGS…`, insisting that it fails with an error that `says` something, and
    /// returns its standard error.
    pub async fn run_refused(&self, args: &[&str], says: &str) -> String {
        let output = self.run(args).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "tally {args:?} succeeded");
        assert!(stderr.contains(says), "tally {args:?}: {stderr}");
        stderr
    }

    /// Runs `tally ARGS…`, insisting that it succeeds, and returns its standard output.
    pub async fn run_ok(&self, args: &[&str]) -> String {
        let output = self.run(args).await;
        assert!(
            output.status.success(),
            "tally {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("output is UTF-8")
    }
}

/// The arguments of `tally meter create` for the tenant's meter `key`, counting `event_type`
/// events with `aggregation`, then `more` (such as `--value`).
pub fn meter_create<'a>(
    tenant: &'a str,
    key: &'a str,
    event_type: &'a str,
    aggregation: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "meter",
        "create",
        "--tenant",
        tenant,
        "--key",
        key,
        "--event-type",
        event_type,
        "--aggregation",
        aggregation,
    ];
    args.extend(more);
    args
}

/// The arguments of a command line written as plain words, such as `bench query --tenants 3`:
/// split at white space, with no quoting.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Runs a command to completion under [`COMMAND_TIMEOUT`].
pub async fn run_bounded(command: &mut Command) -> Output {
    tokio::time::timeout(COMMAND_TIMEOUT, command.output())
        .await
        .expect("command finished in time")
        .expect("command started")
}

/// Returns a loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("can bind a loopback port")
}

/// A `tally serve` process started by a test; killed when dropped, even if the test fails.
pub struct Serve {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The file its log (standard error) goes to.
    pub log: PathBuf,
}

impl Serve {
    /// Stops the process with SIGTERM, as a supervisor would, and waits up to 20 s for it to
    /// finish what it was doing and exit.
    pub async fn terminate(&mut self) {
        self.sigterm();
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the process stops within 20 s of SIGTERM")
            .expect("waits for the process");
    }

    /// Sends the process SIGTERM.
    pub fn sigterm(&self) {
        let pid = self.child.id().expect("the process runs").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("runs kill");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// The value of one series of the process's `/metrics`, written as Prometheus prints it
    /// (`name{label="value"}`); 0 before the series exists.
    pub async fn metric(&self, series: &str) -> f64 {
        let metrics = reqwest::get(format!("{}/metrics", self.base))
            .await
            .expect("the process serves /metrics")
            .text()
            .await
            .expect("metrics are text");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |value| value.trim().parse().expect("a number"))
    }

    /// Whether the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("can poll the process")
            .is_none()
    }
}

impl TestEnv {
    /// Creates a tenant with a random name and a key of the given scope; returns both.
    pub async fn tenant_with_key(&self, scope: Scope) -> (TenantId, String) {
        tally_testkit::store::tenant_with_key(&self.catalog().await, scope).await
    }

    /// The consumer group of the test's aggregators.
    pub fn meter_group_id(&self) -> String {
        format!("tally-meter-{}", self.id)
    }

    /// Issues another key of the given scope to a tenant; returns its secret.
    pub async fn key_for(&self, tenant: TenantId, scope: Scope) -> String {
        tally_testkit::store::key_for(&self.catalog().await, tenant, scope).await
    }

    /// Starts `tally serve --roles ROLES` with extra env vars on port 0, reads the port it
    /// bound from its log, and waits until `/healthz` answers. Its log goes to
    /// `$TMPDIR/tally-test-ID-serve-N.log`.
    pub async fn serve(&self, roles: &str, env: &[(&str, &str)]) -> Serve {
        let log_path = std::env::temp_dir().join(format!(
            "tally-test-{}-serve-{}.log",
            self.id,
            tally_testkit::random_id()
        ));
        let log = std::fs::File::create(&log_path).expect("creates the serve log");
        let mut command = self.tally();
        command
            .env("TALLY__HTTP__LISTEN", "127.0.0.1:0")
            .env("TALLY__LOG__FORMAT", "pretty")
            .args(["serve", "--roles", roles])
            .stdout(Stdio::null())
            .stderr(log);
        // The web UI's browser bundle, when the test run built one (scripts/test.sh).
        if let Ok(bundle) = std::env::var("TALLY_TEST_WEB_PKG") {
            command.env("TALLY__WEB__PKG_DIR", bundle);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starts tally serve");
        let started = Instant::now();
        let address = eventually(SERVE_STARTS_WITHIN, Duration::from_millis(50), || {
            std::future::ready(bound_address(&log_path, &mut child))
        })
        .await;
        let base = format!("http://{address}");
        let healthz = format!("{base}/healthz");
        eventually_holds(
            SERVE_STARTS_WITHIN.saturating_sub(started.elapsed()),
            Duration::from_millis(100),
            "tally serve did not answer within 30 s",
            async || reqwest::get(&healthz).await.is_ok(),
        )
        .await;
        Serve {
            child,
            base,
            log: log_path,
        }
    }

    /// Starts `tally serve --roles ROLES` as [`TestEnv::serve`] does, with ingest reloading
    /// limits, types and quota usage every second (`TALLY__INGEST__REFRESH_SECS=1`), for tests
    /// that change them or read them back soon after sending.
    pub async fn serve_refreshing(&self, roles: &str) -> Serve {
        self.serve(roles, &[("TALLY__INGEST__REFRESH_SECS", "1")])
            .await
    }
}

/// The address `tally serve` logged once bound, or what its log says so far; panics if the
/// process exited before it bound.
fn bound_address(log_path: &Path, child: &mut Child) -> Result<String, String> {
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    if let Some(address) = serving_address(&log) {
        return Ok(address.to_owned());
    }
    if let Ok(Some(status)) = child.try_wait() {
        panic!("tally serve exited ({status}) before serving:\n{log}");
    }
    Err(format!("tally serve did not bind within 30 s:\n{log}"))
}

/// Finds the address in the log line `tally serve` writes once bound, such as
/// `… INFO tally::serve: tally is serving address=127.0.0.1:40123 roles=api`.
fn serving_address(log: &str) -> Option<&str> {
    let line = log.lines().find(|line| line.contains("tally is serving"))?;
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
}

/// Reads a `Vm…` line of the process's `/proc/PID/status`, in bytes.
pub fn memory(serve: &Serve, field: &str) -> u64 {
    let pid = serve.child.id().expect("tally serve is running");
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reads /proc/PID/status");
    let kilobytes: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kilobytes * 1024
}
