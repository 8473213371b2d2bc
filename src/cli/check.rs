//! `ebb check`: validate policy files with the same code the daemon loads them
//! with, then lint them for settings that are valid but probably wrong. With
//! `--config`, the daemon config first, with the loader `ebb run` uses (the
//! environment's `EBB_*` overrides included), then the policies it points at.

use super::trace::ReadArgs;
use crate::daemon::config::DaemonConfig;
use crate::policy_file::lint::{lint, lint_against_trace};
use crate::policy_file::load::read_policy_text;
use crate::policy_file::load_paths;
use crate::policy_file::spans::Spans;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The arguments of `ebb check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Policy files or directories of them; default: the config's
    /// `policy_dir` with --config, else `policies`.
    pub paths: Vec<PathBuf>,
    /// The daemon config (the file `ebb run --config` reads) to check too.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Treat lint warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// A trace of the load the policies face, to check max capacity can serve its peak.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// How to read the `--trace` file.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Load one instance serves at 100% utilization, for checking utilization
    /// policies against --trace.
    #[arg(long, value_parser = crate::ranges::parse_capacity_per_instance)]
    pub capacity_per_instance: Option<f64>,
    /// Also check each policy's live Auto Scaling group: missing or being
    /// deleted (errors), suspended processes, instance refresh, scaling
    /// policies of its own, capacity in weights (warnings).
    /// The AWS settings (region, endpoint_url, profile) come from --config,
    /// else `EBB_CONFIG`, else the defaults.
    #[arg(long)]
    pub aws: bool,
}

/// Runs `ebb check`: exit 0 when every file is valid, 1 on any error (or warning with --strict).
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut paths = args.paths.clone();
    let mut accounts = None;
    if let Some(config_path) = &args.config {
        let Some(config) = check_config(config_path) else {
            return Ok(ExitCode::FAILURE);
        };
        if paths.is_empty() {
            paths.push(config.policy_dir);
        }
        accounts = Some(config.accounts);
    }
    if paths.is_empty() {
        paths.push(PathBuf::from("policies"));
    }
    let files = match load_paths(&paths) {
        Ok(files) => files,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let trace = match &args.trace {
        Some(path) => {
            let trace = args.read.load(path)?;
            println!("trace: {}: {}", path.display(), trace.describe_reading());
            Some(trace)
        }
        None => None,
    };
    // A target's account must be one the daemon config defines, as `ebb
    // run` requires.
    let unknown: Vec<_> = accounts
        .iter()
        .flat_map(|accounts| {
            files.iter().filter_map(|(path, file)| {
                crate::daemon::accounts::unknown_account(path, &file.target, accounts)
            })
        })
        .collect();
    for e in &unknown {
        eprintln!("{e}");
    }
    let mut warned = 0;
    for (path, file) in &files {
        let mut warnings = lint(file);
        if let Some(trace) = &trace {
            warnings.extend(lint_against_trace(file, trace, args.capacity_per_instance));
        }
        // Warnings point at their line, as load errors do.
        let spans = read_policy_text(path)
            .map(|text| Spans::parse(&text))
            .unwrap_or_default();
        for w in &warnings {
            let level = if args.strict { "error" } else { "warning" };
            let place = match spans.line_of(&w.field) {
                Some(line) => format!("{}:{line}", path.display()),
                None => path.display().to_string(),
            };
            eprintln!("{level}: {place}: {}: {}", w.field, w.message);
        }
        warned += warnings.len();
        if warnings.is_empty() {
            println!("ok: {} (group {})", path.display(), file.target.group);
        }
    }
    let mut failed = !unknown.is_empty();
    if args.aws {
        let found = super::check_aws::check(&files, args.config.as_deref(), args.strict)?;
        failed |= found.errors > 0;
    }
    Ok(if failed || (args.strict && warned > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Checks the daemon config as `ebb run` loads it, and that what it names
/// exists; prints what is wrong and returns the config when nothing is.
fn check_config(path: &Path) -> Option<DaemonConfig> {
    let config = match DaemonConfig::load_for_check(path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return None;
        }
    };
    println!("ok: {} (daemon config)", path.display());
    Some(config)
}
