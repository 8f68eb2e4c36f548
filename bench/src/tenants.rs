//! The tenants a bench creates in the catalog: named `bench-…`, each given an ingest key and
//! limits far above what one node can take, and suspended at the end so their keys stop
//! working.

use anyhow::Context;
use hyper::header::HeaderValue;
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::{self, Catalog};
use tally_meter::ids::{Region, TenantId, TenantName};
use tally_meter::quota::{Limits, QuotaMode};
use tally_meter::tenant::TenantStatus;

use crate::{progress, short_random_id};

/// Rate and burst of every bench tenant: far above what one node can take.
const BENCH_EVENTS_PER_SEC: u64 = 100_000_000;

/// Creates a tenant with a fresh `bench-…` name, in the default region.
pub async fn create_tenant(catalog: &Catalog) -> anyhow::Result<(TenantId, TenantName)> {
    let name = TenantName::parse(&format!("bench-{}", short_random_id()))?;
    let created = catalog::tenants::create(catalog, &name, &Region::default())
        .await
        .with_context(|| format!("cannot create bench tenant {name}"))?;
    Ok((created.id, name))
}

/// Gives tenant `id` an ingest key and limits too high to throttle; returns the key's
/// `Authorization` value, marked sensitive.
pub async fn authorize_ingest(catalog: &Catalog, id: TenantId) -> anyhow::Result<HeaderValue> {
    let key = catalog::api_keys::create(
        catalog,
        id,
        Scope::Ingest,
        Actor::Operator,
        &Caps::default(),
    )
    .await?;
    let limits = Limits {
        rate_per_sec: BENCH_EVENTS_PER_SEC,
        burst: BENCH_EVENTS_PER_SEC,
        monthly_events: None,
        monthly_mode: QuotaMode::Hard,
    };
    catalog::quotas::set(catalog, id, &limits, Actor::Operator, &limits).await?;
    let secret = secrecy::ExposeSecret::expose_secret(&key.secret);
    let mut authorization = HeaderValue::from_str(&format!("Bearer {secret}"))?;
    authorization.set_sensitive(true);
    Ok(authorization)
}

/// Suspends every tenant, so their keys stop working; a tenant that cannot be suspended is
/// reported and the others still are.
pub async fn suspend_tenants<'a>(
    catalog: &Catalog,
    tenants: impl IntoIterator<Item = (TenantId, &'a TenantName)>,
) {
    let mut count = 0;
    for (id, name) in tenants {
        if let Err(error) =
            catalog::tenants::set_status(catalog, id, TenantStatus::Suspended, Actor::Operator)
                .await
        {
            progress(&format!("cannot suspend {name}: {error}"));
        }
        count += 1;
    }
    progress(&format!("suspended the {count} bench tenants"));
}
