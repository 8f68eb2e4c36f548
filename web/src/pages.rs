//! The pages, one module each.

pub mod alerts;
pub mod customers;
pub mod invoice;
pub mod invoices;
pub mod keys;
pub mod login;
pub mod meter;
pub mod meters;
pub mod overview;
pub mod plans;
pub mod quarantine;
pub mod quota;
pub mod slo;
pub mod slos;
