//! Who is calling: the bearer API key of a request, checked against the catalog. The caller's
//! tenant comes from the key only, and every resolver reads data through it. The one
//! exception is a platform key (an operator's), which acts on the tenant named by the
//! `X-Tally-Tenant` header (an id or a name); any other key naming a tenant is refused.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderValue};
use axum_extra::TypedHeader;
use axum_extra::headers::Authorization;
use axum_extra::headers::authorization::Bearer;
use axum_extra::typed_header::TypedHeaderRejection;
use secrecy::SecretString;
use tally_meter::api_key::{self, Principal, Scope};
use tally_meter::audit::Actor;
use tally_meter::auth_failures::AuthFailures;
use tally_meter::catalog::{Catalog, api_keys, tenants};
use tally_meter::ids::TenantId;
use tally_meter::tenant::TenantRef;

use crate::error::{ApiError, ApiResult, ErrorCode};

/// The header a platform key names its tenant with.
pub const TENANT_HEADER: &str = "x-tally-tenant";

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The key's principal: tenant, key and scope.
    pub principal: Principal,
    /// The tenant the request acts on: the key's, or the one a platform key named.
    pub tenant: TenantId,
}

impl Caller {
    /// Returns the tenant the request acts on: the only tenant it may touch.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Returns who the audit log records for the caller's changes: its key, flagged as a
    /// platform key when it is one.
    pub fn actor(&self) -> Actor {
        match self.principal.scope {
            Scope::Platform => Actor::Platform(self.principal.key_id),
            Scope::Ingest | Scope::Read | Scope::Admin => Actor::Key(self.principal.key_id),
        }
    }

    /// Checks that the key may read the tenant's data (read or admin scope).
    pub fn may_read(&self) -> ApiResult<TenantId> {
        match self.principal.scope {
            Scope::Read | Scope::Admin | Scope::Platform => Ok(self.tenant()),
            Scope::Ingest => Err(ApiError::forbidden(
                "read data: it is an ingest key; use a read or admin key",
            )),
        }
    }

    /// Checks that the key may change the tenant's meters, quotas and keys (admin scope).
    pub fn may_administer(&self) -> ApiResult<TenantId> {
        match self.principal.scope {
            Scope::Admin | Scope::Platform => Ok(self.tenant()),
            Scope::Read | Scope::Ingest => Err(ApiError::forbidden(
                "change meters, quotas or keys: use an admin key",
            )),
        }
    }
}

/// The address of the client that sent a request, when the server knows it (`tally serve`
/// records every connection's peer address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// Reads the peer address axum recorded for the request's connection.
    pub fn of(extensions: &Extensions) -> Self {
        Self(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

/// What a request presents to authenticate: its `Authorization: Bearer KEY` header, as
/// axum-extra's typed header reads it (the scheme in any case), and the tenant a platform key
/// names in `X-Tally-Tenant`. Extracting it never fails: a missing or malformed header is
/// refused by [`authenticate`], with the API's own codes and messages. It has no `Debug`, so
/// that the key cannot end up in a log line.
pub struct Credentials {
    authorization: Result<TypedHeader<Authorization<Bearer>>, TypedHeaderRejection>,
    named_tenant: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            authorization: TypedHeader::from_request_parts(parts, state).await,
            named_tenant: parts.headers.get(TENANT_HEADER).cloned(),
        })
    }
}

/// The key a request presented, if any.
enum Presented<'a> {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not `Bearer KEY`.
    MalformedHeader,
    /// The bearer token, trimmed.
    Key(&'a str),
}

impl Credentials {
    fn presented(&self) -> Presented<'_> {
        match &self.authorization {
            Ok(TypedHeader(Authorization(bearer))) => Presented::Key(bearer.token().trim()),
            Err(rejection) if rejection.is_missing() => Presented::Missing,
            Err(_) => Presented::MalformedHeader,
        }
    }

    /// Why the request failed to authenticate, as the audit log counts it.
    fn failure_reason(&self) -> &'static str {
        match self.presented() {
            Presented::Missing => "missing key",
            Presented::MalformedHeader => "malformed header",
            Presented::Key(token) if !api_key::is_well_formed(token) => "malformed key",
            Presented::Key(_) => "unknown, revoked or suspended key",
        }
    }
}

