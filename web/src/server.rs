//! The web UI's server side: the axum router around the Leptos app. Its parts, one file each:
//! the settings ([`config`]), the shared state ([`state`]), the stylesheet and browser bundle
//! ([`assets`]), the cookies ([`cookies`]), the session middleware with its form-token check
//! ([`session`]), sign-in and sign-out ([`sign_in`]), the bridge that runs the pages' GraphQL as
//! the signed-in key ([`bridge`]), the plain HTML form posts that change things, answered
//! with a redirect and a one-time message ([`forms`]), and the invoice downloads
//! ([`downloads`]); what it logs is in [`telemetry`].

mod assets;
pub(crate) mod bridge;
mod config;
mod cookies;
mod downloads;
mod forms;
mod session;
mod sign_in;
mod state;
mod telemetry;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tally_api::Api;
use tally_meter::catalog::Catalog;

pub use config::WebConfig;

use assets::{Bundle, OUTPUT_NAME, bundle_file, not_found, stylesheet};
use forms::{alerts, keys, meters, quota};
use session::session;
use sign_in::{sign_in, sign_out};
use state::Web;

use crate::app::{App, shell};

/// Returns the UI's routes: the pages, their server functions, the form posts, the stylesheet
/// and the browser bundle; all but sign-in and the static files need a session.
pub fn router(api: &Api, catalog: Catalog, config: WebConfig) -> Router {
    let options = LeptosOptions::builder().output_name(OUTPUT_NAME).build();
    let bundle = config
        .pkg_dir
        .as_deref()
        .filter(|directory| !directory.as_os_str().is_empty())
        .and_then(Bundle::read)
        .map(Arc::new);
    let hydrate = bundle.is_some();
    let web = Web {
        options: options.clone(),
        api: api.clone(),
        catalog,
        config: Arc::new(config),
        bundle,
    };
    let pages = generate_route_list(App);
    let routes = Router::new()
        .leptos_routes(&web, pages, move || shell(options.clone(), hydrate))
        .route("/pkg/{file}", get(bundle_file))
        .route("/login", post(sign_in))
        .route("/logout", post(sign_out))
        .route("/meters", post(meters::create_meter))
        .route("/meters/{key}/delete", post(meters::delete_meter))
        .route("/keys", post(keys::create_key))
        .route("/keys/{id}/revoke", post(keys::revoke_key))
        .route("/quota", post(quota::set_quota))
        .route("/alerts/rules", post(alerts::create_rule))
        .route("/alerts/rules/{name}/delete", post(alerts::delete_rule))
        .route("/alerts/receivers", post(alerts::set_receiver))
        .route("/alerts/routing", post(alerts::set_routing))
        .route("/alerts/silences", post(alerts::create_silence))
        .route("/alerts/silences/{id}/expire", post(alerts::expire_silence))
        .route("/exports/invoices/{file}", get(downloads::invoice_file))
        .route("/assets/tally.css", get(stylesheet))
        .route_layer(middleware::from_fn_with_state(web.clone(), session))
        .fallback(not_found);
    routes.with_state(web)
}
