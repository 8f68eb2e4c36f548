//! The freshness canary, run beside each aggregator (the meter role): every
//! `meter.canary_interval_secs`, one synthetic event of the platform tenant (type
//! `tally.canary`) goes to the events topic, and the canary reads the tenant's raw events in
//! ClickHouse until it shows up. The delay from before the send to the first read that shows
//! it is observed as `tally.freshness` `{"delay_ms": N}` for the platform's freshness SLO
//! (see [`crate::metering`]). A canary that cannot be sent, or is not queryable within
//! [`MAX_WAIT`], is observed as `{"lost": true}`: bad, whatever the SLO's threshold. The next
//! canary goes once this one is measured. Without a platform tenant there is no one to send
//! as, and no canary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use tally_meter::analytics::Analytics;
use tally_meter::analytics::events::RawEventFilter;
use tally_meter::bus::KafkaConfig;
use tally_meter::catalog::{Catalog, tenants};
use tally_meter::event::{Event, EventBatch, WIRE_VERSION};
use tally_meter::ids::TenantId;
use tally_meter::sli::FRESHNESS;
use tally_meter::ticks::Ticks;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metering::Metering;
use crate::producer::{OutRecord, ProduceError, Producer};
use crate::telemetry::CanaryNotMeasured;

/// How often the canary reads ClickHouse while it waits.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long a canary may take to become queryable before it counts as lost.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The event type of canaries; the platform's SLOs count their delays, never the canaries.
const CANARY_TYPE: &str = "tally.canary";

/// Why a canary was lost.
#[derive(Debug, thiserror::Error)]
enum NotMeasured {
    #[error("cannot send the canary: {0}")]
    Send(ProduceError),
    #[error("cannot read the canary back: {0}")]
    Read(tally_meter::Error),
}

/// One aggregator's canary.
pub struct Canary {
    node: String,
    interval: Duration,
    catalog: Catalog,
    analytics: Analytics,
    producer: Producer,
    metering: Metering,
}

impl Canary {
    /// Starts sending a canary every `interval` on `tasks`, until `shutdown` fires.
    pub fn start(
        kafka: &KafkaConfig,
        produce_timeout: Duration,
        (catalog, analytics): (Catalog, Analytics),
        interval: Duration,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> tally_meter::Result<()> {
        let node = format!("canary-{}", uuid::Uuid::new_v4().simple());
        let canary = Arc::new(Self {
            metering: Metering::new(node.clone()),
            node,
            interval,
            catalog,
            analytics,
            producer: Producer::new(kafka, produce_timeout)?,
        });
        let sending = Arc::clone(&canary);
        let stop = shutdown.clone();
        tasks.spawn(async move { sending.metering.run(&sending.producer, stop).await });
        tasks.spawn(async move { canary.run(shutdown).await });
        Ok(())
    }

    async fn run(&self, shutdown: CancellationToken) {
        let mut ticks = Ticks::new(self.interval, &shutdown);
        while ticks.next().await {
            tokio::select! {
                () = self.measure_once() => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Sends one canary and observes how long it took to become queryable.
    async fn measure_once(&self) {
        let tenant = match tenants::platform(&self.catalog).await {
            Ok(Some(tenant)) => tenant,
            Ok(None) => return,
            Err(error) => {
                // Without the catalog the canary cannot tell whom to send as; it tries again.
                CanaryNotMeasured { error: &error }.emit();
                return;
            }
        };
        let observed = match self.delay(tenant).await {
            Ok(Some(delay)) => {
                json!({ "delay_ms": u64::try_from(delay.as_millis()).unwrap_or(u64::MAX) })
            }
            Ok(None) => json!({ "lost": true }),
            Err(error) => {
                CanaryNotMeasured { error: &error }.emit();
                json!({ "lost": true })
            }
        };
        self.metering.observe(FRESHNESS, observed);
    }

    /// Sends a canary of `tenant` and reads until it is queryable: the time from before the
    /// send to the end of the first read that shows it, or none within [`MAX_WAIT`].
    async fn delay(&self, tenant: TenantId) -> Result<Option<Duration>, NotMeasured> {
        let started = Instant::now();
        let now_ms = Utc::now().timestamp_millis();
        let id = uuid::Uuid::now_v7().to_string();
        let source = format!("tally/{}", self.node);
        let batch = EventBatch {
            v: WIRE_VERSION,
            tenant_id: tenant,
            ingest_time_ms: now_ms,
            events: vec![Event {
                id: id.clone(),
                source: source.clone(),
                event_type: CANARY_TYPE.to_owned(),
                subject: None,
                time_ms: now_ms,
                data: None,
            }],
        };
        self.producer
            .send_all(vec![OutRecord::events(format!("{tenant}/"), &batch)])
            .await
            .map_err(NotMeasured::Send)?;
        let filter = RawEventFilter {
            event_type: Some(CANARY_TYPE.to_owned()),
            subject: None,
            source: Some(source),
        };
        while started.elapsed() < MAX_WAIT {
            let newest = self
                .analytics
                .events_page(tenant, &filter, 1, None)
                .await
                .map_err(NotMeasured::Read)?;
            if newest.items.first().is_some_and(|event| event.id == id) {
                return Ok(Some(started.elapsed()));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Ok(None)
    }
}
