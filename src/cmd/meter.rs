//! `tally meter create | list | delete`.

use tally_meter::audit::Actor;
use tally_meter::catalog::{meters, tenants};
use tally_meter::meter::{Meter, MeterSpec};

use crate::cli::MeterCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one meter command.
pub async fn run(config: &Config, command: MeterCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        MeterCommand::Create {
            tenant,
            key,
            event_type,
            aggregation,
            value,
            group_by,
            lateness_secs,
        } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let spec = MeterSpec {
                key,
                event_type,
                value_path: value,
                aggregation,
                group_by: group_by.into_iter().collect(),
                allowed_lateness_secs: lateness_secs,
            };
            let created =
                meters::create(&catalog, tenant.id, &spec, Actor::Operator, &config.caps).await?;
            eprintln!(
                "created meter {} for tenant {}",
                created.spec.key, tenant.name
            );
            print_meters(std::slice::from_ref(&created));
        }
        MeterCommand::List { tenant } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let meters = meters::list(&catalog, tenant.id).await?;
            if meters.is_empty() {
                eprintln!(
                    "tenant {} has no meters yet: create one with `tally meter create`",
                    tenant.name
                );
            } else {
                print_meters(&meters);
            }
        }
        MeterCommand::Delete { tenant, key } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            meters::delete(&catalog, tenant.id, &key, Actor::Operator).await?;
            eprintln!("deleted meter {key} of tenant {}", tenant.name);
        }
    }
    Ok(())
}

fn print_meters(meters: &[Meter]) {
    println!(
        "{:<24}  {:<24}  {:<12}  {:<20}  {:<10}  GROUP BY",
        "KEY", "EVENT TYPE", "AGGREGATION", "VALUE", "LATENESS"
    );
    for meter in meters {
        let spec = &meter.spec;
        let groups: Vec<String> = spec
            .group_by
            .iter()
            .map(|(name, path)| format!("{name}={}", path.as_str()))
            .collect();
        println!(
            "{:<24}  {:<24}  {:<12}  {:<20}  {:<10}  {}",
            spec.key,
            spec.event_type,
            spec.aggregation,
            spec.value_path.as_ref().map_or("-", |path| path.as_str()),
            format!("{}s", spec.allowed_lateness_secs),
            if groups.is_empty() {
                "-".to_owned()
            } else {
                groups.join(", ")
            },
        );
    }
}
