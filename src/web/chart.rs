//! A small line chart drawn as inline SVG on the server: no script, nothing from elsewhere.

use maud::{Markup, html};

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 140.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A series of `(date, value)` points over time, oldest first; values of 0 (not measured) are
/// left out. Returns nothing when there is no point to draw.
pub fn line_chart(title: &str, unit: &str, colour: &str, points: &[(String, f64)]) -> Markup {
    let measured: Vec<&(String, f64)> = points.iter().filter(|(_, value)| *value > 0.0).collect();
    if measured.is_empty() {
        return html! {};
    }
    let (low, high) = measured.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, v)| (lo.min(*v), hi.max(*v)));
    let pad = ((high - low) * 0.15).max(1.0);
    let (low, high) = ((low - pad).max(0.0), high + pad);
    let x = |i: usize| {
        if measured.len() == 1 {
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (WIDTH - LEFT - RIGHT) * i as f64 / (measured.len() - 1) as f64
        }
    };
    let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - (v - low) / (high - low));
    let path: Vec<String> =
        measured.iter().enumerate().map(|(i, (_, v))| format!("{:.1},{:.1}", x(i), y(*v))).collect();
    let first = &measured[0].0;
    let last = &measured[measured.len() - 1].0;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(format!("{title} over time")) {
                line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH - RIGHT) y2=(HEIGHT - BOTTOM) stroke="#9aa5b1" {}
                text x=(LEFT - 4.0) y=(y(high - pad) + 4.0) text-anchor="end" font-size="10" fill="#52606d" { (format!("{:.0}", high - pad)) }
                text x=(LEFT - 4.0) y=(y(low + pad) + 4.0) text-anchor="end" font-size="10" fill="#52606d" { (format!("{:.0}", low + pad)) }
                text x=(LEFT) y=(HEIGHT - 8.0) font-size="10" fill="#52606d" { (first) }
                @if measured.len() > 1 { text x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" font-size="10" fill="#52606d" { (last) } }
                polyline points=(path.join(" ")) fill="none" stroke=(colour) stroke-width="2" {}
                @for (i, (date, value)) in measured.iter().enumerate() {
                    circle cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*value))) r="3.5" fill=(colour) {
                        title { (date) ": " (value) " " (unit) }
                    }
                }
            }
            figcaption { (title) " (" (unit) ")" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmeasured_zeros_are_not_drawn_and_an_empty_series_draws_nothing() {
        let points = vec![("2026-01-01".to_string(), 0.0), ("2026-02-01".to_string(), 0.0)];
        assert!(line_chart("Glucose", "mg/dL", "#c00", &points).into_string().is_empty());
        let points =
            vec![("2026-01-01".to_string(), 148.0), ("2026-02-01".to_string(), 0.0), ("2026-03-01".to_string(), 120.0)];
        let svg = line_chart("Glucose", "mg/dL", "#c00", &points).into_string();
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("2026-03-01: 120 mg/dL"));
    }
}
