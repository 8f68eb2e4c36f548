//! The analytics seam: ClickHouse, where raw events, rollups and usage live. This module owns
//! the client settings, the connection and the [`Analytics`] handle. Every statement Tally runs
//! on ClickHouse is a method of that handle, in one submodule per table family, which holds
//! only the SQL and the row structs it reads and writes:
//!
//! - [`migrations`]: the schema and `schema_migrations` ([`Analytics::migrate`]);
//! - `writes`: every table the aggregator writes in a pass, and its lookup of `event_positions`;
//! - [`usage`]: a meter's rollups per window ([`Analytics::usage`]), read from the newest rows
//!   of the coarsest rollup tables that answer (`rollups`);
//! - [`windows`]: many meters' totals over one window, per subject and group values, for
//!   alert evaluation ([`Analytics::window_totals`]);
//! - [`traffic`]: a tenant's last hour in the hot tables ([`Analytics::traffic_last_hour`]);
//! - [`platform`]: hourly platform usage ([`Analytics::platform_hourly`] for a tenant,
//!   [`Analytics::platform_hours`] for all);
//! - [`events`]: pages of raw events ([`Analytics::events_page`]);
//! - [`quarantine`]: pages of quarantined events ([`Analytics::quarantine_page`]);
//! - [`retention`]: partitions to drop ([`Analytics::drop_partition`]).
//!
//! The domain types and pure logic these queries serve live apart: windows, limits and usage
//! points in [`crate::usage`], traffic in [`crate::traffic`], platform hours in
//! [`crate::platform`], and the aggregator's blocks, dedup and value encoding in
//! [`crate::aggregator`].
//!
//! Tally supports ClickHouse from 18.16 on, so every client here has schema validation off
//! (18.16 lacks `RowBinaryWithNamesAndTypes`) and the SQL keeps to what old and new servers
//! share.

pub mod events;
pub mod migrations;
pub mod platform;
pub mod quarantine;
pub mod retention;
mod rollups;
pub mod totals;
pub mod traffic;
pub mod usage;
pub mod windows;
pub(crate) mod writes;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{Error, Result};

/// ClickHouse settings (`[clickhouse]` in the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP interface URL, such as `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding Tally's tables; `tally migrate` creates it.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password (empty for none).
    pub password: SecretString,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".to_owned(),
            database: "tally".to_owned(),
            user: "default".to_owned(),
            password: SecretString::from(""),
        }
    }
}

impl ClickHouseConfig {
    /// Checks the settings' form, naming the offending key.
    pub fn validate(&self) -> Result<()> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Error::Invalid(format!(
                "clickhouse.url must be an http:// URL of ClickHouse's HTTP interface, got {:?}",
                self.url
            )));
        }
        let mut chars = self.database.chars();
        let starts_well = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Invalid(format!(
                "clickhouse.database must be an identifier (letters, digits, '_'), got {:?}",
                self.database
            )));
        }
        Ok(())
    }
}

/// A handle on Tally's ClickHouse database; cheap to clone.
#[derive(Clone)]
pub struct Analytics {
    /// Client bound to Tally's database.
    client: clickhouse::Client,
    /// Client bound to no database, for creating Tally's.
    server: clickhouse::Client,
    database: String,
}

impl Analytics {
    /// Builds the clients; this does not contact the server yet.
    pub fn new(config: &ClickHouseConfig) -> Self {
        let server = clickhouse::Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_password(config.password.expose_secret())
            .with_validation(false);
        Self {
            client: server.clone().with_database(&config.database),
            server,
            database: config.database.clone(),
        }
    }

    /// Returns a copy whose queries ClickHouse itself stops after `deadline` (its
    /// `max_execution_time` setting, in whole seconds rounded up), for callers that give up
    /// at a deadline anyway, such as the API. Other handles, like the aggregator's, which
    /// inserts, keep running without one.
    pub fn with_max_execution_time(&self, deadline: Duration) -> Self {
        let seconds = deadline.as_secs() + u64::from(deadline.subsec_nanos() > 0);
        let seconds = seconds.max(1).to_string();
        Self {
            client: self
                .client
                .clone()
                .with_setting("max_execution_time", seconds.clone()),
            server: self
                .server
                .clone()
                .with_setting("max_execution_time", seconds),
            database: self.database.clone(),
        }
    }

    /// Returns the client bound to Tally's database, for ad-hoc SQL in tests and tools;
    /// Tally's own statements are the methods of this handle.
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    /// Returns the name of Tally's database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Checks that the server answers and Tally's database exists.
    pub async fn ping(&self) -> Result<()> {
        let exists: u64 = self
            .server
            .query("SELECT count() FROM system.databases WHERE name = ?")
            .bind(&self.database)
            .fetch_one()
            .await?;
        if exists == 0 {
            return Err(Error::NotFound(format!(
                "clickhouse database {} (run `tally migrate`)",
                self.database
            )));
        }
        Ok(())
    }
}

/// A page of rows, and the position of its last row when more rows follow.
#[derive(Debug, Clone)]
pub struct Page<T, P> {
    /// The rows.
    pub items: Vec<T>,
    /// Where the page ended, when more rows follow; none on the last page.
    pub next: Option<P>,
}

impl<T, P> Page<T, P> {
    /// Cuts the rows of a page query, which asks for one row more than `first`, to the page,
    /// with the `position` of its last row when that extra row came.
    fn cut(mut rows: Vec<T>, first: usize, position: impl FnOnce(&T) -> P) -> Self {
        let more = rows.len() > first;
        rows.truncate(first);
        let next = if more {
            rows.last().map(position)
        } else {
            None
        };
        Self { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_query_asks_one_row_more_to_tell_whether_more_follow() {
        let cut = |rows: Vec<u8>| {
            let page = Page::cut(rows, 2, |last| *last);
            (page.items, page.next)
        };
        assert_eq!(cut(vec![1, 2, 3]), (vec![1, 2], Some(2)));
        assert_eq!(cut(vec![1, 2]), (vec![1, 2], None));
        assert_eq!(cut(Vec::new()), (Vec::new(), None));
    }

    #[test]
    fn a_deadline_bounds_the_copy_only_in_whole_seconds() {
        let analytics = Analytics::new(&ClickHouseConfig::default());
        let bounded = analytics.with_max_execution_time(Duration::from_millis(9_500));
        assert_eq!(
            bounded.client().get_setting("max_execution_time"),
            Some("10")
        );
        assert_eq!(analytics.client().get_setting("max_execution_time"), None);
        let tiny = analytics.with_max_execution_time(Duration::ZERO);
        assert_eq!(tiny.client().get_setting("max_execution_time"), Some("1"));
    }
}
