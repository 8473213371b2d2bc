//! Where alerts go, and in which wire format: a generic JSON webhook, a
//! Slack-compatible incoming webhook, Alertmanager's v2 API, or an SNS topic
//! ([`super::sns`]).
//!
//! URLs and tokens are secrets (a Slack webhook URL is its own credential):
//! they come from the config, an environment variable or a file, are held in
//! [`Secret`], and are never printed or logged; sinks are named in logs by
//! their `name`.

use super::sns::SnsTopic;
use super::{AlertConfigError, AlertEvent, AlertStatus, Severity};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A sink as written in `[[alerts.sinks]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Where events go and how they are formatted.
    pub kind: SinkKind,
    /// How logs and metrics name this sink; defaults to the kind.
    #[serde(default)]
    pub name: Option<String>,
    /// The URL: exactly one of `url`, `url_env` (variable name) or `url_file`.
    /// For Alertmanager, its base URL (`http://host:9093`). Never written
    /// out: a config dump shows `<redacted>`.
    #[serde(default, serialize_with = "redacted")]
    pub url: Option<String>,
    /// The name of an environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// A file holding the URL.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Optional bearer token: from a variable or a file, never inline.
    #[serde(default)]
    pub token_env: Option<String>,
    /// A file holding the bearer token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// SNS: the topic's ARN (instead of a URL).
    #[serde(default)]
    pub topic_arn: Option<String>,
    /// SNS: the region to call, which must be the topic's (the default).
    #[serde(default)]
    pub region: Option<String>,
    /// Events below this severity are not sent here.
    #[serde(default = "lowest_severity")]
    pub min_severity: Severity,
}

fn redacted<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(_) => s.serialize_some("<redacted>"),
        None => s.serialize_none(),
    }
}

fn lowest_severity() -> Severity {
    Severity::Info
}

/// The kinds of sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkKind {
    /// POSTs one JSON document per event.
    Webhook,
    /// POSTs `{"text": ...}` to a Slack (or Mattermost, ...) incoming webhook.
    Slack,
    /// POSTs to `<url>/api/v2/alerts`; resolved alerts carry `endsAt`.
    Alertmanager,
    /// Publishes to an SNS topic (`topic_arn`) with the daemon's AWS settings.
    Sns,
}

impl SinkKind {
    /// The kind as the config spells it, e.g. `alertmanager`.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::Slack => "slack",
            SinkKind::Alertmanager => "alertmanager",
            SinkKind::Sns => "sns",
        }
    }
}

/// A string that must never reach a log: Debug and Display hide it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value` so no log or debug output shows it.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret is read from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    /// Written in the config (URLs only; tokens are never inline).
    Inline(Secret),
    /// Read from this environment variable at each use.
    Env(String),
    /// Read from this file at each use.
    File(PathBuf),
}

impl SecretSource {
    /// Reads the secret; errors name the variable or file, never the value.
    pub fn read(&self) -> Result<Secret, String> {
        let value = match self {
            SecretSource::Inline(s) => return Ok(s.clone()),
            SecretSource::Env(name) => std::env::var(name).map_err(|e| match e {
                std::env::VarError::NotPresent => {
                    format!("environment variable `{name}` is not set")
                }
                std::env::VarError::NotUnicode(_) => {
                    format!("environment variable `{name}` is not valid UTF-8")
                }
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?,
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(match self {
                SecretSource::Env(name) => format!("environment variable `{name}` is empty"),
                SecretSource::File(path) => format!("`{}` is empty", path.display()),
                SecretSource::Inline(_) => "value is empty".into(),
            });
        }
        Ok(Secret::new(value))
    }
}

/// A ready sink: where to send, how to format.
#[derive(Debug, Clone)]
pub struct Sink {
    /// How logs and metrics name the sink.
    pub name: String,
    /// Which kind of receiver it is.
    pub kind: SinkKind,
    /// Where its events go.
    pub destination: Destination,
    /// Events below this severity are not sent to it.
    pub min_severity: Severity,
    /// Alertmanager: how long a firing alert stays active without a repeat,
    /// so an alert from an ebb that died expires on its own.
    firing_validity: chrono::Duration,
}

/// Where a sink's events go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// An HTTP receiver (webhook, Slack, Alertmanager).
    Http {
        /// The URL to POST to.
        url: Secret,
        /// The bearer token to send, if any.
        token: Option<Secret>,
    },
    /// An SNS topic.
    Sns(SnsTopic),
}

/// One HTTP request a sink wants sent.
pub struct Request<'a> {
    /// The URL to POST to.
    pub url: String,
    /// The bearer token to send, if the sink has one.
    pub bearer: Option<&'a Secret>,
    /// The request body, JSON.
    pub body: Vec<u8>,
}

