//! REST exports for finance tools: `GET /v1/usage.csv` and `GET /v1/usage.json` take the same
//! parameters as the GraphQL `usage` query (`meter`, `from`, `to`, `window`, `group_by` as a
//! comma-separated list, `subject`, `timezone`; `from` and `to` whole minutes) and the same
//! bearer key; errors are JSON with the code of [`crate::error`] and its HTTP status. An
//! export is bounded: its range may hold at most [`UsageLimits::EXPORT`] windows (counted
//! before any store is asked) and its answer as many
//! rows, both refused with 400; it runs at most [`crate::REQUEST_TIMEOUT`], then answers 503
//! with `Retry-After`. CSV cells that a spreadsheet would run as formulas are neutralised
//! ([`crate::csv`]).

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tally_meter::ids::MeterKey;
use tally_meter::usage::{self, UsageLimits, UsagePoint, UsageQuery, Window};

use crate::csv;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::export::{ExportRequest, answer_by_deadline, csv_file};

/// The parameters of an export.
#[derive(Debug, Deserialize)]
pub struct UsageParams {
    meter: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: Option<String>,
    group_by: Option<String>,
    subject: Option<String>,
    timezone: Option<String>,
}

/// `GET /v1/usage.json`: the usage points as a JSON array.
#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty))]
pub async fn usage_json(
    request: ExportRequest,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Response {
    answer_by_deadline(async {
        let (_, points) = export(&request, params).await?;
        Ok(Json(points).into_response())
    })
    .await
}

/// `GET /v1/usage.csv`: one row per window and group combination, with a header row.
#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty))]
pub async fn usage_csv(
    request: ExportRequest,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Response {
    answer_by_deadline(async {
        let (query, points) = export(&request, params).await?;
        Ok(csv_file("usage.csv", to_csv(&query.group_by, &points)))
    })
    .await
}

async fn export(
    request: &ExportRequest,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> ApiResult<(UsageQuery, Vec<UsagePoint>)> {
    let caller = request.admit().await?;
    let tenant = caller.may_read()?;
    let Query(params) = params.map_err(|rejection| {
        ApiError::new(
            ErrorCode::BadUserInput,
            format!(
                "{}; expected meter, from and to (RFC 3339), and optionally window, group_by, subject and timezone",
                rejection.body_text()
            ),
        )
    })?;
    let query = UsageQuery {
        from: params.from,
        to: params.to,
        window: params
            .window
            .as_deref()
            .unwrap_or("hour")
            .parse::<Window>()?,
        time_zone: usage::parse_time_zone(params.timezone.as_deref().unwrap_or("UTC"))?,
        group_by: params
            .group_by
            .map(|names| {
                names
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        subject: params.subject,
    };
    let meter = MeterKey::parse(&params.meter)?;
    let services = &request.api.services;
    let points = usage::usage_within(
        &services.catalog,
        &services.analytics,
        tenant,
        &meter,
        &query,
        UsageLimits::EXPORT,
    )
    .await?;
    Ok((query, points))
}

/// Renders points as CSV (RFC 4180, see [`crate::csv`]): window bounds, the groups, events,
/// value.
fn to_csv(group_names: &[String], points: &[UsagePoint]) -> String {
    let mut header = vec!["window_start".to_owned(), "window_end".to_owned()];
    header.extend(group_names.iter().cloned());
    header.extend(["events".to_owned(), "value".to_owned()]);
    let mut text = csv::line(&header);
    for point in points {
        let mut fields = vec![
            point.window_start.to_rfc3339(),
            point.window_end.to_rfc3339(),
        ];
        fields.extend(
            group_names
                .iter()
                .map(|name| point.groups.get(name).cloned().unwrap_or_default()),
        );
        fields.push(point.events.to_string());
        fields.push(
            point
                .value
                .map(|value| value.to_string())
                .unwrap_or_default(),
        );
        text.push_str(&csv::line(&fields));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{Duration, TimeZone};
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn group_values_that_start_formulas_are_neutralised_and_numbers_kept() {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        let point = |group: &str, value: Decimal| UsagePoint {
            window_start: start.fixed_offset(),
            window_end: (start + Duration::hours(1)).fixed_offset(),
            groups: BTreeMap::from([("model".to_owned(), group.to_owned())]),
            events: 1,
            value: Some(value),
        };
        let points = [
            point("=HYPERLINK(\"http://x\",\"y\")", Decimal::new(-15, 1)),
            point("@SUM(A1)", Decimal::ONE),
            point("-5", Decimal::ONE),
        ];
        let text = to_csv(&["model".to_owned()], &points);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "window_start,window_end,model,events,value");
        assert!(
            lines[1].ends_with(",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",1,-1.5"),
            "{text}"
        );
        assert!(lines[2].ends_with(",'@SUM(A1),1,1"), "{text}");
        assert!(lines[3].ends_with(",-5,1,1"), "{text}");
    }
}
