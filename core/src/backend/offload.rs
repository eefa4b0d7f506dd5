//! Runs a blocking call of the sync core on a thread of our own and hands its result to the
//! awaiting task, so that the async surface works under any executor (tokio, async-std, smol, a
//! plain `block_on`) and never blocks the caller's thread while SQLite works.
//!
//! The pool is process-wide, grows on demand up to [`MAX_THREADS`] and keeps its threads.
//! Dropping the future does not cancel the call: it completes (or fails) as one transaction.
//! A panic inside the call is caught here and becomes an error; it never crosses to the caller.
//!
//! Two pools of calls, which differ in how an idle thread waits for the next job:
//!
//! * the async surface's ([`run`]): the hand-off costs two thread wake-ups (about 20 us on a
//!   2-core VM). Spinning briefly before sleeping, on either side, was measured (bench/, 2026-11)
//!   and lost there: spinners take the cores the working threads need, most of all under
//!   concurrency. So its threads simply block;
//! * the hosts' with event loops of their own ([`spawn`]: Node's `Store`, Python's
//!   `AsyncStore`): one idle thread at a time looks for the next job for up to [`HOST_SPIN`]
//!   before it sleeps. A program that awaits one call after another sends the next call a few
//!   microseconds of JavaScript or Python after the last answer: the spinning thread takes it at
//!   once, no wake-up, and a quick call answers before the event loop has gone to sleep, so
//!   neither side sleeps. Measured on the 2-core VM (2026-12-08, `bindings-node/bench`): an
//!   awaited call that does no SQL from about 65 us to about 7 us. At most one thread spins, and
//!   only while the pool has nothing to do, so calls in flight together lose no core to it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};
use futures::channel::oneshot;

use crate::error::{Error, Result};

/// Enough threads for many callers in flight: one writes at a time (with group commit, for
/// several), readers run in parallel.
const MAX_THREADS: usize = 16;

/// Threads of the pool for waiting claims (`Store::claim_wait`), which sleep most of their time:
/// a pool of their own, so that workers waiting for work never take the threads the calls need.
/// Each waiting claim holds one while it waits; idle ones are kept for the next.
const MAX_WAITING_THREADS: usize = 4096;

/// How long an idle thread of the hosts' pool looks for the next job before it sleeps: longer
/// than an event loop's turn between two awaited calls (its wake-up, then a few microseconds of
/// the host's code), short enough that an idle program spends next to nothing on it.
pub const HOST_SPIN: Duration = Duration::from_micros(100);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    threads: AtomicUsize,
    idle: Arc<AtomicUsize>,
    /// How long an idle thread looks for a job before it sleeps (zero: it sleeps at once).
    spin: Duration,
    /// Whether an idle thread is spinning now: at most one does.
    spinning: Arc<AtomicBool>,
    /// Threads running a job now: an idle thread spins only when none is (no call in flight).
    busy: Arc<AtomicUsize>,
    max: usize,
    name: &'static str,
}

impl Pool {
    fn new(max: usize, spin: Duration, name: &'static str) -> Pool {
        let (jobs, queue) = unbounded();
        Pool {
            jobs,
            queue,
            threads: AtomicUsize::new(0),
            idle: Arc::new(AtomicUsize::new(0)),
            spin,
            spinning: Arc::new(AtomicBool::new(false)),
            busy: Arc::new(AtomicUsize::new(0)),
            max,
            name,
        }
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(MAX_THREADS, Duration::ZERO, "jetstate-call"))
}

fn host_pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(MAX_THREADS, HOST_SPIN, "jetstate-host"))
}

fn waiting_pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(MAX_WAITING_THREADS, Duration::ZERO, "jetstate-wait"))
}

