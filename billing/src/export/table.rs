//! An invoice as rows for a spreadsheet: one per line, each naming its invoice and customer,
//! so that the rows of many invoices (a month's) stand side by side in one file. An invoice
//! without lines still has one row, with its line columns empty, so that no invoice goes
//! missing from a month. Amounts are written to the currency's minor unit, instants in UTC
//! (RFC 3339). The API writes the rows as CSV, neutralised against formulas.

use crate::customer::Customer;
use crate::export::format;
use crate::invoice::{Explanation, Invoice, Line};

/// The columns, as the header row names them.
pub const COLUMNS: [&str; 14] = [
    "invoice_id",
    "number",
    "status",
    "customer_external_id",
    "customer_name",
    "period_start",
    "period_end",
    "description",
    "line_period_start",
    "line_period_end",
    "quantity",
    "amount",
    "currency",
    "plan_version",
];

/// One row: a value per column of [`COLUMNS`].
pub type Row = [String; COLUMNS.len()];

/// The rows of an invoice, one per line in the invoice's order.
pub fn rows(invoice: &Invoice, customer: &Customer) -> Vec<Row> {
    if invoice.computed.lines.is_empty() {
        return vec![row(invoice, customer, None)];
    }
    invoice
        .computed
        .lines
        .iter()
        .map(|line| row(invoice, customer, Some(line)))
        .collect()
}

fn row(invoice: &Invoice, customer: &Customer, line: Option<&Line>) -> Row {
    let currency = invoice.computed.currency;
    let quantity = line.and_then(|line| match &line.explanation {
        Explanation::Usage { quantity, .. } => Some(format::number(*quantity)),
        Explanation::Flat { .. }
        | Explanation::Unused { .. }
        | Explanation::LateUsage { .. }
        | Explanation::TrueUp { .. } => None,
    });
    [
        invoice.id.to_string(),
        invoice.number.clone().unwrap_or_default(),
        invoice.status.to_string(),
        customer.external_id.clone(),
        customer.name.clone(),
        format::instant(invoice.period.start),
        format::instant(invoice.period.end),
        line.map(|line| line.description.clone())
            .unwrap_or_default(),
        line.map(|line| format::instant(line.period.start))
            .unwrap_or_default(),
        line.map(|line| format::instant(line.period.end))
            .unwrap_or_default(),
        quantity.unwrap_or_default(),
        line.map(|line| format::money(line.amount, currency))
            .unwrap_or_default(),
        currency.code().to_owned(),
        line.map(|line| line.plan_version.to_string())
            .unwrap_or_default(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::fixtures::{customer, invoice};

    #[test]
    fn each_line_is_a_row_with_its_invoice_and_customer() {
        let invoice = invoice(2);
        let rows = rows(&invoice, &customer());
        let id = invoice.id.to_string();
        // The invoice's and the customer's columns, the line's five, the currency and version.
        let row = |[description, start, end, quantity, amount]: [&str; 5]| {
            [
                id.as_str(),
                "ACME-000042",
                "FINALIZED",
                "crm-1",
                "Acme (Europe) Ltd.",
                "2025-12-31T23:00:00Z",
                "2026-01-31T23:00:00Z",
                description,
                start,
                end,
                quantity,
                amount,
                "EUR",
                "3",
            ]
            .map(str::to_owned)
        };
        assert_eq!(
            rows,
            vec![
                row([
                    "Platform fee",
                    "2026-01-31T23:00:00Z",
                    "2026-02-28T23:00:00Z",
                    "",
                    "49.00",
                ]),
                row([
                    "Tokens (model 1)",
                    "2025-12-31T23:00:00Z",
                    "2026-01-31T23:00:00Z",
                    "1500",
                    "12.50",
                ]),
            ]
        );
    }

    #[test]
    fn an_invoice_without_lines_is_still_a_row() {
        let mut invoice = invoice(1);
        invoice.computed.lines.clear();
        let rows = rows(&invoice, &customer());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][7..12], ["", "", "", "", ""].map(str::to_owned));
        assert_eq!(rows[0][12], "EUR");
    }
}
