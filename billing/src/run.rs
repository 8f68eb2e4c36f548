//! Invoice runs: every subscription's invoices up to an instant, written as drafts while late
//! usage may still land and finalized when their grace period ends.
//!
//! For each subscription, a run at `at`
//! - writes the opening invoice when the subscription has started and its plan has flat fees:
//!   the first period's fees, in advance, finalized at once;
//! - for each period that has ended and has no finalized invoice yet, measures each usage
//!   charge's meter over the period for the customer's subjects and writes the period's
//!   invoice: that usage (in arrears), the next period's flat fees (in advance), credits for
//!   flat fees billed for time a cancellation took away, and adjustments for usage that
//!   arrived after earlier periods were finalized. The draft is finalized once
//!   `at` is past the period's end plus the grace period.
//!
//! Every write is keyed by subscription and period, a finalized invoice never changes, and
//! numbers are taken in the finalizing transaction, so runs repeat and overlap safely: two
//! processes running at once write the same drafts, and only one finalizes each.
//!
//! Late usage of a finalized period is billed on the first later invoice of the subscription
//! that is still a draft, as the difference between what its charge comes to now and what the
//! invoices so far billed for it. A period is measured again only while events for it may
//! still be accepted: until its end plus the largest allowed lateness of the plan's meters (and
//! an hour for the aggregators to catch up) had passed when it was last billed.
//!
//! The platform tenant's runs are the same but for measuring: its plans price platform meters,
//! read from every tenant's platform usage once per period (see [`crate::platform`]).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, DurationRound, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sqlx::Acquire;
use tally_meter::analytics::Analytics;
use tally_meter::analytics::totals::SubjectTotal;
use tally_meter::audit::Actor;
use tally_meter::catalog::{Catalog, meters};
use tally_meter::ids::{CustomerId, MeterKey, PlanVersionId, TenantId};
use tally_meter::meter::{Aggregation, Meter};
use tally_meter::tenant::TenantStatus;
use tally_meter::usage::{floor_minute, parse_time_zone};
use tally_meter::{Error, Result};

use crate::catalog::{customers, invoices, plans, platform, subscriptions};
use crate::customer::Customer;
use crate::invoice::{
    self, Computed, Explanation, Inputs, Invoice, LateUsage, Measured, Status, Unused,
};
use crate::period::{BillingPeriod, Period, Schedule};
use crate::plan::{Charge, PlanVersion};
use crate::platform::{PlatformUsage, Resource};
use crate::price::Pricing;
use crate::subscription::Subscription;

/// How long after their last accepted event the aggregators are given to count it.
const AGGREGATION_DELAY: Duration = Duration::hours(1);

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Subscriptions looked at.
    pub subscriptions: u64,
    /// Drafts written (or rewritten).
    pub drafted: u64,
    /// Invoices finalized by this run.
    pub finalized: u64,
    /// Subscriptions that failed, with the reason; the others were invoiced all the same.
    pub failed: Vec<String>,
}

impl Report {
    fn add(&mut self, other: Report) {
        self.subscriptions += other.subscriptions;
        self.drafted += other.drafted;
        self.finalized += other.finalized;
        self.failed.extend(other.failed);
    }
}

/// An invoice run at one instant.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    /// Where tenants, customers, plans, subscriptions and invoices are.
    pub catalog: &'a Catalog,
    /// Where usage is.
    pub analytics: &'a Analytics,
    /// The instant the run bills up to.
    pub at: DateTime<Utc>,
    /// How long after its period a draft waits for late usage before it is finalized.
    pub grace: Duration,
    /// Who finalizes.
    pub actor: Actor,
    /// How many days raw events are kept after their ingest day (`meter.raw_retention_days`),
    /// for the platform tenant's stored gigabyte-hours.
    pub raw_retention_days: u32,
}

