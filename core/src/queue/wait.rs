//! Waiting for work without busy polling: a claim that waits up to a timeout for items to become
//! claimable, and the wake-ups it waits on.
//!
//! A waiting claim tries to claim; if nothing is claimable it sleeps until the first of:
//! * a wake-up of this process's [`Notifier`] for the database: every write of a store handle in
//!   this process that may make work claimable (an enqueue, a requeue, a settings change, a
//!   completion that frees a limited queue's slot) rings it, so an in-process enqueue is picked
//!   up at once; on PostgreSQL a listener connection (`LISTEN`) rings it too when another
//!   process's enqueue commits (its `NOTIFY` is sent by the enqueue's own statement);
//! * the run time of the earliest scheduled item of its queue types (`limits::next_due`);
//! * the engine's cross-process check, polled with backoff: on SQLite `PRAGMA data_version`,
//!   which changes when another connection commits to the file (a read of the WAL index in
//!   shared memory, a few microseconds): first after [`POLL_FIRST`], then twice as long each
//!   time nothing changed, up to [`POLL_MOST`]; so a worker in another process sees an enqueue
//!   within [`POLL_MOST`] at worst and an idle waiter costs a few dozen tiny reads a second;
//! * [`LOOK_AGAIN`] at the latest (a claim regardless: PostgreSQL's fallback should a
//!   notification be lost, and the catch-all for scheduled items past `next_due`'s read);
//! * the timeout, or its [`Cancel`].
//!
//! The notifier's generation is read before each claim attempt, and the sleep returns at once if
//! it moved meanwhile: a wake-up between the attempt and the sleep is never lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// The first cross-process check after a claim found nothing.
pub const POLL_FIRST: Duration = Duration::from_millis(1);
/// The longest interval between cross-process checks.
pub const POLL_MOST: Duration = Duration::from_millis(25);
/// A waiting claim tries again at least this often, whatever it heard.
pub const LOOK_AGAIN: Duration = Duration::from_secs(1);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wake-ups of the waiting claims of one database in this process (every store handle opened on
/// the same file or server schema shares one).
#[derive(Default)]
pub(crate) struct Notifier {
    generation: Mutex<u64>,
    rung: Condvar,
}

impl Notifier {
    /// The notifier of the database `key` names, shared by every handle of this process.
    pub(crate) fn shared(key: String) -> Arc<Notifier> {
        static ALL: Mutex<Option<HashMap<String, Weak<Notifier>>>> = Mutex::new(None);
        let mut all = lock(&ALL);
        let all = all.get_or_insert_with(HashMap::new);
        if let Some(notifier) = all.get(&key).and_then(Weak::upgrade) {
            return notifier;
        }
        all.retain(|_, notifier| notifier.strong_count() > 0);
        let notifier = Arc::new(Notifier::default());
        all.insert(key, Arc::downgrade(&notifier));
        notifier
    }

    pub(crate) fn generation(&self) -> u64 {
        *lock(&self.generation)
    }

    /// Wakes every waiting claim.
    pub(crate) fn ring(&self) {
        *lock(&self.generation) += 1;
        self.rung.notify_all();
    }

    /// Sleeps until the generation moves past `seen`, `until`, or `cancel` is cancelled; returns
    /// whether it moved.
    fn sleep(&self, seen: u64, until: Instant, cancel: Option<&Cancel>) -> bool {
        let mut generation = lock(&self.generation);
        loop {
            if *generation != seen {
                return true;
            }
            if cancel.is_some_and(Cancel::is_cancelled) {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            generation = self.rung.wait_timeout(generation, until - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// Cancels a waiting claim from any thread: it returns what it has (nothing) at once. A claim
/// that already took items returns them; cancelling afterwards does nothing.
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelState>);

#[derive(Default)]
struct CancelState {
    cancelled: AtomicBool,
    /// The notifier the claim sleeps on, to wake it.
    sleeping_on: Mutex<Option<Weak<Notifier>>>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel").field("cancelled", &self.is_cancelled()).finish()
    }
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        if let Some(notifier) = lock(&self.0.sleeping_on).as_ref().and_then(Weak::upgrade) {
            // Under the notifier's lock, so that a claim about to sleep either sees the flag or
            // is woken.
            let _generation = lock(&notifier.generation);
            notifier.rung.notify_all();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }
}

/// What one attempt of a waiting claim found.
pub(crate) struct Attempt<T> {
    /// What was claimed (the wait ends when it is not empty).
    pub taken: Vec<T>,
    /// How long until the earliest scheduled item of its queue types may be claimed.
    pub next_due: Option<Duration>,
}

/// Why a waiting claim tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Its first try, a ring of the notifier (an enqueue, a notification): work is likely there.
    Told,
    /// A poll saw another connection commit, or it is time to look: maybe not work at all, so
    /// a read had better look before a write lock is taken for a claim.
    Looked,
}

/// The waiting claim's loop (see the module): `attempt` claims (and says when to look again);
/// `changed` is the engine's cross-process check (SQLite's data version; `Ok(false)` where
/// notifications come through the notifier). Ends with what an attempt took, or nothing at
/// the deadline or when cancelled.
pub(crate) fn wait_for<T>(
    notifier: &Arc<Notifier>,
    timeout: Duration,
    cancel: Option<&Cancel>,
    mut attempt: impl FnMut(Cause) -> crate::Result<Attempt<T>>,
    mut changed: impl FnMut() -> crate::Result<bool>,
) -> crate::Result<Vec<T>> {
    let deadline = Instant::now().checked_add(timeout).unwrap_or_else(|| Instant::now() + LOOK_AGAIN * 1_000_000);
    if let Some(cancel) = cancel {
        *lock(&cancel.0.sleeping_on) = Some(Arc::downgrade(notifier));
    }
    let mut cause = Cause::Told;
    loop {
        let seen = notifier.generation();
        let found = attempt(cause)?;
        if !found.taken.is_empty() {
            return Ok(found.taken);
        }
        let now = Instant::now();
        if now >= deadline || cancel.is_some_and(Cancel::is_cancelled) {
            return Ok(Vec::new());
        }
        let mut until = deadline.min(now + LOOK_AGAIN);
        if let Some(due) = found.next_due {
            until = until.min(now + due);
        }
        let mut poll = POLL_FIRST;
        cause = loop {
            let slice = until.min(Instant::now() + poll);
            if notifier.sleep(seen, slice, cancel) {
                break Cause::Told;
            }
            if cancel.is_some_and(Cancel::is_cancelled) {
                return Ok(Vec::new());
            }
            if Instant::now() >= until || changed()? {
                break Cause::Looked;
            }
            poll = (poll * 2).min(POLL_MOST);
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_between_the_attempt_and_the_sleep_is_not_lost() {
        let notifier = Notifier::shared(format!("test:{}", uuid::Uuid::new_v4()));
        let seen = notifier.generation();
        notifier.ring();
        let started = Instant::now();
        assert!(notifier.sleep(seen, Instant::now() + Duration::from_secs(5), None));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn cancel_wakes_a_sleeping_claim() {
        let notifier = Notifier::shared(format!("test:{}", uuid::Uuid::new_v4()));
        let cancel = Cancel::new();
        let waiting = {
            let (notifier, cancel) = (Arc::clone(&notifier), cancel.clone());
            std::thread::spawn(move || {
                wait_for::<u32>(
                    &notifier,
                    Duration::from_secs(30),
                    Some(&cancel),
                    |_| Ok(Attempt { taken: Vec::new(), next_due: None }),
                    || Ok(false),
                )
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        let asked = Instant::now();
        cancel.cancel();
        assert_eq!(waiting.join().unwrap().unwrap(), Vec::<u32>::new());
        assert!(asked.elapsed() < Duration::from_secs(2), "woken by the cancel, not the timeout");
    }

    #[test]
    fn handles_of_one_database_share_a_notifier() {
        let key = format!("test:{}", uuid::Uuid::new_v4());
        let a = Notifier::shared(key.clone());
        let b = Notifier::shared(key);
        assert!(Arc::ptr_eq(&a, &b));
    }
}
