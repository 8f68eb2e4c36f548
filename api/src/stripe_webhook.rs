//! `POST /v1/stripe/webhook`: events from the operator's Stripe account. Each is checked
//! against its `Stripe-Signature` (see [`tally_billing::stripe::signature`]) before anything is
//! read from it; unsigned, wrongly signed and stale events are refused with 400 and the reason.
//! `invoice.paid` marks the Tally invoice that the Stripe invoice is the copy of paid (its
//! tenant is the one of that invoice's sync); a redelivery of an event already applied, an
//! event of another type and an invoice Tally did not push are acknowledged and change nothing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tally_billing::catalog::{invoices, stripe as sync_store};
use tally_billing::invoice::Status;
use tally_billing::stripe::signature;
use tally_meter::audit::Actor;
use tally_meter::catalog::Catalog;

use crate::error::{ApiError, ErrorCode};
use crate::error_response;

/// What the webhook needs: the catalog and the endpoint's signing secret.
#[derive(Clone)]
struct Webhook {
    catalog: Catalog,
    secret: Option<SecretString>,
}

/// The route of Stripe's webhook; without a secret it refuses every event.
pub fn router(catalog: Catalog, secret: Option<SecretString>) -> Router {
    Router::new()
        .route("/v1/stripe/webhook", post(receive))
        .with_state(Webhook { catalog, secret })
}

/// The parts of an event the webhook reads.
#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: EventObject,
}

#[derive(Deserialize)]
struct EventObject {
    id: String,
}

#[tracing::instrument(skip_all)]
async fn receive(State(webhook): State<Webhook>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &webhook.secret else {
        return refused("no webhook secret is configured (billing.stripe.webhook_secret)");
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    if let Err(error) = signature::verify(header, &body, secret.expose_secret(), now) {
        tracing::warn!(%error, "stripe webhook event refused");
        return refused(&error.to_string());
    }
    let event: Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(error) => return refused(&format!("the event is not a Stripe event: {error}")),
    };
    if event.kind != "invoice.paid" {
        return StatusCode::OK.into_response();
    }
    match mark_paid(&webhook.catalog, &event.data.object.id).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => {
            tracing::warn!(event_id = %event.id, "stripe webhook event not applied");
            error_response(&error)
        }
    }
}

/// Marks the Tally invoice of a Stripe invoice paid, unless it is paid already.
async fn mark_paid(catalog: &Catalog, stripe_invoice: &str) -> Result<(), ApiError> {
    let Some((tenant, invoice)) = sync_store::by_stripe_invoice(catalog, stripe_invoice).await?
    else {
        tracing::info!(
            stripe_invoice,
            "invoice.paid for an invoice Tally did not push"
        );
        return Ok(());
    };
    let current = invoices::find(catalog, tenant, invoice).await?;
    if current.status == Status::Paid {
        return Ok(());
    }
    invoices::settle(catalog, tenant, invoice, Status::Paid, Actor::Operator).await?;
    tracing::info!(tenant_id = %tenant, invoice_id = %invoice, "invoice paid in stripe");
    Ok(())
}

fn refused(message: &str) -> Response {
    error_response(&ApiError::new(ErrorCode::BadRequest, message))
}
