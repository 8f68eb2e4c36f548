//! Alerting: the tenant's alert rules, its alerts now and their history, and their GraphQL
//! types.

use std::collections::BTreeMap;

use async_graphql::{Context, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_alerting::catalog::{rules, series};
use tally_alerting::history;
use tally_alerting::rule::{self, RuleSpec};

use super::context::{actor, caller, services};
use crate::cost::{CLICKHOUSE_QUERY, POSTGRES_QUERY};
use crate::error::{ApiError, ErrorCode};

/// An alert rule.
#[derive(SimpleObject, Debug, Clone)]
pub struct AlertRule {
    /// Its name, unique within the tenant.
    pub name: String,
    /// `threshold`, `absence` or `quota`.
    pub kind: String,
    /// The whole rule, as written (see the README's Alerting section).
    pub spec: Json<RuleSpec>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<rule::Rule> for AlertRule {
    fn from(rule: rule::Rule) -> Self {
        let kind = match rule.spec.condition {
            rule::Condition::Threshold { .. } => "threshold",
            rule::Condition::Absence { .. } => "absence",
            rule::Condition::Quota { .. } => "quota",
        };
        Self {
            name: rule.spec.name.clone(),
            kind: kind.to_owned(),
            spec: Json(rule.spec),
            created_at: rule.created_at,
        }
    }
}

/// An alert: one series of a rule that is pending or firing, or resolved within the last day.
#[derive(SimpleObject, Debug, Clone)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// What tells it apart from the rule's other alerts, such as `subject=s1`.
    pub series: String,
    /// Its labels: tenant, alertname, severity, the rule's labels and the series' own.
    pub labels: Json<BTreeMap<String, String>>,
    /// `PENDING`, `FIRING` or `RESOLVED`.
    pub state: String,
    /// When it entered that state.
    pub since: DateTime<Utc>,
    /// When it last breached.
    pub last_breach: Option<DateTime<Utc>>,
    /// The value last evaluated.
    pub value: Option<Decimal>,
    /// When it was last evaluated.
    pub evaluated_at: DateTime<Utc>,
}

impl From<series::Alert> for Alert {
    fn from(alert: series::Alert) -> Self {
        Self {
            rule: alert.rule,
            series: alert.series.series,
            labels: Json(alert.series.labels.0),
            state: alert.series.state.state.as_str().to_owned(),
            since: alert.series.state.since,
            last_breach: alert.series.state.last_breach,
            value: alert.series.value,
            evaluated_at: alert.series.evaluated_at,
        }
    }
}

/// A transition of an alert series.
#[derive(SimpleObject, Debug, Clone)]
pub struct AlertTransition {
    /// The rule's name.
    pub rule: String,
    /// The series.
    pub series: String,
    /// Its labels.
    pub labels: Json<BTreeMap<String, String>>,
    /// The state left.
    pub from: String,
    /// The state entered.
    pub to: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The value evaluated then.
    pub value: Option<Decimal>,
}

impl From<history::Entry> for AlertTransition {
    fn from(entry: history::Entry) -> Self {
        Self {
            rule: entry.rule,
            series: entry.series,
            labels: Json(entry.labels),
            from: entry.from.as_str().to_owned(),
            to: entry.to.as_str().to_owned(),
            at: entry.at,
            value: entry.value,
        }
    }
}

/// Queries of alerting.
#[derive(Default)]
pub struct AlertingQuery;

#[Object]
impl AlertingQuery {
    /// The tenant's alert rules, by name.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn alert_rules(&self, context: &Context<'_>) -> async_graphql::Result<Vec<AlertRule>> {
        let tenant = caller(context)?.may_read()?;
        let listed = rules::list(&services(context).catalog, tenant)
            .await
            .map_err(ApiError::from)?;
        Ok(listed.into_iter().map(AlertRule::from).collect())
    }

    /// The tenant's alerts: firing first, then pending, then resolved within the last day.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn alerts(&self, context: &Context<'_>) -> async_graphql::Result<Vec<Alert>> {
        let tenant = caller(context)?.may_read()?;
        let alerts = series::alerts(&services(context).catalog, tenant)
            .await
            .map_err(ApiError::from)?;
        Ok(alerts.into_iter().map(Alert::from).collect())
    }

    /// The tenant's alert history, newest first: every transition, of one rule (and one of
    /// its series) if given; at most `first` (1000 at most).
    #[graphql(complexity = "CLICKHOUSE_QUERY + first.max(0) as usize * child_complexity")]
    async fn alert_history(
        &self,
        context: &Context<'_>,
        rule: Option<String>,
        series: Option<String>,
        #[graphql(default = 100)] first: i32,
    ) -> async_graphql::Result<Vec<AlertTransition>> {
        let tenant = caller(context)?.may_read()?;
        let limit = u64::try_from(first)
            .ok()
            .filter(|first| (1..=history::MAX_ENTRIES).contains(first))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadUserInput,
                    format!("first is 1 to {}", history::MAX_ENTRIES),
                )
            })?;
        let entries = history::read(
            &services(context).analytics,
            tenant,
            rule.as_deref(),
            series.as_deref(),
            limit,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(entries.into_iter().map(Into::into).collect())
    }
}

/// Mutations of alerting.
#[derive(Default)]
pub struct AlertingMutation;

#[Object]
impl AlertingMutation {
    /// Creates an alert rule from its JSON (see the README's Alerting section).
    #[graphql(complexity = "4 * POSTGRES_QUERY + child_complexity")]
    async fn create_alert_rule(
        &self,
        context: &Context<'_>,
        spec: Json<serde_json::Value>,
    ) -> async_graphql::Result<AlertRule> {
        let tenant = caller(context)?.may_administer()?;
        let spec = RuleSpec::parse(&spec.0.to_string()).map_err(ApiError::from)?;
        let created = rules::create(&services(context).catalog, tenant, &spec, actor(context)?)
            .await
            .map_err(ApiError::from)?;
        Ok(created.into())
    }

    /// Deletes an alert rule and its alerts; their history stays.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn delete_alert_rule(
        &self,
        context: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<bool> {
        let tenant = caller(context)?.may_administer()?;
        rules::delete(&services(context).catalog, tenant, &name, actor(context)?)
            .await
            .map_err(ApiError::from)?;
        Ok(true)
    }
}
