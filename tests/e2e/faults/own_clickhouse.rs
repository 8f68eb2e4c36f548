//! A ClickHouse server of the test's own, which the test may stop (an outage) and start again
//! on the same ports with the same data, without disturbing the shared server other tests use.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::e2e::support::free_port;

/// A private ClickHouse server; killed, and its directory removed, when dropped.
pub struct OwnClickHouse {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    directory: PathBuf,
    child: Option<Child>,
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
        let directory =
            std::env::temp_dir().join(format!("tally-clickhouse-{}", Uuid::new_v4().simple()));
        let http_port = free_port();
        write_config(&directory, http_port, free_port());
        let mut server = Self {
            url: format!("http://127.0.0.1:{http_port}"),
            directory,
            child: None,
        };
        server.resume().await;
        server
    }

    /// Kills the server at once, as a crash would, and waits until it has exited.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kills clickhouse-server");
        }
    }

    /// Starts the server again on the same ports with the same data, and waits for `/ping`.
    pub async fn resume(&mut self) {
        let log_path = self.directory.join("clickhouse.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("opens the ClickHouse log");
        let child = server_command()
            .arg(format!(
                "--config-file={}",
                self.directory.join("config.xml").display()
            ))
            .current_dir(&self.directory)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clones the log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("starts clickhouse-server");
        self.child = Some(child);
        let client = reqwest::Client::new();
        let ping = format!("{}/ping", self.url);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = client
                .get(&ping)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answer.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            if Instant::now() >= deadline {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: String = text.lines().rev().take(30).collect::<Vec<_>>().join("\n");
                panic!(
                    "clickhouse-server did not answer /ping within 30 s; log (newest first):\n{tail}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for OwnClickHouse {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.directory);
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
