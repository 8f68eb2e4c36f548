//! Billing: the tenant's customers, plans with their versions, subscriptions and invoices, and
//! the mutations that manage them. Charges and invoice lines, with their explanations, are JSON
//! in the shapes of the README's Billing section.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally_billing::catalog::{customers, invoices, plans, stripe as stripe_store, subscriptions};
use tally_billing::customer::{self, CustomerSpec};
use tally_billing::invoice::{self, Line};
use tally_billing::plan::{self, Charge, VersionSpec};
use tally_billing::run::Run;
use tally_billing::subscription::{self, Anchor};
use tally_meter::ids::{InvoiceId, PlanKey, SubscriptionId};

use super::context::{actor, admin_access, converted, read_access, services};
use crate::cost::{CLICKHOUSE_QUERY, POSTGRES_QUERY};
use crate::error::ApiResult;

/// A customer of the tenant, whom billing invoices.
#[derive(SimpleObject, Debug, Clone)]
pub struct Customer {
    /// Stable id.
    pub id: ID,
    /// The tenant's own id for it.
    pub external_id: String,
    /// Its name, as invoices show it.
    pub name: String,
    /// Where invoices go.
    pub email: Option<String>,
    /// The ISO 4217 currency it is billed in.
    pub currency: String,
    /// The IANA time zone its billing periods follow.
    pub timezone: String,
    /// Tax added to its invoices, in percent.
    pub tax_percent: Option<Decimal>,
    /// The subjects whose usage is its usage.
    pub subjects: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<customer::Customer> for Customer {
    fn from(customer: customer::Customer) -> Self {
        Self {
            id: ID(customer.id.to_string()),
            external_id: customer.external_id,
            name: customer.name,
            email: customer.email,
            currency: customer.currency,
            timezone: customer.timezone,
            tax_percent: customer.tax_percent,
            subjects: customer.subjects,
            created_at: customer.created_at,
        }
    }
}

/// A price plan and its versions.
#[derive(SimpleObject, Debug, Clone)]
pub struct Plan {
    /// Stable id.
    pub id: ID,
    /// Unique key within the tenant.
    pub key: String,
    /// Its name, as invoices show it.
    pub name: String,
    /// Its versions, oldest first.
    pub versions: Vec<PlanVersion>,
}

/// A version of a plan: a draft until published, never changed after.
#[derive(SimpleObject, Debug, Clone)]
pub struct PlanVersion {
    /// Stable id.
    pub id: ID,
    /// Its number: 1, 2, …
    pub version: i32,
    /// The currency of every amount.
    pub currency: String,
    /// MONTH or YEAR.
    pub interval: String,
    /// The charges, as JSON.
    pub charges: Json<Vec<Charge>>,
    /// When it was published; null while a draft.
    pub published_at: Option<DateTime<Utc>>,
}

impl From<plan::PlanVersion> for PlanVersion {
    fn from(version: plan::PlanVersion) -> Self {
        Self {
            id: ID(version.id.to_string()),
            version: version.version,
            currency: version.spec.currency.to_string(),
            interval: version.spec.interval.to_string(),
            charges: Json(version.spec.charges),
            published_at: version.published_at,
        }
    }
}

/// A customer's subscription to a plan version.
#[derive(SimpleObject, Debug, Clone)]
pub struct Subscription {
    /// Stable id.
    pub id: ID,
    /// The customer billed.
    pub customer_id: ID,
    /// The plan version it pins.
    pub plan_version_id: ID,
    /// CALENDAR or ANNIVERSARY.
    pub anchor: String,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends, if it does.
    pub ends_at: Option<DateTime<Utc>>,
}

impl From<subscription::Subscription> for Subscription {
    fn from(subscription: subscription::Subscription) -> Self {
        Self {
            id: ID(subscription.id.to_string()),
            customer_id: ID(subscription.customer_id.to_string()),
            plan_version_id: ID(subscription.plan_version_id.to_string()),
            anchor: subscription.anchor.to_string(),
            starts_at: subscription.starts_at,
            ends_at: subscription.ends_at,
        }
    }
}

/// An invoice of one subscription and billing period.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Invoice {
    /// Stable id.
    pub id: ID,
    /// Its number once finalized, such as `ACME-000123`.
    pub number: Option<String>,
    /// DRAFT, FINALIZED, PAID or VOID.
    pub status: String,
    /// The customer billed.
    pub customer_id: ID,
    /// The subscription billed.
    pub subscription_id: ID,
    /// Whether it is the subscription's opening invoice, billing the first period's flat fees
    /// in advance.
    pub opening: bool,
    /// The start of the billing period whose usage it bills.
    pub period_start: DateTime<Utc>,
    /// Its end, exclusive.
    pub period_end: DateTime<Utc>,
    /// The currency.
    pub currency: String,
    /// The lines with their explanations, as JSON.
    pub lines: Json<Vec<Line>>,
    /// The sum of the lines.
    pub subtotal: Decimal,
    /// The tax rate in percent.
    pub tax_percent: Option<Decimal>,
    /// The tax on the subtotal.
    pub tax: Decimal,
    /// Subtotal plus tax.
    pub total: Decimal,
    /// Until when a draft is recomputed.
    pub grace_until: DateTime<Utc>,
    /// When it was finalized.
    pub finalized_at: Option<DateTime<Utc>>,
}

