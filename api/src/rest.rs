//! REST exports for finance tools: `GET /v1/usage.csv` and `GET /v1/usage.json` take the same
//! parameters as the GraphQL `usage` query (`meter`, `from`, `to`, `window`, `group_by` as a
//! comma-separated list, `subject`) and the same bearer key; errors are JSON with the code of
//! [`crate::error`] and its HTTP status.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tally_meter::ids::MeterKey;
use tally_meter::usage::{self, UsagePoint, UsageQuery, Window};

use crate::auth::ClientAddress;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::{Api, error_response};

/// The parameters of an export.
#[derive(Debug, Deserialize)]
pub struct UsageParams {
    meter: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: Option<String>,
    group_by: Option<String>,
    subject: Option<String>,
}

/// `GET /v1/usage.json`: the usage points as a JSON array.
pub async fn usage_json(
    State(api): State<Api>,
    client: ClientAddress,
    headers: HeaderMap,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Response {
    match export(&api, client, &headers, params).await {
        Ok((_, points)) => Json(points).into_response(),
        Err(error) => error_response(&error),
    }
}

/// `GET /v1/usage.csv`: one row per window and group combination, with a header row.
pub async fn usage_csv(
    State(api): State<Api>,
    client: ClientAddress,
    headers: HeaderMap,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Response {
    match export(&api, client, &headers, params).await {
        Ok((query, points)) => (
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8"),
                (CONTENT_DISPOSITION, "attachment; filename=\"usage.csv\""),
            ],
            to_csv(&query.group_by, &points),
        )
            .into_response(),
        Err(error) => error_response(&error),
    }
}

async fn export(
    api: &Api,
    client: ClientAddress,
    headers: &HeaderMap,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> ApiResult<(UsageQuery, Vec<UsagePoint>)> {
    let caller = api.admit(client, headers).await?;
    let tenant = caller.may_read()?;
    let Query(params) = params.map_err(|rejection| {
        ApiError::new(
            ErrorCode::BadUserInput,
            format!(
                "{}; expected meter, from and to (RFC 3339), and optionally window, group_by and subject",
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
    let services = &api.services;
    let points = usage::usage(&services.pool, &services.analytics, tenant, &meter, &query).await?;
    Ok((query, points))
}

/// Renders points as CSV (RFC 4180): window bounds, the groups, events, value.
fn to_csv(group_names: &[String], points: &[UsagePoint]) -> String {
    let mut header = vec!["window_start".to_owned(), "window_end".to_owned()];
    header.extend(group_names.iter().cloned());
    header.extend(["events".to_owned(), "value".to_owned()]);
    let mut csv = csv_line(&header);
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
        csv.push_str(&csv_line(&fields));
    }
    csv
}

/// One CSV line: fields with commas, quotes or line breaks are quoted, quotes doubled.
pub(crate) fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|field| {
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field.clone()
            }
        })
        .collect();
    format!("{}\r\n", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let line = csv_line(&[
            "plain".to_owned(),
            "a,b".to_owned(),
            "say \"hi\"".to_owned(),
        ]);
        assert_eq!(line, "plain,\"a,b\",\"say \"\"hi\"\"\"\r\n");
    }
}
