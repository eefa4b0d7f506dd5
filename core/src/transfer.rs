//! A store as JSON Lines, out and back in without loss: `export` writes every row of every table
//! (or of one execution), `import` writes them into another store.
//!
//! The format, version 1. The first line is a header:
//!
//! ```text
//! {"format":"jetstate-export","version":1,"schema_version":3,"scope":"store","exported_at":"..."}
//! ```
//!
//! then one line per row, `{"table":"events","row":{...}}`, tables in the order their foreign keys
//! need (tenants, workflow_definitions, executions, events, snapshots, work_items, api_tokens,
//! then the store's settings: queues, queue_rate_grants, retention),
//! rows in the order of their key (or of their writing, for tables with rowids), so that the same
//! store always exports the same lines. A row holds every
//! column of its table: ids as UUID strings, times as RFC 3339 to the microsecond (the precision
//! times are stored at, so they read back exactly), JSON columns as JSON values, a token's hash
//! as hex (an export carries token hashes, never a token), the rest as stored.
//!
//! Invariants kept here:
//! * an export is one read transaction: one consistent snapshot, beside running writers;
//! * an import is one write transaction: all of it lands, or nothing does (a bad line, a row whose
//!   key exists, a reference to a missing row: an error naming the line, the store unchanged);
//! * tenants and workflow definitions are upserted (the export is their record, and storing a
//!   definition replaces its IR anyway); every other row must be new: an existing key is a
//!   Conflict, so that importing twice cannot double a history or a queue;
//! * no SQL is assembled from the input: statements are built from the static table list below.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use crate::clock::{from_micros, to_micros};
use crate::error::{Constraint, Error, ErrorKind, Result};
use crate::sql::{params, ColumnValue, Conn, Engine, Param, Statement, Value as SqlValue};
use crate::sqlite::schema::SCHEMA_VERSION;
use crate::workflow::ExecutionId;

/// The name and version of the format; a reader refuses any other.
pub const FORMAT: &str = "jetstate-export";
pub const FORMAT_VERSION: u64 = 1;

/// How far a long transfer has come, for a progress bar: rows (export), bytes read (import) or
/// pages (backup), out of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Rows written (export) or imported, by table.
pub type RowCounts = BTreeMap<&'static str, u64>;

/// How a column's stored value is written in a line.
#[derive(Clone, Copy)]
enum Codec {
    Text,
    Integer,
    /// A 16-byte BLOB, as a hyphenated UUID string.
    Uuid,
    /// Microseconds since the epoch, as RFC 3339 with microseconds.
    Time,
    /// JSON text, as the JSON value it holds.
    Json,
    /// A BLOB, as lowercase hex.
    Hex,
}

struct Column {
    name: &'static str,
    codec: Codec,
    nullable: bool,
    /// What an export of an older schema, which lacks the column, imports as.
    missing: Missing,
}

