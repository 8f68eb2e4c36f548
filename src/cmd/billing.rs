//! `tally customer …`, `tally plan …` and `tally subscription …`: billing's catalog from the
//! command line, acting as the operator.

use anyhow::Context;
use tally_billing::catalog::{customers, plans, subscriptions};
use tally_billing::customer::{Customer, CustomerSpec};
use tally_billing::plan::VersionSpec;
use tally_billing::subscription::Subscription;
use tally_meter::audit::Actor;
use tally_meter::catalog::{Catalog, tenants};
use tally_meter::ids::{CustomerId, TenantId};

use crate::cli::{CustomerCommand, PlanCommand, SubscriptionCommand};
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one customer command.
pub async fn customer(config: &Config, command: CustomerCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        CustomerCommand::Create {
            tenant,
            external_id,
            name,
            email,
            currency,
            timezone,
            tax_percent,
            subjects,
        } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let spec = CustomerSpec::parse(
                &external_id,
                &name,
                email.as_deref(),
                &currency,
                Some(&timezone),
                tax_percent,
                &subjects,
            )?;
            let created = customers::create(&catalog, tenant.id, &spec, Actor::Operator).await?;
            eprintln!(
                "created customer {} for tenant {}",
                created.external_id, tenant.name
            );
            print_customers(std::slice::from_ref(&created));
        }
        CustomerCommand::List { tenant, json } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let listed = customers::list(&catalog, tenant.id).await?;
            if json {
                for customer in &listed {
                    println!("{}", serde_json::to_string(customer)?);
                }
            } else if listed.is_empty() {
                eprintln!(
                    "tenant {} has no customers yet: create one with `tally customer create`",
                    tenant.name
                );
            } else {
                print_customers(&listed);
            }
        }
    }
    Ok(())
}

fn print_customers(customers: &[Customer]) {
    println!(
        "{:<36}  {:<20}  {:<24}  {:<8}  {:<20}  {:<6}  SUBJECTS",
        "ID", "EXTERNAL ID", "NAME", "CURRENCY", "TIME ZONE", "TAX %"
    );
    for customer in customers {
        println!(
            "{:<36}  {:<20}  {:<24}  {:<8}  {:<20}  {:<6}  {}",
            customer.id,
            customer.external_id,
            customer.name,
            customer.currency,
            customer.timezone,
            customer
                .tax_percent
                .map_or_else(|| "-".to_owned(), |tax| tax.to_string()),
            customer.subjects.join(",")
        );
    }
}

/// Runs one plan command.
pub async fn plan(config: &Config, command: PlanCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        PlanCommand::Create {
            tenant,
            key,
            name,
            file,
        } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let spec = read_version(&file)?;
            let (plan, draft) =
                plans::create(&catalog, tenant.id, &key, &name, &spec, Actor::Operator).await?;
            eprintln!(
                "created plan {} for tenant {} with version {} as a draft: publish it with \
                 `tally plan publish`",
                plan.key, tenant.name, draft.version
            );
        }
        PlanCommand::Draft { tenant, key, file } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let draft = plans::draft(
                &catalog,
                tenant.id,
                &key,
                &read_version(&file)?,
                Actor::Operator,
            )
            .await?;
            eprintln!("drafted version {} of plan {key}", draft.version);
        }
        PlanCommand::Publish { tenant, key } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let published = plans::publish(&catalog, tenant.id, &key, Actor::Operator).await?;
            eprintln!("published version {} of plan {key}", published.version);
        }
        PlanCommand::Show { tenant, key } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let (plan, versions) = plans::find(&catalog, tenant.id, &key).await?;
            let shown = serde_json::json!({ "plan": plan, "versions": versions });
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
    }
    Ok(())
}

/// Reads a plan version's JSON file, naming the file and the place of any error.
fn read_version(file: &std::path::Path) -> anyhow::Result<VersionSpec> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let spec: VersionSpec = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a plan version", file.display()))?;
    spec.validate()?;
    Ok(spec)
}

/// Runs one subscription command.
pub async fn subscription(config: &Config, command: SubscriptionCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        SubscriptionCommand::Create {
            tenant,
            customer,
            plan,
            version,
            anchor,
            start,
        } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let customer = customers::find_external(&catalog, tenant.id, &customer).await?;
            let chosen = plans::chosen_version(&catalog, tenant.id, &plan, version).await?;
            let start = start.unwrap_or_else(chrono::Utc::now);
            let created = subscriptions::create(
                &catalog,
                tenant.id,
                customer.id,
                chosen.id,
                anchor,
                start,
                Actor::Operator,
            )
            .await?;
            eprintln!(
                "subscribed customer {} to version {} of plan {plan}",
                customer.external_id, chosen.version
            );
            print_subscriptions(std::slice::from_ref(&created));
        }
        SubscriptionCommand::Cancel { tenant, id, at } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let at = at.unwrap_or_else(chrono::Utc::now);
            let cancelled =
                subscriptions::cancel(&catalog, tenant.id, id, at, Actor::Operator).await?;
            eprintln!("subscription {id} ends at {at}");
            print_subscriptions(std::slice::from_ref(&cancelled));
        }
        SubscriptionCommand::Change {
            tenant,
            id,
            plan,
            version,
            at,
        } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let chosen = plans::chosen_version(&catalog, tenant.id, &plan, version).await?;
            let at = at.unwrap_or_else(chrono::Utc::now);
            let (ended, started) =
                subscriptions::change(&catalog, tenant.id, id, chosen.id, at, Actor::Operator)
                    .await?;
            eprintln!(
                "subscription {id} ends at {at}; {} starts on version {} of plan {plan}",
                started.id, chosen.version
            );
            print_subscriptions(&[ended, started]);
        }
        SubscriptionCommand::List { tenant, customer } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let customer = customer_by_external_id(&catalog, tenant.id, customer).await?;
            print_subscriptions(&subscriptions::list(&catalog, tenant.id, customer).await?);
        }
    }
    Ok(())
}

fn print_subscriptions(subscriptions: &[Subscription]) {
    println!(
        "{:<36}  {:<36}  {:<36}  {:<11}  {:<25}  ENDS",
        "ID", "CUSTOMER", "PLAN VERSION", "ANCHOR", "STARTS"
    );
    for subscription in subscriptions {
        println!(
            "{:<36}  {:<36}  {:<36}  {:<11}  {:<25}  {}",
            subscription.id,
            subscription.customer_id,
            subscription.plan_version_id,
            subscription.anchor,
            subscription.starts_at.to_rfc3339(),
            subscription
                .ends_at
                .map_or_else(|| "-".to_owned(), |ends_at| ends_at.to_rfc3339())
        );
    }
}

/// The id of the tenant's customer with an external id, if one is given.
pub(crate) async fn customer_by_external_id(
    catalog: &Catalog,
    tenant: TenantId,
    external_id: Option<String>,
) -> anyhow::Result<Option<CustomerId>> {
    Ok(match external_id {
        Some(external_id) => Some(
            customers::find_external(catalog, tenant, &external_id)
                .await?
                .id,
        ),
        None => None,
    })
}
