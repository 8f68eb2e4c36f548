//! Test-only crash points: named steps of a pass where a fault test can make the aggregator die
//! on purpose, to prove that a crash at that very step leaves usage exact.
//!
//! `TALLY_TEST_CRASH_AT=POINT:N` arms one point: the `N`th time a pass reaches it (`POINT` alone
//! means the first time), the process aborts at once, like a SIGKILL: nothing is flushed,
//! written or committed after it. The points are `after_event_ids`, `after_rollups` and
//! `before_commit` ([`CrashPoint`]). Only debug builds read the variable; in a release build
//! [`reach`] does nothing, so no production binary honours it. It is a test hook, not a
//! setting, which is why it is read here and not through the typed configuration.

/// A step of a pass where an armed aggregator aborts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrashPoint {
    /// `event_positions` holds the pass's first occurrences; the pass's other inserts, which
    /// run at the same time, may be done, under way or not started.
    AfterEventIds,
    /// The rollups (minutes, hours and days) are written; the pass's other inserts may be
    /// done, under way or not started.
    AfterRollups,
    /// The whole pass is written; its offsets are not committed.
    BeforeCommit,
}

/// Aborts the process if `TALLY_TEST_CRASH_AT` arms `point` and this is the reach it names.
#[cfg(debug_assertions)]
pub(crate) fn reach(point: CrashPoint) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static ARMED: OnceLock<Option<(CrashPoint, u64)>> = OnceLock::new();
    static REACHED: AtomicU64 = AtomicU64::new(0);
    let armed = ARMED.get_or_init(|| {
        let value = std::env::var("TALLY_TEST_CRASH_AT").ok()?;
        Some(parse(&value).unwrap_or_else(|| {
            panic!(
                "TALLY_TEST_CRASH_AT={value}: expected after_event_ids, after_rollups or \
                 before_commit, optionally followed by :N"
            )
        }))
    });
    let Some((armed_point, nth)) = *armed else {
        return;
    };
    if armed_point == point && REACHED.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        // Straight to stderr: the log writer may not flush before the abort.
        eprintln!("crash point {point:?} reached {nth} times; aborting (TALLY_TEST_CRASH_AT)");
        std::process::abort();
    }
}

/// Does nothing: release builds have no crash points.
#[cfg(not(debug_assertions))]
pub(crate) fn reach(_point: CrashPoint) {}

/// Parses `POINT` or `POINT:N` (N at least 1).
#[cfg(debug_assertions)]
fn parse(value: &str) -> Option<(CrashPoint, u64)> {
    let (name, nth) = match value.split_once(':') {
        Some((name, nth)) => (name, nth.parse().ok().filter(|nth| *nth >= 1)?),
        None => (value, 1),
    };
    let point = match name {
        "after_event_ids" => CrashPoint::AfterEventIds,
        "after_rollups" => CrashPoint::AfterRollups,
        "before_commit" => CrashPoint::BeforeCommit,
        _ => return None,
    };
    Some((point, nth))
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[test]
    fn parses_a_point_and_its_reach() {
        assert_eq!(
            parse("after_rollups:3"),
            Some((CrashPoint::AfterRollups, 3))
        );
        assert_eq!(parse("before_commit"), Some((CrashPoint::BeforeCommit, 1)));
        assert_eq!(parse("after_event_ids:0"), None);
        assert_eq!(parse("after_everything:2"), None);
    }
}
