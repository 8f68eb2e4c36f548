//! The alert tiers of an SLO: multiwindow, multi-burn-rate alerts as data. A tier fires when the
//! budget burns at least `factor` times as fast as the objective allows over both its long
//! window (the burn is significant) and its short one (it is still going on).

use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_meter::{Error, Result};

/// The longest long window of a tier: 31 days.
pub const MAX_TIER_WINDOW: Duration = Duration::from_secs(31 * 24 * 3600);

/// The highest burn-rate factor of a tier (the highest burn rate of a 99.999999 % objective
/// is 10^8, of a 99.9 % one 1000: a tier whose factor is above 1 / error budget never fires).
pub const MAX_FACTOR: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);

/// The most decimals a factor may have.
pub const MAX_FACTOR_DECIMALS: u32 = 4;

/// The fewest events each of a tier's windows needs by default before the tier may fire.
///
/// With fewer than 100 events one bad event is at least 1 % of them, ten times the whole
/// budget of a 99.9 % objective: at low traffic a handful of errors would burn "fast" and page
/// someone about what is noise. A tier that should fire on less traffic sets `min_events`.
pub const DEFAULT_MIN_EVENTS: u64 = 100;

/// How urgent an alert is, for SLO tiers and alert rules alike; by default a firing critical
/// alert inhibits the warnings of the same subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Pages someone.
    Critical,
    /// Worth a look (a ticket).
    #[default]
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// The label value: `critical`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One alert tier: fires when the burn rate over both `long` and `short` is at least `factor`
/// and both windows hold at least `min_events` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Unique within its SLO: 1 to 64 of a-z, 0-9, '-' and '_'.
    pub name: String,
    /// The severity of its alert (warning unless written).
    #[serde(default)]
    pub severity: Severity,
    /// The burn rate it fires at: 1 spends exactly the budget over the SLO's window.
    pub factor: Decimal,
    /// The long window, whole minutes, at most 31 days.
    #[serde(with = "crate::duration_text")]
    pub long: Duration,
    /// The short window, whole minutes, shorter than `long`.
    #[serde(with = "crate::duration_text")]
    pub short: Duration,
    /// The fewest events each window needs for the tier to fire ([`DEFAULT_MIN_EVENTS`]
    /// unless written).
    #[serde(default = "default_min_events")]
    pub min_events: u64,
}

/// Serde's default of [`Tier::min_events`].
fn default_min_events() -> u64 {
    DEFAULT_MIN_EVENTS
}

impl Tier {
    /// Checks the name, the factor and the windows.
    pub fn validate(&self) -> Result<()> {
        tally_meter::ids::check_name("tier", &self.name)?;
        let invalid = |why: String| Error::Invalid(format!("tier {:?}: {why}", self.name));
        if self.factor <= Decimal::ZERO
            || self.factor > MAX_FACTOR
            || self.factor.normalize().scale() > MAX_FACTOR_DECIMALS
        {
            return Err(invalid(format!(
                "factor: above 0 and at most {MAX_FACTOR}, with at most {MAX_FACTOR_DECIMALS} \
                 decimals, got {}",
                self.factor
            )));
        }
        check_window("long", self.long).map_err(invalid)?;
        check_window("short", self.short).map_err(invalid)?;
        if self.short >= self.long {
            return Err(invalid("short is shorter than long".to_owned()));
        }
        Ok(())
    }
}

/// Checks that a tier's window is whole minutes, at least one, and at most 31 days.
fn check_window(field: &str, window: Duration) -> std::result::Result<(), String> {
    if window.as_secs() == 0 || !window.as_secs().is_multiple_of(60) || window.subsec_nanos() != 0 {
        return Err(format!(
            "{field}: usage is kept per minute, so a window is whole minutes, at least one"
        ));
    }
    if window > MAX_TIER_WINDOW {
        return Err(format!("{field} is at most 31 days"));
    }
    Ok(())
}

