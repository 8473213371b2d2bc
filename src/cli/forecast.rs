//! `ebb forecast`: what a predictive policy's forecast looks like on a
//! history: each model's backtest accuracy, the model chosen, and the next
//! 48 hours with their interval and the capacity they need. The history
//! comes from a trace file or, as the policy reads it, from CloudWatch.

use super::aws_args::AwsArgs;
use super::trace::ReadArgs;
use crate::daemon::aws::sdk_config;
use crate::daemon::config::AwsSettings;
use crate::forecast::backtest::not_scored;
use crate::forecast::candidate::Candidate;
use crate::forecast::history::{LoadHistory, MAX_FILLED_GAP, RegularSeries};
use crate::forecast::plot::plot;
use crate::forecast::report::{ForecastReport, History, analyse};
use crate::policy::predictive::Predictive;
use crate::policy::{Policy, history_key};
use crate::policy_file::{PolicyFile, PolicySpec, PredictiveSpec, load_file};
use crate::series::{MetricKey, MetricRequest};
use crate::source::MetricSource;
use crate::source::cloudwatch::CloudWatchSource;
use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};
use clap::Args;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `ebb forecast`.
#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// The policy file holding the predictive policy.
    pub policy: PathBuf,
    /// Load history as a trace CSV (`timestamp,value`) instead of CloudWatch.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// How to read the `--trace` file.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Write an SVG of the history, the forecast and its interval.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// AWS settings for reading CloudWatch (`--config`, `EBB_AWS__*`), as
    /// the daemon reads them; the region is the policy's `target.region`
    /// when it names one.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Which predictive policy, when the file has several.
    #[arg(long = "name")]
    pub name: Option<String>,
    /// How far ahead to forecast.
    #[arg(long, default_value = "48h", value_parser = crate::ranges::FORECAST_HORIZON.parser())]
    pub horizon: std::time::Duration,
}

