//! What the bench tests read from the tables `tally bench …` prints, and the brief
//! `tally bench e2e` run two of them make.

use super::{TestEnv, words};

/// Runs `tally bench e2e` briefly, insisting that it succeeds: two tenants at 2,000 events/s
/// for `duration` seconds after a one-second warm-up, then the flags `more`. Returns its
/// standard output.
pub async fn run_bench_e2e(env: &TestEnv, duration: &str, more: &[&str]) -> String {
    let mut args = words("bench e2e --rate 2000 --warmup 1 --tenants 2 --duration");
    args.push(duration);
    args.extend(more);
    env.run_ok(&args).await
}

/// The cells after `label` on the first line starting with it.
fn cells<'a>(stdout: &'a str, label: &str) -> Option<std::str::SplitWhitespace<'a>> {
    let line = stdout.lines().find(|line| line.starts_with(label))?;
    Some(line[label.len()..].split_whitespace())
}

/// A cell as a number, without its thousands separators; `None` for `n/a` and text.
fn number(cell: &str) -> Option<f64> {
    cell.replace(',', "").parse().ok()
}

/// The first number after `label` on the first line starting with it.
pub fn first_figure(stdout: &str, label: &str) -> Option<f64> {
    number(cells(stdout, label)?.next()?)
}

/// The figure at the end of the first line starting with `label`.
pub fn last_figure(stdout: &str, label: &str) -> Option<f64> {
    number(cells(stdout, label)?.last()?)
}

/// The numbers after `label` on the first line starting with it (blank cells are left out).
pub fn figures(stdout: &str, label: &str) -> Vec<f64> {
    cells(stdout, label)
        .map(|cells| cells.filter_map(number).collect())
        .unwrap_or_default()
}

/// Asserts that the numbers after `label` on the first line starting with it are `expected`,
/// showing the whole output otherwise.
pub fn assert_figures(stdout: &str, label: &str, expected: &[f64]) {
    assert_eq!(figures(stdout, label), expected, "{label}: {stdout}");
}

/// Asserts that the first number after `label` on the first line starting with it is
/// `expected`, showing the whole output otherwise.
pub fn assert_first_figure(stdout: &str, label: &str, expected: f64) {
    assert_eq!(
        first_figure(stdout, label),
        Some(expected),
        "{label}: {stdout}"
    );
}
