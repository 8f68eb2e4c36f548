//! Authentication of ingest requests: the `Authorization: Bearer` key is looked up in the
//! catalog and the answer, positive or negative, is cached for `refresh_secs`, so a busy
//! tenant costs one catalog query per key per interval and a revoked key stops working within
//! it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use secrecy::SecretString;
use tally_meter::api_key::{self, Principal, Scope};
use tally_meter::catalog::Pool;

use crate::error::IngestError;
use crate::sync;

/// Most cached keys; the cache is emptied when it grows past this (a flood of bad keys).
const MAX_CACHED_KEYS: usize = 100_000;

/// Looks up keys, with a short-lived cache.
pub struct Authenticator {
    pool: Pool,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Option<Principal>, Instant)>>,
}

impl Authenticator {
    /// Creates an authenticator whose answers live for `ttl`.
    pub fn new(pool: Pool, ttl: Duration) -> Self {
        Self {
            pool,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the tenant of a request's ingest key, or why the request is refused.
    pub async fn ingest_principal(&self, headers: &HeaderMap) -> Result<Principal, IngestError> {
        let presented = bearer_token(headers).ok_or(IngestError::MissingKey)?;
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
        let now = Instant::now();
        if let Some((principal, looked_up_at)) = self.cached(presented)
            && now.saturating_duration_since(looked_up_at) < self.ttl
        {
            return Ok(principal);
        }
        let secret = SecretString::from(presented.to_owned());
        let principal = api_key::authenticate(&self.pool, &secret)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "cannot look up an API key");
                IngestError::Unavailable("the catalog cannot be reached")
            })?;
        let mut cache = sync::lock(&self.cache);
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(presented.to_owned(), (principal, now));
        Ok(principal)
    }

    fn cached(&self, presented: &str) -> Option<(Option<Principal>, Instant)> {
        let cache = sync::lock(&self.cache);
        cache.get(presented).copied()
    }
}

/// Reads the key from `Authorization: Bearer KEY`.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
