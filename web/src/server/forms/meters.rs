//! The meters page's forms: create a meter (refilled when refused), delete one.

use std::collections::BTreeMap;

use axum::extract::{Form, Path};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::FormPost;
use crate::model::Flash;
use crate::server::bridge::run;

/// The new meter form, as typed.
#[derive(serde::Deserialize, serde::Serialize)]
pub(in crate::server) struct MeterForm {
    key: String,
    event_type: String,
    aggregation: String,
    #[serde(default)]
    value_path: String,
    #[serde(default)]
    group_by: String,
    #[serde(default)]
    allowed_lateness_secs: String,
}

/// Creates a meter; a refused form comes back filled with what was typed.
pub(in crate::server) async fn create_meter(
    post: FormPost,
    Form(form): Form<MeterForm>,
) -> Response {
    // What was typed, to fill the form again if it is refused.
    let fields: BTreeMap<String, String> = serde_json::to_value(&form)
        .and_then(serde_json::from_value)
        .unwrap_or_default();
    let refuse = |text: String| post.refuse("/meters", text, fields.clone());
    let group_by = match parse_group_by(&form.group_by) {
        Ok(group_by) => group_by,
        Err(message) => return refuse(message),
    };
    let lateness = form.allowed_lateness_secs.trim();
    let lateness: u64 = if lateness.is_empty() {
        0
    } else {
        match lateness.parse() {
            Ok(seconds) => seconds,
            Err(_) => return refuse("Allowed lateness must be a whole number of seconds.".into()),
        }
    };
    let value_path = form.value_path.trim();
    let input = json!({
        "key": form.key.trim(),
        "eventType": form.event_type.trim(),
        "aggregation": form.aggregation,
        "valuePath": (!value_path.is_empty()).then_some(value_path),
        "groupBy": group_by,
        "allowedLatenessSecs": lateness,
    });
    let Some(caller) = post.caller() else {
        return Redirect::to("/login").into_response();
    };
    match run(
        &post.web,
        caller,
        "mutation($input: MeterInput!) { createMeter(input: $input) { key } }",
        json!({ "input": input }),
    )
    .await
    {
        Ok(_) => post.redirect(
            "/meters",
            &Flash::notice(format!("Meter {} created.", form.key.trim())),
        ),
        Err(message) => refuse(message),
    }
}

/// Parses `name=path` entries separated by commas or new lines.
fn parse_group_by(text: &str) -> Result<Vec<Value>, String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, path) = entry.split_once('=').ok_or_else(|| {
                format!("Group by entries are name=path, such as region=$.region; got {entry:?}.")
            })?;
            Ok(json!({ "name": name.trim(), "path": path.trim() }))
        })
        .collect()
}

/// Deletes a meter.
pub(in crate::server) async fn delete_meter(post: FormPost, Path(key): Path<String>) -> Response {
    post.mutate(
        "/meters",
        "mutation($key: String!) { deleteMeter(key: $key) }",
        json!({ "key": key }),
        |_| Flash::notice(format!("Meter {key} deleted.")),
    )
    .await
}
