//! The client's side of a server connection, synchronous, over tokio-postgres.
//!
//! The sockets are driven by one background thread of the core's own (a tokio runtime that
//! nothing else sees); a call hands its request over and parks its own thread until the answer
//! is there. So a store's call never enters a runtime on the caller's thread: it may be made from
//! inside any executor's task, tokio's included, where entering a runtime of one's own (as the
//! synchronous `postgres` crate does) panics.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use futures::StreamExt;
use tokio_postgres::types::{BorrowToSql, ToSql};
use tokio_postgres::{Config, NoTls, Row, Statement};

use super::tls::Tls;
use crate::error::{Error, Result};

/// The runtime that drives every connection's socket, started at the first connect.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("jetstate-postgres")
                .enable_all()
                .build()
                .map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|err| Error::database(format!("cannot start the thread that drives PostgreSQL connections: {err}")))
}

/// How many rows a read hands from the socket's thread to the caller's at once ([`Client::query_each`]).
const ROWS_PER_HAND_OVER: usize = 256;

/// Wakes the parked caller.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` to its end on this thread, parked between polls. (Not an executor's
/// `block_on`: those refuse to run inside another executor, and a store's call may be made there.)
///
/// Unconstrained by tokio's cooperative budget: inside a tokio task, the resources that count
/// their polls against that task's budget (a JoinHandle, tokio's channels) answer "not yet" to
/// every poll once it is spent, until the task yields, which a caller blocked here never does.
fn wait<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(tokio::task::unconstrained(future));
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

pub(crate) type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

/// One connection to the server.
pub(crate) struct Client(tokio_postgres::Client);

