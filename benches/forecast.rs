//! Forecast benchmark.
//!
//! 1. Time: fitting and forecasting one target on 14 days of 5-minute data
//!    (4,032 points), per model, and the daily backtest that chooses one.
//! 2. Accuracy: MASE and sMAPE one lead time (6 minutes: 2 steps at 5
//!    minutes, 1 at 30) ahead, per model, at 96 rolling origins over the
//!    last two days of every trace in `../shared/traces/` (when present) and
//!    of synthetic ones; each origin sees at most 14 days of history.
//! 3. The peers' 24-hour task (`peer24h`), as `../shared/tools/forecast_peer.py`
//!    runs it: at each daily origin over the last 7 days of a trace, at most
//!    14 days of history before it, the next 24 hours at the trace's step;
//!    MASE against the in-sample daily seasonal naive, averaged over origins.
//!    Peers: the daily and weekly seasonal naives and a damped additive
//!    Holt-Winters; ebb chooses by itself at each origin (daily-origin
//!    backtest at 24 h, switching margin against the previous origin's choice).
//!    With `EBB_PEER_JSON` naming the output of `forecast_peer.py`, the
//!    reference's own figures (statsmodels' Holt-Winters) are peers too:
//!    the best peer is the best of both.
//! 4. Scaling: target tracking alone vs target tracking + predictive on the
//!    simulated cloud, on diurnal traces: under-provisioning timeshare
//!    (tau_U), accuracy (theta_U) and instance-hours.
//!
//! 5. `explain` (only when named; `EBB_EXPLAIN=word` picks traces): per
//!    origin of the 24-hour task, each model's MASE at the daily origins the
//!    choice rests on, and at the origin itself: why a choice went wrong.
//!
//! `cargo bench --bench forecast` runs it in full; name sections to run only
//! those (`cargo bench --bench forecast -- timing accuracy`). Under `cargo
//! test --all-targets` it runs a small smoke pass.

#[path = "support/sections.rs"]
mod sections;
#[path = "support/traces.rs"]
mod traces;

use chrono::Duration;
use ebb::forecast::Fitted;
use ebb::forecast::accuracy::naive_scale;
use ebb::forecast::backtest::{BacktestConfig, backtest, choose, choose_and_forecast};
use ebb::forecast::candidate::{Candidate, combine};
use ebb::forecast::holt_winters::{HoltWinters, Seasonality};
use ebb::forecast::report::History;
use ebb::forecast::{Forecast, ModelKind, Seasons};
use ebb::policy_file::{PolicyFile, PolicySpec, load_file};
use ebb::sim::fleet::matched_to_fleet;
use ebb::sim::run::{SimOptions, default_capacity_per_instance, simulate};
use ebb::sim::synth::{Shape, SynthSpec, synthesize};
use ebb::sim::trace::Trace;
use sections::Sections;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use traces::last_days;

const STEP_SECS: i64 = 300;
const LEAD: Duration = Duration::minutes(6);

fn main() {
    let sections = Sections::from_args();
    let (full, wanted) = (sections.full, |s: &str| sections.wanted(s));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if wanted("timing") {
        timing(full);
    }
    let traces = traces(root, full);
    if wanted("accuracy") {
        accuracy(&traces, full);
    }
    if wanted("peer24h") {
        peer24h(&traces, full);
    }
    // Diagnostics, only when named.
    if std::env::args().any(|a| a == "explain") {
        explain(&traces);
    }
    if full && wanted("scaling") {
        scaling(root, &traces);
    }
}

/// A trace as a history at 5 minutes (or its own coarser step).
fn history_of(trace: &Trace) -> Option<History> {
    History {
        start: trace.start(),
        step_secs: trace.step().num_seconds(),
        values: trace.values().to_vec(),
    }
    .resampled(STEP_SECS)
    .ok()
}

/// A trace's history with its season lengths, when its step divides a day.
fn seasonal_history_of(trace: &Trace) -> Option<(History, Seasons)> {
    let history = history_of(trace)?;
    let seasons = Seasons::for_step(history.step_secs as u64).ok()?;
    Some((history, seasons))
}

