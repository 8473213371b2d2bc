//! The daemon's own configuration (`ebb run --config FILE`): where policies,
//! the decisions log and the state live, how to reach AWS, how to log.
//!
//! Read with the `config` crate from an optional TOML file, then from
//! `EBB_`-prefixed environment variables (`EBB_POLICY_DIR`,
//! `EBB_AWS__ENDPOINT_URL`: a double underscore enters a table). Only
//! variables that name a known setting are read, so other `EBB_` variables
//! (of tests or tools) do not trip the unknown-field check on the file.

use super::accounts::Accounts;
use super::config_validate;
use super::leader::LeaderElectionConfig;
use crate::alert::AlertsConfig;
use crate::policy_file::spans::Spans;
use crate::telemetry::TelemetryConfig;
use crate::text_file::{MAX_CONFIG_BYTES, read_text};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// How the daemon's own log lines are written; default human.
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
    /// Region, endpoint, profile, retries and timeouts of the AWS calls.
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
    /// Member accounts reached by assuming a role: `[accounts.NAME]`, named
    /// by a policy's `target.account`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: Accounts,
}

/// How AWS is reached. Credentials come from the default chain
/// (environment, profile, instance role), and for a target of a named
/// account from the role assumed with them.
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
    /// Limit on connecting to an AWS endpoint; default 3s.
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

/// How the daemon's own log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One readable line per event (the default).
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
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
    "telemetry.per_target_series",
    "leader_election.table",
    "leader_election.holder_id",
];

/// The environment variable that overrides a key: `aws.endpoint_url` ->
/// `EBB_AWS__ENDPOINT_URL`.
pub fn env_var(key: &str) -> String {
    format!("EBB_{}", key.replace('.', "__").to_uppercase())
}

/// Where a problem with the daemon config comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The config file, at a line when known.
    File {
        /// The config file.
        path: PathBuf,
        /// The 1-based line, when known.
        line: Option<usize>,
    },
    /// An environment variable (`EBB_AWS__ENDPOINT_URL`).
    Env {
        /// The variable's name.
        variable: String,
    },
    /// A default value (no file, no variable set it).
    Default,
}

/// One thing wrong with the daemon config: where, which field, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where the problem comes from: the file, a variable or a default.
    pub origin: Origin,
    /// Dotted path of the field (`alerts.rules[2].kind`), when known.
    pub field: Option<String>,
    /// What is wrong, for people.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Origin::File { path, line } => {
                write!(f, "{}", path.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                f.write_str(": ")?;
            }
            Origin::Env { variable } => write!(f, "{variable}: ")?,
            Origin::Default => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Everything wrong with the daemon config, one problem a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// The config file's text and where its fields are, to place problems.
struct Written<'a> {
    path: &'a Path,
    spans: Spans,
}

/// Places problems: a field set by an environment variable is that
/// variable's; otherwise the file's line, when the file writes it.
struct Placer<'a> {
    file: Option<Written<'a>>,
    env: &'a [(String, String)],
}

impl Placer<'_> {
    fn place(&self, field: String, message: String) -> ConfigProblem {
        let from_env = self.env.iter().find_map(|(variable, _)| {
            let key = KEYS.iter().find(|k| env_var(k) == *variable)?;
            let covers = field == *key
                || field
                    .strip_prefix(*key)
                    .is_some_and(|rest| rest.starts_with(['.', '[']));
            covers.then(|| variable.clone())
        });
        let origin = match (from_env, &self.file) {
            (Some(variable), _) => Origin::Env { variable },
            (None, Some(file)) => Origin::File {
                path: file.path.to_path_buf(),
                line: file.spans.line_of(&field),
            },
            (None, None) => Origin::Default,
        };
        ConfigProblem {
            origin,
            field: Some(field),
            message,
        }
    }
}