/// The value of a required column that an older export lacks.
#[derive(Clone, Copy)]
enum Missing {
    /// None: the line is refused.
    Refused,
    /// Zero.
    Zero,
    /// The value of another column of the same row.
    As(&'static str),
}

const fn col(name: &'static str, codec: Codec) -> Column {
    Column { name, codec, nullable: false, missing: Missing::Refused }
}

const fn opt(name: &'static str, codec: Codec) -> Column {
    Column { name, codec, nullable: true, missing: Missing::Refused }
}

/// A required column added by a later schema: an older export's row gets `missing`.
const fn added(name: &'static str, codec: Codec, missing: Missing) -> Column {
    Column { name, codec, nullable: false, missing }
}

struct Table {
    name: &'static str,
    columns: &'static [Column],
    /// The primary key: an upsert is keyed on it.
    key: &'static str,
    /// The export's row order: the key for tables without rowids; `None` for the others, whose
    /// rows are exported in the order they were written (SQLite's rowid, PostgreSQL's
    /// `position`), which the core breaks ties with (tokens are listed by creation time, then
    /// order of writing), so the imported store keeps it.
    order: Option<&'static str>,
    /// Whether importing an existing key replaces the row (else it is a Conflict).
    upsert: bool,
    /// Which rows an export takes: `?1` is the execution (NULL: every one), `?2` the tenant of a
    /// view (NULL: every tenant).
    filter: Statement<'static>,
}

use Codec::{Hex, Integer, Json, Text, Time, Uuid};

/// The filter of the rows that belong to an execution (events, snapshots): they have no tenant
/// column of their own and follow their execution's.
const OF_AN_EXECUTION: Statement = Statement {
    sqlite: "(?1 IS NULL OR execution_id = ?1)
             AND (?2 IS NULL OR execution_id IN (SELECT id FROM executions WHERE tenant_id = ?2))",
    postgres: "($1::uuid IS NULL OR execution_id = $1)
               AND ($2::text IS NULL OR execution_id IN (SELECT id FROM executions WHERE tenant_id = $2))",
};

/// Every table of the schema, in foreign-key order. A test checks this list against the schema,
/// column by column, so a migration cannot add a column that exports would lose.
const TABLES: &[Table] = &[
    Table {
        name: "tenants",
        columns: &[
            col("id", Text),
            col("name", Text),
            col("status", Text),
            opt("policy", Json),
            opt("limits", Json),
            col("created_at", Time),
            col("updated_at", Time),
        ],
        key: "id",
        order: Some("id"),
        upsert: true,
        filter: Statement {
            sqlite: "?1 IS NULL AND (?2 IS NULL OR id = ?2)",
            postgres: "$1::uuid IS NULL AND ($2::text IS NULL OR id = $2)",
        },
    },
    Table {
        name: "workflow_definitions",
        columns: &[
            col("tenant_id", Text),
            col("workflow_id", Text),
            col("version", Text),
            col("ir", Json),
            col("created_at", Time),
        ],
        key: "tenant_id, workflow_id, version",
        order: Some("tenant_id, workflow_id, version"),
        upsert: true,
        filter: Statement {
            sqlite: "(?2 IS NULL OR tenant_id = ?2) AND (?1 IS NULL OR (tenant_id, workflow_id, version) IN
                     (SELECT tenant_id, workflow_id, workflow_version FROM executions WHERE id = ?1))",
            postgres:
                "($2::text IS NULL OR tenant_id = $2) AND ($1::uuid IS NULL OR (tenant_id, workflow_id, version) IN
                       (SELECT tenant_id, workflow_id, workflow_version FROM executions WHERE id = $1))",
        },
    },
    Table {
        name: "executions",
        columns: &[
            col("id", Uuid),
            col("tenant_id", Text),
            col("workflow_id", Text),
            col("workflow_version", Text),
            col("status", Text),
            col("initial_input", Json),
            col("current_state", Json),
            opt("session_type", Text),
            col("started_at", Time),
            col("updated_at", Time),
            opt("completed_at", Time),
        ],
        key: "id",
        order: None,
        upsert: false,
        filter: Statement {
            sqlite: "(?1 IS NULL OR id = ?1) AND (?2 IS NULL OR tenant_id = ?2)",
            postgres: "($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR tenant_id = $2)",
        },
    },
    Table {
        name: "events",
        columns: &[
            col("execution_id", Uuid),
            col("sequence", Integer),
            col("id", Uuid),
            col("event_type", Text),
            col("kind", Json),
            col("created_at", Time),
        ],
        key: "execution_id, sequence",
        order: Some("execution_id, sequence"),
        upsert: false,
        filter: OF_AN_EXECUTION,
    },
    Table {
        name: "snapshots",
        columns: &[
            col("execution_id", Uuid),
            col("at_sequence", Integer),
            col("id", Uuid),
            col("state", Json),
            col("created_at", Time),
        ],
        key: "execution_id, at_sequence",
        order: Some("execution_id, at_sequence"),
        upsert: false,
        filter: OF_AN_EXECUTION,
    },
    Table {
        name: "work_items",
        columns: &[
            col("id", Uuid),
            col("tenant_id", Text),
            col("execution_id", Uuid),
            col("node_id", Text),
            col("queue_type", Text),
            col("payload", Json),
            col("status", Text),
            col("attempt", Integer),
            col("max_attempts", Integer),
            col("created_at", Time),
            opt("retry_after", Time),
            opt("lease_expires_at", Time),
            opt("worker_id", Text),
            col("lease_token", Integer),
            opt("last_error", Text),
            col("updated_at", Time),
            added("priority", Integer, Missing::Zero),
            added("run_at", Time, Missing::As("created_at")),
            opt("unique_key", Text),
            opt("unique_for", Integer),
            opt("partition_key", Text),
            opt("progress", Json),
            opt("claimed_at", Time),
        ],
        key: "id",
        order: None,
        upsert: false,
        filter: Statement {
            sqlite: "(?1 IS NULL OR execution_id = ?1) AND (?2 IS NULL OR tenant_id = ?2)",
            postgres: "($1::uuid IS NULL OR execution_id = $1) AND ($2::text IS NULL OR tenant_id = $2)",
        },
    },
    Table {
        name: "api_tokens",
        columns: &[
            col("id", Uuid),
            col("tenant_id", Text),
            col("name", Text),
            col("role", Text),
            col("token_hash", Hex),
            col("created_at", Time),
            opt("expires_at", Time),
            opt("revoked_at", Time),
            opt("last_used_at", Time),
        ],
        key: "id",
        order: None,
        upsert: false,
        filter: Statement {
            sqlite: "?1 IS NULL AND (?2 IS NULL OR tenant_id = ?2)",
            postgres: "$1::uuid IS NULL AND ($2::text IS NULL OR tenant_id = $2)",
        },
    },
    // The store's own settings: in an export of the whole store only (not of an execution, nor
    // of a tenant's view). Upserted: the export is their record.
    Table {
        name: "queues",
        columns: &[
            col("queue_type", Text),
            col("paused", Integer),
            opt("concurrency", Integer),
            opt("partition_concurrency", Integer),
            opt("rate_limit", Integer),
            opt("rate_period", Integer),
            col("updated_at", Time),
        ],
        key: "queue_type",
        order: Some("queue_type"),
        upsert: true,
        filter: STORE_ONLY,
    },
    Table {
        name: "queue_rate_grants",
        columns: &[col("queue_type", Text), col("seq", Integer), col("claimed_at", Time)],
        key: "queue_type, seq",
        order: Some("queue_type, seq"),
        upsert: true,
        filter: STORE_ONLY,
    },
    Table {
        name: "retention",
        columns: &[col("id", Integer), col("policy", Json), col("updated_at", Time)],
        key: "id",
        order: Some("id"),
        upsert: true,
        filter: STORE_ONLY,
    },
];

