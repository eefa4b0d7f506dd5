//! Hostile input, as a binding would pass it: arbitrary strings for ids, arbitrary JSON for
//! records, kinds and states (deeply nested, NUL bytes, odd numbers, any Unicode), any sequence,
//! limit, token or tenant. Nothing may panic, every error must be one of the contract's kinds for
//! bad input (never Database: the file stays healthy), and what was stored before is unchanged.

use jetstate::serde_json::{json, Map, Value};
use jetstate::{
    wire, ErrorKind, Event, EventKind, ExecutionId, Options, Store, StoredEvent, TenantId, WorkItem, WorkflowExecution,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

mod support;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        ".*".prop_map(Value::from),
        "\\PC{0,8}\u{0}\\PC{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((".{0,6}", inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Strings a binding might be handed for an id: junk, near-misses and real UUIDs.
fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "exec_[0-9a-f]{0,40}",
        "[0-9a-f-]{30,40}",
        Just(String::new()),
        Just("\u{0}".to_string()),
        any::<u128>().prop_map(|n| jetstate::uuid::Uuid::from_u128(n).to_string()),
    ]
}

#[derive(Debug, Clone)]
enum Call {
    CreateExecution(Value),
    GetExecution(String),
    UpdateState(String, Value),
    PatchAppend(String, String, Value),
    AppendEvent(String, i64, Value),
    AppendNext(String, Value),
    GetEventsSince(String, i64),
    Enqueue(Value),
    Complete(String),
    CompleteFenced(String, i64),
    Renew(String, i64, u64),
    Claim(String, Vec<String>, Option<u64>),
    List(Option<String>, u32, u32),
    Validate(String),
    Revoke(String),
    CreateTenant(Value),
    Tenant(String, Value),
    /// The queue's newer operations, by name with JSON arguments, as the bindings call them.
    Wire(&'static str, Value),
}

/// Arguments of the queue's newer operations: what a caller could hand over, well formed or not.
fn wire_call() -> impl Strategy<Value = Call> {
    let number = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from)
    ];
    prop_oneof![
        (json_value(), json_value())
            .prop_map(|(item, options)| Call::Wire("enqueue", json!({"item": item, "options": options}))),
        (json_value(), number.clone(), ".{0,600}", ".{0,12}").prop_map(|(item, priority, key, mode)| {
            Call::Wire(
                "enqueue",
                json!({"item": item, "options": {"priority": priority, "unique_key": key, "on_duplicate": mode}}),
            )
        }),
        json_value().prop_map(|items| Call::Wire("enqueue_batch", json!({"items": items}))),
        (".{0,8}", prop::collection::vec(".{0,6}", 0..3), number.clone())
            .prop_map(|(w, q, max)| Call::Wire("claim_batch", json!({"worker_id": w, "queue_types": q, "max": max}))),
        (id_text(), number.clone())
            .prop_map(|(id, token)| Call::Wire("complete_batch", json!({"leases": [{"item_id": id, "token": token}]}))),
        json_value().prop_map(|leases| Call::Wire("complete_batch", json!({"leases": leases}))),
        id_text().prop_map(|id| Call::Wire("cancel_work_item", json!({"item_id": id}))),
        (".{0,8}", json_value())
            .prop_map(|(q, settings)| Call::Wire("configure_queue", json!({"queue_type": q, "settings": settings}))),
        (".{0,8}", number.clone(), number.clone()).prop_map(|(q, c, r)| {
            Call::Wire(
                "configure_queue",
                json!({"queue_type": q, "settings": {"concurrency": c, "rate_limit": {"claims": r, "period_ms": c}}}),
            )
        }),
        (json_value(), any::<bool>())
            .prop_map(|(policy, dry)| Call::Wire("prune", json!({"policy": policy, "dry_run": dry}))),
        json_value().prop_map(|policy| Call::Wire("set_retention", json!({"policy": policy}))),
        (id_text(), number).prop_map(|(id, token)| Call::Wire(
            "renew_fenced",
            json!({"item_id": id, "token": token, "progress": {"p": 1}})
        )),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        json_value().prop_map(Call::CreateExecution),
        id_text().prop_map(Call::GetExecution),
        (id_text(), json_value()).prop_map(|(id, v)| Call::UpdateState(id, v)),
        (id_text(), ".{0,10}", json_value()).prop_map(|(id, k, v)| Call::PatchAppend(id, k, v)),
        (id_text(), any::<i64>(), json_value()).prop_map(|(id, s, k)| Call::AppendEvent(id, s, k)),
        (id_text(), json_value()).prop_map(|(id, k)| Call::AppendNext(id, k)),
        (id_text(), any::<i64>()).prop_map(|(id, s)| Call::GetEventsSince(id, s)),
        json_value().prop_map(Call::Enqueue),
        id_text().prop_map(Call::Complete),
        (id_text(), any::<i64>()).prop_map(|(id, t)| Call::CompleteFenced(id, t)),
        (id_text(), any::<i64>(), any::<u64>()).prop_map(|(id, t, ms)| Call::Renew(id, t, ms)),
        (".{0,10}", prop::collection::vec(".{0,6}", 0..4), proptest::option::of(any::<u64>()))
            .prop_map(|(w, q, l)| Call::Claim(w, q, l)),
        (proptest::option::of(".{0,12}"), any::<u32>(), any::<u32>()).prop_map(|(s, l, o)| Call::List(s, l, o)),
        ".{0,80}".prop_map(Call::Validate),
        id_text().prop_map(Call::Revoke),
        json_value().prop_map(Call::CreateTenant),
        (".{0,12}", json_value()).prop_map(|(t, v)| Call::Tenant(t, v)),
        wire_call(),
    ]
}

