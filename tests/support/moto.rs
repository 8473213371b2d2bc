//! A real `moto_server` (the AWS API emulator from PyPI `moto[server]`) on a
//! free 127.0.0.1 port, killed when dropped, plus SDK clients pointed at it.
//! Clients reach it through a [`CborBridge`], so the CloudWatch SDK's RPC v2
//! CBOR requests arrive as the awsJson1.0 moto understands.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cbor_bridge::CborBridge;

/// A running moto_server.
pub struct MotoServer {
    child: Child,
    /// The bridge's port, where clients send their requests.
    pub port: u16,
    _bridge: CborBridge,
}

impl MotoServer {
    /// Starts moto_server, or returns `None` (after saying why) when it is not
    /// installed, unless `EBB_REQUIRE_TEST_SERVERS=1`, where that is a failure.
    pub fn start() -> Option<MotoServer> {
        if Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            let message = "moto_server not found: install it with `pip install 'moto[server]'`";
            if std::env::var("EBB_REQUIRE_TEST_SERVERS").as_deref() == Ok("1") {
                panic!("{message} (EBB_REQUIRE_TEST_SERVERS=1)");
            }
            eprintln!("SKIPPED: {message}");
            return None;
        }
        let moto_port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let bridge = CborBridge::start(moto_port);
        let server = MotoServer {
            child,
            port: bridge.port,
            _bridge: bridge,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.answers() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within 30s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request =
            "GET /moto-api/data.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// SDK configuration for an emulator at `url`, with fake credentials.
pub async fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_autoscaling::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// Creates a launch configuration (once) and an Auto Scaling group.
pub async fn create_group(
    client: &aws_sdk_autoscaling::Client,
    name: &str,
    min: i32,
    max: i32,
    desired: i32,
) {
    let _ = client
        .create_launch_configuration()
        .launch_configuration_name("ebb-test")
        .image_id("ami-12c6146b")
        .instance_type("t3.micro")
        .send()
        .await;
    client
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_configuration_name("ebb-test")
        .min_size(min)
        .max_size(max)
        .desired_capacity(desired)
        .availability_zones(format!(
            "{}a",
            client.config().region().map_or("us-east-1", |r| r.as_ref())
        ))
        .send()
        .await
        .expect("create Auto Scaling group in moto");
}

/// The group's desired capacity as moto has it.
pub async fn desired(client: &aws_sdk_autoscaling::Client, name: &str) -> i32 {
    let out = client
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .expect("describe group");
    out.auto_scaling_groups()[0]
        .desired_capacity()
        .expect("desired capacity")
}

/// Puts one datapoint per timestamp for a metric with one dimension.
pub async fn put_metric(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    name: &str,
    dimension: (&str, &str),
    points: &[(chrono::DateTime<chrono::Utc>, f64)],
) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    for chunk in points.chunks(500) {
        let data = chunk
            .iter()
            .map(|(t, v)| {
                MetricDatum::builder()
                    .metric_name(name)
                    .dimensions(
                        Dimension::builder()
                            .name(dimension.0)
                            .value(dimension.1)
                            .build(),
                    )
                    .timestamp(aws_smithy_types::DateTime::from_secs(t.timestamp()))
                    .value(*v)
                    .build()
            })
            .collect();
        client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .expect("PutMetricData to moto");
    }
}
