//! The PostgreSQL engine: a pool of connections to one server, the transaction each call runs in,
//! the server's clock, and the classification of the server's errors.
//!
//! Invariants kept here:
//! * every state change is exactly one transaction (READ COMMITTED: the rules' statements take
//!   the row locks they need, see `queue.rs` and `executions.rs`), and no call returns success
//!   before its COMMIT did; a rule that writes with one statement runs it as its own transaction
//!   (`write_one`: one round trip), any other inside BEGIN ... COMMIT;
//! * a read of several statements runs in one REPEATABLE READ, READ ONLY transaction: one snapshot;
//!   a read of one statement runs alone, as its own transaction;
//! * a transient failure (a serialization failure, a deadlock, a connection lost before COMMIT) is
//!   rolled back and the call made again, a bounded number of times; a connection found broken
//!   is dropped, and the next call opens another, without the caller reopening the store;
//! * a call whose commit was sent but not answered (its COMMIT, or a one-statement write; the
//!   server or the network died) fails with a Database error that says its outcome is unknown
//!   ([`Error::outcome_unknown`]);
//! * with the system clock, "now" is the server's clock (lease expiry, backoff and record times
//!   judged by one clock, whatever the hosts' clocks say);
//! * the URL's password appears in no error, log or debug output (`ServerUrl` redacts it).

pub(crate) mod conn;
mod driver;
pub(crate) mod schema;
mod tls;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;

use crate::clock::Clock;
use crate::error::{Constraint, Error, ErrorKind, Result};
use crate::location::{Location, ServerUrl};
use crate::options::{Durability, Options};
use crate::sql::Conn;
use crate::sqlite::writer::WriteStats;
use conn::{Call, Connection, InTransaction};

/// Connections kept open for reuse; more may exist for a moment under load.
const IDLE_CONNECTIONS: usize = 8;

/// How many times a call is made in all when it fails transiently.
const ATTEMPTS: u32 = 6;

/// How long the server's time, once read, is carried forward on this host's monotonic clock
/// before it is read again.
const CLOCK_REFRESH: Duration = Duration::from_secs(2);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn closed() -> Error {
    Error::database("the store is closed")
}

/// A server's error as the core's: constraint violations by SQLSTATE (a unique key: Conflict),
/// transient failures marked retryable, a lost connection said as such. Never the message text.
pub(crate) fn error(err: tokio_postgres::Error) -> Error {
    if let Some(db) = err.as_db_error() {
        let detail = db.message();
        let code = db.code();
        let constraint = match *code {
            SqlState::UNIQUE_VIOLATION => Some(Constraint::Unique),
            SqlState::FOREIGN_KEY_VIOLATION => Some(Constraint::ForeignKey),
            SqlState::CHECK_VIOLATION => Some(Constraint::Check),
            SqlState::NOT_NULL_VIOLATION => Some(Constraint::NotNull),
            _ => None,
        };
        return match constraint {
            Some(Constraint::Unique) => {
                Error::conflict(format!("record already exists ({detail})")).with_constraint(Constraint::Unique)
            }
            Some(constraint) => Error::database(format!("constraint violated: {detail}")).with_constraint(constraint),
            None if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
                Error::database(format!("the server aborted the transaction ({}): {detail}", code.code())).with_retry()
            }
            None if *code == SqlState::LOCK_NOT_AVAILABLE || *code == SqlState::QUERY_CANCELED => {
                Error::database(format!("database is busy: a lock was held past the busy timeout ({detail})"))
            }
            None if *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW =>
            {
                Error::database(format!("the server is shutting down or restarting ({detail})")).with_retry()
            }
            // SQLite keeps such text; PostgreSQL's text type cannot hold the NUL character.
            None if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE || *code == SqlState::UNTRANSLATABLE_CHARACTER => {
                Error::invalid(format!("text refused by PostgreSQL: {detail} (its text cannot hold NUL characters)"))
            }
            None if *code == SqlState::DISK_FULL => Error::database(format!("disk full on the server: {detail}")),
            None if *code == SqlState::READ_ONLY_SQL_TRANSACTION => {
                Error::database(format!("database is read-only: {detail}"))
            }
            None => Error::database(format!("PostgreSQL error {}: {detail}", code.code())),
        };
    }
    if err.is_closed() || std::error::Error::source(&err).is_some_and(|source| source.is::<std::io::Error>()) {
        return Error::database(format!("the connection to the server was lost: {err}")).with_retry();
    }
    Error::database(format!("PostgreSQL: {err}"))
}

