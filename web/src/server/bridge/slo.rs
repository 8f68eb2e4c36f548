//! The SLO pages' data: the tenant's SLOs, each with where it stands now, and one SLO with its
//! series and burn-down. Each runs the API's SLO GraphQL as the signed-in key.
//!
//! The list reads the SLOs, then where they all stand (`sloStandings`, measured together) in a
//! second request, so that the SLOs are listed even when their standing cannot be read.

use std::collections::HashMap;

use axum::http::StatusCode;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;
use tally_api::auth::Caller;

use super::{Refusal, decode, page, run_coded, signed_in, viewer};
use crate::data::ME;
use crate::model::{Page, SloDetail, SloRow, SloSeries, SloSpecText, Standing};
use crate::server::state::Web;

const SERIES_FIELDS: &str = "series { group total bad allowedBad budgetRemaining \
     tooFewEventsBelow burnRates { window good total rate } \
     tiers { tier severity longRate shortRate firing guarded inhibitedBy } }";

/// An SLO of the list as the API's GraphQL answers.
#[derive(Deserialize)]
struct Listed {
    name: String,
    objective: rust_decimal::Decimal,
    window: String,
    spec: SloSpecText,
}

/// Where each of the tenant's SLOs stands now, by name, or why that could not be read.
async fn standings(web: &Web, caller: Caller) -> Result<HashMap<String, Vec<SloSeries>>, String> {
    let value = run_coded(
        web,
        caller,
        &format!("{{ sloStandings {{ name {SERIES_FIELDS} }} }}"),
        json!({}),
    )
    .await
    .map_err(|refusal| refusal.message)?;
    let measured: Vec<Measured> = serde_json::from_value(value["sloStandings"].clone())
        .map_err(|error| format!("Tally gave an answer it cannot show: {error}"))?;
    Ok(measured
        .into_iter()
        .map(|slo| (slo.name, slo.series))
        .collect())
}

/// An SLO's standing as the API's GraphQL answers.
#[derive(Deserialize)]
struct Measured {
    name: String,
    series: Vec<SloSeries>,
}

/// The tenant's SLOs by name, each with where it stands now.
pub(crate) async fn slos() -> Result<Page<Vec<SloRow>>, ServerFnError> {
    let (web, caller) = signed_in()?;
    let value = run_coded(
        &web,
        caller,
        &format!("{{ {ME} slos {{ name objective window spec }} }}"),
        json!({}),
    )
    .await
    .map_err(refused)?;
    let viewer = viewer(&value)?;
    let listed: Vec<Listed> = decode(value["slos"].clone())?;
    let mut standings = standings(&web, caller).await;
    let rows = listed
        .into_iter()
        .map(|slo| {
            let standing = match &mut standings {
                Ok(all) => Standing::Series(all.remove(&slo.name).unwrap_or_default()),
                Err(why) => Standing::Unknown(why.clone()),
            };
            SloRow {
                name: slo.name,
                objective: slo.objective,
                window: slo.window,
                spec: slo.spec,
                standing,
            }
        })
        .collect();
    Ok(page(viewer, rows))
}

/// One SLO with its series and burn-down. Another tenant's SLO or an unknown one answers 404.
pub(crate) async fn slo(name: String) -> Result<Page<SloDetail>, ServerFnError> {
    let (web, caller) = signed_in()?;
    let answer = run_coded(
        &web,
        caller,
        &format!(
            "query($name: String!) {{ {ME} slo(name: $name) {{ name objective window spec \
             createdAt {SERIES_FIELDS} burnDown {{ windowStart windowEnd step \
             series {{ group points {{ at total bad budgetRemaining }} }} }} }} }}"
        ),
        json!({ "name": name }),
    )
    .await;
    let value = match answer {
        Ok(value) => value,
        // Only NOT_FOUND: BAD_USER_INPUT is also the cost limit's refusal, not a missing SLO.
        Err(refusal) if refusal.code.as_deref() == Some("NOT_FOUND") => {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(StatusCode::NOT_FOUND);
            }
            return Err(ServerFnError::new(format!("There is no SLO named {name}.")));
        }
        Err(refusal) => return Err(refused(refusal)),
    };
    let viewer = viewer(&value)?;
    Ok(page(viewer, decode(value["slo"].clone())?))
}

fn refused(refusal: Refusal) -> ServerFnError {
    ServerFnError::new(refusal.message)
}
