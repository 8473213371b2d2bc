//! The long-running daemon of `ebb run`, around the control loop.
//!
//! [`run`] schedules rounds of [`crate::control_loop`] (the loop the
//! simulator shares), and keeps the signals, the decisions log and the state
//! kept across restarts; [`batch`] runs one round and reports each target
//! back.

pub mod accounts;
pub mod aws;
pub mod batch;
pub mod config;
pub mod config_validate;
pub mod decisions_log;
pub mod history_files;
pub mod leader;
pub mod lease;
pub mod lease_table;
pub mod ops;
pub mod policies;
pub mod run;
pub mod state;
pub mod state_lock;