impl From<invoice::Invoice> for Invoice {
    fn from(invoice: invoice::Invoice) -> Self {
        Self {
            id: ID(invoice.id.to_string()),
            number: invoice.number,
            status: invoice.status.to_string(),
            customer_id: ID(invoice.customer_id.to_string()),
            subscription_id: ID(invoice.subscription_id.to_string()),
            opening: invoice.opening,
            period_start: invoice.period.start,
            period_end: invoice.period.end,
            currency: invoice.computed.currency.to_string(),
            lines: Json(invoice.computed.lines),
            subtotal: invoice.computed.subtotal,
            tax_percent: invoice.computed.tax_percent,
            tax: invoice.computed.tax,
            total: invoice.computed.total,
            grace_until: invoice.grace_until,
            finalized_at: invoice.finalized_at,
        }
    }
}

/// Where an invoice's push to Stripe is.
#[derive(SimpleObject, Debug, Clone)]
pub struct StripeSync {
    /// PENDING, SYNCED or FAILED (retried at `nextAttemptAt`).
    pub state: String,
    /// Attempts that failed so far.
    pub attempts: i32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due, unless synced.
    pub next_attempt_at: DateTime<Utc>,
    /// The Stripe invoice, once created.
    pub stripe_invoice_id: Option<String>,
    /// When Stripe finalized its copy.
    pub synced_at: Option<DateTime<Utc>>,
}

#[async_graphql::ComplexObject]
impl Invoice {
    /// Its push to Stripe, once it is finalized and Stripe is configured; null before.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn sync_state(&self, context: &Context<'_>) -> ApiResult<Option<StripeSync>> {
        let (tenant, catalog) = read_access(context)?;
        let found = stripe_store::find(catalog, tenant, parse_id(&self.id)?).await?;
        Ok(found.map(|sync| StripeSync {
            state: sync.state.to_string(),
            attempts: sync.attempts,
            last_error: sync.last_error,
            next_attempt_at: sync.next_attempt_at,
            stripe_invoice_id: sync.stripe_invoice_id,
            synced_at: sync.synced_at,
        }))
    }
}

/// What a subscription's next invoice holds so far: the current period's usage up to the end
/// of the current minute, the next period's flat fees, credits and late usage.
#[derive(SimpleObject, Debug, Clone)]
pub struct UpcomingInvoice {
    /// The subscription.
    pub subscription_id: ID,
    /// The start of the current period.
    pub period_start: DateTime<Utc>,
    /// How far its usage is counted: the end of the current minute.
    pub counted_until: DateTime<Utc>,
    /// The end of the current period, when the invoice will be drafted.
    pub period_end: DateTime<Utc>,
    /// The currency.
    pub currency: String,
    /// The lines with their explanations, as JSON.
    pub lines: Json<Vec<Line>>,
    /// The sum of the lines.
    pub subtotal: Decimal,
    /// The tax on the subtotal.
    pub tax: Decimal,
    /// Subtotal plus tax: the running total.
    pub total: Decimal,
}

/// What a new customer is to be.
#[derive(InputObject, Debug, Clone)]
pub struct CustomerInput {
    /// The tenant's own id for it, unique per tenant.
    pub external_id: String,
    /// Its name, as invoices show it.
    pub name: String,
    /// Where invoices go.
    pub email: Option<String>,
    /// The ISO 4217 currency it is billed in, such as EUR.
    pub currency: String,
    /// The IANA time zone its billing periods follow (UTC by default).
    pub timezone: Option<String>,
    /// Tax added to its invoices, in percent.
    pub tax_percent: Option<Decimal>,
    /// The subjects whose usage is its usage.
    #[graphql(default)]
    pub subjects: Vec<String>,
}

fn parse_id<T: std::str::FromStr<Err = tally_meter::Error>>(id: &ID) -> ApiResult<T> {
    Ok(id.parse()?)
}

fn plan_key(key: &str) -> ApiResult<PlanKey> {
    Ok(PlanKey::parse(key)?)
}

