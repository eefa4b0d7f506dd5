//! The seam between the rules and the engines: a statement written once per engine, the values
//! bound to it and read from it, and the connection a rule runs its statements on.
//!
//! Each rule module holds its statements beside the rule they serve, as a [`Statement`] with one
//! text per engine; it binds [`Param`]s and reads [`Column`]s, and so never learns which engine
//! it talks to beyond [`Conn::engine`] (asked only where the engines' SQL differs in shape, not
//! just in text). Each engine module (`sqlite/`, `postgres/`) implements [`Conn`].
//!
//! Parameters are numbered (`?1` in SQLite, `$1` in PostgreSQL) and shared by both texts of a
//! statement. A statement may leave out trailing parameters it has no use for; a PostgreSQL
//! text must name every parameter up to the last it uses (PostgreSQL infers a parameter's type
//! from where it appears, so one it never sees has none: name it with a cast, `$2::text IS NULL`).

use std::borrow::Cow;

use crate::error::{Error, Result};

/// The SQL engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// One statement, in each engine's dialect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Statement<'a> {
    pub sqlite: &'a str,
    pub postgres: &'a str,
}

/// A value bound to a statement, in the few types both engines store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

/// A value read from a row: what the engine holds, before the rule's type is made of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ColumnValue<'r> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'r str),
    Blob(&'r [u8]),
}

/// What may be bound to a statement. A value that cannot be stored (JSON nested too deep) fails
/// the call before anything is written.
pub(crate) trait Param {
    fn value(&self) -> Result<Value<'_>>;
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Result<Value<'_>> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Result<Value<'_>> {
        match self {
            None => Ok(Value::Null),
            Some(value) => value.value(),
        }
    }
}

impl Param for str {
    fn value(&self) -> Result<Value<'_>> {
        Ok(Value::Text(Cow::Borrowed(self)))
    }
}

impl Param for String {
    fn value(&self) -> Result<Value<'_>> {
        Ok(Value::Text(Cow::Borrowed(self)))
    }
}

/// An id is stored as its 16 bytes (a BLOB in SQLite, a `uuid` in PostgreSQL).
impl Param for uuid::Uuid {
    fn value(&self) -> Result<Value<'_>> {
        Ok(Value::Blob(Cow::Borrowed(self.as_bytes())))
    }
}

impl Param for [u8] {
    fn value(&self) -> Result<Value<'_>> {
        Ok(Value::Blob(Cow::Borrowed(self)))
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Result<Value<'_>> {
        Ok(Value::Blob(Cow::Borrowed(self)))
    }
}

impl Param for bool {
    fn value(&self) -> Result<Value<'_>> {
        Ok(Value::Integer(i64::from(*self)))
    }
}

impl Param for f64 {
    fn value(&self) -> Result<Value<'_>> {
        Ok(Value::Real(*self))
    }
}

impl Param for Value<'_> {
    fn value(&self) -> Result<Value<'_>> {
        Ok(self.clone())
    }
}

macro_rules! integer_params {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Result<Value<'_>> {
                i64::try_from(*self)
                    .map(Value::Integer)
                    .map_err(|_| Error::invalid(format!("{} is too large to store", self)))
            }
        }
    )*};
}
integer_params!(i64, i32, u32, u64, usize);

/// What a row's column may be read as.
pub(crate) trait Column: Sized {
    fn column(value: ColumnValue<'_>) -> Result<Self>;
}

fn unexpected(value: ColumnValue<'_>, wanted: &str) -> Error {
    let held = match value {
        ColumnValue::Null => "NULL",
        ColumnValue::Integer(_) => "an integer",
        ColumnValue::Real(_) => "a real",
        ColumnValue::Text(_) => "text",
        ColumnValue::Blob(_) => "a blob",
    };
    Error::database(format!("a stored value is {held} where {wanted} was expected"))
}

impl<T: Column> Column for Option<T> {
    fn column(value: ColumnValue<'_>) -> Result<Self> {
        match value {
            ColumnValue::Null => Ok(None),
            value => T::column(value).map(Some),
        }
    }
}

impl Column for i64 {
    fn column(value: ColumnValue<'_>) -> Result<Self> {
        match value {
            ColumnValue::Integer(n) => Ok(n),
            value => Err(unexpected(value, "an integer")),
        }
    }
}

macro_rules! integer_columns {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn column(value: ColumnValue<'_>) -> Result<Self> {
                let n = i64::column(value)?;
                <$t>::try_from(n).map_err(|_| Error::database(format!("a stored integer {n} is out of range")))
            }
        }
    )*};
}
integer_columns!(i32, u32, u64, usize);

