//! Invoice exports for finance: `GET /v1/invoices/ID.pdf`, `ID.csv` and `ID.json` give one of
//! the tenant's invoices (drafts too) as a PDF document, as CSV rows (one per line) and as
//! JSON; `GET /v1/invoices.csv?month=YYYY-MM` gives the rows of every invoice finalized in
//! that UTC month (whatever became of it since: paid or void too), by number. All take a read
//! or admin key; the tenant is the key's. Another tenant's invoice, or an unknown one, is
//! NOT_FOUND (404); an id that is no UUID, or a month that is no `YYYY-MM`, BAD_USER_INPUT
//! (400). The web UI serves the same exports to its sessions through [`invoice_file_of`].
//! The documents are rendered by `tally_billing::export`, the CSV written through
//! [`crate::csv`].

use std::collections::HashMap;
use std::fmt::Display;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tally_billing::catalog::{customers, invoices};
use tally_billing::customer::Customer;
use tally_billing::export::document::InvoiceDocument;
use tally_billing::export::{Month, pdf, table};
use tally_billing::invoice::Invoice;
use tally_meter::ids::{CustomerId, InvoiceId, TenantId};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::export::{ExportRequest, answer_by_deadline, attachment, csv_file};
use crate::telemetry::UnexpectedError;
use crate::{Api, csv};

/// What one invoice is exported as: the extension of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pdf,
    Csv,
    Json,
}

impl Format {
    /// Splits `ID.EXT` into the id and the format.
    fn of(file: &str) -> ApiResult<(&str, Self)> {
        let (id, format) = match file.rsplit_once('.') {
            Some((id, "pdf")) => (id, Self::Pdf),
            Some((id, "csv")) => (id, Self::Csv),
            Some((id, "json")) => (id, Self::Json),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    "no such export: ask for /v1/invoices/ID.pdf, ID.csv or ID.json",
                ));
            }
        };
        Ok((id, format))
    }
}

/// `GET /v1/invoices/{ID}.{pdf,csv,json}`: one invoice as a document.
#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty))]
pub async fn invoice_file(request: ExportRequest, Path(file): Path<String>) -> Response {
    answer_by_deadline(async {
        let caller = request.admit().await?;
        export_for(&request.api, &caller, &file).await
    })
    .await
}

/// One invoice as a document for a caller the web UI already admitted through its session:
/// the same export as `GET /v1/invoices/{ID}.{pdf,csv,json}`, with the same errors.
pub async fn invoice_file_of(api: &Api, caller: &Caller, file: &str) -> Response {
    answer_by_deadline(export_for(api, caller, file)).await
}

async fn export_for(api: &Api, caller: &Caller, file: &str) -> ApiResult<Response> {
    let tenant = caller.may_read()?;
    let (id, format) = Format::of(file)?;
    let id: InvoiceId = id.parse()?;
    let catalog = &api.services.catalog;
    let invoice = invoices::find(catalog, tenant, id).await?;
    let customer = customers::find(catalog, tenant, invoice.customer_id).await?;
    let name = invoice
        .number
        .clone()
        .unwrap_or_else(|| invoice.id.to_string());
    Ok(match format {
        Format::Json => Json(InvoiceDocument::new(&invoice, &customer)).into_response(),
        Format::Csv => csv_file(&format!("{name}.csv"), to_csv([(&invoice, &customer)])),
        Format::Pdf => {
            // Laying out many lines takes longer than async code may hold a thread.
            let document = tokio::task::spawn_blocking(move || pdf::render(&invoice, &customer))
                .await
                .map_err(|error| unexpected(&error))?;
            (
                [
                    (CONTENT_TYPE, "application/pdf".to_owned()),
                    (CONTENT_DISPOSITION, attachment(&format!("{name}.pdf"))),
                ],
                document,
            )
                .into_response()
        }
    })
}

/// The parameters of a monthly export.
#[derive(Debug, Deserialize)]
pub struct MonthParams {
    month: Option<String>,
}

/// `GET /v1/invoices.csv?month=YYYY-MM`: the lines of every invoice finalized in a UTC month.
#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty))]
pub async fn month_csv(
    request: ExportRequest,
    params: Result<Query<MonthParams>, QueryRejection>,
) -> Response {
    answer_by_deadline(export_month(&request, params)).await
}

async fn export_month(
    request: &ExportRequest,
    params: Result<Query<MonthParams>, QueryRejection>,
) -> ApiResult<Response> {
    let caller = request.admit().await?;
    let tenant = caller.may_read()?;
    let missing = || {
        ApiError::new(
            ErrorCode::BadUserInput,
            "send month=YYYY-MM, the UTC month whose finalized invoices to export, such as 2026-03",
        )
    };
    let Query(params) = params.map_err(|_| missing())?;
    let month = Month::parse(params.month.as_deref().ok_or_else(missing)?.trim())?;
    let catalog = &request.api.services.catalog;
    let finalized = invoices::finalized_within(catalog, tenant, month.period()).await?;
    let customers = customers_of(&request.api, tenant, &finalized).await?;
    let mut rows = Vec::with_capacity(finalized.len());
    for invoice in &finalized {
        let customer = customers.get(&invoice.customer_id).ok_or_else(|| {
            unexpected(&format!(
                "invoice {} bills customer {}, which is missing",
                invoice.id, invoice.customer_id
            ))
        })?;
        rows.push((invoice, customer));
    }
    Ok(csv_file(&format!("invoices-{month}.csv"), to_csv(rows)))
}

/// The customers the invoices bill, by id.
async fn customers_of(
    api: &Api,
    tenant: TenantId,
    invoices: &[Invoice],
) -> ApiResult<HashMap<CustomerId, Customer>> {
    let mut ids: Vec<_> = invoices.iter().map(|invoice| invoice.customer_id).collect();
    ids.sort();
    ids.dedup();
    let found = customers::find_many(&api.services.catalog, tenant, &ids).await?;
    Ok(found
        .into_iter()
        .map(|customer| (customer.id, customer))
        .collect())
}

/// The rows of invoices as CSV, with a header row.
fn to_csv<'a>(invoices: impl IntoIterator<Item = (&'a Invoice, &'a Customer)>) -> String {
    let mut text = csv::line(&table::COLUMNS);
    for (invoice, customer) in invoices {
        for row in table::rows(invoice, customer) {
            text.push_str(&csv::line(&row));
        }
    }
    text
}

/// Logs what should not happen; the client gets INTERNAL.
fn unexpected(error: &dyn Display) -> ApiError {
    UnexpectedError { error }.emit();
    ApiError::new(ErrorCode::Internal, "internal error; it has been logged")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_picks_the_format_and_anything_else_is_not_found() {
        assert_eq!(Format::of("abc.pdf").ok(), Some(("abc", Format::Pdf)));
        assert_eq!(Format::of("a.b.csv").ok(), Some(("a.b", Format::Csv)));
        assert_eq!(Format::of("abc.json").ok(), Some(("abc", Format::Json)));
        for file in ["abc", "abc.PDF", "abc.xlsx", ""] {
            let refused = Format::of(file).expect_err(file);
            assert_eq!(refused.code, ErrorCode::NotFound, "{file}");
        }
    }
}
