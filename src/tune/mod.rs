//! `ebb tune`: search a policy's tunable fields on recorded history for the
//! cheapest policy that meets an under-provisioning budget.
//!
//! [`space`] says what is searched, [`search`] how (Latin hypercube, then
//! local refinement, in parallel), [`run`] splits the history walk-forward
//! and scores the candidates on the simulated cloud, [`rewrite`] writes the
//! chosen values into the policy file's own text and [`plot`] draws the front.

pub mod plot;
pub mod rewrite;
pub mod run;
pub mod search;
pub mod space;
