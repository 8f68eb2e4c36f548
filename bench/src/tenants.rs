//! The tenants a bench creates in the catalog: named `bench-…`, each given an ingest key and
//! limits far above what one node can take, or set up many at a time with what a bench puts
//! in them, and suspended at the end so their keys stop working.

use anyhow::Context;
use hyper::header::HeaderValue;
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::{self, Catalog};
use tally_meter::ids::{Region, TenantId, TenantName};
use tally_meter::quota::{Limits, QuotaMode};
use tally_meter::tenant::TenantStatus;
use tokio::task::JoinSet;

use crate::{progress, short_random_id};

/// Rate and burst of every bench tenant: far above what one node can take.
const BENCH_EVENTS_PER_SEC: u64 = 100_000_000;
/// Tenants [`set_up_tenants`] sets up at once.
const SETUP_CONCURRENCY: usize = 8;

/// Creates a tenant with a fresh `bench-…` name, in the default region.
pub async fn create_tenant(catalog: &Catalog) -> anyhow::Result<(TenantId, TenantName)> {
    let name = TenantName::parse(&format!("bench-{}", short_random_id()))?;
    let created = catalog::tenants::create(catalog, &name, &Region::default())
        .await
        .with_context(|| format!("cannot create bench tenant {name}"))?;
    Ok((created.id, name))
}

/// Creates `count` tenants, [`SETUP_CONCURRENCY`] at a time, each set up by `set_up`, and
/// returns what the set-ups gave, in the order they ended; reports progress every hundred.
///
/// Every tenant created goes into `created`, even one whose set-up failed, so that it can be
/// suspended. After a failure no more tenants are started, and the first error is returned
/// once those started have ended.
pub async fn set_up_tenants<T, SetUp, Done>(
    catalog: &Catalog,
    count: u32,
    created: &mut Vec<(TenantId, TenantName)>,
    set_up: SetUp,
) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    SetUp: Fn(Catalog, TenantId) -> Done + Clone + Send + 'static,
    Done: Future<Output = anyhow::Result<T>> + Send,
{
    let mut tasks = JoinSet::new();
    let mut started = 0;
    let mut failed = None;
    let mut set_up_all = Vec::new();
    loop {
        while started < count && tasks.len() < SETUP_CONCURRENCY && failed.is_none() {
            let (catalog, set_up) = (catalog.clone(), set_up.clone());
            tasks.spawn(async move {
                let (id, name) = create_tenant(&catalog).await?;
                let set_up_one = set_up(catalog, id).await;
                anyhow::Ok(((id, name), set_up_one))
            });
            started += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        match joined.context("a tenant's set-up panicked")? {
            Ok((tenant, set_up_one)) => {
                created.push(tenant);
                match set_up_one {
                    Ok(one) => {
                        set_up_all.push(one);
                        if set_up_all.len().is_multiple_of(100) {
                            progress(&format!("created {} tenants", set_up_all.len()));
                        }
                    }
                    Err(error) => {
                        failed.get_or_insert(error);
                    }
                }
            }
            Err(error) => {
                failed.get_or_insert(error);
            }
        }
    }
    if let Some(error) = failed {
        return Err(error.context("cannot set up a bench tenant"));
    }
    Ok(set_up_all)
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