impl Run<'_> {
    /// Invoices every active tenant's subscriptions; `progress` hears of each subscription done
    /// and the number known so far.
    pub async fn all(&self, progress: &mut (dyn FnMut(u64, u64) + Send)) -> Result<Report> {
        let tenants = tally_meter::catalog::tenants::list(self.catalog).await?;
        let mut report = Report::default();
        for tenant in tenants
            .iter()
            .filter(|tenant| tenant.status == TenantStatus::Active)
        {
            let done_before = report.subscriptions;
            let tenant_report = self
                .tenant(tenant.id, &mut |done, total| {
                    progress(done_before + done, done_before + total)
                })
                .await?;
            report.add(tenant_report);
        }
        Ok(report)
    }

    /// Invoices one tenant's subscriptions.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, at = %self.at))]
    pub async fn tenant(
        &self,
        tenant: TenantId,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<Report> {
        let subscriptions = subscriptions::list(self.catalog, tenant, None).await?;
        let customers: HashMap<CustomerId, Customer> = customers::list(self.catalog, tenant)
            .await?
            .into_iter()
            .map(|customer| (customer.id, customer))
            .collect();
        let mut plan_versions: HashMap<PlanVersionId, PlanVersion> = HashMap::new();
        // Every customer is measured: each meter's totals are read once for all subjects.
        let mut meters = Meters {
            all_subjects: true,
            ..Meters::for_tenant(self.catalog, tenant).await?
        };
        let total = subscriptions.len() as u64;
        let mut report = Report::default();
        for subscription in &subscriptions {
            report.subscriptions += 1;
            let version = match plan_versions.get(&subscription.plan_version_id) {
                Some(version) => version.clone(),
                None => {
                    let mut connection = self.catalog.acquire().await?;
                    let version =
                        plans::version(&mut connection, tenant, subscription.plan_version_id)
                            .await?;
                    plan_versions.insert(version.id, version.clone());
                    version
                }
            };
            let Some(customer) = customers.get(&subscription.customer_id) else {
                continue;
            };
            let outcome = self
                .subscription(subscription, customer, &version, &mut meters)
                .await;
            match outcome {
                Ok(done) => {
                    report.drafted += done.drafted;
                    report.finalized += done.finalized;
                }
                Err(error) => {
                    tracing::warn!(subscription_id = %subscription.id, %error, "not invoiced");
                    report
                        .failed
                        .push(format!("subscription {}: {error}", subscription.id));
                }
            }
            progress(report.subscriptions, total);
        }
        metrics::counter!("tally_billing_invoices_drafted_total").increment(report.drafted);
        metrics::counter!("tally_billing_invoices_finalized_total").increment(report.finalized);
        metrics::counter!("tally_billing_run_failures_total").increment(report.failed.len() as u64);
        Ok(report)
    }

    /// Brings one subscription's invoices up to the run's instant.
    async fn subscription(
        &self,
        subscription: &Subscription,
        customer: &Customer,
        version: &PlanVersion,
        meters: &mut Meters,
    ) -> Result<Report> {
        let schedule = schedule(subscription, customer, version)?;
        let periods = schedule.periods_until(self.at);
        let mut report = Report::default();
        let Some(first) = periods.first() else {
            return Ok(report);
        };
        let existing =
            invoices::of_subscription(self.catalog, subscription.tenant_id, subscription.id)
                .await?;
        let mut ledger = Ledger::new(&existing);

        let has_flat_fees = version
            .spec
            .charges
            .iter()
            .any(|charge| matches!(charge, Charge::Flat { .. }));
        if has_flat_fees && !ledger.is_final(first.covered.start, true) {
            let computed = invoice::compute(&Inputs {
                version,
                usage: None,
                advance: Some(*first),
                unused: Vec::new(),
                late: Vec::new(),
                tax_percent: customer.tax_percent,
            })?;
            let draft = invoices::write_draft(
                self.catalog,
                subscription,
                first.covered,
                true,
                &computed,
                first.covered.start,
            )
            .await?;
            report.drafted += 1;
            self.finalize(draft, &mut ledger, &mut report).await?;
        }

        // Late usage goes on the first invoice that is still a draft once this run is done.
        let mut late_claimed = false;
        for period in &periods {
            if period.covered.end > self.at {
                break;
            }
            if ledger.is_final(period.covered.start, false) {
                continue;
            }
            let computed = self
                .closing(
                    &schedule,
                    subscription,
                    customer,
                    version,
                    (*period, period.covered.end),
                    &ledger,
                    !late_claimed,
                    meters,
                )
                .await?;
            let grace_until = period.covered.end + self.grace;
            let draft = invoices::write_draft(
                self.catalog,
                subscription,
                period.covered,
                false,
                &computed,
                grace_until,
            )
            .await?;
            if draft.status == Status::Draft {
                report.drafted += 1;
            }
            if self.at >= grace_until {
                self.finalize(draft, &mut ledger, &mut report).await?;
            } else {
                late_claimed = true;
            }
        }
        Ok(report)
    }

    /// Computes the invoice closing `period`: its usage up to `counted_until` (the period's
    /// end, or an earlier minute for an upcoming invoice), the next period's flat fees, credits
    /// for flat fees billed for time the subscription no longer covers, and, if `with_late`,
    /// late usage of periods billed before.
    #[expect(
        clippy::too_many_arguments,
        reason = "what one invoice is computed from"
    )]
    async fn closing(
        &self,
        schedule: &Schedule,
        subscription: &Subscription,
        customer: &Customer,
        version: &PlanVersion,
        (period, counted_until): (BillingPeriod, DateTime<Utc>),
        ledger: &Ledger,
        with_late: bool,
        meters: &mut Meters,
    ) -> Result<Computed> {
        let counted = period.until(counted_until);
        let usage = self
            .measure(subscription, customer, version, counted.covered, meters)
            .await?;
        let advance = schedule
            .periods_until(period.full.end + Duration::seconds(1))
            .into_iter()
            .find(|next| next.full.start == period.full.end);
        let mut late = Vec::new();
        if with_late {
            let lateness = meters
                .largest_lateness(self, subscription.tenant_id, version)
                .await?;
            for (billed_period, charge, billed) in ledger.to_recheck(&period, lateness) {
                let now = self
                    .measure_charge(
                        subscription,
                        customer,
                        version,
                        &charge,
                        billed_period,
                        meters,
                    )
                    .await?;
                if now != billed {
                    late.push(LateUsage {
                        period: billed_period,
                        charge,
                        billed,
                        now,
                    });
                }
            }
        }
        invoice::compute(&Inputs {
            version,
            usage: Some((counted, usage)),
            advance,
            unused: ledger.unused(&period),
            late,
            tax_percent: customer.tax_percent,
        })
    }

    /// A customer's upcoming invoices, one per subscription running at the run's instant:
    /// what the invoice closing the current period would hold if the period ended at the end
    /// of the current minute. Nothing is written.
    pub async fn upcoming(
        &self,
        tenant: TenantId,
        customer: &Customer,
    ) -> Result<Vec<(Subscription, BillingPeriod, Computed)>> {
        let mut meters = Meters::for_tenant(self.catalog, tenant).await?;
        let mut upcoming = Vec::new();
        for subscription in subscriptions::list(self.catalog, tenant, Some(customer.id)).await? {
            let version = {
                let mut connection = self.catalog.acquire().await?;
                plans::version(&mut connection, tenant, subscription.plan_version_id).await?
            };
            let schedule = schedule(&subscription, customer, &version)?;
            let Some(period) = schedule.period_at(self.at) else {
                continue;
            };
            let so_far = floor_minute(self.at) + Duration::minutes(1);
            let existing = invoices::of_subscription(self.catalog, tenant, subscription.id).await?;
            let ledger = Ledger::new(&existing);
            // Late usage goes on a draft still waiting for its grace period, if there is one.
            let with_late = !existing
                .iter()
                .any(|invoice| invoice.status == Status::Draft && !invoice.opening);
            let computed = self
                .closing(
                    &schedule,
                    &subscription,
                    customer,
                    &version,
                    (period, so_far),
                    &ledger,
                    with_late,
                    &mut meters,
                )
                .await?;
            upcoming.push((subscription, period.until(so_far), computed));
        }
        Ok(upcoming)
    }

    /// What a customer's usage has cost so far in the periods running at the run's instant,
    /// before tax, in its currency: the usage lines of its upcoming invoices. Flat fees,
    /// minimum-commitment true-ups, credits and late usage of earlier periods are left out.
    pub async fn usage_so_far(&self, tenant: TenantId, customer: &Customer) -> Result<Decimal> {
        Ok(self
            .upcoming(tenant, customer)
            .await?
            .iter()
            .flat_map(|(_, _, computed)| &computed.lines)
            .filter(|line| matches!(line.explanation, Explanation::Usage { .. }))
            .map(|line| line.amount)
            .sum())
    }

    /// Finalizes a draft unless another run did first, and records what it billed.
    async fn finalize(
        &self,
        draft: Invoice,
        ledger: &mut Ledger,
        report: &mut Report,
    ) -> Result<()> {
        let invoice = if draft.status == Status::Draft {
            match invoices::finalize(self.catalog, draft.tenant_id, draft.id, self.actor).await {
                Ok(finalized) => {
                    report.finalized += 1;
                    finalized
                }
                Err(Error::Conflict(_)) => {
                    invoices::find(self.catalog, draft.tenant_id, draft.id).await?
                }
                Err(error) => return Err(error),
            }
        } else {
            draft
        };
        ledger.record(invoice);
        Ok(())
    }

    /// What each usage charge of the plan measured over `period` for the customer's subjects.
    async fn measure(
        &self,
        subscription: &Subscription,
        customer: &Customer,
        version: &PlanVersion,
        period: Period,
        meters: &mut Meters,
    ) -> Result<BTreeMap<String, Measured>> {
        let mut measured = BTreeMap::new();
        for charge in &version.spec.charges {
            if let Charge::Usage { name, .. } = charge {
                let value = self
                    .measure_charge(subscription, customer, version, name, period, meters)
                    .await?;
                measured.insert(name.clone(), value);
            }
        }
        Ok(measured)
    }

    /// What one usage charge's meter measured over `period` for the customer's subjects, per
    /// value of the charge's dimension group when it prices by one.
    async fn measure_charge(
        &self,
        subscription: &Subscription,
        customer: &Customer,
        version: &PlanVersion,
        charge: &str,
        period: Period,
        meters: &mut Meters,
    ) -> Result<Measured> {
        let Some((key, pricing)) =
            version
                .spec
                .charges
                .iter()
                .find_map(|candidate| match candidate {
                    Charge::Usage { name, meter, price } if name == charge => {
                        Some((meter, &price.pricing))
                    }
                    _ => None,
                })
        else {
            return Ok(Measured::default());
        };
        if meters.platform.is_some() {
            return meters
                .platform_charge(self, key, pricing, period, customer)
                .await;
        }
        let meter = meters.get(self, subscription.tenant_id, key).await?;
        let split_by = match pricing {
            Pricing::ByDimension { group, .. } => Some(group.as_str()),
            Pricing::Single { .. } => None,
        };
        if meters.all_subjects && meter.spec.aggregation.merges_over_subjects() {
            let by_subject = meters.by_subject(self, &meter, period, split_by).await?;
            return merge(
                meter.spec.aggregation,
                customer
                    .subjects
                    .iter()
                    .filter_map(|subject| by_subject.get(subject))
                    .flatten(),
            );
        }
        let totals = self
            .analytics
            .totals(
                &meter,
                (period.start, period.end),
                &customer.subjects,
                split_by,
            )
            .await?;
        let mut measured = Measured::default();
        for total in totals {
            measured.events += total.events;
            if let Some(value) = total.value {
                measured.quantities.insert(total.group_value, value);
            }
        }
        Ok(measured)
    }
}