/// Runs one call the way a binding would: text and JSON in, through the wire module.
fn run(store: &Store, call: Call) -> Result<(), jetstate::Error> {
    match call {
        Call::CreateExecution(v) => store.create_execution(&wire::from_json::<WorkflowExecution>("execution", v)?),
        Call::GetExecution(id) => store.get_execution(&wire::execution_id(&id)?).map(drop),
        Call::UpdateState(id, v) => store.update_execution_current_state(&wire::execution_id(&id)?, &v),
        Call::PatchAppend(id, key, v) => store.patch_append_array(&wire::execution_id(&id)?, &key, v),
        Call::AppendEvent(id, sequence, kind) => {
            let event = Event {
                sequence,
                kind: EventKind::from_json(kind),
                ..Event::new(wire::execution_id(&id)?, 1, EventKind::Unknown(json!(null)))
            };
            store.append_event(event).map(drop)
        }
        Call::AppendNext(id, kind) => store.append_next_raw(&wire::execution_id(&id)?, vec![kind]).map(drop),
        Call::GetEventsSince(id, since) => store.get_events_raw(&wire::execution_id(&id)?, since).map(drop),
        Call::Enqueue(v) => store.enqueue_work_item(&wire::from_json::<WorkItem>("work item", v)?).map(drop),
        Call::Complete(id) => store.complete_work_item(&wire::uuid("work item id", &id)?),
        Call::CompleteFenced(id, token) => store.complete_fenced(&wire::uuid("work item id", &id)?, token),
        Call::Renew(id, token, ms) => store
            .renew_fenced(&wire::uuid("work item id", &id)?, token, Some(std::time::Duration::from_millis(ms)))
            .map(drop),
        Call::Claim(worker, queues, lease) => {
            let queues: Vec<&str> = queues.iter().map(String::as_str).collect();
            store.claim_fenced(&worker, &queues, lease.map(std::time::Duration::from_millis)).map(drop)
        }
        Call::List(status, limit, offset) => {
            let status = status.map(|s| s.parse()).transpose()?;
            store.list_executions(status, limit, offset).map(drop)
        }
        Call::Validate(token) => store.validate_token(&token).map(drop),
        Call::Revoke(id) => store.revoke_token(&id),
        Call::CreateTenant(v) => store.create_tenant(&wire::from_json("tenant", v)?),
        Call::Tenant(tenant, v) => {
            store.for_tenant(TenantId(tenant)).update_execution_current_state(&ExecutionId::new(), &v)
        }
        Call::Wire(op, args) => wire::call(store, op, &args).map(drop),
    }
}

