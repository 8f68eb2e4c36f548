//! `tally alert …`: alert rules, alerts now and their history, and an evaluation by hand,
//! acting as the operator.

use anyhow::Context as _;
use chrono::Utc;
use tally_alerting::catalog::{rules, series};
use tally_alerting::evaluate::Evaluator;
use tally_alerting::history;
use tally_alerting::rule::RuleSpec;
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::catalog::tenants;

use crate::cli::{AlertCommand, AlertRuleCommand};
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one alert command.
pub async fn run(config: &Config, command: AlertCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        AlertCommand::Rule(AlertRuleCommand::Create { tenant, file }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let rule = rules::create(
                &catalog,
                tenant.id,
                &RuleSpec::parse(&json)?,
                Actor::Operator,
            )
            .await?;
            println!("{}", rule.id);
            eprintln!(
                "created alert rule {} of tenant {}",
                rule.spec.name, tenant.name
            );
        }
        AlertCommand::Rule(AlertRuleCommand::List { tenant }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            for rule in rules::list(&catalog, tenant.id).await? {
                println!("{}", serde_json::to_string(&rule.spec)?);
            }
        }
        AlertCommand::Rule(AlertRuleCommand::Delete { tenant, name }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            rules::delete(&catalog, tenant.id, &name, Actor::Operator).await?;
            eprintln!("deleted alert rule {name} of tenant {}", tenant.name);
        }
        AlertCommand::List { tenant, json } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let alerts = series::alerts(&catalog, tenant.id).await?;
            if json {
                for alert in &alerts {
                    println!("{}", serde_json::to_string(alert)?);
                }
            } else if alerts.is_empty() {
                eprintln!("no alerts: nothing is pending or firing");
            } else {
                println!(
                    "{:<9}  {:<24}  {:<30}  {:<20}  {:<23}",
                    "STATE", "RULE", "SERIES", "VALUE", "SINCE"
                );
                for alert in &alerts {
                    println!(
                        "{:<9}  {:<24}  {:<30}  {:<20}  {}",
                        alert.series.state.state.as_str(),
                        alert.rule,
                        alert.series.series,
                        alert
                            .series
                            .value
                            .map_or_else(|| "-".to_owned(), |value| value.to_string()),
                        alert.series.state.since.format("%Y-%m-%d %H:%M:%S UTC"),
                    );
                }
            }
        }
        AlertCommand::History {
            tenant,
            rule,
            series,
            limit,
            json,
        } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let analytics = Analytics::new(&config.clickhouse);
            let entries = history::read(
                &analytics,
                tenant.id,
                rule.as_deref(),
                series.as_deref(),
                limit,
            )
            .await?;
            if json {
                for entry in &entries {
                    println!("{}", serde_json::to_string(entry)?);
                }
            } else if entries.is_empty() {
                eprintln!("no alert history yet");
            } else {
                println!(
                    "{:<23}  {:<24}  {:<30}  {:<20}  VALUE",
                    "AT", "RULE", "SERIES", "TRANSITION"
                );
                for entry in &entries {
                    println!(
                        "{:<23}  {:<24}  {:<30}  {:<20}  {}",
                        entry.at.format("%Y-%m-%d %H:%M:%S UTC"),
                        entry.rule,
                        entry.series,
                        format!("{} → {}", entry.from, entry.to),
                        entry
                            .value
                            .map_or_else(|| "-".to_owned(), |value| value.to_string()),
                    );
                }
            }
        }
        AlertCommand::Evaluate { at } => {
            let at = at.unwrap_or_else(Utc::now);
            let evaluator = Evaluator {
                catalog: catalog.clone(),
                analytics: Analytics::new(&config.clickhouse),
                default_limits: config.ingest.default_limits(),
            };
            let report = evaluator.due(at, at).await?;
            let exported = history::export(&evaluator.catalog, &evaluator.analytics).await?;
            println!(
                "evaluated {} rules at {at}: {} transitions, {exported} written to the history",
                report.evaluated, report.transitions
            );
            if !report.failed.is_empty() {
                anyhow::bail!(
                    "{} rules were not evaluated: {}",
                    report.failed.len(),
                    report.failed.join("; ")
                );
            }
        }
    }
    Ok(())
}
