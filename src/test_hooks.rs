//! A deliberate fault for tests: make one evaluation panic, to check that
//! the daemon contains it. Compiled only into debug builds (what `cargo test`
//! runs), and only when `EBB_TEST_PANIC_IN` names the evaluation, so a
//! release build cannot be made to panic through it.

/// The environment variable: comma-separated names of evaluations to panic
/// in, a group name (its live evaluation) or `group~shadow:candidate.toml`.
pub const PANIC_IN: &str = "EBB_TEST_PANIC_IN";

/// Panics when `EBB_TEST_PANIC_IN` names `evaluation` (debug builds only).
#[cfg(debug_assertions)]
pub fn panic_if_asked(evaluation: &str) {
    let Ok(names) = std::env::var(PANIC_IN) else {
        return;
    };
    if names.split(',').any(|name| name.trim() == evaluation) {
        panic!("test hook {PANIC_IN}: evaluation of `{evaluation}` panics");
    }
}

/// Release builds: never panics.
#[cfg(not(debug_assertions))]
pub fn panic_if_asked(_evaluation: &str) {}
