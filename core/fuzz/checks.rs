//! What each fuzz target checks, once: the targets in `fuzz_targets/` call these with libFuzzer's
//! inputs, and `core/tests/fuzz_regressions.rs` replays the checked-in corpus and every input a
//! run ever found failing (`regressions/<target>/`) through them in the ordinary test run.
//! Each function panics when the store breaks a promise for that input.

// Each target includes the whole module and calls one of its functions.
#![allow(dead_code)]

use jetstate::serde_json::{self, json, Value};
use jetstate::{
    apply_events, wire, Clock, ErrorKind, Event, EventKind, ExecutionId, Options, Store, WorkflowExecution,
    WorkflowStatus,
};

/// The JSON wire protocol the Node and browser surfaces speak (`wire::call_text`): an input is
/// calls, one per line (`op<TAB>arguments as JSON text`), run in turn on a fresh in-memory store.
/// Nothing may panic; every answer is JSON text or a refusal with one of the contract's codes.
pub fn wire(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let clock = Clock::manual(jetstate::chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("in range"));
    let store = Store::open_in_memory(Options::default().clock(clock)).expect("a store opens");
    for line in text.lines().take(32) {
        let (op, args) = line.split_once('\t').unwrap_or((line, "{}"));
        // Operations that touch files outside the store are not for a fuzzer to call.
        if matches!(op, "backup") {
            continue;
        }
        let answer = wire::call_text(&store, op, args);
        match answer.strip_prefix('!') {
            Some(refusal) => {
                let code = refusal.split(' ').next().unwrap_or("");
                assert!(ErrorKind::from_code(code).is_some(), "an unknown error code: {answer}");
            }
            None => {
                serde_json::from_str::<Value>(&answer)
                    .unwrap_or_else(|err| panic!("the answer to {op} is not JSON ({err}): {answer}"));
            }
        }
    }
}

fn fresh_store() -> Store {
    let clock = Clock::manual(jetstate::chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("in range"));
    Store::open_in_memory(Options::default().clock(clock)).expect("a store opens")
}

/// The export's rows (the header line, which carries the time of the export, left out).
fn rows(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    store.export(None, &mut out, &mut |_| {}).expect("export");
    String::from_utf8(out).expect("text").lines().skip(1).map(str::to_string).collect()
}

/// `import` of JSON Lines: an input is an export, possibly broken. Nothing may panic; an import
/// that fails leaves the store as it was; one that succeeds exports to lines that import again
/// into a fresh store, whose export is the same.
pub fn import_jsonl(data: &[u8]) {
    let first = fresh_store();
    let before = rows(&first);
    match first.import(&mut &data[..], data.len() as u64, &mut |_| {}) {
        Err(_) => assert_eq!(rows(&first), before, "a failed import changed the store"),
        Ok(_) => {
            let exported = rows(&first);
            let mut text = Vec::new();
            first.export(None, &mut text, &mut |_| {}).expect("export");
            let second = fresh_store();
            // The default tenant is in every store already: an import skips what it has.
            second.import(&mut &text[..], 0, &mut |_| {}).expect("an export imports into a fresh store");
            assert_eq!(rows(&second), exported, "an export did not round-trip");
        }
    }
}

/// Event kinds as strangers write them: any JSON text. Reading a kind from its text takes a fast
/// path that must agree with reading it from a parsed value; a kind appended as JSON is stored
/// and read back exactly as given (or refused, and nothing is written).
pub fn event_kinds(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        let _ = EventKind::from_json_text(text);
        return;
    };
    assert_eq!(EventKind::from_json_text(text), EventKind::from_json(value.clone()), "the fast path disagrees: {text}");
    let store = Store::open_in_memory(Options::default()).expect("a store opens");
    let execution = WorkflowExecution::new("wf", "1", serde_json::json!({}));
    store.create_execution(&execution).expect("an execution");
    match store.append_next_raw(&execution.execution_id, vec![value.clone()]) {
        Ok(_) => {
            let events = store.get_events_raw(&execution.execution_id, 0).expect("read");
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, value, "a kind did not come back as given");
            let _ = store.get_events(&execution.execution_id).expect("typed read");
            let _ = store.materialize(&execution.execution_id).expect("materialize");
        }
        Err(_) => assert_eq!(store.latest_sequence(&execution.execution_id).expect("read"), 0),
    }
}

fn completed(execution: &ExecutionId, sequence: i64, patch: &Value) -> Event {
    Event::new(
        execution.clone(),
        sequence,
        EventKind::NodeCompleted {
            node_id: format!("n{sequence}"),
            output: Value::Null,
            state_patch: patch.clone(),
            duration_ms: 0,
            gen_ai_system: None,
            gen_ai_model: None,
            input_tokens: None,
            output_tokens: None,
            finish_reason: None,
            cost_usd: None,
            provenance: None,
        },
    )
}

/// Merge patches of materialization: an input is a JSON array `[state, patch, patch, ...]`. The
/// store's materialization (snapshot-free, from its stored log) must equal the pure fold over the
/// same events, and applying a patch a second time changes nothing (RFC 7396 is idempotent).
pub fn merge_patch(data: &[u8]) {
    let Ok(Value::Array(mut values)) = serde_json::from_slice::<Value>(data) else { return };
    if values.is_empty() || values.len() > 16 {
        return;
    }
    let state = values.remove(0);
    let store = Store::open_in_memory(Options::default()).expect("a store opens");
    let execution = WorkflowExecution::new("wf", "1", state.clone());
    if store.create_execution(&execution).is_err() {
        return; // a state the store refuses (too deep): nothing to materialize
    }
    let id = execution.execution_id.clone();
    let events: Vec<Event> = values.iter().enumerate().map(|(i, patch)| completed(&id, i as i64 + 1, patch)).collect();
    if store.append_events(events.clone()).is_err() {
        return;
    }
    let pure = apply_events(state.clone(), &events, &WorkflowStatus::Pending);
    let stored = store.materialize(&id).expect("materialize");
    assert_eq!(stored.current_state, pure.current_state, "the store and the fold disagree");
    // Each patch applied twice in a row: the same as once.
    let twice: Vec<Event> = values
        .iter()
        .flat_map(|patch| [patch, patch])
        .enumerate()
        .map(|(i, patch)| completed(&id, i as i64 + 1, patch))
        .collect();
    let again = apply_events(state, &twice, &WorkflowStatus::Pending);
    assert_eq!(again.current_state, pure.current_state, "a patch applied twice differs: {}", json!(values));
}
