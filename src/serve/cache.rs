//! A short-lived, single-flight cache for results that cost a database round trip.
//!
//! Prometheus, a load balancer and a dashboard may all ask for `/health` at the same moment.
//! Whoever comes first computes the result while holding the lock; everyone arriving meanwhile
//! waits for that one computation and shares its result, and for `ttl` afterwards the result
//! is served from memory. So the database sees at most one health query per `ttl`, however
//! many clients ask. Failures are cached too: a database that is down is not hammered.
//! Even with a TTL of 0 a waiter takes the result computed while it waited, instead of
//! starting another computation: concurrent requests never queue up queries.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

pub struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<T>)>>,
    /// How many values have been computed; read before waiting for the lock, it tells a
    /// waiter whether a computation finished while it waited.
    computed: AtomicU64,
}

impl<T> Cached<T> {
    pub fn new(ttl: Duration) -> Cached<T> {
        Cached {
            ttl,
            slot: Mutex::new(None),
            computed: AtomicU64::new(0),
        }
    }

    /// The cached value if it is younger than the TTL, else a fresh one from `compute`.
    /// The tokio mutex is fair, so waiters are served in arrival order.
    pub async fn get<F, Fut>(&self, compute: F) -> Arc<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let seen = self.computed.load(Ordering::Acquire);
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref() {
            let computed_while_waiting = self.computed.load(Ordering::Acquire) != seen;
            if computed_while_waiting || at.elapsed() < self.ttl {
                return value.clone();
            }
        }
        let value = Arc::new(compute().await);
        *slot = Some((Instant::now(), value.clone()));
        self.computed.fetch_add(1, Ordering::AcqRel);
        value
    }

    /// Forgets the cached value, after a change that makes it wrong (a prune).
    pub async fn invalidate(&self) {
        *self.slot.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn concurrent_callers_share_one_computation() {
        let cache = Arc::new(Cached::new(Duration::from_secs(60)));
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, runs) = (cache.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                *cache
                    .get(|| async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        42
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn without_a_ttl_waiters_still_share_the_computation_in_flight() {
        let cache = Arc::new(Cached::new(Duration::ZERO));
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, runs) = (cache.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                *cache
                    .get(|| async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // The first caller computes; the others all waited for it (at most one more run
        // for callers that arrived just after it finished).
        assert!(runs.load(Ordering::SeqCst) <= 2, "{runs:?}");
        let before = runs.load(Ordering::SeqCst);
        cache
            .get(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
            })
            .await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            before + 1,
            "a later call computes again"
        );
    }

    #[tokio::test]
    async fn an_expired_or_invalidated_value_is_computed_again() {
        let cache = Cached::new(Duration::from_millis(20));
        assert_eq!(*cache.get(|| async { 1 }).await, 1);
        assert_eq!(*cache.get(|| async { 2 }).await, 1);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(*cache.get(|| async { 3 }).await, 3);
        cache.invalidate().await;
        assert_eq!(*cache.get(|| async { 4 }).await, 4);
    }
}
