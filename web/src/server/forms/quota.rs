//! The quota page's form: set the tenant's rate, burst and monthly events.

use axum::extract::Form;
use axum::response::Response;
use serde_json::json;

use super::FormPost;
use crate::model::Flash;

/// The quota form, as typed.
#[derive(serde::Deserialize)]
pub(in crate::server) struct QuotaForm {
    rate_per_sec: String,
    #[serde(default)]
    burst: String,
    #[serde(default)]
    monthly_events: String,
    monthly_mode: String,
}

/// Sets the tenant's quota.
pub(in crate::server) async fn set_quota(post: FormPost, Form(form): Form<QuotaForm>) -> Response {
    let number = |text: &str, what: &str| -> Result<Option<u64>, String> {
        let text = text.trim().replace(['_', ','], "");
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| format!("{what} must be a whole number."))
    };
    let parsed = (|| {
        let rate = number(&form.rate_per_sec, "The rate")?
            .ok_or_else(|| "The rate is required.".to_owned())?;
        Ok::<_, String>((
            rate,
            number(&form.burst, "The burst")?,
            number(&form.monthly_events, "Monthly events")?,
        ))
    })();
    let (rate, burst, monthly) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => return post.redirect("/quota", &Flash::error(message)),
    };
    post.mutate(
        "/quota",
        "mutation($input: QuotaInput!) { setQuota(input: $input) { ratePerSec } }",
        json!({ "input": {
            "ratePerSec": rate,
            "burst": burst,
            "monthlyEvents": monthly,
            "monthlyMode": form.monthly_mode,
        }}),
        |_| Flash::notice("Quota saved. Ingest applies it within a few seconds."),
    )
    .await
}
