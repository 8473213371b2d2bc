//! How every subcommand that talks to AWS is configured: the daemon config's
//! `[aws]` table (`--config`, or `EBB_CONFIG`) with the daemon's `EBB_AWS__*`
//! environment overrides, read by the daemon's own loader. One scheme for
//! `ebb run`, `forecast`, `simulate --from-cloudwatch`, `diff` and
//! `trace export`: a variable that sends the daemon to an emulator sends
//! them there too.

use crate::daemon::config::{AwsSettings, DaemonConfig};
use clap::Args;
use std::path::PathBuf;

/// Where a subcommand that reads AWS (history, `check --aws`) takes its AWS settings from.
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// Daemon config file for the AWS settings (region, endpoint_url,
    /// profile, retries); `EBB_*` variables override it as for `ebb run`.
    #[arg(long, env = "EBB_CONFIG")]
    pub config: Option<PathBuf>,
}

impl AwsArgs {
    /// The AWS settings, as `ebb run` would read them.
    pub fn settings(&self) -> anyhow::Result<AwsSettings> {
        Ok(DaemonConfig::load(self.config.as_deref())?.aws)
    }
}