/// Runs `ebb forecast`: prints (or writes) the forecast report.
pub fn run(args: ForecastArgs) -> anyhow::Result<ExitCode> {
    let file = match load_file(&args.policy) {
        Ok(file) => file,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let spec = predictive_spec(&file, args.name.as_deref())
        .with_context(|| format!("in {}", args.policy.display()))?;
    let (history, source, reading) = match &args.trace {
        Some(path) => {
            let trace = args.read.load(path)?;
            // The daemon's history, fed the rows the file holds: one gap rule
            // (and one averaging into buckets) for both.
            let step = trace
                .step()
                .num_seconds()
                .max(spec.history_step.as_secs() as i64);
            let mut history = LoadHistory::new(step, spec.history.as_secs() as i64);
            for note in history.ingest(trace.end() + trace.step(), &trace.read_points(), 1.0) {
                eprintln!("note: {note}");
            }
            let (history, bridged) = usable(
                history.finished_series(),
                &history,
                &spec.metric,
                path.display(),
            )?;
            let reading = format!(
                "trace {}; {bridged} buckets bridged over short gaps",
                trace.describe_reading()
            );
            (history, path.display().to_string(), reading)
        }
        None => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let (history, filled) = runtime.block_on(cloudwatch_history(
                &file,
                &spec,
                &args.aws.settings()?,
                Utc::now(),
            ))?;
            let reading = format!("{filled} buckets bridged over short gaps");
            (history, format!("CloudWatch `{}`", spec.metric), reading)
        }
    };
    let lead = Predictive::new(spec.clone(), &file).lead();
    let horizon = crate::signal::to_chrono(args.horizon);
    let bounds = (file.target.min_capacity, file.target.max_capacity);
    let report = analyse(history, &spec, lead, horizon, bounds)
        .with_context(|| format!("forecasting {source}"))?;
    if let Some(path) = &args.plot {
        let title = format!("{} on {source}", spec.name);
        plot(&report, &title, path).map_err(anyhow::Error::msg)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report, &spec, &reading));
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy's history window read from CloudWatch the way the policy reads
/// it on start (5-minute periods for the long window), and how many
/// 5-minute buckets were bridged over short gaps.
async fn cloudwatch_history(
    file: &PolicyFile,
    spec: &PredictiveSpec,
    settings: &AwsSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<(History, usize)> {
    let metric = file
        .metrics
        .get(&spec.metric)
        .with_context(|| format!("metric `{}` is not in [metrics]", spec.metric))?;
    if metric.source.cloudwatch().is_none() {
        bail!(
            "metric `{}` does not come from CloudWatch; pass its history with --trace CSV",
            spec.metric
        );
    }
    let mut policy = Predictive::new(spec.clone(), file);
    let wanted = policy
        .history_request(now)
        .expect("a predictive policy always asks for history");
    let (name, metric_spec) = match wanted.long_window {
        Some(long) => (history_key(&spec.metric), long),
        None => (spec.metric.clone(), (**metric).clone()),
    };
    let key = MetricKey::new(file.target.group.clone(), name.clone());
    let request = MetricRequest {
        key: key.clone(),
        spec: metric_spec.into(),
        since: wanted.since,
    };
    let config = sdk_config(settings, file.target.region.as_deref()).await;
    let mut source = CloudWatchSource::new(aws_sdk_cloudwatch::Client::new(&config));
    let mut results = source.fetch(now, &[request]).await;
    let series = match results.remove(&key) {
        Some(Ok(series)) => series,
        Some(Err(e)) => bail!("reading `{}` from CloudWatch: {e}", spec.metric),
        None => bail!("CloudWatch gave no answer for `{}`", spec.metric),
    };
    for note in policy.ingest(now, &BTreeMap::from([(name, series.points)])) {
        eprintln!("note: {note}");
    }
    let history = policy.history().expect("a predictive policy keeps history");
    usable(
        history.series(),
        history,
        &spec.metric,
        format!("CloudWatch since {}", wanted.since.format("%Y-%m-%d %H:%M")),
    )
}

/// The usable part of a history, by the daemon's rule (back to the first gap
/// over [`MAX_FILLED_GAP`] buckets, which is noted), and how many buckets
/// were bridged over shorter ones.
fn usable(
    series: Option<RegularSeries>,
    history: &LoadHistory,
    metric: &str,
    source: impl std::fmt::Display,
) -> anyhow::Result<(History, usize)> {
    let Some(series) = series else {
        bail!(
            "{source} holds no complete {}s period of `{metric}`",
            history.step_secs()
        );
    };
    if let Some((from, to)) = series.gap {
        eprintln!(
            "note: `{metric}` has a gap from {} to {} (over {MAX_FILLED_GAP} buckets): only the history after it is used, as the daemon does",
            from.format("%Y-%m-%d %H:%M"),
            to.format("%Y-%m-%d %H:%M")
        );
    }
    let filled = series.filled;
    Ok((
        History {
            start: series.start,
            step_secs: series.step_secs,
            values: series.values,
        },
        filled,
    ))
}

/// The predictive policy named `name`, or the file's only one.
fn predictive_spec(file: &PolicyFile, name: Option<&str>) -> anyhow::Result<PredictiveSpec> {
    let all: Vec<&PredictiveSpec> = file
        .policies
        .iter()
        .filter_map(|p| match p {
            PolicySpec::Predictive(p) => Some(p),
            _ => None,
        })
        .collect();
    match (name, all.as_slice()) {
        (_, []) => bail!("no policy with kind = \"predictive\""),
        (None, [one]) => Ok((*one).clone()),
        (None, many) => {
            let names: Vec<_> = many.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "several predictive policies ({}): choose one with --name",
                names.join(", ")
            )
        }
        (Some(name), many) => many
            .iter()
            .find(|p| p.name == name)
            .map(|p| (*p).clone())
            .with_context(|| format!("no predictive policy named `{name}`")),
    }
}

