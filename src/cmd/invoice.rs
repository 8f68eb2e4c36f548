//! `tally invoice …`: invoice runs by hand, and reading and settling invoices, acting as the
//! operator.

use std::fmt::Write as _;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use tally_billing::catalog::{customers, invoices, platform};
use tally_billing::invoice::{Explanation, Invoice, Line, Status};
use tally_billing::money::Currency;
use tally_billing::period::Period;
use tally_billing::run::{Report, Run};
use tally_meter::analytics::Analytics;
use tally_meter::audit::Actor;
use tally_meter::catalog::{Catalog, tenants};
use tally_meter::ids::TenantId;

use crate::cli::InvoiceCommand;
use crate::cmd::billing::customer_by_external_id;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one invoice command.
pub async fn run(config: &Config, command: InvoiceCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    let analytics = Analytics::new(&config.clickhouse);
    let run_at = |at: Option<DateTime<Utc>>| Run {
        catalog: &catalog,
        analytics: &analytics,
        at: at.unwrap_or_else(Utc::now),
        grace: config.billing.grace(),
        actor: Actor::Operator,
        raw_retention_days: config.meter.raw_retention_days,
    };
    match command {
        InvoiceCommand::Run {
            tenant,
            platform,
            at,
        } => {
            let run = run_at(at);
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} subscriptions {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let mut progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let report = if platform {
                let platform_tenant = provision_platform(config, &catalog).await?;
                run.tenant(platform_tenant, &mut progress).await?
            } else if let Some(tenant) = tenant {
                let tenant = tenants::find(&catalog, &tenant).await?;
                run.tenant(tenant.id, &mut progress).await?
            } else {
                run.all(&mut progress).await?
            };
            bar.finish_and_clear();
            print_report(&report, run.at);
            if !report.failed.is_empty() {
                anyhow::bail!(
                    "{} subscriptions were not invoiced: {}",
                    report.failed.len(),
                    report.failed.join("; ")
                );
            }
        }
        InvoiceCommand::List { tenant, customer } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let customer = customer_by_external_id(&catalog, tenant.id, customer).await?;
            print_invoices(&invoices::list(&catalog, tenant.id, customer).await?);
        }
        InvoiceCommand::Explain { tenant, id, json } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let invoice = invoices::find(&catalog, tenant.id, id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&invoice)?);
            } else {
                print!("{}", explain(&invoice));
            }
        }
        InvoiceCommand::Finalize { tenant, id } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let invoice = invoices::finalize(&catalog, tenant.id, id, Actor::Operator).await?;
            print_invoices(std::slice::from_ref(&invoice));
        }
        InvoiceCommand::Pay { tenant, id } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let invoice =
                invoices::settle(&catalog, tenant.id, id, Status::Paid, Actor::Operator).await?;
            print_invoices(std::slice::from_ref(&invoice));
        }
        InvoiceCommand::Void { tenant, id } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let invoice =
                invoices::settle(&catalog, tenant.id, id, Status::Void, Actor::Operator).await?;
            if let Some(note) = invoices::credit_note(&catalog, tenant.id, id).await? {
                eprintln!(
                    "credit note {} for {} {}",
                    note.number,
                    invoice.computed.currency.written(note.total),
                    note.currency
                );
            }
            print_invoices(std::slice::from_ref(&invoice));
        }
        InvoiceCommand::Upcoming {
            tenant,
            customer,
            at,
        } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let customer = customers::find_external(&catalog, tenant.id, &customer).await?;
            let upcoming = run_at(at).upcoming(tenant.id, &customer).await?;
            if upcoming.is_empty() {
                eprintln!(
                    "customer {} has no running subscription",
                    customer.external_id
                );
            }
            for (subscription, period, computed) in upcoming {
                println!(
                    "subscription {}, period {} so far",
                    subscription.id,
                    written(&period.covered)
                );
                print!("{}", explain_lines(&computed.lines, computed.currency));
                println!(
                    "{:<60} {:>14} {}",
                    "total so far",
                    computed.currency.written(computed.total),
                    computed.currency.code()
                );
            }
        }
    }
    Ok(())
}

fn print_report(report: &Report, at: DateTime<Utc>) {
    eprintln!(
        "invoiced up to {}: {} subscriptions, {} drafts written, {} invoices finalized, {} failed",
        at.to_rfc3339(),
        report.subscriptions,
        report.drafted,
        report.finalized,
        report.failed.len()
    );
}

