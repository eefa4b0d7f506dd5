//! The writer connection and group commit: several callers' writes share one transaction and one
//! commit (one fsync at `full` durability), each call still atomic and isolated.
//!
//! Protocol (all state under one mutex; callers run their own work on their own thread):
//! * A caller that finds no open batch **leads**: it begins an immediate transaction and runs its
//!   work directly in it. If its work fails, nothing else has joined yet: it rolls the whole
//!   transaction back and returns the error.
//! * While callers are waiting to write, the leader lets them **join** (up to [`MAX_BATCH`]): each
//!   joiner runs its work inside a savepoint of the open transaction; a joiner whose work fails
//!   rolls back to its savepoint (the batch keeps everyone else's work) and returns its error at
//!   once.
//! * Then the leader closes the batch and commits. Every member whose work succeeded returns only
//!   after that commit: with its result if the commit succeeded, with the commit's error (and
//!   nothing of the batch written) if it failed. No call is acknowledged before its commit is
//!   durable.
//!
//! On a full disk or an I/O error SQLite may roll the whole transaction back by itself; a batch
//! (or group) whose transaction is not whole any more is *broken*: rolled back, closed to new
//! members, and every member fails (see "The transaction's life" below). A failed commit is
//! fenced, so that a crash's WAL recovery cannot bring it back (`commit`).
//!
//! Works run one at a time, in the order they took the lock, inside one transaction: the outcome
//! is that of running the calls one after the other, so a claim still sees every earlier write.
//! A caller alone pays one mutex and no savepoint; batching happens only when callers queue up,
//! which is exactly when the commit is the bottleneck.
//!
//! A **group** is the same thing for calls made one after the other by one thread (a host with
//! a single thread, such as a browser worker, whose caller sent several calls at once): inside
//! [`Writer::group`], each write of that thread runs in a savepoint of the group's transaction
//! and returns at once, and its reads see the group's earlier writes; the group commits once at
//! its end. A write that returned inside a group is not yet durable: the caller of `group`
//! acknowledges none of them before the group's commit succeeded. Other threads' calls wait
//! for the group to end.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::ThreadId;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Most calls one commit carries; more would make the first caller wait too long.
pub(crate) const MAX_BATCH: usize = 64;

/// The outcome of one batch's commit, shared by its members.
type Outcome = Arc<OnceLock<Result<()>>>;

struct Batch {
    members: usize,
    /// False once the leader has started to commit.
    open: bool,
    outcome: Outcome,
    /// Set when the batch's transaction can no longer be committed whole: SQLite rolled it back
    /// after a member's error (it does so on a full disk or an I/O error), or undoing a failed
    /// member's savepoint failed. The transaction is then rolled back, nobody else joins, and
    /// every member's call fails with this cause.
    broken: Option<Error>,
}

struct State {
    /// `None` once closed.
    conn: Option<Connection>,
    batch: Option<Batch>,
    /// Threads blocked on `finished`. Counted under the lock, so that a batch that ends with
    /// nobody waiting skips the wake-up: Rust's condvar makes a futex call for every notify, even
    /// with no waiter, and a caller alone would pay one per write.
    finishing_waiters: usize,
    /// The open group, if any: never at the same time as a batch.
    group: Option<Group>,
}

struct Group {
    /// The thread whose calls run in the group.
    thread: ThreadId,
    /// Its writes that succeeded so far.
    members: usize,
    /// As [`Batch::broken`]: the group's transaction was lost; its later writes are refused
    /// and its end fails with this cause.
    broken: Option<Error>,
}