impl DaemonConfig {
    /// Reads the config file (when given) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<DaemonConfig, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Reads the config file (when given) and the given environment: the
    /// file alone first (so its errors carry their line), then with the
    /// environment's overrides (an error there names the variable), then
    /// every value against its documented range.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<DaemonConfig, ConfigError> {
        Self::load_checked(file, env, config_validate::problems)
    }

    /// What `ebb check --config` reads: as [`load`](Self::load), and the
    /// folders and files the config names must exist, its alert sinks build.
    pub fn load_for_check(file: &Path) -> Result<DaemonConfig, ConfigError> {
        Self::load_checked(Some(file), std::env::vars(), |config| {
            let mut found = config_validate::problems(config);
            if found.is_empty() {
                found = config_validate::path_problems(config);
            }
            found
        })
    }

    fn load_checked(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        problems: impl Fn(&DaemonConfig) -> Vec<(String, String)>,
    ) -> Result<DaemonConfig, ConfigError> {
        let text = match file {
            Some(path) => Some(read_text(path, MAX_CONFIG_BYTES).map_err(|e| {
                ConfigError(vec![ConfigProblem {
                    origin: Origin::File {
                        path: path.to_path_buf(),
                        line: None,
                    },
                    field: None,
                    message: e.to_string(),
                }])
            })?),
            None => None,
        };
        let mut known: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| KEYS.iter().any(|k| env_var(k) == *name))
            .collect();
        known.sort();
        let written = match (file, &text) {
            (Some(path), Some(text)) => {
                let spans = Spans::parse(text);
                if let Err(e) = toml::from_str::<DaemonConfig>(text) {
                    let located = spans.locate_error(&e, text, |_, _| None);
                    return Err(ConfigError(vec![ConfigProblem {
                        origin: Origin::File {
                            path: path.to_path_buf(),
                            line: located.line,
                        },
                        field: located.field,
                        message: located.message,
                    }]));
                }
                Some(Written { path, spans })
            }
            _ => None,
        };
        let parsed = merged(text.as_deref(), &known).map_err(|message| {
            // The file alone is sound: some variable is not. Which one?
            let culprit = known
                .iter()
                .find(|var| merged(text.as_deref(), std::slice::from_ref(var)).is_err());
            ConfigError(vec![match culprit {
                Some((variable, _)) => ConfigProblem {
                    origin: Origin::Env {
                        variable: variable.clone(),
                    },
                    field: KEYS
                        .iter()
                        .find(|k| env_var(k) == *variable)
                        .map(|k| k.to_string()),
                    message: without_key_suffix(&message),
                },
                None => ConfigProblem {
                    origin: Origin::Default,
                    field: None,
                    message,
                },
            }])
        })?;
        let placer = Placer {
            file: written,
            env: &known,
        };
        let problems: Vec<ConfigProblem> = problems(&parsed)
            .into_iter()
            .map(|(field, message)| placer.place(field, message))
            .collect();
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(ConfigError(problems))
        }
    }
}

/// The file's text with the environment's overrides, as the `config` crate
/// merges them; the error as it says it.
fn merged(text: Option<&str>, env: &[(String, String)]) -> Result<DaemonConfig, String> {
    let mut builder = config::Config::builder();
    if let Some(text) = text {
        builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
    }
    builder = builder.add_source(
        config::Environment::with_prefix("EBB")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(env.iter().cloned().collect())),
    );
    builder
        .build()
        .and_then(|built| built.try_deserialize())
        .map_err(|e| e.to_string())
}

