//! `asg` scrape targets (feature `ec2-discovery`) against a real
//! moto_server: the in-service instances of a group become URLs with their
//! private IPs. Nothing is scraped: moto's instances have private-range
//! addresses no test may send traffic to.
#![cfg(feature = "ec2-discovery")]

mod support;

use ebb::error_kind::ErrorKind;
use ebb::policy_file::{MetricSourceSpec, parse_str};
use ebb::source::scrape::ec2::Ec2GroupInstances;
use ebb::source::scrape::targets::{GroupInstances, resolve};
use std::path::Path;
use support::moto::{MotoServer, create_group, sdk_config};

#[tokio::test]
async fn asg_targets_are_the_private_ips_of_in_service_instances() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let config = sdk_config(&moto.url()).await;
    let asg = aws_sdk_autoscaling::Client::new(&config);
    create_group(&asg, "web-asg", 0, 10, 3).await;
    create_group(&asg, "other", 0, 10, 2).await;
    let instances = Ec2GroupInstances::new(&config);

    let ips = instances.private_ips("web-asg").await.unwrap();
    assert_eq!(ips.len(), 3, "{ips:?}");
    // The same IPs EC2 reports for the group's instances, and not the other group's.
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let described = ec2.describe_instances().send().await.unwrap();
    let all: Vec<std::net::IpAddr> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.private_ip_address().map(|ip| ip.parse().unwrap()))
        .collect();
    assert_eq!(all.len(), 5);
    assert!(ips.iter().all(|ip| all.contains(ip)));
    let other = instances.private_ips("other").await.unwrap();
    assert!(other.iter().all(|ip| !ips.contains(ip)));

    let text = "[target]\ngroup = \"web-asg\"\nmin_capacity = 1\nmax_capacity = 10\n\
                [metrics.m.source.scrape]\nselector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"\n\
                asg = { port = 9100, path = \"/metrics\" }\n\
                [[policies]]\nkind = \"target-tracking\"\nname = \"p\"\nmetric = \"m\"\ntarget = 1.0\n";
    let file = parse_str(text, Path::new("asg.toml")).unwrap();
    let MetricSourceSpec::Scrape(spec) = &file.metrics["m"].source else {
        panic!("a scrape metric")
    };
    let urls = resolve(spec, "web-asg", Some(&instances)).await.unwrap();
    let mut want: Vec<String> = ips
        .iter()
        .map(|ip| format!("http://{ip}:9100/metrics"))
        .collect();
    want.sort();
    assert_eq!(urls, want);
    // Without discovery configured, the round fails saying how to get it.
    let err = resolve(spec, "web-asg", None).await.unwrap_err();
    assert!(err.message.contains("ec2-discovery"), "{err}");
    assert_eq!(err.kind, ErrorKind::Other);

    // A missing group is a failure of kind not-found, whichever layer says it.
    let missing = instances.private_ips("no-such-group").await.unwrap_err();
    assert!(missing.message.contains("no-such-group"), "{missing}");
    assert_eq!(missing.kind, ErrorKind::NotFound);
}