fn synthetic(shape: Shape, days: u32, step_minutes: i64) -> Trace {
    synthesize(&SynthSpec {
        shape,
        days,
        step: Duration::minutes(step_minutes),
        ..SynthSpec::default()
    })
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn timing(full: bool) {
    let days = if full { 14 } else { 3 };
    let trace = synthetic(Shape::Diurnal, days, 5);
    let y = trace.values();
    let seasons = Seasons::for_step(300).unwrap();
    let runs = if full { 11 } else { 1 };
    println!(
        "## Fit + forecast time, {days} days of 5-minute data ({} points), release build",
        y.len()
    );
    println!("| model | fit + 48 h forecast, median ms | max ms |");
    println!("|---|---:|---:|");
    for model in ModelKind::ALL {
        let mut times = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            match model.fit(y, seasons) {
                Ok(fitted) => {
                    let f = fitted.forecast(576);
                    assert!(f.mean.iter().all(|v| v.is_finite()), "{model}");
                }
                Err(e) => {
                    println!("| {model} | {e} | |");
                    break;
                }
            }
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        if !times.is_empty() {
            let max = times.iter().copied().fold(0.0, f64::max);
            println!("| {model} | {:.1} | {max:.1} |", median(times));
        }
    }
    let started = Instant::now();
    let config = BacktestConfig::lead(seasons, 2);
    let scores = backtest(y, seasons, &ModelKind::ALL, &[], &config);
    println!(
        "\nDaily model choice at the lead time (backtest of all {} models and their combinations at {} origins): {:.0} ms, chose {}",
        ModelKind::ALL.len(),
        config.origins,
        started.elapsed().as_secs_f64() * 1000.0,
        choose(&scores[0].scores).map_or("nothing".into(), |m| m.to_string())
    );
    let started = Instant::now();
    let config = BacktestConfig::daily_origins(seasons, &[12, 288, 576]);
    let scores = backtest(y, seasons, &ModelKind::ALL, &[], &config);
    let chosen: Vec<String> = scores
        .iter()
        .map(|h| choose(&h.scores).map_or("nothing".into(), |m| m.to_string()))
        .collect();
    println!(
        "Choice at 1 h / 24 h / 48 h (daily origins over 7 days, shared fits): {:.0} ms, chose {}\n",
        started.elapsed().as_secs_f64() * 1000.0,
        chosen.join(" / ")
    );
}

/// (name, trace) pairs: the shared traces when present, then synthetic ones.
fn traces(root: &Path, full: bool) -> Vec<(String, Trace)> {
    let mut out = Vec::new();
    let dir = std::env::var_os("EBB_TRACES_DIR")
        .map_or_else(|| root.join("../shared/traces"), PathBuf::from);
    match std::fs::read_dir(&dir) {
        Ok(entries) if full => {
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                .collect();
            paths.sort();
            for path in paths {
                match Trace::load(&path) {
                    Ok(t) => {
                        out.push((path.file_stem().unwrap().to_string_lossy().into_owned(), t))
                    }
                    Err(e) => println!("skipping {}: {e}", path.display()),
                }
            }
        }
        Ok(_) => {}
        Err(_) => println!("{} not found: real traces skipped", dir.display()),
    }
    let days = if full { 16 } else { 4 };
    for shape in [
        Shape::Diurnal,
        Shape::Seasonal,
        Shape::DailySurge,
        Shape::Spiky,
        Shape::Ramp,
    ] {
        out.push((
            format!("synthetic-{shape:?}").to_lowercase(),
            synthetic(shape, days, 5),
        ));
    }
    out
}

fn accuracy(traces: &[(String, Trace)], full: bool) {
    let origins = if full { 96 } else { 4 };
    println!("## Forecast accuracy one lead time (6 min) ahead, {origins} origins every 30 min");
    println!(
        "MASE against the in-sample seasonal naive (daily) error: below 1 beats same time yesterday.\n"
    );
    let names: Vec<&str> = ModelKind::ALL.iter().map(|m| m.name()).collect();
    println!("| trace | step | {} | chosen |", names.join(" | "));
    println!("|---|---|{}---|", "---|".repeat(names.len()));
    for (name, trace) in traces {
        let Some(history) = history_of(trace) else {
            println!(
                "| {name} | step {}s cannot be used | |",
                trace.step().num_seconds()
            );
            continue;
        };
        let Ok(seasons) = Seasons::for_step(history.step_secs as u64) else {
            println!(
                "| {name} | step {}s does not divide a day | |",
                history.step_secs
            );
            continue;
        };
        // At most 14 days of history before the first origin.
        let span = 14 * seasons.daily + origins * (seasons.daily / 48).max(1) + 2;
        let y = &history.values[history.values.len().saturating_sub(span)..];
        let lead_steps = (LEAD.num_seconds() / history.step_secs) as usize + 1;
        let config = BacktestConfig {
            horizons: vec![lead_steps],
            origins,
            spacing: (seasons.daily / 48).max(1),
            last_only: true,
            max_history: None,
        };
        let scores = backtest(y, seasons, &ModelKind::ALL, &[], &config)
            .remove(0)
            .scores;
        let scores = &scores[..ModelKind::ALL.len()];
        let cells: Vec<String> = scores
            .iter()
            .map(|s| match &s.accuracy {
                Ok(a) => format!(
                    "{} / {:.1}%",
                    a.mase.map_or("-".into(), |m| format!("{m:.3}")),
                    a.smape
                ),
                Err(_) => "n/a".to_string(),
            })
            .collect();
        println!(
            "| {name} | {} min | {} | {} |",
            history.step_secs / 60,
            cells.join(" | "),
            choose(scores).map_or("-".into(), |m| m.to_string())
        );
    }
    println!("\n(cells: MASE / sMAPE; n/a: history too short for the model)\n");
}

/// Mean absolute error over `scale`.
fn mase(actual: &[f64], forecast: &[f64], scale: f64) -> f64 {
    let mae = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).abs())
        .sum::<f64>()
        / actual.len() as f64;
    mae / scale
}

