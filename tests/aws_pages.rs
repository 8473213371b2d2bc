//! Pagination, which moto does not do for GetMetricData: the loopback proxy
//! in front of moto_server pages moto's answer as CloudWatch would (the
//! first call gets the oldest points and a NextToken, the call carrying the
//! token the rest); ebb must follow the token and join the pages.

mod support;

use chrono::{Duration, DurationRound, Utc};
use ebb::policy_file::{CloudWatchMetric, MetricSourceSpec, MetricSpec, Smoothing};
use ebb::series::{MetricKey, MetricRequest};
use ebb::source::MetricSource;
use ebb::source::cloudwatch::CloudWatchSource;
use serde_json::Value;
use std::sync::Arc;
use support::moto::{MotoServer, put_metric, sdk_config};
use support::proxy::{AnswerRule, Proxy, Recorded};

/// How many points of each result the first page holds.
const FIRST_PAGE: usize = 2;

/// The token of the second page.
const TOKEN: &str = "page-2";

fn next_token(r: &Recorded) -> Option<&str> {
    r.fields
        .iter()
        .find(|(k, _)| k == "NextToken")
        .map(|(_, v)| v.as_str())
}

/// Moto's whole GetMetricData `answer` (JSON) cut into the page a call
/// gets: without a token, each result's [`FIRST_PAGE`] oldest points
/// (ebb asks with ScanBy TimestampAscending), `PartialData` and a
/// NextToken; with it, the rest.
fn page(answer: &str, token: Option<&str>) -> String {
    let mut json: Value = serde_json::from_str(answer).expect("moto's answer is JSON");
    let results = json["MetricDataResults"]
        .as_array_mut()
        .expect("MetricDataResults");
    for result in results {
        let times = result["Timestamps"].as_array().cloned().unwrap_or_default();
        let values = result["Values"].as_array().cloned().unwrap_or_default();
        let mut points: Vec<(Value, Value)> = times.into_iter().zip(values).collect();
        points.sort_by(|a, b| a.0.as_f64().unwrap().total_cmp(&b.0.as_f64().unwrap()));
        let cut = FIRST_PAGE.min(points.len());
        let shown = if token.is_none() {
            &points[..cut]
        } else {
            &points[cut..]
        };
        result["Timestamps"] = shown.iter().map(|(t, _)| t.clone()).collect();
        result["Values"] = shown.iter().map(|(_, v)| v.clone()).collect();
        result["StatusCode"] = if token.is_none() {
            "PartialData"
        } else {
            "Complete"
        }
        .into();
    }
    if token.is_none() {
        json["NextToken"] = TOKEN.into();
    }
    json.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_metric_data_pages_are_followed_and_joined() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let rule: AnswerRule = Arc::new(|r: &Recorded, answer: &str| {
        (r.action == "GetMetricData").then(|| page(answer, next_token(r)))
    });
    let proxy = Proxy::start_with_answers(moto.port, rule);
    let now = Utc::now();
    let minute = now.duration_trunc(Duration::minutes(1)).unwrap();
    // Four minutes of data, the value telling them apart, oldest first.
    let points: Vec<_> = (7..=10)
        .map(|ago| (minute - Duration::minutes(ago), 11.0 - ago as f64))
        .collect();
    put_metric(
        &aws_sdk_cloudwatch::Client::new(&sdk_config(&moto.url()).await),
        "AWS/EC2",
        "CPUUtilization",
        ("AutoScalingGroupName", "web"),
        &points,
    )
    .await;
    let mut source = CloudWatchSource::new(aws_sdk_cloudwatch::Client::new(
        &sdk_config(&proxy.url()).await,
    ));
    let request = MetricRequest {
        key: MetricKey::new("web", "cpu"),
        spec: MetricSpec {
            source: MetricSourceSpec::Cloudwatch(CloudWatchMetric {
                query: ebb::policy_file::CloudWatchQuery::Stat(ebb::policy_file::CloudWatchStat {
                    namespace: "AWS/EC2".into(),
                    metric_name: "CPUUtilization".into(),
                    dimensions: [("AutoScalingGroupName".into(), "web".into())].into(),
                    statistic: ebb::policy_file::Statistic::average(),
                }),
                period: std::time::Duration::from_secs(60),
                delay_periods: 2,
            }),
            smoothing: Smoothing::Latest,
            stale_after: std::time::Duration::from_secs(300),
            max_value: None,
            simulated_as: None,
        }
        .into(),
        since: minute - Duration::minutes(15),
    };
    let results = source.fetch(now, std::slice::from_ref(&request)).await;
    let series = results[&request.key].as_ref().unwrap();
    let values: Vec<f64> = series.points.iter().map(|p| p.value).collect();
    assert_eq!(values, [1.0, 2.0, 3.0, 4.0]);
    let calls = proxy.calls("GetMetricData");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(next_token(&calls[0]), None);
    assert_eq!(next_token(&calls[1]), Some(TOKEN), "{:?}", calls[1]);
}
