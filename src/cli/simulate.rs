//! `ebb simulate`: replay a load trace through a policy on the simulated
//! cloud, beside emulations of AWS target tracking, the Kubernetes HPA, the
//! reactive limit and an oracle, and compare them.

use super::aws_args::AwsArgs;
use super::trace::{ReadArgs, SynthArgs};
use crate::daemon::aws::region_clients;
use crate::policy_file::{PolicyFile, load_file};
use crate::sim::plot::plot;
use crate::sim::run::{SimOptions, SimReport, simulate};
use crate::sim::trace::Trace;
use crate::trace_export::{Exported, export};
use anyhow::Context;
use clap::Args;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// What to replay and on what cloud; shared by `ebb simulate` and `ebb diff`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Load trace CSV (`timestamp,value`); a synthetic trace when absent.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Load one instance serves at 100% utilization, in the trace's units.
    #[arg(long, value_parser = crate::ranges::parse_capacity_per_instance)]
    pub capacity_per_instance: Option<f64>,
    /// Everything else: how to read or make the trace, the simulated cloud.
    #[command(flatten)]
    pub settings: ReplaySettings,
}

/// How to read or make a trace and the simulated cloud's delays; shared by
/// `ebb simulate`, `ebb diff` and `ebb tune` (which takes several traces).
#[derive(Debug, Clone, Args)]
pub struct ReplaySettings {
    /// How to read the `--trace` file.
    #[command(flatten)]
    pub read: ReadArgs,
    /// The synthetic trace to make when no `--trace` is given.
    #[command(flatten)]
    pub synth: SynthArgs,
    /// Time from launch to in service.
    #[arg(long, default_value = "5m", value_parser = crate::ranges::SIMULATED_DELAY.parser())]
    pub boot_time: std::time::Duration,
    /// How long after a period ends its metrics become visible.
    #[arg(long, default_value = "2m", value_parser = crate::ranges::SIMULATED_DELAY.parser())]
    pub publish_delay: std::time::Duration,
    /// Replay the policy's own load over the last --days from CloudWatch
    /// (with the group's recorded capacity, when its metrics are collected).
    #[arg(long, conflicts_with = "trace")]
    pub from_cloudwatch: bool,
    /// Where to read history from with `--from-cloudwatch`.
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// Where to read real history from; shared with `ebb trace export`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The metric to read the load from; default: the first target-tracking
    /// or predictive policy's.
    #[arg(long)]
    pub metric: Option<String>,
    /// Where the AWS settings come from.
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl HistoryArgs {
    /// Reads the policy's history from CloudWatch.
    pub fn export(&self, file: &PolicyFile, days: u32) -> anyhow::Result<Exported> {
        let settings = self.aws.settings()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut clients = region_clients(&settings, file.target.region.as_deref()).await;
            export(
                &mut clients.source,
                file,
                self.metric.as_deref(),
                days,
                chrono::Utc::now(),
            )
            .await
            .map_err(anyhow::Error::msg)
        })
    }
}

/// A trace to replay, its name, and the capacity per instance it implies.
pub struct LoadedTrace {
    /// The load, one value per step.
    pub trace: Arc<Trace>,
    /// Where the trace came from, for reports (a file name, `synthetic ...`, `cloudwatch ...`).
    pub name: String,
    /// The load one instance serves at 100%, when known from the flag or the metric.
    pub capacity_per_instance: Option<f64>,
}

impl ReplayArgs {
    /// The trace to replay for `file`'s target.
    pub fn load_trace(&self, file: &PolicyFile) -> anyhow::Result<LoadedTrace> {
        let settings = &self.settings;
        if settings.from_cloudwatch {
            let exported = settings.history.export(file, settings.synth.days)?;
            return Ok(LoadedTrace {
                trace: Arc::new(exported.trace),
                name: exported.description,
                capacity_per_instance: exported.capacity_per_instance,
            });
        }
        let (trace, name) = match &self.trace {
            Some(path) => {
                let trace = settings.read.load(path)?;
                let name = format!("{} ({})", path.display(), trace.describe_reading());
                (trace, name)
            }
            None => (settings.synth.trace(), settings.synth.describe()),
        };
        Ok(LoadedTrace {
            trace: Arc::new(trace),
            name,
            capacity_per_instance: None,
        })
    }

