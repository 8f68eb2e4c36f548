//! Tally's query surface: the async-graphql schema and axum router, REST exports, the error-code
//! table mapped to HTTP and GraphQL, and authorization that binds every query to the caller's
//! tenant.
//!
//! Nothing lives here yet.
