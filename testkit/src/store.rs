//! Every call the testkit makes into Tally's catalog, analytics and bus code: connecting,
//! migrating, creating topics, a tenant with a key, and its limits.

use secrecy::{ExposeSecret, SecretString};
use tally_meter::analytics::{Analytics, ClickHouseConfig};
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::bus::{self, KafkaConfig};
use tally_meter::caps::Caps;
use tally_meter::catalog::{Catalog, PostgresConfig, api_keys, quotas, tenants};
use tally_meter::ids::{Region, TenantId, TenantName};
use tally_meter::quota::Limits;

/// Connects to a catalog database.
pub async fn connect_catalog(config: &PostgresConfig) -> Catalog {
    Catalog::connect(config)
        .await
        .expect("the test database answers")
}

/// Applies the catalog migrations to the database at `url`, and closes the connections.
pub async fn migrate_catalog(url: &str) {
    let catalog = connect_catalog(&PostgresConfig {
        url: SecretString::from(url.to_owned()),
        ..PostgresConfig::default()
    })
    .await;
    catalog
        .migrate()
        .await
        .expect("the catalog migrations apply");
    catalog.close().await;
}

/// Creates the ClickHouse database and applies its migrations.
pub async fn migrate_analytics(config: &ClickHouseConfig) {
    Analytics::new(config)
        .migrate()
        .await
        .expect("the analytics migrations apply");
}

/// Creates the topics of a prefix.
pub async fn create_topics(config: &KafkaConfig) {
    bus::ensure_topics(config)
        .await
        .expect("the broker creates the topics");
}

/// Creates a tenant with a random name and a key of the given scope, as the operator would;
/// returns both, the key as the secret a client presents.
pub async fn tenant_with_key(catalog: &Catalog, scope: Scope) -> (TenantId, String) {
    let name = format!("t-{}", &crate::random_id()[..10]);
    let created = tenants::create(
        catalog,
        &TenantName::parse(&name).expect("valid"),
        &Region::default(),
    )
    .await
    .expect("creates tenant");
    (created.id, key_for(catalog, created.id, scope).await)
}

/// Issues another key of the given scope to a tenant, as the operator would; returns the
/// secret a client presents.
pub async fn key_for(catalog: &Catalog, tenant: TenantId, scope: Scope) -> String {
    let key = api_keys::create(catalog, tenant, scope, Actor::Operator, &Caps::default())
        .await
        .expect("creates key");
    key.secret.expose_secret().to_owned()
}

/// Sets a tenant's limits as the operator does, granting it the same.
pub async fn set_limits(catalog: &Catalog, tenant: TenantId, limits: &Limits) {
    quotas::set(catalog, tenant, limits, Actor::Operator, limits)
        .await
        .expect("sets the tenant's limits");
}
