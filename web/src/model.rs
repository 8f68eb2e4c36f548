//! The plain data the pages show and the server fills in: a page's viewer, its one-time
//! message and its own data, as the API's GraphQL answers them. Shared by the pages, their
//! server functions and the server's form handlers; depends on none of them.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod alerting;
mod billing;
mod slo;

pub use alerting::{AlertRow, AlertRuleRow, AlertsView, SilenceRow, TransitionRow};
pub use billing::{
    CustomerRow, InvoiceDetail, InvoiceLine, InvoiceRow, Money, PlanRow, PlanVersionRow,
    RunningTotals,
};
pub use slo::{
    BudgetPoint, BurnDown, BurnDownSeries, BurnRateRow, IndicatorText, SloDefinition, SloDetail,
    SloRow, SloSeries, SloSpecText, Standing, TierRow, TierText,
};

/// A message for the next page, after a form post: what happened, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// Whether it reports a failure.
    pub error: bool,
    /// The message.
    pub text: String,
    /// A new API key's secret, shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// What the refused form held, to fill it again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub form: BTreeMap<String, String>,
}

impl Flash {
    /// A report of success.
    pub fn notice(text: impl Into<String>) -> Self {
        Self {
            error: false,
            text: text.into(),
            secret: None,
            form: BTreeMap::new(),
        }
    }

    /// A report of failure.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            error: true,
            ..Self::notice(text)
        }
    }

    /// Keeps the refused form's fields.
    pub fn with_form(mut self, form: BTreeMap<String, String>) -> Self {
        self.form = form;
        self
    }
}

/// What a page says when its session is gone (expired, signed out elsewhere, key revoked).
pub const SESSION_ENDED: &str = "Your session has ended: sign in again.";

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// The tenant's name.
    #[serde(rename = "tenantName")]
    pub tenant: String,
    /// The key's scope: READ or ADMIN.
    pub scope: String,
    /// The key's id.
    #[serde(rename = "keyId")]
    pub key_id: String,
    /// The token every form of the session sends back (not from the API: the server fills
    /// it in from the session), so that a form posted from another site is refused.
    #[serde(default)]
    pub form_token: String,
}

impl Viewer {
    /// Whether the key may change meters, quotas and keys.
    pub fn is_admin(&self) -> bool {
        self.scope == "ADMIN" || self.scope == "PLATFORM"
    }
}

/// One minute of traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteTraffic {
    /// Start of the minute.
    pub minute: DateTime<Utc>,
    /// Events stored.
    pub accepted: u64,
    /// Events quarantined.
    pub rejected: u64,
}

/// Events of one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeCount {
    /// The event type.
    pub event_type: String,
    /// Events stored in the last hour.
    pub events: u64,
}

/// The last hour of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    /// 60 minutes, oldest first.
    pub minutes: Vec<MinuteTraffic>,
    /// The busiest types.
    pub top_types: Vec<TypeCount>,
}

/// A meter's group-by entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBy {
    /// The group's name.
    pub name: String,
    /// Its JSON path into `data`.
    pub path: String,
}

/// A meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meter {
    /// Its key.
    pub key: String,
    /// The event type it counts.
    pub event_type: String,
    /// SUM, COUNT, ...
    pub aggregation: String,
    /// The JSON path of the value.
    pub value_path: Option<String>,
    /// Group-by entries.
    pub group_by: Vec<GroupBy>,
    /// Allowed lateness in seconds.
    pub allowed_lateness_secs: u64,
}

/// A group value of a usage point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupValue {
    /// The group's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A meter's value in one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePoint {
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end, exclusive.
    pub window_end: DateTime<Utc>,
    /// Group values.
    pub groups: Vec<GroupValue>,
    /// Events counted.
    pub events: u64,
    /// The exact aggregate.
    pub value: Option<Decimal>,
}

/// A meter's page: the meter, its last hour and its usage table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterDetail {
    /// The meter.
    pub meter: Meter,
    /// 60 per-minute points.
    pub last_hour: Vec<UsagePoint>,
    /// The usage table.
    pub usage: Vec<UsagePoint>,
}

/// A quarantined event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantinedEvent {
    /// When it was refused.
    pub ingest_time: DateTime<Utc>,
    /// Its id, when it had one.
    pub event_id: Option<String>,
    /// Why.
    pub reason: String,
    /// The event as sent.
    pub raw: String,
}

/// A page of quarantined events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantinePage {
    /// Newest first.
    pub items: Vec<QuarantinedEvent>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// Limits and consumption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Sustained events per second.
    pub rate_per_sec: u64,
    /// Burst size.
    pub burst: u64,
    /// Monthly events, if limited.
    pub monthly_events: Option<u64>,
    /// HARD or SOFT.
    pub monthly_mode: String,
    /// Whether these are the platform defaults.
    pub is_default: bool,
    /// First day of the period.
    pub period_start: NaiveDate,
    /// Events accepted this period.
    pub consumed: u64,
    /// The most rate the operator granted.
    pub granted_rate_per_sec: u64,
    /// The most burst the operator granted.
    pub granted_burst: u64,
    /// The most monthly events the operator granted, if capped.
    pub granted_monthly_events: Option<u64>,
    /// HARD or SOFT: the mode the operator granted.
    pub granted_monthly_mode: String,
}

/// An API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// Its id.
    pub id: String,
    /// INGEST, READ, ADMIN or PLATFORM.
    pub scope: String,
    /// The visible start of the secret.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a usage table shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSelection {
    /// MINUTE, HOUR, DAY or MONTH.
    pub window: String,
    /// Hours back from now.
    pub hours: u32,
    /// Group names to split by.
    pub group_by: Vec<String>,
}

/// The data of every page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// Who is signed in.
    #[serde(rename = "me")]
    pub viewer: Viewer,
    /// The message the previous form post left.
    #[serde(default)]
    pub flash: Option<Flash>,
    /// The page's own data.
    pub data: T,
}

/// What the sign-in page needs: the previous attempt's message, and the form's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInForm {
    /// Why the previous attempt failed, or that the person signed out.
    pub flash: Option<Flash>,
    /// The value the form must send back, equal to the browser's sign-in cookie: a form posted
    /// from another site cannot know it, nor send the SameSite=Strict cookie.
    pub token: String,
}
