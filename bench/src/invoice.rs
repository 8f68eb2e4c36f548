//! `tally bench invoice`: how long an invoice run takes for many customers.
//!
//! It migrates, creates a bench tenant with three meters (`requests`, COUNT; `tokens`, SUM;
//! `storage`, MAX) and a published monthly plan of three usage charges on them (graduated,
//! volume and package), then `--customers` customers of one subject each, subscribed from the
//! start of last month (loaded with a few SQL statements: the setup is not what is measured).
//! It writes last month's rollups straight into ClickHouse (one row a day per customer and
//! meter at each resolution, as the aggregator would have), and runs:
//!
//! - **run**: the invoice run at the end of the grace period after last month, which drafts
//!   and finalizes one invoice per customer, numbered;
//! - **rerun**: the same run again, which finds every invoice final and changes nothing: the
//!   floor every run pays for reading its subscriptions and invoices.
//!
//! It prints both durations, invoices per second, their ratio, and a SHA-256 of all invoices
//! (customer, lines, totals; not ids or numbers) after each: equal when the rerun changed
//! nothing. The target is the run in under 60 s for 10,000 customers. The bench tenant is
//! suspended at the end.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, Months, TimeZone, Utc};
use sha2::{Digest, Sha256};
use tally_billing::catalog::{customers, invoices, plans};
use tally_billing::plan::VersionSpec;
use tally_billing::run::{Report, Run};
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::{self, Catalog};
use tally_meter::ids::{MeterKey, PlanKey, TenantId};
use tally_meter::meter::{Aggregation, JsonPath, Meter, MeterSpec};

use crate::cli::BenchInvoiceArgs;
use crate::format::grouped;
use crate::tenants::{create_tenant, suspend_tenants};
use crate::{INSERT_ROLLUP_WRITES, Setup, migrate_and_connect, progress};

/// The run's target for 10,000 customers, in seconds.
const TARGET_SECS: f64 = 60.0;

/// The plan every bench customer is on.
const PLAN: &str = r#"{"currency": "EUR", "interval": "MONTH", "charges": [
    {"type": "usage", "name": "Requests", "meter": "requests", "pricing": "single",
     "model": {"model": "graduated", "tiers": [
        {"up_to": "1000", "unit_price": "0.002"},
        {"up_to": "10000", "unit_price": "0.0015", "flat_fee": "1.00"},
        {"up_to": null, "unit_price": "0.001"}]}},
    {"type": "usage", "name": "Tokens", "meter": "tokens", "pricing": "single",
     "model": {"model": "volume", "tiers": [
        {"up_to": "50000", "unit_price": "0.00003"},
        {"up_to": null, "unit_price": "0.00002"}]}},
    {"type": "usage", "name": "Storage", "meter": "storage", "pricing": "single",
     "model": {"model": "package", "package_price": "5.00", "package_size": "10"}}
]}"#;

/// Runs the bench and prints its figures; fails, after printing them, if the rerun changed
/// anything or a subscription was not invoiced.
pub async fn run(setup: &Setup, args: &BenchInvoiceArgs) -> anyhow::Result<()> {
    let catalog = migrate_and_connect(setup).await?;
    let analytics = Analytics::new(&setup.clickhouse);
    let (tenant, name) = create_tenant(&catalog).await?;
    let measured = measure(&catalog, &analytics, tenant, args.customers).await;
    suspend_tenants(&catalog, [(tenant, &name)]).await;
    let figures = measured?;
    println!("{}", figures.table(args.customers));
    if figures.first_hash != figures.rerun_hash {
        bail!("the rerun changed the invoices");
    }
    if !figures.run.failed.is_empty() {
        bail!(
            "{} subscriptions were not invoiced: {}",
            figures.run.failed.len(),
            figures.run.failed[0]
        );
    }
    Ok(())
}

/// What the bench measured.
struct Figures {
    /// The month billed.
    month: (DateTime<Utc>, DateTime<Utc>),
    /// Seconds to set the customers and rollups up.
    setup_secs: f64,
    /// The run.
    run: Report,
    /// Its duration, in seconds.
    run_secs: f64,
    /// The hash of all invoices after it.
    first_hash: String,
    /// The rerun.
    rerun: Report,
    /// Its duration, in seconds.
    rerun_secs: f64,
    /// The hash of all invoices after it.
    rerun_hash: String,
}

