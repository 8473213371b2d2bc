//! The rules' tests: each condition fires and resolves on the records it
//! describes, and bad rules say which and why.

use super::*;
use crate::alert::{AlertEvent, AlertStatus, AlertsConfig, Severity};
use crate::decision::{Action, DecisionRecord, Event, MetricStatus, Recommendation};
use crate::decision::{MetricRecord, ObservedCapacity, Outcome, PolicyKind, PolicyRecord, Role};
use crate::error_kind::ErrorKind;
use crate::evaluator::tests::{COOLDOWNS, group, policy_file};
use crate::evaluator::{TargetEvaluator, Unavailable};
use crate::governor_memory::Run;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

fn failed(error: &str) -> Outcome {
    Outcome::Failed {
        error: error.into(),
        kind: None,
    }
}
use crate::governor::GovernorState;
use chrono::TimeZone;

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap() + chrono::Duration::minutes(min)
}

fn record(min: i64, desired: u32, action: Action) -> DecisionRecord {
    DecisionRecord {
        time: t(min),
        target: "web".into(),
        v: crate::decision::RecordVersion,
        role: Role::Live,
        min_capacity: 2,
        max_capacity: 10,
        capacity: ObservedCapacity {
            desired,
            in_service: desired,
            warming: 0,
        },
        metrics: vec![MetricRecord {
            name: "cpu".into(),
            status: MetricStatus::Ok,
            raw: Some(50.0),
            smoothed: Some(50.0),
            age_s: Some(60),
            notes: vec![],
            detail: None,
        }],
        policies: vec![PolicyRecord {
            name: "cpu-target".into(),
            kind: PolicyKind::TargetTracking,
            recommendation: Recommendation::Capacity(desired),
            reason: "r".into(),
            detail: None,
            events: vec![],
        }],
        steps: vec![],
        desired,
        action,
        reason: "because".into(),
        governor_state: GovernorState::default(),
        outcome: if action == Action::Hold {
            Outcome::Held
        } else {
            Outcome::Applied
        },
        events: vec![],
        notices: vec![],
        panicked: None,
        instance: None,
        reload_failed: None,
        account: None,
        group: None,
    }
}

fn engine(toml_rules: &str) -> RuleEngine {
    let config: AlertsConfig =
        toml::from_str(&format!("repeat_interval = \"30m\"\n{toml_rules}")).unwrap();
    RuleEngine::from_config(&config).unwrap()
}

fn statuses(events: &[AlertEvent]) -> Vec<(AlertStatus, bool)> {
    events.iter().map(|e| (e.status, e.repeat)).collect()
}

#[test]
fn a_target_of_a_named_account_alerts_with_the_account_label() {
    let mut e = engine("[[rules]]\nkind = \"api-call-failed\"");
    let mut r = record(0, 4, Action::Hold);
    r.outcome = failed("cannot assume arn:aws:iam::222222222222:role/ebb");
    r.account = Some("staging".into());
    let fired = e.observe(&r);
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert_eq!(fired[0].labels[ACCOUNT_LABEL], "staging");
    let config: AlertsConfig =
        toml::from_str("[[rules]]\nkind = \"api-call-failed\"\nlabels = { account = \"x\" }")
            .unwrap();
    let refused = RuleEngine::from_config(&config)
        .err()
        .expect("reserved label");
    assert!(refused.to_string().contains("set by ebb"), "{refused}");
}

