//! End to end: the `ebb` binary against moto_server on groups that use the
//! features that change what capacity means and whether ebb may scale:
//! suspended processes, standby, warm pools, the group's own defaults and
//! scaling policies (moto has them), and through the loopback proxy, which
//! rewrites moto's answers, what moto lacks: instance weights, instance
//! refreshes, a group being deleted.

mod support;

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::daemon::*;
use support::moto::{create_group, desired};
use support::proxy::{AnswerRule, Proxy, Recorded};

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn has_notice(r: &Value, text: &str) -> bool {
    strings(&r["notices"]).iter().any(|n| n.contains(text))
}

/// Waits until the log holds at least `n` records; returns them all.
fn wait_records(setup: &Setup, n: usize) -> Vec<Value> {
    setup.wait_record(&format!("{n} records"), |_| setup.records().len() >= n);
    setup.records()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_launch_suspended_stays_put_under_high_load() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 90.0, 120).await else {
        return;
    };
    asg.suspend_processes()
        .auto_scaling_group_name("web")
        .scaling_processes("Launch")
        .send()
        .await
        .unwrap();
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "0s"));
    let ebb = setup.start(&[]);

    // 2 instances at 90% for a 50% target want 4; Launch is suspended.
    let records = wait_records(&setup, 5);
    assert_eq!(desired(&asg, "web").await, 2);
    for r in &records {
        assert_eq!(action(r), "hold", "{r}");
        assert_eq!(r["desired"], 2);
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("process Launch suspended on the group: no scale-out (wanted 4)"),
            "{r}"
        );
        assert!(
            has_notice(r, "processes suspended on the group: Launch"),
            "{r}"
        );
        assert_eq!(r["group"]["suspended"][0], "Launch");
        assert_eq!(
            r["group"]["blocks"]["scale_out"],
            "process Launch suspended on the group"
        );
        let last = r["steps"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["rule"], "group-blocked");
    }

    // Resumed: the same load scales out at once.
    asg.resume_processes()
        .auto_scaling_group_name("web")
        .send()
        .await
        .unwrap();
    wait_desired(&asg, "web", 4).await;
    assert!(ebb.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_suspended_blocks_scale_in_and_alarm_notification_only_when_respected() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web", "api"], 10.0, 120).await else {
        return;
    };
    for group in ["web", "api"] {
        asg.set_desired_capacity()
            .auto_scaling_group_name(group)
            .desired_capacity(6)
            .send()
            .await
            .unwrap();
    }
    asg.suspend_processes()
        .auto_scaling_group_name("web")
        .scaling_processes("Terminate")
        .scaling_processes("AlarmNotification")
        .send()
        .await
        .unwrap();
    asg.suspend_processes()
        .auto_scaling_group_name("api")
        .scaling_processes("AlarmNotification")
        .send()
        .await
        .unwrap();
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "0s"));
    // `api` respects AlarmNotification: hands off in both directions.
    let api = policy("api", 50.0, "0s").replace(
        "interval = \"1s\"",
        "interval = \"1s\"\nrespect_suspended = [\"AlarmNotification\"]",
    );
    setup.write_policy("api.toml", &api);
    let ebb = setup.start(&[]);
    let records = wait_records(&setup, 8);
    assert!(ebb.stop().success());
    assert_eq!(desired(&asg, "web").await, 6);
    assert_eq!(desired(&asg, "api").await, 6);
    for r in &records {
        assert_eq!(action(r), "hold", "{r}");
        let reason = r["reason"].as_str().unwrap();
        if r["target"] == "web" {
            assert!(
                reason.contains("process Terminate suspended on the group: no scale-in"),
                "{r}"
            );
        } else {
            assert!(
                reason.contains(
                    "process AlarmNotification suspended on the group (respect_suspended): no scale-in"
                ),
                "{r}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_instances_and_the_warm_pool_do_not_serve_and_are_counted() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 50.0, 120).await else {
        return;
    };
    let group = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web")
        .send()
        .await
        .unwrap();
    let first = group.auto_scaling_groups()[0].instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    asg.enter_standby()
        .auto_scaling_group_name("web")
        .instance_ids(first)
        .should_decrement_desired_capacity(true)
        .send()
        .await
        .unwrap();
    asg.put_warm_pool()
        .auto_scaling_group_name("web")
        .min_size(2)
        .pool_state(aws_sdk_autoscaling::types::WarmPoolState::Stopped)
        .send()
        .await
        .unwrap();
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let ebb = setup.start(&[]);
    let r = setup.wait_record("a record", |_| true);
    assert!(ebb.stop().success());
    // One in service, one in standby: 1 serving of desired 1.
    assert_eq!(r["capacity"]["in_service"], 1, "{r}");
    assert_eq!(r["group"]["instances"]["in_service"], 1, "{r}");
    assert_eq!(r["group"]["instances"]["standby"], 1, "{r}");
    assert!(
        r["group"]["warm_pool"]
            .as_str()
            .is_some_and(|p| p.contains("Stopped: not serving")),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_groups_default_cooldown_is_the_scale_in_cooldown_when_the_file_sets_none() {
    let Some(Cloud { moto, asg, cw }) = cloud(&[], 50.0, 120).await else {
        return;
    };
    // moto does not update DefaultCooldown: the group is created with it.
    create_group(&asg, "other", 1, 1, 1).await;
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("web")
        .launch_configuration_name("ebb-test")
        .min_size(1)
        .max_size(10)
        .desired_capacity(2)
        .default_cooldown(420)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();
    put_cpu(&cw, "web", -60, 120, 50.0).await;
    let setup = Setup::new(&moto.url());
    let text = policy("web", 50.0, "1h").replace("scale_in_cooldown = \"2s\"\n", "");
    setup.write_policy("web.toml", &text);
    let ebb = setup.start(&[]);
    let r = setup.wait_record("a record", |_| true);
    assert!(ebb.stop().success());
    assert_eq!(r["group"]["scale_in_cooldown_from_group"], "7m", "{r}");
    // The file sets its warm-up: the group's (none in moto) is not used.
    assert!(r["group"]["warmup_from_group"].is_null(), "{r}");
}

/// A proxy in front of moto answering DescribeAutoScalingGroups through `edit`.
fn rewriting_groups(moto_port: u16, edit: fn(&str) -> String) -> Proxy {
    let rule: AnswerRule = Arc::new(move |r: &Recorded, body: &str| {
        (r.action == "DescribeAutoScalingGroups").then(|| edit(body))
    });
    Proxy::start_with_answers(moto_port, rule)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_capacity_is_counted_in_units_and_set_in_units() {
    let Some(Cloud { moto, .. }) = cloud(&["web"], 90.0, 120).await else {
        return;
    };
    // moto has 2 instances at desired 2; the answer says each weighs 2
    // units and desired is 4 units.
    let proxy = rewriting_groups(moto.port, |body| {
        body.replace(
            "</InstanceId>",
            "</InstanceId><WeightedCapacity>2</WeightedCapacity>",
        )
        .replace(
            "<DesiredCapacity>2</DesiredCapacity>",
            "<DesiredCapacity>4</DesiredCapacity><DesiredCapacityType>units</DesiredCapacityType>",
        )
    });
    let setup = Setup::new(&proxy.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let ebb = setup.start(&[]);
    let out = setup.wait_record("a scale-out", |r| action(r) == "scale-out");
    assert!(ebb.stop().success());
    // 4 units serving at 90% for 50%: 7.2 -> 8 units (as instances it
    // would have been 2 x 90 / 50 -> 4, a hold).
    assert_eq!(out["desired"], 8, "{out}");
    assert_eq!(out["capacity"]["in_service"], 4);
    assert_eq!(out["group"]["instances"]["in_service"], 2);
    assert_eq!(out["group"]["capacity_unit"], "units");
    let sets = proxy.calls("SetDesiredCapacity");
    assert!(
        sets.iter()
            .all(|c| c.fields.contains(&("DesiredCapacity".into(), "8".into()))),
        "{sets:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_being_deleted_is_held_and_said_so() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 90.0, 120).await else {
        return;
    };
    let proxy = rewriting_groups(moto.port, |body| {
        body.replace(
            "</DesiredCapacity>",
            "</DesiredCapacity><Status>Delete in progress</Status>",
        )
    });
    let setup = Setup::new(&proxy.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "0s"));
    let ebb = setup.start(&[]);
    let records = wait_records(&setup, 3);
    assert!(ebb.stop().success());
    assert_eq!(desired(&asg, "web").await, 2);
    assert!(proxy.calls("SetDesiredCapacity").is_empty());
    for r in &records {
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("the group is being deleted (Status = Delete in progress)"),
            "{r}"
        );
    }
}

fn refreshes_answer(running: bool) -> String {
    let member = if running {
        "<member><InstanceRefreshId>r-1</InstanceRefreshId><AutoScalingGroupName>web</AutoScalingGroupName>\
         <Status>InProgress</Status><PercentageComplete>30</PercentageComplete></member>"
    } else {
        "<member><InstanceRefreshId>r-0</InstanceRefreshId><AutoScalingGroupName>web</AutoScalingGroupName>\
         <Status>Successful</Status><PercentageComplete>100</PercentageComplete></member>"
    };
    format!(
        "<DescribeInstanceRefreshesResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\
         <DescribeInstanceRefreshesResult><InstanceRefreshes>{member}</InstanceRefreshes>\
         </DescribeInstanceRefreshesResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>\
         </DescribeInstanceRefreshesResponse>"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_scale_in_while_an_instance_refresh_runs_and_calls_stay_bounded() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 10.0, 120).await else {
        return;
    };
    asg.set_desired_capacity()
        .auto_scaling_group_name("web")
        .desired_capacity(6)
        .send()
        .await
        .unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&running);
    let rule: AnswerRule = Arc::new(move |r: &Recorded, _: &str| {
        (r.action == "DescribeInstanceRefreshes")
            .then(|| refreshes_answer(flag.load(Ordering::SeqCst)))
    });
    let proxy = Proxy::start_with_answers(moto.port, rule);
    let setup = Setup::new(&proxy.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "0s"));
    let ebb = setup.start(&[]);

    // 6 instances at 10% want 2, but a refresh is replacing instances.
    let records = wait_records(&setup, 4);
    assert_eq!(desired(&asg, "web").await, 6);
    for r in &records {
        assert_eq!(action(r), "hold", "{r}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("instance refresh r-1 InProgress replacing instances: no scale-in"),
            "{r}"
        );
        assert_eq!(
            r["group"]["instance_refresh"],
            "instance refresh r-1 InProgress, 30% done"
        );
    }
    // While it runs, it is asked every evaluation.
    assert!(proxy.calls("DescribeInstanceRefreshes").len() >= records.len());

    // It ends: ebb sees so at its next look and scales in.
    running.store(false, Ordering::SeqCst);
    wait_desired(&asg, "web", 2).await;
    // Then no sign of another: asked at most every 5 minutes, not each tick.
    let asked = proxy.calls("DescribeInstanceRefreshes").len();
    let seen = setup.records().len();
    wait_records(&setup, seen + 4);
    assert!(ebb.stop().success());
    assert_eq!(proxy.calls("DescribeInstanceRefreshes").len(), asked);
}

/// A group's first look does not ask whether an instance refresh runs
/// (at 10,000 groups that was 10,000 calls in the first round): a group
/// that holds is not asked then (its first ask falls minutes later, at a
/// point of the re-check window its name picks: ~206 s for "quiet"), and
/// one about to scale in is asked right before it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_first_look_only_a_group_about_to_scale_in_is_asked_about_refreshes() {
    let Some(Cloud { moto, asg, cw }) = cloud(&["quiet"], 50.0, 120).await else {
        return;
    };
    create_group(&asg, "shrink", 1, 10, 6).await;
    put_cpu(&cw, "shrink", -60, 120, 10.0).await;
    let rule: AnswerRule = Arc::new(|r: &Recorded, _: &str| {
        (r.action == "DescribeInstanceRefreshes").then(|| refreshes_answer(false))
    });
    let proxy = Proxy::start_with_answers(moto.port, rule);
    let setup = Setup::new(&proxy.url());
    setup.write_policy("quiet.toml", &policy("quiet", 50.0, "0s"));
    setup.write_policy("shrink.toml", &policy("shrink", 50.0, "0s"));
    let ebb = setup.start(&[]);
    wait_desired(&asg, "shrink", 2).await;
    let seen = setup.records().len();
    wait_records(&setup, seen + 6);
    assert!(ebb.stop().success());

    let group_of = |r: &Recorded| {
        r.fields
            .iter()
            .find(|(k, _)| k == "AutoScalingGroupName")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let calls = proxy.recorded();
    let asked: Vec<String> = calls
        .iter()
        .filter(|r| r.action == "DescribeInstanceRefreshes")
        .map(group_of)
        .collect();
    assert_eq!(asked, ["shrink"], "asked once, before the scale-in only");
    let position = |action: &str| {
        calls
            .iter()
            .position(|r| r.action == action && group_of(r) == "shrink")
            .unwrap()
    };
    assert!(position("DescribeInstanceRefreshes") < position("SetDesiredCapacity"));
    assert!(
        setup
            .records()
            .iter()
            .filter(|r| r["target"] == "quiet")
            .all(|r| action(r) == "hold")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_of_the_groups_own_is_reported_by_check_aws_and_refused_when_asked() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web", "api"], 90.0, 120).await else {
        return;
    };
    asg.put_scaling_policy()
        .auto_scaling_group_name("web")
        .policy_name("tt")
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(
            aws_sdk_autoscaling::types::TargetTrackingConfiguration::builder()
                .predefined_metric_specification(
                    aws_sdk_autoscaling::types::PredefinedMetricSpecification::builder()
                        .predefined_metric_type(
                            aws_sdk_autoscaling::types::MetricType::AsgAverageCpuUtilization,
                        )
                        .build(),
                )
                .target_value(50.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    asg.put_scheduled_update_group_action()
        .auto_scaling_group_name("api")
        .scheduled_action_name("night")
        .recurrence("0 0 * * *")
        .desired_capacity(1)
        .send()
        .await
        .unwrap();
    let setup = Setup::new(&moto.url());
    let web = policy("web", 50.0, "0s").replace(
        "interval = \"1s\"",
        "interval = \"1s\"\non_conflicting_policies = \"refuse\"",
    );
    setup.write_policy("web.toml", &web);
    setup.write_policy("api.toml", &policy("api", 50.0, "1h"));
    let ghost = setup.dir.path().join("ghost.toml");
    std::fs::write(&ghost, policy("ghost", 50.0, "0s")).unwrap();

    // ebb check --aws reads the live groups (--config checks that what the
    // config names exists).
    for dir in ["log", "state"] {
        std::fs::create_dir_all(setup.dir.path().join(dir)).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ebb"))
        .arg("check")
        .arg("--aws")
        .arg("--config")
        .arg(setup.dir.path().join("ebb.toml"))
        .arg(setup.dir.path().join("policies"))
        .arg(&ghost)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ghost.toml: aws: target.group: Auto Scaling group `ghost` not found"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "web.toml: aws: group `web` has scaling of its own: policy tt (TargetTrackingScaling); \
             two controllers on one group fight: ebb will not act on it (on_conflicting_policies = refuse)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("group `api` has scaling of its own: scheduled action night (0 0 * * *)"),
        "{stderr}"
    );

    // The daemon: `web` refused in every record, `api` warned about and scaled.
    let ebb = setup.start(&[]);
    wait_desired(&asg, "api", 4).await;
    let records = wait_records(&setup, 6);
    assert!(ebb.stop().success());
    assert_eq!(desired(&asg, "web").await, 2);
    let web: Vec<&Value> = records.iter().filter(|r| r["target"] == "web").collect();
    assert!(!web.is_empty());
    for r in web {
        assert_eq!(action(r), "hold", "{r}");
        assert!(
            r["reason"].as_str().unwrap().contains(
                "refused: the group has scaling of its own (policy tt (TargetTrackingScaling)) and on_conflicting_policies = refuse"
            ),
            "{r}"
        );
    }
    let api = records
        .iter()
        .find(|r| r["target"] == "api" && action(r) == "scale-out")
        .expect("api scaled out");
    assert!(has_notice(api, "scheduled action night"), "{api}");
    assert_eq!(
        api["group"]["conflicting_policies"][0],
        "scheduled action night (0 0 * * *)"
    );
    let log = std::fs::read_to_string(ebb_stderr_path(&setup)).unwrap_or_default();
    assert!(log.contains("two controllers on one group fight"), "{log}");
}

/// The daemon's stderr log (the newest, when it was started more than once).
fn ebb_stderr_path(setup: &Setup) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(setup.dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("stderr-"))
        })
        .collect();
    logs.sort();
    logs.pop().expect("a stderr log")
}
