//! What the chain takes from where it runs: a wall clock, timers and somewhere to run blocking
//! work. [`TokioHost`] is the node's (the system clock and tokio); the whole-node simulation
//! gives the chain a host over commonware's deterministic runtime instead, whose clock is
//! virtual and which runs blocking work in place, so a seeded run replays exactly.
//!
//! The chain reads time only through its host: to timestamp its proposals, to wait out the
//! block time, and to refuse blocks from the far future (see the chain's module doc).

use futures::future::BoxFuture;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A clock, timers and a place for blocking work.
pub trait Host: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch by this host's clock; 0 before it.
    fn now_ms(&self) -> u64;

    /// Completes after `duration` by this host's clock.
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;

    /// Runs `work` where it may block (RocksDB writes, block execution) without holding up
    /// the async tasks, and completes when it has run. If `work` panics the future completes
    /// all the same; the caller learns of it from `work`'s own result never arriving.
    fn run_blocking(&self, work: Box<dyn FnOnce() + Send>) -> BoxFuture<'_, ()>;
}

/// The node's host: the system clock, tokio's timers and its blocking thread pool. Needs a
/// tokio runtime (commonware's tokio runtime provides one).
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioHost;

impl Host for TokioHost {
    fn now_ms(&self) -> u64 {
        millis_since_epoch(SystemTime::now())
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn run_blocking(&self, work: Box<dyn FnOnce() + Send>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // A panic in `work` is reported by its result never arriving (see the trait).
            let _ = tokio::task::spawn_blocking(work).await;
        })
    }
}

/// Milliseconds from the Unix epoch to `time`; 0 before it, `u64::MAX` past 584 million years.
pub fn millis_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
