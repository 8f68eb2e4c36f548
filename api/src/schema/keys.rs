//! API keys: listing, creating and revoking them, their scopes, and their GraphQL types.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use tally_meter::api_key::{self, Scope};
use tally_meter::catalog::api_keys;
use tally_meter::ids::ApiKeyId;

use super::context::{admin_access, converted, read_access, services};
use crate::cost::POSTGRES_QUERY;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// What an API key may do.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Scope", remote = "Scope")]
pub enum ScopeValue {
    /// Send events.
    Ingest,
    /// Read the tenant's data.
    Read,
    /// Read, and manage meters, quotas and keys.
    Admin,
    /// An operator's key, acting on the tenant it names.
    Platform,
}

/// An API key, without its secret.
#[derive(SimpleObject, Debug, Clone)]
pub struct ApiKey {
    /// Stable id, used to revoke it.
    pub id: ID,
    /// What it may do.
    pub scope: ScopeValue,
    /// Its first characters, to tell keys apart.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::ApiKey> for ApiKey {
    fn from(key: api_key::ApiKey) -> Self {
        Self {
            id: ID(key.id.to_string()),
            scope: key.scope.into(),
            prefix: key.prefix,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A new key and its secret, shown this once.
#[derive(SimpleObject, Debug, Clone)]
pub struct CreatedApiKey {
    /// The stored key.
    pub key: ApiKey,
    /// The full key; it is not stored and cannot be shown again.
    pub secret: String,
}

/// Queries of API keys.
#[derive(Default)]
pub struct KeysQuery;

#[Object]
impl KeysQuery {
    /// The tenant's API keys, without secrets.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn api_keys(&self, context: &Context<'_>) -> ApiResult<Vec<ApiKey>> {
        let (tenant, catalog) = read_access(context)?;
        Ok(converted(api_keys::list(catalog, tenant).await?))
    }
}

/// Mutations of API keys.
#[derive(Default)]
pub struct KeysMutation;

#[Object]
impl KeysMutation {
    /// Creates an ingest, read or admin key; its secret is in the answer and nowhere else.
    /// Platform keys are the operator's and come only from its command line.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn create_api_key(
        &self,
        context: &Context<'_>,
        scope: ScopeValue,
    ) -> ApiResult<CreatedApiKey> {
        let (tenant, catalog, actor) = admin_access(context)?;
        if scope == ScopeValue::Platform {
            return Err(ApiError::forbidden(
                "create platform keys: they are the operator's, made only with \
                 `tally key create --scope platform`",
            ));
        }
        let created = api_keys::create(
            catalog,
            tenant,
            scope.into(),
            actor,
            &services(context).caps,
        )
        .await?;
        Ok(CreatedApiKey {
            key: created.key.into(),
            secret: secrecy::ExposeSecret::expose_secret(&created.secret).to_owned(),
        })
    }

    /// Revokes one of the tenant's keys.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn revoke_api_key(&self, context: &Context<'_>, id: ID) -> ApiResult<ApiKey> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let key_id = id.parse::<ApiKeyId>().map_err(|_| {
            ApiError::new(ErrorCode::NotFound, format!("api key {} not found", id.0))
        })?;
        let revoked = api_keys::revoke(catalog, tenant, key_id, actor).await?;
        Ok(revoked.into())
    }
}
