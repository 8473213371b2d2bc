//! Actuators: reading a group's state and setting its desired capacity.
//!
//! The AWS Auto Scaling actuator and the simulated cloud implement the same
//! trait, so the loop cannot tell them apart.

pub mod activity_history;
pub mod autoscaling;
mod described;
pub mod own_scaling;
pub mod warm_pool;

use crate::group::{GroupState, InstanceRefresh};
use chrono::{DateTime, Utc};

use std::collections::HashMap;

/// Why an actuator call failed, with its kind.
pub type ActuatorError = crate::error_kind::CallError;

/// Reads and sizes groups.
pub trait Actuator {
    /// The state of each named group; a group that does not exist is absent
    /// from the map. `now` is the evaluation's time: an instance seen for the
    /// first time with no launch history is taken as launched at `now`, so
    /// warm-up is measured from the tick that first saw it, not from when the
    /// answer arrived.
    fn describe(
        &mut self,
        groups: &[String],
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<HashMap<String, GroupState>, ActuatorError>> + Send;

    /// Sets `group`'s desired capacity to `desired` (SetDesiredCapacity,
    /// without the group's own cooldown: the governor keeps ebb's).
    fn set_desired(
        &mut self,
        group: &str,
        desired: u32,
    ) -> impl std::future::Future<Output = Result<(), ActuatorError>> + Send;

    /// Right before a scale-in (the one change an instance refresh
    /// forbids): the refresh running on `group` when the last read did not
    /// ask whether one runs (a group's first look asks none), asked now.
    /// `None` when none runs, or when the last read asked (its answer is in
    /// the group's state already).
    fn refresh_before_scale_in(
        &mut self,
        group: &str,
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Option<InstanceRefresh>> + Send;
}