pub(crate) struct Writer {
    state: Mutex<State>,
    /// Signalled when a caller joined or gave up joining: only the leader waits on it.
    joined: Condvar,
    /// Signalled when a batch ends (committed or rolled back): its members and the callers that
    /// wait to lead the next batch wait on it. Two condvars, so that each join does not wake every
    /// member already waiting for the commit.
    finished: Condvar,
    /// Callers that want to write and have neither led nor joined yet.
    waiting: AtomicUsize,
    /// Whether a group is open (set and cleared under the lock): lets `in_group` answer the
    /// readers of a store with many connections without taking the lock, which a batch's
    /// leader holds while it writes.
    group_open: AtomicBool,
    /// Calls that committed, and the commits that carried them.
    calls: AtomicUsize,
    commits: AtomicUsize,
}

/// How many write calls the store committed, and in how many commits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteStats {
    pub calls: usize,
    pub commits: usize,
}

fn closed() -> Error {
    Error::database("the store is closed")
}

/// Runs a cached transaction-control statement (`BEGIN IMMEDIATE`, `COMMIT`, ...).
fn control(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

// ── The transaction's life, whatever SQLite does on a fault ─────────────────────────────────
//
// On a full disk or an I/O error SQLite may roll back the whole transaction by itself, not only
// the failed statement; a statement run afterwards would then begin a transaction of its own
// (a `SAVEPOINT` outside a transaction does) and commit it alone. So the writer checks that its
// transaction is still open wherever a call's effect depends on it, and a transaction that is
// not whole any more is rolled back and never committed.

/// Begins the writer's transaction. A transaction left open by a rollback that failed (nothing
/// of it was acknowledged) is rolled back first, so that the store goes on once a fault clears.
fn begin(conn: &Connection) -> Result<()> {
    if !conn.is_autocommit() {
        control(conn, "ROLLBACK")?;
    }
    control(conn, "BEGIN IMMEDIATE")
}

/// Rolls the writer's transaction back, if it is open. A failure leaves it for [`begin`].
fn abort(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = control(conn, "ROLLBACK");
    }
}

/// The error of a call whose transaction SQLite rolled back under it.
fn transaction_lost(cause: Option<&Error>) -> Error {
    let cause = cause.map_or_else(String::new, |err| format!(" ({err})"));
    Error::database(format!(
        "SQLite rolled back the transaction this call shared with others after an error{cause}; nothing of \
         this call was written"
    ))
}

/// Commits the writer's transaction. On failure nothing of it is kept, and the error says whether
/// that is certain.
///
/// A commit in WAL mode appends its frames to the WAL, the last one marked as the commit, and
/// then (at `full`) syncs. Each frame carries a checksum chained from the one before, and a
/// crash's recovery takes the frames up to the last commit frame whose chain holds. So:
/// * a write that failed (or a full disk) leaves no commit frame whole in that chain: nothing of
///   the transaction can come back;
/// * a sync that failed may leave every frame whole in the file, and although SQLite treats the
///   transaction as not committed, after a crash the recovery would find it: a call told it
///   failed would be there. One more commit, whose first frame goes where the failed one's began,
///   cuts that chain for good: the writer makes that *fence* commit at once (it rewrites the user
///   version with its own value; nothing changes). If the fence fails too, the outcome is unknown
///   until some later commit succeeds, and the error says so ([`Error::outcome_unknown`]).
fn commit(conn: &Connection) -> Result<()> {
    use rusqlite::ffi;
    let failure = match conn.prepare_cached("COMMIT").and_then(|mut statement| statement.execute([])) {
        Ok(_) => return Ok(()),
        Err(failure) => failure,
    };
    abort(conn);
    let extended = match &failure {
        rusqlite::Error::SqliteFailure(code, _) if code.code == rusqlite::ErrorCode::SystemIoFailure => {
            code.extended_code
        }
        // A constraint checked at commit, a lock, a full disk: nothing reached the WAL whole.
        _ => return Err(Error::from(failure)),
    };
    let err = Error::from(failure);
    match fence(conn) {
        Ok(()) => Err(err),
        Err(_) if extended == ffi::SQLITE_IOERR_WRITE || extended == ffi::SQLITE_IOERR_READ => Err(err),
        Err(fence_err) => Err(err.with_unknown_outcome(&format!(
            "the commit's data may have reached the file, and the store could not clear it ({fence_err}); \
             its calls may be found in the database once the process restarts"
        ))),
    }
}

