//! Meter definitions: per tenant, which events a meter counts (by type), the value it reads
//! from their data, how it aggregates, what it groups by, and how late an event may arrive.
//! Stored in the catalog; the aggregator and the usage queries read them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::{self, Action, Actor};
use crate::caps::{self, Caps};
use crate::catalog::{self, Pool};
use crate::event_type::MAX_EVENT_TYPE_LENGTH;
use crate::ids::{MeterId, MeterKey, TenantId};
use crate::{Error, Result};

/// How a meter combines the values of its events in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Aggregation {
    /// Sum of the values.
    Sum,
    /// Number of events (reads no value).
    Count,
    /// Mean of the values.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Number of distinct values.
    UniqueCount,
    /// The value of the event with the latest time.
    Latest,
}

impl Aggregation {
    const ALL: [Self; 7] = [
        Self::Sum,
        Self::Count,
        Self::Avg,
        Self::Min,
        Self::Max,
        Self::UniqueCount,
        Self::Latest,
    ];

    /// Returns the stored name, such as `UNIQUE_COUNT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sum => "SUM",
            Self::Count => "COUNT",
            Self::Avg => "AVG",
            Self::Min => "MIN",
            Self::Max => "MAX",
            Self::UniqueCount => "UNIQUE_COUNT",
            Self::Latest => "LATEST",
        }
    }
}

impl FromStr for Aggregation {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let wanted = text.to_ascii_uppercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|aggregation| aggregation.as_str() == wanted)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "aggregation must be one of sum, count, avg, min, max, unique_count, latest; got {text:?}"
                ))
            })
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A path into an event's JSON data: `$` then `.name` steps, such as `$.usage.tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct JsonPath {
    text: String,
    steps: Vec<String>,
}

impl JsonPath {
    /// Parses a path of the form `$.a.b`; step names are non-empty and hold no `.`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || {
            Error::Invalid(format!(
                "a JSON path looks like $.name or $.name.inner (names without dots), got {text:?}"
            ))
        };
        let rest = text.strip_prefix("$.").ok_or_else(invalid)?;
        let steps: Vec<String> = rest.split('.').map(str::to_owned).collect();
        if steps.iter().any(String::is_empty) || text.len() > 256 {
            return Err(invalid());
        }
        Ok(Self {
            text: text.to_owned(),
            steps,
        })
    }

    /// Returns the value at the path in `data`, if there is one.
    pub fn lookup<'a>(&self, data: &'a Value) -> Option<&'a Value> {
        self.steps
            .iter()
            .try_fold(data, |value, step| value.as_object()?.get(step))
    }

    /// Returns the path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for JsonPath {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl From<JsonPath> for String {
    fn from(path: JsonPath) -> Self {
        path.text
    }
}

/// What a meter is asked to be, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeterSpec {
    /// Unique per tenant: a-z, 0-9, '-', '_'.
    pub key: MeterKey,
    /// Events of this type are metered.
    pub event_type: String,
    /// Where the value is; `None` exactly for [`Aggregation::Count`].
    pub value_path: Option<JsonPath>,
    /// How values combine.
    pub aggregation: Aggregation,
    /// Group names and the paths their values come from.
    pub group_by: BTreeMap<String, JsonPath>,
    /// How long after its time an event is still counted, in seconds.
    pub allowed_lateness_secs: u64,
}

impl MeterSpec {
    /// Checks the combination of fields.
    pub fn validate(&self) -> Result<()> {
        if self.event_type.is_empty() || self.event_type.len() > MAX_EVENT_TYPE_LENGTH {
            return Err(Error::Invalid(format!(
                "a meter's event type must be 1 to {MAX_EVENT_TYPE_LENGTH} bytes"
            )));
        }
        match (self.aggregation, &self.value_path) {
            (Aggregation::Count, Some(_)) => Err(Error::Invalid(
                "a COUNT meter counts events and reads no value: leave out the value path"
                    .to_owned(),
            )),
            (aggregation, None) if aggregation != Aggregation::Count => Err(Error::Invalid(
                format!("{aggregation} meters need a value path such as $.tokens"),
            )),
            _ => Ok(()),
        }?;
        let valid_name = |name: &str| {
            !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if let Some(name) = self.group_by.keys().find(|name| !valid_name(name)) {
            return Err(Error::Invalid(format!(
                "group names are 1-64 characters of letters, digits, '_' and '-', got {name:?}"
            )));
        }
        if i64::try_from(self.allowed_lateness_secs).is_err() {
            return Err(Error::Invalid("allowed lateness is too large".to_owned()));
        }
        Ok(())
    }
}

/// A stored meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Meter {
    /// Stable identifier.
    pub id: MeterId,
    /// Owner.
    pub tenant_id: TenantId,
    /// What it meters.
    #[serde(flatten)]
    pub spec: MeterSpec,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MeterRow {
    id: MeterId,
    tenant_id: TenantId,
    key: String,
    event_type: String,
    value_path: Option<String>,
    aggregation: String,
    group_by: sqlx::types::Json<BTreeMap<String, String>>,
    allowed_lateness_secs: i64,
    created_at: DateTime<Utc>,
}

impl TryFrom<MeterRow> for Meter {
    type Error = Error;

