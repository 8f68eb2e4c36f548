//! Charts drawn as inline SVG from the API's numbers: stacked bars over time, and a meter
//! bar for quotas. Nothing is fetched from anywhere; each bar carries a tooltip with its
//! exact figures, and the chart a text summary for screen readers.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// One stack of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The label under the bar, shown for some bars only.
    pub label: String,
    /// The tooltip: exact figures.
    pub tooltip: String,
    /// The heights of the stack's parts, bottom first, in the chart's unit (drawing only).
    pub parts: Vec<f64>,
}

impl Bar {
    /// The bar of the minute that starts `at`: labelled `14:05`, with the tooltip
    /// `14:05 UTC: {figures}`.
    pub fn minute(at: DateTime<Utc>, figures: String, parts: Vec<f64>) -> Self {
        Self {
            label: at.format("%H:%M").to_string(),
            tooltip: format!("{}: {figures}", at.format("%H:%M UTC")),
            parts,
        }
    }
}

/// A series' name and its CSS class.
pub type Series = (&'static str, &'static str);

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;
/// Gridlines above zero: a fifth of a 1, 2 or 5 scale is a round number.
const TICKS: u8 = 5;

/// Stacked bars, one per item, with a legend; `summary` is what a screen reader hears.
#[component]
pub fn BarChart(
    /// The bars, left to right.
    bars: Vec<Bar>,
    /// The parts' names and classes, bottom first.
    series: Vec<Series>,
    /// What the chart shows, in words.
    summary: String,
    /// Label every n-th bar.
    #[prop(default = 15)]
    label_every: usize,
) -> impl IntoView {
    let svg = bar_chart_svg(&bars, &series, &summary, label_every);
    let legend = (series.len() > 1).then(|| {
        view! {
            <ul class="legend">
                {series
                    .iter()
                    .map(|(name, class)| {
                        view! {
                            <li>
                                <span class=format!("swatch {class}")></span>
                                {*name}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
    });
    view! {
        <figure class="chart">
            <div inner_html=svg></div>
            {legend}
        </figure>
    }
}

fn bar_chart_svg(bars: &[Bar], series: &[Series], summary: &str, label_every: usize) -> String {
    let highest = bars
        .iter()
        .map(|bar| bar.parts.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let scale_top = nice_ceiling(highest);
    let plot_height = HEIGHT - TOP - BOTTOM;
    let plot_width = WIDTH - LEFT;
    let slot = plot_width / bars.len().max(1) as f64;
    let bar_width = (slot * 0.8).max(1.0);
    let mut svg = format!(
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">"#,
        escape(summary)
    );
    for step in 0..=TICKS {
        let value = scale_top * f64::from(step) / f64::from(TICKS);
        let y = TOP + plot_height - plot_height * f64::from(step) / f64::from(TICKS);
        svg.push_str(&format!(
            r#"<line class="grid" x1="{LEFT}" x2="{WIDTH}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            escape(&short_number(value))
        ));
    }
    for (index, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * index as f64 + (slot - bar_width) / 2.0;
        let mut base = TOP + plot_height;
        svg.push_str("<g>");
        svg.push_str(&format!("<title>{}</title>", escape(&bar.tooltip)));
        // A transparent full-height target keeps the tooltip reachable on empty minutes.
        svg.push_str(&format!(
            r#"<rect class="hit" x="{:.1}" y="{TOP}" width="{slot:.1}" height="{plot_height:.1}"/>"#,
            LEFT + slot * index as f64
        ));
        for (part, (_, class)) in bar.parts.iter().zip(series) {
            if *part <= 0.0 || scale_top <= 0.0 {
                continue;
            }
            let height = (part / scale_top * plot_height).max(1.0);
            base -= height;
            svg.push_str(&format!(
                r#"<rect class="{class}" x="{x:.1}" y="{base:.1}" width="{bar_width:.1}" height="{height:.1}"/>"#
            ));
        }
        svg.push_str("</g>");
        if label_every > 0 && index % label_every == 0 {
            svg.push_str(&format!(
                r#"<text class="axis" x="{x:.1}" y="{}">{}</text>"#,
                HEIGHT - 6.0,
                escape(&bar.label)
            ));
        }
    }
    svg.push_str(&format!(
        r#"<line class="baseline" x1="{LEFT}" x2="{WIDTH}" y1="{0:.1}" y2="{0:.1}"/></svg>"#,
        TOP + plot_height
    ));
    svg
}

/// A horizontal gauge of `used` against `limit`, with marks at 80 % and 100 %.
#[component]
pub fn QuotaGauge(
    /// Events used.
    used: u64,
    /// The limit.
    limit: u64,
) -> impl IntoView {
    let share = if limit == 0 {
        1.0
    } else {
        used as f64 / limit as f64
    };
    let class = if share >= 1.0 {
        "over"
    } else if share >= 0.8 {
        "warn"
    } else {
        "ok"
    };
    // The gauge spans 0–120 % so that use past the limit still shows.
    let span = 1.2;
    let width = 600.0;
    let fill = (share.min(span) / span * width).max(0.0);
    let mark = |at: f64, label: &str| {
        let x = at / span * width;
        format!(
            r#"<line class="mark" x1="{x:.1}" x2="{x:.1}" y1="0" y2="30"/><text class="axis" x="{x:.1}" y="44" text-anchor="middle">{label}</text>"#
        )
    };
    let svg = format!(
        r#"<svg viewBox="0 0 {width} 48" role="img" aria-label="{} of {} events used ({:.0} %)" xmlns="http://www.w3.org/2000/svg"><rect class="track" x="0" y="6" width="{width}" height="20" rx="3"/><rect class="{class}" x="0" y="6" width="{fill:.1}" height="20" rx="3"/>{}{}</svg>"#,
        used,
        limit,
        share * 100.0,
        mark(0.8, "80 %"),
        mark(1.0, "100 %")
    );
    view! { <div class="gauge" inner_html=svg></div> }
}

/// Rounds up to 1, 2 or 5 times a power of ten, for axis scales.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * power)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * power)
}

/// An axis label: 950, 1.5k, 2M.
fn short_number(value: f64) -> String {
    let (scaled, suffix) = if value >= 1e9 {
        (value / 1e9, "G")
    } else if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = format!("{scaled:.1}");
    format!("{}{suffix}", text.trim_end_matches(".0"))
}

/// Escapes text for SVG markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_round_up_to_readable_steps() {
        for (highest, top) in [(0.0, 1.0), (7.0, 10.0), (120.0, 200.0), (4_500.0, 5_000.0)] {
            assert_eq!(nice_ceiling(highest), top, "{highest}");
        }
        for (value, label) in [(1_500.0, "1.5k"), (2_000_000.0, "2M"), (40.0, "40")] {
            assert_eq!(short_number(value), label, "{value}");
        }
    }

    #[test]
    fn labels_and_tooltips_are_escaped() {
        let bars = vec![Bar {
            label: "<b>".into(),
            tooltip: "a & b".into(),
            parts: vec![3.0, 1.0],
        }];
        let svg = bar_chart_svg(&bars, &[("x", "one"), ("y", "two")], "s\"um", 1);
        assert!(svg.contains("&lt;b&gt;"));
        assert!(svg.contains("a &amp; b"));
        assert!(svg.contains("s&quot;um"));
        assert!(svg.contains(r#"class="one""#) && svg.contains(r#"class="two""#));
    }
}
