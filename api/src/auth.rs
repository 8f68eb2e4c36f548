//! Who is calling: the bearer API key of a request, checked against the catalog. The caller's
//! tenant comes from the key only, and every resolver reads data through it. The one
//! exception is a platform key (an operator's), which acts on the tenant named by the
//! `X-Tally-Tenant` header (an id or a name); any other key naming a tenant is refused.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use secrecy::SecretString;
use tally_meter::api_key::{self, Principal, Scope};
use tally_meter::catalog::Pool;
use tally_meter::ids::TenantId;
use tally_meter::tenant::{self, TenantRef};

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

/// Authenticates a request by its `Authorization: Bearer KEY` header.
pub async fn authenticate(pool: &Pool, headers: &HeaderMap) -> ApiResult<Caller> {
    let unauthenticated = |message: &str| ApiError::new(ErrorCode::Unauthenticated, message);
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| unauthenticated("send an API key as `Authorization: Bearer KEY`"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|text| text.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer KEY`"))?;
    let principal = api_key::authenticate(pool, &SecretString::from(token.to_owned()))
        .await?
        .ok_or_else(|| {
            unauthenticated("the API key is unknown, revoked or of a suspended tenant")
        })?;
    let Some(named) = headers.get(TENANT_HEADER) else {
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
    let tenant = tenant::find(pool, &named).await?;
    Ok(Caller {
        principal,
        tenant: tenant.id,
    })
}
