//! The one table of error codes that clients see, shared by ingest and the API: each code's
//! wire string (in ingest's `error.code`, GraphQL's `extensions.code` and REST error bodies)
//! and the HTTP status it is answered with, plus how a `Retry-After` delay is written. The
//! statuses are plain numbers so that this crate stays free of HTTP types; the HTTP crates turn
//! them into their status type.

use std::time::Duration;

/// What went wrong, in a client's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid API key was presented.
    Unauthenticated,
    /// The key is valid but may not do this.
    Forbidden,
    /// The thing asked for does not exist for the caller's tenant.
    NotFound,
    /// An argument is malformed or out of range; the message says which (API).
    BadUserInput,
    /// The request body cannot be decoded at all (ingest).
    BadRequest,
    /// The request body is larger, or holds more items, than allowed (ingest).
    PayloadTooLarge,
    /// The body's content type or encoding is not one the endpoint reads (ingest).
    UnsupportedMediaType,
    /// Every event of the request was rejected; the body lists why (ingest).
    AllEventsRejected,
    /// A per-tenant cap on definitions is reached; the message names the cap.
    LimitReached,
    /// The caller sent more than its rate allows; retry after `Retry-After` seconds.
    RateLimited,
    /// The tenant's hard monthly quota is used up (ingest).
    QuotaExhausted,
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
            Self::BadRequest => "BAD_REQUEST",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::AllEventsRejected => "ALL_EVENTS_REJECTED",
            Self::LimitReached => "LIMIT_REACHED",
            Self::RateLimited => "RATE_LIMITED",
            Self::QuotaExhausted => "QUOTA_EXHAUSTED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    /// Returns the HTTP status the code is answered with, such as 404.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadUserInput | Self::BadRequest => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::LimitReached => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::AllEventsRejected => 422,
            Self::RateLimited | Self::QuotaExhausted => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }
}

/// Returns a delay as `Retry-After` writes it: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(delay: Duration) -> u64 {
    (delay.as_secs() + u64::from(delay.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_codes_keep_their_wire_strings_and_statuses() {
        let expected = [
            (ErrorCode::Unauthenticated, "UNAUTHENTICATED", 401),
            (ErrorCode::Forbidden, "FORBIDDEN", 403),
            (ErrorCode::NotFound, "NOT_FOUND", 404),
            (ErrorCode::BadUserInput, "BAD_USER_INPUT", 400),
            (ErrorCode::LimitReached, "LIMIT_REACHED", 409),
            (ErrorCode::RateLimited, "RATE_LIMITED", 429),
            (ErrorCode::Unavailable, "UNAVAILABLE", 503),
            (ErrorCode::Internal, "INTERNAL", 500),
        ];
        for (code, wire, status) in expected {
            assert_eq!((code.as_str(), code.http_status()), (wire, status));
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
