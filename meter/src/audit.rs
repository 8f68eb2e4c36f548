//! The audit log: who changed what of a tenant's, when, and the value before and after; who
//! signed in to the web UI and out again; where an operator's platform key acted on a tenant;
//! and, aggregated per client address, the authentications that failed. Changes are recorded in
//! the transaction of the change itself, so neither exists without the other; the SQL is in
//! [`crate::catalog::audit`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::ids::{ApiKeyId, TenantId};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// An operator with access to the catalog, through the `tally` command line.
    Operator,
    /// A caller of the API or the web UI, by the tenant key it used.
    Key(ApiKeyId),
    /// An operator's platform key acting on a tenant it named: flagged apart from the
    /// tenant's own keys.
    Platform(ApiKeyId),
}

impl Actor {
    /// Whether the actor stands for the operator (the command line or a platform key), who
    /// may grant what a tenant's own keys may not.
    pub fn is_operator(self) -> bool {
        matches!(self, Self::Operator | Self::Platform(_))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Operator => f.write_str("operator"),
            Self::Key(key) => write!(f, "key:{key}"),
            Self::Platform(key) => write!(f, "platform:{key}"),
        }
    }
}

/// What happened, stored by the name in its `strum` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum Action {
    /// The tenant's limits were set.
    #[strum(serialize = "quota.set")]
    QuotaSet,
    /// An API key was created.
    #[strum(serialize = "key.created")]
    KeyCreated,
    /// An API key was revoked.
    #[strum(serialize = "key.revoked")]
    KeyRevoked,
    /// A meter was created.
    #[strum(serialize = "meter.created")]
    MeterCreated,
    /// A meter was deleted.
    #[strum(serialize = "meter.deleted")]
    MeterDeleted,
    /// An event type was registered.
    #[strum(serialize = "event_type.registered")]
    EventTypeRegistered,
    /// An event type was unregistered.
    #[strum(serialize = "event_type.unregistered")]
    EventTypeUnregistered,
    /// The tenant was suspended.
    #[strum(serialize = "tenant.suspended")]
    TenantSuspended,
    /// The tenant was activated again.
    #[strum(serialize = "tenant.activated")]
    TenantActivated,
    /// Someone signed in to the web UI.
    #[strum(serialize = "session.signed_in")]
    SignedIn,
    /// Someone signed out of the web UI.
    #[strum(serialize = "session.signed_out")]
    SignedOut,
    /// A customer was created.
    #[strum(serialize = "customer.created")]
    CustomerCreated,
    /// A price plan was created, with its first version as a draft.
    #[strum(serialize = "plan.created")]
    PlanCreated,
    /// A plan's next version was drafted.
    #[strum(serialize = "plan.drafted")]
    PlanDrafted,
    /// A plan's draft was published.
    #[strum(serialize = "plan.published")]
    PlanPublished,
    /// A customer was subscribed to a plan version.
    #[strum(serialize = "subscription.created")]
    SubscriptionCreated,
    /// A subscription was given an end.
    #[strum(serialize = "subscription.cancelled")]
    SubscriptionCancelled,
    /// An invoice was finalized and numbered.
    #[strum(serialize = "invoice.finalized")]
    InvoiceFinalized,
    /// An invoice was marked paid or void.
    #[strum(serialize = "invoice.settled")]
    InvoiceSettled,
    /// An SLO was created or changed.
    #[strum(serialize = "slo.applied")]
    SloApplied,
    /// An SLO was deleted.
    #[strum(serialize = "slo.deleted")]
    SloDeleted,
    /// An alert rule was created.
    #[strum(serialize = "alert_rule.created")]
    AlertRuleCreated,
    /// An alert rule was deleted, with its alerts.
    #[strum(serialize = "alert_rule.deleted")]
    AlertRuleDeleted,
    /// An alert receiver was created or replaced.
    #[strum(serialize = "alert_receiver.set")]
    AlertReceiverSet,
    /// An alert receiver was deleted.
    #[strum(serialize = "alert_receiver.deleted")]
    AlertReceiverDeleted,
    /// The alert routing tree was set.
    #[strum(serialize = "alert_routing.set")]
    AlertRoutingSet,
    /// A silence was created.
    #[strum(serialize = "silence.created")]
    SilenceCreated,
    /// A silence was ended early.
    #[strum(serialize = "silence.expired")]
    SilenceExpired,
    /// An operator's platform key acted on the tenant (recorded at most once a minute per key).
    #[strum(serialize = "platform.access")]
    PlatformAccess,
    /// Requests with a missing, malformed, unknown or revoked key, counted per client address.
    #[strum(serialize = "auth.failed")]
    AuthenticationFailed,
}

impl Action {
    /// Returns the stored name, such as `quota.set`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A change to a tenant's catalog as its audit entry tells it: what was done, and the value
/// before and after, where there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What was done.
    pub action: Action,
    /// The value before.
    pub old_value: Option<Value>,
    /// The value after.
    pub new_value: Option<Value>,
}

impl Change {
    /// A change with nothing to show but its action, such as a tenant's suspension.
    pub fn bare(action: Action) -> Self {
        Change {
            action,
            old_value: None,
            new_value: None,
        }
    }

    /// A change that made `new`: created it, or set it.
    pub fn made(action: Action, new: &impl Serialize) -> Self {
        Change::replaced(action, None::<&()>, new)
    }

    /// A change that removed `old`.
    pub fn removed(action: Action, old: &impl Serialize) -> Self {
        Change {
            old_value: serde_json::to_value(old).ok(),
            ..Change::bare(action)
        }
    }

    /// A change from `old`, where there was one, to `new`.
    pub fn replaced(action: Action, old: Option<&impl Serialize>, new: &impl Serialize) -> Self {
        Change {
            action,
            old_value: old.and_then(|old| serde_json::to_value(old).ok()),
            new_value: serde_json::to_value(new).ok(),
        }
    }
}

/// One recorded entry.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Order of recording.
    pub id: i64,
    /// The tenant concerned; `None` for failed authentications with keys of no tenant.
    pub tenant_id: Option<TenantId>,
    /// Who: `operator`, `key:<id>`, `platform:<id>`, or `anonymous` for failed
    /// authentications.
    pub actor: String,
    /// What, such as `quota.set`.
    pub action: String,
    /// The value before, if there was one.
    pub old_value: Option<Value>,
    /// The value after, or the details (such as a failure count).
    pub new_value: Option<Value>,
    /// The client's address, where known.
    pub client: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}
