//! `tally tenant create | list | show | suspend | activate`.

use tally_alerting::catalog::rules;
use tally_meter::audit::Actor;
use tally_meter::catalog::{api_keys, tenants};
use tally_meter::tenant::{Tenant, TenantStatus};
use tally_slo::platform::platform_slos;

use crate::cli::TenantCommand;
use crate::cmd::{connect_catalog, key::print_keys};
use crate::config::Config;

/// Runs one tenant command, printing its result on standard output.
pub async fn run(config: &Config, command: TenantCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        TenantCommand::Create {
            name,
            region,
            platform,
        } => {
            let mut transaction = catalog.begin().await?;
            let tenant = tenants::create(&mut *transaction, &name, &region).await?;
            if platform {
                tally_billing::catalog::platform::mark(&mut *transaction, tenant.id).await?;
            }
            transaction.commit().await?;
            println!("{}", tenant.id);
            eprintln!(
                "created {} {} in region {}",
                if platform {
                    "the platform tenant"
                } else {
                    "tenant"
                },
                tenant.name,
                tenant.region
            );
            if platform {
                // The platform's own SLOs, with their alert rules.
                for spec in platform_slos() {
                    rules::apply_slo(&catalog, tenant.id, &spec, Actor::Operator).await?;
                    eprintln!("applied the platform SLO {}", spec.name);
                }
            }
        }
        TenantCommand::List => {
            let tenants = tenants::list(&catalog).await?;
            if tenants.is_empty() {
                eprintln!("no tenants yet: create one with `tally tenant create --name NAME`");
            } else {
                print_tenants(&tenants);
            }
        }
        TenantCommand::Show { tenant } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            print_tenants(std::slice::from_ref(&tenant));
            println!();
            print_keys(&api_keys::list(&catalog, tenant.id).await?);
        }
        TenantCommand::Suspend { tenant } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            tenants::set_status(
                &catalog,
                tenant.id,
                TenantStatus::Suspended,
                Actor::Operator,
            )
            .await?;
            eprintln!(
                "suspended tenant {}: its keys no longer authenticate",
                tenant.name
            );
        }
        TenantCommand::Activate { tenant } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            tenants::set_status(&catalog, tenant.id, TenantStatus::Active, Actor::Operator).await?;
            eprintln!("activated tenant {}", tenant.name);
        }
        TenantCommand::Update { tenant, hot } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            if let Some(hot) = hot {
                tenants::set_hot(&catalog, tenant.id, hot).await?;
                eprintln!(
                    "tenant {} is {}hot",
                    tenant.name,
                    if hot { "" } else { "not " }
                );
            }
        }
    }
    Ok(())
}

fn print_tenants(tenants: &[Tenant]) {
    println!(
        "{:<36}  {:<24}  {:<9}  {:<12}  {:<3}  CREATED",
        "ID", "NAME", "STATUS", "REGION", "HOT"
    );
    for tenant in tenants {
        println!(
            "{:<36}  {:<24}  {:<9}  {:<12}  {:<3}  {}",
            tenant.id,
            tenant.name,
            tenant.status,
            tenant.region,
            if tenant.hot { "yes" } else { "no" },
            tenant.created_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
}
