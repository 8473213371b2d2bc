//! Version 1 decision records (no `"v"` field): brought to the current shape
//! once, as JSON, before they are read as a [`super::DecisionRecord`], so
//! `ebb log` and `ebb log replay` read logs written before the record was
//! versioned.
//!
//! Version 1 said in words what version 2 says as events; this is the only
//! place that reads those words, and only in old records.

use serde_json::{Map, Value, json};

/// The notice a version 1 record carried for a change made outside ebb.
const EXTERNAL_CHANGE: &str = "desired capacity changed outside ebb: ";
/// The notice a version 1 record carried when the group's max bound a raise.
const GROUP_MAX_BINDS: (&str, &str) = (
    "forecast asks max capacity raised to ",
    "; the group's max is ",
);

/// Rewrites a version 1 record in place into the version 2 shape. Fields it
/// does not know are left for the reader to judge.
pub(super) fn upgrade(record: &mut Value) {
    let Some(map) = record.as_object_mut() else {
        return;
    };
    upgrade_role(map);
    upgrade_outcome(map);
    let max_capacity = map.get("max_capacity").and_then(Value::as_u64);
    if let Some(policies) = map.get_mut("policies").and_then(Value::as_array_mut) {
        for policy in policies {
            upgrade_policy(policy, max_capacity);
        }
    }
    upgrade_notices(map);
    map.insert("v".into(), json!(super::RecordVersion::CURRENT));
}

/// `role` defaulted to live; a shadow's candidate stays beside it.
fn upgrade_role(map: &mut Map<String, Value>) {
    if !map.contains_key("role") {
        map.insert("role".into(), json!("live"));
    }
    if map.get("role") == Some(&json!("shadow")) && !map.contains_key("candidate") {
        map.insert("candidate".into(), json!(""));
    }
}

/// `{applied, dry_run, error}` into the one status it meant.
fn upgrade_outcome(map: &mut Map<String, Value>) {
    let Some(old) = map.get("outcome").and_then(Value::as_object) else {
        return;
    };
    let flag = |name: &str| old.get(name).and_then(Value::as_bool).unwrap_or(false);
    let outcome = match old.get("error").and_then(Value::as_str) {
        Some(error) => json!({"status": "failed", "error": error}),
        None if flag("applied") => json!({"status": "applied"}),
        None if flag("dry_run") => json!({"status": "dry-run"}),
        None => json!({"status": "held"}),
    };
    map.insert("outcome".into(), outcome);
}

/// A predictive policy whose forecast capacity was above max and not raised
/// for it said so only in its detail: that becomes its event.
fn upgrade_policy(policy: &mut Value, max_capacity: Option<u64>) {
    let Some(policy) = policy.as_object_mut() else {
        return;
    };
    if policy.get("kind") != Some(&json!("predictive")) {
        return;
    }
    let detail = policy.get("detail");
    let figure = |name: &str| detail.and_then(|d| d.get(name)).and_then(Value::as_u64);
    let mut events = Vec::new();
    match (
        figure("capacity"),
        figure("raised_max_capacity"),
        max_capacity,
    ) {
        (Some(capacity), Some(raised), Some(max)) if capacity > max => {
            events.push(json!({"event": "max-capacity-raised", "from": max, "to": raised}));
        }
        (Some(capacity), None, Some(max)) if capacity > max => {
            events.push(json!({
                "event": "forecast-above-max",
                "forecast_capacity": capacity,
                "max_capacity": max,
            }));
        }
        _ => {}
    }
    if !events.is_empty() {
        policy.insert("events".into(), Value::Array(events));
    }
}

/// The notices version 2 writes as events move into `events`.
fn upgrade_notices(map: &mut Map<String, Value>) {
    let Some(notices) = map.get_mut("notices").and_then(Value::as_array_mut) else {
        return;
    };
    let mut events = Vec::new();
    notices.retain(|notice| match notice.as_str().and_then(notice_event) {
        Some(event) => {
            events.push(event);
            false
        }
        None => true,
    });
    if !events.is_empty() {
        map.insert("events".into(), Value::Array(events));
    }
}

/// The event a version 1 notice stood for, if it stood for one.
fn notice_event(notice: &str) -> Option<Value> {
    if let Some(change) = notice.strip_prefix(EXTERNAL_CHANGE) {
        let (from, to) = change.split_once(" -> ")?;
        let (from, to): (u32, u32) = (from.parse().ok()?, to.parse().ok()?);
        return Some(json!({"event": "external-change", "from": from, "to": to}));
    }
    let (asked, group_max) = notice
        .strip_prefix(GROUP_MAX_BINDS.0)?
        .split_once(GROUP_MAX_BINDS.1)?;
    let (asked, group_max): (u32, u32) = (asked.parse().ok()?, group_max.parse().ok()?);
    Some(json!({"event": "group-max-binds", "asked": asked, "group_max": group_max}))
}

#[cfg(test)]
mod tests {
    use super::super::{DecisionRecord, Event, Outcome, Role};

    /// The smallest version 1 record: no `v`, no role.
    fn v1(extra: &str) -> String {
        format!(
            r#"{{"time":"2026-01-05T00:01:00Z","target":"web","min_capacity":2,"max_capacity":8,
            "capacity":{{"desired":2,"in_service":2,"warming":0}},"metrics":[],"policies":[],"steps":[],
            "desired":2,"action":"hold","reason":"hold","governor_state":{{"last_scale_out":null,
            "last_scale_in":null,"recent":[],"last_set":null}}{extra}}}"#
        )
    }

    #[test]
    fn outcomes_roles_and_notices_become_their_types() {
        let read = |extra: &str| DecisionRecord::from_json(v1(extra).as_bytes()).unwrap();
        let failed = read(r#","outcome":{"applied":false,"dry_run":false,"error":"Throttling"}"#);
        assert_eq!(
            failed.outcome,
            Outcome::Failed {
                error: "Throttling".into(),
                kind: None,
            }
        );
        assert_eq!(failed.role, Role::Live);
        let dry = read(r#","outcome":{"applied":false,"dry_run":true},"role":"standby""#);
        assert_eq!((dry.outcome, dry.role), (Outcome::DryRun, Role::Standby));
        let shadow = read(
            r#","outcome":{"applied":false,"dry_run":true},"role":"shadow","candidate":"b.toml""#,
        );
        assert_eq!(
            shadow.role,
            Role::Shadow {
                candidate: "b.toml".into()
            }
        );
        let noticed = read(
            r#","outcome":{"applied":true,"dry_run":false},"notices":["desired capacity changed outside ebb: 6 -> 7","bounds clamped"]"#,
        );
        assert_eq!(noticed.outcome, Outcome::Applied);
        assert_eq!(
            noticed.events,
            vec![Event::ExternalChange { from: 6, to: 7 }]
        );
        assert_eq!(noticed.notices, vec!["bounds clamped".to_string()]);
        assert_eq!(
            noticed.notice_lines(),
            vec![
                "desired capacity changed outside ebb: 6 -> 7",
                "bounds clamped"
            ]
        );
    }

    #[test]
    fn an_unknown_version_is_refused_by_number() {
        let line = v1(r#","v":3,"outcome":{"status":"held"}"#);
        let e = DecisionRecord::from_json(line.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("decision record version 3"), "{e}");
    }
}
