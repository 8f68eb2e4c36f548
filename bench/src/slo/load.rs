//! What `tally bench slo` measures: its tenants, each with the same SLOs applied with their
//! alert rules, as `tally slo apply` applies them; and the counts of the SLOs' indicators,
//! written straight into the rollup tables as the aggregator writes them, from a formula that
//! also gives the counts every range should add up to.
//!
//! The counts cover [`HISTORY_DAYS`] days up to the bench's instant: every minute of the last
//! [`DENSE_HOURS`] hours, and one minute an hour before that, so that every burn-rate window
//! and every window so far has events. Each minute with events has its minute row; each hour
//! and day its row with the sums of its minutes, as the aggregator keeps them.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use tally_alerting::catalog::rules::apply_slo;
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::catalog::Catalog;
use tally_meter::ids::{TenantId, TenantName};
use tally_meter::usage::floor_minute;
use tally_slo::catalog::Slo;
use tally_slo::{Counts, SloSpec};

use crate::format::grouped;
use crate::tenants::{set_up_tenants, suspend_tenants};
use crate::{INSERT_ROLLUP_WRITES, progress};

/// The values of the group of SLOs split by endpoint.
const ENDPOINTS: [&str; 3] = ["/checkout", "/search", "/login"];
/// Days of counts up to the bench's instant: past the start of a 28-day window and of a
/// calendar month.
const HISTORY_DAYS: i64 = 32;
/// Hours up to the bench's instant with events in every minute.
const DENSE_HOURS: i64 = 26;
/// The minute of each hour with events before those.
const SPARSE_MINUTE: i64 = 17;
/// SLOs whose counts one insert writes.
const SLOS_PER_INSERT: usize = 100;

/// The sizes of the bench.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// Tenants.
    pub(super) tenants: u32,
    /// SLOs per tenant.
    pub(super) slos_per_tenant: u32,
}

impl Plan {
    /// All SLOs.
    pub(super) fn slos(&self) -> u64 {
        u64::from(self.tenants) * u64::from(self.slos_per_tenant)
    }

    /// SLO `number` of every tenant: availability (`$.status < 500`) and latency (at most
    /// 300 ms) in turn; every third, from the first, split by endpoint; windows of 28 days,
    /// the calendar month and 7 days in turn; objectives of 99.9 %, and 99 % for every fifth;
    /// the default alert tiers.
    pub(super) fn spec(number: u32) -> anyhow::Result<SloSpec> {
        let indicator = if number.is_multiple_of(2) {
            r#"{"kind": "ratio", "event_type": "bench.request", "good": "$.status < 500"}"#
        } else {
            r#"{"kind": "latency", "event_type": "bench.request", "value": "$.latency_ms",
                "threshold": "300"}"#
        };
        let group = if number.is_multiple_of(3) {
            r#", "group_by": {"endpoint": "$.endpoint"}"#
        } else {
            ""
        };
        let window = ["28d", "month", "7d"][number as usize % 3];
        let objective = if number % 5 == 4 { "99" } else { "99.9" };
        let json = format!(
            r#"{{"name": "slo-{number}", "indicator": {indicator}, "objective": "{objective}",
                 "window": "{window}"{group}}}"#
        );
        Ok(serde_json::from_str(&json)?)
    }
}

/// The bench's tenants and their SLOs.
#[derive(Default)]
pub(super) struct Fleet {
    /// Every tenant created, to suspend at the end, even those half set up.
    created: Vec<(TenantId, TenantName)>,
    /// The SLOs of the tenants fully set up, by tenant and name.
    pub(super) slos: Vec<Slo>,
}

impl Fleet {
    /// Creates the plan's tenants, each with its SLOs and their alert rules, a few tenants at
    /// a time.
    pub(super) async fn create(&mut self, catalog: &Catalog, plan: Plan) -> anyhow::Result<()> {
        progress(&format!(
            "creating {} bench tenants, each with {} SLOs and their alert rules",
            grouped(u64::from(plan.tenants)),
            plan.slos_per_tenant
        ));
        let specs: Arc<Vec<SloSpec>> = Arc::new(
            (0..plan.slos_per_tenant)
                .map(Plan::spec)
                .collect::<anyhow::Result<_>>()?,
        );
        let slos = set_up_tenants(
            catalog,
            plan.tenants,
            &mut self.created,
            move |catalog, id| {
                let specs = Arc::clone(&specs);
                async move {
                    let mut slos = Vec::new();
                    for spec in specs.iter() {
                        slos.push(apply_slo(&catalog, id, spec, Actor::Operator).await?.slo);
                    }
                    anyhow::Ok(slos)
                }
            },
        )
        .await?;
        self.slos.extend(slos.into_iter().flatten());
        self.slos.sort_by(|one, other| {
            (one.tenant_id, &one.spec.name).cmp(&(other.tenant_id, &other.spec.name))
        });
        Ok(())
    }

    /// Suspends every tenant created, which also ends the evaluation of their rules.
    pub(super) async fn suspend(&self, catalog: &Catalog) {
        suspend_tenants(catalog, self.created.iter().map(|(id, name)| (*id, name))).await;
    }
}

