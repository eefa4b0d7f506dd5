//! The JSON wire form of records and operations, shared by every binding and the conformance
//! runner.
//!
//! Records cross language boundaries as JSON objects with snake_case keys: exactly the serde form
//! of the Rust types (ids as lowercase hyphenated UUIDs, times as RFC 3339 in UTC). A value that
//! does not fit the record it should be is the caller's mistake: InvalidArgument, naming the
//! record and what was wrong, never a panic.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::event_log::StoredEvent;
use crate::options::{Durability, Options};
use crate::queue::{EnqueueOptions, QueueSettings, RateLimit, RetentionPolicy, WorkItem};
use crate::sql::MAX_JSON_DEPTH;
use crate::store::Store;
use crate::tenant::TenantId;
use crate::workflow::ExecutionId;

/// Reads a record of type `T` (named `what` in errors) from its JSON form.
pub fn from_json<T: DeserializeOwned>(what: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|err| Error::invalid(format!("invalid {what}: {err}")))
}

/// [`from_json`] from a borrowed value: the record copies what it keeps (its strings, its JSON
/// values) straight out of `value`, without a copy of the whole tree first.
fn from_json_ref<T: DeserializeOwned>(what: &str, value: &Value) -> Result<T> {
    T::deserialize(value).map_err(|err| Error::invalid(format!("invalid {what}: {err}")))
}

/// The JSON form of a record.
pub fn to_json<T: Serialize + ?Sized>(record: &T) -> Result<Value> {
    Ok(serde_json::to_value(record)?)
}

/// Parses an execution id (`exec_<hex>` or any UUID form).
pub fn execution_id(text: &str) -> Result<ExecutionId> {
    text.parse()
}

/// Parses a UUID (a work item id, an event id): InvalidArgument naming `what` otherwise.
pub fn uuid(what: &str, text: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(text).map_err(|_| Error::invalid(format!("malformed {what} {text:?}: expected a UUID")))
}

// ── Operations by name ───────────────────────────────────────────────────────────────────────
//
// The JavaScript surfaces (Node, the browser) call the store through one entry point: an
// operation's name, its arguments as a JSON object, its result as JSON, all in the wire form
// above (tests/conformance/README.md lists every operation with its arguments and result).
// Keeping that table here, once, is what makes the surfaces agree; the Rust conformance runner
// goes through it too.