/// Queries of billing.
#[derive(Default)]
pub struct BillingQuery;

#[Object]
impl BillingQuery {
    /// The tenant's customers, by external id.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn customers(&self, context: &Context<'_>) -> ApiResult<Vec<Customer>> {
        let (tenant, catalog) = read_access(context)?;
        Ok(converted(customers::list(catalog, tenant).await?))
    }

    /// The tenant's plans, by key, with their versions.
    #[graphql(complexity = "2 * POSTGRES_QUERY + child_complexity")]
    async fn plans(&self, context: &Context<'_>) -> ApiResult<Vec<Plan>> {
        let (tenant, catalog) = read_access(context)?;
        let listed = plans::list(catalog, tenant).await?;
        Ok(listed
            .into_iter()
            .map(|(plan, versions)| Plan {
                id: ID(plan.id.to_string()),
                key: plan.key.to_string(),
                name: plan.name,
                versions: converted(versions),
            })
            .collect())
    }

    /// The tenant's subscriptions, of one customer or all, by start.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn subscriptions(
        &self,
        context: &Context<'_>,
        customer_id: Option<ID>,
    ) -> ApiResult<Vec<Subscription>> {
        let (tenant, catalog) = read_access(context)?;
        let customer = customer_id.as_ref().map(parse_id).transpose()?;
        Ok(converted(
            subscriptions::list(catalog, tenant, customer).await?,
        ))
    }

    /// The tenant's invoices, of one customer or all, newest period first.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn invoices(
        &self,
        context: &Context<'_>,
        customer_id: Option<ID>,
    ) -> ApiResult<Vec<Invoice>> {
        let (tenant, catalog) = read_access(context)?;
        let customer = customer_id.as_ref().map(parse_id).transpose()?;
        Ok(converted(invoices::list(catalog, tenant, customer).await?))
    }

    /// A customer's upcoming invoices, one per running subscription: the running totals of
    /// the current periods. Nothing is stored.
    #[graphql(complexity = "4 * POSTGRES_QUERY + 4 * CLICKHOUSE_QUERY + child_complexity")]
    async fn upcoming_invoice(
        &self,
        context: &Context<'_>,
        customer_id: ID,
    ) -> ApiResult<Vec<UpcomingInvoice>> {
        let (tenant, catalog) = read_access(context)?;
        let services = services(context);
        let customer = customers::find(catalog, tenant, parse_id(&customer_id)?).await?;
        let run = Run {
            catalog,
            analytics: &services.analytics,
            at: Utc::now(),
            grace: chrono::Duration::zero(),
            actor: actor(context)?,
            raw_retention_days: services.raw_retention_days,
        };
        let upcoming = run.upcoming(tenant, &customer).await?;
        Ok(upcoming
            .into_iter()
            .map(|(subscription, period, computed)| UpcomingInvoice {
                subscription_id: ID(subscription.id.to_string()),
                period_start: period.covered.start,
                counted_until: period.covered.end,
                period_end: period.full.end,
                currency: computed.currency.to_string(),
                lines: Json(computed.lines),
                subtotal: computed.subtotal,
                tax: computed.tax,
                total: computed.total,
            })
            .collect())
    }

    /// One of the tenant's invoices.
    #[graphql(complexity = "POSTGRES_QUERY + child_complexity")]
    async fn invoice(&self, context: &Context<'_>, id: ID) -> ApiResult<Invoice> {
        let (tenant, catalog) = read_access(context)?;
        let found = invoices::find(catalog, tenant, parse_id::<InvoiceId>(&id)?).await?;
        Ok(found.into())
    }
}