fn text(report: &ForecastReport, spec: &PredictiveSpec, reading: &str) -> String {
    let mut out = String::new();
    let step = Duration::seconds(report.step_s);
    let _ = writeln!(
        out,
        "policy `{}`: metric `{}`, history {} .. {} ({} points at {} min; {reading}), lead {} min",
        spec.name,
        spec.metric,
        report.history_start.format("%Y-%m-%d %H:%M"),
        report.history_end.format("%Y-%m-%d %H:%M"),
        report.history.len(),
        step.num_minutes(),
        report.lead_s / 60,
    );
    accuracy_table(&mut out, report);
    let every = (3600 / report.step_s).max(1) as usize;
    let _ = writeln!(
        out,
        "\nforecast, hourly (p{:.0} provisioned at {} per instance{}):",
        report.quantile * 100.0,
        spec.target_per_instance,
        if spec.buffer_percent > 0.0 {
            format!(" + {}%", spec.buffer_percent)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "{:<17} {:>10} {:>10} {:>23} {:>9}",
        "time (UTC)",
        "mean",
        format!("p{:.0}", report.quantile * 100.0),
        format!("{:.0}% interval", report.interval_level * 100.0),
        "capacity"
    );
    for point in report.forecast.iter().step_by(every) {
        let _ = write!(
            out,
            "{:<17} {:>10.2} {:>10.2} {:>23} {:>9}",
            point.time.format("%Y-%m-%d %H:%M"),
            point.mean,
            point.quantile,
            format!("{:.2} .. {:.2}", point.lower, point.upper),
            point.bounded_capacity
        );
        if point.capacity != point.bounded_capacity {
            let _ = write!(out, " (forecast needs {}, bounded)", point.capacity);
        }
        let _ = writeln!(out);
    }
    out
}

/// MASE and relative error per candidate (rows) and horizon (columns), then
/// what each horizon chose.
fn accuracy_table(out: &mut String, report: &ForecastReport) {
    let _ = writeln!(
        out,
        "\nbacktest per horizon: MASE / error relative to same time yesterday (geometric mean over origins; ranked by it), lower is better; origins over the last 7 days (every 6 h at the lead time, daily beyond), each fit on at most 14 days"
    );
    let mut rows: Vec<&Candidate> = Vec::new();
    for part in &report.horizons {
        for score in &part.scores {
            if !rows.contains(&&score.model) {
                rows.push(&score.model);
            }
        }
    }
    let width = rows
        .iter()
        .map(|c| c.to_string().len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = write!(out, "{:<width$}", "model");
    for part in &report.horizons {
        let _ = write!(out, " {:>13}", part.label);
    }
    let _ = writeln!(out);
    for candidate in rows {
        let _ = write!(out, "{:<width$}", candidate.to_string());
        for part in &report.horizons {
            let cell = match part.scores.iter().find(|s| &s.model == candidate) {
                None => "".to_string(),
                Some(score) => match (&score.accuracy, score.mase(), score.relative) {
                    (Ok(_), Some(mase), Some(relative)) => format!("{mase:.3}/{relative:.2}"),
                    (Ok(_), _, _) => "no scale".to_string(),
                    (Err(_), _, _) => "-".to_string(),
                },
            };
            let mark = if &part.chosen == candidate { "*" } else { " " };
            let _ = write!(out, " {cell:>12}{mark}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "(* chosen; -: not scored, too little history)");
    for part in &report.horizons {
        let figures = part
            .scores
            .iter()
            .find(|s| s.model == part.chosen)
            .and_then(|s| s.accuracy.as_ref().ok())
            .map(|a| {
                let coverage = a
                    .coverage
                    .map_or(String::new(), |c| format!(", 80% interval held {c:.0}%"));
                format!(" (sMAPE {:.1}%{coverage})", a.smape)
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} (forecast steps {}..{}): {}{figures}; {}",
            part.label, part.covers.0, part.covers.1, part.chosen, part.chosen_by
        );
    }
    for line in not_scored(&report.horizons[0].scores) {
        let _ = writeln!(out, "not scored: {line}");
    }
}