/// Parses JSON text handed over by a binding. Nesting deeper than the store keeps (plus the
/// `wrapping` levels of argument objects and records around a value) is InvalidArgument, with the
/// store's own message, and is found before parsing, so no input can exhaust the stack.
pub fn parse(text: &str, wrapping: usize) -> Result<Value> {
    let limit = MAX_JSON_DEPTH + wrapping;
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(Error::invalid(format!(
                        "JSON nested deeper than {MAX_JSON_DEPTH} levels is refused: it could not be read back"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let mut parser = serde_json::Deserializer::from_str(text);
    parser.disable_recursion_limit();
    let value = Value::deserialize(&mut parser).and_then(|value| parser.end().map(|()| value));
    value.map_err(|err| {
        // JavaScript's JSON.stringify escapes a lone UTF-16 surrogate instead of refusing it; such a
        // string has no UTF-8 form, so the caller's argument is what is wrong (as Python's binding
        // says of the same string). Looked for only once parsing failed: no cost on the way in.
        if has_lone_surrogate(text) {
            Error::invalid("a string holds a lone UTF-16 surrogate, which UTF-8 cannot encode")
        } else {
            Error::new(crate::ErrorKind::Serialization, format!("arguments are not valid JSON: {err}"))
        }
    })
}

/// Whether JSON text holds a `\uD800`-`\uDFFF` escape that is not half of a surrogate pair.
fn has_lone_surrogate(text: &str) -> bool {
    let bytes = text.as_bytes();
    let unit = |at: usize| -> Option<u16> {
        let hex = bytes.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        if bytes[i + 1] != b'u' {
            i += 2; // an escape of one character, `\\` included
            continue;
        }
        match unit(i + 2) {
            Some(0xD800..=0xDBFF) => {
                let low = (bytes.get(i + 6..i + 8) == Some(&b"\\u"[..])).then(|| unit(i + 8)).flatten();
                if !matches!(low, Some(0xDC00..=0xDFFF)) {
                    return true;
                }
                i += 12;
            }
            Some(0xDC00..=0xDFFF) => return true,
            _ => i += 6,
        }
    }
    false
}

/// A refused call as the JSON-text bindings hand it to their hosts: `!CODE message`, the code
/// followed by `+retryable` or `+outcome_unknown` when the error is so (a result's JSON text
/// never starts with `!`). The JavaScript layer (`bindings-node/surface.js`) reads it.
pub fn refusal(err: &Error) -> String {
    let flags = match (err.retryable(), err.outcome_unknown()) {
        (true, _) => "+retryable",
        (_, true) => "+outcome_unknown",
        _ => "",
    };
    format!("!{}{flags} {}", err.code(), err.message())
}

/// Nesting of a call's arguments around a value: the arguments object and a record.
const ARGUMENT_WRAPPING: usize = 2;

/// The whole call of a JSON-text binding: `args` as JSON text in, the result's JSON text out, or
/// its [`refusal`]. Node's addon and the browser's worker each run their calls through this.
pub fn call_text(store: &Store, op: &str, args: &str) -> String {
    parse(args, ARGUMENT_WRAPPING).and_then(|args| call_json(store, op, &args)).unwrap_or_else(|err| refusal(&err))
}

/// [`call_text`] for a call that may wait (`claim_wait`): `cancel`, cancelled from another
/// thread, ends its wait at once. The hosts run it on a thread of their own
/// (`backend::offload::spawn_waiting`), never on their event loop's.
pub fn call_text_cancellable(store: &Store, op: &str, args: &str, cancel: &crate::queue::Cancel) -> String {
    parse(args, ARGUMENT_WRAPPING)
        .and_then(|args| run::<AsText>(store, op, &args, Some(cancel)))
        .unwrap_or_else(|err| refusal(&err))
}

/// The arguments of one call, by name.
struct Args<'a> {
    op: &'a str,
    args: &'a Map<String, Value>,
}

impl Args<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.args.get(name).filter(|value| !value.is_null())
    }

    fn required(&self, name: &str) -> Result<&Value> {
        self.get(name).ok_or_else(|| Error::invalid(format!("{}: missing argument {name}", self.op)))
    }

    fn wrong(&self, name: &str, expected: &str) -> Error {
        Error::invalid(format!("{}: argument {name} must be {expected}", self.op))
    }

    fn str(&self, name: &str) -> Result<&str> {
        self.required(name)?.as_str().ok_or_else(|| self.wrong(name, "a string"))
    }

    fn int(&self, name: &str) -> Result<i64> {
        self.required(name)?.as_i64().ok_or_else(|| self.wrong(name, "an integer"))
    }

    fn count(&self, name: &str, default: u32) -> Result<u32> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => {
                value.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| self.wrong(name, "a count"))
            }
        }
    }

    fn value(&self, name: &str) -> Value {
        self.args.get(name).cloned().unwrap_or(Value::Null)
    }

    fn record<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        from_json_ref(name, self.required(name)?)
    }

    fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        self.get(name).map(|value| from_json_ref(name, value)).transpose()
    }

    fn execution_id(&self) -> Result<ExecutionId> {
        execution_id(self.str("execution_id")?)
    }

    fn item_id(&self) -> Result<uuid::Uuid> {
        uuid("work item id", self.str("item_id")?)
    }

    /// A non-negative number of milliseconds (fractions allowed).
    fn duration(&self, name: &str) -> Result<Option<std::time::Duration>> {
        self.get(name)
            .map(|value| {
                value
                    .as_f64()
                    .and_then(|ms| std::time::Duration::try_from_secs_f64(ms / 1000.0).ok())
                    .ok_or_else(|| self.wrong(name, "a non-negative number of milliseconds"))
            })
            .transpose()
    }

    fn flag(&self, name: &str) -> Result<bool> {
        self.get(name).map_or(Ok(false), |value| value.as_bool().ok_or_else(|| self.wrong(name, "a boolean")))
    }

    fn strings(&self, name: &str) -> Result<Vec<String>> {
        from_json_ref::<Vec<String>>(name, self.required(name)?)
    }

    fn optional_str(&self, name: &str) -> Result<Option<&str>> {
        self.get(name).map(|value| value.as_str().ok_or_else(|| self.wrong(name, "a string"))).transpose()
    }

    /// The options of an enqueue, beside its item (`options`, absent for none): `run_at`,
    /// `priority`, `unique_key`, `on_duplicate` ("keep" | "replace" | "refuse"), `unique_for_ms`,
    /// `partition_key`. An unknown name is refused.
    fn enqueue_options(&self) -> Result<EnqueueOptions> {
        match self.get("options") {
            None => Ok(EnqueueOptions::default()),
            Some(options) => enqueue_options_of(self.op, options),
        }
    }

    fn options_of_enqueue(&self) -> Result<EnqueueOptions> {
        let priority = match self.get("priority") {
            None => 0,
            Some(value) => value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| self.wrong("priority", "an integer from -32768 to 32767"))?,
        };
        Ok(EnqueueOptions {
            run_at: self.optional("run_at")?,
            priority,
            unique_key: self.optional_str("unique_key")?.map(str::to_string),
            on_duplicate: self.optional_str("on_duplicate")?.map(str::parse).transpose()?.unwrap_or_default(),
            unique_for: self.duration("unique_for_ms")?,
            partition_key: self.optional_str("partition_key")?.map(str::to_string),
        })
    }

    /// A JSON object of named arguments nested in this call's (a batch's entry), as [`Args`].
    fn nested<'b>(&'b self, value: &'b Value, what: &str) -> Result<Args<'b>> {
        match value {
            Value::Object(args) => Ok(Args { op: self.op, args }),
            _ => Err(Error::invalid(format!("{}: each {what} must be an object", self.op))),
        }
    }

    /// `items`: a list of `{item, options}` (options as for `enqueue`, optional).
    fn jobs(&self) -> Result<Vec<(WorkItem, EnqueueOptions)>> {
        let list = self.required("items")?.as_array().ok_or_else(|| self.wrong("items", "a list"))?;
        list.iter()
            .map(|entry| {
                let entry = self.nested(entry, "item of items")?;
                Ok((entry.record::<WorkItem>("item")?, entry.enqueue_options()?))
            })
            .collect()
    }

    /// A count of items a claim may take, at least 1 (`max`, default 1).
    fn max(&self) -> Result<usize> {
        match self.get("max") {
            None => Ok(1),
            Some(value) => value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| self.wrong("max", "a count of at least 1")),
        }
    }

    fn settings(&self) -> Result<QueueSettings> {
        queue_settings_of(self.op, self.required("settings")?)
    }

    fn settings_fields(&self) -> Result<QueueSettings> {
        let settings = self;
        let limit = |name: &str| -> Result<Option<u32>> {
            settings
                .get(name)
                .map(|value| {
                    value.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| settings.wrong(name, "a count"))
                })
                .transpose()
        };
        let rate_limit = match settings.get("rate_limit") {
            None => None,
            Some(value) => {
                let rate = settings.nested(value, "rate_limit")?;
                let claims = rate.required("claims")?.as_u64().and_then(|n| u32::try_from(n).ok());
                let claims = claims.ok_or_else(|| rate.wrong("claims", "a count"))?;
                let period = rate.duration("period_ms")?.ok_or_else(|| rate.wrong("period_ms", "a duration"))?;
                Some(RateLimit { claims, period })
            }
        };
        if let Some(unknown) = settings
            .args
            .keys()
            .find(|key| !["paused", "concurrency", "partition_concurrency", "rate_limit"].contains(&key.as_str()))
        {
            return Err(Error::invalid(format!("{}: unknown queue setting {unknown:?}", settings.op)));
        }
        Ok(QueueSettings {
            paused: settings.flag("paused")?,
            concurrency: limit("concurrency")?,
            partition_concurrency: limit("partition_concurrency")?,
            rate_limit,
        })
    }

    fn policy(&self) -> Result<Option<RetentionPolicy>> {
        self.optional::<RetentionPolicy>("policy")
    }
}

