//! The Alerts page's forms: create and delete a rule, set a receiver, set the routing tree,
//! and create or end a silence. Rules, receivers and routing trees are typed as the JSON the
//! command line reads (refilled when refused).

use std::collections::BTreeMap;

use axum::extract::{Form, Path};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use super::FormPost;
use crate::model::Flash;

/// A form of one JSON document, such as a rule.
#[derive(serde::Deserialize)]
pub(in crate::server) struct JsonForm {
    spec: String,
}

/// The new silence form, as typed.
#[derive(serde::Deserialize)]
pub(in crate::server) struct SilenceForm {
    matchers: String,
    duration: String,
    comment: String,
}

/// A JSON document that one of the page's forms sets: the form's field, the mutation that
/// takes it as `$spec`, and what the next page says once it is set.
struct JsonDocument {
    field: &'static str,
    mutation: &'static str,
    done: fn(Value) -> Flash,
}

/// An alert rule, created.
const RULE: JsonDocument = JsonDocument {
    field: "rule",
    mutation: "mutation($spec: JSON!) { createAlertRule(spec: $spec) { name } }",
    done: |data| {
        Flash::notice(format!(
            "Alert rule {} created.",
            data["createAlertRule"]["name"].as_str().unwrap_or_default()
        ))
    },
};

/// A receiver, created or replaced.
const RECEIVER: JsonDocument = JsonDocument {
    field: "receiver",
    mutation: "mutation($spec: JSON!) { setAlertReceiver(spec: $spec) }",
    done: |_| Flash::notice("Receiver set."),
};

/// The routing tree.
const ROUTING: JsonDocument = JsonDocument {
    field: "routing",
    mutation: "mutation($spec: JSON!) { setAlertRouting(spec: $spec) }",
    done: |_| Flash::notice("Routing tree set."),
};

impl JsonDocument {
    /// Runs the document's mutation with the JSON typed in `text`; a document that is not JSON
    /// comes back with the reason, refilled.
    async fn set(&self, post: &FormPost, text: &str) -> Response {
        match serde_json::from_str::<Value>(text) {
            Ok(spec) => {
                post.mutate("/alerts", self.mutation, json!({ "spec": spec }), self.done)
                    .await
            }
            Err(error) => post.refuse(
                "/alerts",
                format!("That is not JSON: {error}."),
                BTreeMap::from([(self.field.to_owned(), text.to_owned())]),
            ),
        }
    }
}

/// Creates a rule from its JSON.
pub(in crate::server) async fn create_rule(post: FormPost, Form(form): Form<JsonForm>) -> Response {
    RULE.set(&post, &form.spec).await
}

/// Deletes a rule.
pub(in crate::server) async fn delete_rule(post: FormPost, Path(name): Path<String>) -> Response {
    post.mutate(
        "/alerts",
        "mutation($name: String!) { deleteAlertRule(name: $name) }",
        json!({ "name": name }),
        |_| Flash::notice(format!("Alert rule {name} deleted.")),
    )
    .await
}

/// Creates or replaces a receiver from its JSON.
pub(in crate::server) async fn set_receiver(
    post: FormPost,
    Form(form): Form<JsonForm>,
) -> Response {
    RECEIVER.set(&post, &form.spec).await
}

/// Sets the routing tree from its JSON.
pub(in crate::server) async fn set_routing(post: FormPost, Form(form): Form<JsonForm>) -> Response {
    ROUTING.set(&post, &form.spec).await
}

/// Creates a silence from `name=value` matchers and a duration such as `2h`.
pub(in crate::server) async fn create_silence(
    post: FormPost,
    Form(form): Form<SilenceForm>,
) -> Response {
    let typed = BTreeMap::from([
        ("matchers".to_owned(), form.matchers.clone()),
        ("duration".to_owned(), form.duration.clone()),
        ("comment".to_owned(), form.comment.clone()),
    ]);
    let refuse = |text: String| post.refuse("/alerts", text, typed.clone());
    let mut matchers = serde_json::Map::new();
    for entry in form
        .matchers
        .split([',', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let Some((name, value)) = entry.split_once('=') else {
            return refuse(format!(
                "Matchers are name=value, such as subject=s1; got {entry:?}."
            ));
        };
        matchers.insert(name.trim().to_owned(), Value::from(value.trim()));
    }
    let Some(ends_at) = parse_duration(&form.duration).map(|duration| Utc::now() + duration) else {
        return refuse(format!(
            "The duration is a number and a unit, such as 30m or 2h; got {:?}.",
            form.duration
        ));
    };
    post.mutate(
        "/alerts",
        "mutation($matchers: JSON!, $endsAt: DateTime!, $comment: String!) {
           createSilence(matchers: $matchers, endsAt: $endsAt, comment: $comment) { id } }",
        json!({ "matchers": matchers, "endsAt": ends_at, "comment": form.comment }),
        |_| Flash::notice("Silence created."),
    )
    .await
}

/// `30m`, `2h`, `1d` (minutes, hours or days).
fn parse_duration(text: &str) -> Option<chrono::Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let number: i64 = number.trim().parse().ok().filter(|number| *number > 0)?;
    match unit {
        "m" => chrono::Duration::try_minutes(number),
        "h" => chrono::Duration::try_hours(number),
        "d" => chrono::Duration::try_days(number),
        _ => None,
    }
}

/// Ends a silence now.
pub(in crate::server) async fn expire_silence(post: FormPost, Path(id): Path<String>) -> Response {
    post.mutate(
        "/alerts",
        "mutation($id: ID!) { expireSilence(id: $id) }",
        json!({ "id": id }),
        |_| Flash::notice("Silence ended."),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_minutes_hours_or_days() {
        assert_eq!(parse_duration("30m"), Some(chrono::Duration::minutes(30)));
        assert_eq!(parse_duration(" 2h "), Some(chrono::Duration::hours(2)));
        assert_eq!(parse_duration("1d"), Some(chrono::Duration::days(1)));
        for wrong in ["", "h", "0h", "-1h", "2w", "1.5h"] {
            assert_eq!(parse_duration(wrong), None, "{wrong}");
        }
    }
}
