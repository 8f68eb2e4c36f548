//! Tally's billing: currencies and their rounding ([`money`]), and the price models that turn a
//! period's usage into exact invoice lines ([`price`]). Amounts are `rust_decimal` throughout.

pub mod money;
pub mod price;

/// What billing refuses, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value did not have the expected form; the message says which and why.
    #[error("{0}")]
    Invalid(String),
}
