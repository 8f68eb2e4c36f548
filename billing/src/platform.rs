//! Platform billing: the operator bills its tenants with the same invoice runs as tenants bill
//! their customers.
//!
//! The platform tenant (`tally tenant create --name NAME --platform`) holds the operator's books: its
//! platform plans' usage charges price platform meters ([`Resource`]) instead of meters of its
//! own, measured per tenant from the aggregator's hourly platform usage ([`measure`]). Each
//! tenant billed is a customer of the platform tenant whose one subject is the tenant's id;
//! [`provision`] adds one, subscribed to the platform plan, for each tenant that has none.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Duration, DurationRound, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::catalog::Catalog;
use tally_meter::ids::{PlanKey, TenantId};
use tally_meter::platform::HourUsage;
use tally_meter::usage::Tz;
use tally_meter::{Error, Result};

use crate::catalog::{customers, plans, platform, subscriptions};
use crate::customer::CustomerSpec;
use crate::period::Period;
use crate::subscription::Anchor;

/// A platform meter: what is measured of each tenant, priced by platform plans and splitting
/// shared costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Events accepted by ingest.
    Events,
    /// Gigabytes (10⁹ bytes) of accepted events.
    IngestedGb,
    /// Gigabyte-hours of raw events kept in ClickHouse's `events_raw`.
    StoredGbHours,
    /// GraphQL requests and exports answered with the tenant's own keys.
    ApiQueries,
}

impl Resource {
    /// Every resource, in the order reports list them.
    pub const ALL: [Self; 4] = [
        Self::Events,
        Self::IngestedGb,
        Self::StoredGbHours,
        Self::ApiQueries,
    ];

    /// The name platform plans and cost files use, such as `ingested_gb`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::IngestedGb => "ingested_gb",
            Self::StoredGbHours => "stored_gb_hours",
            Self::ApiQueries => "api_queries",
        }
    }
}

impl FromStr for Resource {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|resource| resource.name() == text.trim())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{text:?} is not a resource that is measured per tenant: use events, \
                     ingested_gb, stored_gb_hours or api_queries"
                ))
            })
    }
}

/// Each tenant's use of each platform meter over a period.
pub type PlatformUsage = BTreeMap<TenantId, BTreeMap<Resource, Decimal>>;

/// Measures every tenant's use of the platform meters over `period`, from the hours of platform
/// usage the aggregator wrote:
/// - events accepted, their bytes (in gigabytes of 10⁹ bytes) and API queries answered, in the
///   hours starting in the period;
/// - gigabyte-hours kept: the bytes accepted in an hour count as kept in `events_raw` from that
///   hour until retention drops their ingest day, `raw_retention_days` days after the day ends,
///   for the minutes of that time inside the period.
///
/// Platform usage is never dropped, so a period measures the same however late it is billed.
/// A tenant with none of it is left out.
pub async fn measure(
    analytics: &Analytics,
    period: Period,
    raw_retention_days: u32,
) -> Result<PlatformUsage> {
    let earliest_kept = period.start - kept_after_day(raw_retention_days) - Duration::days(1);
    let hours = analytics.platform_hours(earliest_kept, period.end).await?;
    Ok(usage_of(hours, period, raw_retention_days))
}

/// How long after its ingest day starts a raw event is kept: retention drops the day's
/// partition `raw_retention_days` days after the day ends.
fn kept_after_day(raw_retention_days: u32) -> Duration {
    Duration::days(i64::from(raw_retention_days) + 1)
}

/// The platform meters of [`measure`] from the hours of platform usage.
fn usage_of(
    hours: impl IntoIterator<Item = (TenantId, HourUsage)>,
    period: Period,
    raw_retention_days: u32,
) -> PlatformUsage {
    let gigabyte = Decimal::from(1_000_000_000u64);
    let mut usage = PlatformUsage::new();
    for (tenant, hour) in hours {
        let used = usage.entry(tenant).or_default();
        let mut add = |resource: Resource, amount: Decimal| {
            *used.entry(resource).or_default() += amount;
        };
        if hour.hour >= period.start {
            add(Resource::Events, Decimal::from(hour.accepted_events));
            add(
                Resource::IngestedGb,
                Decimal::from(hour.accepted_bytes) / gigabyte,
            );
            add(Resource::ApiQueries, Decimal::from(hour.api_queries));
        }
        let dropped_at = hour.hour.date_naive().and_time(NaiveTime::MIN).and_utc()
            + kept_after_day(raw_retention_days);
        let minutes = (dropped_at.min(period.end) - hour.hour.max(period.start)).num_minutes();
        if minutes > 0 && hour.accepted_bytes > 0 {
            add(
                Resource::StoredGbHours,
                Decimal::from(hour.accepted_bytes) * Decimal::from(minutes)
                    / (gigabyte * Decimal::from(60)),
            );
        }
    }
    usage.retain(|_, used| used.values().any(|amount| !amount.is_zero()));
    usage
}

