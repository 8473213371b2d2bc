//! The simulated cloud and `ebb simulate`: the real control loop run against
//! an Auto Scaling group that replays a load trace, on a simulated clock.

pub mod trace;
pub mod cloud;
pub mod synth;
