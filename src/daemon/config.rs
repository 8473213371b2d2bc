//! The daemon's own configuration (`ebb run --config FILE`): where policies,
//! the decisions log and the state live, how to reach AWS, how to log.
//!
//! Read with the `config` crate from an optional TOML file, then from
//! `EBB_`-prefixed environment variables (`EBB_POLICY_DIR`,
//! `EBB_AWS__ENDPOINT_URL`: a double underscore enters a table). Only
//! variables that name a known setting are read, so other `EBB_` variables
//! (of tests or tools) do not trip the unknown-field check on the file.

use super::leader::LeaderElectionConfig;
use crate::alert::AlertsConfig;
use crate::telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything `ebb run` is configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Directory of policy files (`*.toml`), one per target.
    #[serde(default = "default_policy_dir")]
    pub policy_dir: PathBuf,
    /// The decisions log: one JSON line per evaluation, appended.
    #[serde(default = "default_decisions_log")]
    pub decisions_log: PathBuf,
    /// Where the governor state is kept across restarts.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Record every decision, change nothing (same as `--dry-run`).
    #[serde(default)]
    pub dry_run: bool,
    /// Each target's evaluations are spread by up to this much.
    #[serde(with = "crate::duration", default = "default_jitter")]
    pub jitter: Duration,
    /// Targets due within this much of each other are evaluated together, so
    /// their metrics come in one GetMetricData call.
    #[serde(with = "crate::duration", default = "default_batch_window")]
    pub batch_window: Duration,
    #[serde(default)]
    pub aws: AwsSettings,
    /// Alert rules and where alerts go.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// ebb's own /metrics and /healthz listener.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Run on several hosts with one acting: a DynamoDB lease. Off when absent.
    #[serde(default)]
    pub leader_election: Option<LeaderElectionConfig>,
}

