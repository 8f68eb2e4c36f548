//! `tally slo …`: a tenant's SLOs from JSON or OpenSLO YAML files, and where they stand,
//! acting as the operator.

use std::fmt::Write as _;

use anyhow::Context as _;
use chrono::Utc;
use tally_alerting::catalog::rules;
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::catalog::tenants;
use tally_slo::burn::Consumption;
use tally_slo::catalog::{self as slos, Slo};
use tally_slo::openslo::{from_openslo, to_openslo_documents};
use tally_slo::spec::SloSpec;
use tally_slo::status::{SloStatus, status};

use crate::cli::SloCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one SLO command.
pub async fn run(config: &Config, command: SloCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        SloCommand::Apply { tenant, file } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            for spec in read_specs(&text)? {
                let done = rules::apply_slo(&catalog, tenant.id, &spec, Actor::Operator).await?;
                println!("{} {}", done.applied, done.slo.spec.name);
                if done.rule_taken {
                    eprintln!(
                        "tally: warning: alert rule {name} watches something else, so SLO {name} \
                         has no alerts until that rule is renamed",
                        name = done.slo.spec.name
                    );
                }
            }
        }
        SloCommand::List { tenant } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            for slo in slos::list(&catalog, tenant.id).await? {
                println!("{}", serde_json::to_string(&slo.spec)?);
            }
        }
        SloCommand::Export { tenant, name } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let specs: Vec<SloSpec> = match name {
                Some(name) => vec![slos::find(&catalog, tenant.id, &name).await?.spec],
                None => slos::list(&catalog, tenant.id)
                    .await?
                    .into_iter()
                    .map(|slo| slo.spec)
                    .collect(),
            };
            print!("{}", to_openslo_documents(&specs));
        }
        SloCommand::Show { tenant, name, json } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let slo = slos::find(&catalog, tenant.id, &name).await?;
            let analytics = Analytics::new(&config.clickhouse);
            let measured = status(&analytics, std::slice::from_ref(&slo), Utc::now()).await?;
            let measured = measured.first().context("the SLO's status")?;
            if json {
                println!("{}", serde_json::to_string(measured)?);
            } else {
                print!("{}", describe(&slo, measured));
            }
        }
        SloCommand::Delete { tenant, name } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            rules::delete_slo(&catalog, tenant.id, &name, Actor::Operator).await?;
            eprintln!("deleted SLO {name} of tenant {}", tenant.name);
        }
    }
    Ok(())
}

/// The SLOs of a file: OpenSLO YAML (one or more documents), or one SLO in Tally's JSON.
fn read_specs(text: &str) -> anyhow::Result<Vec<SloSpec>> {
    if text.trim_start().starts_with('{') {
        Ok(vec![SloSpec::parse(text)?])
    } else {
        Ok(from_openslo(text)?)
    }
}

/// An SLO's standing as text: its objective and window, then each series' budget, burn rates
/// and tiers.
fn describe(slo: &Slo, measured: &SloStatus) -> String {
    let mut text = String::new();
    let (start, end) = measured.window;
    let _ = writeln!(
        text,
        "{}: {} % of {} events good over {} ({} to {})",
        slo.spec.name,
        slo.spec.objective,
        slo.spec.indicator.event_type(),
        slo.spec.window,
        start.to_rfc3339(),
        end.to_rfc3339()
    );
    if measured.series.is_empty() {
        let _ = writeln!(text, "no events yet");
    }
    for series in &measured.series {
        let name = series
            .group
            .as_ref()
            .zip(slo.spec.group_by.as_ref())
            .map(|(value, group)| format!("{}={value}", group.name))
            .unwrap_or_else(|| "all events".to_owned());
        let budget = &series.budget;
        let standing = match budget.consumption {
            Consumption::Measured { remaining, .. } => {
                format!(
                    "{} % of the error budget left",
                    (remaining * rust_decimal::Decimal::ONE_HUNDRED).round_dp(2)
                )
            }
            Consumption::TooFewEvents { min_events } => {
                format!("too few events to tell (fewer than {min_events})")
            }
        };
        let _ = writeln!(
            text,
            "\n{name}: {} events, {} bad, {} allowed: {standing}",
            budget.total, budget.bad, budget.allowed_bad
        );
        let rates: Vec<String> = series
            .burn_rates
            .iter()
            .map(|burn| {
                let rate = burn
                    .rate
                    .map_or_else(|| "-".to_owned(), |rate| rate.round_dp(2).to_string());
                format!("{} {rate}", humantime::format_duration(burn.window))
            })
            .collect();
        let _ = writeln!(text, "burn rates: {}", rates.join(", "));
        for tier in &series.tiers {
            let state = if tier.inhibited_by.is_some() {
                format!(
                    "firing, inhibited by {}",
                    tier.inhibited_by.as_deref().unwrap_or("")
                )
            } else if tier.firing {
                "firing".to_owned()
            } else if tier.guarded {
                "quiet (too few events)".to_owned()
            } else {
                "quiet".to_owned()
            };
            let _ = writeln!(
                text,
                "tier {} ({}): {state}",
                tier.tier,
                tier.severity.as_str()
            );
        }
    }
    text
}
