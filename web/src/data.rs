//! What the pages show, loaded through server functions. On the server each one runs a
//! GraphQL operation against the API's own schema as the signed-in key (through
//! the server's GraphQL bridge), so the UI can do exactly what that key may do through the API,
//! bound to its tenant, and no more.

use leptos::prelude::*;

use crate::model::{
    AlertRuleRow, AlertsView, ApiKey, CustomerRow, InvoiceDetail, InvoiceRow, Meter, MeterDetail,
    Page, PlanRow, QuarantinePage, Quota, RunningTotals, SignInForm, SloDetail, SloRow, Traffic,
    UsageSelection,
};

/// The sign-in page's data.
#[server(prefix = "/ui/fn")]
pub async fn load_sign_in() -> Result<SignInForm, ServerFnError> {
    Ok(SignInForm {
        flash: crate::server::bridge::flash(),
        token: crate::server::bridge::sign_in_token(),
    })
}

/// The fields of the signed-in viewer that every page's query asks for.
#[cfg_attr(
    not(feature = "ssr"),
    allow(dead_code, reason = "the queries run on the server")
)]
pub(crate) const ME: &str = "me { tenantName scope keyId }";

/// The fields of a meter that the meters and meter pages show.
#[cfg_attr(
    not(feature = "ssr"),
    allow(dead_code, reason = "the queries run on the server")
)]
pub(crate) const METER_FIELDS: &str =
    "key eventType aggregation valuePath groupBy { name path } allowedLatenessSecs";

/// The overview: the last hour's traffic.
#[server(prefix = "/ui/fn")]
pub async fn load_overview() -> Result<Page<Traffic>, ServerFnError> {
    crate::server::bridge::query_data(
        "traffic(top: 8) { minutes { minute accepted rejected } topTypes { eventType events } }",
    )
    .await
}

/// The tenant's meters.
#[server(prefix = "/ui/fn")]
pub async fn load_meters() -> Result<Page<Vec<Meter>>, ServerFnError> {
    crate::server::bridge::query_data(&format!("meters {{ {METER_FIELDS} }}")).await
}

/// One meter with its last hour and its usage over the selection.
#[server(prefix = "/ui/fn")]
pub async fn load_meter(
    /// The meter's key.
    key: String,
    /// What the usage table shows.
    selection: UsageSelection,
) -> Result<Page<MeterDetail>, ServerFnError> {
    crate::server::bridge::meter_detail(key, selection).await
}

/// A page of quarantined events.
#[server(prefix = "/ui/fn")]
pub async fn load_quarantine(
    /// Where the previous page ended.
    after: Option<String>,
) -> Result<Page<QuarantinePage>, ServerFnError> {
    crate::server::bridge::query_page(
        &format!(
            "query($after: String) {{ {ME} data: quarantine(first: 50, after: $after) {{ \
             items {{ ingestTime eventId reason raw }} nextCursor }} }}"
        ),
        serde_json::json!({ "after": after }),
    )
    .await
}

/// The tenant's quota.
#[server(prefix = "/ui/fn")]
pub async fn load_quota() -> Result<Page<Quota>, ServerFnError> {
    crate::server::bridge::query_data(
        "quota { ratePerSec burst monthlyEvents monthlyMode isDefault periodStart consumed \
         grantedRatePerSec grantedBurst grantedMonthlyEvents grantedMonthlyMode }",
    )
    .await
}

/// The tenant's API keys.
#[server(prefix = "/ui/fn")]
pub async fn load_api_keys() -> Result<Page<Vec<ApiKey>>, ServerFnError> {
    crate::server::bridge::query_data("apiKeys { id scope prefix createdAt revokedAt }").await
}

/// The tenant's invoices, newest period first.
#[server(prefix = "/ui/fn")]
pub async fn load_invoices() -> Result<Page<Vec<InvoiceRow>>, ServerFnError> {
    crate::server::bridge::billing::invoices().await
}

/// One invoice with its lines explained.
#[server(prefix = "/ui/fn")]
pub async fn load_invoice(
    /// The invoice's id.
    id: String,
) -> Result<Page<InvoiceDetail>, ServerFnError> {
    crate::server::bridge::billing::invoice(id).await
}

/// The tenant's alerts now, its silences and the newest transitions.
#[server(prefix = "/ui/fn")]
pub async fn load_alerts() -> Result<Page<AlertsView>, ServerFnError> {
    crate::server::bridge::query_fields(&format!(
        "{{ {ME} alerts {{ rule series state since value labels silencedBy }} \
         silences {{ id matchers startsAt endsAt author comment }} \
         alertHistory(first: 100) {{ rule series from to at value }} }}"
    ))
    .await
}

/// The tenant's alert rules.
#[server(prefix = "/ui/fn")]
pub async fn load_alert_rules() -> Result<Page<Vec<AlertRuleRow>>, ServerFnError> {
    crate::server::bridge::query_data("alertRules { name kind spec }").await
}

/// The tenant's SLOs, each with where it stands now.
#[server(prefix = "/ui/fn")]
pub async fn load_slos() -> Result<Page<Vec<SloRow>>, ServerFnError> {
    crate::server::bridge::slo::slos().await
}

/// One SLO with its budget, burn-down, burn rates and alert tiers per series.
#[server(prefix = "/ui/fn")]
pub async fn load_slo(
    /// The SLO's name.
    name: String,
) -> Result<Page<SloDetail>, ServerFnError> {
    crate::server::bridge::slo::slo(name).await
}

/// The tenant's customers with their running totals.
#[server(prefix = "/ui/fn")]
pub async fn load_customers() -> Result<Page<Vec<CustomerRow>>, ServerFnError> {
    crate::server::bridge::billing::customers().await
}

/// The tenant's plans with their versions.
#[server(prefix = "/ui/fn")]
pub async fn load_plans() -> Result<Page<Vec<PlanRow>>, ServerFnError> {
    crate::server::bridge::billing::plans().await
}

/// This period's running total across the tenant's customers.
#[server(prefix = "/ui/fn")]
pub async fn load_running_totals() -> Result<RunningTotals, ServerFnError> {
    crate::server::bridge::billing::running_totals().await
}
