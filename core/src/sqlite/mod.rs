//! Connections to the SQLite file, their pragmas, and the paths every call takes: a write goes
//! to the single writer connection (`writer.rs`: one immediate transaction, shared with other
//! callers' writes by group commit); a read runs on a pooled reader connection (WAL lets readers
//! run beside the writer and see committed data only).
//!
//! Invariants kept here:
//! * every state change is exactly one transaction (see `writer.rs`), and no call returns success
//!   before the commit that holds it;
//! * writers of this process queue on the writer's mutex, writers of other processes on SQLite's
//!   lock with the busy timeout, and `BEGIN IMMEDIATE` takes the lock up front, so no transaction
//!   fails half-way on a lock upgrade;
//! * a read of several statements runs in one read transaction, so it sees one snapshot;
//! * a file is identified and checked before any pragma writes to it (`schema::check_file`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::location::Location;
use crate::options::{Durability, Options};

pub(crate) mod conn;
pub(crate) mod schema;
pub(crate) mod writer;

use writer::Writer;

/// Readers kept open for reuse; more may exist for a moment under load.
const IDLE_READERS: usize = 8;

/// Prepared statements kept per connection: more than the core has, so none is re-prepared.
const STATEMENT_CACHE: usize = 96;

pub(crate) struct Database {
    location: Location,
    durability: Durability,
    busy_timeout: std::time::Duration,
    /// Opened with `Options::read_only`: every connection is read-only and writes are refused.
    read_only: bool,
    /// Reads go through the writer's connection (when it is idle) instead of a pool of readers:
    /// a private in-memory database has no other connection, and a file opened `exclusive` admits
    /// none.
    single_connection: bool,
    vfs: Option<String>,
    writer: Writer,
    /// Set by `close`, read by readers without touching the writer's lock.
    closed: AtomicBool,
    readers: Mutex<Vec<Connection>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a transaction rolled it back as the stack unwound; the connection is sound.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn closed() -> Error {
    Error::database("the store is closed")
}

/// Runs a cached transaction-control statement (re-parsing `BEGIN` on every call costs more than
/// many a read).
fn control(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs `work` in one deferred read transaction on `conn`.
fn in_read_transaction<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    if !conn.is_autocommit() {
        // Inside a group's transaction (the writer's connection): already one snapshot.
        return work(conn);
    }
    control(conn, "BEGIN")?;
    let outcome = work(conn);
    let ended = control(conn, if outcome.is_ok() { "COMMIT" } else { "ROLLBACK" });
    let value = outcome?;
    ended?;
    Ok(value)
}

impl Database {
    pub(crate) fn open(location: Location, options: &Options) -> Result<Database> {
        let read_only = options.read_only;
        let mut writer = match &location {
            Location::Memory if read_only => {
                return Err(Error::invalid(
                    "a read-only store needs a file: an empty memory database has nothing to read",
                ))
            }
            Location::Memory => Connection::open_in_memory()?,
            Location::File(path) => open_file(path, read_only, options.vfs.as_deref())?,
            Location::Postgres(_) => return Err(Error::internal("a server's URL reached the SQLite engine")),
        };
        configure(&writer, options.busy_timeout)?;
        if options.exclusive && location != Location::Memory {
            // Before any read: the lock is taken at the first access and then kept.
            writer.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        }
        schema::check_file(&writer)?;
        if read_only {
            // Nothing may be written: no WAL switch, no migration. The file must already be a
            // jetstate database of this library's schema version.
            schema::check_current(&writer)?;
        } else {
            if let Location::File(_) = location {
                enable_wal(&writer)?;
            }
            let synchronous = match options.durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            };
            writer.pragma_update(None, "synchronous", synchronous)?;
            writer.pragma_update(None, "foreign_keys", "ON")?;
            writer.pragma_update(None, "temp_store", "MEMORY")?;
            schema::migrate(&mut writer, &options.clock)?;
        }
        let single_connection = location == Location::Memory || options.exclusive;
        Ok(Database {
            location,
            durability: options.durability,
            busy_timeout: options.busy_timeout,
            read_only,
            single_connection,
            vfs: options.vfs.clone(),
            writer: Writer::new(writer),
            closed: AtomicBool::new(false),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn location(&self) -> &Location {
        &self.location
    }

    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }

    pub(crate) fn write_stats(&self) -> writer::WriteStats {
        self.writer.stats()
    }

    /// Runs `calls` as one group of the writer (see `writer`): one transaction, one commit.
    pub(crate) fn group<T>(&self, calls: impl FnOnce() -> Result<T>) -> Result<T> {
        self.writer.group(calls)
    }

    /// Runs `work` as one atomic write: committed if it returns `Ok` (possibly in one commit with
    /// other callers' writes), without effect if it returns `Err`.
    pub(crate) fn write<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if self.is_closed() {
            return Err(closed());
        }
        if self.read_only {
            return Err(Error::database("the store was opened read-only: writes are refused"));
        }
        self.writer.write(work)
    }

