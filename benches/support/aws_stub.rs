//! A loopback stub of the AWS APIs a round of `ebb run` calls, for benches
//! at a size moto_server cannot serve (10,000 groups): it holds the groups
//! in memory, answers at once, and counts the calls by operation.
//!
//! It speaks the wire protocols of the SDK versions in Cargo.lock, as the
//! proxy in tests/support sees them: Auto Scaling is awsQuery (a form body
//! with `Action=...`, XML answers); CloudWatch is Smithy RPC v2 CBOR (a
//! CBOR body posted to `/service/GraniteServiceVersion20100801/operation/
//! GetMetricData`, a CBOR answer with `smithy-protocol: rpc-v2-cbor`).
//! Connections are kept alive, as the SDK's pool expects of AWS.
//!
//! The load model is one line: group `i` needs `demand(i)` instances'
//! worth of work, so its CPU is `50 * demand / desired`; every tenth group
//! starts hot (demand 3.6 on 2 instances: 90%) and settles once ebb has
//! scaled it out. An operation the stub does not know gets an awsQuery
//! `InvalidAction` error, so a new call in a round shows up as errors in
//! the decisions rather than as silently wrong figures.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{Value as Json, json};

use crate::support::activities::{Listed, launch, result_xml};
use crate::support::cbor;
use crate::support::cbor_bridge::{Request, forward, read_request, rpc_v2_operation};
use crate::support::proxy::form_fields;

const ASG_XMLNS: &str = "http://autoscaling.amazonaws.com/doc/2011-01-01/";

/// One group as the stub holds it.
#[derive(Debug, Clone)]
struct Group {
    desired: i64,
    /// Instances' worth of work: CPU is `50 * demand / desired`.
    demand: f64,
    /// Bumped when the group resizes, so new instances get new ids.
    generation: u64,
}

/// Calls by operation, and the largest batch seen in one call.
#[derive(Debug, Default, Clone)]
pub struct CallCounts {
    pub calls: BTreeMap<String, usize>,
    /// Most group names in one DescribeAutoScalingGroups call.
    pub most_names: usize,
    /// Most queries in one GetMetricData call.
    pub most_queries: usize,
}

impl CallCounts {
    pub fn get(&self, op: &str) -> usize {
        self.calls.get(op).copied().unwrap_or(0)
    }

    /// The calls made since `before`, by operation.
    pub fn since(&self, before: &CallCounts) -> BTreeMap<String, usize> {
        self.calls
            .iter()
            .map(|(op, n)| (op.clone(), n - before.get(op)))
            .collect()
    }
}

#[derive(Default)]
struct World {
    groups: BTreeMap<String, Group>,
    /// The account's activities as DescribeScalingActivities lists them:
    /// in progress first, then newest first.
    activities: Vec<Listed>,
    counts: CallCounts,
    /// Where DynamoDB calls go (moto's port), if anywhere.
    dynamodb: Option<u16>,
}

/// A running stub; stops accepting when dropped.
pub struct AwsStub {
    pub port: u16,
    world: Arc<Mutex<World>>,
    stop: Arc<AtomicBool>,
}

impl AwsStub {
    /// Serves the named groups, each at desired 2 (min 1, max 10).
    pub fn start(groups: &[String]) -> AwsStub {
        AwsStub::start_with_dynamodb(groups, None)
    }

    /// Like [`AwsStub::start`], passing DynamoDB calls (the lease table of
    /// shard mode) on to 127.0.0.1:`dynamodb` (moto), counted as
    /// `DynamoDB.<operation>`.
    pub fn start_with_dynamodb(groups: &[String], dynamodb: Option<u16>) -> AwsStub {
        let world = World {
            groups: groups
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let demand = if i % 10 == 0 { 3.6 } else { 2.0 };
                    let group = Group {
                        desired: 2,
                        demand,
                        generation: 0,
                    };
                    (name.clone(), group)
                })
                .collect(),
            activities: activity_history(groups),
            counts: CallCounts::default(),
            dynamodb,
        };
        let world = Arc::new(Mutex::new(world));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind AWS stub");
        let port = listener.local_addr().expect("stub address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let (w, st) = (Arc::clone(&world), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (w, st) = (Arc::clone(&w), Arc::clone(&st));
                thread::spawn(move || {
                    let _ = serve(stream, &w, &st);
                });
            }
        });
        AwsStub { port, world, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The calls so far.
    pub fn counts(&self) -> CallCounts {
        self.world.lock().expect("stub lock").counts.clone()
    }

    /// A group's desired capacity now.
    pub fn desired(&self, group: &str) -> Option<i64> {
        let world = self.world.lock().expect("stub lock");
        world.groups.get(group).map(|g| g.desired)
    }
}