impl Client {
    /// Connects as `config` says; the connection's socket is then driven by the background thread.
    /// The outer error is the driver thread's; the inner one the server's or the network's.
    pub(crate) fn connect(config: &Config, tls: &Tls) -> Result<PgResult<Client>> {
        let (config, tls) = (config.clone(), tls.clone());
        let connected = runtime()?.spawn(async move {
            // The connection's task ends when the client is dropped or the connection breaks;
            // the client then reports itself closed, and the pool drops it.
            let client = match tls {
                Tls::Off => {
                    let (client, connection) = config.connect(NoTls).await?;
                    tokio::spawn(async move { drop(connection.await) });
                    client
                }
                Tls::On(tls) => {
                    let (client, connection) = config.connect(tls).await?;
                    tokio::spawn(async move { drop(connection.await) });
                    client
                }
            };
            Ok(Client(client))
        });
        wait(connected).map_err(|err| Error::internal(format!("connecting to PostgreSQL failed: {err}")))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    pub(crate) fn batch_execute(&self, text: &str) -> PgResult<()> {
        wait(self.0.batch_execute(text))
    }

    pub(crate) fn prepare(&self, text: &str) -> PgResult<Statement> {
        wait(self.0.prepare(text))
    }

    pub(crate) fn execute(&self, text: &str, params: &[&(dyn ToSql + Sync)]) -> PgResult<u64> {
        wait(self.0.execute(text, params))
    }

    /// Runs `statement`, after `begin` when given: the two sent together (pipelined), so that
    /// opening the transaction costs no round trip of its own.
    pub(crate) fn execute_prepared(
        &self,
        begin: Option<&str>,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> PgResult<u64> {
        wait(async {
            match begin {
                Some(begin) => {
                    let (begun, executed) =
                        futures::future::join(self.0.batch_execute(begin), self.0.execute(statement, params)).await;
                    begun.and(executed)
                }
                None => self.0.execute(statement, params).await,
            }
        })
    }

    /// Runs `statements` in order (after `begin`), all sent together: each request goes out when
    /// its future is first polled, and the joins poll them in order, so the server runs them one
    /// after the other in one round trip.
    pub(crate) fn query_pipelined(
        &self,
        begin: Option<&str>,
        statements: &[(&Statement, Vec<&(dyn ToSql + Sync)>)],
    ) -> PgResult<Vec<Vec<Row>>> {
        wait(async {
            let queries = futures::future::try_join_all(
                statements.iter().map(|(statement, params)| self.0.query(*statement, params)),
            );
            match begin {
                Some(begin) => {
                    let (begun, rows) = futures::future::join(self.0.batch_execute(begin), queries).await;
                    begun.and(rows)
                }
                None => queries.await,
            }
        })
    }

    /// Runs `statements` in order (after `begin`) and then COMMIT, all sent together: a
    /// transaction's last statements and its end in one round trip. Answers the statements' rows
    /// and COMMIT's outcome apart: after a statement that failed, the server ends the transaction
    /// at the COMMIT without committing (and without an error of the COMMIT's own).
    pub(crate) fn query_then_commit(
        &self,
        begin: Option<&str>,
        statements: &[(&Statement, Vec<&(dyn ToSql + Sync)>)],
    ) -> (PgResult<Vec<Vec<Row>>>, PgResult<()>) {
        wait(async {
            // Each request goes out when its future is first polled: the joins poll BEGIN, the
            // statements in order, then COMMIT.
            let queries = futures::future::try_join_all(
                statements.iter().map(|(statement, params)| self.0.query(*statement, params)),
            );
            let commit = self.0.batch_execute("COMMIT");
            match begin {
                Some(begin) => {
                    let (begun, rows, committed) =
                        futures::future::join3(self.0.batch_execute(begin), queries, commit).await;
                    (begun.and(rows), committed)
                }
                None => futures::future::join(queries, commit).await,
            }
        })
    }

    pub(crate) fn query(&self, text: &str, params: &[&(dyn ToSql + Sync)]) -> PgResult<Vec<Row>> {
        wait(self.0.query(text, params))
    }

    pub(crate) fn query_one(&self, text: &str, params: &[&(dyn ToSql + Sync)]) -> PgResult<Row> {
        wait(self.0.query_one(text, params))
    }

    /// Runs `statement` (after `begin`, pipelined, as [`Client::execute_prepared`]) and hands its
    /// rows to `each` in order, until it returns false. The driver's errors are made the core's by
    /// `on_error`.
    ///
    /// The rows are gathered on the thread that drives the socket, and cross to this one
    /// [`ROWS_PER_HAND_OVER`] at a time: handed over one socket read at a time (some 8 KiB), a
    /// thousand rows cost this thread two dozen sleeps and wake-ups (a read of a 1,000-event
    /// history took 4.5 ms, 3.7 ms in batches; `bench/postgres.py`). At most two batches wait for
    /// this thread, so a long read streams in bounded memory.
    pub(crate) fn query_each<P, I>(
        &self,
        begin: Option<&str>,
        statement: &Statement,
        params: I,
        on_error: fn(tokio_postgres::Error) -> Error,
        each: &mut dyn FnMut(&Row) -> Result<bool>,
    ) -> Result<()>
    where
        P: BorrowToSql,
        I: IntoIterator<Item = P>,
        I::IntoIter: ExactSizeIterator,
    {
        let rows = wait(async {
            match begin {
                Some(begin) => {
                    let (begun, rows) =
                        futures::future::join(self.0.batch_execute(begin), self.0.query_raw(statement, params)).await;
                    begun.and(rows)
                }
                None => self.0.query_raw(statement, params).await,
            }
        })
        .map_err(on_error)?;
        let (mut batches, mut received) = futures::channel::mpsc::channel::<PgResult<Vec<Row>>>(1);
        runtime()?.spawn(async move {
            use futures::SinkExt;
            let mut rows = std::pin::pin!(rows);
            let mut batch = Vec::new();
            loop {
                let full = match rows.next().await {
                    Some(Ok(row)) => {
                        batch.push(row);
                        batch.len() == ROWS_PER_HAND_OVER
                    }
                    Some(Err(err)) => return drop(batches.send(Err(err)).await),
                    None => return drop(batches.send(Ok(batch)).await),
                };
                // A reader that stopped early has dropped its end: the rest is not read.
                if full && batches.send(Ok(std::mem::take(&mut batch))).await.is_err() {
                    return;
                }
            }
        });
        while let Some(batch) = wait(received.next()) {
            for row in batch.map_err(on_error)? {
                if !each(&row)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// A connection that LISTENs on a channel and calls `heard` (with the sending server process)
/// for each notification whose payload
/// is `payload` (the store's schema), reconnecting after a failure, until dropped.
pub(crate) struct Listener {
    stop: Arc<AtomicBool>,
}

impl Listener {
    pub(crate) fn start(
        config: &Config,
        tls: &Tls,
        channel: &'static str,
        payload: String,
        heard: Arc<dyn Fn(Option<i32>) + Send + Sync>,
    ) -> Result<Listener> {
        let stop = Arc::new(AtomicBool::new(false));
        let (config, tls, stopped) = (config.clone(), tls.clone(), Arc::clone(&stop));
        runtime()?.spawn(async move {
            let mut pause = Duration::from_millis(100);
            while !stopped.load(Ordering::SeqCst) {
                let listened = match &tls {
                    Tls::Off => match config.connect(NoTls).await {
                        Ok((client, connection)) => {
                            listen(client, connection, channel, &payload, &*heard, &stopped).await
                        }
                        Err(err) => Err(err),
                    },
                    Tls::On(connector) => match config.connect(connector.clone()).await {
                        Ok((client, connection)) => {
                            listen(client, connection, channel, &payload, &*heard, &stopped).await
                        }
                        Err(err) => Err(err),
                    },
                };
                if listened.is_ok() {
                    pause = Duration::from_millis(100);
                }
                // Whatever was sent while no one listened: the waiting claims look for themselves.
                heard(None);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        });
        Ok(Listener { stop })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// LISTENs on `client` and hands notifications on to `heard` until the connection ends (an
/// error) or `stop` is set (Ok).
async fn listen<S, T>(
    client: tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
    channel: &str,
    payload: &str,
    heard: &(dyn Fn(Option<i32>) + Send + Sync),
    stop: &AtomicBool,
) -> PgResult<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let listen = format!("LISTEN {channel}");
    let mut listening = Some(Box::pin(client.batch_execute(&listen)));
    loop {
        let next = Box::pin(tokio::time::timeout(Duration::from_millis(250), messages.next()));
        // Until the LISTEN is answered, the connection is driven by reading its messages here.
        let message = match listening.take() {
            None => next.await,
            Some(pending) => match futures::future::select(pending, next).await {
                futures::future::Either::Left((done, _)) => {
                    done?;
                    heard(None);
                    continue;
                }
                futures::future::Either::Right((message, pending)) => {
                    listening = Some(pending);
                    message
                }
            },
        };
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        match message {
            Err(_) => continue,                                        // a quiet while: look at `stop` again
            Ok(None) => return client.batch_execute("SELECT 1").await, // the connection ended
            Ok(Some(Err(err))) => return Err(err),
            Ok(Some(Ok(tokio_postgres::AsyncMessage::Notification(note)))) if note.payload() == payload => {
                heard(Some(note.process_id()))
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}
