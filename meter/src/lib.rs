//! Tally's domain core, shared by every other crate: identifiers, tenants and API keys, and the
//! three narrow seams where domain logic meets storage:
//!
//! - the **catalog** ([`catalog`]): control-plane records in PostgreSQL, behind the
//!   [`catalog::Catalog`] handle;
//! - the **bus** ([`bus`]): the Kafka-protocol event log (append, consume, commit);
//! - the **analytics** store ([`analytics`]): ClickHouse tables for raw events, rollups and
//!   usage; every ClickHouse query is a method of its [`analytics::Analytics`] handle, while
//!   the domain types those queries answer with ([`usage`], [`traffic`], [`platform`]) hold
//!   no SQL.
//!
//! The domain modules hold types and pure logic and no SQL; each catalog table family has its
//! SQL (row structs and query functions) in one submodule of [`catalog`]:
//!
//! | domain | tables | SQL |
//! | --- | --- | --- |
//! | [`tenant`] | `tenants` | [`catalog::tenants`] |
//! | [`api_key`] | `api_keys` | [`catalog::api_keys`] |
//! | [`quota`] | `quotas`, `quota_usage` | [`catalog::quotas`] |
//! | [`meter`] | `meters` | [`catalog::meters`] |
//! | [`event_type`] | `event_types` | [`catalog::event_types`] |
//! | [`web_session`] | `web_sessions` | [`catalog::web_sessions`] |
//! | [`audit`] | `audit_log` | [`catalog::audit`] |
//! | [`sli`] | `slos` (the indicator columns; the rest is the slo crate's) | [`catalog::indicators`] |
//!
//! Nothing here speaks HTTP; the ingest, api and web crates build on these types.

pub mod aggregator;
pub mod analytics;
pub mod api_key;
pub mod audit;
pub mod auth_failures;
pub mod bus;
pub mod caps;
pub mod catalog;
pub mod duration_text;
mod error;
pub mod error_code;
pub mod event;
pub mod event_type;
pub mod ids;
pub mod meter;
pub mod platform;
pub mod quota;
pub mod sli;
pub mod tenant;
pub mod throttle;
pub mod ticks;
pub mod traffic;
pub mod usage;
pub mod web_session;

pub use error::{Error, Result};
