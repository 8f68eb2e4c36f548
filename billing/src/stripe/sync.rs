//! Pushes finalized invoices to Stripe, one at a time, every `billing.stripe.sync_interval_secs`.
//!
//! For each invoice due, in this order, each call with its own idempotency key:
//! 1. the customer, once per Tally customer (`tally-customer-<customer>`), remembered in
//!    `stripe_customers`;
//! 2. a draft invoice for that customer that takes no pending items (`tally-<invoice>-invoice`),
//!    whose id is recorded at once;
//! 3. one invoice item per line, attached to that invoice (`tally-<invoice>-item-<n>`), and
//!    one for the tax if there is any (`tally-<invoice>-tax`);
//! 4. finalization of the Stripe invoice (`tally-<invoice>-finalize`), without collecting it.
//!
//! A process killed anywhere in between starts the invoice over at its next pass: every call
//! replays to the object made the first time. An attempt that fails is recorded with its
//! reason and retried later, backing off; invoices are finalized in Tally whatever happens
//! here. Amounts go in the currency's minor unit and are checked before the first call, so an
//! invoice with an amount Stripe cannot hold exactly is refused whole.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use stripe::{
    Client, CreateCustomer, CreateInvoice, CreateInvoiceItem, FinalizeInvoiceParams,
    InvoicePendingInvoiceItemsBehavior, RequestStrategy,
};
use tally_meter::catalog::Catalog;
use tally_meter::ids::{InvoiceId, TenantId};
use tally_meter::ticks::Ticks;
use tally_meter::{Error, Result};
use tokio_util::sync::CancellationToken;

use crate::catalog::{customers, invoices, stripe as store};
use crate::config::StripeConfig;
use crate::invoice::{Invoice, Status};
use crate::stripe::amount::to_minor_units;

/// Invoices pushed per pass at most; the rest wait for the next pass.
const BATCH: i64 = 100;
/// The first wait after a failed attempt, doubled after each further failure.
const BACKOFF_BASE_SECS: i64 = 10;

