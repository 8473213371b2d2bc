//! Draws a tuning run as an SVG: every candidate and the Pareto front on
//! instance-hours vs tau_U (tuning part), with the input policy, the
//! baselines and the chosen candidate on the same axes.

use super::run::{Point, TuneReport};
use plotters::prelude::*;
use std::path::Path;

const FRONT: RGBColor = RGBColor(31, 119, 180);
const CHOSEN: RGBColor = RGBColor(44, 160, 44);
const CURRENT: RGBColor = RGBColor(214, 39, 40);
const BASELINE: RGBColor = RGBColor(90, 90, 90);

/// Writes the plot to `path`.
pub fn plot(report: &TuneReport, path: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let ran: Vec<Point> = report
        .candidates
        .iter()
        .filter_map(|c| c.tuning.as_ref().ok().map(|s| s.total))
        .collect();
    let all = ran
        .iter()
        .copied()
        .chain(report.references.iter().map(|r| r.tuning));
    let (mut x_min, mut x_max, mut y_max) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for p in all {
        x_min = x_min.min(p.instance_hours);
        x_max = x_max.max(p.instance_hours);
        y_max = y_max.max(p.tau_u);
    }
    if !x_min.is_finite() {
        return Err(fail(&"nothing to plot"));
    }
    let pad = ((x_max - x_min) * 0.05).max(1.0);
    let root = SVGBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "ebb tune: {} candidates, tuning part ({:.1} days)",
                report.candidates.len(),
                report.tuning_days()
            ),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(x_min - pad..x_max + pad, 0.0..(y_max * 1.1).max(0.1))
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("instance-hours")
        .y_desc("tau_U: time under-provisioned, %")
        .draw()
        .map_err(|e| fail(&e))?;
    let xy = |p: &Point| (p.instance_hours, p.tau_u);
    chart
        .draw_series(
            ran.iter()
                .map(|p| Circle::new(xy(p), 2, RGBColor(180, 180, 180).filled())),
        )
        .map_err(|e| fail(&e))?
        .label("candidate")
        .legend(|(x, y)| Circle::new((x + 10, y), 2, RGBColor(180, 180, 180).filled()));
    let front: Vec<(f64, f64)> = report
        .front
        .iter()
        .filter_map(|&i| {
            report.candidates[i]
                .tuning
                .as_ref()
                .ok()
                .map(|s| xy(&s.total))
        })
        .collect();
    chart
        .draw_series(LineSeries::new(front.clone(), FRONT.stroke_width(2)))
        .map_err(|e| fail(&e))?
        .label("Pareto front")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], FRONT));
    chart
        .draw_series(front.iter().map(|&p| Circle::new(p, 3, FRONT.filled())))
        .map_err(|e| fail(&e))?;
    // With several traces the budget holds on each, not on this total: no line.
    if let [only] = report.traces.as_slice() {
        let budget = only.budget_tau_u;
        chart
            .draw_series(LineSeries::new(
                vec![(x_min - pad, budget), (x_max + pad, budget)],
                CHOSEN.mix(0.5),
            ))
            .map_err(|e| fail(&e))?
            .label(format!("budget tau_U {budget:.2}%"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], CHOSEN.mix(0.5)));
    }
    for (i, reference) in report.references.iter().enumerate() {
        let color = if i == 0 { CURRENT } else { BASELINE };
        let at = xy(&reference.tuning);
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(at)
                    + TriangleMarker::new((0, 0), 6, color.filled())
                    + Text::new(
                        reference.name.clone(),
                        (8, -12),
                        ("sans-serif", 13).into_font().color(&color),
                    ),
            ))
            .map_err(|e| fail(&e))?;
    }
    let chosen = xy(&report.chosen_tuning());
    chart
        .draw_series(std::iter::once(
            EmptyElement::at(chosen)
                + Circle::new((0, 0), 7, CHOSEN.stroke_width(3))
                + Text::new(
                    "chosen",
                    (10, 6),
                    ("sans-serif", 14).into_font().color(&CHOSEN),
                ),
        ))
        .map_err(|e| fail(&e))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}
