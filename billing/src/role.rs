//! The billing role of `tally serve`: an invoice run over every active tenant at every
//! `billing.run_interval_secs`, until shutdown. When there is a platform tenant, each run first
//! gives every tenant it does not bill yet a customer there (see [`crate::platform`]), so the
//! operator's invoices come with the tenants'. A failed run is logged and retried at the next
//! interval; runs of several processes overlap safely (see [`crate::run`]). Beside the runs,
//! when `billing.stripe.secret_key` is set, the Stripe sync pushes finalized invoices (see
//! [`crate::stripe::sync`]); neither waits for the other.

use std::time::Instant;

use chrono::Utc;
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::catalog::Catalog;
use tally_meter::ticks::Ticks;
use tokio_util::sync::CancellationToken;

use crate::config::BillingConfig;
use crate::run::Run;
use crate::stripe::sync::Sync;
use crate::{catalog, platform};

/// Runs invoices every interval, and the Stripe sync if configured, until `shutdown` is
/// cancelled.
pub async fn run(
    catalog: Catalog,
    analytics: Analytics,
    config: BillingConfig,
    raw_retention_days: u32,
    shutdown: CancellationToken,
) {
    let sync = Sync::new(catalog.clone(), &config.stripe);
    if sync.is_none() {
        tracing::info!("stripe sync off: billing.stripe.secret_key is not set");
    }
    let syncing = async {
        if let Some(sync) = sync {
            sync.run(config.stripe.sync_interval(), shutdown.clone())
                .await;
        }
    };
    tokio::join!(
        invoice_runs(catalog, analytics, &config, raw_retention_days, &shutdown),
        syncing
    );
}

/// Runs invoices every interval until `shutdown` is cancelled.
async fn invoice_runs(
    catalog: Catalog,
    analytics: Analytics,
    config: &BillingConfig,
    raw_retention_days: u32,
    shutdown: &CancellationToken,
) {
    let mut ticks = Ticks::new(config.run_interval(), shutdown);
    while ticks.next().await {
        let run = Run {
            catalog: &catalog,
            analytics: &analytics,
            at: Utc::now(),
            grace: config.grace(),
            actor: Actor::Operator,
            raw_retention_days,
        };
        if let Err(error) = provision_platform(&catalog, config).await {
            tracing::warn!(%error, "tenants not added to the platform tenant's customers");
        }
        let started = Instant::now();
        let mut progress = |done: u64, total: u64| {
            metrics::gauge!("tally_billing_run_subscriptions_done").set(done as f64);
            metrics::gauge!("tally_billing_run_subscriptions").set(total as f64);
        };
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            outcome = run.all(&mut progress) => outcome,
        };
        metrics::histogram!("tally_billing_run_seconds").record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(report) if report.failed.is_empty() => tracing::debug!(
                subscriptions = report.subscriptions,
                drafted = report.drafted,
                finalized = report.finalized,
                "invoice run done"
            ),
            Ok(report) => tracing::warn!(
                subscriptions = report.subscriptions,
                failed = report.failed.len(),
                first = %report.failed[0],
                "invoice run done, with subscriptions left out"
            ),
            Err(error) => {
                tracing::warn!(%error, "invoice run failed; retried at the next interval")
            }
        }
    }
}

/// Gives every tenant the platform tenant does not bill yet a customer there, if there is a
/// platform tenant.
async fn provision_platform(catalog: &Catalog, config: &BillingConfig) -> tally_meter::Result<()> {
    let Some(platform_tenant) = catalog::platform::tenant(catalog).await? else {
        return Ok(());
    };
    let plan = config.platform_plan.parse()?;
    let added = platform::provision(catalog, platform_tenant, &plan, Actor::Operator).await?;
    if !added.is_empty() {
        tracing::info!(tenants = %added.join(","), "tenants added to the platform's customers");
    }
    Ok(())
}