/// The next job of `queue` if one comes within `spin`, looked for by at most one thread at a
/// time (`spinning`), and only when no other thread runs a job (`busy`): calls in flight together
/// wait on each other (one writer, group commit), and a spinner would take a core they need.
/// None at once otherwise.
fn spin_for(queue: &Receiver<Job>, spin: Duration, spinning: &AtomicBool, busy: &AtomicUsize) -> Option<Job> {
    if spin.is_zero() || busy.load(Ordering::SeqCst) > 0 || spinning.swap(true, Ordering::AcqRel) {
        return None;
    }
    let until = Instant::now() + spin;
    let job = loop {
        match queue.try_recv() {
            Ok(job) => break Some(job),
            Err(TryRecvError::Disconnected) => break None,
            Err(TryRecvError::Empty) if Instant::now() >= until => break None,
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
        }
    };
    spinning.store(false, Ordering::Release);
    job
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
        let (spin, spinning, busy) = (self.spin, Arc::clone(&self.spinning), Arc::clone(&self.busy));
        std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || loop {
                idle.fetch_add(1, Ordering::SeqCst);
                let job = spin_for(&queue, spin, &spinning, &busy).or_else(|| queue.recv().ok());
                idle.fetch_sub(1, Ordering::SeqCst);
                let Some(job) = job else { return };
                busy.fetch_add(1, Ordering::SeqCst);
                job();
                busy.fetch_sub(1, Ordering::SeqCst);
            })
            .map(|_| ())
            .map_err(|err| {
                self.threads.fetch_sub(1, Ordering::SeqCst);
                Error::database(format!("cannot start a thread for the call: {err}"))
            })
    }
}

/// Runs `job` on a thread of the hosts' pool and returns at once; for hosts with an event loop of
/// their own (Node's `Store`, the Python binding's `AsyncStore`), which deliver the outcome to
/// their loop themselves. A panic inside `job` is caught (and dropped) here: it never unwinds
/// into the pool's thread.
pub fn spawn(job: impl FnOnce() + Send + 'static) -> Result<()> {
    host_pool().submit(Box::new(move || {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Box::new(|| ())
    }

    #[test]
    fn a_pool_without_spin_sleeps_at_once() {
        let (jobs, queue) = unbounded::<Job>();
        let (spinning, busy) = (AtomicBool::new(false), AtomicUsize::new(0));
        jobs.send(job()).unwrap();
        assert!(spin_for(&queue, Duration::ZERO, &spinning, &busy).is_none(), "no spin: the job is recv's");
        assert!(queue.try_recv().is_ok());
    }

    #[test]
    fn an_idle_thread_takes_a_job_sent_while_it_spins() {
        let (jobs, queue) = unbounded::<Job>();
        let (spinning, busy) = (Arc::new(AtomicBool::new(false)), AtomicUsize::new(0));
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            jobs.send(job()).unwrap();
            jobs
        });
        // A spin long enough that the job comes within it however slow the machine is.
        assert!(spin_for(&queue, Duration::from_secs(10), &spinning, &busy).is_some());
        assert!(!spinning.load(Ordering::SeqCst), "the spinner lets go of its slot");
        let jobs = sender.join().unwrap();
        // Nothing comes: the spin ends at its time, with nothing.
        let started = Instant::now();
        assert!(spin_for(&queue, Duration::from_millis(30), &spinning, &busy).is_none());
        assert!(started.elapsed() >= Duration::from_millis(30));
        // The pool shut down: no spin at all.
        drop(jobs);
        let started = Instant::now();
        assert!(spin_for(&queue, Duration::from_secs(10), &spinning, &busy).is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn only_one_thread_spins_and_none_while_a_call_runs() {
        let (jobs, queue) = unbounded::<Job>();
        jobs.send(job()).unwrap();
        let (spinning, busy) = (AtomicBool::new(true), AtomicUsize::new(0));
        assert!(spin_for(&queue, Duration::from_secs(10), &spinning, &busy).is_none(), "another thread spins");
        spinning.store(false, Ordering::SeqCst);
        busy.store(1, Ordering::SeqCst);
        assert!(spin_for(&queue, Duration::from_secs(10), &spinning, &busy).is_none(), "a call is in flight");
        assert!(!spinning.load(Ordering::SeqCst));
        busy.store(0, Ordering::SeqCst);
        assert!(spin_for(&queue, Duration::from_secs(10), &spinning, &busy).is_some());
    }

    #[test]
    fn the_hosts_pool_runs_jobs_and_survives_a_panic() {
        let (done, answers) = crossbeam_channel::bounded(2);
        let first = done.clone();
        spawn(move || {
            let _ = first.send(1);
            panic!("a job's panic stays in its job");
        })
        .unwrap();
        spawn(move || {
            let _ = done.send(2);
        })
        .unwrap();
        let mut got = [answers.recv().unwrap(), answers.recv().unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
    }
}
