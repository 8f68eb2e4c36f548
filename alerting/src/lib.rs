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

/// Maps the error of reading `what` (such as "an alert rule") from JSON: the JSON is
/// [`tally_meter::Error::Invalid`], "not {what}: …".
fn not_json_of(what: &'static str) -> impl FnOnce(serde_json::Error) -> tally_meter::Error {
    move |error| tally_meter::Error::Invalid(format!("not {what}: {error}"))
}
