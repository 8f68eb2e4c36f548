//! The web UI's state, shared by its handlers: the Leptos options, the API whose GraphQL the
//! pages run, the catalog that keeps sessions, the settings and the browser bundle.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tally_api::Api;
use tally_meter::catalog::Catalog;

use super::assets::Bundle;
use super::config::WebConfig;

/// The web UI's state.
#[derive(Clone)]
pub(super) struct Web {
    pub(super) options: LeptosOptions,
    pub(super) api: Api,
    pub(super) catalog: Catalog,
    pub(super) config: Arc<WebConfig>,
    pub(super) bundle: Option<Arc<Bundle>>,
}

impl FromRef<Web> for LeptosOptions {
    fn from_ref(web: &Web) -> Self {
        web.options.clone()
    }
}

impl FromRef<Web> for Option<Arc<Bundle>> {
    fn from_ref(web: &Web) -> Self {
        web.bundle.clone()
    }
}
