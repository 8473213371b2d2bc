//! The SNS sink: alerts published to an SNS topic, so whatever subscribes
//! to it (email, SMS, SQS, Lambda, a chat bridge) gets ebb's alerts with no
//! extra service.
//!
//! Each event is one Publish: the message is the human one-line summary (what
//! an email or SMS subscriber reads), the subject a shorter form of it, and
//! the JSON alert (the document the webhook sink posts) travels as the
//! message attribute `alert`, beside `status`, `severity`, `rule` and
//! `target` attributes that subscription filter policies can match on.
//! Retries are the queue's ([`super::queue`]), so the SDK's own are off.

use super::queue::AttemptError;
use super::sinks::{period, status_str, webhook_body};
use super::{AlertEvent, AlertStatus};
use crate::daemon::config::AwsSettings;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use std::time::Duration;

/// A topic to publish to: its ARN, and the region its API is called in
/// (the ARN's own: SNS accepts a Publish only in the topic's region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsTopic {
    arn: String,
    region: String,
}

impl SnsTopic {
    /// Checks `topic_arn` (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`) and,
    /// when given, that `region` is the topic's. Errors name the field.
    pub fn new(topic_arn: &str, region: Option<&str>) -> Result<SnsTopic, (&'static str, String)> {
        let bad = |why: &str| {
            (
                "topic_arn",
                format!(
                    "`{topic_arn}` is not an SNS topic ARN ({why}); expected \
                     arn:aws:sns:REGION:ACCOUNT:NAME"
                ),
            )
        };
        let parts: Vec<&str> = topic_arn.split(':').collect();
        let [arn, partition, service, arn_region, account, name] = parts[..] else {
            return Err(bad("it needs six `:`-separated parts"));
        };
        if arn != "arn" || !partition.starts_with("aws") {
            return Err(bad("it must start with `arn:aws`"));
        }
        if service != "sns" {
            return Err(bad(&format!("service `{service}`, not `sns`")));
        }
        if !is_region(arn_region) {
            return Err(bad(&format!("region `{arn_region}`")));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!("account `{account}` is not 12 digits")));
        }
        let name_ok = |n: &str| {
            (1..=256).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let fifo = name.strip_suffix(".fifo");
        if !name_ok(fifo.unwrap_or(name)) {
            return Err(bad(&format!("topic name `{name}`")));
        }
        if fifo.is_some() {
            // A FIFO topic needs a message group id on every Publish.
            return Err(bad("FIFO topics are not supported; use a standard topic"));
        }
        if let Some(region) = region
            && region != arn_region
        {
            return Err((
                "region",
                format!(
                    "`{region}` is not the topic's region `{arn_region}` (from topic_arn); \
                     SNS takes a Publish only in the topic's region: drop `region` or make them agree"
                ),
            ));
        }
        Ok(SnsTopic {
            arn: topic_arn.to_string(),
            region: arn_region.to_string(),
        })
    }

    /// The topic's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The region the topic lives in (taken from its ARN).
    pub fn region(&self) -> &str {
        &self.region
    }
}

fn is_region(s: &str) -> bool {
    let mut parts = s.split('-');
    s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && parts.next().is_some_and(|p| !p.is_empty())
        && parts.clone().count() >= 2
        && parts.all(|p| !p.is_empty())
}

/// What one Publish carries for an event.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsMessage {
    /// The Subject: `ebb`, status, severity, rule and target, in printable
    /// ASCII within SNS's 100 characters.
    pub subject: String,
    /// The Message, one line: status, severity, rule, summary and when.
    pub message: String,
    /// (name, value), all of data type `String`.
    pub attributes: Vec<(&'static str, String)>,
}

impl SnsMessage {
    /// The message for `event`.
    pub fn of(event: &AlertEvent) -> SnsMessage {
        let status = match (event.status, event.repeat) {
            (AlertStatus::Resolved, _) => "RESOLVED",
            (AlertStatus::Firing, false) => "FIRING",
            (AlertStatus::Firing, true) => "STILL FIRING",
        };
        let severity = event.severity.as_str();
        let when = period(event);
        let message = one_line(&format!(
            "{status} ({severity}) {}: {} ({when})",
            event.rule, event.summary
        ));
        let subject = subject(&format!(
            "ebb {status} ({severity}) {} {}",
            event.rule, event.target
        ));
        let alert =
            serde_json::to_string(&webhook_body(event)).expect("JSON values always serialize");
        let attributes = [
            ("alert", alert),
            ("status", status_str(event.status).to_string()),
            ("severity", severity.to_string()),
            ("rule", event.rule.clone()),
            ("target", event.target.clone()),
        ]
        .into_iter()
        // SNS rejects an empty attribute value.
        .filter(|(_, v)| !v.is_empty())
        .collect();
        SnsMessage {
            subject,
            message,
            attributes,
        }
    }
}

