//! Tally's service-level objectives (issue 15): the pure core that the catalog, the API and the
//! CLI build on.
//!
//! - [`spec`]: an SLO as tenants write it ([`SloSpec`]), checked field by field, and the
//!   indicator the aggregator counts for it ([`SloSpec::indicator`]).
//! - [`window`]: the window its objective holds over: N days rolling, or the calendar month.
//! - [`tier`]: its alert tiers, multiwindow multi-burn-rate alerts as data, with the Google SRE
//!   workbook's as the default.
//!
//! The aggregator counts an SLO's indicator per minute as a SUM meter of 0/1 readings: a rollup
//! row's `events` is the minute's total and its sum the good events (see
//! [`tally_meter::sli`]).

pub mod spec;
pub mod tier;
pub mod window;

mod duration_text;

pub use self::spec::{GroupBy, IndicatorSpec, SloSpec};
pub use self::tier::{Severity, Tier, default_tiers};
pub use self::window::Window;
