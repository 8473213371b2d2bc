//! The SNS sink against a real moto_server: a topic with an SQS queue
//! subscribed gets the firing and the resolved message; a topic that cannot
//! be reached, or that refuses the Publish (HTTP 403, injected by the
//! loopback proxy), is retried with backoff and counted in
//! `ebb_alerts_failed_total`, while the rules go on without waiting.

mod fixtures;
mod support;

use ebb::alert::{AlertMetrics, Alerter, AlertsConfig};
use ebb::daemon::config::AwsSettings;
use fixtures::{alert_counter as counter, scale_out_web as record, t};
use std::sync::Once;
use std::time::{Duration, Instant};
use support::moto::{MotoServer, free_port, sdk_config};
use support::proxy::Proxy;

/// ebb's SNS client takes its credentials from the default chain, as the
/// daemon does: the environment here.
fn credentials() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        // SAFETY: every test in this binary calls this first, before it
        // starts a runtime or a server, and `Once` holds the others back
        // until it returns: no thread reads the environment meanwhile.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        }
    });
}

/// One api-call-failed rule and one SNS sink named `topic`.
fn config(topic_arn: &str, initial_backoff: &str) -> AlertsConfig {
    let text = format!(
        r#"
repeat_interval = "1h"
[delivery]
initial_backoff = "{initial_backoff}"
max_backoff = "2s"
max_attempts = 4
timeout = "5s"
[[rules]]
name = "api-failed"
kind = "api-call-failed"
severity = "critical"
[[sinks]]
kind = "sns"
name = "topic"
topic_arn = "{topic_arn}"
region = "us-east-1"
"#
    );
    toml::from_str(&text).expect("test config parses")
}

fn aws(endpoint: &str) -> AwsSettings {
    AwsSettings {
        endpoint_url: Some(endpoint.to_string()),
        ..AwsSettings::default()
    }
}

/// A topic in moto with an SQS queue subscribed: (topic ARN, queue URL).
async fn topic_with_queue(moto: &MotoServer) -> (String, String) {
    let config = sdk_config(&moto.url()).await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic = sns
        .create_topic()
        .name("ebb-alerts")
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .expect("topic ARN")
        .to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name("ebb-alerts-inbox")
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue URL")
        .to_string();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let queue_arn = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue ARN")
        .clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe the queue");
    (topic, queue_url)
}

/// The SNS notifications in the queue (as the envelope SNS writes to SQS),
/// once there are `want` or `patience` has passed.
async fn notifications(
    moto: &MotoServer,
    queue_url: &str,
    want: usize,
    patience: Duration,
) -> Vec<serde_json::Value> {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&moto.url()).await);
    let mut got = Vec::new();
    let give_up = Instant::now() + patience;
    while got.len() < want && Instant::now() < give_up {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive from SQS");
        for message in out.messages() {
            let body = message.body().expect("a body");
            got.push(serde_json::from_str(body).expect("an SNS envelope"));
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .expect("delete message");
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_queue_gets_the_firing_and_the_resolved_message() {
    credentials();
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let (topic, queue_url) = topic_with_queue(&moto).await;
    let metrics = AlertMetrics::default();
    let mut alerter =
        Alerter::start(&config(&topic, "100ms"), metrics.clone(), &aws(&moto.url())).unwrap();

    alerter.observe(&record(t(0), Some("SetDesiredCapacity failed: Throttling")));
    alerter.observe(&record(t(1), None));
    alerter.observe(&record(t(2), None));
    assert!(
        alerter.flush(Duration::from_secs(20)).await,
        "queue drained"
    );
    assert_eq!(counter(&metrics, "sent", "topic"), 2);
    assert_eq!(counter(&metrics, "failed", "topic"), 0);

    let got = notifications(&moto, &queue_url, 2, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    let message = |i: usize| got[i]["Message"].as_str().unwrap().to_string();
    assert!(
        message(0).starts_with("FIRING (critical) api-failed: "),
        "{}",
        message(0)
    );
    assert!(!message(0).contains('\n'), "one line: {}", message(0));
    assert!(
        message(1).starts_with("RESOLVED (critical) api-failed: "),
        "{}",
        message(1)
    );
    assert_eq!(got[0]["Subject"], "ebb FIRING (critical) api-failed web");
    let attribute = |i: usize, name: &str| got[i]["MessageAttributes"][name]["Value"].clone();
    assert_eq!(attribute(0, "status"), "firing");
    assert_eq!(attribute(1, "status"), "resolved");
    assert_eq!(attribute(0, "severity"), "critical");
    assert_eq!(attribute(0, "target"), "web");
    let alert: serde_json::Value =
        serde_json::from_str(attribute(1, "alert").as_str().unwrap()).unwrap();
    assert_eq!(alert["status"], "resolved");
    assert_eq!(alert["labels"]["alertname"], "api-failed");
    assert!(
        alert["alert"]["description"]
            .as_str()
            .unwrap()
            .contains("Throttling"),
        "{alert}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_topic_is_retried_and_counted_without_holding_the_rules() {
    credentials();
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let metrics = AlertMetrics::default();
    let topic = "arn:aws:sns:us-east-1:123456789012:ebb-alerts";
    // Three backoffs of at least 300ms: the event is still pending when
    // `observe` has returned, whatever the scheduler does.
    let mut alerter =
        Alerter::start(&config(topic, "300ms"), metrics.clone(), &aws(&nobody)).unwrap();
    alerter.observe(&record(t(0), Some("SetDesiredCapacity failed: Throttling")));
    assert_eq!(
        alerter.dispatcher().pending(),
        1,
        "observe queued the event and returned"
    );
    alerter.observe(&record(t(1), Some("SetDesiredCapacity failed: Throttling")));
    assert!(alerter.flush(Duration::from_secs(30)).await);
    assert_eq!(counter(&metrics, "sent", "topic"), 0);
    assert_eq!(counter(&metrics, "failed", "topic"), 1);
    assert_eq!(counter(&metrics, "retries", "topic"), 3, "4 attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_publish_is_retried_then_counted_failed() {
    credentials();
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let (topic, queue_url) = topic_with_queue(&moto).await;
    let proxy = Proxy::start_forbidding(moto.port, "Publish");
    let metrics = AlertMetrics::default();
    let mut alerter =
        Alerter::start(&config(&topic, "10ms"), metrics.clone(), &aws(&proxy.url())).unwrap();
    alerter.observe(&record(t(0), Some("SetDesiredCapacity failed: Throttling")));
    assert!(alerter.flush(Duration::from_secs(20)).await);
    assert_eq!(proxy.calls("Publish").len(), 4, "every attempt asked");
    assert_eq!(
        proxy.calls("Publish")[0]
            .fields
            .iter()
            .find(|(k, _)| k == "TopicArn")
            .map(|(_, v)| v.as_str()),
        Some(topic.as_str())
    );
    assert_eq!(counter(&metrics, "failed", "topic"), 1);
    assert_eq!(counter(&metrics, "retries", "topic"), 3);
    assert_eq!(counter(&metrics, "sent", "topic"), 0);
    let delivered = notifications(&moto, &queue_url, 1, Duration::from_secs(2)).await;
    assert!(delivered.is_empty(), "{delivered:#?}");
}
