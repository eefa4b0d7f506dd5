//! Waiting for work without busy polling: a claim that waits up to a timeout for items to become
//! claimable, and the wake-ups it waits on.
//!
//! A waiting claim tries to claim; if nothing is claimable it sleeps until the first of:
//! * a wake-up of this process's [`Notifier`] for the database: every write of a store handle in
//!   this process that may make work claimable rings it, so an in-process enqueue is picked up at
//!   once. An enqueue wakes as many claims waiting on its queue type as it has items, and a
//!   settled item (a freed slot) the claims waiting on gated queue types: not the whole herd,
//!   each of which would claim in vain. A requeue, a reclaim, a settings change wake every one.
//!   On PostgreSQL a listener connection (`LISTEN`) wakes every one too when another process's
//!   enqueue commits (its `NOTIFY` is sent by the enqueue's own statement; the notifications of
//!   the handle's own connections it passes over: their writes woke the claims already);
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
///
/// Two kinds of wake-up, so that a write wakes the claims it concerns and not a herd:
/// * targeted ([`Notifier::ring_work`], [`Notifier::ring_slot`]): an enqueue of `n` items wakes at
///   most `n` of the claims waiting on its queue type, sleeping ones first, oldest first; a
///   finished claim (a slot freed) wakes the claims waiting on a gated queue type. A claim woken
///   so that leaves without having used its wake-up (it was already claiming, and took other
///   items) hands it on to another claim of its types, so that no item is left to the polling;
/// * to all ([`Notifier::ring`]): settings changes, reclaims, other processes' notifications.
#[derive(Default)]
pub(crate) struct Notifier {
    state: Mutex<State>,
    rung: Condvar,
}

#[derive(Default)]
struct State {
    /// Moves at each wake-up to all.
    generation: u64,
    next_id: u64,
    /// The waiting claims, oldest first.
    waiters: Vec<Waiter>,
}

struct Waiter {
    id: u64,
    queue_types: Vec<String>,
    /// One of its queue types is gated: a freed slot may let it claim.
    gated: bool,
    /// Asleep (not claiming).
    sleeping: bool,
    /// Woken for it alone, not yet used.
    woken: bool,
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
        lock(&self.state).generation
    }

    /// Wakes every waiting claim.
    pub(crate) fn ring(&self) {
        lock(&self.state).generation += 1;
        self.rung.notify_all();
    }

    /// `items` items of `queue_type` became claimable: wakes as many claims waiting on it, at most.
    pub(crate) fn ring_work(&self, queue_type: &str, items: usize) {
        let mut state = lock(&self.state);
        if Self::wake(&mut state, items, |waiter| waiter.queue_types.iter().any(|t| t == queue_type)) {
            drop(state);
            self.rung.notify_all();
        }
    }

    /// A claimed item was settled: wakes the claims waiting on a gated queue type (its limit may
    /// admit them now).
    pub(crate) fn ring_slot(&self) {
        let mut state = lock(&self.state);
        if Self::wake(&mut state, usize::MAX, |waiter| waiter.gated) {
            drop(state);
            self.rung.notify_all();
        }
    }

    /// Marks up to `most` waiters that `wants` and are not woken yet, sleeping ones first, oldest
    /// first; returns whether it marked any.
    fn wake(state: &mut State, most: usize, wants: impl Fn(&Waiter) -> bool) -> bool {
        let mut woken = 0;
        for sleeping in [true, false] {
            for waiter in state.waiters.iter_mut() {
                if woken == most {
                    return true;
                }
                if waiter.sleeping == sleeping && !waiter.woken && wants(waiter) {
                    waiter.woken = true;
                    woken += 1;
                }
            }
        }
        woken > 0
    }

    /// Registers a waiting claim of `queue_types` until the registration is dropped.
    fn register(&self, queue_types: Vec<String>) -> Registration<'_> {
        let mut state = lock(&self.state);
        let id = state.next_id;
        state.next_id += 1;
        state.waiters.push(Waiter { id, queue_types, gated: false, sleeping: false, woken: false });
        Registration { notifier: self, id }
    }

    fn with_waiter<T>(state: &mut State, id: u64, each: impl FnOnce(&mut Waiter) -> T) -> Option<T> {
        state.waiters.iter_mut().find(|waiter| waiter.id == id).map(each)
    }

    /// Sleeps until the generation moves past `seen`, `me` is woken, `until`, or `cancel` is
    /// cancelled; returns whether it was woken.
    fn sleep(&self, seen: u64, me: Option<u64>, until: Instant, cancel: Option<&Cancel>) -> bool {
        let mut state = lock(&self.state);
        let woken = |state: &mut State| {
            me.and_then(|id| Self::with_waiter(state, id, |waiter| std::mem::take(&mut waiter.woken))).unwrap_or(false)
        };
        let asleep = |state: &mut State, sleeping: bool| {
            if let Some(id) = me {
                Self::with_waiter(state, id, |waiter| waiter.sleeping = sleeping);
            }
        };
        asleep(&mut state, true);
        let outcome = loop {
            if state.generation != seen || woken(&mut state) {
                break true;
            }
            if cancel.is_some_and(Cancel::is_cancelled) {
                break false;
            }
            let now = Instant::now();
            if now >= until {
                break false;
            }
            state = self.rung.wait_timeout(state, until - now).unwrap_or_else(|p| p.into_inner()).0;
        };
        asleep(&mut state, false);
        outcome
    }
}

