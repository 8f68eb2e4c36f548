//! Notifications, with Alertmanager's semantics, per tenant:
//!
//! - [`flush`]: the tenant's firing alerts, and those resolved since their group last
//!   notified, less the silenced ([`silence`]) and the inhibited ([`routing::Routing::inhibited`]),
//!   go down its routing tree ([`routing`]) to receivers and are grouped by the route's
//!   `group_by` labels. A new group waits `group_wait`; then it notifies when its firing alerts
//!   changed or some resolved, at most once per `group_interval`, and again every
//!   `repeat_interval` while alerts fire. A notification is written to the outbox in the
//!   transaction that moves its group on, so a crash loses none.
//! - [`deliver_due`]: notifications due in the outbox are leased, sent ([`deliver`]) each in
//!   its own task with a timeout, so that one tenant's slow receiver delays no one else's, and
//!   every attempt is logged; a failed one is retried with backoff (2 s doubling to an hour, 12
//!   attempts). Delivery is at least once: a notification carries the same idempotency key on
//!   every attempt, so a receiver drops one it already has.

pub mod deliver;
pub mod payload;
pub mod receiver;
pub mod routing;
pub mod silence;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use tally_meter::Result;
use tally_meter::catalog::Catalog;
use tally_meter::ids::TenantId;
use tokio::sync::Semaphore;

use crate::catalog::notifications::{self, Group, Settled};
use crate::catalog::series::{self, Alert};
use crate::catalog::{receivers, silences};
use crate::config::AlertingConfig;
use crate::state::State;

use self::payload::{Message, fingerprint, zero_time};
use self::routing::Routing;

/// Attempts before a notification is given up.
const MAX_ATTEMPTS: i32 = 12;

/// Notifications sent at once by one process.
pub const MAX_IN_FLIGHT: usize = 64;

/// Moves every tenant's notification groups on at `now`; returns how many notifications were
/// written. A tenant whose flush fails is logged and left for the next pass.
pub async fn flush(catalog: &Catalog, now: DateTime<Utc>) -> Result<u64> {
    let mut written = 0;
    for (tenant, routing) in receivers::all_routing(catalog).await? {
        match flush_tenant(catalog, tenant, &routing, now).await {
            Ok(count) => written += count,
            Err(error) => {
                tracing::warn!(tenant_id = %tenant, %error, "alert notifications not flushed");
            }
        }
    }
    Ok(written)
}

/// An alert as notifications see it.
struct Notifiable<'a> {
    alert: &'a Alert,
    fingerprint: String,
}

/// A group's alerts as this pass gathered them, with the route that sent them there.
struct Gathered<'a> {
    destination: routing::Destination,
    labels: BTreeMap<String, String>,
    members: Vec<Notifiable<'a>>,
}

async fn flush_tenant(
    catalog: &Catalog,
    tenant: TenantId,
    routing: &Routing,
    now: DateTime<Utc>,
) -> Result<u64> {
    let alerts = series::alerts(catalog, tenant).await?;
    let active_silences = silences::list(catalog, tenant, now).await?;
    let firing_labels: Vec<&BTreeMap<String, String>> = alerts
        .iter()
        .filter(|alert| alert.series.state.state == State::Firing)
        .map(|alert| &alert.series.labels.0)
        .collect();
    let kinds: HashMap<String, &'static str> = receivers::list(catalog, tenant)
        .await?
        .into_iter()
        .map(|receiver| (receiver.name, receiver.target.kind()))
        .collect();
    // Groups by receiver and group key, with their route's timings.
    let mut groups: BTreeMap<(String, String), Gathered> = BTreeMap::new();
    for alert in &alerts {
        let labels = &alert.series.labels.0;
        let state = alert.series.state.state;
        if !matches!(state, State::Firing | State::Resolved)
            || active_silences
                .iter()
                .any(|silence| silence.mutes(labels, now))
            || (state == State::Firing && routing.inhibited(labels, &firing_labels))
        {
            continue;
        }
        for destination in routing.route(labels) {
            let group_labels: BTreeMap<String, String> = destination
                .group_by
                .iter()
                .map(|name| (name.clone(), labels.get(name).cloned().unwrap_or_default()))
                .collect();
            let key = group_labels
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join(",");
            groups
                .entry((destination.receiver.clone(), key))
                .or_insert_with(|| Gathered {
                    destination,
                    labels: group_labels,
                    members: Vec::new(),
                })
                .members
                .push(Notifiable {
                    alert,
                    fingerprint: fingerprint(labels),
                });
        }
    }
    let kept: Vec<String> = groups
        .keys()
        .map(|(receiver, key)| format!("{receiver}/{key}"))
        .collect();
    notifications::forget_other_groups(catalog, tenant, &kept).await?;

    let mut written = 0;
    for (
        (receiver, key),
        Gathered {
            destination,
            labels: group_labels,
            members,
        },
    ) in groups
    {
        let Some(kind) = kinds.get(&receiver) else {
            continue;
        };
        let duration =
            |value: std::time::Duration| Duration::from_std(value).unwrap_or(Duration::MAX);
        let mut transaction = catalog.begin().await?;
        let group = notifications::lock_group(
            &mut transaction,
            tenant,
            &receiver,
            &key,
            now,
            now + duration(destination.group_wait),
        )
        .await?;
        if now < group.next_flush_at {
            transaction.commit().await?;
            continue;
        }
        let mut firing: Vec<&Notifiable> = members
            .iter()
            .filter(|member| member.alert.series.state.state == State::Firing)
            .collect();
        firing.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        // Resolved alerts are told once, and only to a group that told of alerts before.
        let resolved: Vec<&Notifiable> = members
            .iter()
            .filter(|member| {
                member.alert.series.state.state == State::Resolved
                    && group
                        .last_sent_at
                        .is_some_and(|sent| member.alert.series.state.since > sent)
            })
            .collect();
        let firing_prints: Vec<String> = firing
            .iter()
            .map(|member| member.fingerprint.clone())
            .collect();
        if firing.is_empty() && resolved.is_empty() {
            notifications::forget_group(&mut transaction, tenant, &receiver, &key).await?;
            transaction.commit().await?;
            continue;
        }
        let changed = firing_prints != group.last_firing || !resolved.is_empty();
        let repeat = !firing.is_empty()
            && group
                .last_sent_at
                .is_none_or(|sent| now - sent >= duration(destination.repeat_interval));
        if !(changed || repeat) {
            transaction.commit().await?;
            continue;
        }
        let sequence = group.sent + 1;
        let idempotency_key = {
            let mut hasher = Sha256::new();
            hasher.update(format!("{tenant}\0{receiver}\0{key}\0{sequence}"));
            hex::encode(&hasher.finalize()[..16])
        };
        let message = Message::new(
            &receiver,
            &format!("{receiver}/{{{key}}}"),
            group_labels,
            firing
                .iter()
                .chain(resolved.iter())
                .map(|member| to_payload(member))
                .collect(),
            idempotency_key,
        );
        notifications::enqueue(&mut transaction, tenant, kind, &message).await?;
        notifications::group_sent(
            &mut transaction,
            tenant,
            &receiver,
            &key,
            &Group {
                next_flush_at: now + duration(destination.group_interval),
                last_sent_at: Some(now),
                last_firing: firing_prints,
                sent: sequence,
            },
        )
        .await?;
        transaction.commit().await?;
        written += 1;
    }
    Ok(written)
}

