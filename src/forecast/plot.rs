//! Draws a forecast as an SVG: the recent history, the forecast mean, the
//! provisioned quantile and the prediction interval as a band.

use super::report::{ForecastPoint, ForecastReport};
use plotters::prelude::*;
use std::path::Path;

/// Days of history drawn before the forecast.
const HISTORY_DAYS: i64 = 3;

/// Writes the plot to `path`.
pub fn plot(report: &ForecastReport, title: &str, path: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let hours_per_step = report.step_s as f64 / 3600.0;
    let past = recent_history(report);
    let forecast_line = |value: fn(&ForecastPoint) -> f64| forecast_line(report, value);
    let top = past
        .iter()
        .map(|p| p.1)
        .chain(report.forecast.iter().map(|p| p.upper.max(p.quantile)))
        .fold(1e-9, f64::max)
        * 1.1;
    let x_min = past.first().map_or(0.0, |p| p.0);
    let x_max = (report.forecast.len() as f64 * hours_per_step).max(hours_per_step);

    let root = SVGBackend::new(path, (1400, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("ebb forecast: {title} ({})", report.chosen()),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_min..x_max, 0.0..top)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("hours from the end of the history")
        .y_desc("load")
        .draw()
        .map_err(|e| fail(&e))?;

    let mut band = forecast_line(|p| p.upper);
    band.extend(forecast_line(|p| p.lower).into_iter().rev());
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    chart
        .draw_series(std::iter::once(Polygon::new(band, orange.mix(0.2))))
        .map_err(|e| fail(&e))?
        .label(format!("{:.0}% interval", report.interval_level * 100.0))
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 15, y + 5)], orange.mix(0.2).filled())
        });
    chart
        .draw_series(LineSeries::new(past, &blue))
        .map_err(|e| fail(&e))?
        .label("history")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], blue));
    chart
        .draw_series(LineSeries::new(forecast_line(|p| p.mean), &orange))
        .map_err(|e| fail(&e))?
        .label("forecast mean")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], orange));
    chart
        .draw_series(LineSeries::new(
            forecast_line(|p| p.quantile),
            RED.stroke_width(1),
        ))
        .map_err(|e| fail(&e))?
        .label(format!("p{:.0} (provisioned)", report.quantile * 100.0))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

/// The last [`HISTORY_DAYS`] of the history as (hours, value) points, in
/// hours relative to the end of the history: negative is the past.
fn recent_history(report: &ForecastReport) -> Vec<(f64, f64)> {
    let hours_per_step = report.step_s as f64 / 3600.0;
    let shown = ((HISTORY_DAYS * 86_400 / report.step_s) as usize).min(report.history.len());
    let history = &report.history[report.history.len() - shown..];
    history
        .iter()
        .enumerate()
        .map(|(i, v)| ((i as f64 - shown as f64) * hours_per_step, *v))
        .collect()
}

/// One figure of the forecast, as (hours ahead, value) points.
fn forecast_line(report: &ForecastReport, value: fn(&ForecastPoint) -> f64) -> Vec<(f64, f64)> {
    let hours_per_step = report.step_s as f64 / 3600.0;
    report
        .forecast
        .iter()
        .enumerate()
        .map(|(i, p)| (i as f64 * hours_per_step, value(p)))
        .collect()
}
