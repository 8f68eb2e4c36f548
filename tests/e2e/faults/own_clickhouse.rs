//! A ClickHouse server of the test's own, which the test may stop (an outage) and start again
//! on the same ports with the same data, without disturbing the shared server other tests use.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::own_process::OwnProcess;
use crate::e2e::support::{eventually, free_port};

/// A private ClickHouse server; killed, and its directory removed, when dropped.
pub struct OwnClickHouse {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    process: OwnProcess,
}

/// The server command: `TALLY_TEST_CLICKHOUSE_BIN`, else where `scripts/services.sh` looks.
fn server_command() -> Command {
    let binary = std::env::var_os("TALLY_TEST_CLICKHOUSE_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            [
                "/usr/bin/clickhouse-server",
                "/usr/sbin/clickhouse-server",
                "/usr/bin/clickhouse",
            ]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.is_file())
        })
        .expect("clickhouse-server is installed (run scripts/install.sh)");
    let mut command = Command::new(&binary);
    if binary.file_name().is_some_and(|name| name == "clickhouse") {
        command.arg("server");
    }
    command
}

/// Writes the same config.xml and users.xml as `scripts/services.sh`.
fn write_config(dir: &Path, http_port: u16, tcp_port: u16) {
    let d = dir.display();
    let config = format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/clickhouse.log</log>
    <errorlog>{d}/clickhouse-server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <timezone>UTC</timezone>
</yandex>
"#
    );
    let users = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default/></profiles>
  <quotas><default/></quotas>
  <users><default>
    <password></password>
    <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota>
  </default></users>
</yandex>
"#;
    for sub in ["data", "tmp", "user_files"] {
        std::fs::create_dir_all(dir.join(sub)).expect("creates the ClickHouse directories");
    }
    std::fs::write(dir.join("config.xml"), config).expect("writes config.xml");
    std::fs::write(dir.join("users.xml"), users).expect("writes users.xml");
}

impl OwnClickHouse {
    /// Starts a server on free HTTP and TCP ports with its data in a fresh directory, and
    /// waits until it answers `/ping`.
    pub async fn start() -> Self {
        let process = OwnProcess::new("clickhouse-server", "clickhouse");
        let http_port = free_port();
        write_config(process.directory(), http_port, free_port());
        let mut server = Self {
            url: format!("http://127.0.0.1:{http_port}"),
            process,
        };
        server.resume().await;
        server
    }

    /// Kills the server at once, as a crash would, and waits until it has exited.
    pub async fn stop(&mut self) {
        self.process.kill().await;
    }

    /// Starts the server again on the same ports with the same data, and waits for `/ping`.
    pub async fn resume(&mut self) {
        let directory = self.process.directory();
        let log_path = directory.join("clickhouse.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("opens the ClickHouse log");
        let mut command = server_command();
        command
            .arg(format!(
                "--config-file={}",
                directory.join("config.xml").display()
            ))
            .current_dir(directory)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clones the log handle"))
            .stderr(log);
        self.process.spawn(&mut command);
        let client = reqwest::Client::new();
        let ping = format!("{}/ping", self.url);
        eventually(Duration::from_secs(30), Duration::from_millis(100), async || {
            let answer = client
                .get(&ping)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answer.is_ok_and(|response| response.status().is_success()) {
                return Ok(());
            }
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: String = text.lines().rev().take(30).collect::<Vec<_>>().join("\n");
            Err(format!(
                "clickhouse-server did not answer /ping within 30 s; log (newest first):\n{tail}"
            ))
        })
        .await;
    }
}

/// Runs one statement over HTTP; the response body, or the error if the server is down.
async fn query(url: &str, sql: &str) -> reqwest::Result<String> {
    let response = reqwest::Client::new()
        .post(url)
        .timeout(Duration::from_secs(10))
        .body(sql.to_owned())
        .send()
        .await?;
    response.error_for_status()?.text().await
}

#[tokio::test]
async fn own_clickhouse_survives_a_restart_with_its_data() {
    let mut server = OwnClickHouse::start().await;
    for sql in [
        "CREATE DATABASE own",
        "CREATE TABLE own.rows (id UInt32) ENGINE = MergeTree ORDER BY id",
        "INSERT INTO own.rows VALUES (42)",
    ] {
        query(&server.url, sql).await.expect(sql);
    }
    server.stop().await;
    assert!(
        query(&server.url, "SELECT 1").await.is_err(),
        "a stopped server answers no queries"
    );
    server.resume().await;
    let rows = query(&server.url, "SELECT id FROM own.rows")
        .await
        .expect("selects after restart");
    assert_eq!(rows, "42\n");
}