/// Mean of a list, or NaN for an empty one.
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The reference's MASE per (trace file stem, model) from the JSON lines
/// `forecast_peer.py` prints, when `EBB_PEER_JSON` names such a file.
fn reference_peers() -> Vec<(String, String, f64)> {
    let Some(path) = std::env::var_os("EBB_PEER_JSON") else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("EBB_PEER_JSON {}: {e}", Path::new(&path).display()));
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("EBB_PEER_JSON line {}: {e}", i + 1);
            });
            // Lines reporting a failed fit carry no MASE.
            let mase = row["mase"].as_f64()?;
            let trace = row["trace"].as_str()?.trim_end_matches(".csv").to_string();
            Some((trace, row["model"].as_str()?.to_string(), mase))
        })
        .collect()
}

/// The peers' 24-hour task on every trace: see the module comment.
fn peer24h(traces: &[(String, Trace)], full: bool) {
    let reference = reference_peers();
    let days = if full { 7 } else { 2 };
    println!(
        "## The 24-hour task: daily origins over the last {days} days, at most 14 days of history each, 24 h ahead (MASE)"
    );
    println!(
        "Peers as ../shared/tools/forecast_peer.py; ebb chooses at each origin from that history alone.\n"
    );
    let models: Vec<&str> = ModelKind::ALL.iter().map(|m| m.name()).collect();
    println!(
        "| trace | step | origins | naive daily | naive weekly | HW add. damped | reference's best | ebb | ebb / best peer | oracle / best peer | ebb chose | {} |",
        models.join(" | ")
    );
    println!(
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|{}",
        "---:|".repeat(models.len())
    );
    let mut ratios = Vec::new();
    for (name, trace) in traces {
        let Some((history, seasons)) = seasonal_history_of(trace) else {
            continue;
        };
        let y = &history.values;
        let m = seasons.daily;
        let (mut daily, mut weekly, mut hw, mut ebb) = (vec![], vec![], vec![], vec![]);
        let mut alone: Vec<Vec<f64>> = vec![Vec::new(); ModelKind::ALL.len()];
        let mut oracle_mase: Vec<f64> = Vec::new();
        let mut incumbent: Option<Candidate> = None;
        let mut chosen: Vec<String> = Vec::new();
        for k in (1..=days).rev() {
            let Some(origin) = y.len().checked_sub(k * m).filter(|o| *o >= 2 * m) else {
                continue;
            };
            let train = &y[origin.saturating_sub(14 * m)..origin];
            let actual = &y[origin..origin + m];
            let scale = naive_scale(train, m);
            if scale <= 0.0 {
                continue;
            }
            daily.push(mase(actual, &train[train.len() - m..], scale));
            if train.len() >= 7 * m {
                let week_ago = &train[train.len() - 7 * m..train.len() - 6 * m];
                weekly.push(mase(actual, week_ago, scale));
            }
            // The peer is the plain model on the raw history: what ebb does
            // to its own training data (clipping spikes) is not the peer's.
            if let Ok(fitted) = HoltWinters::fit(train, m, Seasonality::Additive) {
                hw.push(mase(actual, &fitted.forecast(m).mean, scale));
            }
            let mut forecasts: Vec<(ModelKind, Forecast)> = Vec::new();
            for (i, model) in ModelKind::ALL.into_iter().enumerate() {
                if let Ok(fitted) = model.fit(train, seasons) {
                    let forecast = fitted.forecast(m);
                    alone[i].push(mase(actual, &forecast.mean, scale));
                    forecasts.push((model, forecast));
                }
            }
            if let Some(best) = oracle(train, seasons, &forecasts, |f| mase(actual, &f.mean, scale))
            {
                oracle_mase.push(best);
            }
            if let Some((choice, forecast)) =
                choose_and_forecast(train, seasons, m, incumbent.as_ref())
            {
                ebb.push(mase(actual, &forecast.mean, scale));
                chosen.push(choice.candidate.to_string());
                incumbent = Some(choice.candidate);
            }
        }
        if daily.is_empty() {
            println!("| {name} | too short for a daily origin |");
            continue;
        }
        let theirs = reference
            .iter()
            .filter(|(trace, _, _)| trace == name)
            .min_by(|a, b| a.2.total_cmp(&b.2));
        let best = [&daily, &weekly, &hw]
            .iter()
            .filter(|v| !v.is_empty())
            .map(|v| mean(v))
            .chain(theirs.map(|t| t.2))
            .fold(f64::INFINITY, f64::min);
        let ours = mean(&ebb);
        let ratio = ours / best;
        ratios.push((name.clone(), ratio));
        let cell = |v: &[f64]| {
            if v.is_empty() {
                "n/a".to_string()
            } else {
                format!("{:.3}", mean(v))
            }
        };
        chosen.dedup();
        let alone: Vec<String> = alone.iter().map(|v| cell(v)).collect();
        println!(
            "| {name} | {} min | {} | {} | {} | {} | {} | {ours:.3} | {ratio:.2} | {:.2} | {} | {} |",
            history.step_secs / 60,
            daily.len(),
            cell(&daily),
            cell(&weekly),
            cell(&hw),
            theirs.map_or("-".into(), |t| format!("{} {:.3}", t.1, t.2)),
            mean(&oracle_mase) / best,
            chosen.join(" > "),
            alone.join(" | ")
        );
    }
    if !ratios.is_empty() {
        let geomean = (ratios.iter().map(|(_, r)| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        let (worst_name, worst) = ratios
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("not empty");
        let met = ratios.iter().filter(|(_, r)| *r <= 0.9).count();
        println!(
            "\nebb / best peer: geomean {geomean:.2}, worst {worst:.2} ({worst_name}); goal <= 0.90 met on {met} of {} traces\n",
            ratios.len()
        );
    }
}

/// The lowest error (`error` of a forecast) among the candidates ebb's
/// 24-hour backtest on `train` chooses between (every model and the
/// combinations it ranks), from the models' `forecasts` at the origin: what
/// a chooser that knew the outcome would score, a floor for any chooser
/// over these candidates.
fn oracle(
    train: &[f64],
    seasons: Seasons,
    forecasts: &[(ModelKind, Forecast)],
    error: impl Fn(&Forecast) -> f64,
) -> Option<f64> {
    let config = BacktestConfig::daily_origins(seasons, &[seasons.daily]);
    let scores = backtest(train, seasons, &ModelKind::ALL, &[], &config).pop()?;
    let forecast_of = |model: &ModelKind| forecasts.iter().find(|(m, _)| m == model).map(|f| &f.1);
    scores
        .scores
        .iter()
        .filter_map(|s| match &s.model {
            Candidate::Model(model) => forecast_of(model).map(&error),
            Candidate::Combination(c) => {
                let members: Option<Vec<Forecast>> =
                    c.members.iter().map(|m| forecast_of(m).cloned()).collect();
                members.map(|f| error(&combine(&f, c.rule)))
            }
        })
        .min_by(f64::total_cmp)
}

/// One controller configuration in the scaling comparison.
struct Variant {
    label: String,
    file: PolicyFile,
}

/// The example policy with its target tracking at `target` percent CPU and,
/// when `quantile` is given, its predictive policy provisioning for that
/// quantile at the load one instance serves at the same target.
fn variant(base: &PolicyFile, target: f64, quantile: Option<f64>, cpi: f64) -> Variant {
    let mut file = base.clone();
    file.policies
        .retain(|p| quantile.is_some() || !matches!(p, PolicySpec::Predictive(_)));
    for policy in &mut file.policies {
        match policy {
            PolicySpec::TargetTracking(t) => t.target = target,
            PolicySpec::Predictive(p) => p.quantile = quantile.expect("kept only with a quantile"),
            _ => {}
        }
    }
    let file = matched_to_fleet(&file, cpi);
    let label = match quantile {
        None => format!("TT {target:.0}% alone"),
        Some(q) => format!("TT {target:.0}% + predictive p{:.0}", q * 100.0),
    };
    Variant { label, file }
}

/// Target tracking alone vs target tracking + predictive on the simulated
/// cloud, at several forecast quantiles, and target tracking alone at a
/// lower target: what the same extra instance-hours buy without a forecast.
fn scaling(root: &Path, traces: &[(String, Trace)]) {
    let base = load_file(&root.join("policies/web-predictive.toml")).expect("example policy loads");
    println!("## Scaling on the simulated cloud: target tracking on CPU alone vs + predictive");
    println!(
        "policies/web-predictive.toml; boot time 5 min, metrics published 2 min late; capacity per instance set so the p99 load needs 45% of max; last 14 days of each trace (the predictive policy starts with no history and abstains the first day).\n"
    );
    println!(
        "| trace | controller | tau_U | theta_U | instance-hours | compared with | tau_U | instance-hours |"
    );
    println!("|---|---|---:|---:|---:|---|---:|---:|");
    let seasonal = [
        "synthetic-seasonal",
        "synthetic-dailysurge",
        "synthetic-diurnal",
        "nab_Twitter_volume_AMZN",
        "nab_nyc_taxi",
        "alibaba2018_machine_usage_days_3_to_8_grouped_300_seconds",
        "azure_v2_vm_cpu_readings_month_aggregated_cpu_mem",
        "google2019_instance_usage_grouped_300_seconds_month",
    ];
    for (name, trace) in traces
        .iter()
        .filter(|(n, _)| seasonal.contains(&n.as_str()))
    {
        // 14 days at most: the simulated run is minute by minute.
        let trace = Arc::new(last_days(trace, 14));
        let Some(cpi) = default_capacity_per_instance(&trace, base.target.max_capacity) else {
            continue;
        };
        // Each "+ predictive" row is compared with target tracking alone at
        // the same target; TT 45% alone, with TT 50% alone: what the same
        // extra instance-hours buy without a forecast.
        let variants = [
            (variant(&base, 50.0, None, cpi), 0),
            (variant(&base, 50.0, Some(0.5), cpi), 0),
            (variant(&base, 50.0, Some(0.9), cpi), 0),
            (variant(&base, 45.0, None, cpi), 0),
            (variant(&base, 70.0, None, cpi), 4),
            (variant(&base, 70.0, Some(0.5), cpi), 4),
            (variant(&base, 70.0, Some(0.9), cpi), 4),
        ];
        let options = SimOptions {
            capacity_per_instance: Some(cpi),
            baselines: false,
            ..SimOptions::default()
        };
        let scores: Vec<_> = std::thread::scope(|scope| {
            let runs: Vec<_> = variants
                .iter()
                .map(|(v, _)| {
                    let (trace, options) = (trace.clone(), &options);
                    scope.spawn(move || simulate(&v.file, trace, options).map(|r| r.runs[0].score))
                })
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("simulation thread"))
                .collect()
        });
        for ((v, reference), score) in variants.iter().zip(&scores) {
            let (reference_label, reference) = (&variants[*reference].0.label, &scores[*reference]);
            match (score, reference) {
                (Ok(s), Ok(r)) => println!(
                    "| {name} | {} | {:.2}% | {:.2}% | {:.0} | {reference_label} | {} | {:+.1}% |",
                    v.label,
                    s.under_timeshare,
                    s.under_accuracy,
                    s.instance_hours,
                    ratio(s.under_timeshare, r.under_timeshare),
                    (s.instance_hours / r.instance_hours - 1.0) * 100.0
                ),
                (Err(e), _) | (_, Err(e)) => println!("| {name} | {} | {e} | | | | | |", v.label),
            }
        }
    }
}

/// `value` as a multiple of `reference`, or a dash when the reference is 0.
fn ratio(value: f64, reference: f64) -> String {
    if reference > 0.0 {
        format!("x{:.2}", value / reference)
    } else {
        "-".to_string()
    }
}

/// Diagnostics (named only): per outer origin of the 24-hour task, each
/// model's MASE at each inner daily origin the choice rests on, and then
/// at the outer origin itself. `EBB_EXPLAIN=word` picks traces.
fn explain(traces: &[(String, Trace)]) {
    let pick = std::env::var("EBB_EXPLAIN").unwrap_or_default();
    for (name, trace) in traces.iter().filter(|(n, _)| n.contains(&pick)) {
        let Some((history, seasons)) = seasonal_history_of(trace) else {
            continue;
        };
        let y = &history.values;
        let m = seasons.daily;
        println!("## {name}");
        let row = |train: &[f64], actual: &[f64]| -> String {
            let scale = naive_scale(train, m);
            ModelKind::ALL
                .iter()
                .map(|model| match model.fit(train, seasons) {
                    Ok(f) => format!("{:7.3}", mase(actual, &f.forecast(m).mean, scale)),
                    Err(_) => "    n/a".to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        for k in (1..=7).rev() {
            let Some(origin) = y.len().checked_sub(k * m).filter(|o| *o >= 2 * m) else {
                continue;
            };
            let start = origin.saturating_sub(14 * m);
            println!(
                "outer origin day {:.1} (train {} days)",
                origin as f64 / m as f64,
                (origin - start) / m
            );
            for j in (1..=7).rev() {
                let Some(inner) = origin.checked_sub(j * m).filter(|i| *i >= start + 2 * m) else {
                    continue;
                };
                println!(
                    "  inner {:5.1}: {}",
                    inner as f64 / m as f64,
                    row(&y[start..inner], &y[inner..inner + m])
                );
            }
            println!(
                "  OUTER      : {}",
                row(&y[start..origin], &y[origin..origin + m])
            );
        }
    }
}