/// The server's time carried on this host's monotonic clock (see [`CLOCK_REFRESH`]).
struct ServerClock {
    read: Mutex<Option<(i64, Instant)>>,
}

pub(crate) struct Database {
    location: Location,
    config: tokio_postgres::Config,
    tls: tls::Tls,
    schema: String,
    durability: Durability,
    busy_timeout: Duration,
    read_only: bool,
    clock: Clock,
    server_clock: ServerClock,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
    calls: AtomicUsize,
    /// The LISTEN connection of waiting claims, started by the first one.
    listener: Mutex<Option<driver::Listener>>,
    /// The server processes of this handle's connections: their notifications come back to the
    /// listener, and this process's waiting claims were woken by the write itself.
    own_backends: Arc<Mutex<HashSet<i32>>>,
}

/// A connection's server process, known to its handle while the connection lives.
pub(crate) struct OwnBackend {
    pid: i32,
    all: Arc<Mutex<HashSet<i32>>>,
}

impl OwnBackend {
    fn new(pid: i32, all: &Arc<Mutex<HashSet<i32>>>) -> OwnBackend {
        lock(all).insert(pid);
        OwnBackend { pid, all: Arc::clone(all) }
    }
}

impl Drop for OwnBackend {
    fn drop(&mut self) {
        lock(&self.all).remove(&self.pid);
    }
}

/// The channel every store NOTIFYs and LISTENs on when work may be claimable; the payload is the
/// store's schema, so that stores side by side in one database wake only their own.
pub(crate) const WORK_CHANNEL: &str = "jetstate_work";

impl Database {
    pub(crate) fn open(url: ServerUrl, options: &Options) -> Result<Database> {
        if options.exclusive || options.vfs.is_some() {
            return Err(Error::invalid(
                "the options exclusive and vfs apply to a SQLite file, not to a PostgreSQL server",
            ));
        }
        let (mut config, schema, tls) = url.config()?;
        // A server that vanished without closing the socket (a host down, a partition) is found
        // by TCP keepalives after about a minute, not libpq's two hours, unless the URL says.
        if config.get_keepalives_idle() == Duration::from_secs(2 * 3600) {
            config.keepalives_idle(Duration::from_secs(30)).keepalives_interval(Duration::from_secs(10));
            config.keepalives_retries(3);
        }
        let (mode, tls) = tls.connector(&url.to_string())?;
        config.ssl_mode(mode);
        let db = Database {
            location: Location::Postgres(url),
            config,
            tls,
            schema,
            durability: options.durability,
            busy_timeout: options.busy_timeout,
            read_only: options.read_only,
            clock: options.clock.clone(),
            server_clock: ServerClock { read: Mutex::new(None) },
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            listener: Mutex::new(None),
            own_backends: Arc::default(),
        };
        let conn = db.connect()?;
        schema::migrate(&conn.client, &db.schema, &db.clock, db.read_only)?;
        db.give_back(conn);
        Ok(db)
    }

