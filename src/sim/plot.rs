//! Draws a simulation as an SVG: the load's demand in instances and each
//! controller's serving capacity over time.

use super::run::SimReport;
use plotters::prelude::*;
use std::path::Path;

/// At most this many points per line: a 14-day run has 20,160 minutes, more
/// than a reader can see; each point keeps its bucket's maximum so spikes stay.
const MAX_POINTS: usize = 2000;

const COLORS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
];

/// Writes the plot to `path`.
pub fn plot(report: &SimReport, path: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let Some(first) = report.runs.first() else {
        return Err(fail(&"nothing to plot"));
    };
    let cpi = report.capacity_per_instance;
    let demand: Vec<f64> = first
        .samples
        .iter()
        .map(|s| f64::from(s.demand(cpi)))
        .collect();
    let lines: Vec<(String, Vec<f64>)> = std::iter::once(("demand".to_string(), demand))
        .chain(report.runs.iter().map(|r| {
            (
                r.name.clone(),
                r.samples.iter().map(|s| f64::from(s.serving)).collect(),
            )
        }))
        .collect();
    let hours = first.samples.len() as f64 / 60.0;
    let top = lines
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;

    let root = SVGBackend::new(path, (1400, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "ebb simulate: {} (boot {}s)",
                report.target, report.boot_time_s
            ),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..hours.max(1.0 / 60.0), 0.0..top)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("hours since the start of the trace")
        .y_desc("instances")
        .draw()
        .map_err(|e| fail(&e))?;
    for (index, (name, values)) in lines.iter().enumerate() {
        let color = if index == 0 {
            RGBColor(160, 160, 160)
        } else {
            COLORS[(index - 1) % COLORS.len()]
        };
        let style = ShapeStyle::from(&color).stroke_width(if index == 1 { 2 } else { 1 });
        chart
            .draw_series(LineSeries::new(downsample(values), style))
            .map_err(|e| fail(&e))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

/// (hour, value) points, at most [`MAX_POINTS`], each its bucket's maximum.
fn downsample(values: &[f64]) -> Vec<(f64, f64)> {
    let bucket = values.len().div_ceil(MAX_POINTS).max(1);
    values
        .chunks(bucket)
        .enumerate()
        .map(|(i, chunk)| {
            let hour = (i * bucket) as f64 / 60.0;
            (hour, chunk.iter().copied().fold(f64::MIN, f64::max))
        })
        .collect()
}
