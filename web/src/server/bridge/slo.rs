//! The SLO pages' data: the tenant's SLOs, each with where it stands now, and one SLO with its
//! series and burn-down. Each runs the API's SLO GraphQL as the signed-in key.
//!
//! Where an SLO stands costs eight ClickHouse queries, and the API's cost limit allows about
//! one SLO's standing per request; so the list reads the SLOs in one request and then each
//! one's standing in a request of its own, [`STANDING_AT_ONCE`] at a time.

use axum::http::StatusCode;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use tally_api::auth::Caller;
use tokio::task::JoinSet;

use super::{Refusal, decode, flash, form_token, run_coded, signed_in};
use crate::model::{Page, SloDetail, SloRow, SloSeries, SloSpecText, Standing, Viewer};
use crate::server::state::Web;

const ME: &str = "me { tenantName scope keyId }";
const SERIES_FIELDS: &str = "series { group total bad allowedBad budgetRemaining \
     tooFewEventsBelow burnRates { window good total rate } \
     tiers { tier severity longRate shortRate firing guarded inhibitedBy } }";

/// How many SLOs' standings the list reads at once (a tenant has at most 100 SLOs).
const STANDING_AT_ONCE: usize = 4;

/// An SLO of the list as the API's GraphQL answers.
#[derive(Deserialize)]
struct Listed {
    name: String,
    objective: rust_decimal::Decimal,
    window: String,
    spec: SloSpecText,
}

fn viewer(value: &Value) -> Result<Viewer, ServerFnError> {
    let mut viewer: Viewer = decode(value["me"].clone())?;
    viewer.form_token = form_token();
    Ok(viewer)
}

fn page<T>(viewer: Viewer, data: T) -> Page<T> {
    Page {
        viewer,
        flash: flash(),
        data,
    }
}

/// Where one SLO stands now, or why that could not be read.
async fn standing(web: Web, caller: Caller, name: String) -> Standing {
    let answer = run_coded(
        &web,
        caller,
        &format!("query($name: String!) {{ slo(name: $name) {{ {SERIES_FIELDS} }} }}"),
        json!({ "name": name }),
    )
    .await;
    match answer {
        Ok(value) => match serde_json::from_value::<Vec<SloSeries>>(value["slo"]["series"].clone())
        {
            Ok(series) => Standing::Series(series),
            Err(error) => {
                Standing::Unknown(format!("Tally gave an answer it cannot show: {error}"))
            }
        },
        Err(refusal) => Standing::Unknown(refusal.message),
    }
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
    let mut standings: Vec<Option<Standing>> = vec![None; listed.len()];
    for (chunk_index, chunk) in listed.chunks(STANDING_AT_ONCE).enumerate() {
        let mut reads = JoinSet::new();
        for (offset, slo) in chunk.iter().enumerate() {
            let index = chunk_index * STANDING_AT_ONCE + offset;
            let read = standing(web.clone(), caller, slo.name.clone());
            reads.spawn(async move { (index, read.await) });
        }
        while let Some(done) = reads.join_next().await {
            let (index, standing) = done.map_err(|error| {
                ServerFnError::new(format!("Tally could not read an SLO's standing: {error}"))
            })?;
            standings[index] = Some(standing);
        }
    }
    let rows = listed
        .into_iter()
        .zip(standings)
        .map(|(slo, standing)| SloRow {
            name: slo.name,
            objective: slo.objective,
            window: slo.window,
            spec: slo.spec,
            standing: standing.unwrap_or_else(|| Standing::Unknown("Not read.".to_owned())),
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
