//! An ingest node in process, and requests to it.

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use tally_ingest::{Ingest, IngestConfig};
use tally_testkit::Namespace;
pub use tally_testkit::http::Answer;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

/// The content type of a batch of CloudEvents.
pub const BATCH: &str = "application/cloudevents-batch+json";

/// The ingest router of one node, with its background loops; they stop when it is dropped.
pub struct Node {
    router: Router,
    _stop: DropGuard,
}

impl Node {
    /// Starts ingest on the namespace's catalog and topics.
    pub async fn start(namespace: &Namespace, config: IngestConfig) -> Self {
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let ingest = Ingest::start(
            &config,
            namespace.catalog().await,
            &namespace.kafka,
            shutdown.clone(),
            &tasks,
        )
        .await
        .expect("ingest starts");
        Self {
            router: tally_ingest::router(ingest),
            _stop: shutdown.drop_guard(),
        }
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        tally_testkit::http::send(&self.router, request).await
    }

    /// Posts a body to `/v1/events` with a content type and, when given, a bearer key.
    pub async fn post(
        &self,
        key: Option<&str>,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Answer {
        self.post_to("/v1/events", key, content_type, body).await
    }

    /// Posts a body to a path with a content type and, when given, a bearer key.
    pub async fn post_to(
        &self,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Answer {
        let mut request = Request::post(path).header("content-type", content_type);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        self.send(request.body(body.into()).expect("a valid request"))
            .await
    }

    /// Posts a batch of CloudEvents.
    pub async fn post_batch(&self, key: &str, batch: &Value) -> Answer {
        self.post(Some(key), BATCH, batch.to_string()).await
    }
}

/// A valid CloudEvent of about 300 bytes, timed now.
pub fn event(id: &str) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": "sensor/7",
        "type": "reading",
        "subject": "room-1",
        "time": chrono::Utc::now().to_rfc3339(),
        "data": { "celsius": 21.5, "padding": "x".repeat(180) }
    })
}