/// The fence commit: one frame, at the place of the failed commit's first.
fn fence(conn: &Connection) -> Result<()> {
    begin(conn)?;
    let done = conn
        .query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
        .and_then(|version| conn.pragma_update(None, "user_version", version))
        .map_err(Error::from)
        .and_then(|()| control(conn, "COMMIT"));
    if done.is_err() {
        abort(conn);
    }
    done
}

/// How a call run in a savepoint of an open transaction (a batch's joiner, a group's write) ended.
enum InSavepoint<T> {
    /// It succeeded; its writes are part of the transaction.
    Kept(T),
    /// It failed or panicked; its savepoint was undone and the transaction is as it was before it.
    Undone(std::thread::Result<Result<T>>),
    /// The transaction is not whole any more (SQLite rolled it back, or undoing the savepoint
    /// failed): the call's own outcome (an error, or a panic), and the cause for the others.
    Broken(std::thread::Result<Result<T>>, Error),
}

/// The statements of one savepoint, written out: they run on every join, so none is formatted
/// per call.
struct Savepoint {
    begin: &'static str,
    release: &'static str,
    rollback: &'static str,
}

const JOINED: Savepoint =
    Savepoint { begin: "SAVEPOINT joined", release: "RELEASE joined", rollback: "ROLLBACK TO joined" };
const GROUPED: Savepoint =
    Savepoint { begin: "SAVEPOINT grouped", release: "RELEASE grouped", rollback: "ROLLBACK TO grouped" };

/// Runs `work` in savepoint `name` of the writer's open transaction.
fn in_savepoint<T>(conn: &Connection, name: &Savepoint, work: impl FnOnce(&Connection) -> Result<T>) -> InSavepoint<T> {
    if conn.is_autocommit() {
        // Never run a call outside the transaction it is meant to be part of.
        let lost = transaction_lost(None);
        return InSavepoint::Broken(Ok(Err(lost.clone())), lost);
    }
    if let Err(err) = control(conn, name.begin) {
        return match conn.is_autocommit() {
            false => InSavepoint::Undone(Ok(Err(err))),
            true => InSavepoint::Broken(Ok(Err(err.clone())), transaction_lost(Some(&err))),
        };
    }
    let outcome = guarded(conn, work);
    if let Ok(Ok(value)) = outcome {
        if conn.is_autocommit() {
            // A statement failed inside the work and SQLite rolled back; the work went on.
            let lost = transaction_lost(None);
            return InSavepoint::Broken(Ok(Err(lost.clone())), lost);
        }
        return match control(conn, name.release) {
            Ok(()) => InSavepoint::Kept(value),
            Err(err) => undo(conn, name, Ok(Err(err))),
        };
    }
    undo(conn, name, outcome)
}

/// Undoes savepoint `name` after its call failed with `outcome`.
fn undo<T>(conn: &Connection, name: &Savepoint, outcome: std::thread::Result<Result<T>>) -> InSavepoint<T> {
    let undone = control(conn, name.rollback).and_then(|()| control(conn, name.release));
    match undone {
        Ok(()) if !conn.is_autocommit() => InSavepoint::Undone(outcome),
        ended => {
            // The call's own error is what made SQLite roll back; the undo's is only its echo.
            let cause = match (&outcome, ended) {
                (Ok(Err(err)), _) => transaction_lost(Some(err)),
                (_, Err(err)) => transaction_lost(Some(&err)),
                _ => transaction_lost(None),
            };
            InSavepoint::Broken(outcome, cause)
        }
    }
}

/// Whether a group is open and the calling thread is its thread.
fn in_own_group(state: &State) -> bool {
    state.group.as_ref().is_some_and(|group| group.thread == std::thread::current().id())
}