/// The filter of the store's own settings: only an export of the whole store takes them.
const STORE_ONLY: Statement =
    Statement { sqlite: "?1 IS NULL AND ?2 IS NULL", postgres: "$1::uuid IS NULL AND $2::text IS NULL" };

/// A table's statements, in both engines' dialects: built once from the list above.
struct TableSql {
    select: (String, String),
    count: (String, String),
    insert: (String, String),
}

fn statement(pair: &(String, String)) -> Statement<'_> {
    Statement { sqlite: &pair.0, postgres: &pair.1 }
}

impl Table {
    fn sql(&self, engine: Engine) -> [String; 3] {
        let columns = self.columns.iter().map(|c| c.name).collect::<Vec<_>>().join(", ");
        let (filter, order, slot) = match engine {
            Engine::Sqlite => (self.filter.sqlite, self.order.unwrap_or("rowid"), "?"),
            Engine::Postgres => (self.filter.postgres, self.order.unwrap_or("position"), "$"),
        };
        let select = format!("SELECT {columns} FROM {} WHERE {filter} ORDER BY {order}", self.name);
        let count = format!("SELECT count(*) FROM {} WHERE {filter}", self.name);
        let slots = (1..=self.columns.len()).map(|i| format!("{slot}{i}")).collect::<Vec<_>>().join(", ");
        let mut insert = format!("INSERT INTO {} ({columns}) VALUES ({slots})", self.name);
        if self.upsert {
            let keys: Vec<&str> = self.key.split(", ").collect();
            let sets = self
                .columns
                .iter()
                .filter(|c| !keys.contains(&c.name))
                .map(|c| format!("{0} = excluded.{0}", c.name))
                .collect::<Vec<_>>()
                .join(", ");
            insert.push_str(&format!(" ON CONFLICT ({}) DO UPDATE SET {sets}", self.key));
        }
        [select, count, insert]
    }
}