impl Drop for AwsStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves one connection's requests, one after another, until the client
/// closes it.
fn serve(client: TcpStream, world: &Mutex<World>, stop: &AtomicBool) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    while !stop.load(Ordering::SeqCst) {
        let Some(request) = read_request(&mut reader)? else {
            return Ok(());
        };
        if let Some(op) = request
            .header("x-amz-target")
            .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        {
            let upstream = {
                let mut world = world.lock().expect("stub lock");
                *world
                    .counts
                    .calls
                    .entry(format!("DynamoDB.{op}"))
                    .or_default() += 1;
                world.dynamodb
            };
            let Some(upstream) = upstream else {
                client.write_all(&http("400 Bad Request", "", b"no DynamoDB here"))?;
                continue;
            };
            // The answer closes the connection: the client opens another.
            return client.write_all(&forward(&request, upstream)?);
        }
        let answer = match rpc_v2_operation(&request.path) {
            Some((_, op)) => cbor_answer(op, &request, world),
            None => query_answer(&request, world),
        };
        client.write_all(&answer)?;
    }
    Ok(())
}

/// An HTTP/1.1 answer, kept alive.
fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nx-amzn-RequestId: stub\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

// ---- CloudWatch: RPC v2 CBOR ----

fn cbor_answer(op: &str, request: &Request, world: &Mutex<World>) -> Vec<u8> {
    let gzipped = request
        .header("content-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = match cbor::to_json(&request.body, gzipped) {
        Ok(body) => body,
        Err(e) => return cbor_error("SerializationException", &e),
    };
    match op {
        "GetMetricData" => {
            let mut world = world.lock().expect("stub lock");
            let queries = body["MetricDataQueries"].as_array().map_or(0, Vec::len);
            world.counts.most_queries = world.counts.most_queries.max(queries);
            *world.counts.calls.entry(op.to_string()).or_default() += 1;
            let answer = metric_data(&body, &world.groups);
            drop(world);
            http(
                "200 OK",
                "Content-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n",
                &cbor::from_json(&answer),
            )
        }
        other => cbor_error(
            "UnknownOperationException",
            &format!("the stub does not serve CloudWatch {other}"),
        ),
    }
}

fn cbor_error(code: &str, message: &str) -> Vec<u8> {
    let body = json!({ "__type": code, "message": message });
    http(
        "400 Bad Request",
        "Content-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n",
        &cbor::from_json(&body),
    )
}

/// One datapoint per period inside [StartTime, EndTime) for every query,
/// the group's CPU (its `AutoScalingGroupName` dimension).
fn metric_data(body: &Json, groups: &BTreeMap<String, Group>) -> Json {
    let start = body["StartTime"].as_f64().unwrap_or(0.0) as i64;
    let end = body["EndTime"].as_f64().unwrap_or(0.0) as i64;
    let mut results = Vec::new();
    for query in body["MetricDataQueries"].as_array().into_iter().flatten() {
        let stat = &query["MetricStat"];
        let period = stat["Period"].as_i64().unwrap_or(60).max(1);
        let group = stat["Metric"]["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["Name"] == "AutoScalingGroupName")
            .and_then(|d| d["Value"].as_str())
            .and_then(|name| groups.get(name));
        let (mut timestamps, mut values) = (Vec::new(), Vec::new());
        if let Some(group) = group {
            let cpu = 50.0 * group.demand / group.desired.max(1) as f64;
            let mut t = start.div_euclid(period) * period;
            while t < end {
                if t >= start {
                    timestamps.push(json!(t));
                    values.push(json!(cpu));
                }
                t += period;
            }
        }
        results.push(json!({
            "Id": query["Id"],
            "Label": query["Id"],
            "Timestamps": timestamps,
            "Values": values,
            "StatusCode": "Complete",
        }));
    }
    json!({ "MetricDataResults": results, "Messages": [] })
}

// ---- Auto Scaling: awsQuery ----

fn query_answer(request: &Request, world: &Mutex<World>) -> Vec<u8> {
    let fields = form_fields(&String::from_utf8_lossy(&request.body));
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let action = field("Action").unwrap_or_default().to_string();
    let mut world = world.lock().expect("stub lock");
    *world.counts.calls.entry(action.clone()).or_default() += 1;
    let result = match action.as_str() {
        "DescribeAutoScalingGroups" => {
            let names: Vec<&str> = fields
                .iter()
                .filter(|(k, _)| k.starts_with("AutoScalingGroupNames.member."))
                .map(|(_, v)| v.as_str())
                .collect();
            world.counts.most_names = world.counts.most_names.max(names.len());
            let mut xml = String::from("<AutoScalingGroups>");
            for name in names {
                if let Some(group) = world.groups.get(name) {
                    group_xml(name, group, &mut xml);
                }
            }
            xml.push_str("</AutoScalingGroups>");
            Some(xml)
        }
        "SetDesiredCapacity" => {
            let name = field("AutoScalingGroupName")
                .unwrap_or_default()
                .to_string();
            let desired = field("DesiredCapacity").and_then(|v| v.parse::<i64>().ok());
            match (world.groups.get_mut(&name), desired) {
                (Some(group), Some(desired)) if (1..=10).contains(&desired) => {
                    group.desired = desired;
                    group.generation += 1;
                    Some(String::new())
                }
                _ => {
                    return query_error(
                        "ValidationError",
                        &format!("no group {name:?} or a desired capacity out of 1..=10"),
                    );
                }
            }
        }
        "DescribeInstanceRefreshes" => Some("<InstanceRefreshes/>".into()),
        "DescribeScalingActivities" => Some(result_xml(&world.activities, &fields)),
        "DescribePolicies" => Some("<ScalingPolicies/>".into()),
        "DescribeScheduledActions" => Some("<ScheduledUpdateGroupActions/>".into()),
        "DescribeWarmPool" => Some("<Instances/>".into()),
        _ => None,
    };
    drop(world);
    let Some(result) = result else {
        return query_error(
            "InvalidAction",
            &format!("the stub does not serve Auto Scaling {action:?}"),
        );
    };
    // SetDesiredCapacity's answer has no Result element.
    let result = if result.is_empty() {
        String::new()
    } else {
        format!("<{action}Result>{result}</{action}Result>")
    };
    let body = format!(
        "<{action}Response xmlns=\"{ASG_XMLNS}\">{result}\
         <ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata></{action}Response>"
    );
    http("200 OK", "Content-Type: text/xml\r\n", body.as_bytes())
}

fn query_error(code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<ErrorResponse xmlns=\"{ASG_XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{message}</Message></Error><RequestId>stub</RequestId></ErrorResponse>"
    );
    http(
        "400 Bad Request",
        "Content-Type: text/xml\r\n",
        body.as_bytes(),
    )
}

