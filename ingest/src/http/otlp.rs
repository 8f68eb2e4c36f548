//! OTLP/HTTP receivers: `POST /v1/metrics`, `/v1/logs` and `/v1/traces`, protobuf or JSON.
//! Answers follow the OTLP/HTTP specification: 200 with `partial_success` naming how many
//! items were rejected (quarantined) and why; 400 for a body that cannot be decoded; 413 for
//! one over the body size or with more items than `ingest.max_batch_events`; 429 and
//! 503 with `Retry-After` when the sender should retry; error bodies are `google.rpc.Status`
//! in the request's encoding.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tally_meter::error_code::retry_after_secs;

use crate::auth::BearerHeader;
use crate::error::IngestError;
use crate::http::{ClientIp, body};
use crate::otlp::{self, Encoding, Signal};
use crate::{Ingest, telemetry};

/// How many rejection reasons the partial-success message quotes.
const QUOTED_REASONS: usize = 3;

/// Accepts one OTLP export for the key's tenant: the handler of all three paths, each of
/// which names its `signal` in an [`Extension`].
#[tracing::instrument(skip_all, fields(signal = %signal, tenant = tracing::field::Empty))]
pub async fn export(
    Extension(signal): Extension<Signal>,
    State(ingest): State<Arc<Ingest>>,
    client: ClientIp,
    authorization: BearerHeader,
    headers: HeaderMap,
    request_body: Body,
) -> Response {
    let encoding = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(Encoding::from_content_type);
    let Some(encoding) = encoding else {
        let error = IngestError::UnsupportedMediaType(
            "OTLP/HTTP bodies must be application/x-protobuf or application/json".to_owned(),
        );
        return status_response(Encoding::Json, &error);
    };
    let accepted = accept(
        signal,
        encoding,
        &ingest,
        client,
        &authorization,
        &headers,
        request_body,
    )
    .await;
    match accepted {
        Ok((rejected, message)) => {
            let body = otlp::encode_response(signal, encoding, rejected, &message);
            ([(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
        }
        Err(error) => status_response(encoding, &error),
    }
}

async fn accept(
    signal: Signal,
    encoding: Encoding,
    ingest: &Ingest,
    ClientIp(client): ClientIp,
    authorization: &BearerHeader,
    headers: &HeaderMap,
    request_body: Body,
) -> Result<(i64, String), IngestError> {
    let principal = ingest.auth.ingest_principal(authorization, client).await?;
    telemetry::record_tenant(principal.tenant_id);
    let bytes = body::read(request_body, headers, ingest.config.max_body_bytes).await?;
    let now = Utc::now();
    let limits = ingest.config.decode_limits();
    let candidates = otlp::decode(signal, encoding, &bytes, limits, now.timestamp_millis())?;
    if candidates.is_empty() {
        return Ok((0, String::new()));
    }
    let outcome = ingest.submit(principal.tenant_id, candidates, now).await?;
    let mut notes: Vec<String> = outcome
        .rejected
        .iter()
        .take(QUOTED_REASONS)
        .map(|rejection| format!("item {}: {}", rejection.index, rejection.reason))
        .collect();
    if outcome.rejected.len() > QUOTED_REASONS {
        notes.push(format!("{} more", outcome.rejected.len() - QUOTED_REASONS));
    }
    notes.extend(outcome.warnings);
    let rejected = i64::try_from(outcome.rejected.len()).unwrap_or(i64::MAX);
    Ok((rejected, notes.join("; ")))
}

/// Renders a refused request as a `google.rpc.Status` in `encoding`, with `Retry-After` when
/// the sender should retry.
fn status_response(encoding: Encoding, error: &IngestError) -> Response {
    let status = error.status();
    let body = otlp::encode_status(encoding, grpc_code(status), &error.to_string());
    let mut response = (
        status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response();
    if let Some(delay) = error.retry_after() {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs(delay)),
        );
    }
    response
}

/// Maps an HTTP status to the closest gRPC status code, for the `Status` body.
fn grpc_code(status: StatusCode) -> i32 {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => 3, // INVALID_ARGUMENT
        StatusCode::UNAUTHORIZED => 16,                                    // UNAUTHENTICATED
        StatusCode::FORBIDDEN => 7,                                        // PERMISSION_DENIED
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => 8, // RESOURCE_EXHAUSTED
        StatusCode::SERVICE_UNAVAILABLE => 14,                             // UNAVAILABLE
        _ => 2,                                                            // UNKNOWN
    }
}
