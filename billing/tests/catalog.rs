//! Billing's catalog against the real PostgreSQL: customers own subjects, plan versions are
//! immutable once published, subscriptions pin published versions, invoices are numbered
//! without gaps and frozen once finalized, and no tenant reaches another's rows. Every test has its own namespace (`tally-testkit`).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use tally_billing::catalog::{customers, invoices, plans, subscriptions};
use tally_billing::customer::{Customer, CustomerSpec};
use tally_billing::invoice::{Computed, Status};
use tally_billing::period::Period;
use tally_billing::plan::{Charge, Interval, Plan, PlanVersion, VersionSpec};
use tally_billing::price::{PriceModel, Pricing, UsagePrice};
use tally_billing::run::Run;
use tally_billing::subscription::{Anchor, Subscription};
use tally_meter::Error;
use tally_meter::analytics::Analytics;
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::caps::Caps;
use tally_meter::catalog::{Catalog, audit, meters};
use tally_meter::ids::{CustomerId, MeterKey, PlanKey, PlanVersionId, TenantId};
use tally_meter::meter::{Aggregation, JsonPath, MeterSpec};
use tally_testkit::{Namespace, store};

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

fn customer(external_id: &str, currency: &str, subjects: &[&str]) -> CustomerSpec {
    let subjects: Vec<String> = subjects
        .iter()
        .map(|subject| (*subject).to_owned())
        .collect();
    CustomerSpec::parse(
        external_id,
        "Acme Inc.",
        Some("billing@acme.example"),
        currency,
        Some("Europe/Berlin"),
        Some("19".parse().expect("a decimal")),
        &subjects,
    )
    .expect("a valid customer")
}

fn tokens_plan(unit_price: &str) -> VersionSpec {
    VersionSpec {
        currency: "EUR".parse().expect("EUR"),
        interval: Interval::Month,
        charges: vec![
            Charge::Flat {
                name: "Platform fee".to_owned(),
                amount: "49".parse().expect("a decimal"),
            },
            Charge::Usage {
                name: "Tokens".to_owned(),
                meter: MeterKey::parse("tokens").expect("a key"),
                price: UsagePrice {
                    allowance: "1000".parse().expect("a decimal"),
                    pricing: Pricing::Single {
                        model: PriceModel::Unit {
                            unit_price: unit_price.parse().expect("a decimal"),
                        },
                    },
                    minimum: None,
                },
            },
        ],
    }
}

async fn tenant_with_tokens_meter(catalog: &Catalog) -> TenantId {
    let (tenant, _) = store::tenant_with_key(catalog, Scope::Admin).await;
    let spec = MeterSpec {
        key: MeterKey::parse("tokens").expect("a key"),
        event_type: "llm.call".to_owned(),
        value_path: Some(JsonPath::parse("$.tokens").expect("a path")),
        aggregation: Aggregation::Sum,
        group_by: BTreeMap::new(),
        allowed_lateness_secs: 3600,
    };
    meters::create(catalog, tenant, &spec, Actor::Operator, &Caps::default())
        .await
        .expect("creates the meter");
    tenant
}

/// Creates the tenant's customer of [`customer`], as the operator.
async fn create_customer(
    catalog: &Catalog,
    tenant: TenantId,
    external_id: &str,
    currency: &str,
    subjects: &[&str],
) -> Customer {
    customers::create(
        catalog,
        tenant,
        &customer(external_id, currency, subjects),
        Actor::Operator,
    )
    .await
    .expect("creates the customer")
}

/// The tokens plan `pro` at `unit_price`, created for the tenant with its first version a draft.
async fn draft_plan(catalog: &Catalog, tenant: TenantId, unit_price: &str) -> (Plan, PlanVersion) {
    let key = PlanKey::parse("pro").expect("a key");
    plans::create(
        catalog,
        tenant,
        &key,
        "Pro",
        &tokens_plan(unit_price),
        Actor::Operator,
    )
    .await
    .expect("creates the plan")
}