/// An `api-call-failed` rule naming kinds fires on those only; every
/// api-call-failed alert carries the failure's kind as `error_kind`, on its
/// resolve too.
#[test]
fn api_call_failed_filters_on_kinds_and_labels_the_kind() {
    let mut e = engine(
        "[[rules]]\nkind = \"api-call-failed\"\nname = \"throttled\"\nkinds = [\"throttled\", \"timeout\"]\n\
         [[rules]]\nkind = \"api-call-failed\"\nname = \"any\"",
    );
    let failed_of = |min, kind| {
        let mut r = record(min, 4, Action::ScaleOut);
        r.outcome = Outcome::Failed {
            error: "SetDesiredCapacity failed".into(),
            kind,
        };
        r
    };
    let denied = e.observe(&failed_of(0, Some(ErrorKind::AccessDenied)));
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].rule, "any");
    assert_eq!(denied[0].labels[ERROR_KIND_LABEL], "access-denied");
    let resolved = e.observe(&record(1, 4, Action::Hold));
    assert_eq!(resolved[0].status, AlertStatus::Resolved);
    assert_eq!(resolved[0].labels[ERROR_KIND_LABEL], "access-denied");
    let throttled = e.observe(&failed_of(2, Some(ErrorKind::Throttled)));
    let mut rules: Vec<&str> = throttled.iter().map(|a| a.rule.as_str()).collect();
    rules.sort();
    assert_eq!(rules, ["any", "throttled"]);
    assert!(
        throttled
            .iter()
            .all(|a| a.labels[ERROR_KIND_LABEL] == "throttled")
    );
    // A record from before kinds counts as `other`, and has no label.
    let mut e = engine("[[rules]]\nkind = \"api-call-failed\"\nkinds = [\"other\"]");
    let old = e.observe(&failed_of(0, None));
    assert_eq!(old.len(), 1);
    assert!(!old[0].labels.contains_key(ERROR_KIND_LABEL));
}

#[test]
fn api_failure_fires_once_repeats_after_interval_and_resolves() {
    let mut e = engine(
        "[[rules]]\nkind = \"api-call-failed\"\nseverity = \"critical\"\nlabels = { team = \"web\" }",
    );
    let failed = |min| {
        let mut r = record(min, 4, Action::ScaleOut);
        r.outcome = failed("SetDesiredCapacity failed: throttled");
        r
    };
    let fired = e.observe(&failed(0));
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert_eq!(fired[0].severity, Severity::Critical);
    assert_eq!(fired[0].labels["team"], "web");
    assert!(fired[0].description.contains("throttled"));
    assert!(
        e.observe(&failed(1)).is_empty(),
        "no repeat before the interval"
    );
    assert!(e.observe(&failed(29)).is_empty());
    assert_eq!(
        statuses(&e.observe(&failed(30))),
        vec![(AlertStatus::Firing, true)]
    );
    assert!(e.observe(&failed(31)).is_empty());
    let resolved = e.observe(&record(32, 4, Action::Hold));
    assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
    assert_eq!(resolved[0].starts_at, t(0));
    assert_eq!(resolved[0].ends_at, Some(t(32)));
    assert!(e.observe(&record(33, 4, Action::Hold)).is_empty());
}

#[test]
fn group_suspended_fires_after_its_duration_and_says_what_ebb_holds() {
    let mut e = engine("[[rules]]\nkind = \"group-suspended\"\nfor = \"10m\"");
    let suspended = |min| {
        let mut r = record(min, 4, Action::Hold);
        r.group = Some(crate::decision::GroupRecord {
            suspended: vec!["Launch".into()],
            blocks: crate::decision::ScalingBlocks {
                scale_out: Some("process Launch suspended on the group".into()),
                scale_in: None,
            },
            ..Default::default()
        });
        r
    };
    assert!(e.observe(&suspended(0)).is_empty());
    assert!(e.observe(&suspended(9)).is_empty());
    let fired = e.observe(&suspended(10));
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert!(
        fired[0].summary.contains("for 10m: Launch"),
        "{}",
        fired[0].summary
    );
    assert_eq!(
        fired[0].description,
        "ebb holds: process Launch suspended on the group"
    );
    let resolved = e.observe(&record(11, 4, Action::Hold));
    assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
    let missing_for = toml::from_str::<AlertsConfig>("[[rules]]\nkind = \"group-suspended\"");
    assert!(RuleEngine::from_config(&missing_for.unwrap()).is_err());
}

