//! The rules' statements on a PostgreSQL connection: [`Conn`] over one client inside the
//! transaction the engine opened for the call.
//!
//! Values cross by the type PostgreSQL gives each parameter and column (`bigint`, `text`, `uuid`,
//! `bytea`, `boolean`, ...), in its binary format: the seam's five value kinds map onto them here
//! and nowhere else. Statements are prepared once per connection and kept in its cache.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as StdError;

use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

use super::driver::Client;

use crate::error::{Error, Result};
use crate::sql::{ColumnValue, Conn, Engine, Param, Row, Statement, Value};

/// A client and the statements prepared on it.
pub(crate) struct Connection {
    pub(crate) client: Client,
    statements: HashMap<String, tokio_postgres::Statement>,
    _backend: super::OwnBackend,
}

impl Connection {
    pub(crate) fn new(client: Client, backend: super::OwnBackend) -> Connection {
        Connection { client, statements: HashMap::new(), _backend: backend }
    }

    fn prepared(&mut self, text: &str) -> Result<tokio_postgres::Statement> {
        if let Some(statement) = self.statements.get(text) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(text).map_err(super::error)?;
        self.statements.insert(text.to_string(), statement.clone());
        Ok(statement)
    }
}

/// How a call's statements reach the server.
#[derive(Clone, Copy)]
pub(crate) enum Call<'c> {
    /// Each statement is its own transaction: a read of one statement.
    Alone,
    /// A write whose rule writes with one statement, before or after reads that need no lock held
    /// past themselves (see [`crate::database::Database::write_one`]): each statement commits on
    /// its own, so the write costs one round trip, not two (statement, then COMMIT). A second
    /// writing statement is refused before it is sent: the rule is not one to run so.
    OneWrite,
    /// Every statement inside one transaction, which this statement opens.
    Transaction(&'c str),
}

/// [`Conn`] for the calls of one transaction. Its BEGIN is not sent alone: it goes out with the
/// first statement, pipelined, so that a call's transaction costs no round trip of its own.
pub(crate) struct InTransaction<'c> {
    conn: RefCell<&'c mut Connection>,
    begin: Cell<Option<&'c str>>,
    begun: Cell<bool>,
    /// Whether COMMIT went out with a last statement ([`Conn::query_last`]): the call is over.
    committed: Cell<bool>,
    /// The transaction writes (its COMMIT's loss leaves the outcome unknown).
    writes: bool,
    one_write: bool,
    wrote: Cell<bool>,
}

impl<'c> InTransaction<'c> {
    /// The calls on `conn`, sent as `call` says.
    pub(crate) fn new(conn: &'c mut Connection, call: Call<'c>) -> InTransaction<'c> {
        let begin = match call {
            Call::Transaction(begin) => Some(begin),
            Call::Alone | Call::OneWrite => None,
        };
        InTransaction {
            conn: RefCell::new(conn),
            begin: Cell::new(begin),
            begun: Cell::new(false),
            committed: Cell::new(false),
            writes: !matches!(call, Call::Transaction(begin) if begin.ends_with("READ ONLY")),
            one_write: matches!(call, Call::OneWrite),
            wrote: Cell::new(false),
        }
    }

    /// Whether BEGIN was sent (with a first statement): only then is there a transaction to end.
    pub(crate) fn begun(&self) -> bool {
        self.begun.get()
    }

    /// Whether the call's COMMIT went out with its last statement: its runner has no transaction
    /// left to end.
    pub(crate) fn committed(&self) -> bool {
        self.committed.get()
    }

    /// The BEGIN to send with this statement, if it is the first; an error after the COMMIT.
    fn begin(&self) -> Result<Option<&'c str>> {
        if self.committed.get() {
            return Err(Error::internal("a statement came after the call's last one, which committed it"));
        }
        let begin = self.begin.take();
        if begin.is_some() {
            self.begun.set(true);
        }
        Ok(begin)
    }

    /// In a one-write call, whether `text` is its write (anything but a plain SELECT); an error
    /// if the call has written already.
    fn is_the_write(&self, text: &str) -> Result<bool> {
        if !self.one_write {
            return Ok(false);
        }
        let head = text.trim_start().get(..6).unwrap_or("");
        if head.eq_ignore_ascii_case("SELECT") {
            return Ok(false);
        }
        if self.wrote.replace(true) {
            return Err(Error::internal(
                "a call run as one write statement sent a second one: its rule needs a transaction",
            ));
        }
        Ok(true)
    }
}

