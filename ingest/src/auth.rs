//! Authentication of ingest requests: the `Authorization: Bearer` key is looked up in the
//! catalog and the answer, positive or negative, is cached for `refresh_secs`, so a busy
//! tenant costs one catalog query per key per interval and a revoked key stops working within
//! it.
//!
//! Strangers cannot grow the cache: a value that does not have the shape of an issued key is
//! refused before any lookup or caching, entries are keyed by the key's SHA-256 (32 bytes,
//! whatever was sent), and the cache holds at most [`MAX_CACHED_KEYS`] entries, evicting the
//! least useful one at a time rather than emptying itself.
//!
//! Failed authentications are throttled per client address: past `ingest.failed_auth_burst`
//! failures (regaining `ingest.failed_auth_per_sec`), an address gets 429 for any key that is
//! not already known good, so guessing and floods stop before the catalog, while the devices
//! of a shared address whose keys work go on. Failures are counted for the audit log.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum_extra::TypedHeader;
use axum_extra::headers::Authorization;
use axum_extra::headers::authorization::Bearer;
use axum_extra::typed_header::TypedHeaderRejection;
use moka::sync::Cache;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use tally_meter::api_key::{self, Principal, Scope};
use tally_meter::auth_failures::{AuthFailures, FailureLimits};
use tally_meter::catalog::{Catalog, api_keys};

use crate::error::IngestError;
use crate::telemetry::KeyLookupFailed;

/// Most cached keys; past it, entries are evicted one by one.
const MAX_CACHED_KEYS: u64 = 100_000;

/// The SHA-256 of a presented key: what the cache is keyed by.
type KeyDigest = [u8; 32];

/// Looks up keys, with a short-lived, bounded cache.
pub struct Authenticator {
    catalog: Catalog,
    cache: Cache<KeyDigest, Option<Principal>>,
    failures: Arc<AuthFailures>,
}

impl Authenticator {
    /// Creates an authenticator whose answers live for `ttl`, throttling each address's
    /// failures to `failures`.
    pub fn new(catalog: Catalog, ttl: Duration, failures: FailureLimits) -> Self {
        Self {
            catalog,
            cache: Cache::builder()
                .max_capacity(MAX_CACHED_KEYS)
                .time_to_live(ttl)
                .build(),
            failures: Arc::new(AuthFailures::new(failures)),
        }
    }

    /// Returns the failed authentications counted so far, for the task that writes them to the
    /// audit log.
    pub fn failures(&self) -> &Arc<AuthFailures> {
        &self.failures
    }

    /// Returns the tenant of a request's ingest key, or why the request is refused.
    pub async fn ingest_principal(
        &self,
        authorization: &BearerHeader,
        client: Option<IpAddr>,
    ) -> Result<Principal, IngestError> {
        let presented = presented_key(authorization);
        let well_formed = presented.filter(|presented| api_key::is_well_formed(presented));
        let digest = well_formed
            .map(|presented| -> KeyDigest { Sha256::digest(presented.as_bytes()).into() });
        let cached = digest.and_then(|digest| self.cache.get(&digest));
        let principal = match cached {
            // A key known good passes whatever its address.
            Some(Some(principal)) => principal,
            cached => {
                if let Some(client) = client
                    && let Err(retry_after) = self.failures.admit(client, Instant::now())
                {
                    return Err(IngestError::TooManyFailedAuthentications { retry_after });
                }
                let found = match (well_formed, digest, cached) {
                    (Some(presented), Some(digest), None) => self.lookup(presented, digest).await?,
                    // Missing, malformed, or known bad.
                    _ => None,
                };
                found.ok_or_else(|| self.refuse(presented.is_some(), client))?
            }
        };
        if principal.scope != Scope::Ingest {
            return Err(IngestError::WrongScope {
                scope: principal.scope.to_string(),
            });
        }
        Ok(principal)
    }

    /// Counts a failed authentication of `client` and returns its error.
    fn refuse(&self, presented: bool, client: Option<IpAddr>) -> IngestError {
        let (error, reason) = if presented {
            (
                IngestError::InvalidKey,
                "unknown, revoked, suspended or malformed key",
            )
        } else {
            (IngestError::MissingKey, "missing key")
        };
        if let Some(client) = client {
            self.failures.record(client, None, reason, Instant::now());
        }
        error
    }

    /// Looks a key up in the catalog and caches the answer, positive or negative.
    async fn lookup(
        &self,
        presented: &str,
        digest: KeyDigest,
    ) -> Result<Option<Principal>, IngestError> {
        let secret = SecretString::from(presented.to_owned());
        let principal = api_keys::authenticate(&self.catalog, &secret)
            .await
            .map_err(|error| {
                KeyLookupFailed { error: &error }.emit();
                IngestError::Unavailable("the catalog cannot be reached")
            })?;
        self.cache.insert(digest, principal);
        Ok(principal)
    }
}

/// A request's `Authorization: Bearer KEY` header, as axum-extra's typed header reads it (the
/// scheme in any case): the credentials, or why there are none. As an extractor it never
/// fails, so that a missing or malformed header is answered in the endpoint's own format.
pub type BearerHeader = Result<TypedHeader<Authorization<Bearer>>, TypedHeaderRejection>;

/// Returns the key a request presents, trimmed; none for a missing or malformed header or an
/// empty key.
fn presented_key(authorization: &BearerHeader) -> Option<&str> {
    let TypedHeader(Authorization(bearer)) = authorization.as_ref().ok()?;
    Some(bearer.token().trim()).filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::extract::FromRequestParts;
    use axum::http::Request;

    use super::*;

    async fn presented(authorization: Option<&str>) -> Option<String> {
        let mut request = Request::builder();
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let (mut parts, ()) = request.body(()).expect("a request").into_parts();
        let Ok(header) = BearerHeader::from_request_parts(&mut parts, &()).await;
        presented_key(&header).map(str::to_owned)
    }

    #[tokio::test]
    async fn a_key_is_presented_only_by_a_bearer_header_with_a_token() {
        for none in [
            None,
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer"),
            Some("Bearer   "),
        ] {
            assert_eq!(presented(none).await, None, "{none:?}");
        }
        assert_eq!(presented(Some("Bearer k")).await.as_deref(), Some("k"));
        assert_eq!(presented(Some("BEARER  k ")).await.as_deref(), Some("k"));
    }
}
