//! The time zone of usage windows (an IANA name, UTC by default). DAY and MONTH windows start
//! at the zone's midnight and on its first of the month, so a local day may last 23 or 25
//! hours; MINUTE and HOUR windows are the same elapsed minutes and hours in every zone. This
//! module finds the instant a local day or month starts and the zone's offsets over a range,
//! which the SQL adds to rollup minutes to find their local day, exactly, from the tz database
//! compiled into Tally (chrono-tz) rather than ClickHouse's own.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::GapInfo;
pub use chrono_tz::Tz;

use crate::{Error, Result};

/// Parses an IANA time zone name such as `Europe/Berlin` or `UTC`.
pub fn parse_time_zone(name: &str) -> Result<Tz> {
    name.parse().map_err(|_| {
        Error::Invalid(format!(
            "unknown time zone {name:?}: use an IANA name such as Europe/Berlin, or UTC"
        ))
    })
}

/// The date on `zone`'s calendar at `time`, or on UTC's where the zone's would leave chrono's
/// calendar (its first and last hours).
pub fn local_date(zone: Tz, time: DateTime<Utc>) -> NaiveDate {
    time.naive_utc()
        .checked_add_offset(offset_of(zone, time))
        .map_or(time.date_naive(), |local| local.date())
}

/// `time` written with `zone`'s offset, or UTC's where the zone's would leave chrono's
/// calendar.
pub fn written_in(zone: Tz, time: DateTime<Utc>) -> DateTime<FixedOffset> {
    let offset = offset_of(zone, time);
    match time.naive_utc().checked_add_offset(offset) {
        Some(_) => time.with_timezone(&offset),
        None => time.fixed_offset(),
    }
}

fn offset_of(zone: Tz, time: DateTime<Utc>) -> FixedOffset {
    zone.offset_from_utc_datetime(&time.naive_utc()).fix()
}

/// The first instant whose local time in `zone` is `local` or later: the instant itself, the
/// earlier of two when clocks went back over it, or the end of the gap when clocks skipped it
/// (a day whose midnight is skipped starts when its clocks start). None past the calendar.
pub fn local_start(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let start = match zone.from_local_datetime(&local).earliest() {
        Some(start) => start,
        None => GapInfo::new(&local, &zone)?.end?,
    };
    Some(start.with_timezone(&Utc))
}

/// The zone's offset from UTC, in seconds, at `second` (seconds since 1970).
fn offset_at(zone: Tz, second: i64) -> i32 {
    DateTime::from_timestamp(second, 0)
        .map_or(0, |instant| offset_of(zone, instant).local_minus_utc())
}

/// The zone's offset at `from` and every change of it within `[from, to)` (seconds since
/// 1970), as the first second of the new offset and the offset. Offsets are sampled once a day
/// and each change found to the second: zones change their offset at most once a day.
pub(crate) fn offset_changes(zone: Tz, from: i64, to: i64) -> (i32, Vec<(i64, i32)>) {
    const DAY: i64 = 86_400;
    let first = offset_at(zone, from);
    let mut changes = Vec::new();
    let (mut before, mut offset) = (from, first);
    while before < to {
        let probe = before.saturating_add(DAY).min(to);
        if offset_at(zone, probe) == offset {
            before = probe;
            continue;
        }
        // The offset is `offset` at `low` and another at `high`: find the second it changed.
        let (mut low, mut high) = (before, probe);
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if offset_at(zone, middle) == offset {
                low = middle;
            } else {
                high = middle;
            }
        }
        offset = offset_at(zone, high);
        if high < to {
            changes.push((high, offset));
        }
        before = high;
    }
    (first, changes)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The instant an RFC 3339 text names (the usage module's tests share it).
    pub(crate) fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a valid RFC 3339 time")
    }

    /// Europe/Berlin, whose clocks change in March and October.
    pub(crate) fn berlin() -> Tz {
        parse_time_zone("Europe/Berlin").expect("a zone")
    }

    #[test]
    fn zones_are_iana_names_and_an_unknown_one_is_refused_clearly() {
        assert_eq!(parse_time_zone("UTC").ok(), Some(Tz::UTC));
        assert_eq!(
            parse_time_zone("Asia/Kolkata").ok(),
            Some(Tz::Asia__Kolkata)
        );
        let refused = parse_time_zone("Europe/Berln").expect_err("no such zone");
        assert_eq!(
            refused.to_string(),
            "unknown time zone \"Europe/Berln\": use an IANA name such as Europe/Berlin, or UTC"
        );
    }

    #[test]
    fn local_times_start_at_their_first_instant_or_after_a_skipped_gap() {
        let local = |text: &str| text.parse::<NaiveDateTime>().expect("a local time");
        assert_eq!(
            local_start(berlin(), local("2026-03-29T00:00:00")),
            Some(at("2026-03-28T23:00:00Z"))
        );
        // 02:30 does not exist on that day in Berlin: clocks went from 02:00 to 03:00.
        assert_eq!(
            local_start(berlin(), local("2026-03-29T02:30:00")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // 02:30 happens twice on 25 October: the first counts.
        assert_eq!(
            local_start(berlin(), local("2026-10-25T02:30:00")),
            Some(at("2026-10-25T00:30:00Z"))
        );
        // Samoa skipped 30 December 2011: that day starts, and ends, as 31 December starts.
        let apia = parse_time_zone("Pacific/Apia").expect("a zone");
        assert_eq!(
            local_start(apia, local("2011-12-30T00:00:00")),
            local_start(apia, local("2011-12-31T00:00:00"))
        );
    }

    #[test]
    fn offsets_change_at_the_second_clocks_change() {
        let (from, to) = (at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
        let (first, changes) = offset_changes(berlin(), from.timestamp(), to.timestamp());
        assert_eq!(first, 3600);
        assert_eq!(
            changes,
            [
                (at("2026-03-29T01:00:00Z").timestamp(), 7200),
                (at("2026-10-25T01:00:00Z").timestamp(), 3600)
            ]
        );
        assert_eq!(
            offset_changes(Tz::UTC, from.timestamp(), to.timestamp()),
            (0, Vec::new())
        );
        let kolkata = offset_changes(Tz::Asia__Kolkata, from.timestamp(), to.timestamp());
        assert_eq!(kolkata, (19_800, Vec::new()));
    }
}
