//! One tuning run: split the history (walk-forward), search the space on the
//! first part, choose the cheapest candidate that meets the budget, and score
//! it, the input policy and the baselines on both parts.

use super::rewrite::{NewValue, rewrite};
use super::search::{SearchPlan, Trial, best_index, search};
use super::space::{Dimension, Unit};
use crate::cli::diff::{FieldChange, field_changes};
use crate::forecast::memo::ForecastMemo;
use crate::policy_file::{PolicyFile, parse_str};
use crate::sim::run::{SimOptions, SimReport, default_capacity_per_instance, simulate};
use crate::sim::score::Score;
use crate::sim::trace::Trace;
use serde::Serialize;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Share of the history the search sees; the rest is held out.
pub const TUNING_SHARE: f64 = 0.7;

/// What to tune and on what.
pub struct TuneRequest {
    /// The validated policy file to tune.
    pub file: PolicyFile,
    /// The policy file as written, to rewrite.
    pub text: String,
    /// Where the policy file was read from.
    pub path: PathBuf,
    /// The load the candidates are simulated on: the first 70% to tune on, the rest held out.
    pub trace: Arc<Trace>,
    /// The simulated cloud; `baselines` and `keep_decisions` are ignored.
    pub options: SimOptions,
    /// The fields to search, each with its range.
    pub dimensions: Vec<Dimension>,
    /// Most tau_U (percent) the chosen policy may have on the tuning part;
    /// the input policy's own when `None`.
    pub budget_tau_u: Option<f64>,
    /// How many candidates to try, and the seed.
    pub plan: SearchPlan,
}

/// Why tuning cannot run.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// No field of the search space applies to the policy file.
    #[error("nothing to tune: no field of the search space applies to this policy file")]
    NoDimensions,
    #[error(
        "the trace has {0} values; walk-forward tuning needs at least 10 (7 to tune on, 3 held out)"
    )]
    /// The trace is too short to split: its length.
    TooShort(usize),
    /// The policy cannot be simulated.
    #[error("{0}")]
    Simulate(#[from] crate::sim::run::SimError),
    /// No candidate could be simulated: the first one's error.
    #[error("every candidate failed; the first: {0}")]
    AllFailed(String),
    /// The tuned file could not be written: why.
    #[error("writing the tuned file: {0}")]
    Rewrite(String),
}

/// One part of the history.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    /// The time of the part's first value.
    pub start: chrono::DateTime<chrono::Utc>,
    /// The time of the part's last value.
    pub end: chrono::DateTime<chrono::Utc>,
    /// The part's length, days.
    pub days: f64,
}

/// A run on the axes the front is drawn on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Instance-hours paid for over the part: the cost.
    pub instance_hours: f64,
    /// tau_U: share of time (percent) the fleet was under-provisioned.
    pub tau_u: f64,
    /// Desired capacity changes per day.
    pub changes_per_day: f64,
}

impl Point {
    fn of(score: &Score, days: f64) -> Point {
        Point {
            instance_hours: score.instance_hours,
            tau_u: score.under_timeshare,
            changes_per_day: f64::from(score.capacity_changes) / days.max(1e-9),
        }
    }
}

/// One candidate tried.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Its value per dimension.
    pub values: Vec<f64>,
    /// Its run on the tuning part, or why it could not run (in JSON, the
    /// point or `{"error": "..."}`).
    #[serde(serialize_with = "point_or_error")]
    pub tuning: Result<Point, String>,
}

fn point_or_error<S: serde::Serializer>(
    outcome: &Result<Point, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match outcome {
        Ok(point) => point.serialize(serializer),
        Err(error) => serde_json::json!({ "error": error }).serialize(serializer),
    }
}

/// A policy or baseline scored on both parts.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    /// The input policy's file name, or the baseline's name.
    pub name: String,
    /// Its run on the tuning part.
    pub tuning: Point,
    /// Its run on the held-out part.
    pub held_out: Point,
}

