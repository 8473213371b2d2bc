//! One tuning run: split each history (walk-forward), search the space on
//! the first parts, choose the cheapest candidate that meets the budget on
//! every history, and score it, the input policy and the baselines on both
//! parts.
//!
//! With several histories, each candidate runs on every one: its cost is
//! the instance-hours of all of them together, and the budget holds on each
//! (a policy short 0% of the time on one workload and 3% on another is not
//! within a 1.5% budget: each workload is a service with its own users).

use super::rewrite::{NewValue, rewrite};
use super::search::{SearchPlan, Trial, best_index, search};
use super::space::{Dimension, Unit};
use crate::cli::diff::{FieldChange, field_changes};
use crate::forecast::memo::ForecastMemo;
use crate::policy_file::{PolicyFile, parse_str};
use crate::sim::run::{SimError, SimOptions, SimReport, default_capacity_per_instance, simulate};
use crate::sim::score::Score;
use crate::sim::trace::Trace;
use serde::Serialize;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Share of the history the search sees; the rest is held out.
pub const TUNING_SHARE: f64 = 0.7;

/// The quantile of a trace's load `TuneRequest::p95_instances` sizes by.
const SCALE_QUANTILE: f64 = 0.95;

/// One history to tune on.
#[derive(Debug, Clone)]
pub struct TuneTrace {
    /// Where it came from, for reports (a file name, `synthetic ...`).
    pub name: String,
    /// The load, one value per step.
    pub trace: Arc<Trace>,
}

/// What to tune and on what.
pub struct TuneRequest {
    /// The validated policy file to tune.
    pub file: PolicyFile,
    /// The policy file as written, to rewrite.
    pub text: String,
    /// Where the policy file was read from.
    pub path: PathBuf,
    /// The histories the candidates are simulated on, at least one; each is
    /// split on its own: its first 70% to tune on, the rest held out.
    pub traces: Vec<TuneTrace>,
    /// The simulated cloud. Its capacity per instance holds for every
    /// trace; without one, each trace gets `ebb simulate`'s default for it
    /// (or, with `p95_instances`, the first trace's p95 / that number).
    /// `baselines` and `keep_decisions` are ignored.
    pub options: SimOptions,
    /// Rescale each trace so that its 95th-percentile load needs this many
    /// instances at 100% utilization (the equal-cost bench's c = p95 / 10 is
    /// 10): traces of different scales then share one capacity per
    /// instance, and a load target (requests per instance) means the same
    /// utilization on each.
    pub p95_instances: Option<f64>,
    /// The fields to search, each with its range.
    pub dimensions: Vec<Dimension>,
    /// Most tau_U (percent) the chosen policy may have on each trace's
    /// tuning part; the input policy's own there when `None`.
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
    /// No trace was given.
    #[error("no trace to tune on")]
    NoTraces,
    /// A trace is too short to split: its name and length.
    #[error(
        "{trace}: {len} values; walk-forward tuning needs at least 10 (7 to tune on, 3 held out)"
    )]
    TooShort {
        /// The trace's name.
        trace: String,
        /// How many values it has.
        len: usize,
    },
    /// A trace has no load to size instances by: its name.
    #[error(
        "{0}: the load is never above 0, so no capacity per instance can be derived from it; give --capacity-per-instance (and no --p95-instances)"
    )]
    NoLoad(String),
    /// The input policy cannot be simulated on a trace.
    #[error("{trace}: {source}")]
    Simulate {
        /// The trace's name.
        trace: String,
        /// Why.
        source: SimError,
    },
    /// No candidate could be simulated: the first one's error.
    #[error("every candidate failed; the first: {0}")]
    AllFailed(String),
    /// The chosen candidate could not run on a held-out part: why.
    #[error("the chosen candidate on the held-out part: {0}")]
    HeldOut(String),
    /// The tuned file could not be written: why.
    #[error("writing the tuned file: {0}")]
    Rewrite(String),
}

/// One part of a history.
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

    /// Several histories' points, `days` long each, as one: instance-hours
    /// and capacity changes add up, tau_U is the share of all their time.
    pub fn total(points: &[Point], days: &[f64]) -> Point {
        let all_days: f64 = days.iter().sum::<f64>().max(1e-9);
        let weighted = |f: fn(&Point) -> f64| -> f64 {
            points.iter().zip(days).map(|(p, d)| f(p) * d).sum::<f64>() / all_days
        };
        Point {
            instance_hours: points.iter().map(|p| p.instance_hours).sum(),
            tau_u: weighted(|p| p.tau_u),
            changes_per_day: weighted(|p| p.changes_per_day),
        }
    }
}

