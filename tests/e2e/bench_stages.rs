//! `tally bench e2e`'s stage breakdown: every stage of a canary's path is printed with figures
//! measured by the bench or read from the nodes' `/metrics`, and the stages' means add up to
//! the canaries' mean ingest-to-queryable within 10 %.

use super::support::TestEnv;
use super::support::bench::{last_figure, run_bench_e2e};

/// The cells after the label of the breakdown row `label` (per, count, p50, p95, p99, mean),
/// numbers or `None` (`n/a`, or the `per` cell).
fn row(stdout: &str, label: &str) -> Vec<Option<f64>> {
    let line = stdout
        .lines()
        .find(|line| line.chars().take(40).collect::<String>().trim_end() == label)
        .unwrap_or_else(|| panic!("no breakdown row {label:?}: {stdout}"));
    line.chars()
        .skip(40)
        .collect::<String>()
        .split_whitespace()
        .map(|cell| cell.replace(',', "").parse().ok())
        .collect()
}

#[tokio::test]
async fn bench_e2e_breaks_the_latency_down_into_stages_that_add_up() {
    let env = TestEnv::migrated().await;
    // It runs alone (`.config/nextest.toml`): the load of other tests skews the means.
    let stdout = run_bench_e2e(&env, "6", &["--canary-interval-ms", "50"]).await;

    // Measured by the bench, from the ingest node's and from the aggregator's /metrics.
    for label in [
        "request → ack (ingest)",
        "  produced → fetched",
        "  produce → ack",
        "fetched → pass starts (gather wait)",
        "meters reload",
        "dedup lookup",
        "row building",
        "insert event_positions",
        "insert events_raw",
        "insert rollup_writes",
        "rows written → seen by a query",
        "ingest-to-queryable",
        "insert usage_hour",
        "commit",
    ] {
        let cells = row(&stdout, label);
        assert_eq!(cells.len(), 6, "{label}: {stdout}");
        let (count, mean) = (cells[1], cells[5]);
        assert!(count.is_some_and(|count| count > 0.0), "{label}: {stdout}");
        assert!(mean.is_some_and(|mean| mean >= 0.0), "{label}: {stdout}");
        for quantile in &cells[2..5] {
            assert!(quantile.is_some(), "{label}: {stdout}");
        }
    }
    // Known by its mean only: produced → fetched minus produce → ack.
    let ack_to_fetched = row(&stdout, "ack → fetched (consumer lag)");
    assert!(ack_to_fetched[5].is_some(), "{stdout}");
    let whole = row(&stdout, "ingest-to-queryable")[5].expect("a mean");
    let sum = last_figure(&stdout, "sum of the stages (means)").expect("a sum");
    let ratio = last_figure(&stdout, "stages / ingest-to-queryable").expect("a ratio");
    assert!(
        (0.9..=1.1).contains(&ratio),
        "the stages add up to {sum} ms of {whole} ms: {stdout}"
    );
    assert!((sum / whole - ratio).abs() < 0.01, "{stdout}");
    assert!(!stdout.contains("!! the stages add up"), "{stdout}");
}
