//! `tally usage`: a tenant's meter per window, as a table or JSON.

use chrono::{Duration, SecondsFormat, Utc};
use tally_meter::analytics::Analytics;
use tally_meter::catalog::tenants;
use tally_meter::usage::{self, UsagePoint, UsageQuery, floor_minute};

use crate::cli::UsageArgs;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs `tally usage`.
pub async fn run(config: &Config, args: UsageArgs) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    let analytics = Analytics::new(&config.clickhouse);
    let tenant = tenants::find(&catalog, &args.tenant).await?;
    let to = args
        .to
        .unwrap_or_else(|| floor_minute(Utc::now()) + Duration::minutes(1));
    let query = UsageQuery {
        from: args.from.unwrap_or(to - Duration::hours(1)),
        to,
        window: args.window,
        time_zone: args.timezone,
        group_by: args.group_by,
        subject: args.subject,
    };
    let points = usage::usage(&catalog, &analytics, tenant.id, &args.meter, &query).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&points)?);
    } else if points.is_empty() {
        eprintln!(
            "no events of meter {} for tenant {} between {} and {}",
            args.meter, tenant.name, query.from, query.to
        );
    } else {
        print_points(&query.group_by, &points);
    }
    Ok(())
}

fn print_points(group_names: &[String], points: &[UsagePoint]) {
    let mut header = format!("{:<25}  {:<25}", "FROM", "TO");
    for name in group_names {
        header.push_str(&format!("  {:<16}", name.to_uppercase()));
    }
    println!("{header}  {:>10}  VALUE", "EVENTS");
    for point in points {
        let mut line = format!(
            "{:<25}  {:<25}",
            point
                .window_start
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            point.window_end.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        for name in group_names {
            let value = point.groups.get(name).map_or("", String::as_str);
            line.push_str(&format!("  {value:<16}"));
        }
        let value = point
            .value
            .map_or_else(|| "-".to_owned(), |value| value.to_string());
        println!("{line}  {:>10}  {value}", point.events);
    }
}
