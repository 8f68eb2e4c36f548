//! Tally's billing: currencies and their rounding ([`money`]), the price models that turn a
//! period's usage into exact invoice lines ([`price`]), a tenant's customers ([`customer`]) and
//! versioned plans ([`plan`]) with the subscriptions between them ([`subscription`]), billing
//! periods on the customer's calendar ([`period`]), an invoice's lines and totals
//! ([`invoice`]), their SQL ([`catalog`]), and invoices as PDF, rows and JSON for finance
//! ([`export`]). Amounts are `rust_decimal` throughout; errors are the domain core's.

/// Declares a field-less enum that is stored, serialized and printed as its variants' names in
/// SCREAMING_SNAKE_CASE and parsed from them in any case (`FromStr`, `<&str>::from`); any other
/// text is [`tally_meter::Error::Invalid`], saying `invalid` and then `, not "<the text>"`.
macro_rules! named_enum {
    (
        invalid = $invalid:literal;
        $(#[$attr:meta])*
        $vis:vis enum $name:ident { $($variants:tt)* }
    ) => {
        $(#[$attr])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            serde::Serialize,
            serde::Deserialize,
            strum::Display,
            strum::EnumString,
            strum::IntoStaticStr,
        )]
        #[strum(
            serialize_all = "SCREAMING_SNAKE_CASE",
            ascii_case_insensitive,
            parse_err_ty = tally_meter::Error,
            parse_err_fn = $name::invalid
        )]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        $vis enum $name { $($variants)* }

        impl $name {
            /// The error for text that names none of the variants.
            fn invalid(text: &str) -> tally_meter::Error {
                tally_meter::Error::Invalid(format!(concat!($invalid, ", not {:?}"), text))
            }
        }
    };
}

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
