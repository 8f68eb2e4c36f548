//! Tally's web UI: the Leptos app, server-side rendered through leptos_axum, in which tenants
//! browse last-hour dashboards, meters, quarantine, quotas and keys.
//!
//! Nothing lives here yet.
