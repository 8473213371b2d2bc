//! The `ebb` command line: one module per subcommand.

pub mod aws_args;
pub mod check;
pub mod check_aws;
pub mod completions;
pub mod diff;
pub mod forecast;
pub mod log;
pub mod log_alerts;
pub mod man;
pub mod run;
pub mod simulate;
pub mod status;
pub mod trace;
pub mod tune;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "ebb",
    version,
    about = "Keeps AWS Auto Scaling groups at the right size"
)]
/// The parsed command line.
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `ebb`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate policy files; exits non-zero on any error.
    Check(check::CheckArgs),
    /// Replay a load trace through a policy on a simulated cloud, beside AWS
    /// target tracking, the Kubernetes HPA and an oracle.
    Simulate(simulate::SimulateArgs),
    /// Replay the same history through two versions of a policy and compare
    /// them; exits 1 when a guard is crossed.
    Diff(diff::DiffArgs),
    /// Run the daemon: evaluate every target on its interval and size its group.
    Run(run::RunArgs),
    /// Show who holds the leader lease, or in shard mode which host holds
    /// which shards, from the lease table.
    Status(status::StatusArgs),
    /// Make load traces.
    #[command(subcommand)]
    Trace(trace::TraceCommand),
    /// Show a predictive policy's forecast: each model's backtest accuracy,
    /// the model chosen, the next 48 hours and the capacity they need.
    Forecast(forecast::ForecastArgs),
    /// Read a decisions log: tail, explain one decision, stats.
    Log(log::LogArgs),
    /// Search a policy's tunable fields on history for the cheapest policy
    /// within an under-provisioning budget; print the Pareto front.
    Tune(tune::TuneArgs),
    /// Write the manual pages (ebb.1 and one per subcommand) into DIR.
    #[command(hide = true)]
    Man(man::ManArgs),
    /// Print the shell completion script for bash, zsh or fish.
    #[command(hide = true)]
    Completions(completions::CompletionsArgs),
}

/// Runs the command line; the exit code says whether it succeeded.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Run(args) => run::run(args),
        Command::Status(args) => status::run(args),
        Command::Trace(command) => trace::run(command),
        Command::Log(args) => log::run(args),
        Command::Forecast(args) => forecast::run(args),
        Command::Tune(args) => tune::run(args),
        Command::Man(args) => man::run(args),
        Command::Completions(args) => completions::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
