//! The append-only event log and its SQL.
//!
//! Rules (CONTRACT.md section 2):
//! * an event's sequence is >= 1 and unique within its execution: the key (execution_id,
//!   sequence) enforces it, so of two writers appending the same sequence exactly one wins and
//!   the other gets SequenceConflict with nothing written;
//! * a batch is all or nothing (it runs in the caller's one write transaction);
//! * `append_next` reads the latest sequence and writes the next ones under the execution's lock
//!   (`executions::lock`: nothing wider), so sequences it assigns have no gaps and no duplicates
//!   whatever the concurrency;
//! * reads return events in ascending sequence whatever order they were written in;
//! * events belong to their execution's tenant: a view neither reads nor appends another's.

use serde_json::Value;

use crate::clock::{from_micros, to_micros};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, EventSequence};
use crate::executions;
use crate::sql::{params, Conn, Statement};
use crate::tenant::Scope;
use crate::workflow::ExecutionId;

/// An event as stored: its kind is the JSON object exactly as written, for surfaces that must
/// hand it back unchanged (the bindings); [`StoredEvent::into_event`] types it for Rust. Its
/// JSON form is [`Event`]'s, so that a binding reads and writes events in the one wire form.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredEvent {
    pub id: uuid::Uuid,
    pub execution_id: ExecutionId,
    pub sequence: EventSequence,
    pub kind: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl StoredEvent {
    /// Types the kind; a kind outside the catalogue becomes [`EventKind::Unknown`], never an error.
    /// (Reads of typed events parse the stored text directly; this is for a `StoredEvent` in hand.)
    pub fn into_event(self) -> Event {
        let kind = EventKind::from_json(self.kind);
        Event {
            id: self.id,
            execution_id: self.execution_id,
            sequence: self.sequence,
            kind,
            created_at: self.created_at,
        }
    }
}

/// An event ready to be written: its kind as JSON text, with the kind's `type` tag.
pub(crate) struct NewEvent {
    pub id: uuid::Uuid,
    pub execution_id: ExecutionId,
    pub sequence: EventSequence,
    pub event_type: String,
    pub kind_text: String,
    pub created_at: i64,
}

impl NewEvent {
    /// From a typed event.
    pub(crate) fn typed(event: Event) -> Result<NewEvent> {
        let (event_type, kind_text) = event.kind.encode()?;
        Ok(NewEvent {
            id: event.id,
            execution_id: event.execution_id,
            sequence: event.sequence,
            event_type,
            kind_text,
            created_at: to_micros(&event.created_at),
        })
    }

    /// From an event whose kind is JSON (the bindings' path): stored exactly as given.
    pub(crate) fn raw(event: &StoredEvent) -> Result<NewEvent> {
        let event_type = crate::event::kind_type(&event.kind)?.to_string();
        Ok(NewEvent {
            id: event.id,
            execution_id: event.execution_id.clone(),
            sequence: event.sequence,
            event_type,
            kind_text: crate::sql::json_text(&event.kind)?,
            created_at: to_micros(&event.created_at),
        })
    }
}

/// The largest event sequence the store takes: 2^53 - 1, the largest integer that every surface
/// holds exactly (a JavaScript number cannot tell 2^53 + 1 from 2^53), so that no surface reads
/// two events as one. A larger sequence, or an `append_next` past it: InvalidArgument.
pub const MAX_SEQUENCE: EventSequence = (1 << 53) - 1;