/// The options of an enqueue from their JSON form (`run_at`, `priority`, `unique_key`,
/// `on_duplicate`, `unique_for_ms`, `partition_key`; absent or null: the default). An unknown
/// name or a value of the wrong kind: InvalidArgument.
pub fn enqueue_options(options: &Value) -> Result<EnqueueOptions> {
    enqueue_options_of("enqueue", options)
}

fn enqueue_options_of(op: &str, options: &Value) -> Result<EnqueueOptions> {
    const NAMES: [&str; 6] = ["run_at", "priority", "unique_key", "on_duplicate", "unique_for_ms", "partition_key"];
    let Value::Object(fields) = options else {
        return Err(Error::invalid(format!("{op}: options must be an object")));
    };
    if let Some(unknown) = fields.keys().find(|key| !NAMES.contains(&key.as_str())) {
        return Err(Error::invalid(format!(
            "{op}: unknown enqueue option {unknown:?} (the options are {})",
            NAMES.join(", ")
        )));
    }
    Args { op, args: fields }.options_of_enqueue()
}

/// A queue type's settings from their JSON form (`paused`, `concurrency`,
/// `partition_concurrency`, `rate_limit` = `{claims, period_ms}`). An unknown name or a value of
/// the wrong kind: InvalidArgument.
pub fn queue_settings(settings: &Value) -> Result<QueueSettings> {
    queue_settings_of("configure_queue", settings)
}