/// One series of an SLO: the whole SLO, or one value of its group; numbered over the fleet.
pub(super) struct Series {
    /// Its number, which varies its counts.
    pub(super) ordinal: u64,
    /// The group's value, for an SLO with a group.
    pub(super) group: Option<&'static str>,
}

/// The series of each SLO of `slos`, numbered in their order.
pub(super) fn series_of(slos: &[Slo]) -> Vec<Vec<Series>> {
    let mut ordinal = 0;
    slos.iter()
        .map(|slo| {
            let groups: Vec<Option<&'static str>> = if slo.spec.group_by.is_some() {
                ENDPOINTS.into_iter().map(Some).collect()
            } else {
                vec![None]
            };
            groups
                .into_iter()
                .map(|group| {
                    ordinal += 1;
                    Series {
                        ordinal: ordinal - 1,
                        group,
                    }
                })
                .collect()
        })
        .collect()
}

/// The minutes with events and the counts of each series in each of them.
pub(super) struct History {
    /// The minutes with events, in seconds since the epoch, ascending.
    minutes: Vec<u32>,
    /// The first minute of the last hour, from which every seventh series burns its budget
    /// fast.
    burn_from: u32,
}

impl History {
    /// The history up to the minute of `at`.
    pub(super) fn new(at: DateTime<Utc>) -> anyhow::Result<Self> {
        let end = floor_minute(at) + Duration::minutes(1);
        let dense_from = end - Duration::hours(DENSE_HOURS);
        let first_hour = (end - Duration::days(HISTORY_DAYS))
            .timestamp()
            .div_euclid(3_600)
            * 3_600;
        let sparse = (first_hour..dense_from.timestamp())
            .step_by(3_600)
            .map(|hour| hour + SPARSE_MINUTE * 60)
            .filter(|minute| *minute < dense_from.timestamp());
        let dense = (dense_from.timestamp()..end.timestamp()).step_by(60);
        let minutes = sparse
            .chain(dense)
            .map(u32::try_from)
            .collect::<Result<_, _>>()
            .context("a minute between 1970 and 2106")?;
        Ok(Self {
            minutes,
            burn_from: u32::try_from((end - Duration::hours(1)).timestamp())?,
        })
    }

    /// The counts of series `ordinal` in `minute`: 20 to 30 events, one of them bad every
    /// 40 minutes, and three more in every minute of the last hour for every seventh series.
    /// [`insert_minutes`] writes the same in SQL.
    fn counts(&self, ordinal: u64, minute: u32) -> Counts {
        let minute_number = u64::from(minute / 60);
        let total = 20 + (minute_number * 7 + ordinal) % 11;
        let mut bad = u64::from((minute_number + ordinal).is_multiple_of(40));
        if ordinal.is_multiple_of(7) && minute >= self.burn_from {
            bad += 3;
        }
        Counts {
            good: total - bad,
            total,
        }
    }

