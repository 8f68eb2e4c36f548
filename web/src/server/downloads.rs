//! The invoice downloads of the invoice page, `GET /exports/invoices/{ID}.{pdf,csv,json}`: the
//! API's own exports (`tally_api::invoice_export`), served to the session's key instead of a
//! key in an `Authorization` header, which a browser's link cannot send.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use tally_api::auth::Caller;
use tally_api::invoice_export::invoice_file_of;

use super::assets::not_found;
use super::state::Web;

/// Serves one of the tenant's invoices as a PDF, CSV or JSON download; an invoice of another
/// tenant, or none, is the UI's page for unknown addresses (404).
pub(super) async fn invoice_file(
    State(web): State<Web>,
    parts: Parts,
    Path(file): Path<String>,
) -> Response {
    let Some(caller) = parts.extensions.get::<Caller>().copied() else {
        return Redirect::to("/login").into_response();
    };
    let response = invoice_file_of(&web.api, &caller, &file).await;
    if matches!(
        response.status(),
        StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST
    ) {
        return not_found().await;
    }
    response
}
