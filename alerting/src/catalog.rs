//! Alerting's SQL on the domain core's [`Catalog`](tally_meter::catalog::Catalog): rules, the
//! state of each alert series, and the transitions between states. The tenant binds every row
//! a tenant reads.

pub mod rules;
pub mod series;
pub mod transitions;
