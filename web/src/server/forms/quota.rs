//! The quota page's form: set the tenant's rate, burst and monthly events.

use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::json;

use super::mutate;
use crate::model::Flash;
use crate::server::cookies::redirect;
use crate::server::state::Web;

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
pub(in crate::server) async fn set_quota(
    State(web): State<Web>,
    parts: Parts,
    Form(form): Form<QuotaForm>,
) -> Response {
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
        Err(message) => return redirect("/quota", &Flash::error(message), &web, &parts.headers),
    };
    mutate(
        &web,
        &parts,
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
