//! Many calls, a few at a time, each on a task of its own.
//!
//! A task's future holds the whole state of the call it makes (an AWS SDK
//! call's is kilobytes) from the moment it is spawned. Spawning one task per
//! group at once and letting a semaphore hold all but a few back kept every
//! waiting task's future allocated: with 10,000 groups that was the daemon's
//! peak of memory. [`FewAtOnce`] spawns the next task only when one is done,
//! so no more than `limit` exist at a time.

use std::future::Future;
use tokio::task::{JoinError, JoinSet};

/// Tasks started from `items` by `start`, at most `limit` at a time; their
/// results come back through [`FewAtOnce::next`] as they finish. Dropping it
/// aborts the tasks still running.
pub struct FewAtOnce<I, F, R> {
    items: I,
    start: F,
    running: JoinSet<R>,
    limit: usize,
}

impl<I, F, Fut, R> FewAtOnce<I, F, R>
where
    I: Iterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    /// Nothing runs until the first [`FewAtOnce::next`]. A `limit` of zero
    /// is taken as one.
    pub fn new(limit: usize, items: impl IntoIterator<IntoIter = I>, start: F) -> Self {
        FewAtOnce {
            items: items.into_iter(),
            start,
            running: JoinSet::new(),
            limit: limit.max(1),
        }
    }

    /// Starts tasks up to the limit, then waits for one to finish; `None`
    /// once every item's task has finished. Needs a tokio runtime.
    pub async fn next(&mut self) -> Option<Result<R, JoinError>> {
        while self.running.len() < self.limit {
            let Some(item) = self.items.next() else {
                break;
            };
            self.running.spawn((self.start)(item));
        }
        self.running.join_next().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_limit_exist_and_every_item_runs() {
        let alive = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let mut tasks = FewAtOnce::new(3, 0..50u64, |i| {
            // Counted when the task is made, not when it first runs: what
            // is bounded is how many futures are allocated at once.
            let now = alive.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            started.fetch_add(1, Ordering::SeqCst);
            let alive = Arc::clone(&alive);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(i % 3)).await;
                alive.fetch_sub(1, Ordering::SeqCst);
                i
            }
        });
        let mut done = Vec::new();
        while let Some(joined) = tasks.next().await {
            done.push(joined.unwrap());
        }
        done.sort_unstable();
        assert_eq!(done, (0..50).collect::<Vec<_>>());
        assert_eq!(started.load(Ordering::SeqCst), 50);
        assert!(most.load(Ordering::SeqCst) <= 3, "{most:?} at once");
    }

    #[tokio::test]
    async fn a_panicked_task_comes_back_as_an_error_and_the_others_go_on() {
        let mut tasks = FewAtOnce::new(2, ["a", "boom", "c"], |name| async move {
            assert_ne!(name, "boom", "asked to panic");
            name
        });
        let (mut ok, mut panicked) = (Vec::new(), 0);
        while let Some(joined) = tasks.next().await {
            match joined {
                Ok(name) => ok.push(name),
                Err(e) => {
                    assert!(e.is_panic());
                    panicked += 1;
                }
            }
        }
        ok.sort_unstable();
        assert_eq!((ok, panicked), (vec!["a", "c"], 1));
    }
}
