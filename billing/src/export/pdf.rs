//! An invoice as a PDF document to send a customer, written with `pdf-writer` in the standard
//! Helvetica: a header with the invoice's number (or DRAFT), status, dates and billing period;
//! the customer billed; a table with a row per line (description, period, quantity of a usage
//! line, amount) and under each row how it was computed (a usage line's meter, events and
//! each step of its price: units × price = amount); then subtotal, tax with its percent, and
//! total. Lines that do not fit on a page go on the next, under the table's header again;
//! every page's footer names the invoice and its page number.

mod font;
mod page;

use tally_meter::usage::Tz;

use self::font::{Font, wrap};
use self::page::{CAPACITY, MARGIN, Pages, Style, WIDTH};
use crate::customer::Customer;
use crate::export::explain;
use crate::export::format::{self, money, number};
use crate::invoice::{Explanation, Invoice, Line, Status};

const BODY: Style = Style {
    font: Font::Regular,
    size: 9.0,
    gray: 0.0,
};
const STRONG: Style = Style {
    font: Font::Bold,
    ..BODY
};
const DETAIL: Style = Style {
    font: Font::Regular,
    size: 8.0,
    gray: 0.35,
};
const LEADING: f32 = 12.0;
const DETAIL_LEADING: f32 = 10.0;
const TABLE_HEADER_HEIGHT: f32 = LEADING + 6.0;

/// The table's columns: where each starts (or ends, for numbers) and how wide it is.
const DESCRIPTION_X: f32 = MARGIN;
const DESCRIPTION_WIDTH: f32 = 215.0;
const PERIOD_X: f32 = 272.0;
const PERIOD_WIDTH: f32 = 118.0;
const QUANTITY_RIGHT: f32 = 468.0;
const QUANTITY_WIDTH: f32 = 72.0;
const AMOUNT_RIGHT: f32 = WIDTH - MARGIN;
const AMOUNT_WIDTH: f32 = 70.0;
/// Where a line's explanation starts, and where the labels of the totals.
const DETAIL_X: f32 = MARGIN + 10.0;
const TOTALS_X: f32 = 380.0;

/// Renders an invoice of `customer` as a PDF document.
pub fn render(invoice: &Invoice, customer: &Customer) -> Vec<u8> {
    let zone = format::zone(customer);
    let mut pages = Pages::new();
    header(&mut pages, invoice, customer, zone);
    table_header(&mut pages, invoice);
    for line in &invoice.computed.lines {
        row(&mut pages, invoice, line, zone);
    }
    totals(&mut pages, invoice);
    let (title, footer) = match &invoice.number {
        Some(number) => (
            format!("Invoice {number}"),
            format!("Invoice {number} – {}", customer.name),
        ),
        None => (
            format!("Draft invoice {}", invoice.id),
            format!("DRAFT {} – {}", invoice.id, customer.name),
        ),
    };
    pages.finish(&title, &footer)
}

fn header(pages: &mut Pages, invoice: &Invoice, customer: &Customer, zone: Tz) {
    let title = Style {
        size: 20.0,
        ..STRONG
    };
    let y = pages.y();
    pages.text(MARGIN, y, title, "Invoice");
    let number = Style {
        size: 14.0,
        ..STRONG
    };
    let shown = invoice.number.as_deref().unwrap_or("DRAFT");
    pages.text_right(WIDTH - MARGIN, y, number, shown);
    pages.down(30.0);

    let issued = match (invoice.status, invoice.finalized_at) {
        (Status::Draft, _) | (_, None) => format!(
            "Not issued: a draft, recomputed until {}",
            format::date(invoice.grace_until, zone)
        ),
        (_, Some(finalized_at)) => format!("Issued {}", format::date(finalized_at, zone)),
    };
    let facts = [
        format!("Status: {}", invoice.status),
        issued,
        format!("Billing period: {}", format::days(invoice.period, zone)),
        format!("Currency: {}", invoice.computed.currency),
        format!("Dates in {}", zone.name()),
        format!("Invoice id: {}", invoice.id),
    ];
    let mut billed = vec![
        (STRONG, "Bill to".to_owned()),
        (BODY, customer.name.clone()),
    ];
    if let Some(email) = &customer.email {
        billed.push((BODY, email.clone()));
    }
    billed.push((BODY, format!("Customer {}", customer.external_id)));
    let top = pages.y();
    for (index, fact) in facts.iter().enumerate() {
        pages.text(MARGIN, top - LEADING * index as f32, BODY, fact);
    }
    let mut y = top;
    for (style, text) in billed {
        for part in wrap(style.font, &text, style.size, WIDTH - MARGIN - 330.0) {
            pages.text(330.0, y, style, &part);
            y -= LEADING;
        }
    }
    let bottom = y.min(top - LEADING * facts.len() as f32);
    pages.down(pages.y() - bottom + 18.0);
}

