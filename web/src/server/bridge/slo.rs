//! The SLO pages' data: the tenant's SLOs, each with where it stands now, and one SLO with its
//! series and burn-down. Each runs the API's SLO GraphQL as the signed-in key.
//!
//! The list reads the SLOs, then where they all stand (`sloStandings`, measured together) in a
//! second request, so that the SLOs are listed even when their standing cannot be read.

use std::collections::HashMap;

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;
use tally_api::auth::Caller;

use super::{decode, detail_answer, page, page_answer, run_coded};
use crate::data::ME;
use crate::model::{Page, SloDefinition, SloDetail, SloRow, SloSeries, Standing};
use crate::server::state::Web;

const SERIES_FIELDS: &str = "series { group total bad allowedBad budgetRemaining \
     tooFewEventsBelow burnRates { window good total rate } \
     tiers { tier severity longRate shortRate firing guarded inhibitedBy } }";

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
    let (web, caller, viewer, value) =
        page_answer(&format!("{{ {ME} slos {{ name objective window spec }} }}")).await?;
    let listed: Vec<SloDefinition> = decode(value["slos"].clone())?;
    let mut standings = standings(&web, caller).await;
    let rows = listed
        .into_iter()
        .map(|slo| {
            let standing = match &mut standings {
                Ok(all) => Standing::Series(all.remove(&slo.name).unwrap_or_default()),
                Err(why) => Standing::Unknown(why.clone()),
            };
            SloRow { slo, standing }
        })
        .collect();
    Ok(page(viewer, rows))
}

/// One SLO with its series and burn-down. Another tenant's SLO or an unknown one answers 404.
pub(crate) async fn slo(name: String) -> Result<Page<SloDetail>, ServerFnError> {
    // Only NOT_FOUND: BAD_USER_INPUT is also the cost limit's refusal, not a missing SLO.
    let (viewer, value) = detail_answer(
        &format!(
            "query($name: String!) {{ {ME} slo(name: $name) {{ name objective window spec \
             createdAt {SERIES_FIELDS} burnDown {{ windowStart windowEnd step \
             series {{ group points {{ at total bad budgetRemaining }} }} }} }} }}"
        ),
        json!({ "name": name }),
        &["NOT_FOUND"],
        format!("There is no SLO named {name}."),
    )
    .await?;
    Ok(page(viewer, decode(value["slo"].clone())?))
}
