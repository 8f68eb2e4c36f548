//! An ingest node in process, and requests to it.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use tally_ingest::{Ingest, IngestConfig};
use tally_testkit::Namespace;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

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
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("reads the body");
        Answer {
            status,
            headers,
            body,
        }
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

/// A response, read whole.
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
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
