//! A group's own scaling: the scaling policies (target tracking, step,
//! simple, predictive) and scheduled actions attached to it. Two controllers
//! on one group fight, so ebb reads them at start and on reload (not every
//! tick): one paginated DescribePolicies and one DescribeScheduledActions
//! call per region, for all groups at once.

use super::ActuatorError;
use crate::aws_error::call_error;
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::{ScalingPolicy, ScheduledUpdateGroupAction};
use std::collections::{BTreeMap, HashSet};

/// Largest page DescribePolicies returns.
const POLICY_PAGE: i32 = 50;
/// Largest page DescribeScheduledActions returns.
const SCHEDULED_PAGE: i32 = 100;

/// Each named group's own scaling policies and scheduled actions, one line
/// each (`policy cpu (TargetTrackingScaling)`); groups without any are absent.
pub async fn read(
    client: &Client,
    groups: &[String],
) -> Result<BTreeMap<String, Vec<String>>, ActuatorError> {
    let wanted: HashSet<&str> = groups.iter().map(String::as_str).collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut next_token: Option<String> = None;
    loop {
        let page = client
            .describe_policies()
            .max_records(POLICY_PAGE)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| call_error("DescribePolicies", &e))?;
        for policy in page.scaling_policies() {
            if let (Some(group), Some(line)) =
                (policy.auto_scaling_group_name(), policy_line(policy))
                && wanted.contains(group)
            {
                out.entry(group.to_string()).or_default().push(line);
            }
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => break,
        }
    }
    loop {
        let page = client
            .describe_scheduled_actions()
            .max_records(SCHEDULED_PAGE)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| call_error("DescribeScheduledActions", &e))?;
        for action in page.scheduled_update_group_actions() {
            if let Some(group) = action.auto_scaling_group_name()
                && wanted.contains(group)
            {
                out.entry(group.to_string())
                    .or_default()
                    .push(scheduled_line(action));
            }
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

/// One line for a policy that can change the group's capacity; none for a
/// disabled one or a predictive policy that only forecasts.
fn policy_line(policy: &ScalingPolicy) -> Option<String> {
    if policy.enabled() == Some(false) {
        return None;
    }
    if let Some(predictive) = policy.predictive_scaling_configuration()
        && predictive
            .mode()
            .is_some_and(|m| m.as_str() == "ForecastOnly")
        && policy.policy_type() == Some("PredictiveScaling")
    {
        return None;
    }
    let name = policy.policy_name().unwrap_or("(no name)");
    let kind = policy.policy_type().unwrap_or("SimpleScaling");
    Some(format!("policy {name} ({kind})"))
}

fn scheduled_line(action: &ScheduledUpdateGroupAction) -> String {
    let name = action.scheduled_action_name().unwrap_or("(no name)");
    match action.recurrence() {
        Some(cron) => format!("scheduled action {name} ({cron})"),
        None => format!("scheduled action {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_autoscaling::types::{PredictiveScalingConfiguration, PredictiveScalingMode};

    #[test]
    fn disabled_and_forecast_only_policies_do_not_conflict() {
        let policy = |kind: &str| ScalingPolicy::builder().policy_name("p").policy_type(kind);
        assert_eq!(
            policy_line(&policy("TargetTrackingScaling").build()).as_deref(),
            Some("policy p (TargetTrackingScaling)")
        );
        assert_eq!(
            policy_line(&policy("StepScaling").enabled(false).build()),
            None
        );
        let forecasting = |mode| {
            policy("PredictiveScaling")
                .predictive_scaling_configuration(
                    PredictiveScalingConfiguration::builder().mode(mode).build(),
                )
                .build()
        };
        assert_eq!(
            policy_line(&forecasting(PredictiveScalingMode::ForecastOnly)),
            None
        );
        assert!(policy_line(&forecasting(PredictiveScalingMode::ForecastAndScale)).is_some());
        let scheduled = ScheduledUpdateGroupAction::builder()
            .scheduled_action_name("night")
            .recurrence("0 0 * * *")
            .build();
        assert_eq!(
            scheduled_line(&scheduled),
            "scheduled action night (0 0 * * *)"
        );
    }
}