static TABLE_SQL: LazyLock<Vec<TableSql>> = LazyLock::new(|| {
    TABLES
        .iter()
        .map(|table| {
            let [select, count, insert] = table.sql(Engine::Sqlite);
            let [pg_select, pg_count, pg_insert] = table.sql(Engine::Postgres);
            TableSql { select: (select, pg_select), count: (count, pg_count), insert: (insert, pg_insert) }
        })
        .collect()
});

fn time_text(micros: i64) -> String {
    from_micros(micros).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A stored value as it is written in a line.
fn encode(column: &Column, value: ColumnValue<'_>) -> Result<Value> {
    let wrong = || Error::database(format!("column {} holds a value of an unexpected type", column.name));
    Ok(match (column.codec, value) {
        (_, ColumnValue::Null) if column.nullable => Value::Null,
        (Text, ColumnValue::Text(text)) => Value::String(text.to_string()),
        (Integer, ColumnValue::Integer(n)) => json!(n),
        (Uuid, ColumnValue::Blob(bytes)) => {
            Value::String(uuid::Uuid::from_slice(bytes).map_err(|_| wrong())?.hyphenated().to_string())
        }
        (Time, ColumnValue::Integer(micros)) => Value::String(time_text(micros)),
        (Json, ColumnValue::Text(text)) => crate::wire::parse(text, 0)?,
        (Hex, ColumnValue::Blob(bytes)) => Value::String(hex::encode(bytes)),
        _ => return Err(wrong()),
    })
}

/// A value read from a line as it is stored; the message names what was expected. `row` is the
/// whole line's row (a column an older export lacks may take another column's value).
fn decode(
    table: &Table,
    column: &Column,
    value: Option<&Value>,
    row: &Map<String, Value>,
) -> Result<SqlValue<'static>> {
    let expected =
        |what: &str| Error::invalid(format!("{}.{}: expected {what}, got {}", table.name, column.name, short(value)));
    let value = match (value, column.missing) {
        (None, Missing::Zero) => return Ok(SqlValue::Integer(0)),
        (None, Missing::As(other)) => {
            let source = table.columns.iter().find(|c| c.name == other).ok_or_else(|| {
                Error::internal(format!("{}.{} is missing as {other}, not a column", table.name, column.name))
            })?;
            return decode(table, source, row.get(other), row);
        }
        (value, _) => value,
    };
    let value = match value {
        None | Some(Value::Null) if column.nullable => return Ok(SqlValue::Null),
        None => {
            return Err(Error::invalid(format!("{}.{}: missing (the column is required)", table.name, column.name)))
        }
        Some(value) => value,
    };
    Ok(match column.codec {
        Text => SqlValue::Text(value.as_str().ok_or_else(|| expected("a string"))?.to_owned().into()),
        Integer => SqlValue::Integer(value.as_i64().ok_or_else(|| expected("an integer"))?),
        Uuid => {
            let text = value.as_str().ok_or_else(|| expected("a UUID string"))?;
            let id = uuid::Uuid::parse_str(text).map_err(|_| expected("a UUID string"))?;
            SqlValue::Blob(id.as_bytes().to_vec().into())
        }
        Time => {
            let text = value.as_str().ok_or_else(|| expected("an RFC 3339 time"))?;
            let at = DateTime::parse_from_rfc3339(text).map_err(|_| expected("an RFC 3339 time"))?;
            SqlValue::Integer(to_micros(&at.with_timezone(&Utc)))
        }
        Json => SqlValue::Text(crate::sql::json_text(value)?.into()),
        Hex => SqlValue::Blob(
            value.as_str().and_then(|text| hex::decode(text).ok()).ok_or_else(|| expected("hex digits"))?.into(),
        ),
    })
}