/// Runs `work`, turning a panic into a value so that the transaction can be cleaned up first.
fn guarded<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> std::thread::Result<Result<T>> {
    catch_unwind(AssertUnwindSafe(|| work(conn)))
}

/// A call's own failure, returned to it (a panic resumes on its thread).
fn failed<T>(outcome: std::thread::Result<Result<T>>) -> Result<T> {
    match outcome {
        Ok(Err(err)) => Err(err),
        Err(panic) => resume_unwind(panic),
        Ok(Ok(_)) => Err(Error::internal("a call that succeeded was reported as failed")),
    }
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Writer {
        Writer {
            state: Mutex::new(State { conn: Some(conn), batch: None, finishing_waiters: 0, group: None }),
            joined: Condvar::new(),
            finished: Condvar::new(),
            waiting: AtomicUsize::new(0),
            group_open: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            commits: AtomicUsize::new(0),
        }
    }

    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats { calls: self.calls.load(Ordering::Relaxed), commits: self.commits.load(Ordering::Relaxed) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking work was caught before it could leave the state half-changed.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(condvar: &Condvar, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        condvar.wait(guard).unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a batch to end (or the writer to close), counted in `finishing_waiters`.
    fn wait_finished<'a>(&self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        state.finishing_waiters += 1;
        let mut state = Self::wait(&self.finished, state);
        state.finishing_waiters -= 1;
        state
    }

    /// Releases the lock after a change that ends a batch (or closes the writer), waking whoever
    /// waits for that. The count is read under the same lock as the change: a thread that starts
    /// waiting later sees the change first, and does not wait for it.
    fn release_finished(&self, state: MutexGuard<'_, State>) {
        let anyone = state.finishing_waiters > 0;
        drop(state);
        if anyone {
            self.finished.notify_all();
        }
    }

    /// Runs `work` as one atomic call: committed (possibly with other callers' calls) if it
    /// returns `Ok`, without effect if it returns `Err` or panics.
    pub(crate) fn write<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        // Counted before the lock: a leader holding it sees who queued up meanwhile.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut state = self.lock();
        if state.conn.is_some() && in_own_group(&state) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Self::write_in_group(state, work);
        }
        loop {
            if state.conn.is_none() {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                return Err(closed());
            }
            match &state.batch {
                _ if state.group.is_some() => state = self.wait_finished(state),
                None => return self.lead(state, work),
                Some(batch) if batch.open && batch.broken.is_none() && batch.members < MAX_BATCH => {
                    return self.join(state, work)
                }
                Some(_) => state = self.wait_finished(state),
            }
        }
    }

    /// A write of the group's own thread: in a savepoint of the group's transaction, kept if it
    /// succeeds (to be committed with the group), rolled back alone if it fails.
    fn write_in_group<T>(mut state: MutexGuard<'_, State>, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if let Some(cause) = state.group.as_ref().and_then(|group| group.broken.clone()) {
            return Err(cause);
        }
        let conn = state.conn.as_ref().expect("checked by the caller: the writer is open");
        match in_savepoint(conn, &GROUPED, work) {
            InSavepoint::Kept(value) => {
                if let Some(group) = state.group.as_mut() {
                    group.members += 1;
                }
                Ok(value)
            }
            InSavepoint::Undone(outcome) => {
                drop(state);
                failed(outcome)
            }
            InSavepoint::Broken(outcome, cause) => {
                abort(conn);
                if let Some(group) = state.group.as_mut() {
                    group.broken = Some(cause);
                }
                drop(state);
                failed(outcome)
            }
        }
    }

    /// Runs `calls` as a group (see the module's comment): every write this thread makes in it
    /// shares one transaction and one commit. `Ok` with what `calls` returned once the group is
    /// committed; if `calls` returns an error or panics, or the commit fails, nothing of the group
    /// is written and the error is returned. No write of the group may be acknowledged unless
    /// the outcome is `Ok`. A group inside a group is part of the outer one.
    pub(crate) fn group<T>(&self, calls: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut state = self.lock();
        loop {
            if state.conn.is_none() || in_own_group(&state) {
                // Closed (each call says so), or nested (the outer group commits).
                drop(state);
                return calls();
            }
            if state.batch.is_none() && state.group.is_none() {
                break;
            }
            state = self.wait_finished(state);
        }
        let conn = state.conn.as_ref().expect("checked above: the writer is open");
        begin(conn)?;
        state.group = Some(Group { thread: std::thread::current().id(), members: 0, broken: None });
        self.group_open.store(true, Ordering::SeqCst);
        drop(state);
        let outcome = catch_unwind(AssertUnwindSafe(calls));
        let mut state = self.lock();
        let group = state.group.take();
        let (members, broken) = group.map_or((0, None), |group| (group.members, group.broken));
        self.group_open.store(false, Ordering::SeqCst);
        let conn = state.conn.as_ref().expect("the writer is not closed while a group is open");
        let ended = match (&outcome, broken) {
            (Ok(Ok(_)), None) if conn.is_autocommit() => Err(transaction_lost(None)),
            (Ok(Ok(_)), None) => commit(conn),
            (_, broken) => {
                abort(conn);
                broken.map_or(Ok(()), Err)
            }
        };
        if matches!(outcome, Ok(Ok(_))) && ended.is_ok() && members > 0 {
            self.calls.fetch_add(members, Ordering::Relaxed);
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        self.release_finished(state);
        match outcome {
            Ok(Ok(value)) => ended.map(|()| value),
            Ok(Err(err)) => Err(ended.err().unwrap_or(err)),
            Err(panic) => resume_unwind(panic),
        }
    }

    fn lead<T>(&self, mut state: MutexGuard<'_, State>, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let conn = state.conn.as_ref().expect("checked by the caller: the writer is open");
        if let Err(err) = begin(conn) {
            self.release_finished(state);
            return Err(err);
        }
        let outcome: Outcome = Arc::new(OnceLock::new());
        let result = match guarded(conn, work) {
            Ok(Ok(value)) if !conn.is_autocommit() => value,
            failure => {
                // Nobody has joined yet: the transaction holds only this call's writes.
                abort(conn);
                self.release_finished(state);
                return match failure {
                    // A statement failed inside the work and SQLite rolled back; the work went on.
                    Ok(Ok(_)) => Err(transaction_lost(None)),
                    failure => failed(failure),
                };
            }
        };
        state.batch = Some(Batch { members: 1, open: true, outcome: Arc::clone(&outcome), broken: None });
        // Let the callers that queued up meanwhile join this transaction.
        while self.waiting.load(Ordering::SeqCst) > 0
            && state.batch.as_ref().is_some_and(|b| b.members < MAX_BATCH && b.broken.is_none())
        {
            state = Self::wait(&self.joined, state);
        }
        let broken = state.batch.as_mut().and_then(|batch| {
            batch.open = false;
            batch.broken.take()
        });
        let conn = state.conn.as_ref().expect("the writer is not closed while a batch is open");
        let committed = match broken {
            Some(cause) => {
                abort(conn);
                Err(cause)
            }
            None => commit(conn),
        };
        let _ = outcome.set(committed.clone());
        if committed.is_ok() {
            let members = state.batch.as_ref().map_or(1, |batch| batch.members);
            self.calls.fetch_add(members, Ordering::Relaxed);
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        state.batch = None;
        self.release_finished(state);
        committed.map(|()| result)
    }

    fn join<T>(&self, mut state: MutexGuard<'_, State>, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let conn = state.conn.as_ref().expect("checked by the caller: the writer is open");
        let value = match in_savepoint(conn, &JOINED, work) {
            InSavepoint::Kept(value) => value,
            InSavepoint::Undone(outcome) => {
                drop(state);
                self.joined.notify_one();
                return failed(outcome);
            }
            InSavepoint::Broken(outcome, cause) => {
                // The leader's and earlier members' writes are gone with the transaction: the
                // batch ends without a commit, and each member learns it failed.
                abort(conn);
                if let Some(batch) = state.batch.as_mut() {
                    batch.broken = Some(cause);
                }
                drop(state);
                self.joined.notify_one();
                return failed(outcome);
            }
        };
        let batch = state.batch.as_mut().expect("a joined batch stays until its leader commits");
        batch.members += 1;
        let outcome = Arc::clone(&batch.outcome);
        self.joined.notify_one();
        while outcome.get().is_none() {
            state = self.wait_finished(state);
        }
        drop(state);
        outcome.get().cloned().expect("checked above").map(|()| value)
    }

    /// Runs `work` with the writer connection outside any batch (for reads of a store with one
    /// connection: in memory, or a file opened exclusive): waits until no batch is open, so that it
    /// never sees writes that are not committed yet.
    /// Inside a group, its own thread's reads run in the group's transaction: they see its
    /// earlier writes, as the calls would one after the other.
    pub(crate) fn with_idle_connection<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut state = self.lock();
        while state.batch.is_some() || (state.group.is_some() && !in_own_group(&state)) {
            state = self.wait_finished(state);
        }
        let conn = state.conn.as_ref().ok_or_else(closed)?;
        match guarded(conn, work) {
            Ok(result) => result,
            Err(panic) => {
                drop(state);
                resume_unwind(panic)
            }
        }
    }

    /// Whether the calling thread has a group open (its reads then go to this connection).
    pub(crate) fn in_group(&self) -> bool {
        self.group_open.load(Ordering::SeqCst) && in_own_group(&self.lock())
    }

    /// Closes the connection once no batch or group is open. Idempotent. Refused inside a group
    /// (the group's end needs the connection).
    pub(crate) fn close(&self) -> Result<()> {
        let mut state = self.lock();
        if in_own_group(&state) {
            return Err(Error::invalid("a store cannot be closed inside a group of calls"));
        }
        while state.batch.is_some() || state.group.is_some() {
            state = self.wait_finished(state);
        }
        let conn = state.conn.take();
        self.release_finished(state);
        match conn {
            Some(conn) => conn.close().map_err(|(_, err)| Error::from(err)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    /// A member's work, boxed so that members of one batch can differ.
    type Work = Box<dyn FnOnce(&Connection) -> Result<()> + Send>;

    fn writer() -> Arc<Writer> {
        let conn = Connection::open_in_memory().expect("memory db");
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .expect("schema");
        Arc::new(Writer::new(conn))
    }

    fn insert(conn: &Connection, k: i64) -> Result<()> {
        conn.execute("INSERT INTO t (k, v) VALUES (?1, 'x')", [k])?;
        Ok(())
    }

    fn count(writer: &Writer, table: &str) -> i64 {
        writer
            .with_idle_connection(
                |conn| Ok(conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?),
            )
            .expect("count")
    }

    /// Runs `members` concurrently with a leader whose work waits until all of them queued, so
    /// that they all join the leader's batch. Returns each member's outcome (a panic as `None`).
    fn batch<F>(writer: &Arc<Writer>, members: Vec<F>) -> Vec<Option<Result<()>>>
    where
        F: FnOnce(&Connection) -> Result<()> + Send + 'static,
    {
        let count = members.len();
        let started = Arc::new(Barrier::new(count + 1));
        let leader = {
            let (writer, started) = (Arc::clone(writer), Arc::clone(&started));
            std::thread::spawn(move || {
                writer.write(|conn| {
                    started.wait();
                    while writer.waiting.load(Ordering::SeqCst) < count {
                        std::thread::yield_now();
                    }
                    insert(conn, 0)
                })
            })
        };
        let handles: Vec<_> = members
            .into_iter()
            .map(|work| {
                let (writer, started) = (Arc::clone(writer), Arc::clone(&started));
                std::thread::spawn(move || {
                    started.wait();
                    writer.write(work)
                })
            })
            .collect();
        let outcomes = handles.into_iter().map(|h| h.join().ok()).collect();
        leader.join().expect("leader").expect("leader's work commits");
        outcomes
    }

    #[test]
    fn queued_callers_share_one_commit() {
        let writer = writer();
        let members: Vec<_> = (1..=10).map(|k| move |conn: &Connection| insert(conn, k)).collect();
        let outcomes = batch(&writer, members);
        assert!(outcomes.iter().all(|o| matches!(o, Some(Ok(())))), "{outcomes:?}");
        assert_eq!(count(&writer, "t"), 11);
        assert_eq!(writer.stats(), WriteStats { calls: 11, commits: 1 });
    }

    #[test]
    fn a_failing_member_leaves_the_others_committed() {
        let writer = writer();
        let members: Vec<Work> = vec![
            Box::new(|conn| insert(conn, 1)),
            Box::new(|conn| {
                insert(conn, 2)?;
                insert(conn, 2) // a duplicate key: this call fails after writing row 2
            }),
            Box::new(|conn| insert(conn, 3)),
        ];
        let outcomes = batch(&writer, members.into_iter().map(|work| move |conn: &Connection| work(conn)).collect());
        assert!(matches!(outcomes[0], Some(Ok(()))));
        assert!(matches!(&outcomes[1], Some(Err(err)) if err.kind() == crate::ErrorKind::Conflict), "{outcomes:?}");
        assert!(matches!(outcomes[2], Some(Ok(()))));
        let keys: Vec<i64> = writer
            .with_idle_connection(|conn| {
                let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k")?;
                let keys = stmt.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
                Ok(keys)
            })
            .expect("keys");
        assert_eq!(keys, vec![0, 1, 3], "the failed call's row 2 must be gone, the others kept");
    }

    #[test]
    fn a_panicking_member_panics_on_its_own_thread_and_writes_nothing() {
        let writer = writer();
        let members: Vec<Work> = vec![
            Box::new(|conn| insert(conn, 1)),
            Box::new(|conn| {
                insert(conn, 2)?;
                panic!("a bug in the caller's work")
            }),
            Box::new(|conn| insert(conn, 3)),
        ];
        let outcomes = batch(&writer, members.into_iter().map(|work| move |conn: &Connection| work(conn)).collect());
        assert!(matches!(outcomes[0], Some(Ok(()))));
        assert!(outcomes[1].is_none(), "the panic must reach the caller that caused it");
        assert!(matches!(outcomes[2], Some(Ok(()))));
        assert_eq!(count(&writer, "t"), 3);
        writer.write(|conn| insert(conn, 4)).expect("the writer is usable after a panic");
    }

    #[test]
    fn a_failed_commit_fails_every_member_and_writes_nothing() {
        let writer = writer();
        let members: Vec<Work> = vec![
            Box::new(|conn| insert(conn, 1)),
            // A deferred foreign key violation: the statement succeeds, the COMMIT fails.
            Box::new(|conn| {
                conn.execute("INSERT INTO child (parent) VALUES (42)", [])?;
                Ok(())
            }),
        ];
        let count_before = count(&writer, "t");
        let started = Arc::new(Barrier::new(3));
        let leader = {
            let (writer, started) = (Arc::clone(&writer), Arc::clone(&started));
            std::thread::spawn(move || {
                writer.write(|conn| {
                    started.wait();
                    while writer.waiting.load(Ordering::SeqCst) < 2 {
                        std::thread::yield_now();
                    }
                    insert(conn, 0)
                })
            })
        };
        let handles: Vec<_> = members
            .into_iter()
            .map(|work| {
                let (writer, started) = (Arc::clone(&writer), Arc::clone(&started));
                std::thread::spawn(move || {
                    started.wait();
                    writer.write(work)
                })
            })
            .collect();
        for handle in handles {
            assert!(handle.join().expect("member").is_err(), "no member may be acknowledged");
        }
        assert!(leader.join().expect("leader").is_err(), "the leader's call is not acknowledged either");
        assert_eq!(count(&writer, "t"), count_before);
        assert_eq!(count(&writer, "child"), 0);
        writer.write(|conn| insert(conn, 7)).expect("the writer is usable after a failed commit");
    }

    fn keys(writer: &Writer) -> Vec<i64> {
        writer
            .with_idle_connection(|conn| {
                let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k")?;
                let keys = stmt.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
                Ok(keys)
            })
            .expect("keys")
    }

    #[test]
    fn a_group_commits_its_calls_once_and_a_failing_call_alone_is_undone() {
        let writer = writer();
        let seen_inside = writer
            .group(|| {
                writer.write(|conn| insert(conn, 1)).expect("first call");
                let failed = writer.write(|conn| {
                    insert(conn, 2)?;
                    insert(conn, 2) // a duplicate key: this call fails after writing row 2
                });
                assert_eq!(failed.unwrap_err().kind(), crate::ErrorKind::Conflict);
                writer.write(|conn| insert(conn, 3)).expect("third call");
                // The group's own reads see its writes, as calls made one after the other would.
                Ok(keys(&writer))
            })
            .expect("the group commits");
        assert_eq!(seen_inside, vec![1, 3]);
        assert_eq!(keys(&writer), vec![1, 3]);
        assert_eq!(writer.stats(), WriteStats { calls: 2, commits: 1 });
    }

    #[test]
    fn a_group_that_fails_or_whose_commit_fails_writes_nothing() {
        let writer = writer();
        let failed = writer.group(|| {
            writer.write(|conn| insert(conn, 1))?;
            Err::<(), _>(Error::invalid("the host gave up on this group"))
        });
        assert_eq!(failed.unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
        let failed = writer.group(|| {
            writer.write(|conn| insert(conn, 2))?;
            // A deferred foreign key violation: the statement succeeds, the COMMIT fails.
            writer.write(|conn| {
                conn.execute("INSERT INTO child (parent) VALUES (42)", [])?;
                Ok(())
            })
        });
        assert!(failed.is_err(), "the commit must fail");
        assert_eq!(keys(&writer), Vec::<i64>::new());
        assert_eq!(count(&writer, "child"), 0);
        assert_eq!(writer.stats(), WriteStats { calls: 0, commits: 0 });
        writer.group(|| writer.write(|conn| insert(conn, 7))).expect("the writer is usable after failed groups");
        assert_eq!(keys(&writer), vec![7]);
    }

    #[test]
    fn another_threads_write_waits_for_the_group_and_is_not_part_of_it() {
        let writer = writer();
        let mut other = None;
        let given_up = writer.group(|| {
            writer.write(|conn| insert(conn, 1))?;
            let spawned = {
                let writer = Arc::clone(&writer);
                std::thread::spawn(move || writer.write(|conn| insert(conn, 9)))
            };
            while writer.waiting.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            other = Some(spawned);
            // The group is given up: had the other thread's write joined it, it would go too.
            Err::<(), _>(Error::invalid("given up"))
        });
        assert!(given_up.is_err());
        other.expect("spawned").join().expect("other thread").expect("its write commits after the group");
        assert_eq!(keys(&writer), vec![9]);
    }

    #[test]
    fn a_store_is_not_closed_inside_a_group() {
        let writer = writer();
        let refused = writer.group(|| writer.close());
        assert_eq!(refused.unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
        writer.close().expect("closes after the group");
    }

    #[test]
    fn a_closed_writer_refuses_writes() {
        let writer = writer();
        writer.close().expect("closes");
        assert_eq!(writer.write(|conn| insert(conn, 1)).unwrap_err().kind(), crate::ErrorKind::Database);
        writer.close().expect("closing twice is fine");
    }
}