fn queue_settings_of(op: &str, settings: &Value) -> Result<QueueSettings> {
    let Value::Object(fields) = settings else {
        return Err(Error::invalid(format!("{op}: settings must be an object")));
    };
    Args { op, args: fields }.settings_fields()
}

// ── Store options ────────────────────────────────────────────────────────────────────────────

/// The names [`options`] reads.
pub const OPTIONS: [&str; 8] = [
    "durability",
    "lease_ms",
    "backoff_base_ms",
    "backoff_cap_ms",
    "backoff_jitter",
    "busy_timeout_ms",
    "clock",
    "read_only",
];

/// Store options from their JSON form, as the bindings and the conformance scenarios give them:
/// `durability` ("full" | "normal"), `lease_ms`, `backoff_base_ms`, `backoff_cap_ms`,
/// `busy_timeout_ms` (non-negative numbers of milliseconds), `backoff_jitter`, `read_only`
/// (booleans), `clock` (an RFC 3339 time: a manual clock standing there). Absent or null: the
/// default. An unknown name or a value of the wrong kind: InvalidArgument.
pub fn options(given: &Value) -> Result<Options> {
    let empty = Map::new();
    let args = match given {
        Value::Object(given) => Args { op: "options", args: given },
        Value::Null => Args { op: "options", args: &empty },
        _ => return Err(Error::invalid("options must be a JSON object")),
    };
    if let Some(unknown) = args.args.keys().find(|key| !OPTIONS.contains(&key.as_str())) {
        return Err(Error::invalid(format!("unknown option {unknown:?} (the options are {})", OPTIONS.join(", "))));
    }
    let defaults = Options::default();
    let mut options = Options::default();
    if args.get("durability").is_some() {
        options = options.durability(args.str("durability")?.parse::<Durability>()?);
    }
    if let Some(lease) = args.duration("lease_ms")? {
        options = options.lease(lease);
    }
    let base = args.duration("backoff_base_ms")?.unwrap_or(defaults.backoff_base);
    let cap = args.duration("backoff_cap_ms")?.unwrap_or(defaults.backoff_cap);
    options = options.backoff(base, cap);
    if let Some(timeout) = args.duration("busy_timeout_ms")? {
        options = options.busy_timeout(timeout);
    }
    if let Some(start) = args.optional::<chrono::DateTime<chrono::Utc>>("clock")? {
        options = options.clock(Clock::manual(start));
    }
    Ok(options.backoff_jitter(args.flag("backoff_jitter")?).read_only(args.flag("read_only")?))
}

/// The form an operation's result is given in: a JSON value ([`call`]), or JSON text
/// ([`call_json`]), printed straight from the record rather than through a value first.
trait Answer {
    type Out;
    fn of<T: Serialize + ?Sized>(result: &T) -> Result<Self::Out>;
    /// A result built as a JSON value already: taken as it is, not copied.
    fn value(result: Value) -> Result<Self::Out>;
    /// An execution's events after `since`, in this form.
    fn events(store: &Store, execution_id: &ExecutionId, since: i64) -> Result<Self::Out>;
}

struct AsValue;

impl Answer for AsValue {
    type Out = Value;
    fn of<T: Serialize + ?Sized>(result: &T) -> Result<Value> {
        to_json(result)
    }
    fn value(result: Value) -> Result<Value> {
        Ok(result)
    }
    fn events(store: &Store, execution_id: &ExecutionId, since: i64) -> Result<Value> {
        to_json(&store.get_events_raw(execution_id, since)?)
    }
}

struct AsText;

impl Answer for AsText {
    type Out = String;
    fn of<T: Serialize + ?Sized>(result: &T) -> Result<String> {
        Ok(serde_json::to_string(result)?)
    }
    fn value(result: Value) -> Result<String> {
        Self::of(&result)
    }
    /// Each stored kind spliced in as it is, instead of parsed and printed again.
    fn events(store: &Store, execution_id: &ExecutionId, since: i64) -> Result<String> {
        store.get_events_json(execution_id, since)
    }
}

