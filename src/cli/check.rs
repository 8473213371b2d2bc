//! `ebb check`: validate policy files with the same code the daemon loads them with.

use crate::policy_file::load_paths;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Policy files or directories of them.
    #[arg(default_value = "policies")]
    pub paths: Vec<PathBuf>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    match load_paths(&args.paths) {
        Ok(files) => {
            for (path, file) in &files {
                println!("ok: {} (group {})", path.display(), file.target.group);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}
