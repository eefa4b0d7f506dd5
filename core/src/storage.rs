//! Connections to the SQLite file, their pragmas, and the two paths every call takes: a write is
//! one `BEGIN IMMEDIATE` transaction on the single writer connection; a read is one deferred
//! transaction on a pooled reader connection (WAL lets readers run beside the writer and see a
//! consistent snapshot).
//!
//! Invariants kept here:
//! * every state change is exactly one transaction: committed when the closure returns `Ok`,
//!   rolled back when it returns `Err` or panics (rusqlite's `Transaction` rolls back on drop);
//! * writers of this process queue on one mutex, writers of other processes on SQLite's lock with
//!   the busy timeout, and `BEGIN IMMEDIATE` takes the lock up front, so no transaction fails
//!   half-way on a lock upgrade;
//! * a file is identified and checked before any pragma writes to it (`schema::check_file`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
use crate::options::{Durability, Options};
use crate::schema;

/// Readers kept open for reuse; more may exist for a moment under load.
const IDLE_READERS: usize = 8;

/// Where a store's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    /// A private in-memory database, gone when the store is dropped.
    Memory,
}

impl Location {
    /// `":memory:"` (or an empty path) means memory; anything else is a file path.
    pub fn from_path(path: impl AsRef<Path>) -> Location {
        let path = path.as_ref();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            Location::Memory
        } else {
            Location::File(path.to_path_buf())
        }
    }
}

pub(crate) struct Database {
    location: Location,
    durability: Durability,
    busy_timeout: std::time::Duration,
    /// `None` once the store is closed.
    writer: Mutex<Option<Connection>>,
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

impl Database {
    pub(crate) fn open(location: Location, options: &Options) -> Result<Database> {
        let mut writer = match &location {
            Location::Memory => Connection::open_in_memory()?,
            Location::File(path) => open_file(path)?,
        };
        writer.busy_timeout(options.busy_timeout)?;
        schema::check_file(&writer)?;
        if let Location::File(_) = location {
            enable_wal(&writer)?;
        }
        let synchronous = match options.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        writer.pragma_update(None, "synchronous", synchronous)?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut writer, &options.clock)?;
        Ok(Database {
            location,
            durability: options.durability,
            busy_timeout: options.busy_timeout,
            writer: Mutex::new(Some(writer)),
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

    /// Runs `work` in one immediate transaction on the writer: committed if it returns `Ok`,
    /// rolled back otherwise.
    pub(crate) fn write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut writer = lock(&self.writer);
        let conn = writer.as_mut().ok_or_else(closed)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `work` in one read transaction, so that several queries see one snapshot.
    pub(crate) fn read<T>(&self, work: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        if self.location == Location::Memory {
            // A private in-memory database has one connection; reads share the writer's.
            let mut writer = lock(&self.writer);
            let conn = writer.as_mut().ok_or_else(closed)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            return work(&tx);
        }
        let mut conn = self.take_reader()?;
        let outcome = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            work(&tx)
        })();
        self.return_reader(conn);
        outcome
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
        let conn = open_file(path)?;
        conn.busy_timeout(self.busy_timeout)?;
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

    /// Closes every connection; later calls fail with "the store is closed". Idempotent.
    pub(crate) fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::SeqCst);
        let writer = lock(&self.writer).take();
        lock(&self.readers).clear();
        if let Some(conn) = writer {
            conn.close().map_err(|(_, err)| Error::from(err))?;
        }
        Ok(())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

fn open_file(path: &Path) -> Result<Connection> {
    // NO_MUTEX: each connection is used by one thread at a time, behind our own locks.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(path, flags).map_err(|err| {
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

/// A JSON value bound as its serialized text, whatever its type. (rusqlite's own binding of a
/// `serde_json::Value` stores null as SQL NULL and numbers as SQL numbers, which breaks NOT NULL
/// columns and, through TEXT affinity, rounds floats to 15 digits.) Reading back parses the text.
pub(crate) struct JsonText<'a>(pub &'a serde_json::Value);

impl rusqlite::ToSql for JsonText<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        serde_json::to_string(self.0)
            .map(rusqlite::types::ToSqlOutput::from)
            .map_err(|err| rusqlite::Error::ToSqlConversionFailure(err.into()))
    }
}