/// Authenticates a request by its `Authorization: Bearer KEY` header. A client address past its
/// failed authentications is refused (RATE_LIMITED) before any lookup; a value that does not
/// have a key's shape is refused before any lookup too. Failures are counted for the audit log.
pub async fn authenticate(
    catalog: &Catalog,
    failures: &AuthFailures,
    client: ClientAddress,
    credentials: &Credentials,
) -> ApiResult<Caller> {
    let ClientAddress(address) = client;
    if let Some(address) = address
        && let Err(wait) = failures.admit(address, Instant::now())
    {
        return Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                ErrorCode::RateLimited,
                "too many failed authentications from this address; retry later",
            )
        });
    }
    match authenticate_key(catalog, credentials).await {
        Err(error) if error.code == ErrorCode::Unauthenticated => {
            if let Some(address) = address {
                let presented = match credentials.presented() {
                    Presented::Key(token) => Some(SecretString::from(token.to_owned())),
                    Presented::Missing | Presented::MalformedHeader => None,
                };
                failures
                    .record_key(
                        catalog,
                        address,
                        presented.as_ref(),
                        credentials.failure_reason(),
                    )
                    .await;
            }
            Err(error)
        }
        other => other,
    }
}

async fn authenticate_key(catalog: &Catalog, credentials: &Credentials) -> ApiResult<Caller> {
    let unauthenticated = |message: &str| ApiError::new(ErrorCode::Unauthenticated, message);
    let token = match credentials.presented() {
        Presented::Missing => {
            return Err(unauthenticated(
                "send an API key as `Authorization: Bearer KEY`",
            ));
        }
        Presented::MalformedHeader => {
            return Err(unauthenticated(
                "the Authorization header must be `Bearer KEY`",
            ));
        }
        Presented::Key(token) => token,
    };
    if !api_key::is_well_formed(token) {
        return Err(unauthenticated(
            "the API key is malformed: keys are `tly_` and 40 letters and digits",
        ));
    }
    let principal = api_keys::authenticate(catalog, &SecretString::from(token.to_owned()))
        .await?
        .ok_or_else(|| {
            unauthenticated("the API key is unknown, revoked or of a suspended tenant")
        })?;
    let Some(named) = &credentials.named_tenant else {
        return Ok(Caller {
            principal,
            tenant: principal.tenant_id,
        });
    };
    if principal.scope != Scope::Platform {
        return Err(ApiError::forbidden(
            "name a tenant: only platform keys may send X-Tally-Tenant",
        ));
    }
    let named: TenantRef = named
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadUserInput,
                "X-Tally-Tenant must be a tenant id or name",
            )
        })?;
    let tenant = tenants::find(catalog, &named).await?;
    Ok(Caller {
        principal,
        tenant: tenant.id,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    async fn credentials(authorization: Option<&str>) -> Credentials {
        let mut request = Request::builder();
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let (mut parts, ()) = request.body(()).expect("a request").into_parts();
        let Ok(credentials) = Credentials::from_request_parts(&mut parts, &()).await;
        credentials
    }

    #[tokio::test]
    async fn the_bearer_header_is_missing_malformed_or_a_trimmed_key() {
        let reason = |credentials: Credentials| credentials.failure_reason();
        assert_eq!(reason(credentials(None).await), "missing key");
        for malformed in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer\tkey", "tly_abc"] {
            assert_eq!(
                reason(credentials(Some(malformed)).await),
                "malformed header",
                "{malformed}"
            );
        }
        assert_eq!(
            reason(credentials(Some("Bearer not-a-key")).await),
            "malformed key"
        );
        let key = format!("tly_{}", "a".repeat(40));
        for header in [format!("Bearer {key}"), format!("bearer   {key} ")] {
            let presented = credentials(Some(&header)).await;
            assert!(
                matches!(presented.presented(), Presented::Key(token) if token == key),
                "{header}"
            );
        }
    }
}