/// Newlines and tabs become spaces: one line for an SMS or a mail preview.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SNS subjects: printable ASCII, no line breaks, at most 100 characters.
fn subject(s: &str) -> String {
    one_line(s)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(100)
        .collect()
}

/// A topic and the client that publishes to it.
#[derive(Debug, Clone)]
pub(super) struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic: SnsTopic,
}

impl SnsPublisher {
    /// A client in the topic's region, with the daemon's AWS settings
    /// (endpoint, profile, credentials chain); `timeout` bounds each attempt.
    pub(super) async fn new(aws: &AwsSettings, topic: SnsTopic, timeout: Duration) -> SnsPublisher {
        let config = crate::daemon::aws::sdk_config(aws, Some(topic.region())).await;
        let sns = aws_sdk_sns::config::Builder::from(&config)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeout)
                    .operation_timeout(timeout)
                    .build(),
            )
            .build();
        SnsPublisher {
            client: aws_sdk_sns::Client::from_conf(sns),
            topic,
        }
    }

    pub(super) async fn publish(&self, event: &AlertEvent) -> Result<(), AttemptError> {
        let message = SnsMessage::of(event);
        let mut publish = self
            .client
            .publish()
            .topic_arn(self.topic.arn())
            .subject(message.subject)
            .message(message.message);
        for (name, value) in message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data type is set");
            publish = publish.message_attributes(name, value);
        }
        publish.send().await.map(|_| ()).map_err(classify)
    }
}

/// Connection failures, timeouts, throttling, 5xx and 403 are retried: a
/// denied Publish is most often an IAM or KMS key policy change that has not
/// reached every endpoint yet. Other answers (no such topic, a bad
/// parameter) will not change by asking again.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> AttemptError {
    let text = crate::aws_error::error_text(&error);
    match &error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let throttled = matches!(
                service.err().code(),
                Some("Throttling" | "Throttled" | "ThrottlingException" | "ThrottledException")
            );
            if status >= 500 || status == 429 || status == 403 || throttled {
                AttemptError::Retry(text)
            } else {
                AttemptError::Final(text)
            }
        }
        SdkError::ConstructionFailure(_) => AttemptError::Final(text),
        _ => AttemptError::Retry(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;
    use chrono::{TimeZone, Utc};
    use std::collections::BTreeMap;

    #[test]
    fn a_topic_arn_is_checked_part_by_part() {
        let ok = SnsTopic::new("arn:aws:sns:eu-west-1:123456789012:ebb-alerts", None).unwrap();
        assert_eq!(ok.region(), "eu-west-1");
        assert!(
            SnsTopic::new(
                "arn:aws-cn:sns:cn-north-1:123456789012:t",
                Some("cn-north-1")
            )
            .is_ok()
        );
        for (arn, says) in [
            ("ebb-alerts", "six"),
            ("arn:aws:sqs:eu-west-1:123456789012:q", "service `sqs`"),
            ("arn:aws:sns:eu-west-1:1234:t", "12 digits"),
            ("arn:aws:sns:EU:123456789012:t", "region `EU`"),
            ("arn:aws:sns:eu-west-1:123456789012:a b", "topic name"),
            ("arn:aws:sns:eu-west-1:123456789012:t.fifo", "FIFO"),
        ] {
            let (field, message) = SnsTopic::new(arn, None).unwrap_err();
            assert_eq!(field, "topic_arn");
            assert!(message.contains(says), "{arn}: {message}");
        }
        let (field, message) =
            SnsTopic::new("arn:aws:sns:eu-west-1:123456789012:t", Some("us-east-1")).unwrap_err();
        assert_eq!(field, "region");
        assert!(message.contains("`eu-west-1`"), "{message}");
    }

    #[test]
    fn the_message_is_one_line_and_the_alert_an_attribute() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        let event = AlertEvent {
            status: AlertStatus::Firing,
            rule: "pinned".into(),
            target: "web".into(),
            severity: Severity::Critical,
            labels: BTreeMap::new(),
            summary: "web: pinned\nat max".into(),
            description: "asks for 14".into(),
            starts_at: at,
            ends_at: None,
            at,
            repeat: false,
        };
        let m = SnsMessage::of(&event);
        assert_eq!(
            m.message,
            "FIRING (critical) pinned: web: pinned at max (since 2026-11-25T09:00:00+00:00)"
        );
        assert_eq!(m.subject, "ebb FIRING (critical) pinned web");
        let alert: serde_json::Value = serde_json::from_str(&m.attributes[0].1).unwrap();
        assert_eq!(alert["alert"]["description"], "asks for 14");
        assert_eq!(alert["status"], "firing");
        assert!(m.attributes.contains(&("severity", "critical".into())));

        let long = AlertEvent {
            rule: "r".repeat(150),
            ..event
        };
        assert_eq!(SnsMessage::of(&long).subject.len(), 100);
    }
}
