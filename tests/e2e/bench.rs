//! Every `tally bench …`, briefly, against the real services: each sets up what it measures
//! (nodes, load, rules), prints its figures, then suspends its tenants.

use tally_meter::catalog::tenants;
use tally_meter::tenant::TenantStatus;

use super::support::bench::{
    assert_figures, assert_first_figure, figures, first_figure, run_bench_e2e,
};
use super::support::{TestEnv, run_bounded, words};

/// The value of column `column` (0 baseline, 1 ingest, 2 ratio) in the row `label` of the
/// last table printed, as a number.
fn figure(stdout: &str, label: &str, column: usize) -> Option<f64> {
    let line = stdout.lines().rev().find(|line| line.starts_with(label))?;
    let values: Vec<&str> = line[label.len()..].split_whitespace().collect();
    values.get(column)?.replace(',', "").parse().ok()
}

#[tokio::test]
async fn bench_ingest_prints_both_phases_and_their_ratio() {
    let (env, stdout) =
        run_bench("bench ingest --duration 1 --warmup 0 --runs 1 --tenants 2 --concurrency 2")
            .await;

    assert!(stdout.contains("median of 1 run(s)"), "{stdout}");
    for column in [0, 1] {
        let events_per_sec = figure(&stdout, "events/s  ", column);
        assert!(events_per_sec.is_some_and(|value| value > 0.0), "{stdout}");
        let per_core = figure(&stdout, "events/s per ingest-node core", column);
        assert!(per_core.is_some_and(|value| value > 0.0), "{stdout}");
        assert_eq!(
            figure(&stdout, "failed requests", column),
            Some(0.0),
            "{stdout}"
        );
    }
    assert!(
        figure(&stdout, "events/s  ", 2).is_some_and(|ratio| ratio > 0.0),
        "{stdout}"
    );
    assert!(stdout.contains("ingest/baseline, events/s"), "{stdout}");

    assert_bench_tenants_suspended(&env, 2).await;
}

#[tokio::test]
async fn bench_e2e_prints_latency_percentiles() {
    let env = TestEnv::migrated().await;
    let stdout = run_bench_e2e(&env, "3", &[]).await;

    let p95 = first_figure(&stdout, "ingest-to-queryable p95 (ms)");
    assert!(p95.is_some_and(|p95| p95 > 0.0), "{stdout}");
    let per_core = first_figure(&stdout, "events/s per aggregator core");
    assert!(per_core.is_some_and(|value| value > 0.0), "{stdout}");
    assert!(
        first_figure(&stdout, "canaries measured").is_some_and(|count| count > 0.0),
        "{stdout}"
    );
    assert_verdict(&stdout, "ingest-to-queryable p95 (ms)");

    // Two load tenants and the canary tenant, all suspended.
    assert_bench_tenants_suspended(&env, 3).await;
}

#[tokio::test]
async fn bench_query_prints_percentiles() {
    let (env, stdout) = run_bench(
        "bench query --tenants 3 --events-per-tenant 10 --duration 2 --warmup 0 --concurrency 4",
    )
    .await;

    assert_first_figure(&stdout, "events counted", 30.0);
    // Baseline, lastHour, usage and both.
    for label in ["latency p50 (ms)", "latency p99 (ms)", "queries/s  "] {
        let values = figures(&stdout, label);
        assert_eq!(values.len(), 4, "{label}: {stdout}");
        assert!(values.iter().all(|value| *value > 0.0), "{label}: {stdout}");
    }
    assert_figures(&stdout, "failed queries (whole phase)", &[0.0, 0.0]);
    for label in ["lastHour p99 (ms)", "usage p99 (ms)"] {
        assert_verdict(&stdout, label);
    }
    assert_bench_tenants_suspended(&env, 3).await;
}

#[tokio::test]
async fn bench_invoice_bills_every_customer_and_the_rerun_changes_nothing() {
    let (env, stdout) = run_bench("bench invoice --customers 40").await;
    assert_figures(&stdout, "invoices finalized", &[40.0, 0.0]);
    assert_figures(&stdout, "drafts written", &[40.0, 0.0]);
    let hash = |label: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(label))
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    let after_run = hash("hash of all invoices after the run");
    assert_eq!(after_run.len(), 64, "{stdout}");
    assert_eq!(after_run, hash("hash of all invoices after the rerun"));
    assert_verdict(&stdout, "target:");
    // Customer 1 makes a request a day for 28 days, of 100 tokens, and stores at most 40 GB
    // (day d's row holds (40 d) mod 50): 28 × 0.002 = 0.056 → 0.06, 2,800 tokens × 0.00003 =
    // 0.084 → 0.08, and 4 packages of 10 GB × 5.00.
    let catalog = env.catalog().await;
    let tenant = tenants::list(&catalog).await.expect("lists")[0].id;
    let customer = tally_billing::catalog::customers::find_external(&catalog, tenant, "bench-1")
        .await
        .expect("customer bench-1");
    let billed = tally_billing::catalog::invoices::list(&catalog, tenant, Some(customer.id))
        .await
        .expect("invoices");
    let amounts: Vec<rust_decimal::Decimal> = billed[0]
        .computed
        .lines
        .iter()
        .map(|line| line.amount)
        .collect();
    let expected: Vec<rust_decimal::Decimal> = ["0.06", "0.08", "20.00"]
        .iter()
        .map(|amount| amount.parse().expect("a decimal"))
        .collect();
    assert_eq!(amounts, expected, "{billed:?}");
    assert_bench_tenants_suspended(&env, 1).await;
}

