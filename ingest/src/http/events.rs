//! `POST /v1/events`: CloudEvents in JSON, one or a batch, answered 202 with what was accepted
//! and what was rejected and why (422 when nothing was accepted).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use crate::auth::BearerHeader;
use crate::cloudevents::{self, Mode};
use crate::error::IngestError;
use crate::http::{ClientIp, body};
use crate::{Ingest, telemetry};

fn mode(headers: &HeaderMap) -> Result<Mode, IngestError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    Mode::from_content_type(content_type).ok_or_else(|| {
        IngestError::UnsupportedMediaType(format!(
            "content-type {content_type:?} is not supported; use application/cloudevents+json, \
             application/cloudevents-batch+json or application/json"
        ))
    })
}

/// Accepts CloudEvents for the key's tenant.
#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty))]
pub async fn post_events(
    State(ingest): State<Arc<Ingest>>,
    ClientIp(client): ClientIp,
    authorization: BearerHeader,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, IngestError> {
    let principal = ingest.auth.ingest_principal(&authorization, client).await?;
    telemetry::record_tenant(principal.tenant_id);
    let mode = mode(&headers)?;
    let bytes = body::read(request_body, &headers, ingest.config.max_body_bytes).await?;
    let now = Utc::now();
    let max_events = ingest.config.max_batch_events;
    let candidates = cloudevents::decode(&bytes, mode, max_events, now.timestamp_millis())?;
    let outcome = ingest.submit(principal.tenant_id, candidates, now).await?;
    if outcome.accepted == 0 {
        return Err(IngestError::AllRejected(json!(outcome)));
    }
    Ok((StatusCode::ACCEPTED, Json(outcome)).into_response())
}

/// Decodes CloudEvents and discards them: the floor any ingest must pay, for benchmarks.
pub async fn post_baseline(
    State(ingest): State<Arc<Ingest>>,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, IngestError> {
    let mode = mode(&headers)?;
    let bytes = body::read(request_body, &headers, ingest.config.max_body_bytes).await?;
    let max_events = ingest.config.max_batch_events;
    let candidates = cloudevents::decode(&bytes, mode, max_events, Utc::now().timestamp_millis())?;
    let accepted = candidates
        .iter()
        .filter(|candidate| candidate.decoded.is_ok())
        .count();
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))).into_response())
}
