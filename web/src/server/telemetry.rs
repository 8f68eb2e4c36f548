//! What the web UI's server tells operators, in one place, in the manner of vector's internal
//! events: one small struct per thing that happens, whose `emit` writes its log line (and
//! would count its metrics, should it gain some). `tally serve` gives each request its span;
//! the session middleware records the signed-in tenant.

use std::fmt::Display;
use std::path::Path;

/// A file of the browser bundle cannot be read: pages are served without scripts.
pub(super) struct BundleFileUnreadable<'a> {
    /// The bundle's directory (`web.pkg_dir`).
    pub directory: &'a Path,
    /// The file's name.
    pub name: &'a str,
    /// Why.
    pub error: &'a std::io::Error,
}

impl BundleFileUnreadable<'_> {
    pub(super) fn emit(self) {
        tracing::warn!(
            error = %self.error,
            directory = %self.directory.display(),
            "cannot read {} of web.pkg_dir: pages are served without scripts",
            self.name
        );
    }
}

/// What the catalog could not do for a web session.
#[derive(Debug, Clone, Copy)]
pub(super) enum SessionStep {
    /// Check the key of a sign-in form.
    CheckKey,
    /// Start a session after a sign-in.
    Start,
    /// Resume the session of a request's cookie.
    Resume,
    /// End a session at sign-out.
    End,
}

/// The catalog failed a step of a web session; the browser is told to try again.
pub(super) struct SessionStoreFailed<'a> {
    /// What was being done.
    pub step: SessionStep,
    /// Why.
    pub error: &'a dyn Display,
}

impl SessionStoreFailed<'_> {
    pub(super) fn emit(self) {
        let error = self.error;
        match self.step {
            SessionStep::CheckKey => tracing::warn!(%error, "cannot check a key at sign-in"),
            SessionStep::Start => tracing::warn!(%error, "cannot start a web session"),
            SessionStep::Resume => tracing::warn!(%error, "cannot resume a web session"),
            SessionStep::End => tracing::warn!(%error, "cannot end a web session"),
        }
    }
}