/// Runs operation `op` with `args` (a JSON object of named arguments) on `store`; its result in
/// the wire form. An unknown operation or a malformed argument is InvalidArgument.
pub fn call(store: &Store, op: &str, args: &Value) -> Result<Value> {
    run::<AsValue>(store, op, args, None)
}

/// The table of operations, once for both forms of result.
fn run<A: Answer>(store: &Store, op: &str, args: &Value, cancel: Option<&crate::queue::Cancel>) -> Result<A::Out> {
    let empty = Map::new();
    let args = match args {
        Value::Object(args) => Args { op, args },
        Value::Null => Args { op, args: &empty },
        _ => return Err(Error::invalid(format!("{op}: arguments must be a JSON object"))),
    };
    match op {
        "advance_clock" => {
            let by = args.duration("ms")?.ok_or_else(|| args.wrong("ms", "a number of milliseconds"))?;
            unit::<A>(store.clock().advance(by))
        }
        "set_clock" => unit::<A>(store.clock().set(args.record("at")?)),
        "now" => A::of(&store.now()),
        "write_stats" => A::of(&store.write_stats()),
        "store_workflow" => unit::<A>(store.store_workflow(&args.record("definition")?)),
        "get_workflow" => A::of(&store.get_workflow(args.str("workflow_id")?, args.str("version")?)?),
        "create_execution" => unit::<A>(store.create_execution(&args.record("execution")?)),
        "get_execution" => A::of(&store.get_execution(&args.execution_id()?)?),
        "update_execution_status" => {
            unit::<A>(store.update_execution_status(&args.execution_id()?, args.record("status")?))
        }
        "update_execution_current_state" => {
            unit::<A>(store.update_execution_current_state(&args.execution_id()?, &args.value("current_state")))
        }
        "patch_append_array" => {
            unit::<A>(store.patch_append_array(&args.execution_id()?, args.str("key")?, args.value("value")))
        }
        "list_executions" => A::of(&store.list_executions(
            args.optional("status")?,
            args.count("limit", 100)?,
            args.count("offset", 0)?,
        )?),
        "append_event" => A::of(&store.append_event_raw(&args.record("event")?)?),
        "append_events" => unit::<A>(store.append_events_raw(&args.record::<Vec<StoredEvent>>("events")?)),
        "append_next_event" => {
            let mut written = store.append_next_raw(&args.execution_id()?, vec![args.value("kind")])?;
            A::of(&written.pop())
        }
        "append_next_events" => {
            A::of(&store.append_next_raw(&args.execution_id()?, args.record::<Vec<Value>>("kinds")?)?)
        }
        "get_events" => A::events(store, &args.execution_id()?, 0),
        "get_events_since" => A::events(store, &args.execution_id()?, args.int("since")?),
        "latest_sequence" => A::of(&store.latest_sequence(&args.execution_id()?)?),
        "write_snapshot" => unit::<A>(store.write_snapshot(&args.record("snapshot")?)),
        "latest_snapshot" => A::of(&store.latest_snapshot(&args.execution_id()?)?),
        "materialize" => A::value(store.materialize(&args.execution_id()?)?.to_json()),
        "enqueue_work_item" => A::of(&store.enqueue_work_item(&args.record("item")?)?),
        "enqueue_work_items" => A::of(&store.enqueue_work_items(&args.record::<Vec<WorkItem>>("items")?)?),
        "get_work_item" => A::of(&store.get_work_item(&args.item_id()?)?),
        "list_work_items" => A::of(&store.list_work_items(
            args.optional("status")?,
            args.count("limit", 100)?,
            args.count("offset", 0)?,
        )?),
        "claim_work_item" => {
            let types = args.strings("queue_types")?;
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            A::of(&store.claim_work_item(args.str("worker_id")?, &types)?)
        }
        "claim_fenced" => {
            let types = args.strings("queue_types")?;
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            A::of(&store.claim_fenced(args.str("worker_id")?, &types, args.duration("lease_ms")?)?)
        }
        "claim_batch" => {
            let types = args.strings("queue_types")?;
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            A::of(&store.claim_batch(args.str("worker_id")?, &types, args.max()?, args.duration("lease_ms")?)?)
        }
        "claim_wait" => {
            let types = args.strings("queue_types")?;
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            let empty = Value::Object(Map::new());
            let options = args.nested(args.get("options").unwrap_or(&empty), "options")?;
            if let Some(unknown) =
                options.args.keys().find(|key| !["max", "lease_ms", "timeout_ms"].contains(&key.as_str()))
            {
                return Err(Error::invalid(format!(
                    "claim_wait: unknown option {unknown:?} (max, lease_ms, timeout_ms)"
                )));
            }
            let timeout = options.duration("timeout_ms")?.unwrap_or_default();
            A::of(&store.claim_wait(
                args.str("worker_id")?,
                &types,
                options.max()?,
                options.duration("lease_ms")?,
                timeout,
                cancel,
            )?)
        }
        "renew_lease" => unit::<A>(store.renew_lease(&args.item_id()?, args.str("worker_id")?)),
        "renew_fenced" => match args.get("progress") {
            None => A::of(&store.renew_fenced(&args.item_id()?, args.int("token")?, args.duration("lease_ms")?)?),
            Some(progress) => A::of(&store.renew_with_progress(
                &args.item_id()?,
                args.int("token")?,
                progress,
                args.duration("lease_ms")?,
            )?),
        },
        "complete_batch" => {
            let list = args.required("leases")?.as_array().ok_or_else(|| args.wrong("leases", "a list"))?;
            let leases = list
                .iter()
                .map(|entry| {
                    let entry = args.nested(entry, "lease of leases")?;
                    Ok((uuid("work item id", entry.str("item_id")?)?, entry.int("token")?))
                })
                .collect::<Result<Vec<_>>>()?;
            A::of(&store.complete_batch(&leases)?)
        }
        "cancel_work_item" => A::of(&store.cancel_work_item(&args.item_id()?)?),
        "enqueue" => A::of(&store.enqueue(&args.record("item")?, &args.enqueue_options()?)?),
        "enqueue_batch" => A::of(&store.enqueue_batch(&args.jobs()?)?),
        "append_and_enqueue" => {
            let (events, enqueued) =
                store.append_and_enqueue(&args.execution_id()?, args.record::<Vec<Value>>("kinds")?, &args.jobs()?)?;
            A::value(serde_json::json!({"events": to_json(&events)?, "enqueued": to_json(&enqueued)?}))
        }
        "configure_queue" => unit::<A>(store.configure_queue(args.str("queue_type")?, &args.settings()?)),
        "pause_queue" => unit::<A>(store.pause_queue(args.str("queue_type")?)),
        "resume_queue" => unit::<A>(store.resume_queue(args.str("queue_type")?)),
        "queue_settings" => A::of(&store.queue_settings(args.str("queue_type")?)?),
        "list_queues" => A::of(&store.list_queues()?),
        "prune" => {
            let policy = args.policy()?.ok_or_else(|| args.wrong("policy", "a retention policy"))?;
            A::of(&store.prune(&policy, args.flag("dry_run")?)?)
        }
        "set_retention" => unit::<A>(store.set_retention(args.policy()?.as_ref())),
        "retention" => A::of(&store.retention()?),
        "complete_work_item" => unit::<A>(store.complete_work_item(&args.item_id()?)),
        "complete_fenced" => unit::<A>(store.complete_fenced(&args.item_id()?, args.int("token")?)),
        "fail_work_item" => unit::<A>(store.fail_work_item(&args.item_id()?, args.str("error")?)),
        "fail_fenced" => unit::<A>(store.fail_fenced(&args.item_id()?, args.int("token")?, args.str("error")?)),
        "reclaim_expired_leases" => A::of(&store.reclaim_expired_leases()?),
        "move_to_dead_letter" => unit::<A>(store.move_to_dead_letter(&args.item_id()?, args.str("error")?)),
        "requeue_dead_letter" => unit::<A>(store.requeue_dead_letter(&args.item_id()?)),
        "requeue_all_dead_letters" => A::of(&store.requeue_all_dead_letters()?),
        "purge_dead_letters" => A::of(&store.purge_dead_letters()?),
        "create_token" => {
            let (token, info) = match args.optional("expires_at")? {
                Some(at) => store.create_token_expiring(args.str("name")?, args.str("role")?, at)?,
                None => store.create_token(args.str("name")?, args.str("role")?)?,
            };
            A::value(serde_json::json!({"token": token, "info": to_json(&info)?}))
        }
        "validate_token" => A::of(&store.validate_token(args.str("token")?)?),
        "revoke_token" => unit::<A>(store.revoke_token(args.str("id")?)),
        "list_tokens" => A::of(&store.list_tokens()?),
        "create_tenant" => unit::<A>(store.create_tenant(&args.record("tenant")?)),
        "get_tenant" => A::of(&store.get_tenant(&TenantId(args.str("id")?.to_string()))?),
        "list_tenants" => A::of(&store.list_tenants()?),
        "update_tenant" => unit::<A>(store.update_tenant(&args.record("tenant")?)),
        "backup" => A::of(&store.backup(args.str("dest")?)?),
        "summary" => A::of(&store.summary()?),
        "export_jsonl" => {
            let execution = args.optional::<String>("execution_id")?.map(|id| execution_id(&id)).transpose()?;
            let mut out = Vec::new();
            store.export(execution.as_ref(), &mut out, &mut |_| {})?;
            let text = String::from_utf8(out).map_err(|_| Error::internal("an export that is not UTF-8"))?;
            A::of(&text)
        }
        "import_jsonl" => {
            let text = args.str("text")?;
            A::of(&store.import(&mut text.as_bytes(), text.len() as u64, &mut |_| {})?)
        }
        "close" => unit::<A>(store.close()),
        other => Err(Error::invalid(format!("unknown operation {other:?}"))),
    }
}