/// A candidate's runs on the tuning parts: all traces together, and each.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// Every trace's tuning part as one (see [`Point::total`]).
    #[serde(flatten)]
    pub total: Point,
    /// Each trace's tuning part, in the order the traces were given.
    pub traces: Vec<Point>,
}

/// One candidate tried.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Its value per dimension.
    pub values: Vec<f64>,
    /// Its runs on the tuning parts, or why it could not run (in JSON, the
    /// scores or `{"error": "..."}`).
    #[serde(serialize_with = "scored_or_error")]
    pub tuning: Result<Scored, String>,
}

fn scored_or_error<S: serde::Serializer>(
    outcome: &Result<Scored, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match outcome {
        Ok(scored) => scored.serialize(serializer),
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

/// What a tuning run found on one history.
#[derive(Debug, Clone, Serialize)]
pub struct TraceSummary {
    /// Where the history came from.
    pub name: String,
    /// The factor its load was multiplied by (1 unless `p95_instances`).
    pub scale: f64,
    /// Load one instance serves at 100% utilization, given or derived.
    pub capacity_per_instance: f64,
    /// The part of the history searched on.
    pub tuning: Part,
    /// The part held out to check the choice on.
    pub held_out: Part,
    /// Most tau_U (percent) the chosen policy may have on the tuning part.
    pub budget_tau_u: f64,
    /// The input policy first, then the baselines.
    pub references: Vec<Reference>,
    /// The chosen candidate on the tuning part.
    pub chosen_tuning: Point,
    /// The chosen candidate on the held-out part.
    pub chosen_held_out: Point,
}

/// Everything a tuning run found.
#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    /// Time from launch to in service, seconds.
    pub boot_time_s: i64,
    /// Delay before a period's metrics become visible, seconds.
    pub publish_delay_s: i64,
    /// Each history, in the order given.
    pub traces: Vec<TraceSummary>,
    /// The budget was not given: on each trace it is the input policy's
    /// tau_U on that trace's tuning part.
    pub budget_is_current: bool,
    /// The fields searched, each with its range.
    pub dimensions: Vec<Dimension>,
    /// Every candidate tried, in the order tried.
    pub candidates: Vec<Candidate>,
    /// Indices of the candidates on the Pareto front (instance-hours vs
    /// tau_U of all traces together, both lower is better), cheapest first.
    pub front: Vec<usize>,
    /// The input policy first, then the baselines, all traces together.
    pub references: Vec<Reference>,
    /// The cheapest candidate meeting the budget, or the closest to it.
    pub chosen: usize,
    /// Whether the chosen candidate meets the budget on every trace's tuning part.
    pub meets_budget: bool,
    /// The chosen candidate on the held-out parts, all traces together.
    pub chosen_held_out: Point,
    /// The chosen candidate as fields changed from the input file.
    pub changes: Vec<FieldChange>,
    /// The tuned policy file, the input's text with the chosen values.
    #[serde(skip)]
    pub tuned_text: String,
}

impl TuneReport {
    /// The chosen candidate's run on the tuning parts, all traces together.
    pub fn chosen_tuning(&self) -> Point {
        self.candidates[self.chosen]
            .tuning
            .as_ref()
            .expect("the chosen candidate ran")
            .total
    }

    /// The tuning parts' length, all traces together, days.
    pub fn tuning_days(&self) -> f64 {
        self.traces.iter().map(|t| t.tuning.days).sum()
    }

    /// The held-out parts' length, all traces together, days.
    pub fn held_out_days(&self) -> f64 {
        self.traces.iter().map(|t| t.held_out.days).sum()
    }
}

/// Whether `scored` is within each trace's budget.
pub fn within_budgets(scored: &Scored, budgets: &[f64]) -> bool {
    scored
        .traces
        .iter()
        .zip(budgets)
        .all(|(p, budget)| p.tau_u <= budget + 1e-9)
}

/// Ranks outcomes: those within every trace's budget by total
/// instance-hours, then the rest by how far the worst trace is over its
/// budget (closest first), then failures.
pub fn better(
    budgets: Vec<f64>,
) -> impl Fn(&Result<Scored, String>, &Result<Scored, String>) -> Ordering {
    move |a, b| {
        let rank = |o: &Result<Scored, String>| match o {
            Ok(s) if within_budgets(s, &budgets) => (0, s.total.instance_hours, s.total.tau_u),
            Ok(s) => {
                let worst = s
                    .traces
                    .iter()
                    .zip(&budgets)
                    .map(|(p, budget)| p.tau_u - budget)
                    .fold(f64::NEG_INFINITY, f64::max);
                (1, worst, s.total.instance_hours)
            }
            Err(_) => (2, 0.0, 0.0),
        };
        let (ra, rb) = (rank(a), rank(b));
        ra.0.cmp(&rb.0)
            .then(ra.1.total_cmp(&rb.1))
            .then(ra.2.total_cmp(&rb.2))
    }
}

/// The first `TUNING_SHARE` of the trace and the rest; `name` for the error.
pub fn walk_forward_split(trace: &Trace, name: &str) -> Result<(Trace, Trace), TuneError> {
    let len = trace.values().len();
    let too_short = || TuneError::TooShort {
        trace: name.to_string(),
        len,
    };
    if len < 10 {
        return Err(too_short());
    }
    let index = ((len as f64) * TUNING_SHARE).round() as usize;
    trace.split_at(index).ok_or_else(too_short)
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

/// One history made ready: scaled, split, with its cloud and forecast memos.
struct Prepared {
    name: String,
    scale: f64,
    capacity_per_instance: f64,
    /// The tuning part, then the held-out part.
    parts: [Arc<Trace>; 2],
    /// Forecasts do not depend on the fields searched: every run on a part
    /// shares one memo of model choices and fits (see `ForecastMemo`).
    memos: [Arc<ForecastMemo>; 2],
}

const TUNING: usize = 0;
const HELD_OUT: usize = 1;

impl Prepared {
    fn options(&self, request: &TuneRequest, part: usize, baselines: bool) -> SimOptions {
        SimOptions {
            capacity_per_instance: Some(self.capacity_per_instance),
            baselines,
            keep_decisions: false,
            forecasts: Some(self.memos[part].clone()),
            ..request.options.clone()
        }
    }

    fn simulate(
        &self,
        request: &TuneRequest,
        file: &PolicyFile,
        part: usize,
        baselines: bool,
    ) -> Result<SimReport, SimError> {
        simulate(
            file,
            self.parts[part].clone(),
            &self.options(request, part, baselines),
        )
    }
}

fn p95(trace: &Trace) -> f64 {
    let mut values = trace.values().to_vec();
    crate::signal::quantile(&mut values, SCALE_QUANTILE)
}

/// Scales (when asked), splits and sizes every trace of the request.
fn prepare(request: &TuneRequest) -> Result<Vec<Prepared>, TuneError> {
    let first = request.traces.first().ok_or(TuneError::NoTraces)?;
    // With rescaling, one capacity per instance for all: given, or the
    // first trace's p95 / p95_instances (so the first is left as it is).
    let common = match (request.options.capacity_per_instance, request.p95_instances) {
        (Some(c), _) => Some(c),
        (None, Some(n)) => Some(p95(&first.trace) / n),
        (None, None) => None,
    };
    let mut prepared = Vec::new();
    for input in &request.traces {
        let no_load = || TuneError::NoLoad(input.name.clone());
        let (scale, capacity_per_instance) = match (request.p95_instances, common) {
            (Some(n), Some(c)) => {
                let p95 = p95(&input.trace);
                if !(p95 > 0.0 && c > 0.0) {
                    return Err(no_load());
                }
                (n * c / p95, c)
            }
            (_, Some(c)) => (1.0, c),
            // One capacity per instance for every run on a trace, from its whole history.
            (_, None) => (
                1.0,
                default_capacity_per_instance(&input.trace, request.file.target.max_capacity)
                    .ok_or_else(no_load)?,
            ),
        };
        let trace = if scale == 1.0 {
            (*input.trace).clone()
        } else {
            input.trace.scaled(scale)
        };
        let (tuning, held_out) = walk_forward_split(&trace, &input.name)?;
        prepared.push(Prepared {
            name: input.name.clone(),
            scale,
            capacity_per_instance,
            parts: [Arc::new(tuning), Arc::new(held_out)],
            memos: [Arc::new(ForecastMemo::new()), Arc::new(ForecastMemo::new())],
        });
    }
    Ok(prepared)
}

/// Runs the search and scores the result.
pub fn tune(request: &TuneRequest) -> Result<TuneReport, TuneError> {
    if request.dimensions.is_empty() {
        return Err(TuneError::NoDimensions);
    }
    let traces = prepare(request)?;
    // The input policy and the baselines on both parts of every trace.
    let mut current = Vec::new();
    for trace in &traces {
        let run = |part| {
            trace
                .simulate(request, &request.file, part, true)
                .map_err(|source| TuneError::Simulate {
                    trace: trace.name.clone(),
                    source,
                })
        };
        current.push([run(TUNING)?, run(HELD_OUT)?]);
    }
    let part_days = |part: usize| -> Vec<f64> { current.iter().map(|r| days(&r[part])).collect() };
    let (tuning_days, held_out_days) = (part_days(TUNING), part_days(HELD_OUT));
    let budgets: Vec<f64> = current
        .iter()
        .map(|r| {
            request
                .budget_tau_u
                .unwrap_or(r[TUNING].runs[0].score.under_timeshare)
        })
        .collect();

    let score = |file: &PolicyFile, part: usize, days: &[f64]| -> Result<Scored, String> {
        let mut points = Vec::new();
        for (trace, &days) in traces.iter().zip(days) {
            let report = trace
                .simulate(request, file, part, false)
                .map_err(|e| format!("{}: {e}", trace.name))?;
            points.push(Point::of(&report.runs[0].score, days));
        }
        Ok(Scored {
            total: Point::total(&points, days),
            traces: points,
        })
    };
    let evaluate = |point: &[f64]| -> Result<Scored, String> {
        let values: Vec<f64> = request
            .dimensions
            .iter()
            .zip(point)
            .map(|(d, &u)| d.value_at(u))
            .collect();
        let (file, _) = candidate_file(request, &values)?;
        score(&file, TUNING, &tuning_days)
    };
    // The input policy's own values first, so nothing worse than it is chosen
    // when it is within budget (clamped into the ranges where it is outside).
    let start: Vec<f64> = request
        .dimensions
        .iter()
        .map(|d| match d.current {
            Some(v) if d.high > d.low => ((v - d.low) / (d.high - d.low)).clamp(0.0, 1.0),
            _ => 0.5,
        })
        .collect();
    let trials: Vec<Trial<Result<Scored, String>>> = search(
        request.dimensions.len(),
        request.plan,
        vec![start],
        evaluate,
        better(budgets.clone()),
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
    let chosen = best_index(&trials, better(budgets.clone())).expect("the search tried a point");
    let chosen_tuning = match &candidates[chosen].tuning {
        Ok(scored) => scored.clone(),
        Err(e) => return Err(TuneError::AllFailed(e.clone())),
    };
    let meets_budget = within_budgets(&chosen_tuning, &budgets);
    let (chosen_file, tuned_text) =
        candidate_file(request, &candidates[chosen].values).map_err(TuneError::Rewrite)?;
    let chosen_held_out =
        score(&chosen_file, HELD_OUT, &held_out_days).map_err(TuneError::HeldOut)?;
    let front = pareto_front(
        &candidates
            .iter()
            .map(|c| c.tuning.as_ref().ok().map(|s| s.total))
            .collect::<Vec<_>>(),
    );
    let file_name = format!("current ({})", display_name(&request.path));
    let mut summaries = Vec::new();
    for (i, (trace, runs)) in traces.iter().zip(&current).enumerate() {
        let [tuning_run, held_out_run] = runs;
        let mut references = Vec::new();
        for (r, run) in tuning_run.runs.iter().enumerate() {
            let Some(held) = held_out_run.runs.iter().find(|h| h.name == run.name) else {
                continue;
            };
            references.push(Reference {
                name: if r == 0 {
                    file_name.clone()
                } else {
                    run.name.clone()
                },
                tuning: Point::of(&run.score, tuning_days[i]),
                held_out: Point::of(&held.score, held_out_days[i]),
            });
        }
        let part = |report: &SimReport| Part {
            start: report.trace_start,
            end: report.trace_end,
            days: days(report),
        };
        summaries.push(TraceSummary {
            name: trace.name.clone(),
            scale: trace.scale,
            capacity_per_instance: trace.capacity_per_instance,
            tuning: part(tuning_run),
            held_out: part(held_out_run),
            budget_tau_u: budgets[i],
            references,
            chosen_tuning: chosen_tuning.traces[i],
            chosen_held_out: chosen_held_out.traces[i],
        });
    }
    Ok(TuneReport {
        boot_time_s: current[0][TUNING].boot_time_s,
        publish_delay_s: current[0][TUNING].publish_delay_s,
        references: total_references(&summaries, &tuning_days, &held_out_days),
        traces: summaries,
        budget_is_current: request.budget_tau_u.is_none(),
        dimensions: request.dimensions.clone(),
        candidates,
        front,
        chosen,
        meets_budget,
        chosen_held_out: chosen_held_out.total,
        changes: field_changes(&request.file, &chosen_file),
        tuned_text,
    })
}

/// The references every trace has (the input policy, the baselines that
/// ran on each), all traces together.
fn total_references(
    summaries: &[TraceSummary],
    tuning_days: &[f64],
    held_out_days: &[f64],
) -> Vec<Reference> {
    let Some(first) = summaries.first() else {
        return Vec::new();
    };
    first
        .references
        .iter()
        .filter_map(|reference| {
            let each: Option<Vec<&Reference>> = summaries
                .iter()
                .map(|s| s.references.iter().find(|r| r.name == reference.name))
                .collect();
            let each = each?;
            let total = |f: fn(&Reference) -> Point, days: &[f64]| {
                Point::total(&each.iter().map(|r| f(r)).collect::<Vec<_>>(), days)
            };
            Some(Reference {
                name: reference.name.clone(),
                tuning: total(|r| r.tuning, tuning_days),
                held_out: total(|r| r.held_out, held_out_days),
            })
        })
        .collect()
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

    fn start() -> DateTime<chrono::Utc> {
        DateTime::from_timestamp(1_767_571_200, 0).unwrap()
    }

    #[test]
    fn the_split_tunes_on_the_first_70_percent_and_holds_out_the_rest() {
        let values: Vec<f64> = (0..1000).map(f64::from).collect();
        let trace = Trace::new(start(), Duration::minutes(1), values).unwrap();
        let (tuning, held_out) = walk_forward_split(&trace, "t").unwrap();
        assert_eq!(tuning.values().len(), 700);
        assert_eq!(held_out.values().len(), 300);
        assert_eq!(tuning.start(), start());
        assert_eq!(held_out.start(), start() + Duration::minutes(700));
        assert_eq!(held_out.values()[0], 700.0, "no value lost or repeated");
        assert_eq!(tuning.end() + Duration::minutes(1), held_out.start());
        let short = Trace::new(start(), Duration::minutes(1), vec![1.0; 9]).unwrap();
        let error = walk_forward_split(&short, "short.csv").unwrap_err();
        assert!(matches!(error, TuneError::TooShort { len: 9, .. }));
        assert!(
            error.to_string().starts_with("short.csv: 9 values"),
            "{error}"
        );
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

    fn scored(traces: &[(f64, f64)]) -> Result<Scored, String> {
        let points: Vec<Point> = traces
            .iter()
            .map(|&(ih, tau)| point(ih, tau).unwrap())
            .collect();
        Ok(Scored {
            total: Point::total(&points, &vec![1.0; points.len()]),
            traces: points,
        })
    }

    #[test]
    fn the_cheapest_within_budget_wins_and_else_the_closest() {
        let rank = better(vec![1.0]);
        let ok = |ih: f64, tau: f64| scored(&[(ih, tau)]);
        assert_eq!(rank(&ok(90.0, 0.9), &ok(100.0, 0.1)), Ordering::Less);
        assert_eq!(rank(&ok(200.0, 1.0), &ok(50.0, 1.2)), Ordering::Less);
        assert_eq!(rank(&ok(50.0, 1.1), &ok(40.0, 1.2)), Ordering::Less);
        assert_eq!(rank(&ok(500.0, 9.0), &Err("failed".into())), Ordering::Less);
    }

    /// The budget holds on each trace: a candidate whose mean tau_U is
    /// within both budgets but one trace's is over loses to a dearer one
    /// within both; among those over, the one whose worst trace is closer
    /// wins.
    #[test]
    fn with_several_traces_the_budget_holds_on_each() {
        let rank = better(vec![1.0, 2.0]);
        let balanced = scored(&[(60.0, 1.0), (60.0, 2.0)]);
        let lopsided = scored(&[(40.0, 0.0), (40.0, 2.5)]); // mean 1.25, under both
        assert!(!within_budgets(lopsided.as_ref().unwrap(), &[1.0, 2.0]));
        assert_eq!(rank(&balanced, &lopsided), Ordering::Less);
        let a_little_over = scored(&[(10.0, 1.1), (10.0, 2.0)]);
        let far_over = scored(&[(5.0, 1.0), (5.0, 4.0)]);
        assert_eq!(rank(&a_little_over, &far_over), Ordering::Less);
        assert_eq!(rank(&far_over, &Err("failed".into())), Ordering::Less);
    }

    #[test]
    fn a_total_adds_cost_and_changes_and_weighs_tau_u_by_time() {
        let a = Point {
            instance_hours: 100.0,
            tau_u: 1.0,
            changes_per_day: 10.0,
        };
        let b = Point {
            instance_hours: 50.0,
            tau_u: 4.0,
            changes_per_day: 40.0,
        };
        // 3 days of a, 1 of b: 30 + 40 changes over 4 days; 3x1% + 1x4% of the time.
        let total = Point::total(&[a, b], &[3.0, 1.0]);
        assert_eq!(total.instance_hours, 150.0);
        assert!((total.tau_u - 1.75).abs() < 1e-12, "{total:?}");
        assert!((total.changes_per_day - 17.5).abs() < 1e-12, "{total:?}");
        assert_eq!(Point::total(&[a], &[2.0]), a);
    }

    fn request(
        traces: Vec<TuneTrace>,
        capacity: Option<f64>,
        p95_instances: Option<f64>,
    ) -> TuneRequest {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-cpu.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        TuneRequest {
            file: parse_str(&text, &path).unwrap(),
            text,
            path,
            traces,
            options: SimOptions {
                capacity_per_instance: capacity,
                ..SimOptions::default()
            },
            p95_instances,
            dimensions: Vec::new(),
            budget_tau_u: None,
            plan: SearchPlan {
                candidates: 1,
                seed: 1,
            },
        }
    }

    fn ramp(name: &str, top: f64) -> TuneTrace {
        // 0, top/99, ..., top: p95 is 0.95 x top (interpolated).
        let values = (0..100).map(|i| top * f64::from(i) / 99.0).collect();
        TuneTrace {
            name: name.into(),
            trace: Arc::new(Trace::new(start(), Duration::minutes(1), values).unwrap()),
        }
    }

    #[test]
    fn rescaling_gives_each_trace_the_same_p95_in_instances() {
        let traces = vec![ramp("small", 100.0), ramp("large", 4000.0)];
        // No capacity given: the first trace's p95 / 10, the first unscaled.
        let prepared = prepare(&request(traces.clone(), None, Some(10.0))).unwrap();
        let c = prepared[0].capacity_per_instance;
        assert!((c - 9.5).abs() < 1e-9, "{c}");
        assert_eq!(prepared[0].scale, 1.0);
        assert!((prepared[1].scale - 1.0 / 40.0).abs() < 1e-12);
        for p in &prepared {
            assert_eq!(p.capacity_per_instance, c);
            let whole: Vec<f64> = p.parts.iter().flat_map(|t| t.values().to_vec()).collect();
            let whole = Trace::new(start(), Duration::minutes(1), whole).unwrap();
            assert!((p95(&whole) / c - 10.0).abs() < 1e-9, "{}", p.name);
        }
        // A capacity given: every trace is scaled to it.
        let prepared = prepare(&request(traces.clone(), Some(50.0), Some(10.0))).unwrap();
        assert!((prepared[0].scale - 500.0 / 95.0).abs() < 1e-9);
        // Without rescaling each trace keeps its values and gets its own default.
        let prepared = prepare(&request(traces, None, None)).unwrap();
        assert!(prepared.iter().all(|p| p.scale == 1.0));
        assert!(prepared[1].capacity_per_instance > 30.0 * prepared[0].capacity_per_instance);
    }

    #[test]
    fn a_trace_without_load_or_too_short_is_named() {
        let zero = TuneTrace {
            name: "idle.csv".into(),
            trace: Arc::new(Trace::new(start(), Duration::minutes(1), vec![0.0; 50]).unwrap()),
        };
        let error = prepare(&request(vec![ramp("a", 10.0), zero], None, Some(10.0)))
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .starts_with("idle.csv: the load is never above 0"),
            "{error}"
        );
        let error = prepare(&request(Vec::new(), None, None)).err().unwrap();
        assert!(matches!(error, TuneError::NoTraces));
    }
}
