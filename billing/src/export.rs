//! Invoices as finance takes them away: one invoice and its customer as a PDF document to send
//! ([`pdf`]), as the rows of a spreadsheet, one per line ([`table`]), and as a JSON document
//! ([`document`]); how each line was computed, in sentences ([`explain`]); and the UTC month whose finalized invoices a monthly export holds
//! ([`Month`]).
//!
//! Money is printed as stored: the rounded `rust_decimal` amounts of the invoice, written out
//! to the currency's minor unit (`49` EUR is `49.00`, `500` JPY stays `500`), never through a
//! float. Dates on paper are the customer's, in its billing time zone; the rows and the JSON
//! document give instants in UTC.

pub mod document;
pub mod explain;
#[cfg(test)]
pub(crate) mod fixtures;
mod format;
mod month;
pub mod pdf;
pub mod table;

pub use self::month::Month;
