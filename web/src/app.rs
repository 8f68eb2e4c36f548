//! The app: the HTML shell and the routes, one per page.

use leptos::hydration::HydrationScripts;
use leptos::prelude::*;
use leptos_meta::{MetaTags, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::layout::{provide_hydrated, provide_session_form_token};
use crate::pages::{
    alerts, customers, invoice, invoices, keys, login, meter, meters, overview, plans, quarantine,
    quota, slo, slos,
};

/// The document around the app, with the scripts that hydrate it when the bundle is there.
pub fn shell(options: LeptosOptions, hydrate: bool) -> impl IntoView {
    provide_hydrated(hydrate);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="stylesheet" href="/assets/tally.css" />
                {hydrate.then(|| view! { <HydrationScripts options=options /> })}
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The app's routes. Every page renders on the server once its data is in, so it works
/// without scripts.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_session_form_token();
    view! {
        <Router>
            <Routes fallback=|| "Page not found.">
                <Route path=path!("/login") view=login::Login ssr=SsrMode::Async />
                <Route path=path!("/") view=overview::Overview ssr=SsrMode::Async />
                <Route path=path!("/meters") view=meters::Meters ssr=SsrMode::Async />
                <Route path=path!("/meters/:key") view=meter::MeterPage ssr=SsrMode::Async />
                <Route path=path!("/quarantine") view=quarantine::Quarantine ssr=SsrMode::Async />
                <Route path=path!("/quota") view=quota::QuotaPage ssr=SsrMode::Async />
                <Route path=path!("/alerts") view=alerts::Alerts ssr=SsrMode::Async />
                <Route path=path!("/slos") view=slos::Slos ssr=SsrMode::Async />
                <Route path=path!("/slos/:name") view=slo::SloPage ssr=SsrMode::Async />
                <Route path=path!("/invoices") view=invoices::Invoices ssr=SsrMode::Async />
                <Route path=path!("/invoices/:id") view=invoice::InvoicePage ssr=SsrMode::Async />
                <Route path=path!("/customers") view=customers::Customers ssr=SsrMode::Async />
                <Route path=path!("/plans") view=plans::Plans ssr=SsrMode::Async />
                <Route path=path!("/keys") view=keys::Keys ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
