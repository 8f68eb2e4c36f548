//! Tally's alerting: alert rules, their evaluation, the alert state machine, routing, notifiers
//! and alert history.
//!
//! Nothing lives here yet.