fn table_header(pages: &mut Pages, invoice: &Invoice) {
    let y = pages.y();
    pages.text(DESCRIPTION_X, y, STRONG, "Description");
    pages.text(PERIOD_X, y, STRONG, "Period");
    pages.text_right(QUANTITY_RIGHT, y, STRONG, "Quantity");
    let amount = format!("Amount ({})", invoice.computed.currency);
    pages.text_right(AMOUNT_RIGHT, y, STRONG, &amount);
    pages.rule(y - 4.0, 0.3);
    pages.down(TABLE_HEADER_HEIGHT);
}

/// A line's row, then how it was computed; a new page, under the table's header, whenever the
/// next row does not fit.
fn row(pages: &mut Pages, invoice: &Invoice, line: &Line, zone: Tz) {
    let currency = invoice.computed.currency;
    let quantity = match &line.explanation {
        Explanation::Usage { quantity, .. } => number(*quantity),
        Explanation::Flat { .. }
        | Explanation::Unused { .. }
        | Explanation::LateUsage { .. }
        | Explanation::TrueUp { .. } => String::new(),
    };
    let cells = [
        wrap(BODY.font, &line.description, BODY.size, DESCRIPTION_WIDTH),
        wrap(
            BODY.font,
            &format::days(line.period, zone),
            BODY.size,
            PERIOD_WIDTH,
        ),
        wrap(BODY.font, &quantity, BODY.size, QUANTITY_WIDTH),
        wrap(
            BODY.font,
            &money(line.amount, currency),
            BODY.size,
            AMOUNT_WIDTH,
        ),
    ];
    let height = cells.iter().map(Vec::len).max().unwrap_or(1) as f32 * LEADING;
    let details: Vec<String> = explain::sentences(line, invoice.computed.currency, zone)
        .iter()
        .flat_map(|detail| wrap(DETAIL.font, detail, DETAIL.size, QUANTITY_RIGHT - DETAIL_X))
        .collect();
    // The row and its explanation stay on one page, unless they fill more than a page.
    let block = height + DETAIL_LEADING * details.len() as f32;
    let together = block <= CAPACITY - TABLE_HEADER_HEIGHT;
    make_room(pages, invoice, if together { block } else { height });
    let top = pages.y();
    let [description, period, quantity, amount] = cells;
    for (index, text) in description.iter().enumerate() {
        pages.text(DESCRIPTION_X, top - LEADING * index as f32, BODY, text);
    }
    for (index, text) in period.iter().enumerate() {
        pages.text(PERIOD_X, top - LEADING * index as f32, BODY, text);
    }
    for (index, text) in quantity.iter().enumerate() {
        pages.text_right(QUANTITY_RIGHT, top - LEADING * index as f32, BODY, text);
    }
    for (index, text) in amount.iter().enumerate() {
        pages.text_right(AMOUNT_RIGHT, top - LEADING * index as f32, BODY, text);
    }
    pages.down(height);
    for detail in details {
        make_room(pages, invoice, DETAIL_LEADING);
        let y = pages.y();
        pages.text(DETAIL_X, y, DETAIL, &detail);
        pages.down(DETAIL_LEADING);
    }
    pages.down(5.0);
}