impl Sink {
    /// An HTTP sink (webhook, Slack, Alertmanager).
    pub fn new(
        name: impl Into<String>,
        kind: SinkKind,
        url: Secret,
        token: Option<Secret>,
    ) -> Sink {
        Sink::to(name, kind, Destination::Http { url, token })
    }

    fn to(name: impl Into<String>, kind: SinkKind, destination: Destination) -> Sink {
        Sink {
            name: name.into(),
            kind,
            destination,
            min_severity: Severity::Info,
            firing_validity: chrono::Duration::hours(3),
        }
    }

    /// Builds the sink from its config, reading its URL and token.
    pub fn from_config(
        index: usize,
        config: &SinkConfig,
        repeat_interval: Duration,
    ) -> Result<Sink, AlertConfigError> {
        let err = |message: String| AlertConfigError::Sink {
            index,
            kind: config.kind.as_str().into(),
            message,
        };
        if let Some((field, problem)) = field_problems(config).into_iter().next() {
            return Err(err(format!("{field}: {problem}")));
        }
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| config.kind.as_str().to_string());
        let destination = match config.kind {
            SinkKind::Sns => Destination::Sns(
                SnsTopic::new(
                    config.topic_arn.as_deref().unwrap_or_default(),
                    config.region.as_deref(),
                )
                .map_err(|(field, problem)| err(format!("{field}: {problem}")))?,
            ),
            SinkKind::Webhook | SinkKind::Slack | SinkKind::Alertmanager => {
                Self::http_destination(config).map_err(err)?
            }
        };
        let mut sink = Sink::to(name, config.kind, destination);
        sink.min_severity = config.min_severity;
        // Like Prometheus (4x its resend interval): long enough to survive a
        // missed repeat, short enough that a dead ebb's alerts expire.
        sink.firing_validity = crate::clock::to_chrono(repeat_interval.saturating_mul(3));
        Ok(sink)
    }

    /// An HTTP sink's URL and token, read from where the config says.
    fn http_destination(config: &SinkConfig) -> Result<Destination, String> {
        let url_source = match (&config.url, &config.url_env, &config.url_file) {
            (Some(u), None, None) => SecretSource::Inline(Secret::new(u.clone())),
            (None, Some(v), None) => SecretSource::Env(v.clone()),
            (None, None, Some(f)) => SecretSource::File(f.clone()),
            (None, None, None) => {
                return Err("set one of `url`, `url_env` or `url_file`".into());
            }
            _ => return Err("set only one of `url`, `url_env` or `url_file`".into()),
        };
        let token_source = match (&config.token_env, &config.token_file) {
            (None, None) => None,
            (Some(v), None) => Some(SecretSource::Env(v.clone())),
            (None, Some(f)) => Some(SecretSource::File(f.clone())),
            _ => return Err("set only one of `token_env` or `token_file`".into()),
        };
        let url = url_source.read().map_err(|e| format!("url: {e}"))?;
        let scheme_ok = url.expose().starts_with("http://") || url.expose().starts_with("https://");
        if !scheme_ok || reqwest::Url::parse(url.expose()).is_err() {
            // The URL itself is not shown: it may be the credential.
            return Err("url: not a valid http:// or https:// URL".into());
        }
        let token = match token_source {
            Some(s) => Some(s.read().map_err(|e| format!("token: {e}"))?),
            None => None,
        };
        Ok(Destination::Http { url, token })
    }

    /// Whether the sink takes `event` (its severity is at least the sink's minimum).
    pub fn wants(&self, event: &AlertEvent) -> bool {
        event.severity >= self.min_severity
    }

    /// The HTTP request that delivers `event` to this sink; `None` for a
    /// sink that is not an HTTP receiver.
    pub fn request(&self, event: &AlertEvent) -> Option<Request<'_>> {
        let Destination::Http { url, token } = &self.destination else {
            return None;
        };
        let (url, body) = match self.kind {
            SinkKind::Webhook => (url.expose().to_string(), webhook_body(event)),
            SinkKind::Slack => (url.expose().to_string(), slack_body(event)),
            SinkKind::Alertmanager => (
                format!("{}/api/v2/alerts", url.expose().trim_end_matches('/')),
                alertmanager_body(event, self.firing_validity),
            ),
            SinkKind::Sns => return None,
        };
        Some(Request {
            url,
            bearer: token.as_ref(),
            body: serde_json::to_vec(&body).expect("JSON values always serialize"),
        })
    }
}