#[test]
fn conflicting_policies_and_a_deleted_group_fire_and_resolve() {
    let mut e =
        engine("[[rules]]\nkind = \"conflicting-policies\"\n[[rules]]\nkind = \"group-deleted\"");
    let mut own = record(0, 4, Action::Hold);
    own.group = Some(crate::decision::GroupRecord {
        conflicting_policies: vec!["policy cpu (TargetTrackingScaling)".into()],
        ..Default::default()
    });
    let fired = e.observe(&own);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].rule, "conflicting-policies");
    assert!(fired[0].description.contains("policy cpu"));
    let mut deleting = record(1, 4, Action::Hold);
    deleting.group = Some(crate::decision::GroupRecord {
        status: Some("Delete in progress".into()),
        ..Default::default()
    });
    let fired = e.observe(&deleting);
    let rules: Vec<(&str, AlertStatus)> =
        fired.iter().map(|e| (e.rule.as_str(), e.status)).collect();
    assert_eq!(
        rules,
        [
            ("conflicting-policies", AlertStatus::Resolved),
            ("group-deleted", AlertStatus::Firing)
        ]
    );
    let mut gone = record(2, 4, Action::Hold);
    gone.outcome = failed("Auto Scaling group `web` not found");
    // An error's wording is no event: with the status gone, it resolves.
    assert_eq!(
        statuses(&e.observe(&gone)),
        vec![(AlertStatus::Resolved, false)]
    );
    let mut fresh =
        engine("[[rules]]\nkind = \"conflicting-policies\"\n[[rules]]\nkind = \"group-deleted\"");
    assert!(fresh.observe(&gone).is_empty(), "no event, no alert");
    // The record the evaluator writes for a group that does not exist.
    let gone = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS)).unavailable(
        t(3),
        &crate::series::FetchResults::new(),
        Unavailable::NotFound,
    );
    let fired = fresh.observe(&gone);
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert_eq!(fired[0].summary, "web: the group does not exist");
    assert!(
        fired[0].description.contains("`web` not found"),
        "{fired:?}"
    );
    let resolved = fresh.observe(&record(4, 4, Action::Hold));
    assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
}

#[test]
fn a_panicked_evaluation_fires_its_own_kind_not_api_call_failed() {
    let mut e =
        engine("[[rules]]\nkind = \"api-call-failed\"\n[[rules]]\nkind = \"evaluation-panicked\"");
    let mut panicked = record(0, 4, Action::Hold);
    panicked.outcome = failed("evaluation panicked: overflow");
    panicked.panicked = Some("overflow".into());
    let fired = e.observe(&panicked);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].rule, "evaluation-panicked");
    assert_eq!(fired[0].status, AlertStatus::Firing);
    assert!(fired[0].description.contains("overflow"));
    // The next evaluation that runs resolves it.
    let resolved = e.observe(&record(1, 4, Action::Hold));
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].status, AlertStatus::Resolved);
}

#[test]
fn saved_state_carries_what_is_firing_to_a_new_engine_by_rule_name() {
    let rules = "[[rules]]\nkind = \"api-call-failed\"\n[[rules]]\nkind = \"external-change\"";
    let mut before = engine(rules);
    let mut throttled = record(0, 4, Action::ScaleOut);
    throttled.outcome = failed("SetDesiredCapacity failed: throttled");
    assert_eq!(before.observe(&throttled).len(), 1);
    let saved = before.saved();
    // Through the state file's JSON and back.
    let saved: SavedAlerts = serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
    assert!(saved["api-call-failed"].contains_key("web"), "{saved:?}");

    // The same rule, now second in the list: matched by name.
    let mut after =
        engine("[[rules]]\nkind = \"external-change\"\n[[rules]]\nkind = \"api-call-failed\"");
    after.restore(&saved);
    assert!(after.observe(&throttled).is_empty(), "not fired again");
    let resolved = after.observe(&record(1, 4, Action::Hold));
    assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
    assert_eq!(resolved[0].starts_at, t(0));

    // A rule no longer configured: what it remembered is dropped.
    let mut other = engine("[[rules]]\nkind = \"external-change\"");
    other.restore(&saved);
    assert!(other.saved().is_empty(), "{:?}", other.saved());
}