    /// Runs `work` on a connection that sees committed data only: a pooled reader, or for a
    /// private in-memory database its one connection, once no batch is open. Inside a group,
    /// the group's own thread reads on the writer's connection, which sees the group's writes.
    fn with_reader<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if self.single_connection || self.writer.in_group() {
            return self.writer.with_idle_connection(work);
        }
        let conn = self.take_reader()?;
        let outcome = work(&conn);
        self.return_reader(conn);
        outcome
    }

    /// Runs `work`, a read of one statement (that statement is its own snapshot).
    pub(crate) fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.with_reader(work)
    }

    /// Runs `work`, a read of several statements, in one read transaction: one snapshot.
    pub(crate) fn read_consistent<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.with_reader(|conn| in_read_transaction(conn, work))
    }

    /// A watch of other connections' commits, for a waiting claim: a reader connection kept for
    /// the wait and its `PRAGMA data_version`. A private memory database has no other connection
    /// to watch.
    pub(crate) fn watch(&self) -> Result<Watch<'_>> {
        if self.single_connection {
            return Ok(Watch { db: self, conn: None, version: 0 });
        }
        let conn = self.take_reader()?;
        let version = data_version(&conn)?;
        Ok(Watch { db: self, conn: Some(conn), version })
    }

    fn take_reader(&self) -> Result<Connection> {
        if self.is_closed() {
            return Err(closed());
        }
        if let Some(conn) = lock(&self.readers).pop() {
            return Ok(conn);
        }
        let Location::File(path) = &self.location else {
            return Err(Error::internal("reader requested for an in-memory database"));
        };
        let conn = open_file(path, self.read_only, self.vfs.as_deref())?;
        configure(&conn, self.busy_timeout)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Readers never write: a bug that tried would fail loudly instead of bypassing the writer.
        conn.pragma_update(None, "query_only", "ON")?;
        Ok(conn)
    }

    fn return_reader(&self, conn: Connection) {
        let mut readers = lock(&self.readers);
        if readers.len() < IDLE_READERS && !self.is_closed() {
            readers.push(conn);
        }
    }

    /// Copies the database to a new file at `dest` with SQLite's online backup, reporting pages
    /// copied to `progress`. Every step runs in one read transaction opened before the first, so
    /// the copy is one consistent snapshot and, in WAL mode, writers go on meanwhile (steps outside
    /// a transaction would restart the copy at every concurrent write, and might never finish
    /// beside a busy engine). Refuses to overwrite an existing file; a failed copy removes its
    /// partial file. Returns the copy's size in bytes.
    pub(crate) fn backup(&self, dest: &Path, progress: &mut dyn FnMut(crate::transfer::Progress)) -> Result<u64> {
        /// Pages per step: small enough for a progress bar to move, large enough to cost nothing.
        const PAGES_PER_STEP: i32 = 1024;
        if dest.exists() {
            return Err(Error::invalid(format!(
                "backup destination {} exists; refusing to overwrite it",
                dest.display()
            )));
        }
        // A failed copy leaves nothing: the partial file, and the journal SQLite may have left
        // beside it, go (the destination did not exist before).
        let remove_partial = || {
            let _ = std::fs::remove_file(dest);
            let mut journal = dest.as_os_str().to_owned();
            journal.push("-journal");
            let _ = std::fs::remove_file(std::path::PathBuf::from(journal));
        };
        // Through the store's own VFS: the copy lives where the store's files do.
        let mut target = open_file(dest, false, self.vfs.as_deref()).inspect_err(|_| remove_partial())?;
        let copy = |source: &Connection| -> Result<u64> {
            // Opens the snapshot that every step below then reads (a deferred BEGIN reads nothing).
            source.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
            let page_size: i64 = source.query_row("PRAGMA page_size", [], |row| row.get(0))?;
            let page_size = u64::try_from(page_size).unwrap_or(0);
            let backup = rusqlite::backup::Backup::new(source, &mut target)?;
            let started = std::time::Instant::now();
            loop {
                let step = backup.step(PAGES_PER_STEP)?;
                let state = backup.progress();
                let total = u64::try_from(state.pagecount).unwrap_or(0);
                let done = total.saturating_sub(u64::try_from(state.remaining).unwrap_or(0));
                progress(crate::transfer::Progress { done, total });
                match step {
                    rusqlite::backup::StepResult::Done => return Ok(total * page_size),
                    rusqlite::backup::StepResult::More => {}
                    _ if started.elapsed() > self.busy_timeout => {
                        return Err(Error::database("backup: the source stayed locked past the busy timeout"))
                    }
                    _ => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        };
        match self.with_reader(|conn| in_read_transaction(conn, copy)) {
            Ok(bytes) => Ok(bytes),
            Err(err) => {
                drop(target);
                remove_partial();
                Err(err)
            }
        }
    }

    /// Closes every connection; later calls fail with "the store is closed". Idempotent.
    pub(crate) fn close(&self) -> Result<()> {
        // Refused before anything is marked closed: the group goes on, and its end commits.
        if self.writer.in_group() {
            return Err(Error::invalid("a store cannot be closed inside a group of calls"));
        }
        self.closed.store(true, Ordering::SeqCst);
        lock(&self.readers).clear();
        self.writer.close()
    }

    /// `PRAGMA integrity_check`: `["ok"]`, or the problems found.
    pub(crate) fn integrity_check(&self) -> Result<Vec<String>> {
        self.read(schema::integrity_check)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// See [`Database::watch`].
pub(crate) struct Watch<'d> {
    db: &'d Database,
    conn: Option<Connection>,
    version: i64,
}

impl Watch<'_> {
    /// Whether another connection (of any process) committed to the file since the last look.
    pub(crate) fn changed(&mut self) -> Result<bool> {
        let Some(conn) = &self.conn else { return Ok(false) };
        let version = data_version(conn)?;
        Ok(std::mem::replace(&mut self.version, version) != version)
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.db.return_reader(conn);
        }
    }
}