/// Why pushing an invoice failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Stripe refused a call or could not be reached.
    #[error("stripe: {0}")]
    Stripe(#[from] stripe::StripeError),
    /// Tally's side: the catalog, or an amount that does not fit.
    #[error(transparent)]
    Tally(#[from] Error),
}

/// The sync: Stripe's client and the catalog of invoices.
#[derive(Clone)]
pub struct Sync {
    catalog: Catalog,
    client: Client,
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Invoices pushed and finalized in Stripe.
    pub synced: u64,
    /// Invoices whose attempt failed.
    pub failed: u64,
}

impl Sync {
    /// A sync with the configured account, or `None` when no secret key is set.
    pub fn new(catalog: Catalog, config: &StripeConfig) -> Option<Self> {
        let secret_key = config.secret_key.as_ref()?;
        let base = format!("{}/", config.api_base.trim_end_matches('/'));
        Some(Self {
            catalog,
            client: Client::from_url(base.as_str(), secret_key.expose_secret()),
        })
    }

    /// Passes over the invoices due every `interval` until `shutdown` is cancelled.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        let mut ticks = Ticks::new(interval, &shutdown);
        while ticks.next().await {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = self.pass() => outcome,
            };
            match outcome {
                Ok(report) if report.synced + report.failed > 0 => tracing::info!(
                    synced = report.synced,
                    failed = report.failed,
                    "stripe sync pass done"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "stripe sync pass failed; retried later"),
            }
        }
    }

    /// Queues newly finalized invoices and pushes those due.
    pub async fn pass(&self) -> Result<PassReport> {
        store::enqueue_finalized(&self.catalog).await?;
        let mut report = PassReport::default();
        for (tenant, invoice) in store::due(&self.catalog, Utc::now(), BATCH).await? {
            match self.push(tenant, invoice).await {
                Ok(()) => {
                    store::mark_synced(&self.catalog, tenant, invoice).await?;
                    metrics::counter!("tally_billing_stripe_synced_total").increment(1);
                    report.synced += 1;
                }
                Err(error) => {
                    tracing::warn!(tenant_id = %tenant, invoice_id = %invoice, %error, "stripe sync of an invoice failed");
                    store::mark_failed(
                        &self.catalog,
                        tenant,
                        invoice,
                        &error.to_string(),
                        BACKOFF_BASE_SECS,
                    )
                    .await?;
                    metrics::counter!("tally_billing_stripe_failures_total").increment(1);
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// Pushes one invoice: customer, invoice, items, finalization.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, invoice_id = %id))]
    async fn push(&self, tenant: TenantId, id: InvoiceId) -> Result<(), PushError> {
        let invoice = invoices::find(&self.catalog, tenant, id).await?;
        if invoice.status == Status::Draft {
            return Err(Error::Invalid(format!("invoice {id} is a draft")).into());
        }
        let currency = invoice.computed.currency;
        let stripe_currency = stripe::Currency::from_str(&currency.code().to_ascii_lowercase())
            .map_err(|_| Error::Invalid(format!("Stripe does not take {}", currency.code())))?;
        let items = items(&invoice)?;
        let customer = self.customer(&invoice).await?;
        let previous = store::find(&self.catalog, tenant, id).await?;
        let stripe_invoice = match previous.and_then(|sync| sync.stripe_invoice_id) {
            Some(known) => parse_id::<stripe::InvoiceId>(&known)?,
            None => {
                let mut params = CreateInvoice::new();
                params.customer = Some(customer.clone());
                params.currency = Some(stripe_currency);
                params.auto_advance = Some(false);
                params.pending_invoice_items_behavior =
                    Some(InvoicePendingInvoiceItemsBehavior::Exclude);
                let description =
                    format!("Invoice {}", invoice.number.as_deref().unwrap_or_default());
                params.description = Some(&description);
                params.metadata = Some(metadata(&invoice, None));
                let created =
                    stripe::Invoice::create(&self.keyed(&invoice, "invoice"), params).await?;
                store::record_stripe_invoice(
                    &self.catalog,
                    tenant,
                    id,
                    customer.as_str(),
                    created.id.as_str(),
                )
                .await?;
                created.id
            }
        };
        for (step, description, amount) in &items {
            let mut params = CreateInvoiceItem::new(customer.clone());
            params.invoice = Some(stripe_invoice.clone());
            params.amount = Some(*amount);
            params.currency = Some(stripe_currency);
            params.description = Some(description);
            params.metadata = Some(metadata(&invoice, Some(step)));
            stripe::InvoiceItem::create(&self.keyed(&invoice, step), params).await?;
        }
        stripe::Invoice::finalize(
            &self.keyed(&invoice, "finalize"),
            &stripe_invoice,
            FinalizeInvoiceParams {
                auto_advance: Some(false),
            },
        )
        .await?;
        Ok(())
    }

    /// The Stripe customer of the invoice's customer, created the first time.
    async fn customer(&self, invoice: &Invoice) -> Result<stripe::CustomerId, PushError> {
        let tenant = invoice.tenant_id;
        if let Some(known) =
            store::stripe_customer(&self.catalog, tenant, invoice.customer_id).await?
        {
            return Ok(parse_id(&known)?);
        }
        let customer = customers::find(&self.catalog, tenant, invoice.customer_id).await?;
        let mut params = CreateCustomer::new();
        params.name = Some(&customer.name);
        params.email = customer.email.as_deref();
        params.metadata = Some(HashMap::from([
            ("tally_tenant_id".to_owned(), tenant.to_string()),
            ("tally_customer_id".to_owned(), customer.id.to_string()),
            ("tally_external_id".to_owned(), customer.external_id.clone()),
        ]));
        let key = format!("tally-customer-{}", customer.id);
        let client = self
            .client
            .clone()
            .with_strategy(RequestStrategy::Idempotent(key));
        let created = stripe::Customer::create(&client, params).await?;
        let kept =
            store::remember_customer(&self.catalog, tenant, customer.id, created.id.as_str())
                .await?;
        Ok(parse_id(&kept)?)
    }

    /// The client with the idempotency key of one step of an invoice's push.
    fn keyed(&self, invoice: &Invoice, step: &str) -> Client {
        let key = format!("tally-{}-{step}", invoice.id);
        self.client
            .clone()
            .with_strategy(RequestStrategy::Idempotent(key))
    }
}

/// The invoice items of an invoice: its step name, description and amount in minor units, one
/// per line and one for the tax if any. All amounts are converted before any is sent.
fn items(invoice: &Invoice) -> Result<Vec<(String, String, i64)>> {
    let currency = invoice.computed.currency;
    let mut items = Vec::new();
    for (number, line) in invoice.computed.lines.iter().enumerate() {
        items.push((
            format!("item-{number}"),
            line.description.clone(),
            to_minor_units(line.amount, currency)?,
        ));
    }
    if invoice.computed.tax != Decimal::ZERO {
        let rate = invoice
            .computed
            .tax_percent
            .map(|percent| format!(" ({percent} %)"))
            .unwrap_or_default();
        items.push((
            "tax".to_owned(),
            format!("Tax{rate}"),
            to_minor_units(invoice.computed.tax, currency)?,
        ));
    }
    Ok(items)
}

/// What ties a Stripe object to its Tally invoice.
fn metadata(invoice: &Invoice, step: Option<&str>) -> HashMap<String, String> {
    let mut metadata = HashMap::from([
        ("tally_tenant_id".to_owned(), invoice.tenant_id.to_string()),
        ("tally_invoice_id".to_owned(), invoice.id.to_string()),
        (
            "tally_invoice_number".to_owned(),
            invoice.number.clone().unwrap_or_default(),
        ),
    ]);
    if let Some(step) = step {
        metadata.insert("tally_step".to_owned(), step.to_owned());
    }
    metadata
}

fn parse_id<T: FromStr>(text: &str) -> Result<T> {
    text.parse()
        .map_err(|_| Error::Invalid(format!("{text:?} is not a Stripe id of the expected kind")))
}
