//! A stub of Stripe's API for the sync's tests, speaking its wire format as of the API version
//! async-stripe 0.41 pins (2023-10-16): form-encoded requests with a bearer secret key, and
//! JSON objects of the shapes Stripe returns (`customer`, `invoiceitem`, `invoice` with its
//! `lines`), ids with Stripe's prefixes. An `Idempotency-Key` seen before replays the stored
//! response and makes nothing new; the same key with other parameters is an
//! `idempotency_error`, as in Stripe. Every request and object is kept for the test to read,
//! and [`StripeStub::hold`] stops answering one chosen request after it took effect, so that
//! a test can kill the client between two calls. [`sign`] signs webhook events as Stripe does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;

/// A request the stub received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `POST /v1/invoiceitems` and the like.
    pub method: String,
    /// The path.
    pub path: String,
    /// The `Idempotency-Key`, if sent.
    pub idempotency_key: Option<String>,
    /// The form's fields, in the order sent.
    pub form: Vec<(String, String)>,
    /// Whether the stub answered it from a stored response.
    pub replayed: bool,
}

/// A response kept for its idempotency key: the path and sorted form it answered, its status
/// and body.
#[derive(Clone)]
struct Reply {
    path: String,
    form: Vec<(String, String)>,
    status: u16,
    body: Value,
}

#[derive(Default)]
struct Objects {
    next_id: u64,
    customers: Vec<Value>,
    invoices: Vec<Value>,
    invoice_items: Vec<Value>,
    /// Responses by idempotency key, with the path and sorted form they answered.
    replies: HashMap<String, Reply>,
    requests: Vec<Recorded>,
    /// The path of the request to hold and how many more of it to answer before.
    hold: Option<(String, usize)>,
}

#[derive(Default)]
struct Shared {
    objects: Mutex<Objects>,
    held: Notify,
}

/// A running stub, serving until dropped.
pub struct StripeStub {
    /// `http://127.0.0.1:PORT`, for `billing.stripe.api_base`.
    pub base: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StripeStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl StripeStub {
    /// Starts a stub on a free loopback port.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the stub serves");
        });
        Self {
            base: format!("http://{address}"),
            shared,
            server,
        }
    }

    fn objects(&self) -> MutexGuard<'_, Objects> {
        self.shared.objects.lock().expect("the stub's lock")
    }

    /// Answers `after` more requests to `path` (such as `/v1/invoiceitems`), then takes the
    /// next one into effect but never answers it; [`StripeStub::held`] returns once it did.
    pub fn hold(&self, path: &str, after: usize) {
        self.objects().hold = Some((path.to_owned(), after));
    }

    /// Waits until the held request arrived.
    pub async fn held(&self) {
        self.shared.held.notified().await;
    }

    /// The customers made.
    pub fn customers(&self) -> Vec<Value> {
        self.objects().customers.clone()
    }

    /// The invoices made, as they are now.
    pub fn invoices(&self) -> Vec<Value> {
        self.objects().invoices.clone()
    }

    /// The invoice items made.
    pub fn invoice_items(&self) -> Vec<Value> {
        self.objects().invoice_items.clone()
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<Recorded> {
        self.objects().requests.clone()
    }

    /// Marks an invoice paid, as a payment would, and returns it.
    pub fn pay(&self, invoice_id: &str) -> Value {
        let mut objects = self.objects();
        let invoice = objects
            .invoices
            .iter_mut()
            .find(|invoice| invoice["id"] == invoice_id)
            .expect("the invoice exists");
        invoice["status"] = json!("paid");
        invoice["paid"] = json!(true);
        invoice["amount_paid"] = invoice["amount_due"].clone();
        invoice["amount_remaining"] = json!(0);
        invoice.clone()
    }
}

/// A Stripe event of `kind` about `object`, as a webhook delivers it.
pub fn event(kind: &str, object: &Value, created: i64) -> Value {
    json!({
        "id": format!("evt_{}", crate::random_id()),
        "object": "event",
        "api_version": "2023-10-16",
        "created": created,
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind,
    })
}

