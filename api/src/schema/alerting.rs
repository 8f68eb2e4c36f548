//! Alerting: the tenant's alert rules, its alerts now and their history, and their GraphQL
//! types.

use std::collections::BTreeMap;

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_alerting::catalog::{notifications, receivers, rules, series, silences};
use tally_alerting::history;
use tally_alerting::notify::receiver::Receiver;
use tally_alerting::notify::routing::Routing;
use tally_alerting::notify::silence::{NewSilence, Silence as StoredSilence};
use tally_alerting::rule::{self, RuleSpec};

use super::context::{admin_access, caller, converted, read_access, services};
use crate::cost::{CLICKHOUSE_QUERY, POSTGRES_QUERY};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// An alert rule.
#[derive(SimpleObject, Debug, Clone)]
pub struct AlertRule {
    /// Its name, unique within the tenant.
    pub name: String,
    /// `threshold`, `absence`, `quota` or `spend`.
    pub kind: String,
    /// The whole rule, as written (see the README's Alerting section).
    pub spec: Json<RuleSpec>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<rule::Rule> for AlertRule {
    fn from(rule: rule::Rule) -> Self {
        Self {
            name: rule.spec.name.clone(),
            kind: rule.spec.condition.kind().to_owned(),
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
    /// The silences muting it now; a silenced alert notifies no one.
    pub silenced_by: Vec<ID>,
}

impl Alert {
    fn new(alert: series::Alert, active: &[StoredSilence], now: DateTime<Utc>) -> Self {
        let silenced_by = active
            .iter()
            .filter(|silence| silence.mutes(&alert.series.labels.0, now))
            .map(|silence| ID(silence.id.to_string()))
            .collect();
        Self {
            silenced_by,
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

/// A silence: alerts with all of its labels notify no one between its start and end.
#[derive(SimpleObject, Debug, Clone)]
pub struct Silence {
    /// Its id.
    pub id: ID,
    /// The labels muted alerts have.
    pub matchers: Json<BTreeMap<String, String>>,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends.
    pub ends_at: DateTime<Utc>,
    /// Who made it.
    pub author: String,
    /// Why.
    pub comment: String,
}

impl From<StoredSilence> for Silence {
    fn from(silence: StoredSilence) -> Self {
        Self {
            id: ID(silence.id.to_string()),
            matchers: Json(silence.matchers),
            starts_at: silence.starts_at,
            ends_at: silence.ends_at,
            author: silence.author,
            comment: silence.comment,
        }
    }
}

/// A notification and its delivery attempts.
#[derive(SimpleObject, Debug, Clone)]
pub struct Notification {
    /// The receiver's name.
    pub receiver: String,
    /// `webhook`, `slack` or `email`.
    pub kind: String,
    /// The group it tells of.
    pub group_key: String,
    /// The key every delivery of it carries.
    pub idempotency_key: String,
    /// `PENDING`, `SENT` or `FAILED`.
    pub status: String,
    /// Alerts firing in it.
    pub firing: i32,
    /// Alerts resolved in it.
    pub resolved: i32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// Each attempt: `at`, `outcome` and `durationMs`.
    pub attempts: Json<Vec<serde_json::Value>>,
}

impl From<notifications::Logged> for Notification {
    fn from(logged: notifications::Logged) -> Self {
        Self {
            receiver: logged.receiver,
            kind: logged.kind,
            group_key: logged.group_key,
            idempotency_key: logged.idempotency_key,
            status: logged.status,
            firing: logged.firing,
            resolved: logged.resolved,
            created_at: logged.created_at,
            sent_at: logged.sent_at,
            attempts: Json(
                logged
                    .attempts
                    .into_iter()
                    .map(|(at, outcome, duration_ms)| {
                        serde_json::json!({"at": at, "outcome": outcome, "durationMs": duration_ms})
                    })
                    .collect(),
            ),
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
    async fn alert_rules(&self, context: &Context<'_>) -> ApiResult<Vec<AlertRule>> {
        let (tenant, catalog) = read_access(context)?;
        Ok(converted(rules::list(catalog, tenant).await?))
    }

    /// The tenant's alerts: firing first, then pending, then resolved within the last day.
    #[graphql(complexity = "2 * POSTGRES_QUERY + child_complexity")]
    async fn alerts(&self, context: &Context<'_>) -> ApiResult<Vec<Alert>> {
        let (tenant, catalog) = read_access(context)?;
        let now = Utc::now();
        let alerts = series::alerts(catalog, tenant).await?;
        let active = silences::list(catalog, tenant, now).await?;
        Ok(alerts
            .into_iter()
            .map(|alert| Alert::new(alert, &active, now))
            .collect())
    }

    /// The tenant's receivers as JSON, by name, without webhook secrets.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn alert_receivers(&self, context: &Context<'_>) -> ApiResult<Vec<Json<Receiver>>> {
        let (tenant, catalog) = read_access(context)?;
        let listed = receivers::list(catalog, tenant).await?;
        Ok(listed
            .into_iter()
            .map(|receiver| Json(receiver.redacted()))
            .collect())
    }

    /// The tenant's routing tree, if it set one.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn alert_routing(&self, context: &Context<'_>) -> ApiResult<Option<Json<Routing>>> {
        let (tenant, catalog) = read_access(context)?;
        Ok(receivers::routing(catalog, tenant).await?.map(Json))
    }

    /// The tenant's silences that have not ended, newest first.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn silences(&self, context: &Context<'_>) -> ApiResult<Vec<Silence>> {
        let (tenant, catalog) = read_access(context)?;
        Ok(converted(
            silences::list(catalog, tenant, Utc::now()).await?,
        ))
    }

    /// The tenant's notifications, newest first, with every delivery attempt; at most `first`
    /// (200 at most).
    #[graphql(complexity = "POSTGRES_QUERY + first.max(0) as usize * child_complexity")]
    async fn notification_log(
        &self,
        context: &Context<'_>,
        #[graphql(default = 50)] first: i32,
    ) -> ApiResult<Vec<Notification>> {
        let (tenant, catalog) = read_access(context)?;
        if !(1..=200).contains(&first) {
            return Err(ApiError::new(ErrorCode::BadUserInput, "first is 1 to 200"));
        }
        Ok(converted(
            notifications::log(catalog, tenant, i64::from(first)).await?,
        ))
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
    ) -> ApiResult<Vec<AlertTransition>> {
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
        .await?;
        Ok(converted(entries))
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
    ) -> ApiResult<AlertRule> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let spec = RuleSpec::parse(&spec.0.to_string())?;
        let created = rules::create(catalog, tenant, &spec, actor).await?;
        Ok(created.into())
    }

    /// Creates or replaces a receiver from its JSON (see the README's Alerting section).
    #[graphql(complexity = "4 * POSTGRES_QUERY + child_complexity")]
    async fn set_alert_receiver(
        &self,
        context: &Context<'_>,
        spec: Json<serde_json::Value>,
    ) -> ApiResult<bool> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let receiver = Receiver::parse(&spec.0.to_string())?;
        receivers::set(catalog, tenant, &receiver, actor).await?;
        Ok(true)
    }

    /// Deletes a receiver the routing tree does not name.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn delete_alert_receiver(&self, context: &Context<'_>, name: String) -> ApiResult<bool> {
        let (tenant, catalog, actor) = admin_access(context)?;
        receivers::delete(catalog, tenant, &name, actor).await?;
        Ok(true)
    }

    /// Sets the routing tree from its JSON; every receiver it names must exist.
    #[graphql(complexity = "4 * POSTGRES_QUERY + child_complexity")]
    async fn set_alert_routing(
        &self,
        context: &Context<'_>,
        spec: Json<serde_json::Value>,
    ) -> ApiResult<bool> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let routing = Routing::parse(&spec.0.to_string())?;
        receivers::set_routing(catalog, tenant, &routing, actor).await?;
        Ok(true)
    }

    /// Mutes every alert with all of `matchers` (label name to value) from `startsAt` (now)
    /// to `endsAt`; the key that makes it is its author.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn create_silence(
        &self,
        context: &Context<'_>,
        matchers: Json<BTreeMap<String, String>>,
        starts_at: Option<DateTime<Utc>>,
        ends_at: DateTime<Utc>,
        comment: String,
    ) -> ApiResult<Silence> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let silence = NewSilence {
            matchers: matchers.0,
            starts_at: starts_at.unwrap_or_else(Utc::now),
            ends_at,
            author: actor.to_string(),
            comment,
        };
        let created = silences::create(catalog, tenant, &silence, actor).await?;
        Ok(created.into())
    }

    /// Ends a silence now.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn expire_silence(&self, context: &Context<'_>, id: ID) -> ApiResult<bool> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let id = id
            .parse::<uuid::Uuid>()
            .map_err(|_| ApiError::new(ErrorCode::NotFound, format!("silence {}", id.0)))?;
        silences::expire(catalog, tenant, id, actor).await?;
        Ok(true)
    }

    /// Deletes an alert rule and its alerts; their history stays.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn delete_alert_rule(&self, context: &Context<'_>, name: String) -> ApiResult<bool> {
        let (tenant, catalog, actor) = admin_access(context)?;
        rules::delete(catalog, tenant, &name, actor).await?;
        Ok(true)
    }
}
