//! The one way ebb takes a `std::sync::Mutex`.
//!
//! A thread that panics while holding a lock poisons it. Every lock in ebb
//! guards bookkeeping updated by code that does not panic in between, so a
//! poisoned lock still holds a consistent value; refusing it would turn one
//! target's panic (which the control loop contains) into every other
//! target's failure, or stop the lease and state-saving loops for good.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking its value even if a panic poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_lock_still_gives_its_value() {
        let shared = Arc::new(Mutex::new(7));
        let holder = Arc::clone(&shared);
        let panicked = std::thread::spawn(move || {
            let _guard = holder.lock().unwrap();
            panic!("a task panicked while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shared.is_poisoned());
        *lock(&shared) += 1;
        assert_eq!(*lock(&shared), 8);
    }
}