/// Everything a tuning run found.
#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    /// Load one instance serves at 100% utilization, given or derived.
    pub capacity_per_instance: f64,
    /// Time from launch to in service, seconds.
    pub boot_time_s: i64,
    /// Delay before a period's metrics become visible, seconds.
    pub publish_delay_s: i64,
    /// The part of the history searched on.
    pub tuning: Part,
    /// The part held out to check the choice on.
    pub held_out: Part,
    /// Most tau_U (percent) the chosen policy may have on the tuning part.
    pub budget_tau_u: f64,
    /// The budget was not given: it is the input policy's tau_U on the tuning part.
    pub budget_is_current: bool,
    /// The fields searched, each with its range.
    pub dimensions: Vec<Dimension>,
    /// Every candidate tried, in the order tried.
    pub candidates: Vec<Candidate>,
    /// Indices of the candidates on the Pareto front (instance-hours vs
    /// tau_U, both lower is better), cheapest first.
    pub front: Vec<usize>,
    /// The input policy first, then the baselines.
    pub references: Vec<Reference>,
    /// The cheapest candidate meeting the budget, or the closest to it.
    pub chosen: usize,
    /// Whether the chosen candidate meets the budget on the tuning part.
    pub meets_budget: bool,
    /// The chosen candidate on the held-out part.
    pub chosen_held_out: Point,
    /// The chosen candidate as fields changed from the input file.
    pub changes: Vec<FieldChange>,
    /// The tuned policy file, the input's text with the chosen values.
    #[serde(skip)]
    pub tuned_text: String,
}

impl TuneReport {
    /// The chosen candidate's run on the tuning part.
    pub fn chosen_tuning(&self) -> Point {
        self.candidates[self.chosen]
            .tuning
            .clone()
            .expect("the chosen candidate ran")
    }
}

/// Ranks outcomes: those within budget by instance-hours, then the rest by
/// tau_U (closest first), then failures.
pub fn better(budget: f64) -> impl Fn(&Result<Point, String>, &Result<Point, String>) -> Ordering {
    move |a, b| {
        let rank = |o: &Result<Point, String>| match o {
            Ok(p) if p.tau_u <= budget + 1e-9 => (0, p.instance_hours, p.tau_u),
            Ok(p) => (1, p.tau_u, p.instance_hours),
            Err(_) => (2, 0.0, 0.0),
        };
        let (ra, rb) = (rank(a), rank(b));
        ra.0.cmp(&rb.0)
            .then(ra.1.total_cmp(&rb.1))
            .then(ra.2.total_cmp(&rb.2))
    }
}

/// The first `TUNING_SHARE` of the trace and the rest.
pub fn walk_forward_split(trace: &Trace) -> Result<(Trace, Trace), TuneError> {
    let len = trace.values().len();
    if len < 10 {
        return Err(TuneError::TooShort(len));
    }
    let index = ((len as f64) * TUNING_SHARE).round() as usize;
    trace.split_at(index).ok_or(TuneError::TooShort(len))
}

/// Indices of the points no other point beats on both instance-hours and
/// tau_U, cheapest first.
pub fn pareto_front(points: &[Option<Point>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).filter(|&i| points[i].is_some()).collect();
    let at = |i: usize| points[i].expect("filtered to points that ran");
    order.sort_by(|&a, &b| {
        let (pa, pb) = (at(a), at(b));
        pa.instance_hours
            .total_cmp(&pb.instance_hours)
            .then(pa.tau_u.total_cmp(&pb.tau_u))
            .then(a.cmp(&b))
    });
    let mut front = Vec::new();
    let mut best_tau = f64::INFINITY;
    for i in order {
        if at(i).tau_u < best_tau {
            best_tau = at(i).tau_u;
            front.push(i);
        }
    }
    front
}

/// The input text with `values` written at each dimension that changes.
pub fn candidate_text(
    text: &str,
    dimensions: &[Dimension],
    values: &[f64],
) -> Result<String, String> {
    let edits: Vec<_> = dimensions
        .iter()
        .zip(values)
        .filter(|(d, v)| d.current != Some(**v))
        .map(|(d, &v)| {
            let value = match d.field.unit {
                Unit::Seconds => NewValue::Text(d.format(v)),
                Unit::Number => NewValue::Number(v),
            };
            (d.segments.clone(), value)
        })
        .collect();
    rewrite(text, &edits).map_err(|e| e.to_string())
}