/// The error of a one-write call's write statement: the server's refusal wrote nothing (a
/// statement is atomic), but a connection lost while it ran leaves its commit unknown.
fn write_error(err: tokio_postgres::Error) -> Error {
    if err.as_db_error().is_some() {
        return super::error(err);
    }
    Error::database(format!("the connection to the server was lost during a write: {err}"))
        .with_unknown_outcome("the server may have committed the write before the connection broke")
}

/// The values of `params` for the statement's parameters: PostgreSQL takes exactly as many as
/// the statement names, so trailing ones it does not name are left out.
fn values<'p>(statement: &tokio_postgres::Statement, params: &'p [&dyn Param]) -> Result<Vec<Value<'p>>> {
    let wanted = statement.params().len();
    if params.len() < wanted {
        return Err(Error::internal(format!("a statement takes {wanted} parameters, {} given", params.len())));
    }
    params[..wanted].iter().map(|param| param.value()).collect()
}

/// `values` as the driver takes parameters.
fn as_sql<'v>(values: &'v [Value<'_>]) -> Vec<&'v (dyn ToSql + Sync)> {
    values.iter().map(|value| value as &(dyn ToSql + Sync)).collect()
}

impl Conn for InTransaction<'_> {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn commits_each_statement(&self) -> bool {
        self.one_write
    }

    fn execute(&self, statement: &Statement<'_>, params: &[&dyn Param]) -> Result<usize> {
        let mut conn = self.conn.borrow_mut();
        let prepared = conn.prepared(statement.postgres)?;
        let values = values(&prepared, params)?;
        let refs = as_sql(&values);
        let on_error = if self.is_the_write(statement.postgres)? { write_error } else { super::error };
        let changed = conn.client.execute_prepared(self.begin()?, &prepared, &refs).map_err(on_error)?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    fn query(
        &self,
        statement: &Statement<'_>,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        let mut conn = self.conn.borrow_mut();
        let prepared = conn.prepared(statement.postgres)?;
        let values = values(&prepared, params)?;
        let on_error = if self.is_the_write(statement.postgres)? { write_error } else { super::error };
        conn.client.query_each(self.begin()?, &prepared, values.iter(), on_error, &mut |row| each(&Row::Postgres(row)))
    }

    fn query_together(
        &self,
        statements: &[(&Statement<'_>, &[&dyn Param])],
        each: &mut dyn FnMut(usize, &Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut conn = self.conn.borrow_mut();
        let mut prepared = Vec::with_capacity(statements.len());
        let mut writes = false;
        for (statement, params) in statements {
            let statement_prepared = conn.prepared(statement.postgres)?;
            let values = values(&statement_prepared, params)?;
            writes |= self.is_the_write(statement.postgres)?;
            prepared.push((statement_prepared, values));
        }
        let sent: Vec<(&tokio_postgres::Statement, Vec<&(dyn ToSql + Sync)>)> =
            prepared.iter().map(|(statement, values)| (statement, as_sql(values))).collect();
        let on_error = if writes { write_error } else { super::error };
        let results = conn.client.query_pipelined(self.begin()?, &sent).map_err(on_error)?;
        for (index, rows) in results.iter().enumerate() {
            for row in rows {
                each(index, &Row::Postgres(row))?;
            }
        }
        Ok(())
    }

    fn query_last(
        &self,
        statements: &[(&Statement<'_>, &[&dyn Param])],
        each: &mut dyn FnMut(usize, &Row<'_>) -> Result<()>,
    ) -> Result<()> {
        if self.begin.get().is_none() && !self.begun.get() {
            // Not in a transaction: each statement commits itself.
            return self.query_together(statements, each);
        }
        let mut conn = self.conn.borrow_mut();
        let mut prepared = Vec::with_capacity(statements.len());
        for (statement, params) in statements {
            let statement_prepared = conn.prepared(statement.postgres)?;
            let values = values(&statement_prepared, params)?;
            prepared.push((statement_prepared, values));
        }
        let sent: Vec<(&tokio_postgres::Statement, Vec<&(dyn ToSql + Sync)>)> =
            prepared.iter().map(|(statement, values)| (statement, as_sql(values))).collect();
        let begin = self.begin()?;
        let (results, committed) = conn.client.query_then_commit(begin, &sent);
        self.committed.set(true);
        let lost = |err: &tokio_postgres::Error| err.as_db_error().is_none() && self.writes;
        let results = match (results, committed) {
            // The server refused a statement (and so ended the transaction without a commit),
            // or refused the COMMIT: nothing was written.
            (Err(err), _) | (Ok(_), Err(err)) if !lost(&err) => return Err(super::error(err)),
            (Err(err), _) | (Ok(_), Err(err)) => {
                return Err(Error::database(format!("the connection to the server was lost during COMMIT: {err}"))
                    .with_unknown_outcome("the server may have committed the call before the connection broke"))
            }
            (Ok(results), Ok(())) => results,
        };
        for (index, rows) in results.iter().enumerate() {
            for row in rows {
                each(index, &Row::Postgres(row)).map_err(|err| {
                    Error::internal(format!(
                        "a call committed, and then its result could not be read: {}",
                        err.message()
                    ))
                    .with_unknown_outcome("the call was committed")
                })?;
            }
        }
        Ok(())
    }
}

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let wrong = || -> Box<dyn StdError + Sync + Send> {
            format!("a value of the seam's kind {self:?} cannot be bound to a parameter of type {ty}").into()
        };
        match (self, ty) {
            (Value::Null, _) => return Ok(IsNull::Yes),
            (Value::Integer(n), &Type::INT8) => n.to_sql(ty, out)?,
            (Value::Integer(n), &Type::INT4) => i32::try_from(*n)?.to_sql(ty, out)?,
            (Value::Integer(n), &Type::INT2) => i16::try_from(*n)?.to_sql(ty, out)?,
            (Value::Integer(n), &Type::BOOL) => (*n != 0).to_sql(ty, out)?,
            (Value::Integer(n), &Type::FLOAT8) => (*n as f64).to_sql(ty, out)?,
            (Value::Real(x), &Type::FLOAT8) => x.to_sql(ty, out)?,
            (Value::Text(text), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::JSON) => {
                out.extend_from_slice(text.as_bytes());
                IsNull::No
            }
            (Value::Text(text), &Type::JSONB) => {
                // jsonb's binary format: a version byte, then the text.
                out.extend_from_slice(&[1]);
                out.extend_from_slice(text.as_bytes());
                IsNull::No
            }
            (Value::Blob(bytes), &Type::BYTEA) => {
                out.extend_from_slice(bytes);
                IsNull::No
            }
            (Value::Blob(bytes), &Type::UUID) if bytes.len() == 16 => {
                out.extend_from_slice(bytes);
                IsNull::No
            }
            _ => return Err(wrong()),
        };
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A column's bytes as the server sent them (binary format), decoded by [`column`].
struct Raw<'r>(Option<&'r [u8]>);

impl<'r> FromSql<'r> for Raw<'r> {
    fn from_sql(_: &Type, raw: &'r [u8]) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Column `index` of a PostgreSQL row, as the seam's value.
pub(crate) fn column(row: &tokio_postgres::Row, index: usize) -> Result<ColumnValue<'_>> {
    let ty = row.columns().get(index).ok_or_else(|| Error::internal(format!("a row has no column {index}")))?.type_();
    let Raw(raw) = row.try_get::<_, Raw<'_>>(index).map_err(super::error)?;
    let Some(raw) = raw else { return Ok(ColumnValue::Null) };
    let bad =
        |err: Box<dyn StdError + Sync + Send>| Error::database(format!("column {index} ({ty}) is not readable: {err}"));
    Ok(match *ty {
        Type::INT8 => ColumnValue::Integer(i64::from_sql(ty, raw).map_err(bad)?),
        Type::INT4 => ColumnValue::Integer(i32::from_sql(ty, raw).map_err(bad)?.into()),
        Type::INT2 => ColumnValue::Integer(i16::from_sql(ty, raw).map_err(bad)?.into()),
        Type::BOOL => ColumnValue::Integer(bool::from_sql(ty, raw).map_err(bad)?.into()),
        Type::FLOAT8 => ColumnValue::Real(f64::from_sql(ty, raw).map_err(bad)?),
        Type::FLOAT4 => ColumnValue::Real(f32::from_sql(ty, raw).map_err(bad)?.into()),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON => {
            ColumnValue::Text(<&str>::from_sql(ty, raw).map_err(bad)?)
        }
        Type::JSONB => match raw.split_first() {
            Some((1, text)) => ColumnValue::Text(std::str::from_utf8(text).map_err(|err| bad(Box::new(err)))?),
            _ => return Err(Error::database(format!("column {index} holds jsonb of an unknown version"))),
        },
        Type::BYTEA | Type::UUID => ColumnValue::Blob(raw),
        _ => return Err(Error::internal(format!("column {index} is of type {ty}, which the core never reads"))),
    })
}