impl Figures {
    fn table(&self, customers: u32) -> String {
        let per_second = |count: u64, secs: f64| {
            if secs > 0.0 {
                grouped((count as f64 / secs).round() as u64)
            } else {
                "-".to_owned()
            }
        };
        let mut text = String::new();
        let _ = writeln!(
            text,
            "tally bench invoice: {} customers, 3 usage charges each, {} to {}\n",
            grouped(u64::from(customers)),
            self.month.0.format("%Y-%m-%d"),
            self.month.1.format("%Y-%m-%d"),
        );
        let _ = writeln!(text, "{:<44}{:>14}{:>14}", "", "run", "rerun");
        let rows = [
            (
                "subscriptions",
                grouped(self.run.subscriptions),
                grouped(self.rerun.subscriptions),
            ),
            (
                "drafts written",
                grouped(self.run.drafted),
                grouped(self.rerun.drafted),
            ),
            (
                "invoices finalized",
                grouped(self.run.finalized),
                grouped(self.rerun.finalized),
            ),
            (
                "subscriptions failed",
                self.run.failed.len().to_string(),
                self.rerun.failed.len().to_string(),
            ),
            (
                "time (s)",
                format!("{:.2}", self.run_secs),
                format!("{:.2}", self.rerun_secs),
            ),
            (
                "subscriptions/s",
                per_second(self.run.subscriptions, self.run_secs),
                per_second(self.rerun.subscriptions, self.rerun_secs),
            ),
        ];
        for (name, run, rerun) in rows {
            let _ = writeln!(text, "{name:<44}{run:>14}{rerun:>14}");
        }
        let _ = writeln!(
            text,
            "{:<44}{:>14.2}",
            "run / rerun (time)",
            self.run_secs / self.rerun_secs.max(f64::EPSILON)
        );
        let _ = writeln!(
            text,
            "setup (s, not measured)                     {:>14.2}",
            self.setup_secs
        );
        let _ = writeln!(
            text,
            "hash of all invoices after the run   {}",
            self.first_hash
        );
        let _ = writeln!(
            text,
            "hash of all invoices after the rerun {}",
            self.rerun_hash
        );
        let scaled_target = TARGET_SECS * f64::from(customers) / 10_000.0;
        let verdict = if self.run_secs < scaled_target {
            "PASS"
        } else {
            "FAIL"
        };
        let _ = write!(
            text,
            "\ntarget: the run in < {scaled_target:.1} s (60 s per 10,000 customers): {:.2} s  {verdict}",
            self.run_secs
        );
        text
    }
}

async fn measure(
    catalog: &Catalog,
    analytics: &Analytics,
    tenant: TenantId,
    customers: u32,
) -> anyhow::Result<Figures> {
    let now = Utc::now();
    let this_month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .context("the start of this month")?;
    let month = (this_month - Months::new(1), this_month);
    let started = Instant::now();
    let meters = create_meters(catalog, tenant).await?;
    let spec: VersionSpec = serde_json::from_str(PLAN).context("the bench's plan")?;
    let plan = PlanKey::parse("bench")?;
    plans::create(catalog, tenant, &plan, "Bench", &spec, Actor::Operator).await?;
    let version = plans::publish(catalog, tenant, &plan, Actor::Operator).await?;
    progress(&format!("creating {customers} customers and subscriptions"));
    load_customers(catalog, tenant, version.id, customers, month.0).await?;
    progress("writing a month of rollups");
    write_rollups(analytics, &meters, customers, month.0).await?;
    let setup_secs = started.elapsed().as_secs_f64();

    let run = Run {
        catalog,
        analytics,
        at: month.1 + chrono::Duration::hours(25),
        grace: chrono::Duration::hours(24),
        actor: Actor::Operator,
        raw_retention_days: 30,
    };
    progress("running invoices");
    let started = Instant::now();
    let first = run.tenant(tenant, &mut |_, _| {}).await?;
    let run_secs = started.elapsed().as_secs_f64();
    let first_hash = hash(catalog, tenant).await?;
    progress("running invoices again");
    let started = Instant::now();
    let rerun = run.tenant(tenant, &mut |_, _| {}).await?;
    let rerun_secs = started.elapsed().as_secs_f64();
    let rerun_hash = hash(catalog, tenant).await?;
    Ok(Figures {
        month,
        setup_secs,
        run: first,
        run_secs,
        first_hash,
        rerun,
        rerun_secs,
        rerun_hash,
    })
}

/// The three meters of the plan.
async fn create_meters(catalog: &Catalog, tenant: TenantId) -> anyhow::Result<Vec<Meter>> {
    let mut meters = Vec::new();
    for (key, aggregation, path) in [
        ("requests", Aggregation::Count, None),
        ("tokens", Aggregation::Sum, Some("$.tokens")),
        ("storage", Aggregation::Max, Some("$.gb")),
    ] {
        let spec = MeterSpec {
            key: MeterKey::parse(key)?,
            event_type: "bench.invoice".to_owned(),
            value_path: path.map(JsonPath::parse).transpose()?,
            aggregation,
            group_by: Default::default(),
            allowed_lateness_secs: 3_600,
        };
        meters.push(
            catalog::meters::create(catalog, tenant, &spec, Actor::Operator, &Caps::default())
                .await?,
        );
    }
    Ok(meters)
}

