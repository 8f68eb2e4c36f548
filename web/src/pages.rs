//! The pages, one module each.

pub mod keys;
pub mod login;
pub mod meter;
pub mod meters;
pub mod overview;
pub mod quarantine;
pub mod quota;