#[test]
fn stale_fires_only_after_more_than_n_evaluations() {
    let mut e = engine("[[rules]]\nkind = \"metric-stale\"\nevaluations = 3");
    let stale = |min| {
        let mut r = record(min, 4, Action::Hold);
        r.metrics[0].status = MetricStatus::Stale;
        r.metrics[0].age_s = Some(900);
        r
    };
    for m in 0..3 {
        assert!(e.observe(&stale(m)).is_empty(), "evaluation {m}");
    }
    let fired = e.observe(&stale(3));
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert_eq!(
        fired[0].starts_at,
        t(0),
        "starts when the metric went stale"
    );
    assert!(
        fired[0]
            .description
            .contains("cpu (stale, last datapoint 900s old)")
    );
    assert_eq!(
        statuses(&e.observe(&record(4, 4, Action::Hold))),
        vec![(AlertStatus::Resolved, false)]
    );
    // The count restarts after a good evaluation.
    assert!(e.observe(&stale(5)).is_empty());
}

#[test]
fn pinned_at_max_needs_the_duration_and_demand() {
    let mut e = engine("[[rules]]\nkind = \"pinned-at-max\"\nfor = \"10m\"");
    let pinned = |min| {
        let mut r = record(min, 10, Action::Hold);
        r.policies[0].recommendation = Recommendation::Capacity(14);
        r
    };
    assert!(e.observe(&pinned(0)).is_empty());
    assert!(e.observe(&pinned(9)).is_empty());
    let fired = e.observe(&pinned(10));
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert!(
        fired[0]
            .summary
            .contains("pinned at max capacity 10 for 10m"),
        "{}",
        fired[0].summary
    );
    assert!(fired[0].description.contains("up to 14"));
    // At max but nobody asks for max any more: clears.
    let mut calm = record(11, 10, Action::Hold);
    calm.policies[0].recommendation = Recommendation::Capacity(6);
    assert_eq!(
        statuses(&e.observe(&calm)),
        vec![(AlertStatus::Resolved, false)]
    );
}

#[test]
fn flapping_counts_direction_changes_within_the_window() {
    let mut e = engine("[[rules]]\nkind = \"flapping\"\nchanges = 2\nwindow = \"30m\"");
    assert!(e.observe(&record(0, 5, Action::ScaleOut)).is_empty());
    assert!(e.observe(&record(5, 4, Action::ScaleIn)).is_empty());
    assert!(e.observe(&record(6, 4, Action::Hold)).is_empty());
    assert!(e.observe(&record(10, 5, Action::ScaleOut)).is_empty());
    let fired = e.observe(&record(15, 4, Action::ScaleIn));
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert!(fired[0].summary.contains("3 direction changes within 30m"));
    // Two moves in the same direction are not a reversal; old moves age out.
    assert!(e.observe(&record(20, 3, Action::ScaleIn)).is_empty());
    assert_eq!(
        statuses(&e.observe(&record(44, 3, Action::Hold))),
        vec![(AlertStatus::Resolved, false)]
    );
}

/// A predictive policy's record whose forecast of `capacity` is above
/// the record's max 10, with or without the event saying so.
fn predictive(capacity: u32, event: bool) -> PolicyRecord {
    PolicyRecord {
        name: "daily".into(),
        kind: PolicyKind::Predictive,
        recommendation: Recommendation::Capacity(10),
        reason: format!("... -> {capacity}, capped at max 10"),
        detail: Some(serde_json::json!({"forecast_capacity": capacity, "capacity": capacity})),
        events: if event {
            vec![Event::ForecastAboveMax {
                forecast_capacity: capacity,
                max_capacity: 10,
            }]
        } else {
            vec![]
        },
    }
}

