//! The resolutions rollups are kept at, one table each (`rollup_minute`, `rollup_hour`,
//! `rollup_day`). Every table holds the same sums per (key, partition, block), so a bucket of a
//! coarser table equals the sum of the finer buckets it covers.

/// A rollup table's bucket size. Rows of every table are keyed by the first minute of their
/// bucket, in seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    /// `rollup_minute`.
    Minute,
    /// `rollup_hour`.
    Hour,
    /// `rollup_day`.
    Day,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Self; 3] = [Self::Minute, Self::Hour, Self::Day];

    /// Returns the length of a bucket, in seconds.
    pub fn seconds(self) -> u32 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    /// Returns the name of the table, such as `rollup_hour`.
    pub fn table(self) -> &'static str {
        match self {
            Self::Minute => "rollup_minute",
            Self::Hour => "rollup_hour",
            Self::Day => "rollup_day",
        }
    }

    /// Returns the name of a bucket, such as `hour`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// Returns the start of the bucket holding `seconds` (since the epoch).
    pub fn start(self, seconds: u32) -> u32 {
        seconds - seconds % self.seconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_start_at_their_first_minute() {
        assert_eq!(Resolution::Hour.start(2 * 3_600 + 59), 2 * 3_600);
        assert_eq!(Resolution::Day.start(86_400 + 3_660), 86_400);
        assert_eq!(Resolution::Minute.start(61), 60);
    }
}
