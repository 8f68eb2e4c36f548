//! The meter's integration tests: each store round-trips through Tally's own code against the
//! real services that `scripts/services.sh` starts — tenants and keys in PostgreSQL, records on
//! the broker, rows in ClickHouse. Every test has its own namespace (`tally-testkit`).

use std::time::Duration;

use chrono::{Days, Utc};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use secrecy::{ExposeSecret, SecretString};
use tally_meter::Error;
use tally_meter::aggregator::{AggregatorConfig, retention};
use tally_meter::analytics::Analytics;
use tally_meter::analytics::events::RawEvent;
use tally_meter::analytics::migrations::MIGRATIONS;
use tally_meter::api_key::Scope;
use tally_meter::audit::Actor;
use tally_meter::bus::{self, TopicOutcome};
use tally_meter::caps::Caps;
use tally_meter::catalog::{api_keys, tenants};
use tally_meter::ids::{Region, TenantId, TenantName};
use tally_meter::tenant::{TenantRef, TenantStatus};

use tally_testkit::Namespace;

#[tokio::test]
async fn tenants_and_keys_round_trip_through_postgres() {
    let env = Namespace::empty().await;
    let catalog = env.catalog().await;
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/postgres"
    ))
    .expect("lists the migrations")
    .count();
    assert_eq!(catalog.migrate().await.expect("migrates"), migrations);

    let name = TenantName::parse("acme").expect("valid name");
    let acme = tenants::create(&catalog, &name, &Region::default())
        .await
        .expect("creates tenant");
    assert_eq!(acme.status, TenantStatus::Active);
    assert_eq!(acme.region.as_str(), "default");
    let by_name = tenants::find(&catalog, &TenantRef::Name(name.clone()))
        .await
        .expect("finds by name");
    let by_id = tenants::find(&catalog, &TenantRef::Id(acme.id))
        .await
        .expect("finds by id");
    assert_eq!((by_name.id, by_id.name), (acme.id, name.clone()));
    assert!(matches!(
        tenants::create(&catalog, &name, &Region::default()).await,
        Err(Error::Conflict(_))
    ));

    let created = api_keys::create(
        &catalog,
        acme.id,
        Scope::Ingest,
        Actor::Operator,
        &Caps::default(),
    )
    .await
    .expect("creates key");
    assert!(
        created
            .secret
            .expose_secret()
            .starts_with(&created.key.prefix)
    );
    let principal = api_keys::authenticate(&catalog, &created.secret)
        .await
        .expect("queries")
        .expect("a fresh key authenticates");
    assert_eq!(
        (principal.tenant_id, principal.key_id, principal.scope),
        (acme.id, created.key.id, Scope::Ingest)
    );
    let stored_hash: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM api_keys")
        .fetch_one(catalog.pool())
        .await
        .expect("reads hash");
    assert_ne!(stored_hash, created.secret.expose_secret().as_bytes());

    // Another tenant can neither see nor revoke acme's key.
    let other = tenants::create(
        &catalog,
        &TenantName::parse("other").expect("valid"),
        &Region::default(),
    )
    .await
    .expect("creates tenant");
    assert!(
        api_keys::list(&catalog, other.id)
            .await
            .expect("lists")
            .is_empty()
    );
    assert!(matches!(
        api_keys::revoke(&catalog, other.id, created.key.id, Actor::Operator).await,
        Err(Error::NotFound(_))
    ));

    // A suspended tenant's keys stop authenticating, and work again once it is active.
    for (status, authenticates) in [
        (TenantStatus::Suspended, false),
        (TenantStatus::Active, true),
    ] {
        tenants::set_status(&catalog, acme.id, status, Actor::Operator)
            .await
            .expect("sets the status");
        let principal = api_keys::authenticate(&catalog, &created.secret)
            .await
            .expect("queries");
        assert_eq!(principal.is_some(), authenticates, "{status}");
    }

    // A revoked key no longer authenticates; unknown and malformed keys never do.
    let revoked = api_keys::revoke(&catalog, acme.id, created.key.id, Actor::Operator)
        .await
        .expect("revokes");
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        api_keys::authenticate(&catalog, &created.secret)
            .await
            .expect("queries"),
        None
    );
    for presented in ["", "tly_", "nonsense", &format!("tly_{}", "a".repeat(40))] {
        let presented = SecretString::from(presented);
        assert_eq!(
            api_keys::authenticate(&catalog, &presented)
                .await
                .expect("queries"),
            None
        );
    }
}

