//! `ebb trace`: make load traces for `ebb simulate` and backtests.

use super::simulate::HistoryArgs;
use crate::policy_file::load_file;
use crate::sim::synth::{Shape, SynthSpec, synthesize};
use crate::sim::trace::{Duplicates, ReadOptions, Trace, TraceError};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The subcommands of `ebb trace`.
#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Read a policy's load (and the group's recorded capacity) for the last
    /// --days from CloudWatch and write it as a trace CSV.
    Export {
        /// The policy file whose target and metric to read.
        policy: PathBuf,
        /// How much history: the finest period CloudWatch keeps for it is used
        /// (1 minute up to 15 days, 5 minutes up to 63, 1 hour up to 455).
        #[arg(long, default_value_t = 14, value_parser = crate::ranges::DAYS.parser())]
        days: u32,
        /// Where the AWS settings and the metric come from.
        #[command(flatten)]
        history: HistoryArgs,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a synthetic trace (daily and weekly cycles, noise, bursts) as CSV.
    Synth {
        /// The synthetic trace to make.
        #[command(flatten)]
        synth: SynthArgs,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// How to read a trace file; shared by every subcommand that reads one.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct ReadArgs {
    /// What to do with rows repeating the previous row's timestamp.
    #[arg(long, value_enum, default_value_t = Duplicates::Mean)]
    pub duplicates: Duplicates,
    /// Accept a trace more than half interpolated over gaps.
    #[arg(long)]
    pub allow_gaps: bool,
}

impl ReadArgs {
    /// Reads the trace at `path`.
    pub fn load(&self, path: &std::path::Path) -> Result<Trace, TraceError> {
        Trace::load_with(
            path,
            ReadOptions {
                duplicates: self.duplicates,
                allow_gaps: self.allow_gaps,
            },
        )
    }
}

/// What synthetic trace to make; shared by `ebb trace synth` and `ebb simulate`.
#[derive(Debug, Clone, Args)]
pub struct SynthArgs {
    /// Length of the synthetic trace.
    #[arg(long, default_value_t = 14, value_parser = crate::ranges::DAYS.parser())]
    pub days: u32,
    /// Random seed: the same seed gives the same trace.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The kind of load to make.
    #[arg(long, value_enum, default_value_t = Shape::Diurnal)]
    pub shape: Shape,
}

impl SynthArgs {
    /// The trace in words, for reports.
    pub fn describe(&self) -> String {
        format!(
            "synthetic {:?}, {} days, seed {}",
            self.shape, self.days, self.seed
        )
        .to_lowercase()
    }

    /// Makes the synthetic trace.
    pub fn trace(&self) -> Trace {
        synthesize(&SynthSpec {
            shape: self.shape,
            days: self.days.max(1),
            seed: self.seed,
            ..SynthSpec::default()
        })
    }
}

/// Runs an `ebb trace` subcommand.
pub fn run(command: TraceCommand) -> anyhow::Result<ExitCode> {
    match command {
        TraceCommand::Synth { synth, out } => write_csv(&synth.trace().to_csv(), out.as_deref()),
        TraceCommand::Export {
            policy,
            days,
            history,
            out,
        } => {
            let file = match load_file(&policy) {
                Ok(file) => file,
                Err(errors) => {
                    eprintln!("{errors}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let exported = history.export(&file, days)?;
            let mut csv = format!("# ebb trace export: {}\n", exported.description);
            if let Some(cpi) = exported.capacity_per_instance {
                csv.push_str(&format!("# simulate with --capacity-per-instance {cpi}\n"));
            }
            csv.push_str(&exported.trace.to_csv());
            eprintln!(
                "{} rows ({} filled over gaps) from {} to {}",
                exported.trace.values().len(),
                exported.trace.filled(),
                exported.trace.start(),
                exported.trace.end()
            );
            write_csv(&csv, out.as_deref())
        }
    }
}

fn write_csv(csv: &str, out: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    match out {
        Some(path) => {
            std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{csv}"),
    }
    Ok(ExitCode::SUCCESS)
}