/// Appends events with the sequences they carry. On SequenceConflict, NotFound (an unknown
/// execution, or another tenant's) or InvalidArgument the caller's transaction is rolled back:
/// nothing is written. One statement per event, which is also the execution's check: a taken
/// sequence is found by the key itself (the insert does nothing), never by a read first. Only when
/// an insert did nothing is the key read, to tell the two refusals apart; events are never
/// removed, so a key found is a taken sequence, and a key not found an execution that is not there.
pub(crate) fn append(conn: &dyn Conn, scope: Scope<'_>, events: &[NewEvent]) -> Result<()> {
    const INSERT: Statement = Statement {
        sqlite: "INSERT INTO events (execution_id, sequence, id, event_type, kind, created_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6
                 WHERE EXISTS (SELECT 1 FROM executions WHERE id = ?1 AND (?7 IS NULL OR tenant_id = ?7))
                 ON CONFLICT (execution_id, sequence) DO NOTHING",
        postgres: "INSERT INTO events (execution_id, sequence, id, event_type, kind, created_at)
                   SELECT $1, $2, $3, $4, $5, $6
                   WHERE EXISTS (SELECT 1 FROM executions WHERE id = $1 AND ($7::text IS NULL OR tenant_id = $7))
                   ON CONFLICT (execution_id, sequence) DO NOTHING",
    };
    // Within the view's tenant: another tenant's execution is NotFound, whatever its events.
    const TAKEN: Statement = Statement {
        sqlite: "SELECT 1 FROM events WHERE execution_id = ?1 AND sequence = ?2
                   AND EXISTS (SELECT 1 FROM executions WHERE id = ?1 AND (?3 IS NULL OR tenant_id = ?3))",
        postgres: "SELECT 1 FROM events WHERE execution_id = $1 AND sequence = $2
                     AND EXISTS (SELECT 1 FROM executions WHERE id = $1 AND ($3::text IS NULL OR tenant_id = $3))",
    };
    for event in events {
        if !(1..=MAX_SEQUENCE).contains(&event.sequence) {
            return Err(Error::invalid(format!(
                "event sequence must be from 1 to 2^53 - 1 ({MAX_SEQUENCE}), got {}",
                event.sequence
            )));
        }
        let inserted = conn.execute(
            &INSERT,
            params![
                event.execution_id.0,
                event.sequence,
                event.id,
                event.event_type,
                event.kind_text,
                event.created_at,
                scope,
            ],
        )?;
        if inserted == 0 {
            let taken = conn.row(&TAKEN, params![event.execution_id.0, event.sequence, scope], |_| Ok(()))?.is_some();
            if !taken {
                return Err(executions::not_found(&event.execution_id));
            }
            return Err(Error::new(
                crate::ErrorKind::SequenceConflict,
                format!("sequence {} is already used in execution {}", event.sequence, event.execution_id),
            ));
        }
    }
    Ok(())
}

/// Appends kinds, already encoded as (`type`, JSON text), at the execution's next sequences.
/// Returns the id and sequence given to each, in order; the caller builds its records from them.
pub(crate) fn append_next(
    conn: &dyn Conn,
    scope: Scope<'_>,
    execution_id: &ExecutionId,
    kinds: &[(String, String)],
    now: i64,
) -> Result<Vec<(uuid::Uuid, EventSequence)>> {
    executions::lock(conn, scope, execution_id)?;
    let latest = latest_sequence(conn, None, execution_id)?;
    let new: Vec<NewEvent> = kinds
        .iter()
        .zip(latest + 1..)
        .map(|((event_type, kind_text), sequence)| NewEvent {
            id: uuid::Uuid::new_v4(),
            execution_id: execution_id.clone(),
            sequence,
            event_type: event_type.clone(),
            kind_text: kind_text.clone(),
            created_at: now,
        })
        .collect();
    append(conn, scope, &new)?;
    Ok(new.into_iter().map(|event| (event.id, event.sequence)).collect())
}