fn unit<A: Answer>(result: Result<()>) -> Result<A::Out> {
    result.and_then(|()| A::of(&()))
}

/// [`call`], with the result as JSON text: what a binding that hands JSON text to its host wants.
/// Reading a history splices each stored kind in as it is, instead of parsing and printing it.
pub fn call_json(store: &Store, op: &str, args: &Value) -> Result<String> {
    run::<AsText>(store, op, args, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkflowExecution;

    #[test]
    fn a_refusal_carries_its_code_its_flag_and_its_message() {
        assert_eq!(refusal(&Error::invalid("bad id")), "!INVALID_ARGUMENT bad id");
        assert_eq!(refusal(&Error::database("busy").with_retry()), "!DATABASE+retryable busy");
        let unknown = Error::database("lost").with_retry().with_unknown_outcome("the commit's answer was lost");
        assert!(!unknown.retryable(), "an unknown outcome is never retryable");
        assert!(refusal(&unknown).starts_with("!DATABASE+outcome_unknown lost; the outcome is unknown"));
    }

    #[test]
    fn a_record_that_does_not_fit_is_an_invalid_argument() {
        let err = from_json::<WorkflowExecution>("execution", serde_json::json!({"execution_id": 3})).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert!(err.message().starts_with("invalid execution"), "{err}");
        assert_eq!(uuid("item id", "nope").unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
    }

    #[test]
    fn parse_refuses_nesting_past_the_limit_before_parsing() {
        let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        assert!(parse(&nested(MAX_JSON_DEPTH + 2), 2).is_ok());
        let err = parse(&nested(MAX_JSON_DEPTH + 3), 2).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
        assert!(err.message().contains("deeper than 127"), "{err}");
        // A million levels: refused, and no stack overflow on the way.
        assert_eq!(parse(&nested(1_000_000), 2).unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
        // Brackets inside strings (escaped quotes too) are not nesting.
        assert_eq!(parse(r#"{"a": "[[[[\"[[["}"#, 0).unwrap(), serde_json::json!({"a": "[[[[\"[[["}));
        assert_eq!(parse("{\"a\": 1", 0).unwrap_err().kind(), crate::ErrorKind::Serialization);
        assert_eq!(parse("{} trailing", 0).unwrap_err().kind(), crate::ErrorKind::Serialization);
    }

    #[test]
    fn calls_with_bad_arguments_are_invalid_arguments() {
        let store = Store::open_in_memory(crate::Options::default()).unwrap();
        let kind = |result: Result<Value>| result.unwrap_err().kind();
        use crate::ErrorKind::InvalidArgument;
        assert_eq!(kind(call(&store, "no_such_op", &Value::Null)), InvalidArgument);
        assert_eq!(kind(call(&store, "get_execution", &serde_json::json!({}))), InvalidArgument);
        assert_eq!(kind(call(&store, "get_execution", &serde_json::json!({"execution_id": 7}))), InvalidArgument);
        assert_eq!(kind(call(&store, "list_executions", &serde_json::json!({"limit": -1}))), InvalidArgument);
        assert_eq!(kind(call(&store, "list_executions", &serde_json::json!([1]))), InvalidArgument);
        assert_eq!(call(&store, "list_executions", &Value::Null).unwrap(), serde_json::json!([]));
    }

    #[test]
    fn histories_as_text_are_the_wire_form() {
        let store = Store::open_in_memory(crate::Options::default()).unwrap();
        let execution = crate::WorkflowExecution::new("wf", "1", Value::Null);
        store.create_execution(&execution).unwrap();
        let id = execution.execution_id.0.to_string();
        for kind in
            [serde_json::json!({"type": "a", "n": 1.5, "s": "\"quoted\" \u{2603}"}), serde_json::json!({"type": "b"})]
        {
            store.append_next_raw(&execution.execution_id, vec![kind]).unwrap();
        }
        for since in [0, 1] {
            let args = serde_json::json!({"execution_id": id, "since": since});
            let text = call_json(&store, "get_events_since", &args).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value, call(&store, "get_events_since", &args).unwrap());
        }
        let empty =
            call_json(&store, "get_events", &serde_json::json!({"execution_id": uuid::Uuid::new_v4().to_string()}));
        assert_eq!(empty.unwrap(), "[]");
    }

    #[test]
    fn results_as_text_and_as_values_agree() {
        // `call_json` prints each result straight from its record, `call` builds a value: the two
        // must be the same JSON. Reads, so that each can run twice on the same state.
        let store = Store::open_in_memory(crate::Options::default()).unwrap();
        let execution =
            crate::WorkflowExecution::new("wf", "1", serde_json::json!({"big": u64::MAX, "x": [1.5, null]}));
        store.create_execution(&execution).unwrap();
        let id = execution.execution_id.0.to_string();
        store.append_next_raw(&execution.execution_id, vec![serde_json::json!({"type": "a", "n": -7})]).unwrap();
        let item =
            store.enqueue_work_item(&WorkItem::new(execution.execution_id.clone(), "n", "q", Value::Null)).unwrap();
        store.claim_fenced("w", &["q"], None).unwrap();
        let now = chrono::Utc::now();
        store
            .create_tenant(&crate::Tenant {
                id: TenantId::from("acme"),
                name: "Acme".into(),
                status: crate::TenantStatus::Active,
                policy: Some(serde_json::json!({"tier": 2})),
                limits: None,
                created_at: now,
                updated_at: now,
            })
            .unwrap();
        let reads = [
            ("get_execution", serde_json::json!({"execution_id": id})),
            ("list_executions", Value::Null),
            ("latest_sequence", serde_json::json!({"execution_id": id})),
            ("materialize", serde_json::json!({"execution_id": id})),
            ("get_work_item", serde_json::json!({"item_id": item.to_string()})),
            ("list_work_items", serde_json::json!({"status": "claimed"})),
            ("get_tenant", serde_json::json!({"id": "acme"})),
            ("summary", Value::Null),
            ("latest_snapshot", serde_json::json!({"execution_id": id})),
        ];
        for (op, args) in reads {
            let text = call_json(&store, op, &args).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value, call(&store, op, &args).unwrap(), "{op}");
        }
    }

    #[test]
    fn options_read_from_json_and_refuse_what_they_do_not_know() {
        let options = super::options(&serde_json::json!({
            "durability": "normal", "lease_ms": 1500, "backoff_base_ms": 0.5, "busy_timeout_ms": 10,
            "clock": "2026-01-01T00:00:00Z", "read_only": true, "backoff_jitter": null,
        }))
        .unwrap();
        assert_eq!(options.durability, crate::Durability::Normal);
        assert_eq!(options.lease, std::time::Duration::from_millis(1500));
        assert_eq!(options.backoff_base, std::time::Duration::from_micros(500));
        assert_eq!(options.backoff_cap, crate::Options::default().backoff_cap);
        assert!(options.clock.is_manual() && options.read_only && !options.backoff_jitter);
        assert!(!super::options(&Value::Null).unwrap().clock.is_manual());
        for bad in [
            serde_json::json!({"lease": 5}),
            serde_json::json!({"lease_ms": -1}),
            serde_json::json!({"lease_ms": "soon"}),
            serde_json::json!({"durability": "eventually"}),
            serde_json::json!({"clock": "yesterday"}),
            serde_json::json!({"read_only": 1}),
            serde_json::json!([]),
        ] {
            assert_eq!(super::options(&bad).unwrap_err().kind(), crate::ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