    fn try_from(row: MeterRow) -> Result<Self> {
        let group_by = row
            .group_by
            .0
            .into_iter()
            .map(|(name, path)| Ok((name, JsonPath::parse(&path)?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            spec: MeterSpec {
                key: MeterKey::parse(&row.key)?,
                event_type: row.event_type,
                value_path: row.value_path.as_deref().map(JsonPath::parse).transpose()?,
                aggregation: row.aggregation.parse()?,
                group_by,
                allowed_lateness_secs: u64::try_from(row.allowed_lateness_secs).unwrap_or(0),
            },
            created_at: row.created_at,
        })
    }
}

const METER_COLUMNS: &str = "id, tenant_id, key, event_type, value_path, aggregation, group_by, \
                             allowed_lateness_secs, created_at";

/// Creates a meter for a tenant as an operator, within the default caps; see [`create_by`].
pub async fn create(pool: &Pool, tenant: TenantId, spec: &MeterSpec) -> Result<Meter> {
    create_by(pool, tenant, spec, Actor::Operator, &Caps::default()).await
}

/// Creates a meter for a tenant and records it in the audit log; a key the tenant already uses
/// is [`Error::Conflict`], and a tenant at `caps.meters_per_tenant` meters, or a spec with more
/// than `caps.group_by_per_meter` groups, is [`Error::LimitReached`].
pub async fn create_by(
    pool: &Pool,
    tenant: TenantId,
    spec: &MeterSpec,
    actor: Actor,
    caps: &Caps,
) -> Result<Meter> {
    spec.validate()?;
    if spec.group_by.len() > caps.group_by_per_meter as usize {
        return Err(Error::LimitReached(format!(
            "a meter may have at most {} groups (caps.group_by_per_meter), got {}",
            caps.group_by_per_meter,
            spec.group_by.len()
        )));
    }
    let group_by: BTreeMap<&str, &str> = spec
        .group_by
        .iter()
        .map(|(name, path)| (name.as_str(), path.as_str()))
        .collect();
    let mut transaction = pool.begin().await?;
    caps::lock_tenant(&mut transaction, tenant).await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM meters WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&mut *transaction)
        .await?;
    caps::check(count, caps.meters_per_tenant, "meters", "meters_per_tenant")?;
    let row: MeterRow = sqlx::query_as(&format!(
        "INSERT INTO meters (id, tenant_id, key, event_type, value_path, aggregation, group_by,
                             allowed_lateness_secs)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {METER_COLUMNS}"
    ))
    .bind(MeterId::generate())
    .bind(tenant)
    .bind(spec.key.as_str())
    .bind(&spec.event_type)
    .bind(spec.value_path.as_ref().map(JsonPath::as_str))
    .bind(spec.aggregation.as_str())
    .bind(sqlx::types::Json(group_by))
    .bind(i64::try_from(spec.allowed_lateness_secs).unwrap_or(i64::MAX))
    .fetch_one(&mut *transaction)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::Conflict(format!("this tenant already has a meter {}", spec.key))
        }
        _ => catalog::tenant_must_exist(tenant)(error),
    })?;
    let meter: Meter = row.try_into()?;
    audit::record(
        &mut transaction,
        tenant,
        actor,
        Action::MeterCreated,
        None,
        Some(json!(meter)),
    )
    .await?;
    transaction.commit().await?;
    Ok(meter)
}