#[test]
fn forecast_above_max_fires_on_the_policys_event_only() {
    let mut e = engine("[[rules]]\nkind = \"forecast-above-max\"");
    let mut r = record(0, 10, Action::Hold);
    r.policies.push(predictive(12, true));
    let fired = e.observe(&r);
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert!(
        fired[0]
            .description
            .starts_with("policy `daily` forecasts 12 instances > max 10: "),
        "{}",
        fired[0].description
    );
    // The same figures without the event: nothing reads the detail.
    r.policies[1] = predictive(12, false);
    r.time = t(1);
    assert_eq!(
        statuses(&e.observe(&r)),
        vec![(AlertStatus::Resolved, false)]
    );
    // The group's max binding a raise for the forecast counts too.
    r.events.push(Event::GroupMaxBinds {
        asked: 14,
        group_max: 10,
    });
    r.time = t(2);
    let fired = e.observe(&r);
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert_eq!(
        fired[0].description,
        "forecast asks max capacity raised to 14; the group's max is 10"
    );
}

/// The predictive policy itself emits the event the rule matches: with
/// max 4 and a forecast of about 10 instances, the rule fires on the
/// record the policy writes.
#[test]
fn forecast_above_max_fires_on_the_predictive_policys_own_record() {
    let capped = crate::policy::predictive::tests::forecast_above_max_record();
    assert!(
        capped.events.iter().any(|e| matches!(
            e,
            Event::ForecastAboveMax {
                max_capacity: 4,
                ..
            }
        )),
        "{capped:?}"
    );
    let mut e = engine("[[rules]]\nkind = \"forecast-above-max\"");
    let mut r = record(0, 4, Action::Hold);
    r.max_capacity = 4;
    r.policies = vec![capped];
    let fired = e.observe(&r);
    assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
    assert!(fired[0].description.contains("> max 4"), "{fired:?}");
}

#[test]
fn external_change_and_policy_reload() {
    let mut e = engine(
        "[[rules]]\nkind = \"external-change\"\n[[rules]]\nkind = \"policy-reload-failed\"\nseverity = \"critical\"",
    );
    // The wording alone raises nothing.
    let mut worded = record(0, 6, Action::Hold);
    worded
        .notices
        .push("desired capacity changed outside ebb: 4 -> 6".into());
    assert!(e.observe(&worded).is_empty());
    // The record the evaluator writes when the group moved under it.
    let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
    let cpu = |at: i64| {
        crate::series::FetchResults::from([(
            crate::series::MetricKey::new("web", "cpu"),
            Ok(crate::series::Series {
                points: vec![crate::series::Datapoint {
                    time: t(at),
                    value: 50.0,
                }],
                ..crate::series::Series::default()
            }),
        )])
    };
    let first = evaluator.evaluate(t(0), &cpu(0), &group(4), Run::Live);
    evaluator.settle(&first.outcome);
    let r = evaluator.evaluate(t(1), &cpu(1), &group(6), Run::Live);
    let fired = e.observe(&r);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].rule, "external-change");
    assert_eq!(
        fired[0].description,
        "desired capacity changed outside ebb: 4 -> 6"
    );
    assert_eq!(
        statuses(&e.observe(&record(2, 6, Action::Hold))),
        vec![(AlertStatus::Resolved, false)]
    );

    let mut failures = BTreeMap::new();
    failures.insert(
        "policies/web.toml".to_string(),
        ReloadFailure {
            target: Some("web".to_string()),
            error: "policies.0.target: missing".to_string(),
        },
    );
    failures.insert(
        "policies/new.toml".to_string(),
        ReloadFailure {
            target: None,
            error: "target.group: missing".to_string(),
        },
    );
    let fired = e.policy_reload(t(2), &failures);
    assert_eq!(fired.len(), 2);
    // By file name: new.toml, then web.toml.
    assert_eq!(fired[1].target, "web", "the group, not the file");
    assert_eq!(fired[1].labels[POLICY_FILE_LABEL], "policies/web.toml");
    assert!(fired[1].summary.contains("old policy of web"));
    assert_eq!(fired[1].severity, Severity::Critical);
    assert_eq!(fired[0].target, "policies/new.toml", "no group yet");
    assert!(e.policy_reload(t(3), &failures).is_empty());
    // Survives a restart: the resolution still names the group.
    let mut e2 = engine(
        "[[rules]]\nkind = \"external-change\"\n[[rules]]\nkind = \"policy-reload-failed\"\nseverity = \"critical\"",
    );
    e2.restore(&serde_json::from_str(&serde_json::to_string(&e.saved()).unwrap()).unwrap());
    let resolved = e2.policy_reload(t(4), &BTreeMap::new());
    assert_eq!(
        statuses(&resolved),
        vec![
            (AlertStatus::Resolved, false),
            (AlertStatus::Resolved, false)
        ]
    );
    assert_eq!(resolved[1].target, "web");
    assert_eq!(resolved[1].labels[POLICY_FILE_LABEL], "policies/web.toml");
}

