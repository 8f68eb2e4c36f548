//! What `tally bench alerting` evaluates: its tenants, each with one MAX meter of `temp`
//! grouped by region, the same threshold rules for every tenant, and rollup rows written
//! straight into ClickHouse in which every subject has the same value in every minute; and,
//! from the same definitions, how many series each pass measures and how many of them breach.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sqlx::types::Json;
use tally_alerting::rule::{By, Condition, RuleSpec};
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::{self, Catalog};
use tally_meter::ids::{MeterKey, TenantId, TenantName};
use tally_meter::meter::{Aggregation, JsonPath, Meter, MeterSpec};
use tally_meter::usage::floor_minute;
use uuid::Uuid;

use crate::cli::BenchAlertingArgs;
use crate::format::grouped;
use crate::tenants::{set_up_tenants, suspend_tenants};
use crate::{INSERT_ROLLUP_WRITES, progress};

/// The key of every tenant's meter.
pub(super) const METER: &str = "temp";
/// The group the meter splits by.
const GROUP: &str = "region";
/// Tenants whose rollups one insert writes (their ids are bound in the SQL).
const TENANTS_PER_INSERT: usize = 500;

/// The sizes of the bench and the rules and values they give.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// Tenants.
    pub(super) tenants: u32,
    /// Rules per tenant.
    pub(super) rules_per_tenant: u32,
    /// Subjects per tenant.
    pub(super) subjects: u32,
}

impl Plan {
    pub(super) fn new(args: &BenchAlertingArgs) -> Self {
        Self {
            tenants: args.tenants,
            rules_per_tenant: args.rules_per_tenant,
            subjects: args.subjects,
        }
    }

    /// All rules.
    pub(super) fn rules(&self) -> u64 {
        u64::from(self.tenants) * u64::from(self.rules_per_tenant)
    }

    /// The value of subject `subject` in every minute: 5, 15, … 95, then again.
    fn value(subject: u32) -> i64 {
        10 * i64::from(subject % 10) + 5
    }

    /// The region of subject `subject`.
    fn region(subject: u32) -> &'static str {
        if subject.is_multiple_of(2) {
            "north"
        } else {
            "south"
        }
    }

    /// The name of subject `subject`.
    fn subject(subject: u32) -> String {
        format!("subject-{subject}")
    }

    /// Rule `number` of every tenant: windows of 1 and 5 minutes in turn; `>` 75 and `<` 25
    /// two by two, so that a fifth of the subjects breach each (the two highest or lowest
    /// values of ten); every fifth rule, from the fourth on, per region rather than per
    /// subject; and every third pending for 30 s before it fires, the others firing at once.
    pub(super) fn rule(number: u32) -> anyhow::Result<RuleSpec> {
        let window = if number.is_multiple_of(2) { "1m" } else { "5m" };
        let (op, value) = if (number / 2).is_multiple_of(2) {
            (">", 75)
        } else {
            ("<", 25)
        };
        let by = if number % 5 == 3 {
            format!(r#"{{"group": "{GROUP}"}}"#)
        } else {
            r#""subject""#.to_owned()
        };
        let pending_for = if number % 3 == 2 { "30s" } else { "0s" };
        let json = format!(
            r#"{{"name": "rule-{number}", "kind": "threshold", "meter": "{METER}",
                 "window": "{window}", "op": "{op}", "value": "{value}", "by": {by},
                 "for": "{pending_for}"}}"#
        );
        Ok(RuleSpec::parse(&json)?)
    }

    /// The series one pass measures over all tenants, and how many of them breach: a rule's
    /// series per subject, or per region with the highest value of its subjects.
    pub(super) fn series(&self) -> anyhow::Result<(u64, u64)> {
        let mut series = 0;
        let mut breaching = 0;
        for number in 0..self.rules_per_tenant {
            let Condition::Threshold { op, value, by, .. } = Self::rule(number)?.condition else {
                continue;
            };
            let mut values: BTreeMap<String, i64> = BTreeMap::new();
            for subject in 0..self.subjects {
                let key = match by {
                    By::Subject => Self::subject(subject),
                    By::Group(_) => Self::region(subject).to_owned(),
                };
                let entry = values.entry(key).or_insert(i64::MIN);
                *entry = (*entry).max(Self::value(subject));
            }
            series += values.len() as u64;
            breaching += values
                .values()
                .filter(|measured| op.breaches(Decimal::from(**measured), value))
                .count() as u64;
        }
        let tenants = u64::from(self.tenants);
        Ok((series * tenants, breaching * tenants))
    }
}

/// The bench's tenants and their meters.
#[derive(Default)]
pub(super) struct Fleet {
    /// Every tenant created, to suspend at the end, even those half set up.
    created: Vec<(TenantId, TenantName)>,
    /// The meters of the tenants fully set up, one each.
    pub(super) meters: Vec<Meter>,
}

impl Fleet {
    /// Creates `tenants` tenants, each with its meter, a few at a time.
    pub(super) async fn create(&mut self, catalog: &Catalog, tenants: u32) -> anyhow::Result<()> {
        progress(&format!(
            "creating {} bench tenants, each with a meter",
            grouped(u64::from(tenants))
        ));
        let spec = Arc::new(MeterSpec {
            key: MeterKey::parse(METER)?,
            event_type: "bench.alerting".to_owned(),
            value_path: Some(JsonPath::parse("$.temp")?),
            aggregation: Aggregation::Max,
            group_by: BTreeMap::from([(GROUP.to_owned(), JsonPath::parse("$.region")?)]),
            allowed_lateness_secs: 3_600,
        });
        let meters = set_up_tenants(catalog, tenants, &mut self.created, move |catalog, id| {
            let spec = Arc::clone(&spec);
            async move {
                let meter =
                    catalog::meters::create(&catalog, id, &spec, Actor::Operator, &Caps::default())
                        .await?;
                anyhow::Ok(meter)
            }
        })
        .await?;
        self.meters.extend(meters);
        Ok(())
    }

