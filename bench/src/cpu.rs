//! CPU time read from Linux's `/proc`: a process's user + system time (all its threads) and
//! the machine's busy time, so a bench can say how much CPU each side of a measured window
//! used.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Clock ticks per second assumed when `getconf CLK_TCK` cannot say (Linux's usual value).
const DEFAULT_TICKS_PER_SEC: u64 = 100;

/// Converts `/proc` clock ticks to time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    ticks_per_sec: u64,
}

impl Clock {
    /// Asks `getconf CLK_TCK` for the tick rate, assuming 100 Hz if it cannot answer.
    pub fn detect() -> Self {
        let ticks_per_sec = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse::<u64>().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(DEFAULT_TICKS_PER_SEC);
        Self { ticks_per_sec }
    }

    fn to_duration(self, ticks: u64) -> Duration {
        Duration::from_secs_f64(ticks as f64 / self.ticks_per_sec as f64)
    }
}

/// CPU counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// When they were read.
    pub at: Instant,
    /// User + system time of the measured process.
    pub process: Duration,
    /// User + system time of this (the bench's) process.
    pub own: Duration,
    /// Time any core of the machine was busy (not idle nor waiting for I/O), summed over cores.
    pub machine_busy: Duration,
}

impl Snapshot {
    /// Reads the counters of process `pid`, of this process and of the machine.
    pub fn take(clock: Clock, pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            at: Instant::now(),
            process: process_time(clock, pid)?,
            own: clock.to_duration(process_ticks("/proc/self/stat")?),
            machine_busy: clock.to_duration(machine_busy_ticks()?),
        })
    }
}

/// User + system time of process `pid` (all its threads).
pub fn process_time(clock: Clock, pid: u32) -> anyhow::Result<Duration> {
    Ok(clock.to_duration(process_ticks(&format!("/proc/{pid}/stat"))?))
}

/// The process of this machine listening on TCP `port`, if one is and its sockets can be
/// read: the socket's inode from `/proc/net/tcp` (or `tcp6`), then the process holding it
/// among the descriptors in `/proc/PID/fd`. How the bench finds the broker and ClickHouse
/// it was pointed at, when they run here, to measure their CPU.
pub fn listening_process(port: u16) -> Option<u32> {
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let sockets: Vec<String> = inodes
        .iter()
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|descriptors| {
                descriptors.filter_map(Result::ok).any(|descriptor| {
                    std::fs::read_link(descriptor.path()).is_ok_and(|target| {
                        sockets
                            .iter()
                            .any(|socket| target.as_os_str() == socket.as_str())
                    })
                })
            })
        })
}

/// The inodes of the sockets listening on `port` in a `/proc/net/tcp` table.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit_once(':')?.1;
            let listening =
                u16::from_str_radix(local_port, 16).ok() == Some(port) && *fields.get(3)? == LISTEN;
            listening.then(|| fields.get(9)?.parse().ok()).flatten()
        })
        .collect()
}

/// Reads utime + stime (fields 14 and 15) from a `/proc/PID/stat` file.
fn process_ticks(path: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    parse_process_ticks(&text).with_context(|| format!("unexpected contents of {path}"))
}

fn parse_process_ticks(stat: &str) -> anyhow::Result<u64> {
    // Field 2, the command name, is in parentheses and may hold spaces and parentheses itself.
    let (_, after_name) = stat.rsplit_once(')').context("no command name")?;
    // `after_name` starts at field 3, so fields 14 and 15 are its 12th and 13th.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> anyhow::Result<u64> {
        let text = fields.get(number - 3).context("too few fields")?;
        text.parse()
            .with_context(|| format!("field {number} is not a number: {text:?}"))
    };
    Ok(field(14)? + field(15)?)
}

/// Reads the busy ticks of all cores from the `cpu` line of `/proc/stat`.
fn machine_busy_ticks() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    parse_machine_busy_ticks(&text).context("unexpected contents of /proc/stat")
}

fn parse_machine_busy_ticks(stat: &str) -> anyhow::Result<u64> {
    let line = stat
        .lines()
        .find(|line| line.starts_with("cpu "))
        .context("no cpu line")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("a cpu counter is not a number")?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    if values.len() < 8 {
        bail!("too few cpu counters");
    }
    let (idle, iowait) = (values[3], values[4]);
    let all: u64 = values[..8].iter().sum();
    Ok(all - idle - iowait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_ticks_are_utime_plus_stime_even_with_odd_command_names() {
        let stat = "4242 (tally (worker) x) S 1 4242 4242 0 -1 4194560 2405 0 0 0 \
                    731 129 0 0 20 0 9 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(parse_process_ticks(stat).expect("parses"), 731 + 129);
        assert!(parse_process_ticks("4242 (tally) S 1 2").is_err());
    }

    #[test]
    fn listening_sockets_are_found_by_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:9A6B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n\
   1: 0100007F:9A6B 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 4 30 10 -1\n\
   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 0x9A6B), [4242]);
        assert_eq!(listening_inodes(table, 8080), [4444]);
        assert!(listening_inodes(table, 1).is_empty());
    }

    #[test]
    fn machine_busy_ticks_leave_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n";
        assert_eq!(
            parse_machine_busy_ticks(stat).expect("parses"),
            100 + 5 + 50 + 3 + 2 + 1
        );
    }
}