/// A waiting claim, known to its notifier until dropped. Dropped woken (its wake-up unused), it
/// hands the wake-up on to another claim of one of its queue types.
struct Registration<'n> {
    notifier: &'n Notifier,
    id: u64,
}

impl Registration<'_> {
    fn set_gated(&self, gated: bool) {
        Notifier::with_waiter(&mut lock(&self.notifier.state), self.id, |waiter| waiter.gated = gated);
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.notifier.state);
        let Some(index) = state.waiters.iter().position(|waiter| waiter.id == self.id) else { return };
        let waiter = state.waiters.remove(index);
        if waiter.woken
            && Notifier::wake(&mut state, 1, |other| other.queue_types.iter().any(|t| waiter.queue_types.contains(t)))
        {
            drop(state);
            self.notifier.rung.notify_all();
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
            let _state = lock(&notifier.state);
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
    /// One of its queue types is gated (paused or limited): a settled item may free a slot for
    /// it.
    pub gated: bool,
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
    queue_types: &[&str],
    timeout: Duration,
    cancel: Option<&Cancel>,
    mut attempt: impl FnMut(Cause) -> crate::Result<Attempt<T>>,
    mut changed: impl FnMut() -> crate::Result<bool>,
) -> crate::Result<Vec<T>> {
    let deadline = Instant::now().checked_add(timeout).unwrap_or_else(|| Instant::now() + LOOK_AGAIN * 1_000_000);
    if let Some(cancel) = cancel {
        *lock(&cancel.0.sleeping_on) = Some(Arc::downgrade(notifier));
    }
    let me = notifier.register(queue_types.iter().map(|t| t.to_string()).collect());
    let mut cause = Cause::Told;
    loop {
        let seen = notifier.generation();
        let found = attempt(cause)?;
        if !found.taken.is_empty() {
            return Ok(found.taken);
        }
        me.set_gated(found.gated);
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
            if notifier.sleep(seen, Some(me.id), slice, cancel) {
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
        assert!(notifier.sleep(seen, None, Instant::now() + Duration::from_secs(5), None));
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
                    &["q"],
                    Duration::from_secs(30),
                    Some(&cancel),
                    |_| Ok(Attempt { taken: Vec::new(), next_due: None, gated: false }),
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

    /// Waiting claims of `queue_types` in threads, each counting the attempts it made because
    /// it was told (woken), after its first; each returns when `release` is set and it is told.
    fn waiters(
        notifier: &Arc<Notifier>,
        queue_types: &'static [&'static str],
        gated: bool,
        count: usize,
        release: &Arc<AtomicBool>,
    ) -> (Arc<std::sync::atomic::AtomicUsize>, Vec<std::thread::JoinHandle<()>>) {
        let told = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads = (0..count)
            .map(|_| {
                let (notifier, told, release) = (Arc::clone(notifier), Arc::clone(&told), Arc::clone(release));
                std::thread::spawn(move || {
                    let mut first = true;
                    wait_for::<u32>(
                        &notifier,
                        queue_types,
                        Duration::from_secs(60),
                        None,
                        |cause| {
                            if cause == Cause::Told && !std::mem::take(&mut first) {
                                told.fetch_add(1, Ordering::SeqCst);
                            }
                            let taken = if release.load(Ordering::SeqCst) { vec![1] } else { Vec::new() };
                            Ok(Attempt { taken, next_due: None, gated })
                        },
                        || Ok(false),
                    )
                    .unwrap();
                })
            })
            .collect();
        (told, threads)
    }

    /// Waits until `count` claims sleep on `notifier`.
    fn until_asleep(notifier: &Notifier, count: usize) {
        let started = Instant::now();
        while lock(&notifier.state).waiters.iter().filter(|w| w.sleeping && !w.woken).count() < count {
            assert!(started.elapsed() < Duration::from_secs(30), "the claims never slept");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn told_settles(told: &std::sync::atomic::AtomicUsize, expected: usize) {
        let started = Instant::now();
        while told.load(Ordering::SeqCst) < expected && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Any further wake-up would have been sent by now: the ring returned before this.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(told.load(Ordering::SeqCst), expected);
    }

    #[test]
    fn an_enqueue_wakes_as_many_claims_as_it_has_items_not_the_herd() {
        let notifier = Notifier::shared(format!("test:{}", uuid::Uuid::new_v4()));
        let release = Arc::new(AtomicBool::new(false));
        let (told, threads) = waiters(&notifier, &["q"], false, 4, &release);
        let (other_told, other) = waiters(&notifier, &["other"], false, 2, &release);
        until_asleep(&notifier, 6);
        notifier.ring_work("q", 1);
        told_settles(&told, 1);
        notifier.ring_work("q", 2);
        told_settles(&told, 3);
        // A settled item concerns only the claims of gated queue types: none here.
        notifier.ring_slot();
        until_asleep(&notifier, 6);
        told_settles(&told, 3);
        assert_eq!(other_told.load(Ordering::SeqCst), 0, "claims of another queue type slept on");
        release.store(true, Ordering::SeqCst);
        notifier.ring();
        threads.into_iter().chain(other).for_each(|thread| thread.join().unwrap());
    }

    #[test]
    fn a_settled_item_wakes_the_claims_of_gated_queue_types() {
        let notifier = Notifier::shared(format!("test:{}", uuid::Uuid::new_v4()));
        let release = Arc::new(AtomicBool::new(false));
        let (gated_told, gated) = waiters(&notifier, &["limited"], true, 2, &release);
        let (open_told, open) = waiters(&notifier, &["open"], false, 2, &release);
        until_asleep(&notifier, 4);
        notifier.ring_slot();
        told_settles(&gated_told, 2);
        assert_eq!(open_told.load(Ordering::SeqCst), 0);
        release.store(true, Ordering::SeqCst);
        notifier.ring();
        gated.into_iter().chain(open).for_each(|thread| thread.join().unwrap());
    }

    #[test]
    fn a_wake_up_its_claim_did_not_use_goes_to_another() {
        let notifier = Notifier::shared(format!("test:{}", uuid::Uuid::new_v4()));
        // A claim that is claiming (not asleep) when an item comes is woken for it...
        let claiming = notifier.register(vec!["q".to_string()]);
        notifier.ring_work("q", 1);
        let release = Arc::new(AtomicBool::new(false));
        let (told, threads) = waiters(&notifier, &["q"], false, 1, &release);
        until_asleep(&notifier, 1);
        // ...and leaves with what it claimed before: the item is another claim's to take.
        drop(claiming);
        told_settles(&told, 1);
        release.store(true, Ordering::SeqCst);
        notifier.ring();
        threads.into_iter().for_each(|thread| thread.join().unwrap());
    }

    #[test]
    fn handles_of_one_database_share_a_notifier() {
        let key = format!("test:{}", uuid::Uuid::new_v4());
        let a = Notifier::shared(key.clone());
        let b = Notifier::shared(key);
        assert!(Arc::ptr_eq(&a, &b));
    }
}