/// A value as an error message quotes it: short.
fn short(value: Option<&Value>) -> String {
    let text = value.map_or_else(|| "nothing".to_string(), Value::to_string);
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

fn cannot_write(err: std::io::Error) -> Error {
    Error::database(format!("export: cannot write: {err}"))
}

/// Writes `value` and ends the line (`suffix` closes what the caller opened on it).
fn write_line(out: &mut dyn Write, value: &Value, suffix: &str) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(|err| match err.io_error_kind() {
        Some(_) => cannot_write(err.into()),
        None => err.into(),
    })?;
    writeln!(out, "{suffix}").map_err(cannot_write)
}

/// Writes the rows of one execution (`execution`), or of the whole store, seen by `scope`, as
/// JSON Lines to `out`, in one read transaction (`conn` is already in it).
pub(crate) fn export(
    conn: &dyn Conn,
    scope: Option<&str>,
    execution: Option<&ExecutionId>,
    now: i64,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(Progress),
) -> Result<RowCounts> {
    let execution_key = execution.map(|id| id.0);
    let filter = params![execution_key, scope];
    let sql = &*TABLE_SQL;
    if let Some(id) = execution {
        let found: i64 = conn.value(&statement(&sql[2].count), filter)?;
        if found == 0 {
            return Err(Error::not_found(format!("execution not found: {}", id.0)));
        }
    }
    let mut total = 0u64;
    for table in sql {
        let n: i64 = conn.value(&statement(&table.count), filter)?;
        total += u64::try_from(n).unwrap_or(0);
    }
    write_line(
        out,
        &json!({
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "scope": if execution.is_some() { "execution" } else { "store" },
            "exported_at": time_text(now),
        }),
        "",
    )?;
    let mut counts = RowCounts::new();
    let mut done = 0u64;
    progress(Progress { done, total });
    for (table, sql) in TABLES.iter().zip(sql) {
        let mut written = 0u64;
        conn.query(&statement(&sql.select), filter, &mut |row| {
            let mut fields = Map::new();
            for (index, column) in table.columns.iter().enumerate() {
                fields.insert(column.name.to_string(), encode(column, row.value(index)?)?);
            }
            // Written by hand so that "table" comes first (a JSON map would sort it after "row").
            write!(out, "{{\"table\":\"{}\",\"row\":", table.name).map_err(cannot_write)?;
            write_line(out, &Value::Object(fields), "}")?;
            written += 1;
            done += 1;
            if done.is_multiple_of(1024) {
                progress(Progress { done, total });
            }
            Ok(true)
        })?;
        counts.insert(table.name, written);
    }
    progress(Progress { done, total: total.max(done) });
    out.flush().map_err(cannot_write)?;
    Ok(counts)
}

/// Checks the header line of an export; returns its schema version.
fn check_header(header: &Value) -> Result<i64> {
    if header.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(Error::invalid(format!(
            "not a jetstate export: the first line must be a header with \"format\": \"{FORMAT}\""
        )));
    }
    match header.get("version").and_then(Value::as_u64) {
        Some(FORMAT_VERSION) => {}
        other => {
            return Err(Error::invalid(format!(
                "export format version {} is not supported (this jetstate reads version {FORMAT_VERSION})",
                short(other.map(Value::from).as_ref())
            )))
        }
    }
    match header.get("schema_version").and_then(Value::as_i64) {
        Some(version) if version <= SCHEMA_VERSION => Ok(version),
        other => Err(Error::invalid(format!(
            "the export was written by a jetstate of schema version {} (this one has {SCHEMA_VERSION}): upgrade jetstate",
            short(other.map(Value::from).as_ref())
        ))),
    }
}