/// Subscribes the customer to the plan version from `start`, with calendar periods, as the
/// operator.
async fn subscribe(
    catalog: &Catalog,
    tenant: TenantId,
    customer: CustomerId,
    version: PlanVersionId,
    start: DateTime<Utc>,
) -> Result<Subscription, Error> {
    subscriptions::create(
        catalog,
        tenant,
        customer,
        version,
        Anchor::Calendar,
        start,
        Actor::Operator,
    )
    .await
}

#[tokio::test]
async fn customers_own_their_subjects_and_stay_with_their_tenant() {
    let env = Namespace::migrated().await;
    let catalog = env.catalog().await;
    let (acme, _) = store::tenant_with_key(&catalog, Scope::Admin).await;
    let (other, _) = store::tenant_with_key(&catalog, Scope::Admin).await;

    let created = create_customer(&catalog, acme, "crm-1", "eur", &["b", "a", "a"]).await;
    assert_eq!(created.subjects, ["a", "b"]);
    assert_eq!(
        (created.currency.as_str(), created.timezone.as_str()),
        ("EUR", "Europe/Berlin")
    );
    assert_eq!(created.tax_percent, Some("19".parse().expect("a decimal")));
    assert_eq!(
        customers::find_external(&catalog, acme, "crm-1")
            .await
            .expect("found"),
        created
    );

    for (tenant, spec, message) in [
        (
            acme,
            customer("crm-1", "EUR", &[]),
            "this tenant already has a customer crm-1",
        ),
        (
            acme,
            customer("crm-2", "EUR", &["c", "b"]),
            "subject \"b\" already belongs to customer crm-1",
        ),
    ] {
        let refused = customers::create(&catalog, tenant, &spec, Actor::Operator).await;
        assert!(
            matches!(&refused, Err(Error::Conflict(found)) if found == message),
            "{refused:?}"
        );
    }
    // Another tenant may use the same external id and subjects, and never sees acme's.
    create_customer(&catalog, other, "crm-1", "USD", &["a"]).await;
    let found = customers::find(&catalog, other, created.id).await;
    assert!(matches!(found, Err(Error::NotFound(_))), "{found:?}");
    let listed = customers::list(&catalog, other).await.expect("lists");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].currency, "USD");
}

