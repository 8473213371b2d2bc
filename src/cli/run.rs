//! `ebb run`: the daemon.

use crate::daemon::config::{DaemonConfig, LogFormat};
use crate::daemon::run::{Daemon, stop_signals};
use anyhow::Context;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The arguments of `ebb run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Daemon config file (TOML); `EBB_*` environment variables override it.
    #[arg(long, short, env = "EBB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Record every decision, change nothing in any group.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the daemon until it is told to stop.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = DaemonConfig::load(args.config.as_deref())?;
    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let daemon = Daemon::start(config, args.dry_run).await?;
        daemon.run(stop_signals()?).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Logs go to stderr, filtered by `EBB_LOG` (e.g. `debug`, `ebb=debug`), `info` by default.
/// Human-format logs are coloured only on a terminal (not under systemd,
/// where journald would store the escape codes) and never with `NO_COLOR`.
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("EBB_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Colour on a terminal, unless `NO_COLOR` is set to anything but the
/// empty string (<https://no-color.org>).
fn use_colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::use_colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }
}