/// A meter's totals over a period per subject, split by a group or not.
type BySubject = HashMap<String, Vec<SubjectTotal>>;

/// The meters of the tenant's plans, looked up once per run, and their totals per subject over
/// the periods billed, read once per meter, period and split for all customers; for the
/// platform tenant, every tenant's platform usage per period billed instead.
#[derive(Default)]
struct Meters {
    /// Whether totals are read for all subjects at once, when every customer is measured,
    /// rather than for one customer's subjects.
    all_subjects: bool,
    found: HashMap<(TenantId, MeterKey), Meter>,
    totals: HashMap<(TenantId, MeterKey, Period, Option<String>), BySubject>,
    /// Set when the tenant billed is the platform tenant: its plans price platform meters.
    platform: Option<HashMap<Period, PlatformUsage>>,
}

impl Meters {
    /// Nothing read yet, for invoicing `tenant`.
    async fn for_tenant(catalog: &Catalog, tenant: TenantId) -> Result<Self> {
        let is_platform = platform::is_platform(&mut *catalog.acquire().await?, tenant).await?;
        Ok(Self {
            platform: is_platform.then(HashMap::new),
            ..Self::default()
        })
    }

    /// What a platform plan's charge on the platform meter `key` measured over `period` for
    /// the tenants the customer's subjects name; its events are the tenants' accepted events.
    async fn platform_charge(
        &mut self,
        run: &Run<'_>,
        key: &MeterKey,
        pricing: &Pricing,
        period: Period,
        customer: &Customer,
    ) -> Result<Measured> {
        let resource: Resource = key.as_str().parse()?;
        if matches!(pricing, Pricing::ByDimension { .. }) {
            return Err(Error::Invalid(format!(
                "platform meter {key} has no groups to price by dimension"
            )));
        }
        let usage = match self.platform.get_or_insert_default().entry(period) {
            Entry::Occupied(measured) => measured.into_mut(),
            Entry::Vacant(unmeasured) => unmeasured.insert(
                crate::platform::measure(run.analytics, period, run.raw_retention_days).await?,
            ),
        };
        let mut measured = Measured::default();
        let mut quantity = Decimal::ZERO;
        for tenant in customer
            .subjects
            .iter()
            .filter_map(|subject| subject.parse::<TenantId>().ok())
        {
            let Some(used) = usage.get(&tenant) else {
                continue;
            };
            let of = |resource| used.get(&resource).copied().unwrap_or_default();
            measured.events += of(Resource::Events).to_u64().unwrap_or(0);
            quantity += of(resource);
        }
        measured.quantities.insert(String::new(), quantity);
        Ok(measured)
    }

