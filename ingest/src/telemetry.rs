//! What the ingest tier tells operators, in one place: its Prometheus metric names and, in the
//! manner of vector's internal events, one small struct per thing that happens, whose `emit`
//! writes its log line and counts its metrics together. Call sites build an event and emit
//! it; no other module names a metric or repeats a log message. `tally serve` gives each
//! request its span.

use std::fmt::Display;
use std::time::Duration;

use axum::http::StatusCode;
use tally_meter::ids::TenantId;
use tracing::Span;

/// Counter of HTTP requests, by `endpoint` and `status`.
pub const REQUESTS: &str = "tally_ingest_requests_total";
/// Histogram of request latency in seconds, by `endpoint`.
pub const REQUEST_DURATION: &str = "tally_ingest_request_duration_seconds";
/// Counter of events, by `outcome`: accepted, rejected (quarantined), throttled, unavailable.
pub const EVENTS: &str = "tally_ingest_events_total";
/// Counter of event bytes as received, by `outcome`.
pub const BYTES: &str = "tally_ingest_bytes_total";
/// Histogram of the time from handing a request's records to the Kafka producer until the
/// broker acknowledged every one of them, in seconds, for the requests it acknowledged.
pub const PRODUCE_ACK_DURATION: &str = "tally_ingest_produce_ack_seconds";

/// Records the tenant on the current handler's span (declared with `tenant = Empty`), once
/// the request's key named it.
pub(crate) fn record_tenant(tenant: TenantId) {
    Span::current().record("tenant", tracing::field::display(tenant));
}

/// A request was answered.
pub(crate) struct RequestServed {
    /// The route's path pattern, or `unmatched`.
    pub endpoint: String,
    /// The answer's status.
    pub status: StatusCode,
    /// From the request's arrival to its answer.
    pub elapsed: Duration,
}

impl RequestServed {
    pub(crate) fn emit(self) {
        metrics::histogram!(REQUEST_DURATION, "endpoint" => self.endpoint.clone())
            .record(self.elapsed.as_secs_f64());
        metrics::counter!(
            REQUESTS,
            "endpoint" => self.endpoint,
            "status" => self.status.as_u16().to_string()
        )
        .increment(1);
    }
}

/// A request's events were refused as a whole: the tenant is over its rate.
pub(crate) struct EventsThrottled {
    /// The tenant.
    pub tenant: TenantId,
    /// The request's events.
    pub events: usize,
}

impl EventsThrottled {
    pub(crate) fn emit(self) {
        tracing::debug!(tenant = %self.tenant, events = self.events, "events throttled");
        metrics::counter!(EVENTS, "outcome" => "throttled").increment(self.events as u64);
    }
}

/// Kafka did not acknowledge a request's records, so none of its events is accepted.
pub(crate) struct EventsUnacknowledged<'a> {
    /// The tenant.
    pub tenant: TenantId,
    /// The request's events.
    pub events: usize,
    /// Why.
    pub error: &'a dyn Display,
}

impl EventsUnacknowledged<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(tenant = %self.tenant, error = %self.error, "events not acknowledged by kafka");
        metrics::counter!(EVENTS, "outcome" => "unavailable").increment(self.events as u64);
    }
}

/// A request's events are in Kafka: the accepted ones, and the rejected ones in quarantine.
pub(crate) struct EventsStored {
    /// The tenant.
    pub tenant: TenantId,
    /// Events accepted.
    pub accepted: usize,
    /// Events rejected and quarantined.
    pub rejected: usize,
    /// Bytes of the accepted events, as received.
    pub accepted_bytes: usize,
    /// From handing the records to the producer to the broker's acknowledgement of them all.
    pub acknowledged_in: Duration,
}

impl EventsStored {
    pub(crate) fn emit(self) {
        tracing::trace!(
            tenant = %self.tenant,
            accepted = self.accepted,
            rejected = self.rejected,
            "events stored"
        );
        metrics::counter!(EVENTS, "outcome" => "accepted").increment(self.accepted as u64);
        metrics::counter!(EVENTS, "outcome" => "rejected").increment(self.rejected as u64);
        metrics::counter!(BYTES, "outcome" => "accepted").increment(self.accepted_bytes as u64);
        metrics::histogram!(PRODUCE_ACK_DURATION).record(self.acknowledged_in.as_secs_f64());
    }
}

/// Platform metering records could not be sent; they are kept and sent again.
pub(crate) struct MeteringNotSent<'a> {
    /// How many records.
    pub records: usize,
    /// Why.
    pub error: &'a dyn Display,
}

impl MeteringNotSent<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(
            error = %self.error,
            records = self.records,
            "cannot send metering records; will retry"
        );
    }
}

/// Declares events that only log a warning with their `error`: a struct per event, as the
/// others are, without writing out each one's `emit`.
macro_rules! warnings {
    ($($(#[$doc:meta])* $name:ident => $message:literal,)*) => {$(
        $(#[$doc])*
        pub(crate) struct $name<'a> {
            /// Why.
            pub error: &'a dyn Display,
        }

        impl $name<'_> {
            pub(crate) fn emit(self) {
                tracing::warn!(error = %self.error, $message);
            }
        }
    )*};
}

warnings! {
    /// The catalog could not be asked about an API key; the request is answered 503.
    KeyLookupFailed => "cannot look up an api key",
    /// The blocking task that inflates a gzip body failed; the request is answered 503.
    GzipTaskFailed => "gzip decompression task failed",
    /// A delivery failed and the Kafka producer was replaced by a fresh one.
    ProducerReplaced => "replacing the kafka producer after a failed delivery",
    /// A fresh Kafka producer could not be created; the old one stays.
    ProducerNotCreated => "cannot create a new kafka producer",
    /// A record could not be queued in the Kafka producer; the request is answered 503.
    RecordNotEnqueued => "cannot enqueue a kafka record",
    /// Records were still queued when the shutdown flush gave up.
    RecordsUndeliveredAtShutdown => "kafka records left undelivered at shutdown",
    /// A freshness canary could not find the platform tenant, be sent or be read back.
    CanaryNotMeasured => "freshness canary failed",
    /// The ingest policy could not be reloaded from the catalog; the last one stays in force.
    PolicyNotRefreshed => "cannot refresh ingest policy; keeping the last one",
    /// The quota usage counted since the last refresh could not be written at shutdown.
    QuotaUsageNotRecorded => "cannot record quota usage at shutdown",
}