#[tokio::test]
async fn published_versions_never_change_and_subscriptions_pin_them() {
    let env = Namespace::migrated().await;
    let catalog = env.catalog().await;
    let tenant = tenant_with_tokens_meter(&catalog).await;
    let key = PlanKey::parse("pro").expect("a key");
    let (plan, draft) = draft_plan(&catalog, tenant, "0.00002").await;
    assert_eq!((draft.version, draft.published_at), (1, None));
    let buyer = create_customer(&catalog, tenant, "crm-1", "EUR", &["device-1"]).await;
    let start = utc("2026-11-01T00:00:00Z");

    // A draft cannot be subscribed to; once published, it can, and it no longer changes.
    let refused = subscribe(&catalog, tenant, buyer.id, draft.id, start).await;
    assert!(
        matches!(&refused, Err(Error::Conflict(message)) if message.contains("is a draft")),
        "{refused:?}"
    );
    let v1 = plans::publish(&catalog, tenant, &key, Actor::Operator)
        .await
        .expect("publishes");
    assert!(v1.published_at.is_some());
    let subscription = subscribe(&catalog, tenant, buyer.id, v1.id, start)
        .await
        .expect("subscribes");
    let changed = sqlx::query("UPDATE plan_versions SET charges = '[]' WHERE id = $1")
        .bind(v1.id)
        .execute(catalog.pool())
        .await;
    assert!(
        changed.is_err_and(|error| error.to_string().contains("is published and cannot change")),
        "the database refuses to change a published version"
    );

    // A new price is a new version; the subscription keeps the old one.
    let v2 = plans::draft(
        &catalog,
        tenant,
        &key,
        &tokens_plan("0.00001"),
        Actor::Operator,
    )
    .await
    .expect("drafts");
    assert_eq!(v2.version, 2);
    let v2 = plans::publish(&catalog, tenant, &key, Actor::Operator)
        .await
        .expect("publishes");
    let (found, versions) = plans::find(&catalog, tenant, &key).await.expect("found");
    assert_eq!((found.id, versions.len()), (plan.id, 2));
    assert_eq!(versions[0], v1);
    let listed = subscriptions::list(&catalog, tenant, Some(buyer.id))
        .await
        .expect("lists");
    assert_eq!(listed, vec![subscription.clone()]);

    // The same plan twice at once is refused; after a cancellation the next version may follow.
    let overlapping = subscribe(&catalog, tenant, buyer.id, v2.id, start).await;
    assert!(
        matches!(&overlapping, Err(Error::Conflict(_))),
        "{overlapping:?}"
    );
    let switch = utc("2026-11-15T00:00:00Z");
    let cancelled =
        subscriptions::cancel(&catalog, tenant, subscription.id, switch, Actor::Operator)
            .await
            .expect("cancels");
    assert_eq!(cancelled.ends_at, Some(switch));
    subscribe(&catalog, tenant, buyer.id, v2.id, switch)
        .await
        .expect("subscribes to version 2 from the switch on");

    // Every change is in the tenant's audit log, newest first, with who made it.
    let entries = audit::list(&catalog, tenant, 20)
        .await
        .expect("reads the log");
    let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(
        actions[..8],
        [
            "subscription.created",
            "subscription.cancelled",
            "plan.published",
            "plan.drafted",
            "subscription.created",
            "plan.published",
            "customer.created",
            "plan.created",
        ]
    );
    assert!(
        entries
            .iter()
            .take(8)
            .all(|entry| entry.actor == "operator")
    );
}

#[tokio::test]
async fn a_plan_is_published_only_with_meters_the_tenant_has_and_in_the_customers_currency() {
    let env = Namespace::migrated().await;
    let catalog = env.catalog().await;
    let (tenant, _) = store::tenant_with_key(&catalog, Scope::Admin).await;
    let key = PlanKey::parse("pro").expect("a key");
    draft_plan(&catalog, tenant, "0.00002").await;
    let refused = plans::publish(&catalog, tenant, &key, Actor::Operator).await;
    assert_eq!(
        refused.expect_err("no meter").to_string(),
        "charge \"Tokens\" prices meter tokens, which this tenant does not have"
    );

    let tenant = tenant_with_tokens_meter(&catalog).await;
    let v1 = published_plan(&catalog, tenant, "0.00002").await;
    let dollars = create_customer(&catalog, tenant, "crm-us", "USD", &[]).await;
    let start = utc("2026-11-01T00:00:00Z");
    let refused = subscribe(&catalog, tenant, dollars.id, v1.id, start).await;
    assert_eq!(
        refused.expect_err("another currency").to_string(),
        "customer crm-us is billed in USD, but the plan charges in EUR"
    );
    let again = plans::publish(&catalog, tenant, &key, Actor::Operator).await;
    assert_eq!(
        again.expect_err("nothing to publish").to_string(),
        "plan pro has no draft to publish"
    );
}

/// The tokens plan `pro` at `unit_price`, created and published for the tenant.
async fn published_plan(catalog: &Catalog, tenant: TenantId, unit_price: &str) -> PlanVersion {
    let key = PlanKey::parse("pro").expect("a key");
    draft_plan(catalog, tenant, unit_price).await;
    plans::publish(catalog, tenant, &key, Actor::Operator)
        .await
        .expect("publishes")
}

