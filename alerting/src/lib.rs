//! Tally's alerting: alert rules per tenant ([`rule`]), their evaluation on the rollups, raw
//! events and quotas ([`evaluate`]), the alert state machine ([`state`]), the state of each
//! alert series and the transitions in PostgreSQL ([`catalog`]), the history in ClickHouse
//! ([`history`]), and notifications: routing, grouping, silences, inhibition and receivers
//! ([`notify`]). [`role`] runs it all in `tally serve`.

pub mod catalog;
pub mod config;
use tally_meter::duration_text;
pub mod evaluate;
pub mod history;
pub mod notify;
pub mod role;
pub mod rule;
pub mod state;
