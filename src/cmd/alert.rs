//! `tally alert …`: alert rules, alerts now and their history, and an evaluation by hand,
//! acting as the operator.

use anyhow::Context as _;
use chrono::Utc;
use tally_alerting::catalog::{notifications, receivers, rules, series, silences};
use tally_alerting::evaluate::Evaluator;
use tally_alerting::history;
use tally_alerting::notify::receiver::Receiver;
use tally_alerting::notify::routing::Routing;
use tally_alerting::notify::silence::{NewSilence, parse_matchers};
use tally_alerting::rule::RuleSpec;
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::catalog::tenants;

use crate::cli::{
    AlertCommand, AlertReceiverCommand, AlertRoutingCommand, AlertRuleCommand, SilenceCommand,
};
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one alert command.
pub async fn run(config: &Config, command: AlertCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        AlertCommand::Rule(AlertRuleCommand::Create { tenant, file }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let rule = rules::create(
                &catalog,
                tenant.id,
                &RuleSpec::parse(&read(&file)?)?,
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
        AlertCommand::Receiver(AlertReceiverCommand::Set { tenant, file }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let receiver = Receiver::parse(&read(&file)?)?;
            receivers::set(&catalog, tenant.id, &receiver, Actor::Operator).await?;
            eprintln!(
                "set {} receiver {} of tenant {}",
                receiver.target.kind(),
                receiver.name,
                tenant.name
            );
        }
        AlertCommand::Receiver(AlertReceiverCommand::List { tenant }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            for receiver in receivers::list(&catalog, tenant.id).await? {
                println!("{}", serde_json::to_string(&receiver.redacted())?);
            }
        }
        AlertCommand::Receiver(AlertReceiverCommand::Delete { tenant, name }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            receivers::delete(&catalog, tenant.id, &name, Actor::Operator).await?;
            eprintln!("deleted receiver {name} of tenant {}", tenant.name);
        }
        AlertCommand::Routing(AlertRoutingCommand::Set { tenant, file }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let routing = Routing::parse(&read(&file)?)?;
            receivers::set_routing(&catalog, tenant.id, &routing, Actor::Operator).await?;
            eprintln!("set the routing tree of tenant {}", tenant.name);
        }
        AlertCommand::Routing(AlertRoutingCommand::Show { tenant }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            match receivers::routing(&catalog, tenant.id).await? {
                Some(routing) => println!("{}", serde_json::to_string_pretty(&routing)?),
                None => eprintln!("no routing tree: alerts notify no one"),
            }
        }
        AlertCommand::Silence(SilenceCommand::Create {
            tenant,
            matchers,
            starts,
            duration,
            author,
            comment,
        }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let starts_at = starts.unwrap_or_else(Utc::now);
            let silence = NewSilence {
                matchers: parse_matchers(&matchers)?,
                starts_at,
                ends_at: starts_at
                    + chrono::Duration::from_std(*duration).context("the duration is too long")?,
                author,
                comment,
            };
            let created = silences::create(&catalog, tenant.id, &silence, Actor::Operator).await?;
            println!("{}", created.id);
            eprintln!(
                "silenced alerts of tenant {} until {}",
                tenant.name,
                created.ends_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        AlertCommand::Silence(SilenceCommand::List { tenant }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            for silence in silences::list(&catalog, tenant.id, Utc::now()).await? {
                println!("{}", serde_json::to_string(&silence)?);
            }
        }
        AlertCommand::Silence(SilenceCommand::Expire { tenant, id }) => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            silences::expire(&catalog, tenant.id, id, Actor::Operator).await?;
            eprintln!("ended silence {id} of tenant {}", tenant.name);
        }
        AlertCommand::Notifications { tenant, limit } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            for notification in notifications::log(&catalog, tenant.id, limit).await? {
                println!("{}", serde_json::to_string(&notification)?);
            }
        }
        AlertCommand::List { tenant, json } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let alerts = series::alerts(&catalog, tenant.id).await?;
            let now = Utc::now();
            let active = silences::list(&catalog, tenant.id, now).await?;
            let silenced = |alert: &series::Alert| -> Vec<String> {
                active
                    .iter()
                    .filter(|silence| silence.mutes(&alert.series.labels.0, now))
                    .map(|silence| silence.id.to_string())
                    .collect()
            };
            if json {
                for alert in &alerts {
                    let mut value = serde_json::to_value(alert)?;
                    value["silenced_by"] = serde_json::json!(silenced(alert));
                    println!("{value}");
                }
            } else if alerts.is_empty() {
                eprintln!("no alerts: nothing is pending or firing");
            } else {
                println!(
                    "{:<18}  {:<24}  {:<30}  {:<20}  {:<23}",
                    "STATE", "RULE", "SERIES", "VALUE", "SINCE"
                );
                for alert in &alerts {
                    let state = alert.series.state.state.as_str();
                    let shown = if silenced(alert).is_empty() {
                        state.to_owned()
                    } else {
                        format!("{state} (silenced)")
                    };
                    println!(
                        "{:<18}  {:<24}  {:<30}  {:<20}  {}",
                        shown,
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
                raw_retention_days: config.meter.raw_retention_days,
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

fn read(file: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}