/// The `Stripe-Signature` header of a payload signed with `secret` at `timestamp`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn error(status: StatusCode, kind: &str, message: &str) -> (u16, Value) {
    (
        status.as_u16(),
        json!({"error": {"type": kind, "message": message}}),
    )
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let authorized = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("Bearer sk_"));
    let (status, body, hold) = {
        let mut objects = shared.objects.lock().expect("the stub's lock");
        let mut sorted = form.clone();
        sorted.sort();
        let stored = key
            .as_ref()
            .and_then(|key| objects.replies.get(key).cloned());
        let replayed = stored.is_some();
        objects.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            idempotency_key: key.clone(),
            form: form.clone(),
            replayed,
        });
        let (status, body) = match stored {
            Some(reply) => {
                if reply.path == path && reply.form == sorted {
                    (reply.status, reply.body)
                } else {
                    error(
                        StatusCode::BAD_REQUEST,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same \
                         parameters they were first used with.",
                    )
                }
            }
            None if !authorized => error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "Invalid API Key provided.",
            ),
            None => {
                let fields: HashMap<String, String> = form.iter().cloned().collect();
                let (status, body) = objects.apply(&method, &path, &fields);
                if let Some(key) = &key {
                    let reply = Reply {
                        path: path.clone(),
                        form: sorted,
                        status,
                        body: body.clone(),
                    };
                    objects.replies.insert(key.clone(), reply);
                }
                (status, body)
            }
        };
        let hold = match &mut objects.hold {
            Some((held_path, after)) if *held_path == path && !replayed => {
                if *after == 0 {
                    objects.hold = None;
                    true
                } else {
                    *after -= 1;
                    false
                }
            }
            _ => false,
        };
        (status, body, hold)
    };
    if hold {
        shared.held.notify_one();
        std::future::pending::<()>().await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

impl Objects {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_stub{:08}{}", self.next_id, crate::random_id())
    }

    fn apply(
        &mut self,
        method: &Method,
        path: &str,
        fields: &HashMap<String, String>,
    ) -> (u16, Value) {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let now = chrono_now();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "customers"]) => {
                let customer = json!({
                    "id": self.id("cus"), "object": "customer", "created": now,
                    "name": fields.get("name"), "email": fields.get("email"),
                    "description": fields.get("description"), "balance": 0,
                    "delinquent": false, "livemode": false,
                    "metadata": metadata(fields), "preferred_locales": [],
                });
                self.customers.push(customer.clone());
                (200, customer)
            }
            ("POST", ["v1", "invoices"]) => {
                let Some(customer) = fields.get("customer") else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_error",
                        "Missing required param: customer.",
                    );
                };
                let id = self.id("in");
                let invoice = json!({
                    "id": id, "object": "invoice", "customer": customer,
                    "currency": fields.get("currency").map_or("usd", String::as_str),
                    "status": "draft", "created": now, "livemode": false,
                    "auto_advance": fields.get("auto_advance").is_none_or(|value| value == "true"),
                    "collection_method": fields.get("collection_method")
                        .map_or("charge_automatically", String::as_str),
                    "description": fields.get("description"), "metadata": metadata(fields),
                    "number": null, "paid": false, "attempted": false,
                    "amount_due": 0, "amount_paid": 0, "amount_remaining": 0,
                    "subtotal": 0, "total": 0,
                    "lines": {"object": "list", "data": [], "has_more": false,
                              "url": format!("/v1/invoices/{id}/lines")},
                    "status_transitions": {"finalized_at": null, "paid_at": null,
                                           "voided_at": null, "marked_uncollectible_at": null},
                });
                self.invoices.push(invoice.clone());
                (200, invoice)
            }
            ("POST", ["v1", "invoiceitems"]) => self.invoice_item(fields, now),
            ("POST", ["v1", "invoices", id, "finalize"]) => {
                let number = format!("STUB-{:04}", self.next_id);
                let invoice = match self.draft_invoice(
                    id,
                    "This invoice is already finalized, you can't re-finalize a non-draft \
                     invoice.",
                ) {
                    Ok(invoice) => invoice,
                    Err(refused) => return refused,
                };
                invoice["status"] = json!("open");
                invoice["number"] = json!(number);
                invoice["status_transitions"]["finalized_at"] = json!(now);
                if let Some(auto_advance) = fields.get("auto_advance") {
                    invoice["auto_advance"] = json!(auto_advance == "true");
                }
                (200, invoice.clone())
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("Unrecognized request URL ({method} {path})."),
            ),
        }
    }

    /// The draft invoice `id`, or the error Stripe answers a request on it with: not found, or
    /// `not_draft` when it is no longer a draft.
    fn draft_invoice(&mut self, id: &str, not_draft: &str) -> Result<&mut Value, (u16, Value)> {
        let Some(invoice) = self
            .invoices
            .iter_mut()
            .find(|invoice| invoice["id"] == *id)
        else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("No such invoice: '{id}'"),
            ));
        };
        if invoice["status"] != "draft" {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                not_draft,
            ));
        }
        Ok(invoice)
    }

    fn invoice_item(&mut self, fields: &HashMap<String, String>, now: i64) -> (u16, Value) {
        let Some(amount) = fields
            .get("amount")
            .and_then(|amount| amount.parse::<i64>().ok())
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "Missing required param: amount.",
            );
        };
        let id = self.id("ii");
        let line_id = self.id("il");
        let currency = fields.get("currency").cloned().unwrap_or_default();
        let item = json!({
            "id": id, "object": "invoiceitem", "amount": amount, "currency": currency,
            "customer": fields.get("customer"), "date": now,
            "description": fields.get("description"), "discountable": true, "discounts": [],
            "invoice": fields.get("invoice"), "livemode": false, "metadata": metadata(fields),
            "period": {"start": now, "end": now}, "proration": false, "quantity": 1,
            "unit_amount": amount, "unit_amount_decimal": amount.to_string(),
        });
        if let Some(invoice_id) = fields.get("invoice") {
            let invoice = match self.draft_invoice(
                invoice_id,
                "Invoice items can only be added to draft invoices.",
            ) {
                Ok(invoice) => invoice,
                Err(refused) => return refused,
            };
            let line = json!({
                "id": line_id, "object": "line_item", "amount": amount,
                "amount_excluding_tax": amount, "currency": currency,
                "description": fields.get("description"), "discount_amounts": [],
                "discountable": true, "discounts": [], "invoice_item": id, "livemode": false,
                "metadata": metadata(fields), "period": {"start": now, "end": now},
                "plan": null, "price": null, "proration": false, "proration_details": null,
                "quantity": 1, "subscription": null, "type": "invoiceitem",
                "unit_amount_excluding_tax": amount.to_string(),
            });
            if let Some(lines) = invoice["lines"]["data"].as_array_mut() {
                lines.push(line);
            }
            for total in ["subtotal", "total", "amount_due", "amount_remaining"] {
                let sum = invoice[total].as_i64().unwrap_or(0) + amount;
                invoice[total] = json!(sum);
            }
        }
        self.invoice_items.push(item.clone());
        (200, item)
    }
}

/// `metadata[KEY]` fields as an object.
fn metadata(fields: &HashMap<String, String>) -> Value {
    let entries: serde_json::Map<String, Value> = fields
        .iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), json!(value)))
        })
        .collect();
    Value::Object(entries)
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}