/// Makes a customer of the platform tenant for every tenant it has none for: named as the
/// tenant, its one subject the tenant's id, billed in the platform plan's currency in UTC, and
/// subscribed to the plan's newest published version (calendar periods) from the hour of the
/// later of the tenant's creation and that version's publication: platform usage is kept per
/// hour, and an hour counts in the period it starts in. Returns the names of the tenants added.
/// Each tenant's customer and subscription are written together, so a run that stops between
/// tenants leaves none half made, and two runs at once add each tenant once.
pub async fn provision(
    catalog: &Catalog,
    platform_tenant: TenantId,
    plan: &PlanKey,
    actor: Actor,
) -> Result<Vec<String>> {
    let unbilled = platform::unbilled(catalog, platform_tenant).await?;
    if unbilled.is_empty() {
        return Ok(Vec::new());
    }
    let version = plans::chosen_version(catalog, platform_tenant, plan, None)
        .await
        .map_err(|error| match error {
            Error::NotFound(_) | Error::Conflict(_) => Error::Invalid(format!(
                "the platform tenant has no published plan {plan} to bill tenants with \
                 (billing.platform_plan): {error}"
            )),
            error => error,
        })?;
    let published_at = version.published_at.unwrap_or_else(Utc::now);
    let mut added = Vec::new();
    for tenant in unbilled {
        let spec = CustomerSpec {
            external_id: tenant.name.clone(),
            name: tenant.name.clone(),
            email: None,
            currency: version.spec.currency,
            timezone: Tz::UTC,
            tax_percent: None,
            subjects: vec![tenant.id.to_string()],
        };
        let starts_at = whole_hour(tenant.created_at.max(published_at));
        let mut transaction = catalog.begin().await?;
        let customer =
            match customers::create(&mut *transaction, platform_tenant, &spec, actor).await {
                Ok(customer) => customer,
                // Another run added it first.
                Err(Error::Conflict(_)) => continue,
                Err(error) => return Err(error),
            };
        subscriptions::create(
            &mut *transaction,
            platform_tenant,
            customer.id,
            version.id,
            Anchor::Calendar,
            starts_at,
            actor,
        )
        .await?;
        transaction.commit().await?;
        added.push(tenant.name);
    }
    Ok(added)
}

fn whole_hour(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::hours(1)).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 instant")
    }

    fn hour(start: &str, events: u64, bytes: u64, queries: u64) -> HourUsage {
        HourUsage {
            hour: at(start),
            accepted_events: events,
            rejected_events: 0,
            accepted_bytes: bytes,
            api_queries: queries,
        }
    }

    /// March 2026 in UTC, the period these tests bill.
    fn march() -> Period {
        Period {
            start: at("2026-03-01T00:00:00Z"),
            end: at("2026-04-01T00:00:00Z"),
        }
    }

    #[test]
    fn hours_count_in_the_period_they_start_in_and_bytes_stay_until_their_day_is_dropped() {
        let tenant = TenantId::generate();
        let hours = [
            // February's: with a day of retention, the 27th is dropped as March starts, the 28th
            // a day later.
            hour("2026-02-27T10:00:00Z", 5, 3_000_000_000, 1),
            hour("2026-02-28T23:00:00Z", 7, 6_000_000_000, 2),
            // March's: counted, and kept to the end of the month but for the last days'.
            hour("2026-03-31T12:00:00Z", 11, 1_000_000_000, 3),
        ];
        let usage = usage_of(hours.into_iter().map(|hour| (tenant, hour)), march(), 1);
        let used = &usage[&tenant];
        let d = |text: &str| text.parse::<Decimal>().expect("a decimal");
        assert_eq!(used[&Resource::Events], d("11"));
        assert_eq!(used[&Resource::IngestedGb], d("1"));
        assert_eq!(used[&Resource::ApiQueries], d("3"));
        // 6 GB for March 1st's 24 hours, 1 GB for the last 12 hours of March 31st.
        assert_eq!(used[&Resource::StoredGbHours], d("156"));
    }

    #[test]
    fn a_tenant_without_usage_in_reach_of_the_period_is_left_out() {
        let tenant = TenantId::generate();
        let old = hour("2026-01-01T00:00:00Z", 5, 1_000, 1);
        assert!(usage_of([(tenant, old)], march(), 30).is_empty());
    }
}