/// Starts a new page, with the table's header, unless `height` fits on this one.
fn make_room(pages: &mut Pages, invoice: &Invoice, height: f32) {
    if !pages.fits(height) {
        pages.next_page();
        table_header(pages, invoice);
    }
}

fn totals(pages: &mut Pages, invoice: &Invoice) {
    let computed = &invoice.computed;
    let currency = computed.currency;
    let tax = match computed.tax_percent {
        Some(percent) => format!("Tax ({}%)", number(percent)),
        None => "Tax".to_owned(),
    };
    let rows = [
        (
            BODY,
            "Subtotal".to_owned(),
            money(computed.subtotal, currency),
        ),
        (BODY, tax, money(computed.tax, currency)),
        (
            STRONG,
            format!("Total ({currency})"),
            money(computed.total, currency),
        ),
    ];
    if !pages.fits(LEADING * rows.len() as f32 + 8.0) {
        pages.next_page();
    }
    let y = pages.y();
    pages.rule(y + 6.0, 0.3);
    pages.down(8.0);
    for (style, label, amount) in rows {
        let y = pages.y();
        pages.text(TOTALS_X, y, style, &label);
        pages.text_right(AMOUNT_RIGHT, y, style, &amount);
        pages.down(LEADING);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::fixtures::{customer, invoice};

    /// The number of pages of a document: the page tree's `/Count`.
    fn page_count(document: &[u8]) -> usize {
        let text = String::from_utf8_lossy(document);
        let after = text.split("/Count ").nth(1).expect("a page tree");
        after
            .split(|character: char| !character.is_ascii_digit())
            .next()
            .and_then(|digits| digits.parse().ok())
            .expect("a count")
    }

    #[test]
    fn an_invoice_is_a_pdf_with_its_lines_steps_and_totals() {
        let invoice = invoice(3);
        let document = render(&invoice, &customer());
        assert!(document.starts_with(b"%PDF-"));
        assert!(document.ends_with(b"%%EOF") || document.ends_with(b"%%EOF\n"));
        assert_eq!(page_count(&document), 1);
        let text = String::from_utf8_lossy(&document);
        for shown in [
            "(ACME-000042) Tj",
            "(Platform fee) Tj",
            "(49.00) Tj",
            "(Tokens (model 2)) Tj",
            "(1500) Tj",
            "(12.50) Tj",
            "(Subtotal) Tj",
            "(74.00) Tj",
            "(Tax (19%)) Tj",
            "(14.06) Tj",
            "(88.06) Tj",
            "/BaseFont /Helvetica-Bold",
        ] {
            assert!(text.contains(shown), "{shown} in {text}");
        }
        // A step's arithmetic holds `×`, so it is a hex string in WinAnsi.
        let step = font::encode("units 1,001 to 1,500 (tier 2): 500 × 0.005 = 2.5");
        let hex: String = step.iter().map(|byte| format!("{byte:02X}")).collect();
        assert!(text.contains(&format!("<{hex}>")), "{text}");
    }

    #[test]
    fn lines_that_overflow_a_page_go_on_the_next_ones() {
        let invoice = invoice(60);
        let document = render(&invoice, &customer());
        let pages = page_count(&document);
        assert!(pages >= 3, "{pages} pages");
        let text = String::from_utf8_lossy(&document);
        assert!(text.contains(&format!("(Page {pages} of {pages}) Tj")));
        assert!(text.contains("(Tokens (model 59)) Tj"));
        // Each page repeats the table's header.
        assert_eq!(text.matches("(Description) Tj").count(), pages);
    }

    #[test]
    fn a_draft_says_so() {
        let mut draft = invoice(2);
        draft.status = Status::Draft;
        draft.number = None;
        draft.finalized_at = None;
        let text = String::from_utf8_lossy(&render(&draft, &customer())).into_owned();
        assert!(text.contains("(DRAFT) Tj"), "{text}");
        assert!(text.contains("(Status: DRAFT) Tj"), "{text}");
        assert!(
            text.contains("(Not issued: a draft, recomputed until 2026-02-02) Tj"),
            "{text}"
        );
    }
}
