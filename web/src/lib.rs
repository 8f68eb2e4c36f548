//! Tally's web UI: a Leptos app, server-side rendered through leptos_axum and served by
//! `tally serve --roles api`, in which a tenant browses its last hour, meters, quarantine,
//! quota and API keys.
//!
//! Every page renders on the server once its data is in (`SsrMode::Async`), and every change
//! is a plain HTML form post answered with a redirect and a one-time message, so the UI works
//! without scripts. With the browser bundle (the `hydrate` feature on wasm32, see
//! `scripts/web.sh`) the pages hydrate, navigate in place and refresh the overview live. Pages load their data through server functions that run the API's own
//! GraphQL as the signed-in key ([`data`]); the UI can therefore do exactly what that key may
//! do, on its tenant only. Sign-in trades a read or admin key for a session cookie
//! (HttpOnly, SameSite=Strict, Secure behind TLS), which lives no longer than its key.

pub mod app;
pub mod chart;
pub mod data;
pub mod layout;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
mod server;

#[cfg(feature = "ssr")]
pub use server::{WebConfig, router};

/// The browser's entry point: takes over the server-rendered page.
#[cfg(feature = "hydrate")]
#[allow(
    unsafe_code,
    reason = "wasm-bindgen generates the glue around the export"
)]
mod client {
    /// Hydrates the page's body with the app; called by the bundle's loader. Marks the
    /// document `data-hydrated` once done, for people and tests to tell.
    #[wasm_bindgen::prelude::wasm_bindgen]
    pub fn hydrate() {
        leptos::mount::hydrate_body(crate::app::App);
        if let Some(root) = leptos::prelude::document().document_element() {
            let _ = root.set_attribute("data-hydrated", "");
        }
    }
}
