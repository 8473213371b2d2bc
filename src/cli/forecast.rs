//! `ebb forecast`: what a predictive policy's forecast looks like on a
//! history: each model's backtest accuracy, the model chosen, and the next
//! 48 hours with their interval and the capacity they need.

use crate::forecast::plot::plot;
use crate::forecast::report::{ForecastReport, History, analyse};
use crate::policy::predictive::Predictive;
use crate::policy_file::{PolicyFile, PolicySpec, PredictiveSpec, load_file};
use crate::sim::trace::Trace;
use anyhow::{Context, bail};
use chrono::Duration;
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// The policy file holding the predictive policy.
    pub policy: PathBuf,
    /// Load history as a trace CSV (`timestamp,value`) instead of CloudWatch.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Write an SVG of the history, the forecast and its interval.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Which predictive policy, when the file has several.
    #[arg(long = "name")]
    pub name: Option<String>,
    /// How far ahead to forecast.
    #[arg(long, default_value = "48h", value_parser = humantime::parse_duration)]
    pub horizon: std::time::Duration,
}

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
    let Some(trace_path) = &args.trace else {
        bail!(
            "reading `{}` from CloudWatch is not available yet (ebb has no CloudWatch source on this build); pass --trace CSV",
            spec.metric
        );
    };
    let trace = Trace::load(trace_path)?;
    let history = History {
        start: trace.start(),
        step_secs: trace.step().num_seconds(),
        values: trace.values().to_vec(),
    }
    .resampled(spec.history_step.as_secs() as i64)
    .map_err(|e| anyhow::anyhow!("{}: {e}", trace_path.display()))?
    .last(crate::signal::to_chrono(spec.history));
    let lead = Predictive::new(spec.clone(), &file).lead();
    let horizon = crate::signal::to_chrono(args.horizon);
    let report = analyse(history, &spec, lead, horizon)
        .with_context(|| format!("forecasting {}", trace_path.display()))?;
    if let Some(path) = &args.plot {
        let title = format!("{} on {}", spec.name, trace_path.display());
        plot(&report, &title, path).map_err(anyhow::Error::msg)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report, &spec, trace.filled()));
    }
    Ok(ExitCode::SUCCESS)
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

fn text(report: &ForecastReport, spec: &PredictiveSpec, filled: usize) -> String {
    let mut out = String::new();
    let step = Duration::seconds(report.step_s);
    let _ = writeln!(
        out,
        "policy `{}`: metric `{}`, history {} .. {} ({} points at {} min{}), lead {} min",
        spec.name,
        spec.metric,
        report.history_start.format("%Y-%m-%d %H:%M"),
        report.history_end.format("%Y-%m-%d %H:%M"),
        report.history.len(),
        step.num_minutes(),
        if filled > 0 {
            format!(", {filled} trace rows filled")
        } else {
            String::new()
        },
        report.lead_s / 60,
    );
    let _ = writeln!(
        out,
        "\nbacktest: rolling origins over the last day, scored 1..{} steps ahead (MASE against seasonal naive, lower is better)",
        report.backtest_horizon
    );
    let _ = writeln!(
        out,
        "{:<29} {:>7} {:>8} {:>8} {:>8} {:>8}",
        "model", "MASE", "sMAPE %", "MAPE %", "origins", "fit ms"
    );
    let figure = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for score in &report.scores {
        match &score.accuracy {
            Ok(a) => {
                let _ = writeln!(
                    out,
                    "{:<29} {:>7} {:>8.2} {:>8} {:>8} {:>8.1}",
                    score.model.name(),
                    figure(a.mase),
                    a.smape,
                    a.mape.map_or("-".into(), |m| format!("{m:.2}")),
                    score.origins,
                    score.fit_ms
                );
            }
            Err(e) => {
                let _ = writeln!(out, "{:<29} not scored: {e}", score.model.name());
            }
        }
    }
    let _ = writeln!(out, "\nchosen: {} ({})", report.chosen, report.chosen_by);
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
        let _ = writeln!(
            out,
            "{:<17} {:>10.2} {:>10.2} {:>23} {:>9}",
            point.time.format("%Y-%m-%d %H:%M"),
            point.mean,
            point.quantile,
            format!("{:.2} .. {:.2}", point.lower, point.upper),
            point.capacity
        );
    }
    out
}