    /// Simulation options for these settings and trace.
    pub fn options(
        &self,
        trace: &LoadedTrace,
        baselines: bool,
        keep_decisions: bool,
    ) -> SimOptions {
        SimOptions {
            capacity_per_instance: self.capacity_per_instance.or(trace.capacity_per_instance),
            boot_time: crate::signal::to_chrono(self.settings.boot_time),
            publish_delay: crate::signal::to_chrono(self.settings.publish_delay),
            baselines,
            keep_decisions,
            forecasts: None,
        }
    }
}

/// The arguments of `ebb simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The policy file to replay.
    pub policy: PathBuf,
    /// What to replay and on what cloud.
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// Write an SVG of demand and each controller's capacity.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write ebb's decision records as JSON lines.
    #[arg(long)]
    pub decisions: Option<PathBuf>,
    /// Run only ebb, not the baselines.
    #[arg(long)]
    pub no_baselines: bool,
}

/// Runs `ebb simulate`: prints the report of each controller on the trace.
pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let file = match load_file(&args.policy) {
        Ok(file) => file,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let loaded = args.replay.load_trace(&file)?;
    let options = args
        .replay
        .options(&loaded, !args.no_baselines, args.decisions.is_some());
    let trace_name = loaded.name.clone();
    let report = simulate(&file, loaded.trace, &options)
        .with_context(|| format!("simulating {}", args.policy.display()))?;
    if let Some(path) = &args.decisions {
        write_decisions(&report, path)?;
    }
    if let Some(path) = &args.plot {
        plot(&report, path).map_err(anyhow::Error::msg)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", format_report(&report, &trace_name));
        if let Some(path) = &args.plot {
            println!("plot: {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_decisions(report: &SimReport, path: &std::path::Path) -> anyhow::Result<()> {
    let context = || format!("writing {}", path.display());
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).with_context(context)?);
    for record in &report.decisions {
        serde_json::to_writer(&mut out, record).with_context(context)?;
        out.write_all(b"\n").with_context(context)?;
    }
    out.flush().with_context(context)
}

/// The comparison table a user reads.
pub fn format_report(report: &SimReport, trace_name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trace: {trace_name}: {} minutes from {}, peak load {:.1}",
        report.minutes,
        report.trace_start.format("%Y-%m-%d %H:%M"),
        report.peak_load
    );
    let _ = write!(
        out,
        "cloud: {:.1} load per instance, boot {}s, metrics published {}s late",
        report.capacity_per_instance, report.boot_time_s, report.publish_delay_s,
    );
    match &report.baselines_track {
        Some(tracked) => {
            let _ = writeln!(out, "; baselines track {tracked}");
        }
        None => {
            let _ = writeln!(out, "; no baselines");
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(
        out,
        "\n{:<24} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} {:>8} {:>8}",
        "controller",
        "theta_U%",
        "theta_O%",
        "tau_U%",
        "tau_O%",
        "above%",
        "excess",
        "changes",
        "inst-hours",
        "at-max%",
        "util%"
    );
    for run in &report.runs {
        let s = &run.score;
        let _ = writeln!(
            out,
            "{:<24} {:>9.2} {:>9.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>11.1} {:>8.2} {:>8.1}",
            run.name,
            s.under_accuracy,
            s.over_accuracy,
            s.under_timeshare,
            s.over_timeshare,
            s.above_target.unwrap_or(f64::NAN),
            s.excess_instances.unwrap_or(f64::NAN),
            s.capacity_changes,
            s.instance_hours,
            s.time_at_max,
            s.mean_utilization
        );
    }
    let _ = writeln!(
        out,
        "\ntheta_U/theta_O: average shortfall/excess vs demand; tau_U/tau_O: share of time under/over-provisioned (SPEC RG elasticity metrics)\nabove%: minutes the tracked metric was above target + tolerance; excess: mean instances in service beyond those that would hold the target"
    );
    out
}
