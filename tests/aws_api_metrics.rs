//! AWS calls counted by operation inside the SDK, against a real moto_server:
//! successes, an error answer, and latency observed for each.

mod support;

use ebb::actuator::Actuator;
use ebb::telemetry::Metrics;
use support::moto::{MotoServer, create_group, sdk_config};

#[tokio::test]
async fn every_sdk_call_is_counted_with_its_operation_and_errors() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let config = sdk_config(&moto.url()).await;
    create_group(&aws_sdk_autoscaling::Client::new(&config), "web", 1, 10, 2).await;

    let metrics = Metrics::new();
    let clients = ebb::daemon::aws::clients_with_metrics(&config, metrics.aws_interceptor());
    let mut actuator = clients.actuator.clone();
    let groups = actuator
        .describe(&["web".to_string()], chrono::Utc::now())
        .await
        .expect("describe");
    assert_eq!(groups["web"].desired, 2);
    actuator.set_desired("web", 3).await.expect("set desired");
    // moto answers an error for a group that does not exist.
    assert!(actuator.set_desired("nope", 3).await.is_err());

    let text = metrics.encode();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str, operation: &str| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("operation") == Some(operation))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(
        value("ebb_aws_api_calls_total", "DescribeAutoScalingGroups"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value("ebb_aws_api_errors_total", "DescribeAutoScalingGroups"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value("ebb_aws_api_calls_total", "SetDesiredCapacity"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value("ebb_aws_api_errors_total", "SetDesiredCapacity"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            "ebb_aws_api_call_duration_seconds_count",
            "SetDesiredCapacity"
        ),
        Some(2.0),
        "{text}"
    );
}
