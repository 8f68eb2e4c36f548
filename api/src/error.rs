//! The API's errors: every failure a client sees carries a code of the error-code table that
//! ingest shares ([`ErrorCode`], from `tally_meter::error_code`), in GraphQL's
//! `extensions.code` and as the HTTP status of REST answers. Messages are written for the
//! client; internal details (store errors, addresses) are logged once and never sent.

use async_graphql::ErrorExtensions;
use axum::http::StatusCode;
use tally_meter::error_code;

use crate::telemetry::{StoreFailed, UnexpectedError};

pub use tally_meter::error_code::ErrorCode;

/// When to retry a request that ran past its deadline.
const PAST_DEADLINE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// A failure with its code and a message safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The code.
    pub code: ErrorCode,
    /// What to tell the client.
    pub message: String,
    /// When to retry, for RATE_LIMITED and requests past their deadline.
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    /// Creates an error with a client-facing message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Returns the HTTP status of the error's code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// `Retry-After` in whole seconds, rounded up and at least 1, when there is one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(error_code::retry_after_secs)
    }

    /// A request ran past [`crate::REQUEST_TIMEOUT`] (`what` names it, such as `query`):
    /// UNAVAILABLE, to retry in a few seconds or ask for less.
    pub fn past_deadline(what: &str) -> Self {
        Self {
            retry_after: Some(PAST_DEADLINE_RETRY_AFTER),
            ..Self::new(
                ErrorCode::Unavailable,
                format!(
                    "the {what} took longer than {} s; retry later or ask for less",
                    crate::REQUEST_TIMEOUT.as_secs()
                ),
            )
        }
    }

    /// The caller's key may not do this.
    pub fn forbidden(what: &str) -> Self {
        Self::new(ErrorCode::Forbidden, format!("this key may not {what}"))
    }
}

impl From<tally_meter::Error> for ApiError {
    fn from(error: tally_meter::Error) -> Self {
        use tally_meter::Error;
        match error {
            Error::Invalid(message) | Error::Conflict(message) => {
                Self::new(ErrorCode::BadUserInput, message)
            }
            Error::NotFound(what) => Self::new(ErrorCode::NotFound, format!("{what} not found")),
            Error::Forbidden(message) => Self::new(ErrorCode::Forbidden, message),
            Error::LimitReached(message) => Self::new(ErrorCode::LimitReached, message),
            Error::Timeout(_)
            | Error::Postgres(_)
            | Error::ClickHouse(_)
            | Error::Kafka(_)
            | Error::TopicCreation { .. } => {
                StoreFailed { error: &error }.emit();
                Self::new(
                    ErrorCode::Unavailable,
                    "a data store is unavailable; retry in a few seconds",
                )
            }
            Error::PostgresMigration(_) => {
                UnexpectedError { error: &error }.emit();
                Self::new(ErrorCode::Internal, "internal error; it has been logged")
            }
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        async_graphql::Error::new(error.message)
            .extend_with(|_, extensions| extensions.set("code", error.code.as_str()))
    }
}

/// The result of resolvers.
pub type ApiResult<T> = Result<T, ApiError>;
