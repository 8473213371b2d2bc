//! Test helpers shared by the integration tests: real servers on 127.0.0.1,
//! started by the test and stopped when dropped.
#![allow(dead_code)]

pub mod activities;
pub mod cbor;
pub mod cbor_bridge;
pub mod daemon;
pub mod faults;
pub mod moto;
pub mod proxy;