fn to_payload(member: &Notifiable) -> payload::Alert {
    let series = &member.alert.series;
    let resolved = series.state.state == State::Resolved;
    let mut annotations = BTreeMap::new();
    if let Some(value) = series.value {
        annotations.insert("value".to_owned(), value.to_string());
    }
    payload::Alert {
        status: if resolved { "resolved" } else { "firing" }.to_owned(),
        labels: series.labels.0.clone(),
        annotations,
        starts_at: if resolved {
            series.state.last_breach.unwrap_or(series.state.since)
        } else {
            series.state.since
        },
        ends_at: if resolved {
            series.state.since
        } else {
            zero_time()
        },
        generator_url: String::new(),
        fingerprint: member.fingerprint.clone(),
    }
}

/// Delivers the notifications due now, each in a task of its own (at most [`MAX_IN_FLIGHT`] at
/// once per process, waiting for a slot); returns how many were started.
pub async fn deliver_due(
    catalog: &Catalog,
    config: &Arc<AlertingConfig>,
    slots: &Arc<Semaphore>,
) -> Result<usize> {
    let free = slots.available_permits();
    if free == 0 {
        return Ok(0);
    }
    let lease = config.delivery_timeout_secs.max(1) as f64 * 3.0;
    let due = notifications::claim_due(catalog, i64::try_from(free).unwrap_or(1), lease).await?;
    let started = due.len();
    for notification in due {
        let Ok(permit) = Arc::clone(slots).acquire_owned().await else {
            break;
        };
        let catalog = catalog.clone();
        let config = Arc::clone(config);
        tokio::spawn(async move {
            if let Err(error) = deliver_one(&catalog, &config, &notification).await {
                tracing::warn!(notification = notification.id, %error,
                    "a notification's attempt was not recorded; it is retried when its lease ends");
            }
            drop(permit);
        });
    }
    Ok(started)
}

async fn deliver_one(
    catalog: &Catalog,
    config: &AlertingConfig,
    notification: &notifications::Due,
) -> Result<()> {
    let attempt = notification.attempts + 1;
    let target = receivers::list(catalog, notification.tenant_id)
        .await?
        .into_iter()
        .find(|receiver| receiver.name == notification.receiver)
        .map(|receiver| receiver.target);
    let started = Instant::now();
    let (outcome, kind) = match &target {
        Some(target) => (
            deliver::send(config, target, &notification.message).await,
            target.kind(),
        ),
        None => (
            Err(format!(
                "receiver {} no longer exists",
                notification.receiver
            )),
            "none",
        ),
    };
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let settled = match (&outcome, &target) {
        (Ok(_), _) => Settled::Sent,
        (Err(_), Some(_)) if attempt < MAX_ATTEMPTS => {
            let backoff = 2i64
                .saturating_pow(u32::try_from(attempt).unwrap_or(31))
                .min(3600);
            Settled::Retry(Utc::now() + Duration::seconds(backoff))
        }
        (Err(_), _) => Settled::Failed,
    };
    let result = if outcome.is_ok() { "sent" } else { "failed" };
    metrics::counter!("tally_alerting_notifications_total", "kind" => kind, "outcome" => result)
        .increment(1);
    if let Err(error) = &outcome {
        tracing::warn!(tenant_id = %notification.tenant_id, receiver = %notification.receiver,
            attempt, %error, "notification not delivered");
    }
    let text = match &outcome {
        Ok(answer) => format!("sent: {answer}"),
        Err(error) => format!("failed: {error}"),
    };
    notifications::attempted(
        catalog,
        notification.id,
        attempt,
        &text,
        duration_ms,
        settled,
    )
    .await
}