/// Fields set that the sink's kind does not use, or missing ones it needs,
/// as (field, problem): what `ebb check` reports with the file and line.
pub fn field_problems(config: &SinkConfig) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    if config.kind == SinkKind::Sns {
        let http_fields = [
            ("url", config.url.is_some()),
            ("url_env", config.url_env.is_some()),
            ("url_file", config.url_file.is_some()),
            ("token_env", config.token_env.is_some()),
            ("token_file", config.token_file.is_some()),
        ];
        for (field, set) in http_fields {
            if set {
                found.push((
                    field,
                    "an sns sink publishes to `topic_arn` with the daemon's AWS credentials; remove this field".to_string(),
                ));
            }
        }
        match &config.topic_arn {
            None => found.push((
                "topic_arn",
                "an sns sink needs the topic's ARN (arn:aws:sns:REGION:ACCOUNT:NAME)".into(),
            )),
            Some(arn) => {
                if let Err((field, problem)) = SnsTopic::new(arn, config.region.as_deref()) {
                    found.push((field, problem));
                }
            }
        }
    } else {
        for (field, set) in [
            ("topic_arn", config.topic_arn.is_some()),
            ("region", config.region.is_some()),
        ] {
            if set {
                found.push((
                    field,
                    format!(
                        "only an sns sink has `{field}`; a {} sink takes `url`",
                        config.kind.as_str()
                    ),
                ));
            }
        }
    }
    found
}

/// Builds every configured sink; sink names must be unique (they label metrics).
pub fn build_all(
    configs: &[SinkConfig],
    repeat_interval: Duration,
) -> Result<Vec<Sink>, AlertConfigError> {
    let mut sinks: Vec<Sink> = Vec::with_capacity(configs.len());
    for (index, config) in configs.iter().enumerate() {
        let sink = Sink::from_config(index, config, repeat_interval)?;
        if sinks.iter().any(|s| s.name == sink.name) {
            return Err(AlertConfigError::Sink {
                index,
                kind: config.kind.as_str().into(),
                message: format!(
                    "name `{}` is used by another sink; give each sink a unique `name`",
                    sink.name
                ),
            });
        }
        sinks.push(sink);
    }
    Ok(sinks)
}

/// Every label of an alert: the rule's, plus who/what/how bad.
pub fn all_labels(event: &AlertEvent) -> BTreeMap<String, String> {
    let mut labels = event.labels.clone();
    labels.insert("alertname".into(), event.rule.clone());
    labels.insert("target".into(), event.target.clone());
    labels.insert("severity".into(), event.severity.as_str().into());
    labels
}

pub(super) fn status_str(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    }
}

pub(super) fn webhook_body(event: &AlertEvent) -> serde_json::Value {
    json!({
        "version": "1",
        "source": "ebb",
        "status": status_str(event.status),
        "repeat": event.repeat,
        "labels": all_labels(event),
        "alert": event,
    })
}

/// When the alert held: `since START`, or `from START to END` once resolved.
pub(super) fn period(event: &AlertEvent) -> String {
    match event.ends_at {
        Some(end) => format!(
            "from {} to {}",
            event.starts_at.to_rfc3339(),
            end.to_rfc3339()
        ),
        None => format!("since {}", event.starts_at.to_rfc3339()),
    }
}

fn slack_body(event: &AlertEvent) -> serde_json::Value {
    let head = match (event.status, event.repeat) {
        (AlertStatus::Resolved, _) => ":white_check_mark: *RESOLVED*".to_string(),
        (AlertStatus::Firing, false) => {
            format!(":rotating_light: *FIRING* ({})", event.severity.as_str())
        }
        (AlertStatus::Firing, true) => format!(
            ":rotating_light: *STILL FIRING* ({})",
            event.severity.as_str()
        ),
    };
    let since = period(event);
    json!({
        "text": format!(
            "{head} `{}` {}\n>{}\n_{since}_",
            event.rule, event.summary, event.description
        ),
    })
}

