//! The control loop, and the long-running daemon around it.
//!
//! [`control_loop`] is the loop the simulator and the daemon share: fetch
//! every due metric in one batch, read every group, evaluate each target with
//! its pure core, and apply (or only record) the decisions.

pub mod control_loop;
pub mod ops;

pub use control_loop::{ControlLoop, apply};
