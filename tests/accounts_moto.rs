//! Many accounts from one host: the `ebb run` binary against moto_server,
//! with two member accounts whose roles it assumes (STS AssumeRole in moto:
//! the assumed credentials act in the role's account) and a third whose
//! role cannot be assumed. moto lets every caller assume every role, so the
//! test proxy answers that role's AssumeRole with AccessDenied, as STS does
//! when the trust policy or the external id does not match.

mod http_receiver;
mod support;

use http_receiver::Receiver;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::daemon::*;
use support::faults::Fault;
use support::moto::{MotoServer, create_group, sdk_config};
use support::proxy::{Proxy, Recorded};

const PROD_ROLE: &str = "arn:aws:iam::111111111111:role/ebb";
const STAGING_ROLE: &str = "arn:aws:iam::222222222222:role/ebb";
const BROKEN_ROLE: &str = "arn:aws:iam::333333333333:role/ebb";

/// Clients acting in the account of `role` (moto keys resources by the
/// account of the credentials).
async fn in_account(
    url: &str,
    role: &str,
) -> (aws_sdk_autoscaling::Client, aws_sdk_cloudwatch::Client) {
    let base = sdk_config(url).await;
    let assumed = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("test")
        .configure(&base)
        .build()
        .await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(assumed)
        .load()
        .await;
    (
        aws_sdk_autoscaling::Client::new(&config),
        aws_sdk_cloudwatch::Client::new(&config),
    )
}

fn field<'a>(r: &'a Recorded, name: &str) -> Option<&'a str> {
    r.fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn with_account(text: &str, account: &str) -> String {
    text.replacen(
        "[target]\n",
        &format!("[target]\naccount = \"{account}\"\n"),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_account_is_reached_through_its_role_and_a_refused_role_fails_only_its_targets() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let (prod_asg, prod_cw) = in_account(&moto.url(), PROD_ROLE).await;
    let (staging_asg, staging_cw) = in_account(&moto.url(), STAGING_ROLE).await;
    create_group(&prod_asg, "web-prod", 1, 10, 2).await;
    put_cpu(&prod_cw, "web-prod", -60, 120, 90.0).await;
    create_group(&staging_asg, "api-staging", 1, 10, 2).await;
    put_cpu(&staging_cw, "api-staging", -60, 120, 90.0).await;

    let proxy = Proxy::start_with_faults(
        moto.port,
        Arc::new(|r: &Recorded| {
            if r.action == "AssumeRole" && field(r, "RoleArn") == Some(BROKEN_ROLE) {
                Fault::AccessDenied
            } else {
                Fault::Pass
            }
        }),
    );
    let hook = Receiver::ok().await;
    let accounts = format!(
        "\n[accounts.prod]\nrole_arn = \"{PROD_ROLE}\"\n\n\
         [accounts.staging]\nrole_arn = \"{STAGING_ROLE}\"\nexternal_id = \"s3cret\"\nregion = \"us-east-1\"\n\n\
         [accounts.broken]\nrole_arn = \"{BROKEN_ROLE}\"\n"
    );
    let setup = Setup::with_extra(
        &proxy.url(),
        &format!(
            "{accounts}{}",
            webhook_alerts(&["kind = \"api-call-failed\""], &hook.url("/hook"))
        ),
    );
    setup.write_policy(
        "web-prod.toml",
        &with_account(&policy("web-prod", 50.0, "1h"), "prod"),
    );
    setup.write_policy(
        "api-staging.toml",
        &with_account(&policy("api-staging", 50.0, "1h"), "staging"),
    );
    setup.write_policy(
        "batch.toml",
        &with_account(&policy("batch", 50.0, "1h"), "broken"),
    );
    let ebb = setup.start(&[]);

    // 2 instances at 90% CPU for a 50% target: 4, in each member account.
    wait_desired(&prod_asg, "web-prod", 4).await;
    wait_desired(&staging_asg, "api-staging", 4).await;
    let out = setup.wait_record("web-prod scaled out", |r| {
        r["target"] == "web-prod" && action(r) == "scale-out"
    });
    assert_eq!(out["account"], "prod");
    assert_eq!(out["outcome"]["status"], "applied");

    // The refused role: its target's records say why, capacity kept.
    let failed = setup.wait_record("batch failing", |r| r["target"] == "batch");
    assert_eq!(failed["account"], "broken");
    assert_eq!(failed["action"], "hold");
    let error = failed["outcome"]["error"].as_str().unwrap_or("");
    assert!(error.contains("AccessDenied"), "{error}");

    // The alert names the account.
    let deadline = Instant::now() + WAIT;
    let alert: Value = loop {
        let found = hook
            .requests()
            .iter()
            .map(|r| r.json())
            .find(|b| b["labels"]["alertname"] == "api-call-failed");
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no api-call-failed alert; ebb's log:\n{}",
            ebb.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(alert["labels"]["account"], "broken", "{alert}");
    assert_eq!(alert["labels"]["target"], "batch", "{alert}");

    // The others went on: more evaluations of both after the failures.
    let evaluated = |target: &str| {
        setup
            .records()
            .iter()
            .filter(|r| r["target"] == target && r["outcome"]["error"].is_null())
            .count()
    };
    let (prod_before, staging_before) = (evaluated("web-prod"), evaluated("api-staging"));
    let deadline = Instant::now() + WAIT;
    while evaluated("web-prod") < prod_before + 2 || evaluated("api-staging") < staging_before + 2 {
        assert!(Instant::now() < deadline, "the other accounts stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ebb.stop().success());

    // The groups live in the member accounts, not in the host's own.
    let own = aws_sdk_autoscaling::Client::new(&sdk_config(&moto.url()).await);
    let listed = own.describe_auto_scaling_groups().send().await.unwrap();
    assert!(listed.auto_scaling_groups().is_empty(), "{listed:?}");

    // Each role assumed with its external id, and the credentials kept:
    // not one AssumeRole per call.
    let assumed = proxy.calls("AssumeRole");
    let of = |role: &str| -> Vec<&Recorded> {
        assumed
            .iter()
            .filter(|r| field(r, "RoleArn") == Some(role))
            .collect()
    };
    assert!(
        of(STAGING_ROLE)
            .iter()
            .all(|r| field(r, "ExternalId") == Some("s3cret"))
    );
    assert!(
        of(PROD_ROLE)
            .iter()
            .all(|r| field(r, "ExternalId").is_none())
    );
    let prod_calls =
        proxy.calls("SetDesiredCapacity").len() + proxy.calls("DescribeAutoScalingGroups").len();
    assert!(
        !of(PROD_ROLE).is_empty() && of(PROD_ROLE).len() <= 2,
        "{} AssumeRole calls for {prod_calls} Auto Scaling calls",
        of(PROD_ROLE).len()
    );
}

#[test]
fn a_target_naming_an_unknown_account_stops_the_start_naming_file_and_line() {
    let setup = Setup::with_extra(
        "http://127.0.0.1:9",
        &format!("\n[accounts.prod]\nrole_arn = \"{PROD_ROLE}\"\n"),
    );
    let path = setup.write_policy("web.toml", &with_account(&policy("web", 50.0, "1h"), "prd"));
    let mut ebb = setup.start(&[]);
    let status = ebb.child.wait().unwrap();
    assert!(!status.success());
    let stderr = ebb.stderr();
    assert!(
        stderr.contains(&format!(
            "{}:3: target.account: unknown account `prd`: the daemon config defines: prod",
            path.display()
        )),
        "{stderr}"
    );
}