fn alertmanager_body(event: &AlertEvent, firing_validity: chrono::Duration) -> serde_json::Value {
    let ends_at = match event.status {
        AlertStatus::Resolved => event.ends_at.unwrap_or(event.at),
        AlertStatus::Firing => event.at + firing_validity,
    };
    json!([{
        "labels": all_labels(event),
        "annotations": {
            "summary": event.summary,
            "description": event.description,
        },
        "startsAt": event.starts_at.to_rfc3339(),
        "endsAt": ends_at.to_rfc3339(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn event(status: AlertStatus) -> AlertEvent {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        AlertEvent {
            status,
            rule: "pinned".into(),
            target: "web".into(),
            severity: Severity::Critical,
            labels: BTreeMap::from([("team".to_string(), "web".to_string())]),
            summary: "web: pinned at max".into(),
            description: "asks for 14".into(),
            starts_at: at,
            ends_at: (status == AlertStatus::Resolved).then(|| at + chrono::Duration::minutes(5)),
            at: at + chrono::Duration::minutes(5),
            repeat: false,
        }
    }

    fn body(sink: &Sink, e: &AlertEvent) -> serde_json::Value {
        serde_json::from_slice(&sink.request(e).unwrap().body).unwrap()
    }

    #[test]
    fn alertmanager_payload_has_labels_and_ends_at() {
        let sink = Sink::new(
            "am",
            SinkKind::Alertmanager,
            Secret::new("http://127.0.0.1:9093/"),
            None,
        );
        assert_eq!(
            sink.request(&event(AlertStatus::Firing)).unwrap().url,
            "http://127.0.0.1:9093/api/v2/alerts"
        );
        let firing = body(&sink, &event(AlertStatus::Firing));
        assert_eq!(firing[0]["labels"]["alertname"], "pinned");
        assert_eq!(firing[0]["labels"]["severity"], "critical");
        assert_eq!(firing[0]["labels"]["team"], "web");
        assert_eq!(
            firing[0]["endsAt"], "2026-11-25T12:05:00+00:00",
            "valid for 3h after the event"
        );
        let resolved = body(&sink, &event(AlertStatus::Resolved));
        assert_eq!(resolved[0]["endsAt"], "2026-11-25T09:05:00+00:00");
    }

    #[test]
    fn slack_and_webhook_payloads() {
        let slack = Sink::new(
            "s",
            SinkKind::Slack,
            Secret::new("https://hooks.example/x"),
            None,
        );
        let text = body(&slack, &event(AlertStatus::Firing))["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            text.starts_with(":rotating_light: *FIRING* (critical) `pinned` web: pinned at max"),
            "{text}"
        );
        let hook = Sink::new("w", SinkKind::Webhook, Secret::new("http://x/"), None);
        let b = body(&hook, &event(AlertStatus::Resolved));
        assert_eq!(b["status"], "resolved");
        assert_eq!(b["labels"]["target"], "web");
        assert_eq!(b["alert"]["description"], "asks for 14");
    }

    #[test]
    fn secrets_come_from_env_or_file_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "https://hooks.example/T000/SECRET\n").unwrap();
        let config = SinkConfig {
            kind: SinkKind::Slack,
            name: None,
            url: None,
            url_env: None,
            url_file: Some(file.clone()),
            token_env: None,
            token_file: None,
            topic_arn: None,
            region: None,
            min_severity: Severity::Warning,
        };
        let sink = Sink::from_config(0, &config, Duration::from_secs(60)).unwrap();
        assert_eq!(
            sink.request(&event(AlertStatus::Firing)).unwrap().url,
            "https://hooks.example/T000/SECRET"
        );
        assert!(!format!("{sink:?}").contains("SECRET"));

        let missing = SinkConfig {
            url_file: None,
            url_env: Some("EBB_TEST_SURELY_UNSET_VARIABLE".into()),
            ..config.clone()
        };
        let e = Sink::from_config(2, &missing, Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "alerts.sinks[2] (slack): url: environment variable `EBB_TEST_SURELY_UNSET_VARIABLE` is not set"
        );

        let inline = SinkConfig {
            url_file: None,
            url: Some("https://hooks.example/T000/SECRET".into()),
            ..config.clone()
        };
        let dumped = serde_json::to_string(&inline).unwrap();
        assert!(
            dumped.contains("\"url\":\"<redacted>\"") && !dumped.contains("SECRET"),
            "{dumped}"
        );

        std::fs::write(&file, "not a url SECRET").unwrap();
        let e = Sink::from_config(0, &config, Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid") && !e.contains("SECRET"), "{e}");
    }
}
