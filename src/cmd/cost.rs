//! `tally cost attribute`: the platform's shared costs of a month split across tenants by
//! their measured use (see `tally_billing::attribution`).

use std::collections::BTreeMap;

use anyhow::Context;
use rust_decimal::Decimal;
use tally_billing::attribution::{self, Attributed};
use tally_billing::export::Month;
use tally_meter::analytics::Analytics;
use tally_meter::catalog::tenants;
use tally_meter::ids::TenantId;

use crate::cli::CostCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one cost command.
pub async fn run(config: &Config, command: CostCommand) -> anyhow::Result<()> {
    let CostCommand::Attribute { month, costs, csv } = command;
    let month = Month::parse(&month)?;
    let text = std::fs::read_to_string(&costs)
        .with_context(|| format!("cannot read the cost file {}", costs.display()))?;
    let lines = attribution::parse_costs(&text)?;
    let catalog = connect_catalog(config).await?;
    let analytics = Analytics::new(&config.clickhouse);
    let usage = tally_billing::platform::measure(
        &analytics,
        month.period(),
        config.meter.raw_retention_days,
    )
    .await?;
    let attributed = attribution::attribute(&lines, &usage)?;
    let names: BTreeMap<TenantId, String> = tenants::list(&catalog)
        .await?
        .into_iter()
        .map(|tenant| (tenant.id, tenant.name.to_string()))
        .collect();
    let name = |tenant: &TenantId| {
        names
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| tenant.to_string())
    };
    if csv {
        println!("tenant_id,tenant,resource,description,usage,amount,currency");
        for line in &attributed {
            for share in &line.shares {
                println!(
                    "{},{},{},{},{},{},{}",
                    share.tenant_id,
                    quoted(&name(&share.tenant_id)),
                    line.line.resource.name(),
                    quoted(&line.line.description),
                    share.usage.normalize(),
                    line.line.currency.written(share.amount),
                    line.line.currency.code()
                );
            }
            if !line.unattributed.is_zero() {
                println!(
                    ",,{},{},0,{},{}",
                    line.line.resource.name(),
                    quoted(&line.line.description),
                    line.line.currency.written(line.unattributed),
                    line.line.currency.code()
                );
            }
        }
        return Ok(());
    }
    print_table(&attributed, &name);
    Ok(())
}

fn print_table(attributed: &[Attributed], name: &dyn Fn(&TenantId) -> String) {
    println!(
        "{:<16}  {:<28}  {:<24}  {:>20}  {:>14}  CURRENCY",
        "RESOURCE", "DESCRIPTION", "TENANT", "USAGE", "AMOUNT"
    );
    let mut totals: BTreeMap<(String, &'static str), Decimal> = BTreeMap::new();
    for line in attributed {
        let currency = line.line.currency;
        for share in &line.shares {
            println!(
                "{:<16}  {:<28}  {:<24}  {:>20}  {:>14}  {}",
                line.line.resource.name(),
                line.line.description,
                name(&share.tenant_id),
                share.usage.normalize(),
                currency.written(share.amount),
                currency.code()
            );
            *totals
                .entry((name(&share.tenant_id), currency.code()))
                .or_default() += share.amount;
        }
        if !line.unattributed.is_zero() {
            println!(
                "{:<16}  {:<28}  {:<24}  {:>20}  {:>14}  {}",
                line.line.resource.name(),
                line.line.description,
                "(unattributed: no use)",
                0,
                currency.written(line.unattributed),
                currency.code()
            );
        }
    }
    println!("\n{:<24}  {:>14}  CURRENCY", "TENANT", "TOTAL");
    for ((tenant, currency), total) in totals {
        println!("{tenant:<24}  {total:>14}  {currency}");
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}
