//! Audit log exports for admins: `GET /v1/audit.json` and `GET /v1/audit.csv` give the tenant's
//! latest audit entries, newest first, `limit` of them (default 1000, at most 10,000), to the
//! same admin keys that may read `auditLog` through GraphQL.

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tally_meter::audit::AuditEntry;
use tally_meter::catalog;

use crate::csv;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::export::{ExportRequest, answer, csv_file};

/// Entries an export holds unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 1000;
/// Most entries one export may hold.
pub const MAX_LIMIT: u32 = 10_000;

/// The parameters of an export.
#[derive(Debug, Deserialize)]
pub struct AuditParams {
    limit: Option<u32>,
}

/// `GET /v1/audit.json`: the entries as a JSON array.
#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty))]
pub async fn audit_json(
    request: ExportRequest,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    answer(export(&request, params, |entries| Json(entries).into_response()).await)
}

/// `GET /v1/audit.csv`: one row per entry, with a header row.
#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty))]
pub async fn audit_csv(
    request: ExportRequest,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    answer(
        export(&request, params, |entries| {
            csv_file("audit.csv", to_csv(entries))
        })
        .await,
    )
}

/// Admits the request, reads the tenant's latest entries and answers with them as `render`
/// writes them.
async fn export(
    request: &ExportRequest,
    params: Result<Query<AuditParams>, QueryRejection>,
    render: impl FnOnce(&[AuditEntry]) -> Response,
) -> ApiResult<Response> {
    let caller = request.admit().await?;
    let tenant = caller.may_administer()?;
    let Query(params) = params.map_err(|rejection| {
        ApiError::new(
            ErrorCode::BadUserInput,
            format!("{}; expected limit, a whole number", rejection.body_text()),
        )
    })?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::new(
            ErrorCode::BadUserInput,
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }
    let catalog = &request.api.services.catalog;
    let entries = catalog::audit::list(catalog, tenant, i64::from(limit)).await?;
    Ok(render(&entries))
}

/// Renders entries as CSV (RFC 4180, cells neutralised against formulas): when, who, what,
/// from where, before and after.
fn to_csv(entries: &[AuditEntry]) -> String {
    let header = ["at", "actor", "action", "client", "old_value", "new_value"].map(str::to_owned);
    let mut text = csv::line(&header);
    let json = |value: &Option<serde_json::Value>| {
        value
            .as_ref()
            .map(serde_json::Value::to_string)
            .unwrap_or_default()
    };
    for entry in entries {
        text.push_str(&csv::line(&[
            entry.at.to_rfc3339(),
            entry.actor.clone(),
            entry.action.clone(),
            entry.client.clone().unwrap_or_default(),
            json(&entry.old_value),
            json(&entry.new_value),
        ]));
    }
    text
}