/// The calls on `store`, around a sentinel execution, event and item that must come out unchanged.
fn hostile_calls_on(store: Store, calls: Vec<Call>) -> Result<(), TestCaseError> {
    let sentinel = WorkflowExecution::new("sentinel", "1", json!({"keep": ["me", 1, null]}));
    store.create_execution(&sentinel).expect("sentinel");
    store.append_next_raw(&sentinel.execution_id, vec![json!({"type": "kept", "n": 1})]).expect("sentinel event");
    let item = WorkItem::new(sentinel.execution_id.clone(), "n", "sentinel-queue", json!({"keep": true}));
    store.enqueue_work_item(&item).expect("sentinel item");
    let events_before: Vec<StoredEvent> = store.get_events_raw(&sentinel.execution_id, 0).expect("events");

    for call in calls {
        let shown = format!("{call:?}");
        if let Err(err) = run(&store, call) {
            prop_assert!(
                matches!(
                    err.kind(),
                    ErrorKind::NotFound
                        | ErrorKind::SequenceConflict
                        | ErrorKind::Conflict
                        | ErrorKind::LeaseLost
                        | ErrorKind::InvalidArgument
                        | ErrorKind::Serialization
                ),
                "{} gave {} ({})",
                shown,
                err.code(),
                err
            );
            prop_assert!(!err.message().is_empty());
        }
    }
    let kept = store.get_execution(&sentinel.execution_id).expect("read").expect("the sentinel stays");
    prop_assert_eq!(kept.current_state, json!({"keep": ["me", 1, null]}));
    prop_assert_eq!(store.get_events_raw(&sentinel.execution_id, 0).expect("events"), events_before);
    let entry = store.get_work_item(&item.id).expect("read").expect("the sentinel item stays");
    prop_assert_eq!(entry.item.payload, json!({"keep": true}));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hostile_calls_get_clear_errors_and_change_nothing_stored(calls in prop::collection::vec(call(), 1..40)) {
        hostile_calls_on(Store::open_in_memory(Options::default()).expect("opens"), calls)?;
    }
}

/// The same on the server engine, each case on a fresh schema (fewer cases: each one migrates).
#[cfg(feature = "postgres")]
mod on_postgresql {
    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn hostile_calls_get_clear_errors_and_change_nothing_stored(calls in prop::collection::vec(call(), 1..40)) {
            let store = Store::open(support::server::fresh_url("hostile"), Options::default()).expect("opens");
            hostile_calls_on(store, calls)?;
        }
    }

    #[test]
    fn a_hundred_megabyte_payload_round_trips() {
        round_trips_a_hundred_megabytes(
            Store::open(support::server::fresh_url("big"), Options::default()).expect("opens"),
        );
    }
}

#[test]
fn a_hundred_megabyte_payload_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    round_trips_a_hundred_megabytes(Store::open(dir.path().join("big.db"), Options::default()).expect("opens"));
}

fn round_trips_a_hundred_megabytes(store: Store) {
    let big = "x".repeat(100 << 20);
    let execution = WorkflowExecution::new("wf", "1", json!({}));
    store.create_execution(&execution).expect("an execution");
    let item = WorkItem::new(execution.execution_id.clone(), "n", "big", json!({ "blob": big }));
    store.enqueue_work_item(&item).expect("a 100 MB payload is stored");
    let lease = store.claim_fenced("w", &["big"], None).expect("claim").expect("the item");
    assert_eq!(lease.item.payload["blob"].as_str().map(str::len), Some(100 << 20));
    store.complete_fenced(&lease.item.id, lease.token).expect("complete");
}

#[test]
fn a_lone_surrogate_escape_is_an_invalid_argument_and_pairs_are_fine() {
    use jetstate::wire;
    let store = Store::open_in_memory(Options::default()).expect("opens");
    for lone in [
        r#"{"execution_id": "\ud800"}"#,
        r#"{"execution_id": "x\udc00"}"#,
        r#"{"\ud83d": 1}"#,
        r#"{"a": "\ud83d\u0041"}"#,
    ] {
        let err = wire::parse(lone, 2).expect_err(lone);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{lone}: {err}");
        assert!(err.message().contains("lone UTF-16 surrogate"), "{err}");
        assert!(wire::call_text(&store, "get_execution", lone).starts_with("!INVALID_ARGUMENT "));
    }
    assert_eq!(
        wire::parse(r#"{"a": "\ud83d\ude00 and \\ud800"}"#, 2).expect("a pair, and an escaped backslash")["a"],
        "😀 and \\ud800"
    );
    let broken = wire::parse(r#"{"a": "#, 2).expect_err("not JSON");
    assert_eq!(broken.kind(), ErrorKind::Serialization);
}
