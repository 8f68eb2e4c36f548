//! Subscriptions: a customer on a published plan version from a start, until an end or a
//! cancellation, with periods anchored on the calendar or on the start.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tally_meter::ids::{CustomerId, PlanVersionId, SubscriptionId, TenantId};

named_enum! {
    invalid = "an anchor is CALENDAR or ANNIVERSARY";
    /// Where billing periods start.
    pub enum Anchor {
        /// On the first of the month (or year), in the customer's time zone; the first period is
        /// the part from the start.
        Calendar,
        /// On the day of the month (or year) the subscription started.
        Anniversary,
    }
}

/// A subscription, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id.
    pub id: SubscriptionId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The customer billed.
    pub customer_id: CustomerId,
    /// The plan version it pins.
    pub plan_version_id: PlanVersionId,
    /// Where its periods start.
    pub anchor: Anchor,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends, if it does (set by cancelling it).
    pub ends_at: Option<DateTime<Utc>>,
}
