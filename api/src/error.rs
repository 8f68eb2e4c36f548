//! The API's one error-code table: every failure a client sees carries one of these codes, in
//! GraphQL's `extensions.code` and as the HTTP status of REST answers. Messages are written for
//! the client; internal details (store errors, addresses) are logged once and never sent.

use async_graphql::ErrorExtensions;
use axum::http::StatusCode;

/// What went wrong, in a client's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid API key was presented.
    Unauthenticated,
    /// The key is valid but may not do this.
    Forbidden,
    /// The thing asked for does not exist for the caller's tenant.
    NotFound,
    /// An argument is malformed or out of range; the message says which.
    BadUserInput,
    /// A per-tenant cap on definitions is reached; the message names the cap.
    LimitReached,
    /// The key sent more requests than its rate allows; retry after `Retry-After` seconds.
    RateLimited,
    /// A store did not answer; retrying later may work.
    Unavailable,
    /// A bug; the details are in the server's log.
    Internal,
}

impl ErrorCode {
    /// Returns the code as clients see it, such as `NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::LimitReached => "LIMIT_REACHED",
            Self::RateLimited => "RATE_LIMITED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    /// Returns the HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadUserInput => StatusCode::BAD_REQUEST,
            Self::LimitReached => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

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

    /// `Retry-After` in whole seconds, rounded up and at least 1, when there is one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
            .map(|wait| (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
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
                tracing::error!(%error, "a store failed while serving the api");
                Self::new(
                    ErrorCode::Unavailable,
                    "a data store is unavailable; retry in a few seconds",
                )
            }
            Error::PostgresMigration(_) => {
                tracing::error!(%error, "unexpected error while serving the api");
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
