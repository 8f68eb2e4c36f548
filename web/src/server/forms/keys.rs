//! The keys page's forms: create an API key (its secret shown once), revoke one.

use axum::extract::{Form, Path};
use axum::response::Response;
use serde_json::json;

use super::FormPost;
use crate::model::Flash;

/// The new key form.
#[derive(serde::Deserialize)]
pub(in crate::server) struct KeyForm {
    scope: String,
}

/// Creates an API key; the next page shows its secret once.
pub(in crate::server) async fn create_key(post: FormPost, Form(form): Form<KeyForm>) -> Response {
    post.mutate(
        "/keys",
        "mutation($scope: Scope!) { createApiKey(scope: $scope) { key { prefix scope } secret } }",
        json!({ "scope": form.scope }),
        |data| {
            let created = &data["createApiKey"];
            let mut flash = Flash::notice(format!(
                "{} key created. Copy it now: Tally shows it only once.",
                created["key"]["scope"]
                    .as_str()
                    .unwrap_or("The")
                    .to_lowercase()
            ));
            flash.secret = created["secret"].as_str().map(str::to_owned);
            flash
        },
    )
    .await
}

/// Revokes an API key; revoking the signed-in key ends the session.
pub(in crate::server) async fn revoke_key(post: FormPost, Path(id): Path<String>) -> Response {
    let own = post
        .caller()
        .is_some_and(|caller| caller.principal.key_id.to_string() == id);
    let response = post
        .mutate(
            "/keys",
            "mutation($id: ID!) { revokeApiKey(id: $id) { prefix } }",
            json!({ "id": id }),
            |data| {
                Flash::notice(format!(
                    "Key {}… revoked: it stops working within seconds.",
                    data["revokeApiKey"]["prefix"].as_str().unwrap_or_default()
                ))
            },
        )
        .await;
    if own {
        // The session went with its key: the next page asks to sign in again.
        return post.redirect(
            "/login",
            &Flash::notice("You revoked the key you signed in with; sign in with another key."),
        );
    }
    response
}
