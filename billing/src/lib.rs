//! Tally's billing: currencies and their rounding ([`money`]), the price models that turn a
//! period's usage into exact invoice lines ([`price`]), a tenant's customers ([`customer`]) and
//! versioned plans ([`plan`]) with the subscriptions between them ([`subscription`]), billing
//! periods on the customer's calendar ([`period`]), an invoice's lines and totals
//! ([`invoice`]), their SQL ([`catalog`]), and invoices as PDF, rows and JSON for finance
//! ([`export`]). Amounts are `rust_decimal` throughout; errors are the domain core's.

pub mod attribution;
pub mod catalog;
pub mod config;
pub mod customer;
pub mod export;
pub mod invoice;
pub mod money;
pub mod period;
pub mod plan;
pub mod platform;
pub mod price;
pub mod role;
pub mod run;
pub mod stripe;
pub mod subscription;
