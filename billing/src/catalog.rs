//! Billing's SQL, per table family, on the domain core's [`Catalog`](tally_meter::catalog::Catalog):
//! customers and their subjects, plans and their versions, subscriptions. Each function takes
//! any executor, so one serves both a pool and a transaction; the tenant binds every row.

pub mod customers;
pub mod invoices;
pub mod plans;
pub mod platform;
pub mod stripe;
pub mod subscriptions;

use tally_meter::Error;

/// Maps a unique violation to [`Error::Conflict`] with `message`, and anything else to a
/// database error.
fn conflict_on_unique(message: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> Error {
    move |error| match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            Error::Conflict(message())
        }
        _ => Error::Postgres(error),
    }
}
