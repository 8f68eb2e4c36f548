//! `tally migrate`: brings PostgreSQL, ClickHouse and the Kafka topics up to what this build
//! expects. Safe to repeat, and to run from several processes at once.

use anyhow::Context;
use tally_meter::analytics::Analytics;
use tally_meter::bus::{self, TopicOutcome};
use tally_meter::catalog::SchemaLock;

use crate::cmd::connect_catalog;
use crate::config::Config;

/// Applies every pending migration and creates missing topics, printing what it did.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    let applied = catalog
        .migrate()
        .await
        .context("postgres migrations failed")?;
    println!("postgres: {}", describe_migrations(applied));

    let analytics = Analytics::new(&config.clickhouse);
    let lock = SchemaLock::acquire(&catalog).await?;
    let applied = analytics.migrate().await.with_context(|| {
        format!(
            "clickhouse migrations failed at {} (database {})",
            config.clickhouse.url,
            analytics.database()
        )
    })?;
    lock.release().await?;
    println!("clickhouse: {}", describe_migrations(applied));

    let topics = bus::ensure_topics(&config.kafka)
        .await
        .with_context(|| format!("cannot create topics at {}", config.kafka.brokers))?;
    let created: Vec<&str> = topics
        .iter()
        .filter(|(_, outcome)| *outcome == TopicOutcome::Created)
        .map(|(name, _)| name.as_str())
        .collect();
    if created.is_empty() {
        println!("kafka: all {} topics exist", topics.len());
    } else {
        println!("kafka: created {}", created.join(", "));
    }
    Ok(())
}

fn describe_migrations(applied: usize) -> String {
    match applied {
        0 => "up to date".to_owned(),
        1 => "applied 1 migration".to_owned(),
        count => format!("applied {count} migrations"),
    }
}