impl Column for bool {
    fn column(value: ColumnValue<'_>) -> Result<Self> {
        i64::column(value).map(|n| n != 0)
    }
}

impl Column for f64 {
    fn column(value: ColumnValue<'_>) -> Result<Self> {
        match value {
            ColumnValue::Real(x) => Ok(x),
            ColumnValue::Integer(n) => Ok(n as f64),
            value => Err(unexpected(value, "a number")),
        }
    }
}

impl Column for String {
    fn column(value: ColumnValue<'_>) -> Result<Self> {
        match value {
            ColumnValue::Text(text) => Ok(text.to_string()),
            value => Err(unexpected(value, "text")),
        }
    }
}

impl Column for Vec<u8> {
    fn column(value: ColumnValue<'_>) -> Result<Self> {
        match value {
            ColumnValue::Blob(bytes) => Ok(bytes.to_vec()),
            value => Err(unexpected(value, "a blob")),
        }
    }
}

impl Column for uuid::Uuid {
    fn column(value: ColumnValue<'_>) -> Result<Self> {
        match value {
            ColumnValue::Blob(bytes) => uuid::Uuid::from_slice(bytes)
                .map_err(|_| Error::database(format!("a stored id is {} bytes, not 16", bytes.len()))),
            value => Err(unexpected(value, "an id")),
        }
    }
}

/// A JSON column holds the value's text; reading parses it.
impl Column for serde_json::Value {
    fn column(value: ColumnValue<'_>) -> Result<Self> {
        match value {
            ColumnValue::Text(text) => Ok(serde_json::from_str(text)?),
            value => Err(unexpected(value, "JSON text")),
        }
    }
}

/// One row of a result, from either engine.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    #[cfg(feature = "postgres")]
    Postgres(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `index` as it is stored.
    pub(crate) fn value(&self, index: usize) -> Result<ColumnValue<'_>> {
        match self {
            Row::Sqlite(row) => crate::sqlite::conn::column(row, index),
            #[cfg(feature = "postgres")]
            Row::Postgres(row) => crate::postgres::conn::column(row, index),
        }
    }

    /// Column `index`, read as `T`.
    pub(crate) fn get<T: Column>(&self, index: usize) -> Result<T> {
        T::column(self.value(index)?)
    }

    /// Column `index` as text borrowed from the row (no copy).
    pub(crate) fn str(&self, index: usize) -> Result<&str> {
        match self.value(index)? {
            ColumnValue::Text(text) => Ok(text),
            value => Err(unexpected(value, "text")),
        }
    }
}

/// A connection a rule runs its statements on, inside the transaction the engine opened for the
/// call. Statements are prepared once per connection and kept.
pub(crate) trait Conn {
    fn engine(&self) -> Engine;

    /// Whether each statement commits on its own (a PostgreSQL call run one statement at a time,
    /// `Database::write_one`) rather than inside the call's transaction: a rule that must hold a
    /// lock across statements then answers [`crate::Error::needs_transaction`] before writing.
    fn commits_each_statement(&self) -> bool {
        false
    }

