//! Alerting's SQL on the domain core's [`Catalog`](tally_meter::catalog::Catalog): rules, the
//! state of each alert series, the transitions between states, receivers and routing,
//! silences, and notification groups with the outbox. The tenant binds every row
//! a tenant reads.

pub mod notifications;
pub mod receivers;
pub mod rules;
pub mod series;
pub mod silences;
pub mod transitions;
