//! The simulated cloud and `ebb simulate`: the real control loop run against
//! an Auto Scaling group that replays a load trace, on a simulated clock.

pub mod baseline;
pub mod cloud;
pub mod fleet;
pub mod plot;
pub mod run;
pub mod score;
pub mod synth;
pub mod trace;