    async fn by_subject(
        &mut self,
        run: &Run<'_>,
        meter: &Meter,
        period: Period,
        split_by: Option<&str>,
    ) -> Result<&BySubject> {
        let key = (
            meter.tenant_id,
            meter.spec.key.clone(),
            period,
            split_by.map(str::to_owned),
        );
        if !self.totals.contains_key(&key) {
            let mut by_subject = BySubject::new();
            for total in run
                .analytics
                .totals_by_subject(meter, (period.start, period.end), split_by)
                .await?
            {
                by_subject
                    .entry(total.subject.clone())
                    .or_default()
                    .push(total);
            }
            self.totals.insert(key.clone(), by_subject);
        }
        Ok(&self.totals[&key])
    }

    async fn get(&mut self, run: &Run<'_>, tenant: TenantId, key: &MeterKey) -> Result<Meter> {
        if let Some(meter) = self.found.get(&(tenant, key.clone())) {
            return Ok(meter.clone());
        }
        let meter = meters::find(run.catalog, tenant, key)
            .await
            .map_err(|error| match error {
                Error::NotFound(_) => Error::Invalid(format!(
                    "the plan charges for meter {key}, which the tenant no longer has"
                )),
                error => error,
            })?;
        self.found.insert((tenant, key.clone()), meter.clone());
        Ok(meter)
    }