#[test]
fn removed_targets_resolve_what_was_firing() {
    let mut e = engine("[[rules]]\nkind = \"api-call-failed\"");
    let mut r = record(0, 4, Action::ScaleOut);
    r.outcome = failed("boom");
    assert_eq!(e.observe(&r).len(), 1);
    assert!(
        e.retain_targets(t(1), &["web".to_string()]).is_empty(),
        "still evaluated"
    );
    let resolved = e.retain_targets(t(2), &["api".to_string()]);
    assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
    assert_eq!(resolved[0].ends_at, Some(t(2)));
    assert!(e.retain_targets(t(3), &[]).is_empty(), "forgotten");
}

#[test]
fn shadow_records_and_unwatched_targets_raise_nothing() {
    let mut e = engine("[[rules]]\nkind = \"api-call-failed\"\ntargets = [\"api\"]");
    let mut r = record(0, 4, Action::ScaleOut);
    r.outcome = failed("boom");
    assert!(e.observe(&r).is_empty(), "rule watches only `api`");
    r.target = "api".into();
    r.role = Role::Shadow {
        candidate: "b.toml".into(),
    };
    assert!(
        e.observe(&r).is_empty(),
        "shadow records are never acted on"
    );
    r.role = Role::Live;
    assert_eq!(e.observe(&r).len(), 1);
}

#[test]
fn bad_rules_say_which_and_why() {
    let check = |rules: &str| {
        let config: AlertsConfig = toml::from_str(rules).unwrap();
        RuleEngine::from_config(&config)
            .err()
            .expect("should fail")
            .to_string()
    };
    assert_eq!(
        check("[[rules]]\nkind = \"metric-stale\""),
        "alerts.rules[0] (metric-stale): `evaluations` is required for this kind"
    );
    assert_eq!(
        check(
            "[[rules]]\nkind = \"flapping\"\nchanges = 1\nwindow = \"5m\"\nkinds = [\"timeout\"]"
        ),
        "alerts.rules[0] (flapping): `kinds` does not apply to this kind"
    );
    assert!(
        toml::from_str::<AlertsConfig>("[[rules]]\nkind = \"api-call-failed\"\nkinds = [\"slow\"]")
            .unwrap_err()
            .to_string()
            .contains("unknown variant `slow`")
    );
    assert_eq!(
        check(
            "[[rules]]\nkind = \"api-call-failed\"\n[[rules]]\nkind = \"api-call-failed\"\nwindow = \"5m\""
        ),
        "alerts.rules[1] (api-call-failed): `window` does not apply to this kind"
    );
    assert!(
        check("[[rules]]\nkind = \"external-change\"\n[[rules]]\nkind = \"external-change\"")
            .contains("unique")
    );
    assert!(
        check("[[rules]]\nkind = \"external-change\"\nlabels = { \"bad-label\" = \"x\" }")
            .contains("bad-label")
    );
    let unknown = toml::from_str::<AlertsConfig>(
        "[[rules]]\nkind = \"api-call-failed\"\nseverity = \"page\"",
    );
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown variant `page`")
    );
}