/// A group as DescribeAutoScalingGroups gives it: `desired` instances, all
/// in service and healthy.
/// An account's activity history as a busy account has it: one activity
/// of another team's group still in progress since three days ago (listed
/// first), 250 launches of other teams' groups in the last ten minutes,
/// then each served group's two instances launched two days ago (older
/// than any look-back ebb reads: warmed up, no cooldown running).
fn activity_history(groups: &[String]) -> Vec<Listed> {
    let now = chrono::Utc::now();
    let ago = |d: chrono::Duration| now - d;
    let mut out = vec![launch(
        "other-team-stuck",
        "i-stuck",
        ago(chrono::Duration::days(3)),
        "InProgress",
    )];
    for n in 0..250 {
        let group = format!("other-team-{:03}", n % 40);
        let start = ago(chrono::Duration::seconds(2 + 2 * n));
        out.push(launch(&group, &format!("i-other-{n}"), start, "Successful"));
    }
    for (i, name) in groups.iter().enumerate() {
        for n in 0..2 {
            let start =
                ago(chrono::Duration::days(2) + chrono::Duration::seconds(2 * i as i64 + n));
            out.push(launch(
                name,
                &format!("i-{name}-0-{n}"),
                start,
                "Successful",
            ));
        }
    }
    out
}

fn group_xml(name: &str, group: &Group, xml: &mut String) {
    use std::fmt::Write as _;
    let _ = write!(
        xml,
        "<member><AutoScalingGroupName>{name}</AutoScalingGroupName>\
         <AutoScalingGroupARN>arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:stub:autoScalingGroupName/{name}</AutoScalingGroupARN>\
         <LaunchConfigurationName>stub-lc</LaunchConfigurationName>\
         <MinSize>1</MinSize><MaxSize>10</MaxSize><DesiredCapacity>{}</DesiredCapacity>\
         <DefaultCooldown>300</DefaultCooldown>\
         <AvailabilityZones><member>us-east-1a</member></AvailabilityZones>\
         <HealthCheckType>EC2</HealthCheckType><HealthCheckGracePeriod>300</HealthCheckGracePeriod>\
         <CreatedTime>2026-01-01T00:00:00Z</CreatedTime><Instances>",
        group.desired
    );
    for n in 0..group.desired {
        let _ = write!(
            xml,
            "<member><InstanceId>i-{name}-{}-{n}</InstanceId>\
             <AvailabilityZone>us-east-1a</AvailabilityZone><LifecycleState>InService</LifecycleState>\
             <HealthStatus>Healthy</HealthStatus><LaunchConfigurationName>stub-lc</LaunchConfigurationName>\
             <ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>",
            // Instances that stayed keep their ids; new ones get new ids.
            if n < 2 { 0 } else { group.generation }
        );
    }
    xml.push_str(
        "</Instances><SuspendedProcesses/><EnabledMetrics/><Tags/><TerminationPolicies>\
         <member>Default</member></TerminationPolicies></member>",
    );
}