#[tokio::test]
async fn bench_alerting_evaluates_every_rule_and_records_each_breach_once() {
    let (env, stdout) = run_bench(
        "bench alerting --tenants 3 --rules-per-tenant 10 --subjects 10 --passes 3 \
         --baseline-rules 10 --latency-tenants 0",
    )
    .await;
    assert_figures(&stdout, "rules evaluated (steady: most)", &[30.0, 30.0]);
    assert_figures(&stdout, "rules failed (steady: most)", &[0.0, 0.0]);
    // Per tenant, 84 series and 18 of them breaching (a fifth of ten subjects for eight
    // rules, both regions for one): each breach is a transition in the cold pass, and the six
    // of the rules pending for 30 s fire in the second steady pass, 30 s later.
    assert_first_figure(&stdout, "series measured per pass", 252.0);
    assert_figures(&stdout, "transitions recorded", &[54.0, 0.0, 18.0, 0.0]);
    assert!(
        first_figure(&stdout, "steady rules/s / one-by-one rules/s")
            .is_some_and(|ratio| ratio > 0.0),
        "{stdout}"
    );
    assert_verdict(&stdout, "target: a steady pass");
    let catalog = env.catalog().await;
    for tenant in tenants::list(&catalog).await.expect("lists") {
        let firing = tally_alerting::catalog::series::alerts(&catalog, tenant.id)
            .await
            .expect("alerts")
            .into_iter()
            .filter(|alert| alert.series.state.state.as_str() == "FIRING")
            .count();
        assert_eq!(firing, 18, "{tenant:?}");
    }
    assert_bench_tenants_suspended(&env, 3).await;
}

#[tokio::test]
async fn bench_alerting_times_each_breach_until_its_webhook_arrives() {
    let env = TestEnv::migrated().await;
    let output = run_bounded(
        env.tally()
            .env("TALLY__ALERTING__EVAL_INTERVAL_SECS", "2")
            .env("TALLY__ALERTING__NOTIFY_INTERVAL_MS", "100")
            .args(words(
                "bench alerting --tenants 2 --rules-per-tenant 2 --passes 1 --baseline-rules 2 \
                 --latency-tenants 3 --group-wait 1s",
            )),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_figures(&stdout, "breaches notified", &[3.0, 3.0]);
    assert_first_figure(&stdout, "notifications repeated", 0.0);
    // Each breach waits for the next evaluation (2 s), then group_wait (1 s).
    let p95 = first_figure(&stdout, "latency p95 (s)").expect("a p95");
    assert!((1.0..30.0).contains(&p95), "{stdout}");
    assert_verdict(&stdout, "target: breach to notification p95");
    assert_bench_tenants_suspended(&env, 5).await;
}

#[tokio::test]
async fn bench_slo_measures_every_slo_at_once_with_the_counts_written() {
    let (env, stdout) =
        run_bench("bench slo --tenants 3 --slos-per-tenant 2 --passes 1 --baseline-slos 2").await;
    // Per tenant, slo-0 split by three endpoints and slo-1 whole: four series, each with its
    // window so far and seven burn-rate windows, none of whose counts differ.
    assert!(
        stdout.contains("6 SLOs (2 per tenant) over 3 tenants, 12 series"),
        "{stdout}"
    );
    assert_first_figure(&stdout, "exact counts: written vs status()", 0.0);
    assert!(stdout.contains("of 96 counts of 6 SLOs differ"), "{stdout}");
    assert_figures(&stdout, "rules evaluated (steady: most)", &[6.0, 6.0]);
    assert!(
        first_figure(&stdout, "one at a time / all at once").is_some_and(|ratio| ratio > 0.0),
        "{stdout}"
    );
    assert_verdict(&stdout, "target: burn rates of 6 SLOs");
    assert_verdict(&stdout, "target: a steady alert pass");
    assert_bench_tenants_suspended(&env, 3).await;
}

/// Runs `tally LINE` (plain words, as [`words`] splits them) in a fresh migrated namespace,
/// insisting that it succeeds; returns the namespace and the standard output.
async fn run_bench(line: &str) -> (TestEnv, String) {
    let env = TestEnv::migrated().await;
    let stdout = env.run_ok(&words(line)).await;
    (env, stdout)
}

/// A line starting with `label` ends with the verdict, PASS or FAIL.
fn assert_verdict(stdout: &str, label: &str) {
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with(label)
                && (line.ends_with("PASS") || line.ends_with("FAIL"))),
        "{label}: {stdout}"
    );
}

/// The bench left exactly `count` tenants, all `bench-…` and suspended.
async fn assert_bench_tenants_suspended(env: &TestEnv, count: usize) {
    let tenants = tenants::list(&env.catalog().await).await.expect("lists");
    assert_eq!(tenants.len(), count, "{tenants:?}");
    assert!(
        tenants
            .iter()
            .all(|tenant| tenant.name.as_str().starts_with("bench-")
                && tenant.status == TenantStatus::Suspended),
        "{tenants:?}"
    );
}
