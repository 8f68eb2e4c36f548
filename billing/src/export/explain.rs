//! How an invoice line was computed, in sentences for people: the PDF prints them under each
//! line and the web UI's invoice page shows them. A usage line gives its meter, events and
//! each step of its price as `units × price = amount`.

use rust_decimal::Decimal;
use tally_meter::usage::Tz;

use crate::export::format::{self, money, number};
use crate::invoice::{Explanation, Line};
use crate::money::Currency;
use crate::period::Period;
use crate::price::Step;

/// A period as the days it covers in `zone`, first and last inclusive:
/// `2026-01-01 – 2026-01-31`.
pub fn days(period: Period, zone: Tz) -> String {
    format::days(period, zone)
}

/// How a line was computed, for people, a sentence per entry; dates are days in `zone`, the
/// customer's billing time zone.
pub fn sentences(line: &Line, currency: Currency, zone: Tz) -> Vec<String> {
    match &line.explanation {
        Explanation::Flat {
            amount,
            share,
            full_period,
        } => {
            if *share == Decimal::ONE {
                vec![format!(
                    "Flat fee of {}, billed in advance",
                    money(*amount, currency)
                )]
            } else {
                vec![format!(
                    "Flat fee of {} × {} (the share of {} covered), billed in advance",
                    money(*amount, currency),
                    number(*share),
                    format::days(*full_period, zone)
                )]
            }
        }
        Explanation::Usage {
            meter,
            events,
            quantity,
            allowance,
            steps,
            exact,
        } => {
            let mut sentences = vec![if allowance.is_zero() {
                format!("Meter {meter}: {} from {events} events", number(*quantity))
            } else {
                format!(
                    "Meter {meter}: {} from {events} events, {} of them included",
                    number(*quantity),
                    number(*allowance)
                )
            }];
            if steps.is_empty() {
                sentences.push("Nothing to charge".to_owned());
            }
            sentences.extend(steps.iter().map(step));
            if *exact != line.amount {
                sentences.push(format!(
                    "Exactly {}, rounded to {}",
                    number(*exact),
                    money(line.amount, currency)
                ));
            }
            sentences
        }
        Explanation::Unused {
            amount,
            billed_share,
            share,
            full_period,
        } => vec![format!(
            "Credit for unused time: {} × ({} billed − {} covered) of {}",
            money(*amount, currency),
            number(*billed_share),
            number(*share),
            format::days(*full_period, zone)
        )],
        Explanation::LateUsage {
            meter,
            billed,
            now,
            billed_amount,
            amount_now,
        } => vec![
            format!(
                "Meter {meter}: {} events were billed for this period, {} are counted now",
                billed.events, now.events
            ),
            format!(
                "The charge comes to {} now; {} was billed",
                money(*amount_now, currency),
                money(*billed_amount, currency)
            ),
        ],
        Explanation::TrueUp { minimum, charged } => vec![format!(
            "Minimum commitment of {}, of which the usage lines charged {}",
            money(*minimum, currency),
            money(*charged, currency)
        )],
    }
}

/// A step of a price's arithmetic: `units 1 to 1,000 (tier 1): 1000 × 0.01 = 10`.
fn step(step: &Step) -> String {
    let fee = if step.flat_fee.is_zero() {
        String::new()
    } else {
        format!(" + {}", number(step.flat_fee))
    };
    format!(
        "{}: {} × {}{fee} = {}",
        step.description,
        number(step.units),
        number(step.unit_price),
        number(step.amount)
    )
}