/// How AWS is reached. Credentials always come from the default chain
/// (environment, profile, instance role).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// Region for targets that name none; the default chain's when absent.
    #[serde(default)]
    pub region: Option<String>,
    /// Send every AWS call here instead (an emulator such as moto_server).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Named profile from the shared config files.
    #[serde(default)]
    pub profile: Option<String>,
    /// Attempts per call, including the first (SDK standard retry mode:
    /// throttling, 5xx and timeouts are retried with backoff).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(with = "crate::duration", default = "default_connect_timeout")]
    pub connect_timeout: Duration,
    /// Limit on one attempt of a call.
    #[serde(with = "crate::duration", default = "default_attempt_timeout")]
    pub attempt_timeout: Duration,
    /// Limit on a whole call, retries included.
    #[serde(with = "crate::duration", default = "default_operation_timeout")]
    pub operation_timeout: Duration,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region: None,
            endpoint_url: None,
            profile: None,
            max_attempts: default_max_attempts(),
            connect_timeout: default_connect_timeout(),
            attempt_timeout: default_attempt_timeout(),
            operation_timeout: default_operation_timeout(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

fn default_policy_dir() -> PathBuf {
    PathBuf::from("/etc/ebb/policies")
}
fn default_decisions_log() -> PathBuf {
    PathBuf::from("/var/log/ebb/decisions.jsonl")
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/ebb")
}
fn default_jitter() -> Duration {
    Duration::from_secs(1)
}
fn default_batch_window() -> Duration {
    Duration::from_secs(1)
}
fn default_max_attempts() -> u32 {
    3
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_attempt_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_operation_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Every setting an environment variable may override, as `config` keys.
const KEYS: &[&str] = &[
    "policy_dir",
    "decisions_log",
    "state_dir",
    "log_format",
    "dry_run",
    "jitter",
    "batch_window",
    "aws.region",
    "aws.endpoint_url",
    "aws.profile",
    "aws.max_attempts",
    "aws.connect_timeout",
    "aws.attempt_timeout",
    "aws.operation_timeout",
    "alerts.repeat_interval",
    "alerts.queue_capacity",
    "telemetry.enabled",
    "telemetry.listen",
    "telemetry.stale_after_intervals",
    "leader_election.table",
    "leader_election.holder_id",
];

/// The environment variable that overrides a key: `aws.endpoint_url` ->
/// `EBB_AWS__ENDPOINT_URL`.
pub fn env_var(key: &str) -> String {
    format!("EBB_{}", key.replace('.', "__").to_uppercase())
}

/// Why the daemon config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl DaemonConfig {
    /// Reads the config file (when given) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<DaemonConfig, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Reads the config file (when given) and the given environment.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<DaemonConfig, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::File {
                    file: path.to_path_buf(),
                    message: "no such file".into(),
                });
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let known: std::collections::HashMap<String, String> = env
            .into_iter()
            .filter(|(name, _)| KEYS.iter().any(|k| env_var(k) == *name))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("EBB")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(known)),
        );
        let built = builder.build().map_err(|e| match file {
            Some(path) => ConfigError::File {
                file: path.to_path_buf(),
                message: e.to_string(),
            },
            None => ConfigError::Invalid(e.to_string()),
        })?;
        let parsed: DaemonConfig = built.try_deserialize().map_err(|e| match file {
            Some(path) => ConfigError::File {
                file: path.to_path_buf(),
                message: e.to_string(),
            },
            None => ConfigError::Invalid(e.to_string()),
        })?;
        parsed.validate().map_err(|message| match file {
            Some(path) => ConfigError::File {
                file: path.to_path_buf(),
                message,
            },
            None => ConfigError::Invalid(message),
        })?;
        Ok(parsed)
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(election) = &self.leader_election {
            election.validate()?;
        }
        if self.aws.max_attempts == 0 {
            return Err("aws.max_attempts: must be at least 1".into());
        }
        if let Some(url) = &self.aws.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "aws.endpoint_url: `{url}` is not an http:// or https:// URL"
            ));
        }
        for (field, d) in [
            ("aws.connect_timeout", self.aws.connect_timeout),
            ("aws.attempt_timeout", self.aws.attempt_timeout),
            ("aws.operation_timeout", self.aws.operation_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{field}: must be more than 0s"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn the_file_is_read_and_the_environment_overrides_it() {
        let file = write(
            "policy_dir = \"/p\"\nlog_format = \"json\"\n[aws]\nregion = \"eu-west-1\"\nattempt_timeout = \"2s\"\n",
        );
        let env = vec![
            (
                "EBB_AWS__ENDPOINT_URL".to_string(),
                "http://127.0.0.1:5000".to_string(),
            ),
            ("EBB_STATE_DIR".to_string(), "/s".to_string()),
            ("EBB_DRY_RUN".to_string(), "true".to_string()),
            // Not a setting: ignored rather than rejected.
            ("EBB_REQUIRE_TEST_SERVERS".to_string(), "1".to_string()),
        ];
        let config = DaemonConfig::load_with_env(Some(file.path()), env).unwrap();
        assert_eq!(config.policy_dir, PathBuf::from("/p"));
        assert_eq!(config.state_dir, PathBuf::from("/s"));
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(config.dry_run);
        assert_eq!(config.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            config.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(config.aws.attempt_timeout, Duration::from_secs(2));
        assert_eq!(config.aws.max_attempts, 3);
    }

    #[test]
    fn no_file_means_defaults() {
        let config = DaemonConfig::load_with_env(None, Vec::new()).unwrap();
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/ebb"));
        assert_eq!(config.log_format, LogFormat::Human);
    }

    #[test]
    fn mistakes_name_the_file_and_the_field() {
        let file = write("polcy_dir = \"/p\"\n");
        let e = DaemonConfig::load_with_env(Some(file.path()), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&file.path().display().to_string()), "{e}");
        assert!(e.contains("polcy_dir"), "{e}");

        let file = write("[aws]\nendpoint_url = \"localhost:5000\"\n");
        let e = DaemonConfig::load_with_env(Some(file.path()), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("aws.endpoint_url"), "{e}");

        let file = write("log_format = \"xml\"\n");
        assert!(DaemonConfig::load_with_env(Some(file.path()), Vec::new()).is_err());
        assert!(
            DaemonConfig::load_with_env(Some(Path::new("/nonexistent/ebb.toml")), Vec::new())
                .is_err()
        );
    }
}