    /// Suspends every tenant created, which also ends the evaluation of their rules.
    pub(super) async fn suspend(&self, catalog: &Catalog) {
        suspend_tenants(catalog, self.created.iter().map(|(id, name)| (*id, name))).await;
    }
}

/// Creates the plan's rules for every tenant of `meters`, in one statement.
pub(super) async fn create_rules(
    catalog: &Catalog,
    meters: &[Meter],
    plan: Plan,
) -> anyhow::Result<()> {
    let mut names = Vec::new();
    let mut specs = Vec::new();
    for number in 0..plan.rules_per_tenant {
        let spec = Plan::rule(number)?;
        names.push(spec.name.clone());
        specs.push(Json(spec));
    }
    let tenants: Vec<Uuid> = meters
        .iter()
        .map(|meter| meter.tenant_id.as_uuid())
        .collect();
    sqlx::query(
        "INSERT INTO alert_rules (id, tenant_id, name, spec)
         SELECT gen_random_uuid(), t.tenant_id, s.name, s.spec
         FROM unnest($1::uuid[]) AS t (tenant_id)
         CROSS JOIN unnest($2::text[], $3::jsonb[]) AS s (name, spec)",
    )
    .bind(&tenants)
    .bind(&names)
    .bind(&specs)
    .execute(catalog.pool())
    .await
    .context("cannot create the rules")?;
    Ok(())
}

/// Writes a rollup row per tenant, subject and minute from the first minute a 5-minute window
/// at `first` reads to the minute of `last`: each subject's [`Plan::value`], in its region.
pub(super) async fn write_rollups(
    analytics: &Analytics,
    meters: &[Meter],
    plan: Plan,
    (first, last): (DateTime<Utc>, DateTime<Utc>),
) -> anyhow::Result<()> {
    let first_minute = floor_minute(first) - Duration::minutes(4);
    let minutes = (floor_minute(last) - first_minute).num_minutes() + 1;
    let subjects: Vec<Subject> = (0..plan.subjects)
        .map(|subject| Subject {
            name: Plan::subject(subject),
            region: Plan::region(subject),
            value: Plan::value(subject),
        })
        .collect();
    for chunk in meters.chunks(TENANTS_PER_INSERT) {
        insert_rollups(analytics, chunk, (first_minute, minutes), &subjects).await?;
    }
    Ok(())
}

/// A subject as the rollups written have it.
pub(super) struct Subject {
    /// Its name.
    pub(super) name: String,
    /// Its region.
    pub(super) region: &'static str,
    /// Its value in every minute.
    pub(super) value: i64,
}

/// Writes, with one insert, a rollup row for each of `meters`, each of `subjects` and each of
/// `minutes` minutes from `first_minute`.
pub(super) async fn insert_rollups(
    analytics: &Analytics,
    meters: &[Meter],
    (first_minute, minutes): (DateTime<Utc>, i64),
    subjects: &[Subject],
) -> anyhow::Result<()> {
    let start = u32::try_from(first_minute.timestamp()).context("a minute after 1970")?;
    let names: Vec<&str> = subjects
        .iter()
        .map(|subject| subject.name.as_str())
        .collect();
    let regions: Vec<&str> = subjects.iter().map(|subject| subject.region).collect();
    let values: Vec<i64> = subjects.iter().map(|subject| subject.value).collect();
    let count = subjects.len() as u64;
    let per_tenant = count * u64::try_from(minutes)?;
    let tenants: Vec<String> = meters
        .iter()
        .map(|meter| meter.tenant_id.to_string())
        .collect();
    let ids: Vec<String> = meters.iter().map(|meter| meter.id.to_string()).collect();
    analytics
        .client()
        .query(&format!(
            "{INSERT_ROLLUP_WRITES}
             SELECT arrayElement(?, intDiv(number, {per_tenant}) + 1),
                    arrayElement(?, intDiv(number, {per_tenant}) + 1),
                    toUInt32(? + intDiv(number % {per_tenant}, {count}) * 60),
                    arrayElement(?, number % {count} + 1),
                    [arrayElement(?, number % {count} + 1)], toUInt32(0),
                    toUInt64(number), toUInt64(1), toUInt64(1),
                    toDecimal128(arrayElement(?, number % {count} + 1), 9) AS value,
                    value, value, toInt64(0), toUInt64(0), toDecimal128(0, 9), 'minute'
             FROM numbers({rows})",
            rows = per_tenant * meters.len() as u64,
        ))
        .bind(&tenants)
        .bind(&ids)
        .bind(start)
        .bind(&names)
        .bind(&regions)
        .bind(&values)
        .execute()
        .await
        .context("cannot write the rollups")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_share_of_series_breach() {
        let plan = Plan {
            tenants: 2,
            rules_per_tenant: 10,
            subjects: 10,
        };
        // Per tenant: eight rules per subject, a fifth of whose ten series breach; a region
        // rule `<` 25 (neither region's highest value, 85 and 95, breaches), one `>` 75 (both).
        assert_eq!(plan.series().expect("counts"), (2 * (80 + 4), 2 * (16 + 2)));
        assert!(Plan::rule(9).is_ok());
    }
}
