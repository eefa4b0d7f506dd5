//! Runs a blocking call of the sync core on a thread of our own and hands its result to the
//! awaiting task, so that the async surface works under any executor (tokio, async-std, smol, a
//! plain `block_on`) and never blocks the caller's thread while SQLite works.
//!
//! The pool is process-wide, grows on demand up to [`MAX_THREADS`] and keeps its threads.
//! Dropping the future does not cancel the call: it completes (or fails) as one transaction.
//! A panic inside the call is caught here and becomes an error; it never crosses to the caller.
//!
//! The hand-off costs two thread wake-ups (about 20 us on a 2-core VM). Spinning briefly before
//! sleeping, on either side, was measured (bench/, 2026-11) and lost: spinners take the cores the
//! working threads need, most of all under concurrency. So both sides simply block.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_channel::{unbounded, Receiver, Sender};
use futures::channel::oneshot;

use crate::error::{Error, Result};

/// Enough threads for many callers in flight: one writes at a time (with group commit, for
/// several), readers run in parallel.
const MAX_THREADS: usize = 16;

/// Threads of the pool for waiting claims (`Store::claim_wait`), which sleep most of their time:
/// a pool of their own, so that workers waiting for work never take the threads the calls need.
/// Each waiting claim holds one while it waits; idle ones are kept for the next.
const MAX_WAITING_THREADS: usize = 4096;

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    threads: AtomicUsize,
    idle: Arc<AtomicUsize>,
    max: usize,
    name: &'static str,
}

impl Pool {
    fn new(max: usize, name: &'static str) -> Pool {
        let (jobs, queue) = unbounded();
        Pool { jobs, queue, threads: AtomicUsize::new(0), idle: Arc::new(AtomicUsize::new(0)), max, name }
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(MAX_THREADS, "jetstate-call"))
}

fn waiting_pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(MAX_WAITING_THREADS, "jetstate-wait"))
}

impl Pool {
    fn submit(&self, job: Job) -> Result<()> {
        self.jobs.send(job).map_err(|_| Error::internal("the call pool has shut down"))?;
        if self.idle.load(Ordering::SeqCst) == 0 {
            let threads = self.threads.load(Ordering::SeqCst);
            let claimed_slot = threads < self.max
                && self.threads.compare_exchange(threads, threads + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok();
            if claimed_slot {
                self.spawn_thread()?;
            }
        }
        Ok(())
    }

    fn spawn_thread(&self) -> Result<()> {
        let queue = self.queue.clone();
        let idle = Arc::clone(&self.idle);
        std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || loop {
                idle.fetch_add(1, Ordering::SeqCst);
                let job = queue.recv().ok();
                idle.fetch_sub(1, Ordering::SeqCst);
                match job {
                    Some(job) => job(),
                    None => return,
                }
            })
            .map(|_| ())
            .map_err(|err| {
                self.threads.fetch_sub(1, Ordering::SeqCst);
                Error::database(format!("cannot start a thread for the call: {err}"))
            })
    }
}

/// Runs `job` on a thread of the pool and returns at once; for hosts with an event loop of their
/// own (the Python binding's `AsyncStore`), which deliver the outcome to their loop themselves.
/// A panic inside `job` is caught (and dropped) here: it never unwinds into the pool's thread.
pub fn spawn(job: impl FnOnce() + Send + 'static) -> Result<()> {
    pool().submit(Box::new(move || {
        let _ = catch_unwind(AssertUnwindSafe(job));
    }))
}

/// [`spawn`] for a call that waits (a waiting claim), on the pool of waiting threads.
pub fn spawn_waiting(job: impl FnOnce() + Send + 'static) -> Result<()> {
    waiting_pool().submit(Box::new(move || {
        let _ = catch_unwind(AssertUnwindSafe(job));
    }))
}

/// Runs `call` off the caller's thread and awaits its result.
pub(crate) async fn run<T: Send + 'static>(call: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    run_on(pool(), call).await
}

/// [`run`] for a call that waits, on the pool of waiting threads.
pub(crate) async fn run_waiting<T: Send + 'static>(call: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    run_on(waiting_pool(), call).await
}

async fn run_on<T: Send + 'static>(
    pool: &'static Pool,
    call: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (done, result) = oneshot::channel();
    pool.submit(Box::new(move || {
        let outcome = catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::internal(format!("the call panicked: {what}")))
        });
        // The caller may have stopped waiting; the call's effect stands either way.
        let _ = done.send(outcome);
    }))?;
    result.await.unwrap_or_else(|_| Err(Error::internal("the call's thread ended without an answer")))
}