/// A customer subscribed to a published version of the tokens plan; returns the tenant and
/// the subscription.
async fn subscribed(catalog: &Catalog) -> (TenantId, Subscription) {
    let tenant = tenant_with_tokens_meter(catalog).await;
    let version = published_plan(catalog, tenant, "0.00002").await;
    let buyer = create_customer(catalog, tenant, "crm-1", "EUR", &["device-1"]).await;
    let start = utc("2026-01-01T00:00:00Z");
    let subscription = subscribe(catalog, tenant, buyer.id, version.id, start)
        .await
        .expect("subscribes");
    (tenant, subscription)
}

fn month(number: u32) -> Period {
    let start = Utc
        .with_ymd_and_hms(2026, number, 1, 0, 0, 0)
        .single()
        .expect("a time");
    let end = Utc
        .with_ymd_and_hms(2026, number + 1, 1, 0, 0, 0)
        .single()
        .expect("a time");
    Period { start, end }
}

fn computed(total: &str) -> Computed {
    Computed {
        currency: "EUR".parse().expect("EUR"),
        lines: Vec::new(),
        measured: Vec::new(),
        subtotal: total.parse().expect("a decimal"),
        tax_percent: None,
        tax: Decimal::ZERO,
        total: total.parse().expect("a decimal"),
    }
}

