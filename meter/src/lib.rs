//! Tally's domain core, shared by every other crate: identifiers, tenants and API keys, and the
//! three narrow seams where domain logic meets storage:
//!
//! - the **catalog** ([`catalog`]): control-plane records in PostgreSQL (tenants, API keys, …);
//! - the **bus** ([`bus`]): the Kafka-protocol event log (append, consume, commit);
//! - the **analytics** store ([`analytics`]): ClickHouse tables for raw events and rollups.
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
mod error;
pub mod error_code;
pub mod event;
pub mod event_type;
pub mod ids;
pub mod meter;
pub mod platform;
pub mod quota;
pub mod tenant;
pub mod throttle;
pub mod traffic;
pub mod usage;
pub mod web_session;

pub use error::{Error, Result};
