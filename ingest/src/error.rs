//! Every way an ingest request can fail as a whole, mapped to a stable code of the error-code
//! table the API shares (which gives its HTTP status) and a message a person can act on.
//! Per-event problems are not errors: they are listed in the 202 response and quarantined.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tally_meter::error_code::{ErrorCode, retry_after_secs};

/// A request refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No key in the `Authorization: Bearer` header.
    #[error("missing API key: send `Authorization: Bearer <key>`")]
    MissingKey,
    /// The key is unknown, revoked, or its tenant is suspended.
    #[error("invalid API key: it is unknown, revoked, or its tenant is suspended")]
    InvalidKey,
    /// The key may not send events.
    #[error("this key has scope {scope}; sending events needs a key with scope ingest")]
    WrongScope {
        /// The key's scope.
        scope: String,
    },
    /// The body is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The body cannot be decoded at all.
    #[error("{0}")]
    Undecodable(String),
    /// The content type is not one this endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Every event of the request was rejected; the body lists why.
    #[error(
        "no event was accepted: each event and the reason it was rejected are listed in `rejected`"
    )]
    AllRejected(serde_json::Value),
    /// The tenant is over its rate.
    #[error(
        "rate limit exceeded: this tenant may send {rate_per_sec} events/s with bursts of {burst}"
    )]
    RateLimited {
        /// The tenant's rate.
        rate_per_sec: u64,
        /// The tenant's burst.
        burst: u64,
        /// When to try again.
        retry_after: Duration,
    },
    /// The tenant's hard monthly quota is used up.
    #[error(
        "monthly quota exhausted: this tenant may send {quota} events per calendar month (UTC)"
    )]
    QuotaExhausted {
        /// The monthly quota.
        quota: u64,
        /// Until the next month starts.
        retry_after: Duration,
    },
    /// The client's address failed to authenticate too often.
    #[error("too many failed authentications from this address; retry later")]
    TooManyFailedAuthentications {
        /// When to try again.
        retry_after: Duration,
    },
    /// The broker or the catalog cannot take the events now.
    #[error("temporarily unavailable: {0}; retry later")]
    Unavailable(&'static str),
}

impl From<crate::cloudevents::DecodeError> for IngestError {
    fn from(error: crate::cloudevents::DecodeError) -> Self {
        use crate::cloudevents::DecodeError;
        match error {
            DecodeError::TooManyEvents { .. } => Self::TooLarge(error.to_string()),
            DecodeError::Malformed(reason) => Self::Undecodable(reason),
        }
    }
}

impl From<crate::otlp::DecodeError> for IngestError {
    fn from(error: crate::otlp::DecodeError) -> Self {
        use crate::otlp::DecodeError;
        match error {
            DecodeError::TooManyItems { .. } => Self::TooLarge(error.to_string()),
            DecodeError::Protobuf { .. } | DecodeError::Json { .. } => {
                Self::Undecodable(error.to_string())
            }
        }
    }
}

/// How long clients should wait after a 503.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(2);

impl IngestError {
    /// Returns the HTTP status, from the shared error-code table.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Returns the stable error code clients can match on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MissingKey | Self::InvalidKey => ErrorCode::Unauthenticated,
            Self::WrongScope { .. } => ErrorCode::Forbidden,
            Self::TooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::Undecodable(_) => ErrorCode::BadRequest,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::AllRejected(_) => ErrorCode::AllEventsRejected,
            Self::RateLimited { .. } | Self::TooManyFailedAuthentications { .. } => {
                ErrorCode::RateLimited
            }
            Self::QuotaExhausted { .. } => ErrorCode::QuotaExhausted,
            Self::Unavailable(_) => ErrorCode::Unavailable,
        }
    }

    /// Returns how long the client should wait before retrying, when it should.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. }
            | Self::QuotaExhausted { retry_after, .. }
            | Self::TooManyFailedAuthentications { retry_after } => Some(*retry_after),
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = match &self {
            Self::AllRejected(details) => details.clone(),
            _ => json!({}),
        };
        body["error"] = json!({ "code": self.code().as_str(), "message": self.to_string() });
        match &self {
            Self::RateLimited {
                rate_per_sec,
                burst,
                ..
            } => {
                body["error"]["limit"] =
                    json!({ "kind": "rate", "rate_per_sec": rate_per_sec, "burst": burst });
            }
            Self::QuotaExhausted { quota, .. } => {
                body["error"]["limit"] = json!({ "kind": "monthly_quota", "events": quota });
            }
            _ => {}
        }
        let retry_after = self.retry_after();
        let mut response = (status, Json(body)).into_response();
        if let Some(delay) = retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(delay)),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_keeps_its_wire_code_and_status() {
        let wait = Duration::from_secs(1);
        let expected = [
            (IngestError::MissingKey, "UNAUTHENTICATED", 401),
            (IngestError::InvalidKey, "UNAUTHENTICATED", 401),
            (
                IngestError::WrongScope {
                    scope: "read".to_owned(),
                },
                "FORBIDDEN",
                403,
            ),
            (
                IngestError::TooLarge(String::new()),
                "PAYLOAD_TOO_LARGE",
                413,
            ),
            (IngestError::Undecodable(String::new()), "BAD_REQUEST", 400),
            (
                IngestError::UnsupportedMediaType(String::new()),
                "UNSUPPORTED_MEDIA_TYPE",
                415,
            ),
            (
                IngestError::AllRejected(json!({})),
                "ALL_EVENTS_REJECTED",
                422,
            ),
            (
                IngestError::RateLimited {
                    rate_per_sec: 1,
                    burst: 1,
                    retry_after: wait,
                },
                "RATE_LIMITED",
                429,
            ),
            (
                IngestError::QuotaExhausted {
                    quota: 1,
                    retry_after: wait,
                },
                "QUOTA_EXHAUSTED",
                429,
            ),
            (
                IngestError::TooManyFailedAuthentications { retry_after: wait },
                "RATE_LIMITED",
                429,
            ),
            (IngestError::Unavailable("x"), "UNAVAILABLE", 503),
        ];
        for (error, code, status) in expected {
            assert_eq!(
                (error.code().as_str(), error.status().as_u16()),
                (code, status)
            );
        }
    }
}