    /// Runs a statement that returns no rows; returns how many rows it changed.
    fn execute(&self, statement: &Statement<'_>, params: &[&dyn Param]) -> Result<usize>;

    /// Runs a statement and hands each row to `each`, which returns whether to go on.
    fn query(
        &self,
        statement: &Statement<'_>,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()>;

    /// Runs `statements` in order, each once the one before has ended (a later one sees what an
    /// earlier one locked or wrote), and hands every row to `each` with its statement's index.
    /// For statements none of whose parameters come from another's result: a PostgreSQL
    /// connection sends them together (pipelined), one round trip for all.
    fn query_together(
        &self,
        statements: &[(&Statement<'_>, &[&dyn Param])],
        each: &mut dyn FnMut(usize, &Row<'_>) -> Result<()>,
    ) -> Result<()> {
        for (index, (statement, params)) in statements.iter().enumerate() {
            self.query(statement, params, &mut |row| each(index, row).map(|()| true))?;
        }
        Ok(())
    }

    /// Runs the call's last statements, as [`Conn::query_together`] does: no statement may follow
    /// them. A PostgreSQL connection inside a transaction sends the COMMIT with them (one round
    /// trip for statements and COMMIT): when this returns the call is committed, and when a
    /// statement or the COMMIT fails nothing is. Elsewhere [`Conn::query_together`], committed
    /// after the call as always.
    fn query_last(
        &self,
        statements: &[(&Statement<'_>, &[&dyn Param])],
        each: &mut dyn FnMut(usize, &Row<'_>) -> Result<()>,
    ) -> Result<()> {
        self.query_together(statements, each)
    }
}

/// The rows `run` hands over, each made into `T` by `make`.
fn collect<T>(
    mut make: impl FnMut(&Row<'_>) -> Result<T>,
    run: impl FnOnce(&mut dyn FnMut(&Row<'_>) -> Result<()>) -> Result<()>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    run(&mut |row| {
        out.push(make(row)?);
        Ok(())
    })?;
    Ok(out)
}

impl dyn Conn + '_ {
    /// The first row, made into `T` by `make`; `None` when there is none.
    pub(crate) fn row<T>(
        &self,
        statement: &Statement<'_>,
        params: &[&dyn Param],
        make: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut make = Some(make);
        let mut found = None;
        self.query(statement, params, &mut |row| {
            if let Some(make) = make.take() {
                found = Some(make(row)?);
            }
            Ok(false)
        })?;
        Ok(found)
    }

    /// Every row, each made into `T` by `make`.
    pub(crate) fn rows<T>(
        &self,
        statement: &Statement<'_>,
        params: &[&dyn Param],
        make: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        collect(make, |each| self.query(statement, params, &mut |row| each(row).map(|()| true)))
    }

    /// Every row of the call's last statement (see [`Conn::query_last`]), each made into `T`.
    pub(crate) fn rows_last<T>(
        &self,
        statement: &Statement<'_>,
        params: &[&dyn Param],
        make: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        collect(make, |each| self.query_last(&[(statement, params)], &mut |_, row| each(row)))
    }

    /// The first column of the one row a statement returns (a count, an aggregate).
    pub(crate) fn value<T: Column>(&self, statement: &Statement<'_>, params: &[&dyn Param]) -> Result<T> {
        self.row(statement, params, |row| row.get(0))?
            .ok_or_else(|| Error::internal("a statement of one row returned none"))
    }
}

/// The parameters of a statement, as `&[&dyn Param]`.
macro_rules! params {
    () => { &[] as &[&dyn $crate::sql::Param] };
    ($($param:expr),+ $(,)?) => { &[$(&$param as &dyn $crate::sql::Param),+] as &[&dyn $crate::sql::Param] };
}
pub(crate) use params;

// ── JSON as stored ───────────────────────────────────────────────────────────────────────────

/// The deepest nesting of arrays and objects that serde_json reads back (its recursion limit
/// refuses the 128th level). A deeper value would be stored but could never be read again, so it
/// is refused on the way in.
pub const MAX_JSON_DEPTH: usize = 127;

/// Counts nesting while serde_json writes compact JSON; fails past [`MAX_JSON_DEPTH`].
struct DepthLimit {
    depth: usize,
}

impl DepthLimit {
    fn open<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        if self.depth > MAX_JSON_DEPTH {
            return Err(std::io::Error::other("JSON nested too deep"));
        }
        writer.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for DepthLimit {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        writer.write_all(b"]")
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        writer.write_all(b"}")
    }
}

/// The compact JSON text of `value` as it is stored: InvalidArgument if it is nested deeper than
/// can be read back, Serialization if it cannot be encoded at all.
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut text = Vec::with_capacity(128);
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, DepthLimit { depth: 0 });
    match value.serialize(&mut serializer) {
        Ok(()) => String::from_utf8(text).map_err(|_| Error::internal("serde_json wrote text that is not UTF-8")),
        Err(err) if err.is_io() => Err(Error::invalid(format!(
            "JSON nested deeper than {MAX_JSON_DEPTH} levels is refused: it could not be read back"
        ))),
        Err(err) => Err(err.into()),
    }
}

/// A JSON value bound as its serialized text, whatever its type (a JSON null is the text `null`,
/// not SQL NULL; a number keeps every digit). Both engines keep JSON as text: the text written is
/// the text read back, byte for byte, which the bindings' round trips rely on.
pub(crate) struct JsonText<'a>(pub &'a serde_json::Value);

impl Param for JsonText<'_> {
    fn value(&self) -> Result<Value<'_>> {
        json_text(self.0).map(|text| Value::Text(Cow::Owned(text)))
    }
}
