//! Pagination, which moto does not do for GetMetricData: a loopback stub
//! answers the first call with a page and a NextToken, the second with the
//! rest; ebb must follow the token and join the pages.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebb::policy_file::{CloudWatchMetric, MetricSourceSpec, MetricSpec, Smoothing};
use ebb::series::{MetricKey, MetricRequest};
use ebb::source::MetricSource;
use ebb::source::cloudwatch::CloudWatchSource;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

mod support;

/// One GetMetricData answer, in the SDK's protocol (Smithy RPC v2 CBOR).
fn page(points: &[(DateTime<Utc>, f64)], token: Option<&str>) -> Vec<u8> {
    let timestamps: Vec<i64> = points.iter().map(|(t, _)| t.timestamp()).collect();
    let values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
    let mut answer = serde_json::json!({
        "MetricDataResults": [{
            "Id": "r0", "Label": "cpu", "Timestamps": timestamps, "Values": values,
            "StatusCode": if token.is_some() { "PartialData" } else { "Complete" },
        }],
        "Messages": [],
    });
    if let Some(t) = token {
        answer["NextToken"] = t.into();
    }
    support::cbor::from_json(&answer)
}

/// Serves `pages` in order, one per connection; returns the request bodies
/// (as JSON).
fn stub(pages: Vec<Vec<u8>>) -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for (stream, body) in listener.incoming().zip(pages) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut request = vec![0; length];
            reader.read_exact(&mut request).unwrap();
            seen.lock()
                .unwrap()
                .push(support::cbor::to_json(&request, false).unwrap());
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        }
    });
    (port, bodies)
}

#[tokio::test]
async fn get_metric_data_pages_are_followed_and_joined() {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 30).unwrap();
    let minute =
        |m: i64| Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).unwrap() + Duration::minutes(m);
    let (port, bodies) = stub(vec![
        page(&[(minute(50), 1.0), (minute(51), 2.0)], Some("page-2")),
        page(&[(minute(52), 3.0), (minute(53), 4.0)], None),
    ]);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let mut source = CloudWatchSource::new(aws_sdk_cloudwatch::Client::new(&config));
    let request = MetricRequest {
        key: MetricKey::new("web", "cpu"),
        spec: MetricSpec {
            source: MetricSourceSpec::Cloudwatch(CloudWatchMetric {
                query: ebb::policy_file::CloudWatchQuery::Stat(ebb::policy_file::CloudWatchStat {
                    namespace: "AWS/EC2".into(),
                    metric_name: "CPUUtilization".into(),
                    dimensions: Default::default(),
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
        since: minute(45),
    };
    let results = source.fetch(now, std::slice::from_ref(&request)).await;
    let series = results[&request.key].as_ref().unwrap();
    let values: Vec<f64> = series.points.iter().map(|p| p.value).collect();
    assert_eq!(values, [1.0, 2.0, 3.0, 4.0]);
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0].get("NextToken"), None);
    assert_eq!(bodies[1]["NextToken"], "page-2", "{}", bodies[1]);
}