/// The `config` crate ends its messages with the key in its own spelling
/// (`for key `aws.max_attempts` in the environment`); the field is named
/// already.
fn without_key_suffix(message: &str) -> String {
    match message.find(" for key ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
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
    /// The one problem loading `text` (as `ebb.toml`) with `env` finds.
    fn problem(text: &str, env: &[(&str, &str)]) -> (ConfigProblem, PathBuf) {
        let file = write(text);
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let ConfigError(problems) =
            DaemonConfig::load_with_env(Some(file.path()), env).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        (problems[0].clone(), file.path().to_path_buf())
    }

    const RULES: &str = "policy_dir = \"/p\"\n\n[alerts]\n[[alerts.rules]]\nkind = \"api-call-failed\"\n\n[[alerts.rules]]\nkind = \"metric-stale\"\nevaluations = 3\n\n[[alerts.rules]]\nkind = \"flapping\"\nchanges = 4\nwindow = \"30m\"\n";

    #[test]
    fn an_unknown_rule_kind_names_its_line_field_and_the_choices() {
        let (p, path) = problem(&RULES.replace("\"flapping\"", "\"flaping\""), &[]);
        let text = p.to_string();
        assert!(
            text.starts_with(&format!(
                "{}:12: alerts.rules[2].kind: unknown variant `flaping`, expected one of `api-call-failed`",
                path.display()
            )),
            "{text}"
        );
        assert!(!text.contains("RuleKindName"), "{text}");
    }

    #[test]
    fn an_unknown_field_is_refused_with_the_known_ones() {
        let (p, path) = problem("policy_dir = \"/p\"\n[aws]\nendpoint = \"http://x\"\n", &[]);
        let text = p.to_string();
        assert!(
            text.starts_with(&format!(
                "{}:3: aws.endpoint: unknown field `endpoint`, expected one of `region`, `endpoint_url`",
                path.display()
            )),
            "{text}"
        );
    }

    #[test]
    fn durations_use_the_one_parser_and_their_ranges() {
        let (p, path) = problem("jitter = \"10M\"\n", &[]);
        assert_eq!(
            p.origin,
            Origin::File {
                path: path.clone(),
                line: Some(1)
            }
        );
        assert!(
            p.to_string().contains("jitter: `10M`: unknown unit `M`"),
            "{p}"
        );
        let (p, _) = problem(&RULES.replace("\"30m\"", "\"100000000000d\""), &[]);
        assert_eq!(
            p.to_string().split_once(": ").unwrap().1,
            "alerts.rules[2].window: 100000000000d is out of range: must be between 0s and 30d"
        );
        let (p, _) = problem("[aws]\nmax_attempts = 4294967295\n", &[]);
        assert_eq!(p.field.as_deref(), Some("aws.max_attempts"));
        assert!(p.message.contains("must be between 1 and 100"), "{p}");
        let (p, _) = problem("[aws]\nendpoint_url = \"localhost:5000\"\n", &[]);
        assert_eq!(p.field.as_deref(), Some("aws.endpoint_url"));
    }

    #[test]
    fn a_rule_missing_what_its_kind_needs_is_placed_on_the_rule() {
        let (p, path) = problem(&RULES.replace("evaluations = 3\n", ""), &[]);
        assert_eq!(
            p.origin,
            Origin::File {
                path,
                line: Some(7)
            }
        );
        assert_eq!(p.field.as_deref(), Some("alerts.rules[1]"));
        assert!(p.message.contains("`evaluations` is required"), "{p}");
    }

    #[test]
    fn a_bad_environment_variable_is_named() {
        let (p, _) = problem("", &[("EBB_AWS__MAX_ATTEMPTS", "many")]);
        assert_eq!(
            p.origin,
            Origin::Env {
                variable: "EBB_AWS__MAX_ATTEMPTS".into()
            }
        );
        assert_eq!(p.field.as_deref(), Some("aws.max_attempts"));
        let (p, _) = problem(
            "[aws]\nconnect_timeout = \"1s\"\n",
            &[("EBB_AWS__CONNECT_TIMEOUT", "100000000000d")],
        );
        assert_eq!(
            p.to_string(),
            "EBB_AWS__CONNECT_TIMEOUT: aws.connect_timeout: 100000000000d is out of range: must be between 1ms and 30d"
        );
        let (p, _) = problem("", &[("EBB_JITTER", "5 fortnights")]);
        assert!(p.to_string().starts_with("EBB_JITTER: jitter: "), "{p}");
    }

    #[test]
    fn a_config_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = DaemonConfig::load_with_env(Some(dir.path()), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
