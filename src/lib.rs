//! ebb keeps AWS Auto Scaling groups at the right size.
//!
//! Data flows one way: [`source`] fetches metrics, [`signal`] smooths them,
//! [`policy`] recommends capacities, [`governor`] turns recommendations into
//! one decision ([`governor_memory`] keeping what really happened apart from
//! what a dry run, standby or shadow supposes), [`actuator`] carries it out,
//! and [`decision`] records it.
//! [`evaluator`] joins the pure core (signal, policy, governor) for one
//! target; [`control_loop`] runs a round of it over many targets, [`daemon`]
//! schedules rounds; [`sim`] is a simulated cloud to run them on.
//! The data the core reads is its own: [`series`] (datapoints, as sources
//! deliver them) and [`group`] (a group's state, as actuators read it).

#![warn(missing_docs)]

pub mod actuator;
pub mod alert;
pub mod aws_error;
pub mod cli;
pub mod clock;
pub mod control_loop;
pub mod daemon;
pub mod decision;
pub mod duration;
pub mod error_kind;
pub mod evaluator;
pub mod few_at_once;
pub mod fnv;
pub mod forecast;
pub mod governor;
pub mod governor_memory;
pub mod group;
pub mod group_features;
pub mod iso_time;
pub(crate) mod lock;
pub mod policy;
pub mod policy_file;
pub mod ranges;
pub mod replay;
pub mod series;
pub mod shared_map;
pub mod signal;
pub mod sim;
pub mod source;
pub mod telemetry;
pub mod test_hooks;
pub mod text_file;
pub mod trace_export;
pub mod tune;

/// The integration tests' moto_server helpers (`tests/support`), shared with
/// the unit tests of crate-private code on AWS paths (a daemon batch), so
/// those run against moto too rather than against in-memory fakes.
#[cfg(test)]
#[path = "../tests/support"]
#[allow(dead_code)]
mod test_support {
    pub mod cbor;
    pub mod cbor_bridge;
    pub mod moto;
}
