//! Tally's service-level objectives (issue 15): the pure core that the catalog, the API and the
//! CLI build on.
//!
//! - [`spec`]: an SLO as tenants write it ([`SloSpec`]), checked field by field, and the
//!   indicator the aggregator counts for it ([`SloSpec::indicator`]).
//! - [`window`]: the window its objective holds over: N days rolling, or the calendar month.
//! - [`tier`]: its alert tiers, multiwindow multi-burn-rate alerts as data, with the Google SRE
//!   workbook's as the default.
//! - [`platform`]: Tally's own SLOs (ingest availability and freshness, API latency), which the
//!   operator gets with the platform tenant.
//! - [`openslo`]: SLOs as OpenSLO v1 YAML, written and read back without loss, with Tally's
//!   specifics (the condition, the group, the tiers) in the places OpenSLO leaves free.
//! - [`burn`]: the math over counts of good and total events: sums over a window's minutes,
//!   burn rates, the error budget left, burn-down charts and the tiers' states. Exact decimals,
//!   ratios of sums (never averages of ratios, never floats).
//!
//! - [`catalog`]: the SQL of `slos`, a tenant's SLOs by name (applying one that counts
//!   something else gives it a new id, so counts of two definitions never mix).
//! - [`status`]: where SLOs stand at an instant, read from ClickHouse: the budget of each
//!   series' window so far, its burn rates and its tiers' states.
//! - [`history`]: how each series' budget went down over its window so far, day by day.
//!
//! Apart from those three, nothing here touches a database, a clock or the network. Elsewhere:
//!
//! - the aggregator counts an SLO's indicator per minute as a SUM meter of 0/1 readings, so a
//!   rollup row's `events` is the minute's total and its sum the good events, kept exactly once
//!   like every meter's sums (see [`tally_meter::sli`]);
//! - the catalog stores SLO specs per tenant and gives the aggregator their
//!   [`tally_meter::sli::Indicator`]s;
//! - the API and the CLI read those per-minute counts into `(minute, Counts)` series and hand
//!   them to [`burn`]: the budget of [`Window::bounds`], the rates of [`BURN_RATE_WINDOWS`] and
//!   the [`evaluate_tiers`] states that alerting turns into alerts.

pub mod burn;
pub mod catalog;
pub mod history;
pub mod openslo;
pub mod platform;
pub mod spec;
pub mod status;
pub mod tier;
pub mod window;

use tally_meter::duration_text;

pub use self::burn::{
    BURN_RATE_WINDOWS, Budget, BurnDownPoint, Consumption, Counts, TierState, burn_down, burn_rate,
    burns_at_least, evaluate_tiers, sum_range, sum_trailing,
};
pub use self::openslo::{from_openslo, to_openslo, to_openslo_documents};
pub use self::spec::{GroupBy, IndicatorSpec, SloSpec};
pub use self::tier::{Severity, Tier, default_tiers};
pub use self::window::Window;
