//! The Stripe sync: finalized invoices pushed to the operator's Stripe account, each as a
//! customer (created once per Tally customer), an invoice, one invoice item per line (and one
//! for the tax), then finalized there ([`sync`]); amounts in the currency's minor unit, exactly
//! ([`amount`]); and the signatures of Stripe's webhook events ([`signature`]).
//!
//! Every call carries an `Idempotency-Key` named after the Tally invoice and the step
//! (`tally-<invoice>-item-<n>`), so a process killed between two calls and retried never makes
//! a second object: Stripe answers a replayed key with the response it gave the first time.
//! The state of each invoice's sync is kept in `invoice_stripe_sync` ([`SyncState`]).

pub mod amount;
pub mod signature;
pub mod sync;

use chrono::{DateTime, Utc};
use serde::Serialize;
use strum::{EnumString, IntoStaticStr};
use tally_meter::Error;

/// Where an invoice's push to Stripe is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, EnumString, IntoStaticStr,
)]
#[strum(
    serialize_all = "SCREAMING_SNAKE_CASE",
    parse_err_ty = Error,
    parse_err_fn = invalid_sync_state
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncState {
    /// Waiting for its first attempt, or for one in flight.
    Pending,
    /// Stripe holds the invoice, finalized.
    Synced,
    /// The last attempt failed; another follows at `next_attempt_at`.
    Failed,
}

fn invalid_sync_state(text: &str) -> Error {
    Error::Invalid(format!(
        "a sync state is PENDING, SYNCED or FAILED, not {text:?}"
    ))
}

/// An invoice's sync with Stripe, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceSync {
    /// Where it is.
    pub state: SyncState,
    /// Attempts that failed so far.
    pub attempts: i32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due, unless synced.
    pub next_attempt_at: DateTime<Utc>,
    /// The Stripe customer billed.
    pub stripe_customer_id: Option<String>,
    /// The Stripe invoice, once created.
    pub stripe_invoice_id: Option<String>,
    /// When Stripe finalized its copy.
    pub synced_at: Option<DateTime<Utc>>,
}
