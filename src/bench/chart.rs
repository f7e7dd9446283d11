//! Horizontal bar charts as PNG, like the paper's figures 15 to 17.

use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::BenchError;
use super::gas::GasBench;
use super::latency::LatencyBench;

/// DejaVu Sans (free licence, assets/fonts/LICENSE-DejaVu.txt), embedded so charts render the same
/// on machines without fonts.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER_FONT: Once = Once::new();

/// One bar: its label, its value and which series (colour) it belongs to.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub series: usize,
}

const COLOURS: [RGBColor; 3] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44)];

/// Draws the latency benchmark: p50 and p95 of every function and of the bare round trip.
pub fn draw_latency_chart(path: &Path, result: &LatencyBench) -> Result<(), BenchError> {
    let bars: Vec<Bar> = result
        .rows
        .iter()
        .chain([&result.rpc_round_trip])
        .flat_map(|r| {
            [
                Bar { label: format!("{} p50", r.function), value: r.p50_ms, series: 0 },
                Bar { label: format!("{} p95", r.function), value: r.p95_ms, series: 1 },
            ]
        })
        .collect();
    let title = format!("hrm latency per function ({}, {} iterations)", result.engine, result.iterations);
    render_bars(path, &title, "milliseconds, signing and receipt included", &bars, &["p50", "p95"])
}

/// Draws the gas benchmark: every function in hrm's contract beside the paper's way.
pub fn draw_gas_chart(path: &Path, result: &GasBench) -> Result<(), BenchError> {
    let bars: Vec<Bar> = result
        .rows
        .iter()
        .flat_map(|r| {
            let hrm = r.hrm.map(|g| Bar { label: format!("{} · hrm", r.label()), value: g as f64, series: 0 });
            let paper = r.paper_style.map(|g| Bar {
                label: format!("{} · paper's way", r.label()),
                value: g as f64,
                series: 1,
            });
            let floor = r.floor.map(|g| Bar { label: format!("{} · floor", r.label()), value: g as f64, series: 2 });
            [hrm, paper, floor].into_iter().flatten()
        })
        .collect();
    let title = "Gas per function: hrm (sealed) vs the paper's way (plaintext)";
    let series = ["hrm (sealed)", "paper's way (plaintext)", "floor: 21,000 per transaction + calldata + one new slot"];
    render_bars(path, title, "gas", &bars, &series)
}

/// Draws `bars` top to bottom into a PNG at `path`; `series` names the colours in the legend.
pub fn render_bars(path: &Path, title: &str, unit: &str, bars: &[Bar], series: &[&str]) -> Result<(), BenchError> {
    REGISTER_FONT.call_once(|| {
        // The font is valid: it ships with hrm.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
    let draw_error = |e: &dyn std::fmt::Display| BenchError::Chart { path: path.to_path_buf(), message: e.to_string() };
    let height = 120 + 26 * bars.len() as u32;
    let root = BitMapBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_error(&e))?;
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max).max(1.0) * 1.15;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(420)
        .build_cartesian_2d(0.0..max, (0..bars.len()).into_segmented())
        .map_err(|e| draw_error(&e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(unit)
        .label_style(("sans-serif", 14))
        .x_label_formatter(&|v| {
            if max > 100.0 { format!("{v:.0}") } else { format!("{v:.1}") }
        })
        .y_labels(bars.len())
        .y_label_formatter(&|v| match v {
            // Top to bottom: segment 0 is drawn at the bottom, so count from the end.
            SegmentValue::CenterOf(i) if *i < labels.len() => labels[labels.len() - 1 - *i].clone(),
            _ => String::new(),
        })
        .draw()
        .map_err(|e| draw_error(&e))?;
    let count = bars.len();
    for (row, bar) in bars.iter().enumerate() {
        let slot = count - 1 - row;
        let colour = COLOURS[bar.series % COLOURS.len()];
        chart
            .draw_series([Rectangle::new(
                [(0.0, SegmentValue::Exact(slot)), (bar.value, SegmentValue::Exact(slot + 1))],
                colour.mix(0.85).filled(),
            )])
            .map_err(|e| draw_error(&e))?;
        chart
            .draw_series([Text::new(
                format_value(bar.value),
                (bar.value + max * 0.005, SegmentValue::CenterOf(slot)),
                ("sans-serif", 13).into_font(),
            )])
            .map_err(|e| draw_error(&e))?;
    }
    for (i, name) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series([Rectangle::new(
                [(0.0, SegmentValue::Exact(0)), (0.0, SegmentValue::Exact(0))],
                colour.filled(),
            )])
            .map_err(|e| draw_error(&e))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| draw_error(&e))?;
    }
    root.present().map_err(|e| draw_error(&e))?;
    Ok(())
}

fn format_value(value: f64) -> String {
    if value >= 100.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}