/// The tiers of an SLO that does not write its own: the Google SRE workbook's (chapter
/// "Alerting on SLOs"): a page at 14.4 times over 1 hour and 5 minutes (2 % of a 30-day
/// budget in an hour), a page at 6 times over 6 hours and 30 minutes (5 % in six hours), and
/// a ticket at once over 3 days and 6 hours (10 % in three days).
pub fn default_tiers() -> Vec<Tier> {
    let tier = |name: &str, severity, factor, long_minutes: u64, short_minutes: u64| Tier {
        name: name.to_owned(),
        severity,
        factor,
        long: Duration::from_secs(long_minutes * 60),
        short: Duration::from_secs(short_minutes * 60),
        min_events: DEFAULT_MIN_EVENTS,
    };
    vec![
        tier("page-fast", Severity::Critical, Decimal::new(144, 1), 60, 5),
        tier(
            "page-slow",
            Severity::Critical,
            Decimal::from(6),
            6 * 60,
            30,
        ),
        tier(
            "ticket",
            Severity::Warning,
            Decimal::ONE,
            3 * 24 * 60,
            6 * 60,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(json: &str) -> Tier {
        serde_json::from_str(json).expect(json)
    }

    #[test]
    fn the_default_tiers_are_valid_and_page_before_they_ticket() {
        let tiers = default_tiers();
        for tier in &tiers {
            tier.validate().expect("valid");
        }
        let names: Vec<&str> = tiers.iter().map(|tier| tier.name.as_str()).collect();
        assert_eq!(names, ["page-fast", "page-slow", "ticket"]);
        assert_eq!(tiers[0].long, Duration::from_secs(3600));
        assert_eq!(tiers[2].severity, Severity::Warning);
    }

    #[test]
    fn a_tier_reads_with_its_defaults() {
        let read = tier(r#"{"name": "fast", "factor": "14.4", "long": "1h", "short": "5m"}"#);
        assert_eq!(read.severity, Severity::Warning);
        assert_eq!(read.min_events, DEFAULT_MIN_EVENTS);
        assert_eq!(read.short, Duration::from_secs(300));
        let written = serde_json::to_value(&read).expect("serializes");
        assert_eq!(written["long"], "1h");
        assert_eq!(written["factor"], "14.4");
        assert_eq!(
            serde_json::from_value::<Tier>(written).expect("reads"),
            read
        );
    }

    #[test]
    fn bad_tiers_are_refused_with_the_field() {
        for (json, reason) in [
            (
                r#"{"name": "F", "factor": "1", "long": "1h", "short": "5m"}"#,
                "tier name",
            ),
            (
                r#"{"name": "f", "factor": "0", "long": "1h", "short": "5m"}"#,
                "factor: above 0",
            ),
            (
                r#"{"name": "f", "factor": "100001", "long": "1h", "short": "5m"}"#,
                "factor:",
            ),
            (
                r#"{"name": "f", "factor": "1.00001", "long": "1h", "short": "5m"}"#,
                "factor:",
            ),
            (
                r#"{"name": "f", "factor": "1", "long": "1h", "short": "90s"}"#,
                "short: usage",
            ),
            (
                r#"{"name": "f", "factor": "1", "long": "32d", "short": "5m"}"#,
                "long is at most",
            ),
            (
                r#"{"name": "f", "factor": "1", "long": "1h", "short": "1h"}"#,
                "short is shorter",
            ),
        ] {
            let error = tier(json).validate().expect_err(json).to_string();
            assert!(error.contains(reason), "{json}: {error}");
        }
        let unknown = serde_json::from_str::<Tier>(
            r#"{"name": "f", "factor": "1", "long": "1h", "short": "5m", "for": "1m"}"#,
        )
        .expect_err("an unknown field")
        .to_string();
        assert!(unknown.contains("unknown field `for`"), "{unknown}");
    }
}
