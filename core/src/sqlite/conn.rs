//! The rules' statements on a SQLite connection: [`Conn`] for `rusqlite::Connection`.
//!
//! Statements come from the connection's cache (prepared once, kept). Every parameter slot the
//! statement has is bound on each call, to the value given or to NULL for a trailing one left
//! out, so that nothing bound by an earlier call leaks into the next (SQLite keeps bindings
//! across a reset).

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;

use crate::error::Result;
use crate::sql::{ColumnValue, Conn, Engine, Param, Row, Statement, Value};

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(n) => ValueRef::Integer(*n),
            Value::Real(x) => ValueRef::Real(*x),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// Binds `params` to every slot of `statement`.
fn bind(statement: &mut rusqlite::CachedStatement<'_>, params: &[&dyn Param]) -> Result<()> {
    for slot in 1..=statement.parameter_count() {
        match params.get(slot - 1) {
            Some(param) => statement.raw_bind_parameter(slot, param.value()?)?,
            None => statement.raw_bind_parameter(slot, rusqlite::types::Null)?,
        }
    }
    Ok(())
}

impl Conn for Connection {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn execute(&self, statement: &Statement<'_>, params: &[&dyn Param]) -> Result<usize> {
        let mut prepared = self.prepare_cached(statement.sqlite)?;
        bind(&mut prepared, params)?;
        Ok(prepared.raw_execute()?)
    }

    fn query(
        &self,
        statement: &Statement<'_>,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        let mut prepared = self.prepare_cached(statement.sqlite)?;
        bind(&mut prepared, params)?;
        let mut rows = prepared.raw_query();
        while let Some(row) = rows.next()? {
            if !each(&Row::Sqlite(row))? {
                break;
            }
        }
        Ok(())
    }
}

/// Column `index` of a SQLite row.
pub(crate) fn column<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> Result<ColumnValue<'r>> {
    Ok(match row.get_ref(index)? {
        ValueRef::Null => ColumnValue::Null,
        ValueRef::Integer(n) => ColumnValue::Integer(n),
        ValueRef::Real(x) => ColumnValue::Real(x),
        ValueRef::Text(text) => ColumnValue::Text(
            std::str::from_utf8(text)
                .map_err(|_| crate::error::Error::database(format!("stored text in column {index} is not UTF-8")))?,
        ),
        ValueRef::Blob(bytes) => ColumnValue::Blob(bytes),
    })
}
