//! `ebb trace`: make load traces for `ebb simulate` and backtests.

use crate::sim::synth::{Shape, SynthSpec, synthesize};
use crate::sim::trace::Trace;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Write a synthetic trace (daily and weekly cycles, noise, bursts) as CSV.
    Synth {
        #[command(flatten)]
        synth: SynthArgs,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// What synthetic trace to make; shared by `ebb trace synth` and `ebb simulate`.
#[derive(Debug, Clone, Args)]
pub struct SynthArgs {
    /// Length of the synthetic trace.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Random seed: the same seed gives the same trace.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
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

    pub fn trace(&self) -> Trace {
        synthesize(&SynthSpec {
            shape: self.shape,
            days: self.days.max(1),
            seed: self.seed,
            ..SynthSpec::default()
        })
    }
}

pub fn run(command: TraceCommand) -> anyhow::Result<ExitCode> {
    match command {
        TraceCommand::Synth { synth, out } => {
            let csv = synth.trace().to_csv();
            match out {
                Some(path) => std::fs::write(&path, csv)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{csv}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
