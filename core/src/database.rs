//! The engine a store runs on, chosen by its location: SQLite for a file or memory, PostgreSQL
//! for a server's URL. `Store` calls this and nothing below it; each engine keeps its own
//! invariants (`sqlite/mod.rs`, `postgres/mod.rs`).

use std::path::Path;

use crate::error::{Error, Result};
use crate::location::Location;
use crate::options::{Durability, Options};
use crate::sql::Conn;
use crate::sqlite::writer::WriteStats;
use crate::transfer::Progress;

/// A waiting claim's view of other processes' writes ([`Database::watch`]).
pub(crate) enum Watch<'d> {
    Sqlite(crate::sqlite::Watch<'d>),
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Nothing,
}

impl Watch<'_> {
    /// Whether another connection committed since the last look.
    pub(crate) fn changed(&mut self) -> Result<bool> {
        match self {
            Watch::Sqlite(watch) => watch.changed(),
            Watch::Nothing => Ok(false),
        }
    }
}

pub(crate) enum Database {
    Sqlite(crate::sqlite::Database),
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::Database),
}

/// Why a build without the PostgreSQL engine refuses a server's URL.
#[cfg(not(feature = "postgres"))]
fn no_server_engine() -> Error {
    if cfg!(target_family = "wasm") {
        Error::invalid(
            "a browser store lives in the page's origin (OPFS), not on a PostgreSQL server: a page cannot open a \
             database connection; reach the server from a server-side surface (Rust, Python, Node) instead",
        )
    } else {
        Error::invalid(
            "this build of jetstate has no PostgreSQL engine: enable the jetstate crate's `postgres` feature",
        )
    }
}

impl Database {
    pub(crate) fn open(location: Location, options: &Options) -> Result<Database> {
        match location {
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => crate::postgres::Database::open(url, options).map(Database::Postgres),
            #[cfg(not(feature = "postgres"))]
            Location::Postgres(_) => Err(no_server_engine()),
            location => crate::sqlite::Database::open(location, options).map(Database::Sqlite),
        }
    }

    /// One atomic write; `work` gets the connection and the time of the call. It may be called
    /// again if the engine retries a transient failure, so it keeps no state across calls.
    pub(crate) fn write<T>(
        &self,
        clock: &crate::Clock,
        mut work: impl FnMut(&dyn Conn, i64) -> Result<T>,
    ) -> Result<T> {
        match self {
            // Under the writer's lock: times follow the order of commits.
            Database::Sqlite(db) => db.write(|conn| work(conn, clock.now_micros())),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => {
                let now = db.now_micros()?;
                db.write(|conn| work(conn, now))
            }
        }
    }

    /// [`Database::write`] for a rule that writes with one statement: its reads, before or after,
    /// need no lock held past themselves and see what READ COMMITTED would show them inside a
    /// transaction (each statement its own snapshot), and a refusal after the write comes from a
    /// write that changed nothing. PostgreSQL then runs each statement as its own transaction
    /// (one round trip for the write, not two); SQLite's writer commits it as any other write.
    pub(crate) fn write_one<T>(
        &self,
        clock: &crate::Clock,
        work: impl FnMut(&dyn Conn, i64) -> Result<T>,
    ) -> Result<T> {
        match self {
            Database::Sqlite(_) => self.write(clock, work),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => {
                let mut work = work;
                let now = db.now_micros()?;
                match db.write_one(|conn| work(conn, now)) {
                    // The rule found, before writing, that it must hold a lock across statements.
                    Err(err) if err.is_needs_transaction() => db.write(|conn| work(conn, now)),
                    outcome => outcome,
                }
            }
        }
    }

    pub(crate) fn read<T>(&self, mut work: impl FnMut(&dyn Conn) -> Result<T>) -> Result<T> {
        match self {
            Database::Sqlite(db) => db.read(|conn| work(conn)),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.read(work),
        }
    }

    pub(crate) fn read_consistent<T>(&self, mut work: impl FnMut(&dyn Conn) -> Result<T>) -> Result<T> {
        match self {
            Database::Sqlite(db) => db.read_consistent(|conn| work(conn)),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.read_consistent(work),
        }
    }

    /// The time of a call outside a write (a summary's, an export's).
    pub(crate) fn now_micros(&self, clock: &crate::Clock) -> Result<i64> {
        match self {
            Database::Sqlite(_) => Ok(clock.now_micros()),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.now_micros(),
        }
    }

    pub(crate) fn group<T>(&self, calls: impl FnOnce() -> Result<T>) -> Result<T> {
        match self {
            Database::Sqlite(db) => db.group(calls),
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => Err(Error::invalid(
                "groups of calls share one SQLite commit (the browser's worker); on PostgreSQL each call commits on \
                 its own and concurrent calls run side by side",
            )),
        }
    }

    pub(crate) fn backup(&self, dest: &Path, progress: &mut dyn FnMut(Progress)) -> Result<u64> {
        match self {
            Database::Sqlite(db) => db.backup(dest, progress),
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => Err(Error::invalid(
                "backup copies a SQLite file; a PostgreSQL store is backed up with the server's tools (pg_dump, \
                 pg_basebackup), or moved with `jetstate export` and `jetstate import`",
            )),
        }
    }

    pub(crate) fn integrity_check(&self) -> Result<Vec<String>> {
        match self {
            Database::Sqlite(db) => db.integrity_check(),
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => Err(Error::invalid(
                "integrity_check is SQLite's check of a file; on PostgreSQL use the server's amcheck (pg_amcheck)",
            )),
        }
    }

    /// The same text for every handle of this process that opens the same database (the key of
    /// its waiting claims' notifier): a file's canonical path, a server's URL and schema; a
    /// private memory database is its own.
    pub(crate) fn identity(&self) -> String {
        match self {
            Database::Sqlite(db) => match db.location() {
                Location::File(path) => {
                    format!("sqlite:{}", std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()).display())
                }
                _ => format!("memory:{:p}", db as *const _),
            },
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.identity(),
        }
    }

    /// What a waiting claim polls to see other processes' writes (see `queue/wait.rs`): SQLite's
    /// data version on a connection of its own; on PostgreSQL nothing to poll, once the listener
    /// that rings `notifier` on another process's enqueue is running.
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    pub(crate) fn watch(&self, notifier: &std::sync::Arc<crate::queue::wait::Notifier>) -> Result<Watch<'_>> {
        match self {
            Database::Sqlite(db) => db.watch().map(Watch::Sqlite),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => {
                db.listen(notifier)?;
                Ok(Watch::Nothing)
            }
        }
    }

    /// Tells other processes' waiting claims that work may be claimable (PostgreSQL's NOTIFY; on
    /// SQLite they see the commit itself). Best effort: a waiting claim looks again on its own
    /// within `wait::LOOK_AGAIN` anyway.
    pub(crate) fn notify_others(&self) {
        match self {
            Database::Sqlite(_) => {}
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.notify_others(),
        }
    }

    pub(crate) fn location(&self) -> &Location {
        match self {
            Database::Sqlite(db) => db.location(),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.location(),
        }
    }

    pub(crate) fn durability(&self) -> Durability {
        match self {
            Database::Sqlite(db) => db.durability(),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.durability(),
        }
    }

    pub(crate) fn write_stats(&self) -> WriteStats {
        match self {
            Database::Sqlite(db) => db.write_stats(),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.write_stats(),
        }
    }

    pub(crate) fn close(&self) -> Result<()> {
        match self {
            Database::Sqlite(db) => db.close(),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.close(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Database::Sqlite(db) => db.is_closed(),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => db.is_closed(),
        }
    }
}