/// Checks what the schema alone does not, so that no imported row is one the core cannot read
/// back: an event's type is its kind's tag, an execution's status and session type are known, a
/// tenant's limits have the limits' shape.
fn check_row(table: &Table, row: &Map<String, Value>) -> Result<()> {
    match table.name {
        "events" => {
            let kind = row.get("kind").unwrap_or(&Value::Null);
            let tag = crate::event::kind_type(kind)?;
            if row.get("event_type").and_then(Value::as_str) != Some(tag) {
                return Err(Error::invalid(format!("events.event_type must be the kind's type tag {tag:?}")));
            }
        }
        "executions" => {
            let status = row.get("status").and_then(Value::as_str).unwrap_or("");
            status.parse::<crate::workflow::WorkflowStatus>()?;
            if let Some(Value::String(session)) = row.get("session_type") {
                session.parse::<crate::workflow::SessionType>()?;
            }
        }
        "tenants" => {
            // Limits are read back as typed fields: a value of another shape would make the
            // tenant unreadable once stored.
            if let Some(limits) = row.get("limits").filter(|limits| !limits.is_null()) {
                serde_json::from_value::<crate::tenant::TenantLimits>(limits.clone())
                    .map_err(|err| Error::invalid(format!("tenants.limits: {err}")))?;
            }
        }
        _ => {}
    }
    for name in row.keys() {
        if !table.columns.iter().any(|c| c.name == name) {
            return Err(Error::invalid(format!("{} has no column {name:?}", table.name)));
        }
    }
    Ok(())
}

/// Reads an export from `input` and writes its rows, in the caller's write transaction (`conn`).
/// `progress` gets the bytes read so far out of `total_bytes` (0 when unknown). Any error names
/// its line; the caller's transaction then rolls back, leaving the store as it was.
pub(crate) fn import(
    conn: &dyn Conn,
    input: &mut dyn BufRead,
    total_bytes: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<RowCounts> {
    let mut counts = RowCounts::new();
    let mut line = String::new();
    let (mut number, mut read) = (0u64, 0u64);
    let mut ring = RingToLog::default();
    loop {
        line.clear();
        let n = input
            .read_line(&mut line)
            .map_err(|err| Error::invalid(format!("line {}: cannot read the export: {err}", number + 1)))?;
        if n == 0 {
            break;
        }
        number += 1;
        read += n as u64;
        let at_line = |err: Error| Error::new(err.kind(), format!("line {number}: {}", err.message()));
        if line.trim().is_empty() {
            continue;
        }
        let value = crate::wire::parse(&line, 2)
            .map_err(|err| match err.kind() {
                ErrorKind::Serialization => Error::invalid(err.message().to_string()),
                _ => err,
            })
            .map_err(at_line)?;
        if number == 1 {
            ring.older = check_header(&value).map_err(at_line)? < RingToLog::SINCE;
            continue;
        }
        let value = ring.upgrade(value).map_err(at_line)?;
        import_row(conn, &value, &mut counts).map_err(at_line)?;
        if number.is_multiple_of(1024) {
            progress(Progress { done: read, total: total_bytes.max(read) });
        }
    }
    if number == 0 {
        return Err(Error::invalid("the export is empty: expected a header line"));
    }
    progress(Progress { done: read, total: total_bytes.max(read) });
    // Tenants may have come in: the queue's rule for them holds at this commit too.
    crate::queue::index_tenant_views(conn)?;
    Ok(counts)
}

/// An export of schema version 4 holds the rate limit's memory as a ring (`queue_rate_slots`, its
/// position in `queues.rate_granted`); version 5 holds a log (`queue_rate_grants`). Its lines are
/// turned into the log's as migration 0005 turns the tables: the slot at the ring's position is
/// grant 1, the one before it grant `rate_limit` (an export lists `queues` before the slots).
#[derive(Default)]
struct RingToLog {
    /// The export is of a schema before version 5.
    older: bool,
    /// Per queue type: its ring's position and size.
    rings: BTreeMap<String, (i64, i64)>,
}

impl RingToLog {
    /// The schema version whose exports hold the log.
    const SINCE: i64 = 5;

    fn upgrade(&mut self, mut line: Value) -> Result<Value> {
        if !self.older {
            return Ok(line);
        }
        let table = line.get("table").and_then(Value::as_str).unwrap_or("").to_string();
        let Some(row) = line.get_mut("row").and_then(Value::as_object_mut) else { return Ok(line) };
        let text = |row: &Map<String, Value>, name: &str| row.get(name).and_then(Value::as_str).map(str::to_string);
        let int = |row: &Map<String, Value>, name: &str| row.get(name).and_then(Value::as_i64);
        match table.as_str() {
            "queues" => {
                let position = row.remove("rate_granted");
                if let (Some(queue_type), Some(position), Some(size)) =
                    (text(row, "queue_type"), position.as_ref().and_then(Value::as_i64), int(row, "rate_limit"))
                {
                    self.rings.insert(queue_type, (position, size));
                }
            }
            "queue_rate_slots" => {
                let (Some(queue_type), Some(slot)) = (text(row, "queue_type"), int(row, "slot")) else {
                    return Err(Error::invalid("queue_rate_slots: expected a queue_type and a slot"));
                };
                let Some(&(position, size)) = self.rings.get(&queue_type).filter(|(_, size)| *size > 0) else {
                    return Err(Error::invalid(format!(
                        "queue_rate_slots row ({queue_type}, {slot}) belongs to no rate-limited queue earlier in the export"
                    )));
                };
                let seq = (slot - position.rem_euclid(size)).rem_euclid(size) + 1;
                row.remove("slot");
                row.insert("seq".to_string(), json!(seq));
                line["table"] = json!("queue_rate_grants");
            }
            _ => {}
        }
        Ok(line)
    }
}

fn import_row(conn: &dyn Conn, line: &Value, counts: &mut RowCounts) -> Result<()> {
    let name = line.get("table").and_then(Value::as_str).unwrap_or("");
    let position = TABLES.iter().position(|t| t.name == name).ok_or_else(|| {
        Error::invalid(format!(
            "expected {{\"table\": NAME, \"row\": {{...}}}} with a table of the schema, got table {name:?}"
        ))
    })?;
    let table = &TABLES[position];
    let row = line
        .get("row")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::invalid(format!("{name}: \"row\" must be an object of columns")))?;
    check_row(table, row)?;
    let values = table.columns.iter().map(|c| decode(table, c, row.get(c.name), row)).collect::<Result<Vec<_>>>()?;
    let params: Vec<&dyn Param> = values.iter().map(|value| value as &dyn Param).collect();
    conn.execute(&statement(&TABLE_SQL[position].insert), &params).map_err(|err| {
        let key = key_of(table, row);
        match err.constraint() {
            Some(Constraint::Unique) => {
                Error::conflict(format!("{name} row ({key}) already exists in this store; nothing was imported"))
            }
            Some(Constraint::ForeignKey) => Error::invalid(format!(
                "{name} row ({key}) refers to a tenant or execution that is neither in this store nor earlier in the export"
            )),
            Some(Constraint::Check | Constraint::NotNull) => {
                Error::invalid(format!("{name} row ({key}) holds a value the schema refuses: {}", err.message()))
            }
            None => err,
        }
    })?;
    *counts.entry(table.name).or_default() += 1;
    Ok(())
}