    /// The largest allowed lateness of the plan's meters.
    async fn largest_lateness(
        &mut self,
        run: &Run<'_>,
        tenant: TenantId,
        version: &PlanVersion,
    ) -> Result<Duration> {
        let mut largest = Duration::zero();
        // Platform usage is counted when ingest accepts an event, whatever its time.
        if self.platform.is_some() {
            return Ok(largest);
        }
        for charge in &version.spec.charges {
            if let Charge::Usage { meter, .. } = charge {
                let seconds = self
                    .get(run, tenant, meter)
                    .await?
                    .spec
                    .allowed_lateness_secs;
                let lateness = i64::try_from(seconds)
                    .ok()
                    .and_then(Duration::try_seconds)
                    .unwrap_or(Duration::MAX);
                largest = largest.max(lateness);
            }
        }
        Ok(largest)
    }
}

/// A customer's measurement from its subjects' totals: counts and sums add, extremes take the
/// extreme, an average divides the summed sums by the summed events; per group value.
fn merge<'a>(
    aggregation: Aggregation,
    totals: impl Iterator<Item = &'a SubjectTotal>,
) -> Result<Measured> {
    let mut events: BTreeMap<String, u64> = BTreeMap::new();
    let mut partials: BTreeMap<String, Decimal> = BTreeMap::new();
    for total in totals {
        *events.entry(total.group_value.clone()).or_default() += total.events;
        if let Some(partial) = total.partial {
            let merged = match partials.get(&total.group_value) {
                None => partial,
                Some(merged) => match aggregation {
                    Aggregation::Min => (*merged).min(partial),
                    Aggregation::Max => (*merged).max(partial),
                    _ => merged.checked_add(partial).ok_or_else(|| {
                        Error::Invalid(
                            "a customer's usage is too large for a decimal of 28 digits".to_owned(),
                        )
                    })?,
                },
            };
            partials.insert(total.group_value.clone(), merged);
        }
    }
    let quantities = events
        .iter()
        .filter_map(|(group, count)| {
            let value = match aggregation {
                Aggregation::Count => Some(Decimal::from(*count)),
                Aggregation::Avg => partials
                    .get(group)
                    .and_then(|sum| sum.checked_div(Decimal::from(*count))),
                _ => partials.get(group).copied(),
            };
            value.map(|value| (group.clone(), value))
        })
        .collect();
    Ok(Measured {
        quantities,
        events: events.values().sum(),
    })
}