/// Mutations of billing.
#[derive(Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    /// Creates a customer.
    #[graphql(complexity = "4 * POSTGRES_QUERY + child_complexity")]
    async fn create_customer(
        &self,
        context: &Context<'_>,
        input: CustomerInput,
    ) -> ApiResult<Customer> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let spec = CustomerSpec::parse(
            &input.external_id,
            &input.name,
            input.email.as_deref(),
            &input.currency,
            input.timezone.as_deref(),
            input.tax_percent,
            &input.subjects,
        )?;
        let created = customers::create(catalog, tenant, &spec, actor).await?;
        Ok(created.into())
    }

    /// Creates a plan with its first version, a draft: `version` is its JSON (currency,
    /// interval, charges).
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn create_plan(
        &self,
        context: &Context<'_>,
        key: String,
        name: String,
        version: Json<VersionSpec>,
    ) -> ApiResult<PlanVersion> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let (_, draft) =
            plans::create(catalog, tenant, &plan_key(&key)?, &name, &version.0, actor).await?;
        Ok(draft.into())
    }

    /// Drafts a plan's next version, replacing a draft not yet published.
    #[graphql(complexity = "3 * POSTGRES_QUERY + child_complexity")]
    async fn draft_plan_version(
        &self,
        context: &Context<'_>,
        key: String,
        version: Json<VersionSpec>,
    ) -> ApiResult<PlanVersion> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let draft = plans::draft(catalog, tenant, &plan_key(&key)?, &version.0, actor).await?;
        Ok(draft.into())
    }

    /// Publishes a plan's draft: it never changes after.
    #[graphql(complexity = "4 * POSTGRES_QUERY + child_complexity")]
    async fn publish_plan(&self, context: &Context<'_>, key: String) -> ApiResult<PlanVersion> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let published = plans::publish(catalog, tenant, &plan_key(&key)?, actor).await?;
        Ok(published.into())
    }

    /// Subscribes a customer to a plan's version (the newest published one by default) from
    /// `startsAt` (now by default), with periods anchored on the CALENDAR (default) or the
    /// ANNIVERSARY of the start.
    #[graphql(complexity = "6 * POSTGRES_QUERY + child_complexity")]
    async fn create_subscription(
        &self,
        context: &Context<'_>,
        customer_id: ID,
        plan_key: String,
        version: Option<i32>,
        anchor: Option<String>,
        starts_at: Option<DateTime<Utc>>,
    ) -> ApiResult<Subscription> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let anchor: Anchor = anchor.as_deref().unwrap_or("CALENDAR").parse()?;
        let chosen =
            plans::chosen_version(catalog, tenant, &self::plan_key(&plan_key)?, version).await?;
        let created = subscriptions::create(
            catalog,
            tenant,
            parse_id(&customer_id)?,
            chosen.id,
            anchor,
            starts_at.unwrap_or_else(Utc::now),
            actor,
        )
        .await?;
        Ok(created.into())
    }

    /// Ends a subscription at `at` (now by default).
    #[graphql(complexity = "2 * POSTGRES_QUERY + child_complexity")]
    async fn cancel_subscription(
        &self,
        context: &Context<'_>,
        id: ID,
        at: Option<DateTime<Utc>>,
    ) -> ApiResult<Subscription> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let id = parse_id::<SubscriptionId>(&id)?;
        let cancelled =
            subscriptions::cancel(catalog, tenant, id, at.unwrap_or_else(Utc::now), actor).await?;
        Ok(cancelled.into())
    }

    /// Moves a subscription to another published plan version at `at` (now by default): it
    /// ends there and a new one with the same anchor starts. Returns both.
    #[graphql(complexity = "4 * POSTGRES_QUERY + child_complexity")]
    async fn change_subscription(
        &self,
        context: &Context<'_>,
        id: ID,
        plan_key: String,
        version: Option<i32>,
        at: Option<DateTime<Utc>>,
    ) -> ApiResult<Vec<Subscription>> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let chosen =
            plans::chosen_version(catalog, tenant, &self::plan_key(&plan_key)?, version).await?;
        let (ended, started) = subscriptions::change(
            catalog,
            tenant,
            parse_id(&id)?,
            chosen.id,
            at.unwrap_or_else(Utc::now),
            actor,
        )
        .await?;
        Ok(vec![ended.into(), started.into()])
    }

    /// Finalizes a draft now, before its grace period ends: it is numbered and frozen.
    #[graphql(complexity = "2 * POSTGRES_QUERY + child_complexity")]
    async fn finalize_invoice(&self, context: &Context<'_>, id: ID) -> ApiResult<Invoice> {
        let (tenant, catalog, actor) = admin_access(context)?;
        let finalized = invoices::finalize(catalog, tenant, parse_id(&id)?, actor).await?;
        Ok(finalized.into())
    }

    /// Marks a finalized invoice paid.
    #[graphql(complexity = "2 * POSTGRES_QUERY + child_complexity")]
    async fn pay_invoice(&self, context: &Context<'_>, id: ID) -> ApiResult<Invoice> {
        settle(context, &id, invoice::Status::Paid).await
    }

    /// Voids a finalized invoice; a credit note is issued for its total.
    #[graphql(complexity = "2 * POSTGRES_QUERY + child_complexity")]
    async fn void_invoice(&self, context: &Context<'_>, id: ID) -> ApiResult<Invoice> {
        settle(context, &id, invoice::Status::Void).await
    }
}

async fn settle(context: &Context<'_>, id: &ID, to: invoice::Status) -> ApiResult<Invoice> {
    let (tenant, catalog, actor) = admin_access(context)?;
    let settled = invoices::settle(catalog, tenant, parse_id(id)?, to, actor).await?;
    Ok(settled.into())
}