fn key_of(table: &Table, row: &Map<String, Value>) -> String {
    table.key.split(", ").map(|k| format!("{k} {}", short(row.get(k)))).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table list above is the schema, column for column: a migration that adds a table or a
    /// column must add it here, or exports would silently lose it.
    #[test]
    fn the_table_list_is_the_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("schema.db");
        crate::Store::open(&path, crate::Options::default()).expect("opens").close().expect("closes");
        let conn = rusqlite::Connection::open(&path).expect("opens");
        let mut tables = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .expect("prepares");
        let names = tables.query_map([], |row| row.get::<_, String>(0)).expect("names");
        let mut schema = Vec::new();
        for name in names {
            let name = name.expect("name");
            let mut info =
                conn.prepare("SELECT name, \"notnull\" FROM pragma_table_info(?1) ORDER BY cid").expect("prepares");
            let columns = info
                .query_map([&name], |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?)))
                .expect("columns")
                .collect::<rusqlite::Result<Vec<_>>>()
                .expect("columns");
            schema.push((name, columns));
        }
        let mut listed: Vec<(String, Vec<(String, bool)>)> = TABLES
            .iter()
            .map(|t| (t.name.to_string(), t.columns.iter().map(|c| (c.name.to_string(), !c.nullable)).collect()))
            .collect();
        listed.sort();
        assert_eq!(listed, schema);
    }
}
