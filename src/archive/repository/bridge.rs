//! The object store client is async; the code that writes and reads backup files is not (it
//! compresses, hashes and decodes on blocking threads). This bridge runs the store's futures
//! on a small runtime of their own and lets any thread wait for them.
//!
//! A runtime of its own, rather than the caller's: the HTTP client keeps pooled connections
//! whose tasks live on the runtime that opened them, so they must all live on one runtime that
//! outlives every call; and a plain thread, a blocking task or a test's single-threaded runtime
//! can all wait on it without tokio's "cannot block inside a runtime" rule getting in the way.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use tokio::runtime::{Builder, Runtime};

/// Worker threads of the store's runtime: network I/O only, so two are plenty.
const IO_THREADS: usize = 2;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(IO_THREADS)
            .thread_name("palmdb-store")
            .enable_all()
            .build()
            .expect("cannot start the object store's runtime")
    })
}

/// Starts `future` on the store's runtime; the handle is awaited or passed to [`wait`].
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(future)
}

/// Runs `future` on the store's runtime and blocks this thread until it is done.
pub fn run<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    wait(spawn(future))
}

/// Blocks this thread until a spawned task ends. A panic in the task is resumed here.
pub fn wait<T>(handle: tokio::task::JoinHandle<T>) -> T {
    match block_here(handle) {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("an object store task was cancelled: {e}"),
    }
}

/// Polls a future on this thread, parking between wake-ups. Used only for futures whose work
/// happens elsewhere (join handles, channel receives), so it never needs a runtime here.
pub fn block_here<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_from_a_plain_thread_and_from_inside_a_runtime() {
        assert_eq!(run(async { 41 + 1 }), 42);
        let inner = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let value = inner.block_on(async {
            run(async {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                7
            })
        });
        assert_eq!(value, 7);
    }

    #[test]
    fn a_panicking_task_panics_the_waiter() {
        let result = std::panic::catch_unwind(|| run(async { panic!("boom") }));
        assert!(result.is_err());
    }
}