/// `PRAGMA data_version`: it changes when another connection commits to the file.
fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn.prepare_cached("PRAGMA data_version")?.query_row([], |row| row.get(0))?)
}

/// Settings every connection gets, writer and readers alike.
fn configure(conn: &Connection, busy_timeout: std::time::Duration) -> Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The query planner stability guarantee: a statement's plan is fixed when it is prepared.
    // Without it, SQLite 3.54 looks at bound values when it weighs a partial index or a
    // `LIMIT ?`, and then recompiles the statement at every new binding: the claim's seek was
    // re-prepared on every call. The core's plans are chosen (and pinned) up front anyway.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn open_file(path: &Path, read_only: bool, vfs: Option<&str>) -> Result<Connection> {
    // NO_MUTEX: each connection is used by one thread at a time, behind our own locks.
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let opened = match vfs {
        Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs),
        None => Connection::open_with_flags(path, flags),
    };
    opened.map_err(|err| {
        let err = Error::from(err);
        Error::database(format!("cannot open {}: {}", path.display(), err.message()))
    })
}

/// Switches a file to WAL. Changing the journal mode needs a moment of exclusive access, which a
/// second process opening the same new file may hold; SQLite does not wait on the busy handler
/// for it, so wait here, briefly.
fn enable_wal(conn: &Connection) -> Result<()> {
    let current: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    if current.eq_ignore_ascii_case("wal") {
        return Ok(());
    }
    let mut attempts = 0;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => return Err(Error::database(format!("SQLite refused WAL journal mode (got {mode})"))),
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == rusqlite::ErrorCode::DatabaseBusy && attempts < 200 =>
            {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(err) => return Err(err.into()),
        }
    }
}