/// The events after `since`, ascending, with each kind still as text; `decode` makes the record.
/// An unknown execution (or another tenant's) has none.
fn rows_since<T>(
    conn: &dyn Conn,
    scope: Scope<'_>,
    execution_id: &ExecutionId,
    since: EventSequence,
    decode: impl Fn(uuid::Uuid, EventSequence, &str, i64) -> T,
) -> Result<Vec<T>> {
    const SINCE: Statement = Statement {
        sqlite: "SELECT sequence, id, kind, created_at FROM events
                 WHERE execution_id = ?1 AND sequence > ?2
                   AND (?3 IS NULL OR EXISTS (SELECT 1 FROM executions WHERE id = ?1 AND tenant_id = ?3))
                 ORDER BY sequence",
        postgres: "SELECT sequence, id, kind, created_at FROM events
                   WHERE execution_id = $1 AND sequence > $2
                     AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM executions WHERE id = $1 AND tenant_id = $3))
                   ORDER BY sequence",
    };
    conn.rows(&SINCE, params![execution_id.0, since, scope], |row| {
        Ok(decode(row.get(1)?, row.get(0)?, row.str(2)?, row.get(3)?))
    })
}

/// Events after `since`, kinds as JSON values exactly as stored (the bindings' path).
pub(crate) fn since(
    conn: &dyn Conn,
    scope: Scope<'_>,
    execution_id: &ExecutionId,
    since: EventSequence,
) -> Result<Vec<StoredEvent>> {
    rows_since(conn, scope, execution_id, since, |id, sequence, kind, created_at| {
        let kind = serde_json::from_str(kind).unwrap_or_else(|_| Value::String(kind.to_string()));
        StoredEvent { id, execution_id: execution_id.clone(), sequence, kind, created_at: from_micros(created_at) }
    })
}

/// Events after `since` as the JSON text of their wire form (a JSON array), each kind spliced in
/// exactly as stored rather than parsed and printed again: the bindings' fast path for reading a
/// history. A kind that is not valid JSON (a file edited by hand) becomes a JSON string, as in
/// [`since`].
pub(crate) fn since_json(
    conn: &dyn Conn,
    scope: Scope<'_>,
    execution_id: &ExecutionId,
    since: EventSequence,
) -> Result<String> {
    let execution = execution_id.0.hyphenated().to_string();
    let events = rows_since(conn, scope, execution_id, since, |id, sequence, kind, created_at| {
        let created_at = from_micros(created_at).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let valid = serde_json::from_str::<serde::de::IgnoredAny>(kind).is_ok();
        let kind = if valid { kind.to_string() } else { Value::String(kind.to_string()).to_string() };
        format!(
            r#"{{"id":"{}","execution_id":"{execution}","sequence":{sequence},"kind":{kind},"created_at":"{created_at}"}}"#,
            id.hyphenated()
        )
    })?;
    Ok(format!("[{}]", events.join(",")))
}

/// Events after `since`, typed (the Rust path): parsed from text straight into `EventKind`.
pub(crate) fn typed_since(
    conn: &dyn Conn,
    scope: Scope<'_>,
    execution_id: &ExecutionId,
    since: EventSequence,
) -> Result<Vec<Event>> {
    rows_since(conn, scope, execution_id, since, |id, sequence, kind, created_at| Event {
        id,
        execution_id: execution_id.clone(),
        sequence,
        kind: EventKind::from_json_text(kind),
        created_at: from_micros(created_at),
    })
}

/// The highest sequence of the execution, 0 when it has none (or is not visible).
pub(crate) fn latest_sequence(conn: &dyn Conn, scope: Scope<'_>, execution_id: &ExecutionId) -> Result<EventSequence> {
    const LATEST: Statement = Statement {
        sqlite: "SELECT coalesce(max(sequence), 0) FROM events
                 WHERE execution_id = ?1
                   AND (?2 IS NULL OR EXISTS (SELECT 1 FROM executions WHERE id = ?1 AND tenant_id = ?2))",
        postgres: "SELECT coalesce(max(sequence), 0)::bigint FROM events
                   WHERE execution_id = $1
                     AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM executions WHERE id = $1 AND tenant_id = $2))",
    };
    conn.value(&LATEST, params![execution_id.0, scope])
}
