//! The control loop, and the long-running daemon around it.
//!
//! [`control_loop`] is the loop the simulator and the daemon share: fetch
//! every due metric in one batch, read every group, evaluate each target with
//! its pure core, and apply (or only record) the decisions. [`run`] is the
//! daemon of `ebb run`: scheduling, signals, the decisions log and the state
//! kept across restarts.

pub mod accounts;
pub mod aws;
pub mod config;
pub mod config_validate;
pub mod control_loop;
pub mod decisions_log;
pub mod leader;
pub mod lease;
pub mod lease_table;
pub mod ops;
pub mod policies;
pub mod run;
pub mod state;
pub mod state_lock;

pub use control_loop::{ControlLoop, apply};
