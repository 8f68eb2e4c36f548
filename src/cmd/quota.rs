//! `tally quota set | show`.

use chrono::Utc;
use tally_meter::audit::Actor;
use tally_meter::catalog::{quotas, tenants};
use tally_meter::quota::{self, Limits};

use crate::cli::QuotaCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one quota command.
pub async fn run(config: &Config, command: QuotaCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        QuotaCommand::Set {
            tenant,
            rate,
            burst,
            monthly,
            mode,
        } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let limits = Limits {
                rate_per_sec: rate,
                burst: burst.unwrap_or(rate),
                monthly_events: monthly,
                monthly_mode: mode,
            };
            quotas::set(
                &catalog,
                tenant.id,
                &limits,
                Actor::Operator,
                &config.ingest.default_limits(),
            )
            .await?;
            eprintln!(
                "set and granted limits of tenant {} (its admins may lower them, not raise them); \
                 ingest nodes apply them within {} s",
                tenant.name, config.ingest.refresh_secs
            );
            print_limits(&limits, false);
        }
        QuotaCommand::Show { tenant } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            match quotas::get_granted(&catalog, tenant.id).await? {
                Some(granted) => {
                    print_limits(&granted.limits, false);
                    if granted.limits != granted.grant {
                        println!("granted by the operator (the most the tenant may set):");
                        print_limits(&granted.grant, false);
                    }
                }
                None => print_limits(&config.ingest.default_limits(), true),
            }
            let period = quota::period_of(Utc::now());
            let used = quotas::usage(&catalog, period)
                .await?
                .get(&tenant.id)
                .copied()
                .unwrap_or(0);
            println!("used in {}: {used} events", period.format("%Y-%m"));
        }
    }
    Ok(())
}

fn print_limits(limits: &Limits, defaults: bool) {
    let origin = if defaults { " (defaults)" } else { "" };
    println!(
        "rate: {} events/s, burst {}{origin}",
        limits.rate_per_sec, limits.burst
    );
    match limits.monthly_events {
        Some(events) => println!("monthly quota: {events} events ({})", limits.monthly_mode),
        None => println!("monthly quota: none"),
    }
}