    /// The counts of series `ordinal` over `[from, to)`.
    pub(super) fn expected(
        &self,
        ordinal: u64,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Counts {
        let (from, to) = (from.timestamp(), to.timestamp());
        self.minutes
            .iter()
            .filter(|minute| (from..to).contains(&i64::from(**minute)))
            .map(|minute| self.counts(ordinal, *minute))
            .sum()
    }

    /// Rows written per series: one per minute with events, hour and day.
    fn rows_per_series(&self) -> u64 {
        let distinct = |seconds: u32| {
            let mut buckets: Vec<u32> =
                self.minutes.iter().map(|minute| minute / seconds).collect();
            buckets.dedup();
            buckets.len() as u64
        };
        distinct(60) + distinct(3_600) + distinct(86_400)
    }
}

/// Writes the counts of every series of `slos` (numbered as [`series_of`] numbers them) in
/// every minute of `history`, and their sums per hour and per day; returns the rows written.
pub(super) async fn write_counts(
    analytics: &Analytics,
    slos: &[Slo],
    history: &History,
) -> anyhow::Result<u64> {
    let series = series_of(slos);
    let mut written = 0;
    for (chunk, chunk_series) in slos
        .chunks(SLOS_PER_INSERT)
        .zip(series.chunks(SLOS_PER_INSERT))
    {
        let mut tenants = Vec::new();
        let mut ids = Vec::new();
        let mut groups = Vec::new();
        let mut ordinals = Vec::new();
        for (slo, slo_series) in chunk.iter().zip(chunk_series) {
            for one in slo_series {
                tenants.push(slo.tenant_id.to_string());
                ids.push(slo.id.to_string());
                groups.push(one.group.unwrap_or_default());
                ordinals.push(one.ordinal);
            }
        }
        insert_minutes(analytics, history, (&tenants, &ids, &groups, &ordinals)).await?;
        let keys: Vec<(String, String)> = chunk
            .iter()
            .map(|slo| (slo.tenant_id.to_string(), slo.id.to_string()))
            .collect();
        for (resolution, seconds) in [("hour", 3_600), ("day", 86_400)] {
            insert_sums(analytics, &keys, resolution, seconds).await?;
        }
        written += history.rows_per_series() * tenants.len() as u64;
    }
    Ok(written)
}

/// Writes, with one insert, the minute rows of the series given by their tenants, SLO ids,
/// group values (`""` for none) and ordinals.
async fn insert_minutes(
    analytics: &Analytics,
    history: &History,
    (tenants, ids, groups, ordinals): (&[String], &[String], &[&str], &[u64]),
) -> anyhow::Result<()> {
    let minutes = history.minutes.len() as u64;
    analytics
        .client()
        .query(&format!(
            "{INSERT_ROLLUP_WRITES}
             SELECT tenant_id, meter_id, minute, '', group_values, toUInt32(0),
                    toUInt64(number), toUInt64(1), toUInt64(total),
                    toDecimal128(total - bad, 9), toDecimal128(if(bad > 0, 0, 1), 9),
                    toDecimal128(1, 9), toInt64(0), toUInt64(0), toDecimal128(0, 9), 'minute'
             FROM (
                 SELECT number, intDiv(number, {minutes}) + 1 AS position,
                        arrayElement(?, position) AS tenant_id,
                        arrayElement(?, position) AS meter_id,
                        arrayElement(?, position) AS group_value,
                        if(group_value = '', emptyArrayString(), [group_value]) AS group_values,
                        arrayElement(?, position) AS ordinal,
                        toUInt32(arrayElement(?, number % {minutes} + 1)) AS minute,
                        20 + (intDiv(minute, 60) * 7 + ordinal) % 11 AS total,
                        ((intDiv(minute, 60) + ordinal) % 40 = 0)
                            + 3 * (ordinal % 7 = 0 AND minute >= {burn_from}) AS bad
                 FROM numbers({rows}))",
            burn_from = history.burn_from,
            rows = minutes * tenants.len() as u64,
        ))
        .bind(tenants)
        .bind(ids)
        .bind(groups)
        .bind(ordinals)
        .bind(&history.minutes)
        .execute()
        .await
        .context("cannot write the minute rows")?;
    Ok(())
}

/// Writes the rows of `resolution` (`hour` or `day`, buckets of `seconds`) of the SLOs of
/// `keys` (tenant and SLO id): the sums of their minute rows, as the aggregator keeps them.
async fn insert_sums(
    analytics: &Analytics,
    keys: &[(String, String)],
    resolution: &str,
    seconds: u32,
) -> anyhow::Result<()> {
    analytics
        .client()
        .query(&format!(
            "{INSERT_ROLLUP_WRITES}
             SELECT tenant_id, meter_id, intDiv(minute, {seconds}) * {seconds} AS bucket,
                    subject, group_values, toUInt32(0), toUInt64(0), toUInt64(1), sum(events),
                    sum(value_sum), min(value_min), max(value_max), toInt64(0), toUInt64(0),
                    toDecimal128(0, 9), '{resolution}'
             FROM rollup_minute_v2
             WHERE (tenant_id, meter_id) IN (SELECT tupleElement(key, 1), tupleElement(key, 2)
                                            FROM (SELECT arrayJoin(?) AS key))
             GROUP BY tenant_id, meter_id, bucket, subject, group_values"
        ))
        .bind(keys)
        .execute()
        .await
        .with_context(|| format!("cannot write the {resolution} rows"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_mix_indicators_groups_and_windows() {
        let specs: Vec<SloSpec> = (0..6)
            .map(|number| Plan::spec(number).expect("valid"))
            .collect();
        assert!(specs.iter().all(|spec| spec.validate().is_ok()));
        let windows: Vec<String> = specs.iter().map(|spec| spec.window.to_string()).collect();
        assert_eq!(windows, ["28d", "month", "7d", "28d", "month", "7d"]);
        let grouped = specs.iter().filter(|spec| spec.group_by.is_some()).count();
        assert_eq!(grouped, 2);
    }

    #[test]
    fn every_minute_of_the_last_hours_has_events_and_one_an_hour_before() {
        let at: DateTime<Utc> = "2026-11-21T10:56:30Z".parse().expect("an instant");
        let history = History::new(at).expect("a history");
        let end = "2026-11-21T10:57:00Z"
            .parse::<DateTime<Utc>>()
            .expect("an instant");
        let last_hour = history.expected(0, (end - Duration::hours(1), end));
        let minutes = |from: DateTime<Utc>, to: DateTime<Utc>| {
            history
                .minutes
                .iter()
                .filter(|minute| (from.timestamp()..to.timestamp()).contains(&i64::from(**minute)))
                .count()
        };
        assert_eq!(minutes(end - Duration::hours(1), end), 60);
        assert_eq!(
            minutes(end - Duration::hours(30), end - Duration::hours(27)),
            3
        );
        assert!(minutes(end - Duration::days(HISTORY_DAYS), end - Duration::days(28)) > 0);
        // Series 0 burns: three bad events more in each of the last 60 minutes.
        assert!(last_hour.total - last_hour.good >= 180);
        assert_eq!(
            history.expected(1, (end, end + Duration::hours(1))),
            Counts::default()
        );
    }
}
