//! `ebb man DIR` (hidden): writes the manual pages, `ebb.1` and one page per
//! subcommand (`ebb-check.1`, `ebb-log-tail.1`, ...), for the Debian package.
//! Generated from the same clap definitions that parse the command line, so a
//! page never describes a flag the binary does not have.

use super::Cli;
use anyhow::Context;
use clap::{Args, CommandFactory};
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `ebb man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into; created when missing.
    pub dir: PathBuf,
}

/// Writes the manual pages.
pub fn run(args: ManArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    clap_mangen::generate_to(Cli::command(), &args.dir)
        .with_context(|| format!("cannot write manual pages into {}", args.dir.display()))?;
    Ok(ExitCode::SUCCESS)
}