/// A subscription's invoices as the run goes: which periods are final, and what was billed.
struct Ledger {
    /// Invoices by period start and whether they open the subscription.
    invoices: BTreeMap<(DateTime<Utc>, bool), Invoice>,
}

impl Ledger {
    fn new(existing: &[Invoice]) -> Self {
        Self {
            invoices: existing
                .iter()
                .map(|invoice| ((invoice.period.start, invoice.opening), invoice.clone()))
                .collect(),
        }
    }

    fn record(&mut self, invoice: Invoice) {
        self.invoices
            .insert((invoice.period.start, invoice.opening), invoice);
    }

    /// Whether the invoice of the period starting at `start` (its opening one if `opening`)
    /// is final: finalized, paid or void.
    fn is_final(&self, start: DateTime<Utc>, opening: bool) -> bool {
        self.invoices
            .get(&(start, opening))
            .is_some_and(|invoice| invoice.status != Status::Draft)
    }

    /// Invoices that count as billed: finalized or paid (a void one was credited back).
    fn billed(&self) -> impl Iterator<Item = &Invoice> {
        self.invoices
            .values()
            .filter(|invoice| matches!(invoice.status, Status::Finalized | Status::Paid))
    }

    /// Flat fees billed in advance for `period` for more of it than the subscription covers
    /// now.
    fn unused(&self, period: &BillingPeriod) -> Vec<Unused> {
        let share = period.share();
        let mut unused = Vec::new();
        for invoice in self.billed() {
            for line in &invoice.computed.lines {
                if let Explanation::Flat {
                    amount,
                    share: billed_share,
                    full_period,
                } = &line.explanation
                    && *full_period == period.full
                    && *billed_share > share
                {
                    unused.push(Unused {
                        charge: line.description.clone(),
                        amount: *amount,
                        billed_share: *billed_share,
                        period: *period,
                    });
                }
            }
        }
        unused
    }

    /// The periods before `period` whose usage was billed and may have changed since, with
    /// each charge's last billed measurement: the latest among the billed invoices' (the
    /// period's own, then the adjustments of later invoices).
    fn to_recheck(
        &self,
        period: &BillingPeriod,
        lateness: Duration,
    ) -> Vec<(Period, String, Measured)> {
        let mut last: BTreeMap<(Period, String), (Measured, DateTime<Utc>)> = BTreeMap::new();
        for invoice in self.billed() {
            let billed_at = invoice.finalized_at.unwrap_or(invoice.grace_until);
            for billed in &invoice.computed.measured {
                if billed.period.start < period.covered.start {
                    last.insert(
                        (billed.period, billed.charge.clone()),
                        (billed.measured.clone(), billed_at),
                    );
                }
            }
        }
        // A period whose own invoice was voided was credited back: it has nothing to adjust.
        last.into_iter()
            .filter(|((billed_period, _), (_, billed_at))| {
                let settles = billed_period
                    .end
                    .checked_add_signed(lateness)
                    .and_then(|time| time.checked_add_signed(AGGREGATION_DELAY));
                settles.is_none_or(|settles| *billed_at < settles)
                    && self
                        .invoices
                        .get(&(billed_period.start, false))
                        .is_some_and(|invoice| {
                            matches!(invoice.status, Status::Finalized | Status::Paid)
                        })
            })
            .map(|((billed_period, charge), (measured, _))| (billed_period, charge, measured))
            .collect()
    }
}

/// How a subscription's periods are cut, on its customer's calendar; starts and ends are
/// taken to the minute, as usage is kept per minute.
pub fn schedule(
    subscription: &Subscription,
    customer: &Customer,
    version: &PlanVersion,
) -> Result<Schedule> {
    let minute = |time: DateTime<Utc>| {
        time.duration_trunc(Duration::minutes(1))
            .map_err(|error| Error::Invalid(format!("{time} cannot be cut to a minute: {error}")))
    };
    Ok(Schedule {
        anchor: subscription.anchor,
        interval: version.spec.interval,
        zone: parse_time_zone(&customer.timezone)?,
        starts_at: minute(subscription.starts_at)?,
        ends_at: subscription.ends_at.map(minute).transpose()?,
    })
}
