//! The long-running daemon of `ebb run`, around the control loop.
//!
//! [`run`] is the owner task's loop; around it, one job each: [`start`]
//! (loading), [`restore`] (state from the state file or AWS), [`schedule`]
//! (what is due, and taking evaluations back), [`batch`] (one round of
//! [`crate::control_loop`], the loop the simulator shares), [`records`]
//! (the decisions log and operations), [`reload`] (SIGHUP), [`leader`]
//! (leader election) and the state file.

pub mod accounts;
pub mod aws;
pub mod batch;
pub mod config;
pub mod config_validate;
pub mod decisions_log;
pub mod history_changes;
pub mod history_files;
pub mod history_log;
pub mod leader;
pub mod lease;
pub mod lease_table;
pub mod ops;
pub mod policies;
mod records;
mod reload;
mod restore;
pub mod run;
pub mod saver;
mod schedule;
pub mod shard_election;
pub mod shard_lease;
mod start;
pub mod state;
pub mod state_lock;