/// Customers `bench-1`… with subjects `subject-1`…, each subscribed to the plan's version.
async fn load_customers(
    catalog: &Catalog,
    tenant: TenantId,
    version: tally_meter::ids::PlanVersionId,
    customers: u32,
    starts_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut transaction = catalog.pool().begin().await?;
    sqlx::query(
        "INSERT INTO customers (id, tenant_id, external_id, name, currency, timezone)
         SELECT gen_random_uuid(), $1, 'bench-' || n, 'Bench customer ' || n, 'EUR', 'UTC'
         FROM generate_series(1, $2) AS n",
    )
    .bind(tenant)
    .bind(i64::from(customers))
    .execute(&mut *transaction)
    .await?;
    sqlx::query(
        "INSERT INTO customer_subjects (tenant_id, customer_id, subject)
         SELECT tenant_id, id, 'subject-' || substr(external_id, 7) FROM customers
         WHERE tenant_id = $1",
    )
    .bind(tenant)
    .execute(&mut *transaction)
    .await?;
    sqlx::query(
        "INSERT INTO subscriptions (id, tenant_id, customer_id, plan_version_id, anchor,
                                    starts_at)
         SELECT gen_random_uuid(), $1, id, $2, 'CALENDAR', $3 FROM customers
         WHERE tenant_id = $1",
    )
    .bind(tenant)
    .bind(version)
    .bind(starts_at)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// One rollup row a day per customer and meter at each resolution, at noon, for 28 days:
/// customer `n` makes `(n − 1) % 97 + 1` requests a day, of `((n − 1) % 89 + 1) × 100` tokens
/// each, and stores up to 49 GB (the row's number modulo 50).
async fn write_rollups(
    analytics: &Analytics,
    meters: &[Meter],
    customers: u32,
    month_start: DateTime<Utc>,
) -> anyhow::Result<()> {
    let days = 28;
    let start = u32::try_from(month_start.timestamp()).context("a month after 1970")?;
    for meter in meters {
        for (resolution, noon_bucket) in [("minute", 43_200), ("hour", 43_200), ("day", 0)] {
            analytics
                .client()
                .query(&format!(
                    "{INSERT_ROLLUP_WRITES}
                     SELECT ?, ?, toUInt32(? + intDiv(number, {customers}) * 86400 + {noon_bucket}),
                            concat('subject-', toString(number % {customers} + 1)),
                            emptyArrayString(), toUInt32(0), toUInt64(number), toUInt64(1),
                            toUInt64(number % {customers} % 97 + 1) AS events,
                            toDecimal128(events * (number % {customers} % 89 + 1) * 100, 9),
                            toDecimal128(number % 50, 9), toDecimal128(number % 50, 9),
                            toInt64(0), toUInt64(0), toDecimal128(0, 9), ?
                     FROM numbers({rows})",
                    rows = u64::from(customers) * days,
                ))
                .bind(meter.tenant_id.to_string())
                .bind(meter.id.to_string())
                .bind(start)
                .bind(resolution)
                .execute()
                .await
                .with_context(|| format!("cannot write the {resolution} rollups"))?;
        }
    }
    Ok(())
}

/// A SHA-256 of every invoice of the tenant: its customer, period, status, lines and totals,
/// in the order of the customers' external ids; not ids, numbers or times of writing.
async fn hash(catalog: &Catalog, tenant: TenantId) -> anyhow::Result<String> {
    let names: std::collections::HashMap<_, _> = customers::list(catalog, tenant)
        .await?
        .into_iter()
        .map(|customer| (customer.id, customer.external_id))
        .collect();
    let mut listed = invoices::list(catalog, tenant, None).await?;
    listed.sort_by(|one, other| {
        (names.get(&one.customer_id), one.period.start)
            .cmp(&(names.get(&other.customer_id), other.period.start))
    });
    let mut digest = Sha256::new();
    for invoice in &listed {
        let described = serde_json::json!({
            "customer": names.get(&invoice.customer_id),
            "period": invoice.period,
            "status": invoice.status,
            "lines": invoice.computed.lines,
            "total": invoice.computed.total,
        });
        digest.update(described.to_string().as_bytes());
    }
    Ok(format!("{:x}", digest.finalize()))
}
