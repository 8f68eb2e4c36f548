//! The API's router in process, and requests to it.

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use tally_api::{Api, ApiConfig, Services};
use tally_ingest::IngestConfig;
use tally_meter::aggregator::AggregatorConfig;
use tally_meter::api_key::Scope;
use tally_meter::caps::Caps;
use tally_meter::catalog::Catalog;
use tally_meter::ids::TenantId;
use tally_testkit::Namespace;
pub use tally_testkit::http::Answer;
use tally_testkit::store::{key_for, tenant_with_key};

/// The API of one node over a test's namespace.
pub struct Node {
    router: Router,
}

impl Node {
    /// Builds the API as `tally serve --roles api` does, with the default limits and caps.
    pub async fn start(namespace: &Namespace, config: ApiConfig) -> Self {
        let services = Services {
            catalog: namespace.catalog().await,
            analytics: namespace.analytics(),
            default_limits: IngestConfig::default().default_limits(),
            caps: Caps::default(),
            raw_retention_days: AggregatorConfig::default().raw_retention_days,
        };
        Self {
            router: tally_api::router(Api::new(services, config)),
        }
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        tally_testkit::http::send(&self.router, request).await
    }

    /// Posts a GraphQL query with a key.
    pub async fn graphql(&self, key: &str, query: &str, variables: Value) -> Answer {
        let body = json!({ "query": query, "variables": variables }).to_string();
        self.send(
            Request::post("/graphql")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("a valid request"),
        )
        .await
    }

    /// Posts a GraphQL query with a key, insisting that it has no errors; returns its data.
    pub async fn data(&self, key: &str, query: &str, variables: Value) -> Value {
        let answer = self.graphql(key, query, variables).await.json();
        assert!(answer["errors"].is_null(), "{query}: {answer}");
        answer["data"].clone()
    }

    /// Posts a GraphQL query with a key, insisting that it is refused with the error code
    /// `code`.
    pub async fn assert_refused(&self, key: &str, query: &str, variables: Value, code: &str) {
        let shown = format!("{query} {variables}");
        let answer = self.graphql(key, query, variables).await.json();
        assert_eq!(first_error(&answer).0, Some(code), "{shown}: {answer}");
    }

    /// GETs a path, such as an export, with a key.
    pub async fn get(&self, key: &str, path_and_query: &str) -> Answer {
        self.send(
            Request::get(path_and_query)
                .header("authorization", format!("Bearer {key}"))
                .body(Body::empty())
                .expect("a valid request"),
        )
        .await
    }

    /// Creates meter `calls` (COUNT of `call` events, grouped by `user`) and returns its id.
    pub async fn create_meter(&self, admin: &str) -> String {
        let body = self
            .graphql(
                admin,
                "mutation { createMeter(input: { key: \"calls\", eventType: \"call\", aggregation: COUNT, groupBy: [{ name: \"user\", path: \"$.user\" }] }) { id } }",
                json!({}),
            )
            .await
            .json();
        body["data"]["createMeter"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("creates a meter: {body}"))
            .to_owned()
    }
}

/// What most tests here start from: a namespace, the API over it, and a tenant with an admin
/// key and a read key.
pub struct Tenant {
    /// The namespace the tenant lives in.
    pub namespace: Namespace,
    /// The namespace's catalog.
    pub catalog: Catalog,
    /// The API over the namespace, with the default config.
    pub node: Node,
    /// The tenant.
    pub id: TenantId,
    /// The tenant's admin key.
    pub admin: String,
    /// The tenant's read key.
    pub reader: String,
}

impl Tenant {
    /// Creates a migrated namespace, the API over it and a tenant with an admin and a read key.
    pub async fn start() -> Self {
        let namespace = Namespace::migrated().await;
        let catalog = namespace.catalog().await;
        let node = Node::start(&namespace, ApiConfig::default()).await;
        let (id, admin) = tenant_with_key(&catalog, Scope::Admin).await;
        let reader = key_for(&catalog, id, Scope::Read).await;
        Self {
            namespace,
            catalog,
            node,
            id,
            admin,
            reader,
        }
    }
}

/// The `extensions.code` and message of the first error, if any.
pub fn first_error(body: &Value) -> (Option<&str>, &str) {
    let error = &body["errors"][0];
    (
        error["extensions"]["code"].as_str(),
        error["message"].as_str().unwrap_or_default(),
    )
}