/// Lists a tenant's meters by key.
pub async fn list(pool: &Pool, tenant: TenantId) -> Result<Vec<Meter>> {
    let rows: Vec<MeterRow> = sqlx::query_as(&format!(
        "SELECT {METER_COLUMNS} FROM meters WHERE tenant_id = $1 ORDER BY key"
    ))
    .bind(tenant)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Meter::try_from).collect()
}

/// Lists every tenant's meters, for the aggregator.
pub async fn all(pool: &Pool) -> Result<Vec<Meter>> {
    let rows: Vec<MeterRow> = sqlx::query_as(&format!(
        "SELECT {METER_COLUMNS} FROM meters ORDER BY tenant_id, key"
    ))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Meter::try_from).collect()
}

/// Returns what changes whenever a meter is created or deleted: the number of meters and the
/// latest creation time. The aggregator checks it before each pass.
pub async fn fingerprint(pool: &Pool) -> Result<(i64, Option<DateTime<Utc>>)> {
    Ok(
        sqlx::query_as("SELECT count(*), max(created_at) FROM meters")
            .fetch_one(pool)
            .await?,
    )
}

/// Finds one of a tenant's meters by key; an unknown key is [`Error::NotFound`].
pub async fn find(pool: &Pool, tenant: TenantId, key: &MeterKey) -> Result<Meter> {
    let row: Option<MeterRow> = sqlx::query_as(&format!(
        "SELECT {METER_COLUMNS} FROM meters WHERE tenant_id = $1 AND key = $2"
    ))
    .bind(tenant)
    .bind(key.as_str())
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| Error::NotFound(format!("meter {key}")))?
        .try_into()
}

/// Deletes one of a tenant's meters as an operator; see [`delete_by`].
pub async fn delete(pool: &Pool, tenant: TenantId, key: &MeterKey) -> Result<()> {
    delete_by(pool, tenant, key, Actor::Operator).await
}

/// Deletes one of a tenant's meters and records it in the audit log; an unknown key is
/// [`Error::NotFound`].
pub async fn delete_by(pool: &Pool, tenant: TenantId, key: &MeterKey, actor: Actor) -> Result<()> {
    let mut transaction = pool.begin().await?;
    let row: Option<MeterRow> = sqlx::query_as(&format!(
        "DELETE FROM meters WHERE tenant_id = $1 AND key = $2 RETURNING {METER_COLUMNS}"
    ))
    .bind(tenant)
    .bind(key.as_str())
    .fetch_optional(&mut *transaction)
    .await?;
    let deleted: Meter = row
        .ok_or_else(|| Error::NotFound(format!("meter {key}")))?
        .try_into()?;
    audit::record(
        &mut transaction,
        tenant,
        actor,
        Action::MeterDeleted,
        Some(json!(deleted)),
        None,
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(aggregation: Aggregation, value_path: Option<&str>) -> MeterSpec {
        MeterSpec {
            key: MeterKey::parse("tokens").expect("valid"),
            event_type: "llm.completion".to_owned(),
            value_path: value_path.map(|path| JsonPath::parse(path).expect("valid")),
            aggregation,
            group_by: BTreeMap::new(),
            allowed_lateness_secs: 3600,
        }
    }

    #[test]
    fn paths_read_nested_values_and_refuse_other_forms() {
        let path = JsonPath::parse("$.usage.tokens").expect("valid");
        let data = json!({ "usage": { "tokens": 42 } });
        assert_eq!(path.lookup(&data), Some(&json!(42)));
        assert_eq!(path.lookup(&json!({ "usage": 3 })), None);
        for bad in ["usage", "$", "$.", "$.a..b", "$[0]"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn count_meters_read_no_value_and_the_others_need_one() {
        assert!(spec(Aggregation::Count, None).validate().is_ok());
        assert!(
            spec(Aggregation::Count, Some("$.tokens"))
                .validate()
                .is_err()
        );
        assert!(spec(Aggregation::Sum, None).validate().is_err());
        assert!(
            spec(Aggregation::UniqueCount, Some("$.user"))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn aggregations_parse_in_any_case() {
        assert_eq!(
            "unique_count".parse::<Aggregation>().ok(),
            Some(Aggregation::UniqueCount)
        );
        assert_eq!("SUM".parse::<Aggregation>().ok(), Some(Aggregation::Sum));
        assert!("median".parse::<Aggregation>().is_err());
    }
}
