//! Tally's alerting: alert rules per tenant ([`rule`]), their evaluation on the rollups, raw
//! events and quotas ([`evaluate`]), the alert state machine ([`state`]), the state of each
//! alert series and the transitions in PostgreSQL ([`catalog`]), and the history in
//! ClickHouse ([`history`]). [`role`] runs it all in `tally serve`.

pub mod catalog;
pub mod config;
pub mod evaluate;
pub mod history;
pub mod role;
pub mod rule;
pub mod state;