fn candidate_file(request: &TuneRequest, values: &[f64]) -> Result<(PolicyFile, String), String> {
    let text = candidate_text(&request.text, &request.dimensions, values)?;
    let file = parse_str(&text, &request.path).map_err(|e| e.to_string())?;
    Ok((file, text))
}

fn days(report: &SimReport) -> f64 {
    report.minutes as f64 / 1440.0
}

/// Runs the search and scores the result.
pub fn tune(request: &TuneRequest) -> Result<TuneReport, TuneError> {
    if request.dimensions.is_empty() {
        return Err(TuneError::NoDimensions);
    }
    let (tuning_trace, held_out_trace) = walk_forward_split(&request.trace)?;
    let (tuning_trace, held_out_trace) = (Arc::new(tuning_trace), Arc::new(held_out_trace));
    // One capacity per instance for every run, from the whole history.
    let capacity_per_instance = match request.options.capacity_per_instance {
        Some(c) => c,
        None => default_capacity_per_instance(&request.trace, request.file.target.max_capacity)
            .ok_or(crate::sim::run::SimError::NoLoad)?,
    };
    // Forecasts do not depend on the fields searched: every run on a part
    // shares one memo of model choices and fits (see `ForecastMemo`).
    let (tuning_forecasts, held_out_forecasts) =
        (Arc::new(ForecastMemo::new()), Arc::new(ForecastMemo::new()));
    let options = |baselines: bool, forecasts: &Arc<ForecastMemo>| SimOptions {
        capacity_per_instance: Some(capacity_per_instance),
        baselines,
        keep_decisions: false,
        forecasts: Some(forecasts.clone()),
        ..request.options.clone()
    };
    let current_tuning = simulate(
        &request.file,
        tuning_trace.clone(),
        &options(true, &tuning_forecasts),
    )?;
    let current_held_out = simulate(
        &request.file,
        held_out_trace.clone(),
        &options(true, &held_out_forecasts),
    )?;
    let (tuning_days, held_out_days) = (days(&current_tuning), days(&current_held_out));
    let budget = request
        .budget_tau_u
        .unwrap_or(current_tuning.runs[0].score.under_timeshare);

    let evaluate = |point: &[f64]| -> Result<Point, String> {
        let values: Vec<f64> = request
            .dimensions
            .iter()
            .zip(point)
            .map(|(d, &u)| d.value_at(u))
            .collect();
        let (file, _) = candidate_file(request, &values)?;
        let report = simulate(
            &file,
            tuning_trace.clone(),
            &options(false, &tuning_forecasts),
        )
        .map_err(|e| e.to_string())?;
        Ok(Point::of(&report.runs[0].score, tuning_days))
    };
    // The input policy's own values first, so nothing worse than it is chosen
    // when it is within budget (clamped into the ranges where it is outside).
    let current: Vec<f64> = request
        .dimensions
        .iter()
        .map(|d| match d.current {
            Some(v) if d.high > d.low => ((v - d.low) / (d.high - d.low)).clamp(0.0, 1.0),
            _ => 0.5,
        })
        .collect();
    let trials: Vec<Trial<Result<Point, String>>> = search(
        request.dimensions.len(),
        request.plan,
        vec![current],
        evaluate,
        better(budget),
    );
    let candidates: Vec<Candidate> = trials
        .iter()
        .map(|t| Candidate {
            values: request
                .dimensions
                .iter()
                .zip(&t.point)
                .map(|(d, &u)| d.value_at(u))
                .collect(),
            tuning: t.outcome.clone(),
        })
        .collect();
    let chosen = best_index(&trials, better(budget)).expect("the search tried a point");
    let chosen_point = match &candidates[chosen].tuning {
        Ok(p) => *p,
        Err(e) => return Err(TuneError::AllFailed(e.clone())),
    };
    let meets_budget = chosen_point.tau_u <= budget + 1e-9;
    let (chosen_file, tuned_text) =
        candidate_file(request, &candidates[chosen].values).map_err(TuneError::Rewrite)?;
    let chosen_held_out = simulate(
        &chosen_file,
        held_out_trace,
        &options(false, &held_out_forecasts),
    )?;
    let front = pareto_front(
        &candidates
            .iter()
            .map(|c| c.tuning.as_ref().ok().copied())
            .collect::<Vec<_>>(),
    );
    let mut references = Vec::new();
    for (i, run) in current_tuning.runs.iter().enumerate() {
        let Some(held) = current_held_out.runs.iter().find(|r| r.name == run.name) else {
            continue;
        };
        references.push(Reference {
            name: if i == 0 {
                format!("current ({})", display_name(&request.path))
            } else {
                run.name.clone()
            },
            tuning: Point::of(&run.score, tuning_days),
            held_out: Point::of(&held.score, held_out_days),
        });
    }
    Ok(TuneReport {
        capacity_per_instance,
        boot_time_s: current_tuning.boot_time_s,
        publish_delay_s: current_tuning.publish_delay_s,
        tuning: Part {
            start: current_tuning.trace_start,
            end: current_tuning.trace_end,
            days: tuning_days,
        },
        held_out: Part {
            start: current_held_out.trace_start,
            end: current_held_out.trace_end,
            days: held_out_days,
        },
        budget_tau_u: budget,
        budget_is_current: request.budget_tau_u.is_none(),
        dimensions: request.dimensions.clone(),
        candidates,
        front,
        references,
        chosen,
        meets_budget,
        chosen_held_out: Point::of(&chosen_held_out.runs[0].score, held_out_days),
        changes: field_changes(&request.file, &chosen_file),
        tuned_text,
    })
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};

    fn point(instance_hours: f64, tau_u: f64) -> Option<Point> {
        Some(Point {
            instance_hours,
            tau_u,
            changes_per_day: 0.0,
        })
    }

    #[test]
    fn the_split_tunes_on_the_first_70_percent_and_holds_out_the_rest() {
        let start = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let values: Vec<f64> = (0..1000).map(f64::from).collect();
        let trace = Trace::new(start, Duration::minutes(1), values).unwrap();
        let (tuning, held_out) = walk_forward_split(&trace).unwrap();
        assert_eq!(tuning.values().len(), 700);
        assert_eq!(held_out.values().len(), 300);
        assert_eq!(tuning.start(), start);
        assert_eq!(held_out.start(), start + Duration::minutes(700));
        assert_eq!(held_out.values()[0], 700.0, "no value lost or repeated");
        assert_eq!(tuning.end() + Duration::minutes(1), held_out.start());
        let short = Trace::new(start, Duration::minutes(1), vec![1.0; 9]).unwrap();
        assert!(matches!(
            walk_forward_split(&short),
            Err(TuneError::TooShort(9))
        ));
    }

    #[test]
    fn the_front_keeps_only_points_nothing_beats_on_both_axes() {
        let points = [
            point(100.0, 1.0),
            point(90.0, 2.0),
            point(110.0, 1.5), // beaten by the first
            None,
            point(120.0, 0.5),
            point(90.0, 2.5), // beaten by the second
        ];
        assert_eq!(pareto_front(&points), vec![1, 0, 4]);
    }

    #[test]
    fn the_cheapest_within_budget_wins_and_else_the_closest() {
        let rank = better(1.0);
        let ok = |ih: f64, tau: f64| Ok::<_, String>(point(ih, tau).unwrap());
        assert_eq!(rank(&ok(90.0, 0.9), &ok(100.0, 0.1)), Ordering::Less);
        assert_eq!(rank(&ok(200.0, 1.0), &ok(50.0, 1.2)), Ordering::Less);
        assert_eq!(rank(&ok(50.0, 1.1), &ok(40.0, 1.2)), Ordering::Less);
        assert_eq!(rank(&ok(500.0, 9.0), &Err("failed".into())), Ordering::Less);
    }
}
