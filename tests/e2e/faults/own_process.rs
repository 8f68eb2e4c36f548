//! What the test's own broker and ClickHouse have in common: a server process with its data in
//! a private directory, which the test may kill (a crash) and start again on the same data.

use std::path::{Path, PathBuf};

use tokio::process::{Child, Command};
use uuid::Uuid;

/// A server process of the test's own and its data directory; the process is killed, and the
/// directory removed, when dropped.
pub struct OwnProcess {
    /// What the process is, for failure messages: `the broker`, `clickhouse-server`.
    name: &'static str,
    directory: PathBuf,
    child: Option<Child>,
}

impl OwnProcess {
    /// Makes a fresh directory `tally-KIND-RANDOM` under the temporary directory; nothing runs
    /// until [`OwnProcess::spawn`].
    pub fn new(name: &'static str, kind: &str) -> Self {
        let directory =
            std::env::temp_dir().join(format!("tally-{kind}-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&directory)
            .unwrap_or_else(|error| panic!("creates the directory of {name}: {error}"));
        Self {
            name,
            directory,
            child: None,
        }
    }

    /// The directory the process keeps its data in.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Starts `command` as the process, to be killed when this is dropped.
    pub fn spawn(&mut self, command: &mut Command) {
        let child = command
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("starts {}: {error}", self.name));
        self.child = Some(child);
    }

    /// Kills the process at once, as a crash would, and waits until it has exited.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child
                .kill()
                .await
                .unwrap_or_else(|error| panic!("kills {}: {error}", self.name));
        }
    }
}

impl Drop for OwnProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}
