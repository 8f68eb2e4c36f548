//! SQL reading the indicators of `slos` for the aggregator: which events each SLO counts and
//! what makes one good. The SLOs themselves (objectives, windows, alert tiers) are the slo
//! crate's; this module reads only the columns the aggregator needs.

use chrono::{DateTime, Utc};
use sqlx::{Acquire, Postgres};

use crate::Result;
use crate::ids::{MeterId, TenantId};
use crate::meter::JsonPath;
use crate::sli::{Indicator, Predicate};

struct IndicatorRow {
    id: MeterId,
    tenant_id: TenantId,
    event_type: String,
    good: String,
    group_name: Option<String>,
    group_path: Option<String>,
    created_at: DateTime<Utc>,
    platform: bool,
}

impl TryFrom<IndicatorRow> for Indicator {
    type Error = crate::Error;

    fn try_from(row: IndicatorRow) -> Result<Self> {
        let group_by = match (row.group_name, row.group_path) {
            (Some(name), Some(path)) => Some((name, JsonPath::parse(&path)?)),
            _ => None,
        };
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            event_type: row.event_type,
            good: Predicate::parse(&row.good)?,
            group_by,
            created_at: row.created_at,
            platform: row.platform,
        })
    }
}

/// Every tenant's SLO indicators, the platform tenant's marked.
#[tracing::instrument(skip_all)]
pub async fn all(db: impl Acquire<'_, Database = Postgres>) -> Result<Vec<Indicator>> {
    let mut connection = db.acquire().await?;
    let rows = sqlx::query_as!(
        IndicatorRow,
        r#"SELECT slos.id AS "id: MeterId", tenant_id AS "tenant_id: TenantId", event_type, good,
                  group_name, group_path, slos.created_at, tenants.platform
           FROM slos JOIN tenants ON tenants.id = slos.tenant_id
           ORDER BY tenant_id, slos.id"#
    )
    .fetch_all(&mut *connection)
    .await?;
    rows.into_iter().map(Indicator::try_from).collect()
}