fn print_invoices(invoices: &[Invoice]) {
    println!(
        "{:<36}  {:<16}  {:<9}  {:<36}  {:<43}  {:>14}  CURRENCY",
        "ID", "NUMBER", "STATUS", "CUSTOMER", "PERIOD", "TOTAL"
    );
    for invoice in invoices {
        println!(
            "{:<36}  {:<16}  {:<9}  {:<36}  {:<43}  {:>14}  {}",
            invoice.id,
            invoice.number.as_deref().unwrap_or("-"),
            invoice.status,
            invoice.customer_id,
            written(&invoice.period),
            invoice.computed.currency.written(invoice.computed.total),
            invoice.computed.currency.code()
        );
    }
}

/// Finds the platform tenant and gives every tenant it does not bill yet a customer there,
/// saying which.
async fn provision_platform(config: &Config, catalog: &Catalog) -> anyhow::Result<TenantId> {
    let platform_tenant = platform::tenant(catalog).await?.context(
        "there is no platform tenant: create one with `tally tenant create --name NAME --platform`",
    )?;
    let plan = config.billing.platform_plan.parse()?;
    let added =
        tally_billing::platform::provision(catalog, platform_tenant, &plan, Actor::Operator)
            .await?;
    if !added.is_empty() {
        eprintln!(
            "added {} tenants to the platform tenant's customers, on plan {plan}: {}",
            added.len(),
            added.join(", ")
        );
    }
    Ok(platform_tenant)
}

/// An invoice's lines and how each came about, then its totals, for people.
fn explain(invoice: &Invoice) -> String {
    let computed = &invoice.computed;
    let mut text = format!(
        "invoice {} ({}{}), customer {}, period {}\n",
        invoice.number.as_deref().unwrap_or(&invoice.id.to_string()),
        invoice.status,
        if invoice.opening { ", opening" } else { "" },
        invoice.customer_id,
        written(&invoice.period)
    );
    text.push_str(&explain_lines(&computed.lines, computed.currency));
    let (currency, code) = (computed.currency, computed.currency.code());
    let _ = writeln!(
        text,
        "{:<60} {:>14} {code}",
        "subtotal",
        currency.written(computed.subtotal)
    );
    if let Some(percent) = computed.tax_percent {
        let _ = writeln!(
            text,
            "{:<60} {:>14} {code}",
            format!("tax {percent} %"),
            currency.written(computed.tax)
        );
    }
    let _ = writeln!(
        text,
        "{:<60} {:>14} {code}",
        "total",
        currency.written(computed.total)
    );
    text
}

fn explain_lines(lines: &[Line], currency: Currency) -> String {
    let mut text = String::new();
    for line in lines {
        let _ = writeln!(
            text,
            "{:<60} {:>14}",
            line.description,
            currency.written(line.amount)
        );
        let _ = writeln!(
            text,
            "    {} · plan version {}",
            written(&line.period),
            line.plan_version
        );
        match &line.explanation {
            Explanation::Flat {
                amount,
                share,
                full_period,
            } => {
                let _ = writeln!(
                    text,
                    "    flat fee {amount} × {share} of the period {}",
                    written(full_period)
                );
            }
            Explanation::Unused {
                amount,
                billed_share,
                share,
                full_period,
            } => {
                let _ = writeln!(
                    text,
                    "    credit: {amount} × ({billed_share} billed − {share} covered) of the \
                     period {}",
                    written(full_period)
                );
            }
            Explanation::Usage {
                meter,
                events,
                quantity,
                allowance,
                steps,
                exact,
            } => {
                let _ = writeln!(
                    text,
                    "    meter {meter}: {events} events, quantity {quantity}, allowance \
                     {allowance}"
                );
                for step in steps {
                    let _ = writeln!(
                        text,
                        "      {}: {} × {}{} = {}",
                        step.description,
                        step.units,
                        step.unit_price,
                        if step.flat_fee.is_zero() {
                            String::new()
                        } else {
                            format!(" + {}", step.flat_fee)
                        },
                        step.amount
                    );
                }
                let _ = writeln!(text, "    exact {exact}, rounded once to {}", line.amount);
            }
            Explanation::LateUsage {
                meter,
                billed,
                now,
                billed_amount,
                amount_now,
            } => {
                let _ = writeln!(
                    text,
                    "    meter {meter}: {} events billed, {} now; the charge comes to \
                     {amount_now} now, {billed_amount} was billed",
                    billed.events, now.events
                );
            }
            Explanation::TrueUp { minimum, charged } => {
                let _ = writeln!(
                    text,
                    "    minimum commitment {minimum} less {charged} charged"
                );
            }
        }
    }
    text
}

fn written(period: &Period) -> String {
    format!(
        "{} to {}",
        period.start.to_rfc3339(),
        period.end.to_rfc3339()
    )
}