#[tokio::test]
async fn invoices_are_drafted_once_per_period_and_numbered_without_gaps_when_finalized() {
    let env = Namespace::migrated().await;
    let catalog = env.catalog().await;
    let (tenant, subscription) = subscribed(&catalog).await;
    let grace = Utc::now();

    // Runs repeat: the draft of a period is one invoice, its figures the last run's.
    let first = invoices::write_draft(
        &catalog,
        &subscription,
        month(1),
        false,
        &computed("10"),
        grace,
    )
    .await
    .expect("drafts");
    let again = invoices::write_draft(
        &catalog,
        &subscription,
        month(1),
        false,
        &computed("12.5"),
        grace,
    )
    .await
    .expect("drafts again");
    assert_eq!(
        (again.id, again.status, again.computed.total),
        (first.id, Status::Draft, "12.5".parse().expect("a decimal"))
    );

    // Drafts finalized at once take the numbers 1 to 10, none twice and none skipped.
    let mut drafts = vec![again];
    for number in 2..=10 {
        drafts.push(
            invoices::write_draft(
                &catalog,
                &subscription,
                month(number),
                false,
                &computed("1"),
                grace,
            )
            .await
            .expect("drafts"),
        );
    }
    let finalizing = drafts.iter().map(|draft| {
        let catalog = catalog.clone();
        let id = draft.id;
        tokio::spawn(async move { invoices::finalize(&catalog, tenant, id, Actor::Operator).await })
    });
    let mut numbers = Vec::new();
    for finalized in finalizing {
        let invoice = finalized.await.expect("runs").expect("finalizes");
        assert_eq!(invoice.status, Status::Finalized);
        numbers.push(invoice.number.expect("a number"));
    }
    numbers.sort();
    let prefix = numbers[0]
        .split_once('-')
        .expect("PREFIX-NUMBER")
        .0
        .to_owned();
    let expected: Vec<String> = (1..=10)
        .map(|number| format!("{prefix}-{number:06}"))
        .collect();
    assert_eq!(numbers, expected);

    // A finalized invoice stays as it is: a run leaves it, SQL cannot change it, and it is
    // finalized once.
    let kept = invoices::write_draft(
        &catalog,
        &subscription,
        month(1),
        false,
        &computed("99"),
        grace,
    )
    .await
    .expect("returns the invoice");
    assert_eq!(
        (kept.status, kept.computed.total),
        (Status::Finalized, "12.5".parse().expect("a decimal"))
    );
    let changed = sqlx::query("UPDATE invoices SET total = 0 WHERE id = $1")
        .bind(kept.id)
        .execute(catalog.pool())
        .await;
    assert!(
        changed.is_err_and(|error| error.to_string().contains("is finalized and cannot change"))
    );
    let twice = invoices::finalize(&catalog, tenant, kept.id, Actor::Operator).await;
    assert!(
        matches!(&twice, Err(Error::Conflict(message)) if message.ends_with("is finalized already")),
        "{twice:?}"
    );

    // Then paid, and a paid invoice is not voided.
    let paid = invoices::settle(&catalog, tenant, kept.id, Status::Paid, Actor::Operator)
        .await
        .expect("pays");
    assert_eq!(paid.status, Status::Paid);
    let voided = invoices::settle(&catalog, tenant, kept.id, Status::Void, Actor::Operator).await;
    assert!(
        matches!(&voided, Err(Error::Conflict(message)) if message.contains("is paid")),
        "{voided:?}"
    );

    // Another tenant finds none of it.
    let (other, _) = store::tenant_with_key(&catalog, Scope::Admin).await;
    assert!(matches!(
        invoices::find(&catalog, other, kept.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(
        invoices::list(&catalog, other, None)
            .await
            .expect("lists")
            .is_empty()
    );
    assert_eq!(
        invoices::list(&catalog, tenant, None)
            .await
            .expect("lists")
            .len(),
        10
    );
}

/// The operator's invoice run at `at`, with a day's grace.
fn run_at<'a>(catalog: &'a Catalog, analytics: &'a Analytics, at: DateTime<Utc>) -> Run<'a> {
    Run {
        catalog,
        analytics,
        at,
        grace: chrono::Duration::hours(24),
        actor: Actor::Operator,
        raw_retention_days: 30,
    }
}

/// Two invoice runs at once, each on connections of its own, as two billing processes would
/// run: every subscription gets its opening and closing invoices once, numbered without gaps,
/// and a third run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_invoice_runs_write_every_invoice_once_and_number_them_without_gaps() {
    let env = Namespace::migrated().await;
    let catalog = env.catalog().await;
    let analytics = env.analytics();
    let tenant = tenant_with_tokens_meter(&catalog).await;
    let version = published_plan(&catalog, tenant, "0.001").await;
    const CUSTOMERS: usize = 12;
    for number in 0..CUSTOMERS {
        let subject = format!("device-{number}");
        let created = create_customer(
            &catalog,
            tenant,
            &format!("crm-{number}"),
            "EUR",
            &[subject.as_str()],
        )
        .await;
        subscribe(
            &catalog,
            tenant,
            created.id,
            version.id,
            utc("2026-09-01T00:00:00+02:00"),
        )
        .await
        .expect("subscribes");
    }
    // October's invoices are past their grace period: opening, September and October.
    let at = utc("2026-11-03T00:00:00Z");
    let run = |catalog: Catalog| {
        let analytics = analytics.clone();
        tokio::spawn(async move {
            run_at(&catalog, &analytics, at)
                .tenant(tenant, &mut |_, _| {})
                .await
                .expect("the run succeeds")
        })
    };
    let (first, second) = tokio::join!(run(env.catalog().await), run(env.catalog().await));
    let (first, second) = (first.expect("runs"), second.expect("runs"));
    assert_eq!(first.finalized + second.finalized, 3 * CUSTOMERS as u64);
    let listed = invoices::list(&catalog, tenant, None).await.expect("lists");
    assert_eq!(listed.len(), 3 * CUSTOMERS);
    assert!(
        listed
            .iter()
            .all(|invoice| invoice.status == Status::Finalized)
    );
    let mut numbers: Vec<u32> = listed
        .iter()
        .map(|invoice| {
            let number = invoice.number.as_deref().expect("a number");
            number
                .rsplit('-')
                .next()
                .and_then(|digits| digits.parse().ok())
                .expect("digits")
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=3 * CUSTOMERS as u32).collect::<Vec<_>>());

    let again = run_at(&catalog, &analytics, at)
        .tenant(tenant, &mut |_, _| {})
        .await
        .expect("the rerun succeeds");
    assert_eq!((again.drafted, again.finalized), (0, 0));
    assert_eq!(
        invoices::list(&catalog, tenant, None).await.expect("lists"),
        listed
    );
}
