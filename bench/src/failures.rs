//! The failed requests of a bench, counted by kind with the first example of each, so a
//! report can say loudly what went wrong without a line per failure.

use std::collections::BTreeMap;

/// Failed requests by kind: how many, and the first example.
#[derive(Debug, Clone, Default)]
pub struct Failures {
    by_kind: BTreeMap<String, (u64, String)>,
}

impl Failures {
    /// Counts one failure of `kind`; `example` is kept if it is the first of its kind.
    pub fn record(&mut self, kind: &str, example: String) {
        self.by_kind
            .entry(kind.to_owned())
            .or_insert((0, example))
            .0 += 1;
    }

    /// Adds the failures another sender counted; the examples already kept stay.
    pub fn merge(&mut self, other: Self) {
        for (kind, (count, example)) in other.by_kind {
            self.by_kind.entry(kind).or_insert((0, example)).0 += count;
        }
    }

    /// Failures of every kind.
    pub fn total(&self) -> u64 {
        self.by_kind.values().map(|(count, _)| count).sum()
    }

    /// The first kind, in order, and its example; `None` when nothing failed.
    pub fn first(&self) -> Option<(&str, &str)> {
        self.by_kind
            .iter()
            .next()
            .map(|(kind, (_, example))| (kind.as_str(), example.as_str()))
    }

    /// A line per kind: `kind ×count (first: example)`.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.by_kind
            .iter()
            .map(|(kind, (count, example))| format!("{kind} ×{count} (first: {example})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_by_kind_and_keep_the_first_example() {
        let mut failures = Failures::default();
        assert_eq!(failures.first(), None);
        failures.record("HTTP 503", "busy".to_owned());
        failures.record("HTTP 503", "later".to_owned());
        let mut other = Failures::default();
        other.record("connection error", "reset".to_owned());
        other.record("HTTP 503", "other".to_owned());
        failures.merge(other);
        assert_eq!(failures.total(), 4);
        assert_eq!(failures.first(), Some(("HTTP 503", "busy")));
        assert_eq!(
            failures.lines().collect::<Vec<_>>(),
            [
                "HTTP 503 ×3 (first: busy)",
                "connection error ×1 (first: reset)"
            ]
        );
    }
}
