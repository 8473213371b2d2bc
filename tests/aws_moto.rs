//! The CloudWatch source and the Auto Scaling actuator against a real
//! moto_server, with a recording proxy in between to check the calls ebb
//! makes against AWS's limits (which moto does not enforce).

mod support;

use chrono::{DateTime, Duration, DurationRound, Utc};
use ebb::actuator::Actuator;
use ebb::actuator::autoscaling::{AutoScalingActuator, MAX_NAMES_PER_CALL};
use ebb::group::Lifecycle;
use ebb::policy_file::{CloudWatchMetric, CloudWatchStat, MetricSourceSpec, MetricSpec, Smoothing};
use ebb::series::{MetricKey, MetricRequest};
use ebb::source::MetricSource;
use ebb::source::cloudwatch::{CloudWatchSource, MAX_QUERIES_PER_CALL};
use std::collections::BTreeMap;
use support::moto::{MotoServer, create_group, desired, put_metric, sdk_config};
use support::proxy::Proxy;

fn cpu_request(group: &str, since: DateTime<Utc>) -> MetricRequest {
    MetricRequest {
        key: MetricKey::new(group, "cpu"),
        spec: MetricSpec {
            source: MetricSourceSpec::Cloudwatch(CloudWatchMetric {
                query: ebb::policy_file::CloudWatchQuery::Stat(ebb::policy_file::CloudWatchStat {
                    namespace: "AWS/EC2".into(),
                    metric_name: "CPUUtilization".into(),
                    dimensions: [("AutoScalingGroupName".into(), group.into())].into(),
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
        since,
    }
}

fn minute(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(Duration::minutes(1)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_metrics_come_back_in_two_get_metric_data_calls() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let proxy = Proxy::start(moto.port);
    let setup = aws_sdk_cloudwatch::Client::new(&sdk_config(&moto.url()).await);
    let now = Utc::now();
    let base = minute(now);
    // Ten minutes of data per group, the value telling group and minute apart.
    let groups: Vec<String> = (0..600).map(|i| format!("g{i}")).collect();
    for (i, group) in groups.iter().enumerate() {
        let points: Vec<_> = (1..=10)
            .map(|m| (base - Duration::minutes(m), i as f64 * 100.0 + m as f64))
            .collect();
        put_metric(
            &setup,
            "AWS/EC2",
            "CPUUtilization",
            ("AutoScalingGroupName", group),
            &points,
        )
        .await;
    }
    let requests: Vec<_> = groups
        .iter()
        .map(|g| cpu_request(g, now - Duration::minutes(15)))
        .collect();
    let mut source = CloudWatchSource::new(aws_sdk_cloudwatch::Client::new(
        &sdk_config(&proxy.url()).await,
    ));
    let results = source.fetch(now, &requests).await;

    let calls = proxy.calls("GetMetricData");
    assert_eq!(calls.len(), 2, "600 queries take ceil(600/500) = 2 calls");
    for call in &calls {
        let queries =
            call.count_fields(|k| k.starts_with("MetricDataQueries.member.") && k.ends_with(".Id"));
        assert!(
            queries <= MAX_QUERIES_PER_CALL,
            "{queries} queries in one call"
        );
    }
    // The latest datapoint returned is the last complete period before
    // now - 2 periods: the minute starting at base - 3min (or - 2min when
    // now sits exactly on a minute).
    let settled_end = minute(now - Duration::minutes(2));
    for (i, group) in groups.iter().enumerate() {
        let series = results[&MetricKey::new(group.as_str(), "cpu")]
            .as_ref()
            .unwrap();
        assert!(!series.points.is_empty(), "{group} has data");
        let last = series.points.last().unwrap();
        assert_eq!(last.time + Duration::minutes(1), settled_end, "{group}");
        let m = (base - last.time).num_minutes();
        assert_eq!(last.value, i as f64 * 100.0 + m as f64, "{group}");
        assert!(series.points.windows(2).all(|w| w[0].time < w[1].time));
    }
}

/// A proxy in front of moto that holds each `action` call until `calls` of
/// them are in flight (or 10 s pass), and notes how many were in flight
/// when each was let go: calls sent one at a time each see only themselves.
fn gated_proxy(
    moto_port: u16,
    action: &'static str,
    calls: usize,
) -> (Proxy, std::sync::Arc<std::sync::Mutex<Vec<usize>>>) {
    use std::sync::{Arc, Condvar, Mutex};
    let arrived = Arc::new((Mutex::new(0usize), Condvar::new()));
    let seen_at_release = Arc::new(Mutex::new(Vec::new()));
    let (gate, seen) = (Arc::clone(&arrived), Arc::clone(&seen_at_release));
    let proxy = Proxy::start_with_faults(
        moto_port,
        Arc::new(move |r: &support::proxy::Recorded| {
            if r.action == action {
                let (count, changed) = &*gate;
                let mut n = count.lock().unwrap();
                *n += 1;
                changed.notify_all();
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while *n < calls {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    n = changed.wait_timeout(n, left).unwrap().0;
                }
                seen.lock().unwrap().push(*n);
            }
            support::faults::Fault::Pass
        }),
    );
    (proxy, seen_at_release)
}

/// A round's GetMetricData calls go out together, not one after another
/// (see [`gated_proxy`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rounds_get_metric_data_calls_are_in_flight_together() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    const CALLS: usize = 3;
    let (proxy, seen_at_release) = gated_proxy(moto.port, "GetMetricData", CALLS);
    let now = Utc::now();
    let requests: Vec<_> = (0..CALLS * MAX_QUERIES_PER_CALL)
        .map(|i| cpu_request(&format!("g{i}"), now - Duration::minutes(15)))
        .collect();
    let mut source = CloudWatchSource::new(aws_sdk_cloudwatch::Client::new(
        &sdk_config(&proxy.url()).await,
    ));
    let results = source.fetch(now, &requests).await;
    assert_eq!(results.len(), requests.len());
    assert!(results.values().all(|r| r.is_ok()));
    assert_eq!(proxy.calls("GetMetricData").len(), CALLS);
    assert_eq!(
        *seen_at_release.lock().unwrap(),
        vec![CALLS; CALLS],
        "each call was released only once all {CALLS} were in flight"
    );
}

/// Groups seen for the first time (a restart with a state file: no
/// history was read at start) have their activity histories read a few at
/// once, not one after another: 10,000 groups one by one made round 1 last
/// minutes against AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_look_activity_histories_are_read_a_few_at_once() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    const GROUPS: usize = 3;
    let setup = aws_sdk_autoscaling::Client::new(&sdk_config(&moto.url()).await);
    let names: Vec<String> = (0..GROUPS).map(|i| format!("first-{i}")).collect();
    for name in &names {
        create_group(&setup, name, 1, 4, 1).await;
    }
    let (proxy, seen_at_release) = gated_proxy(moto.port, "DescribeScalingActivities", GROUPS);
    let mut actuator = AutoScalingActuator::new(aws_sdk_autoscaling::Client::new(
        &sdk_config(&proxy.url()).await,
    ));
    let states = actuator.describe(&names, Utc::now()).await.unwrap();
    assert_eq!(states.len(), GROUPS);
    assert_eq!(proxy.calls("DescribeScalingActivities").len(), GROUPS);
    assert_eq!(
        *seen_at_release.lock().unwrap(),
        vec![GROUPS; GROUPS],
        "each history read was released only once all {GROUPS} were in flight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_math_expression_is_sent_with_its_inputs_and_computed() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let proxy = Proxy::start(moto.port);
    let setup = aws_sdk_cloudwatch::Client::new(&sdk_config(&moto.url()).await);
    let now = Utc::now();
    let base = minute(now);
    let points = |v: f64| -> Vec<_> { (3..=8).map(|m| (base - Duration::minutes(m), v)).collect() };
    put_metric(
        &setup,
        "App",
        "Requests",
        ("Service", "web"),
        &points(600.0),
    )
    .await;
    put_metric(&setup, "App", "Hosts", ("Service", "web"), &points(4.0)).await;
    let stat = |name: &str| CloudWatchStat {
        namespace: "App".into(),
        metric_name: name.into(),
        dimensions: [("Service".into(), "web".into())].into(),
        statistic: ebb::policy_file::Statistic::sum(),
    };
    let expression = |key: &str, expression: &str| {
        let mut request = cpu_request(key, now - Duration::minutes(10));
        std::sync::Arc::make_mut(&mut request.spec).source =
            MetricSourceSpec::Cloudwatch(CloudWatchMetric {
                query: ebb::policy_file::CloudWatchQuery::Expression {
                    expression: expression.into(),
                    queries: BTreeMap::from([
                        ("m1".into(), stat("Requests")),
                        ("m2".into(), stat("Hosts")),
                    ]),
                },
                period: std::time::Duration::from_secs(60),
                delay_periods: 2,
            });
        request
    };
    // moto's metric math only evaluates a bare id; `m1 / m2` is checked in
    // what ebb sends, `m1` also in what comes back.
    let ratio = expression("ratio", "m1 / m2");
    let bare = expression("bare", "m1");
    let mut source = CloudWatchSource::new(aws_sdk_cloudwatch::Client::new(
        &sdk_config(&proxy.url()).await,
    ));
    let results = source.fetch(now, &[ratio.clone(), bare.clone()]).await;
    assert!(results[&ratio.key].is_ok());
    let series = results[&bare.key].as_ref().unwrap();
    assert!(!series.points.is_empty());
    assert!(series.points.iter().all(|p| p.value == 600.0), "{series:?}");

    let calls = proxy.calls("GetMetricData");
    assert_eq!(
        calls.len(),
        1,
        "both expressions and their inputs go in one call"
    );
    let field = |k: &str| {
        calls[0]
            .fields
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
    };
    let ids: Vec<_> = (1..=6)
        .map(|i| field(&format!("MetricDataQueries.member.{i}.Id")).unwrap())
        .collect();
    assert_eq!(ids, ["r0_m1", "r0_m2", "r0", "r1_m1", "r1_m2", "r1"]);
    assert_eq!(
        field("MetricDataQueries.member.3.Expression").as_deref(),
        Some("r0_m1 / r0_m2")
    );
    assert_eq!(
        field("MetricDataQueries.member.1.ReturnData").as_deref(),
        Some("false")
    );
    assert_eq!(
        field("MetricDataQueries.member.3.ReturnData").as_deref(),
        Some("true")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_read_fifty_names_a_call_and_sized_without_honoring_cooldown() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let proxy = Proxy::start(moto.port);
    let setup = aws_sdk_autoscaling::Client::new(&sdk_config(&moto.url()).await);
    let names: Vec<String> = (0..120).map(|i| format!("asg-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        create_group(&setup, name, 1, 10, (i % 3) as i32 + 1).await;
    }
    let mut actuator = AutoScalingActuator::new(aws_sdk_autoscaling::Client::new(
        &sdk_config(&proxy.url()).await,
    ));
    let states = actuator.describe(&names, Utc::now()).await.unwrap();
    assert_eq!(states.len(), 120);
    for (i, name) in names.iter().enumerate() {
        let state = &states[name];
        assert_eq!(
            (state.desired, state.min, state.max),
            ((i % 3) as u32 + 1, 1, 10)
        );
        assert_eq!(state.instances.len(), state.desired as usize);
        assert!(
            state
                .instances
                .iter()
                .all(|i| i.lifecycle == Lifecycle::InService)
        );
    }
    let calls = proxy.calls("DescribeAutoScalingGroups");
    assert_eq!(calls.len(), 3, "120 names take 3 calls");
    for call in &calls {
        let n = call.count_fields(|k| k.starts_with("AutoScalingGroupNames.member."));
        assert!(n <= MAX_NAMES_PER_CALL, "{n} names in one call");
    }

    actuator.set_desired("asg-0", 5).await.unwrap();
    assert_eq!(desired(&setup, "asg-0").await, 5);
    let set = &proxy.calls("SetDesiredCapacity")[0];
    assert!(
        set.fields
            .contains(&("HonorCooldown".into(), "false".into()))
    );

    // A group that does not exist is absent, not an error.
    let states = actuator
        .describe(&["nope".to_string()], Utc::now())
        .await
        .unwrap();
    assert!(states.is_empty());
}

/// Instances that appear after the group's first read have no launch
/// history: they are taken as launched at the evaluation's time, so with no
/// warm-up they serve at the tick that first sees them (issue 14: they were
/// stamped with the time the answer arrived, after the tick's, and counted
/// as warming for one tick).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_first_seen_are_launched_at_the_ticks_time() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let client = aws_sdk_autoscaling::Client::new(&sdk_config(&moto.url()).await);
    create_group(&client, "web", 1, 10, 2).await;
    let mut actuator = AutoScalingActuator::new(client.clone());
    let web = ["web".to_string()];
    let known: Vec<String> = actuator.describe(&web, Utc::now()).await.unwrap()["web"]
        .instances
        .iter()
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(known.len(), 2);
    client
        .set_desired_capacity()
        .auto_scaling_group_name("web")
        .desired_capacity(5)
        .send()
        .await
        .unwrap();

    let tick = Utc::now();
    let group = actuator
        .describe(&web, tick)
        .await
        .unwrap()
        .remove("web")
        .unwrap();
    let new: Vec<_> = group
        .instances
        .iter()
        .filter(|i| !known.contains(&i.id))
        .collect();
    assert_eq!(new.len(), 3, "{group:?}");
    assert!(new.iter().all(|i| i.launched_at == tick), "{group:?}");
    let file = ebb::policy_file::load::parse_str(
        &support::daemon::policy("web", 50.0, "1m"),
        std::path::Path::new("web.toml"),
    )
    .unwrap();
    assert_eq!(file.governor.warmup, std::time::Duration::ZERO);
    let observed = ebb::evaluator::TargetEvaluator::new(file).observe(tick, &group);
    assert_eq!((observed.in_service, observed.warming), (5, 0), "{group:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_an_error_not_a_hang() {
    let port = support::moto::free_port();
    let settings = ebb::daemon::config::AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        max_attempts: 2,
        connect_timeout: std::time::Duration::from_millis(500),
        attempt_timeout: std::time::Duration::from_secs(1),
        operation_timeout: std::time::Duration::from_secs(3),
        ..Default::default()
    };
    // The daemon's retry and timeout settings, with fake credentials.
    let config = ebb::daemon::aws::sdk_config(&settings, None)
        .await
        .to_builder()
        .credentials_provider(aws_sdk_autoscaling::config::SharedCredentialsProvider::new(
            aws_sdk_autoscaling::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ),
        ))
        .build();
    let clients = ebb::daemon::aws::clients_from(&config);
    let started = std::time::Instant::now();
    let mut source = clients.source.clone();
    let now = Utc::now();
    let request = cpu_request("web", now - Duration::minutes(5));
    let results = source.fetch(now, std::slice::from_ref(&request)).await;
    assert!(results[&request.key].is_err());
    let mut actuator = clients.actuator.clone();
    assert!(actuator.describe(&["web".to_string()], now).await.is_err());
    assert!(actuator.set_desired("web", 3).await.is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
