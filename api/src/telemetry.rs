//! What the API tells operators, in one place, in the manner of vector's internal events: one
//! small struct per thing that happens, whose `emit` writes its log line (the API counts no
//! metrics of its own yet; an event that gains one counts it here too). Handlers record their
//! tenant on their span with [`record_tenant`].

use std::fmt::Display;

use tally_meter::ids::TenantId;
use tracing::Span;

/// Records the tenant on the current handler's span (declared with `tenant = Empty`), once
/// the request's credentials named it.
pub fn record_tenant(tenant: TenantId) {
    Span::current().record("tenant", tracing::field::display(tenant));
}

/// A store failed while serving a request; the client gets UNAVAILABLE.
pub(crate) struct StoreFailed<'a> {
    /// Why.
    pub error: &'a dyn Display,
}

impl StoreFailed<'_> {
    pub(crate) fn emit(self) {
        tracing::error!(error = %self.error, "a store failed while serving the api");
    }
}

/// Something that should not happen did; the client gets INTERNAL.
pub(crate) struct UnexpectedError<'a> {
    /// What.
    pub error: &'a dyn Display,
}

impl UnexpectedError<'_> {
    pub(crate) fn emit(self) {
        tracing::error!(error = %self.error, "unexpected error while serving the api");
    }
}

/// A request's field semaphore was closed, which its owner never does; the client gets
/// INTERNAL.
pub(crate) struct FieldSemaphoreClosed;

impl FieldSemaphoreClosed {
    pub(crate) fn emit(self) {
        tracing::error!("the request's field semaphore was closed");
    }
}

/// A platform key's access to a tenant could not be written to the audit log; the request
/// goes on.
pub(crate) struct PlatformAccessNotAudited<'a> {
    /// Why.
    pub error: &'a dyn Display,
}

impl PlatformAccessNotAudited<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(error = %self.error, "cannot record a platform key's access in the audit log");
    }
}
