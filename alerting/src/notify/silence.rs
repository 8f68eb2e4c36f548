//! Silences: label matchers that mute every alert having those labels between two instants.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tally_meter::ids::TenantId;
use tally_meter::{Error, Result};
use uuid::Uuid;

use super::routing::matches;

/// Most matchers of one silence.
const MAX_MATCHERS: usize = 20;

/// A silence as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Silence {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Labels an alert must have, with these values, to be muted.
    pub matchers: BTreeMap<String, String>,
    /// When it starts muting.
    pub starts_at: DateTime<Utc>,
    /// When it stops.
    pub ends_at: DateTime<Utc>,
    /// Who made it.
    pub author: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Whether it mutes an alert with `labels` at `at`.
    pub fn mutes(&self, labels: &BTreeMap<String, String>, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && at < self.ends_at && matches(&self.matchers, labels)
    }
}

/// What a new silence is to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSilence {
    /// Labels an alert must have to be muted; at least one.
    pub matchers: BTreeMap<String, String>,
    /// When it starts muting.
    pub starts_at: DateTime<Utc>,
    /// When it stops; after its start.
    pub ends_at: DateTime<Utc>,
    /// Who makes it.
    pub author: String,
    /// Why.
    pub comment: String,
}

impl NewSilence {
    /// Checks it: a silence without matchers would mute everything.
    pub fn validate(&self) -> Result<()> {
        if self.matchers.is_empty() || self.matchers.len() > MAX_MATCHERS {
            return Err(Error::Invalid(format!(
                "a silence has 1 to {MAX_MATCHERS} matchers, such as subject=s1"
            )));
        }
        if self.ends_at <= self.starts_at {
            return Err(Error::Invalid("a silence ends after it starts".to_owned()));
        }
        if self.author.trim().is_empty() || self.comment.trim().is_empty() {
            return Err(Error::Invalid(
                "a silence says who made it (author) and why (comment)".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Reads `name=value` matchers.
pub fn parse_matchers(texts: &[String]) -> Result<BTreeMap<String, String>> {
    texts
        .iter()
        .map(|text| {
            text.split_once('=')
                .filter(|(name, _)| !name.is_empty())
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .ok_or_else(|| Error::Invalid(format!("{text:?} is not a matcher: name=value")))
        })
        .collect()
}
