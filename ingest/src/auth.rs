//! Authentication of ingest requests: the `Authorization: Bearer` key is looked up in the
//! catalog and the answer, positive or negative, is cached for `refresh_secs`, so a busy
//! tenant costs one catalog query per key per interval and a revoked key stops working within
//! it.
//!
//! Strangers cannot grow the cache: a value that does not have the shape of an issued key is
//! refused before any lookup or caching, entries are keyed by the key's SHA-256 (32 bytes,
//! whatever was sent), and the cache holds at most [`MAX_CACHED_KEYS`] entries, evicting the
//! least useful one at a time rather than emptying itself.

use std::time::Duration;

use axum::http::{HeaderMap, header};
use moka::sync::Cache;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use tally_meter::api_key::{self, Principal, Scope};
use tally_meter::catalog::Pool;

use crate::error::IngestError;

/// Most cached keys; past it, entries are evicted one by one.
const MAX_CACHED_KEYS: u64 = 100_000;

/// The SHA-256 of a presented key: what the cache is keyed by.
type KeyDigest = [u8; 32];

/// Looks up keys, with a short-lived, bounded cache.
pub struct Authenticator {
    pool: Pool,
    cache: Cache<KeyDigest, Option<Principal>>,
}

impl Authenticator {
    /// Creates an authenticator whose answers live for `ttl`.
    pub fn new(pool: Pool, ttl: Duration) -> Self {
        Self {
            pool,
            cache: Cache::builder()
                .max_capacity(MAX_CACHED_KEYS)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Returns the tenant of a request's ingest key, or why the request is refused.
    pub async fn ingest_principal(&self, headers: &HeaderMap) -> Result<Principal, IngestError> {
        let presented = bearer_token(headers).ok_or(IngestError::MissingKey)?;
        if !api_key::is_well_formed(presented) {
            return Err(IngestError::InvalidKey);
        }
        let principal = self
            .lookup(presented)
            .await?
            .ok_or(IngestError::InvalidKey)?;
        if principal.scope != Scope::Ingest {
            return Err(IngestError::WrongScope {
                scope: principal.scope.to_string(),
            });
        }
        Ok(principal)
    }

    async fn lookup(&self, presented: &str) -> Result<Option<Principal>, IngestError> {
        let digest: KeyDigest = Sha256::digest(presented.as_bytes()).into();
        if let Some(principal) = self.cache.get(&digest) {
            return Ok(principal);
        }
        let secret = SecretString::from(presented.to_owned());
        let principal = api_key::authenticate(&self.pool, &secret)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "cannot look up an api key");
                IngestError::Unavailable("the catalog cannot be reached")
            })?;
        self.cache.insert(digest, principal);
        Ok(principal)
    }
}

/// Reads the key from `Authorization: Bearer KEY`.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