#[tokio::test]
async fn records_round_trip_through_the_broker() {
    let env = Namespace::empty().await;
    let outcomes = bus::ensure_topics(&env.kafka)
        .await
        .expect("creates topics");
    assert_eq!(outcomes.len(), 3);
    assert!(
        outcomes
            .iter()
            .all(|(_, outcome)| *outcome == TopicOutcome::Created)
    );
    let again = bus::ensure_topics(&env.kafka).await.expect("finds topics");
    assert!(
        again
            .iter()
            .all(|(_, outcome)| *outcome == TopicOutcome::Existed)
    );

    let topic = env.kafka.topics().events;
    let producer: FutureProducer = env.kafka.producer_config().create().expect("producer");
    let payload = format!("hello from {}", env.id);
    let delivery = producer
        .send(
            FutureRecord::to(&topic).key("tenant-a").payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .expect("the broker acknowledges the record");

    let consumer: StreamConsumer = env
        .kafka
        .consumer_config(&format!("test-{}", env.id))
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribes");
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record arrives in time")
        .expect("reads a record");
    assert_eq!(message.payload(), Some(payload.as_bytes()));
    assert_eq!(message.key(), Some(&b"tenant-a"[..]));
    assert_eq!(
        (message.partition(), message.offset()),
        (delivery.partition, delivery.offset)
    );
    consumer
        .commit_message(&message, CommitMode::Sync)
        .expect("commits the offset");
}

#[tokio::test]
async fn rows_round_trip_through_clickhouse() {
    let env = Namespace::empty().await;
    let analytics = env.analytics();
    assert!(
        analytics.ping().await.is_err(),
        "the database does not exist yet"
    );
    let all: Vec<u32> = MIGRATIONS
        .iter()
        .map(|migration| migration.version)
        .collect();
    assert_eq!(analytics.migrate().await.expect("migrates"), all.len());
    assert_eq!(analytics.migrate().await.expect("migrates again"), 0);
    assert_eq!(analytics.applied_versions().await.expect("reads"), all);
    analytics.ping().await.expect("answers once migrated");

    let rows: Vec<RawEvent> = (0..3)
        .map(|index| RawEvent {
            tenant_id: "tenant-a".to_owned(),
            ingest_date: 20_000,
            ingest_time_ms: 1_728_000_000_000 + index,
            event_time_ms: 1_728_000_000_000 - index,
            id: format!("event-{index}"),
            source: "sensor-7".to_owned(),
            event_type: "reading".to_owned(),
            subject: "room-1".to_owned(),
            data: format!(r#"{{"celsius":{index}}}"#),
        })
        .collect();
    let mut insert = analytics
        .client()
        .insert::<RawEvent>("events_raw")
        .await
        .expect("starts insert");
    for row in &rows {
        insert.write(row).await.expect("writes row");
    }
    insert.end().await.expect("ends insert");

    let read: Vec<RawEvent> = analytics
        .client()
        .query("SELECT ?fields FROM events_raw WHERE tenant_id = ? ORDER BY ingest_time_ms")
        .bind("tenant-a")
        .fetch_all()
        .await
        .expect("selects rows");
    assert_eq!(read, rows);
}

#[tokio::test]
async fn retention_drops_the_partitions_past_their_window_and_keeps_the_younger_ones() {
    let env = Namespace::migrated().await;
    let analytics = env.analytics();
    let config = AggregatorConfig::default();
    let today = Utc::now().date_naive();
    let raw_old = today - Days::new(u64::from(config.raw_retention_days) + 10);
    let raw_young = today - Days::new(2);
    // Months of event ids go once their last day is older than the dedup window.
    let ids_old = today - Days::new(u64::from(config.dedup_window_days) + 40);
    for day in [raw_old, raw_young] {
        for (table, id_column) in [("events_raw", "id"), ("quarantine", "event_id")] {
            insert(
                &analytics,
                &format!("INSERT INTO {table} (tenant_id, ingest_date, {id_column}) VALUES ('t', '{day}', 'e')"),
            )
            .await;
        }
    }
    for day in [ids_old, today] {
        insert(
            &analytics,
            &format!(
                "INSERT INTO event_positions (tenant_id, seen_date, id) VALUES ('t', '{day}', 'e')"
            ),
        )
        .await;
    }

    let dropped: Vec<(&str, usize)> = retention::drop_expired(&config, &analytics)
        .await
        .into_iter()
        .map(|(table, outcome)| (table, outcome.expect("drops old partitions")))
        .collect();
    assert_eq!(
        dropped,
        [("events_raw", 1), ("quarantine", 1), ("event_positions", 1)]
    );
    for (table, kept) in [
        ("events_raw", raw_young.to_string()),
        ("quarantine", raw_young.to_string()),
        ("event_positions", today.format("%Y%m").to_string()),
    ] {
        let partitions = analytics
            .active_partitions(table)
            .await
            .expect("lists partitions");
        assert_eq!(partitions, [kept], "{table}");
    }
    // A second pass finds nothing more to drop.
    for (table, outcome) in retention::drop_expired(&config, &analytics).await {
        assert_eq!(outcome.expect("drops nothing"), 0, "{table}");
    }
}

async fn insert(analytics: &Analytics, sql: &str) {
    analytics
        .client()
        .query(sql)
        .execute()
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

#[tokio::test]
async fn traffic_counts_each_refused_event_once_and_a_stored_event_a_meter_quarantined_as_accepted()
{
    let env = Namespace::migrated().await;
    let analytics = env.analytics();
    let tenant = TenantId::generate();
    let now_ms = Utc::now().timestamp_millis();
    let today = Utc::now().date_naive();
    // A stored event that two meters could not count, and an event ingest refused.
    insert(
        &analytics,
        &format!(
            "INSERT INTO events_raw (tenant_id, ingest_date, ingest_time_ms, id, type) \
             VALUES ('{tenant}', '{today}', {now_ms}, 'stored', 'llm')"
        ),
    )
    .await;
    for (topic, offset, reason) in [
        ("t.events", 7, "too late for meter a"),
        ("t.events", 7, "too late for meter b"),
        ("t.quarantine", 3, "data must be an object"),
    ] {
        insert(
            &analytics,
            &format!(
                "INSERT INTO quarantine (tenant_id, ingest_date, ingest_time_ms, topic, \
                 kafka_partition, kafka_offset, position, reason) \
                 VALUES ('{tenant}', '{today}', {now_ms}, '{topic}', 0, {offset}, 0, '{reason}')"
            ),
        )
        .await;
    }
    let traffic = analytics
        .traffic_last_hour(tenant, 5)
        .await
        .expect("reads the traffic");
    let accepted: u64 = traffic.minutes.iter().map(|minute| minute.accepted).sum();
    let rejected: u64 = traffic.minutes.iter().map(|minute| minute.rejected).sum();
    assert_eq!((accepted, rejected), (1, 1));
}
