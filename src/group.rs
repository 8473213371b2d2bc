//! What a group is: its capacity, limits, instances and features, as the
//! cloud reports them.
//!
//! Actuators produce these and the pure core (the evaluator, group features)
//! reads them; they live here so the core needs nothing from the modules
//! that do I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an instance is in its life, as far as serving goes. Only
/// `InService` (and healthy, and past its warm-up) serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lifecycle {
    /// Pending, Pending:Proceed: launching, coming into service.
    Pending,
    /// Pending:Wait: held by a launch lifecycle hook; coming, not serving.
    PendingWait,
    /// InService: serving once healthy and past its warm-up.
    InService,
    /// Standby, EnteringStandby: in the group, taken out of service by an operator.
    Standby,
    /// Terminating:Wait: held by a termination lifecycle hook.
    TerminatingWait,
    /// Terminating, detaching...: neither serving nor coming.
    Leaving,
    /// Warmed:*: in the group's warm pool, not serving.
    WarmPool,
    /// A state ebb does not know (named as the API wrote it): not serving.
    Unknown(String),
}

/// One instance of a group, as DescribeAutoScalingGroups reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// The EC2 instance id, e.g. `i-0abc...`.
    pub id: String,
    /// Where the instance is in its life.
    pub lifecycle: Lifecycle,
    /// When the instance was launched; with the warm-up, when it starts serving.
    pub launched_at: DateTime<Utc>,
    /// Capacity units the instance provides (its `WeightedCapacity`); 1
    /// when the group does not weigh its instances.
    #[serde(default = "one")]
    pub weight: u32,
    /// `HealthStatus` said Unhealthy: about to be replaced, not serving.
    #[serde(default)]
    pub unhealthy: bool,
    /// Came out of the group's warm pool (its warm-up can be the pool's
    /// measured time to service, `warmup_from_pool`).
    #[serde(default)]
    pub from_warm_pool: bool,
}

fn one() -> u32 {
    1
}

impl Instance {
    /// A healthy instance of weight 1, not from a warm pool.
    pub fn new(
        id: impl Into<String>,
        lifecycle: Lifecycle,
        launched_at: DateTime<Utc>,
    ) -> Instance {
        Instance {
            id: id.into(),
            lifecycle,
            launched_at,
            weight: 1,
            unhealthy: false,
            from_warm_pool: false,
        }
    }
}

/// A group as the cloud reports it. `desired`, `min` and `max` are in the
/// group's capacity units: instances, or with weights, the sum of weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The group's desired capacity now, in its capacity units.
    pub desired: u32,
    /// The group's own minimum size, which bounds what ebb sets.
    pub min: u32,
    /// The group's own maximum size, which bounds what ebb sets (a raised max included).
    pub max: u32,
    /// The group's instances, warm pool included.
    pub instances: Vec<Instance>,
    /// What else the group says about itself.
    #[serde(default)]
    pub info: GroupInfo,
}

/// The group features that change what capacity means and whether ebb may
/// scale now. Every field is optional in the API: absent means "not in use".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupInfo {
    /// `Status`: set (`Delete in progress`) only while the group is being deleted.
    pub status: Option<String>,
    /// Suspended processes (`Launch`, `Terminate`, `AlarmNotification`...).
    pub suspended: Vec<String>,
    /// `DefaultInstanceWarmup`.
    #[serde(with = "humantime_serde")]
    pub default_instance_warmup: Option<std::time::Duration>,
    /// `DefaultCooldown`.
    #[serde(with = "humantime_serde")]
    pub default_cooldown: Option<std::time::Duration>,
    /// `DesiredCapacityType` (`units`, `vcpu`, `memory-mib`); absent: instances.
    pub capacity_type: Option<String>,
    /// The warm pool, when the group has one. Boxed, as the refresh below:
    /// few groups have one, and inline they were 88 of a group state's
    /// 272 bytes, in every slot of a round's map of 10,000 groups.
    pub warm_pool: Option<Box<WarmPool>>,
    /// An instance refresh running on the group (DescribeInstanceRefreshes).
    pub instance_refresh: Option<Box<InstanceRefresh>>,
    /// Odd values in the answer, and what ebb made of them.
    pub problems: Vec<String>,
}

/// A group's warm pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WarmPool {
    /// `PoolState`: Stopped, Running, Hibernated.
    pub pool_state: Option<String>,
    /// `WarmPoolSize`: instances in the pool now, when reported.
    pub size: Option<u32>,
    /// Median time an instance that left the pool took to come into
    /// service, as ebb measured it; none before the first was seen.
    #[serde(with = "humantime_serde")]
    pub time_to_service: Option<std::time::Duration>,
}

/// An instance refresh (replacement) in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRefresh {
    /// The refresh's id, as AWS names it.
    pub id: String,
    /// Pending, InProgress, Cancelling, RollbackInProgress, Baking.
    pub status: String,
    /// How far the refresh is, 0-100 percent, when AWS reports it.
    pub percent_complete: Option<u32>,
}

impl GroupState {
    /// Whether the group is being deleted.
    pub fn deleting(&self) -> bool {
        self.info.status.is_some()
    }
}