    /// A new connection, set up for the store: its schema alone on the search path (it may not
    /// exist yet: the migration creates it), its durability, its lock timeout.
    fn connect(&self) -> Result<Connection> {
        let mut config = self.config.clone();
        config.connect_timeout(self.busy_timeout.max(Duration::from_secs(1)));
        let client = driver::Client::connect(&config, &self.tls)?.map_err(|err| {
            let err = error(err);
            Error::database(format!("cannot connect to {}: {}", self.location_text(), err.message())).with_retry()
        })?;
        let mut setup = format!(
            "SET synchronous_commit = {}; SET lock_timeout = {}; SET TIME ZONE 'UTC';",
            match self.durability {
                Durability::Full => "on",
                Durability::Normal => "off",
            },
            self.busy_timeout.as_millis().max(1)
        );
        setup.push_str(&format!(" SET search_path TO {};", schema::quoted(&self.schema)));
        if self.read_only {
            setup.push_str(" SET default_transaction_read_only = on;");
        }
        client.batch_execute(&setup).map_err(error)?;
        let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).map_err(error)?.get(0);
        Ok(Connection::new(client, OwnBackend::new(backend, &self.own_backends)))
    }

    fn location_text(&self) -> String {
        match &self.location {
            Location::Postgres(url) => url.to_string(),
            other => format!("{other:?}"),
        }
    }

    fn take(&self) -> Result<Connection> {
        if self.is_closed() {
            return Err(closed());
        }
        while let Some(conn) = lock(&self.idle).pop() {
            if !conn.client.is_closed() {
                return Ok(conn);
            }
        }
        self.connect()
    }

    fn give_back(&self, conn: Connection) {
        if conn.client.is_closed() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < IDLE_CONNECTIONS && !self.is_closed() {
            idle.push(conn);
        }
    }

    /// Runs `work` as `call` says, on a pooled connection; makes it again when it fails
    /// transiently (see the module).
    fn run<T>(&self, call: Call<'_>, work: &mut dyn FnMut(&dyn Conn) -> Result<T>) -> Result<T> {
        let mut attempt = 1;
        loop {
            let outcome = self.take().and_then(|mut conn| {
                let outcome = match call {
                    Call::Transaction(begin) => transaction(&mut conn, begin, &mut *work),
                    Call::Alone | Call::OneWrite => work(&InTransaction::new(&mut conn, call)),
                };
                self.give_back(conn);
                outcome
            });
            match outcome {
                Err(err) if err.retryable() && !err.outcome_unknown() && attempt < ATTEMPTS => {
                    // Apart, so that the transactions that collided do not collide again.
                    std::thread::sleep(Duration::from_millis(2u64 << attempt));
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    pub(crate) fn write<T>(&self, work: impl FnMut(&dyn Conn) -> Result<T>) -> Result<T> {
        self.write_as(Call::Transaction("BEGIN"), work)
    }

    /// A write of one statement, which is its own transaction: one round trip (see [`Call::OneWrite`]).
    pub(crate) fn write_one<T>(&self, work: impl FnMut(&dyn Conn) -> Result<T>) -> Result<T> {
        self.write_as(Call::OneWrite, work)
    }

    fn write_as<T>(&self, call: Call<'_>, mut work: impl FnMut(&dyn Conn) -> Result<T>) -> Result<T> {
        if self.read_only {
            return Err(Error::database("the store was opened read-only: writes are refused"));
        }
        let outcome = self.run(call, &mut work);
        if outcome.is_ok() {
            self.calls.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    /// A read of one statement: no transaction of its own beyond the statement's (one round
    /// trip, not three), as on SQLite.
    pub(crate) fn read<T>(&self, mut work: impl FnMut(&dyn Conn) -> Result<T>) -> Result<T> {
        self.run(Call::Alone, &mut work)
    }

    /// A read of several statements, in one snapshot.
    pub(crate) fn read_consistent<T>(&self, mut work: impl FnMut(&dyn Conn) -> Result<T>) -> Result<T> {
        self.run(Call::Transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"), &mut work)
    }

    /// The time of a call: the store's clock when it is manual (tests), else the server's.
    pub(crate) fn now_micros(&self) -> Result<i64> {
        if self.clock.is_manual() {
            return Ok(self.clock.now_micros());
        }
        let mut read = lock(&self.server_clock.read);
        if let Some((at, when)) = *read {
            let elapsed = when.elapsed();
            if elapsed < CLOCK_REFRESH {
                return Ok(at.saturating_add(i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)));
            }
        }
        drop(read);
        let asked = Instant::now();
        let server: i64 = self.read(|conn| {
            const NOW: crate::sql::Statement = crate::sql::Statement {
                sqlite: "",
                postgres: "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
            };
            conn.value(&NOW, crate::sql::params![])
        })?;
        // The server read its clock somewhere in the round trip: take the middle.
        let answered = Instant::now();
        let at = asked + (answered - asked) / 2;
        read = lock(&self.server_clock.read);
        *read = Some((server, at));
        Ok(server.saturating_add(i64::try_from(at.elapsed().as_micros()).unwrap_or(i64::MAX)))
    }

    pub(crate) fn location(&self) -> &Location {
        &self.location
    }

    /// The server, database and schema: the same for every handle of the same store.
    pub(crate) fn identity(&self) -> String {
        format!(
            "postgres:{:?}:{:?}:{:?}:{}",
            self.config.get_hosts(),
            self.config.get_ports(),
            self.config.get_dbname(),
            self.schema
        )
    }

    /// Starts (once) the connection that LISTENs for other processes' enqueues and rings
    /// `notifier` when one commits.
    pub(crate) fn listen(&self, notifier: &std::sync::Arc<crate::queue::wait::Notifier>) -> Result<()> {
        let mut listener = lock(&self.listener);
        if listener.is_none() {
            let notifier = std::sync::Arc::downgrade(notifier);
            let own = Arc::clone(&self.own_backends);
            let heard = std::sync::Arc::new(move |sender: Option<i32>| {
                // This handle's own writes woke the claims they concern when they returned.
                if sender.is_some_and(|sender| lock(&own).contains(&sender)) {
                    return;
                }
                if let Some(notifier) = notifier.upgrade() {
                    notifier.ring();
                }
            });
            let mut config = self.config.clone();
            config.connect_timeout(self.busy_timeout.max(Duration::from_secs(1)));
            *listener = Some(driver::Listener::start(&config, &self.tls, WORK_CHANNEL, self.schema.clone(), heard)?);
        }
        Ok(())
    }

    /// NOTIFYs other processes' waiting claims (best effort: they look again on their own).
    pub(crate) fn notify_others(&self) {
        const NOTIFY: crate::sql::Statement =
            crate::sql::Statement { sqlite: "", postgres: "SELECT pg_notify('jetstate_work', current_schema())::text" };
        let _ = self.read(|conn| conn.row(&NOTIFY, crate::sql::params![], |_| Ok(())));
    }

    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }

    /// Every committed write call is its own commit on the server.
    pub(crate) fn write_stats(&self) -> WriteStats {
        let calls = self.calls.load(Ordering::Relaxed);
        WriteStats { calls, commits: calls }
    }

    pub(crate) fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::SeqCst);
        lock(&self.idle).clear();
        lock(&self.listener).take();
        Ok(())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Runs `work` between `begin` and COMMIT (ROLLBACK if it fails) on `conn`.
fn transaction<T>(conn: &mut Connection, begin: &str, work: &mut dyn FnMut(&dyn Conn) -> Result<T>) -> Result<T> {
    let (outcome, begun, committed) = {
        let tx = InTransaction::new(conn, Call::Transaction(begin));
        (work(&tx), tx.begun(), tx.committed())
    };
    // BEGIN went out with the first statement: a call that ran none has no transaction to end;
    // nor has one whose COMMIT went out with its last statement (`Conn::query_last`).
    if !begun || committed {
        return outcome;
    }
    match outcome {
        Ok(value) => match conn.client.batch_execute("COMMIT") {
            Ok(()) => Ok(value),
            // A read wrote nothing, so its lost COMMIT is only a lost connection: made again.
            Err(err) if err.as_db_error().is_none() && !begin.ends_with("READ ONLY") => Err(Error::new(
                ErrorKind::Database,
                format!("the connection to the server was lost during COMMIT: {err}"),
            )
            .with_unknown_outcome("the server may have committed the call before the connection broke")),
            Err(err) => Err(error(err)),
        },
        Err(err) => {
            // A broken connection has nothing to roll back: the server ends its transaction.
            let _ = conn.client.batch_execute("ROLLBACK");
            Err(err)
        }
    }
}

impl ServerUrl {
    /// The client's configuration, the store's schema and what TLS is asked for: the URL's own
    /// parameters (`schema`, default `public`; `sslmode`, `sslrootcert`, see `tls.rs`) are taken
    /// out, the rest is the driver's.
    fn config(&self) -> Result<(tokio_postgres::Config, String, tls::TlsParams)> {
        let text = self.as_str();
        let (base, query) = match text.split_once('?') {
            Some((base, query)) => (base, query),
            None => (text, ""),
        };
        let mut schema = "public".to_string();
        let mut tls = tls::TlsParams { mode: None, root_cert: None };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decoded(value)
                .ok_or_else(|| Error::invalid(format!("parameter {key} in {self} is not percent-encoded UTF-8")))?;
            match key {
                "schema" => schema = value,
                _ if tls.take(key, &value) => {}
                _ => kept.push(pair),
            }
        }
        if schema.is_empty() || schema.len() > 63 || schema.contains('\0') {
            return Err(Error::invalid(format!(
                "schema {schema:?} in {self}: a schema name is 1 to 63 bytes, without NUL"
            )));
        }
        let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        let config = tokio_postgres::Config::from_str(&url)
            .map_err(|err| Error::invalid(format!("malformed PostgreSQL URL {self}: {err}")))?;
        Ok((config, schema, tls))
    }
}

/// `%XX` escapes decoded (a URL's parameter values may carry them), or None if the result is not
/// UTF-8 or an escape is malformed.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{params, Statement};

    const INSERT: Statement = Statement {
        sqlite: "",
        postgres: "INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ($1, $1, 'active', 0, 0)",
    };
    const COUNT: Statement =
        Statement { sqlite: "", postgres: "SELECT count(*) FROM tenants WHERE id IN ('one', 'two', 'three')" };
    const INSERT_RETURNING: Statement = Statement {
        sqlite: "",
        postgres: "INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ($1, $1, 'active', 0, 0)
                   RETURNING id",
    };

    fn fresh() -> Database {
        let url = std::env::var("JETSTATE_TEST_POSTGRES_URL").unwrap_or_default();
        assert!(!url.is_empty(), "JETSTATE_TEST_POSTGRES_URL names no server: run ./test.sh, which starts one");
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{separator}schema=one_write_{}", uuid::Uuid::new_v4().simple());
        let Location::Postgres(url) = Location::from_path(&url) else { panic!("{url} is not a server's URL") };
        Database::open(url, &Options::default()).unwrap()
    }

    #[test]
    fn a_one_write_call_commits_its_statement_and_refuses_a_second_write_unsent() {
        let db = fresh();
        // Reads around the one write are allowed; the write is committed as it returns.
        let count = db
            .write_one(|conn| {
                let before: i64 = conn.value(&COUNT, params![])?;
                conn.execute(&INSERT, params!["one"])?;
                Ok(before)
            })
            .unwrap();
        assert_eq!(count, 0);
        // A refused write (the unique key) wrote nothing and says what it is.
        let err = db.write_one(|conn| conn.execute(&INSERT, params!["one"])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        // A second writing statement is a rule that needs a transaction: refused before it is sent.
        let err = db
            .write_one(|conn| {
                conn.execute(&INSERT, params!["two"])?;
                conn.execute(&INSERT, params!["three"])
            })
            .unwrap_err();
        assert!(err.kind() == ErrorKind::Database && err.message().contains("needs a transaction"), "{err}");
        let stored: i64 = db.read(|conn| conn.value(&COUNT, params![])).unwrap();
        assert_eq!(stored, 2, "the first write of the refused call was its own transaction; the second was never sent");
    }

    #[test]
    fn statements_sent_together_run_in_order_and_fail_as_one_transaction() {
        let db = fresh();
        // The count runs after the insert has ended: it sees it.
        let seen = db
            .write(|conn| {
                let mut seen = Vec::new();
                conn.query_together(
                    &[(&INSERT_RETURNING, params!["one"]), (&COUNT, params![])],
                    &mut |statement, row| {
                        seen.push((statement, row.get::<String>(0).ok(), row.get::<i64>(0).ok()));
                        Ok(())
                    },
                )?;
                Ok(seen)
            })
            .unwrap();
        assert_eq!(seen, vec![(0, Some("one".to_string()), None), (1, None, Some(1))]);
        // A refused statement among them fails the call, and its transaction wrote nothing.
        let err = db
            .write(|conn| {
                conn.query_together(
                    &[(&INSERT_RETURNING, params!["two"]), (&INSERT_RETURNING, params!["one"])],
                    &mut |_, _| Ok(()),
                )
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        let stored: i64 = db.read(|conn| conn.value(&COUNT, params![])).unwrap();
        assert_eq!(stored, 1, "the call that failed wrote nothing, not even its first statement");
    }

    #[test]
    fn a_last_statement_commits_with_its_call_and_nothing_may_follow_it() {
        let db = fresh();
        const ALL: Statement = Statement { sqlite: "", postgres: "SELECT count(*) FROM tenants" };
        let count = |db: &Database| -> i64 { db.read(|conn| conn.value(&ALL, params![])).unwrap() };
        // Both statements of the call are committed, the second's COMMIT sent with it.
        let returned = db
            .write(|conn| {
                conn.execute(&INSERT, params!["one"])?;
                conn.rows_last(&INSERT_RETURNING, params!["two"], |row| row.get::<String>(0))
            })
            .unwrap();
        assert_eq!(returned, vec!["two".to_string()]);
        assert_eq!(count(&db), 3, "default, one and two");
        // A last statement the server refuses ends the transaction without committing the first.
        let err = db
            .write(|conn| {
                conn.execute(&INSERT, params!["three"])?;
                conn.rows_last(&INSERT_RETURNING, params!["one"], |row| row.get::<String>(0))
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert_eq!(count(&db), 3, "the refused call wrote nothing");
        // A statement after the last one is refused before it is sent; the call had committed.
        let err = db
            .write(|conn| {
                conn.rows_last(&INSERT_RETURNING, params!["four"], |row| row.get::<String>(0))?;
                conn.execute(&INSERT, params!["five"])
            })
            .unwrap_err();
        assert!(err.message().contains("came after the call's last one"), "{err}");
        assert_eq!(count(&db), 4, "four was committed with its statement, five never sent");
        // The connection is whole for the next call (no transaction left open on it).
        db.write(|conn| conn.execute(&INSERT, params!["six"])).unwrap();
        assert_eq!(count(&db), 5);
    }
}
