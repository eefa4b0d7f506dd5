"""Hostile input at the Python boundary, generated (hypothesis): any Python values, as arguments of
every operation. Each call may succeed or raise a JetstateError (or TypeError, for a wrong Python
type); it never crashes the interpreter, never raises anything else, and never changes what a
sentinel execution, its log and a queued item hold."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jetstate

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
ids = st.text(max_size=40) | st.uuids().map(str) | st.just("exec_" + "0" * 32) | st.sampled_from(["", "\x00", "\ud800"])
anything = (
    json_values
    | ids
    | st.binary(max_size=8)
    | st.sets(st.integers(), max_size=3)
    | st.datetimes()
    | st.datetimes(timezones=st.just(timezone.utc))
    | st.timedeltas()
    | st.builds(object)
    | st.just(math.nan)
    | st.integers(min_value=2**63, max_value=2**80)
)

OPERATIONS: Dict[str, List[st.SearchStrategy[Any]]] = {
    "get_execution": [ids],
    "update_execution_status": [ids, st.text(max_size=12) | st.sampled_from(["running", "completed"])],
    "update_execution_current_state": [ids, anything],
    "patch_append_array": [ids, st.text(max_size=8), anything],
    "list_executions": [st.none() | st.text(max_size=10), st.integers(-5, 2**33), st.integers(-5, 2**33)],
    "append_next_event": [ids, json_values | anything],
    "append_event": [st.dictionaries(st.text(max_size=12), anything, max_size=6) | anything],
    "get_events_since": [ids, st.integers(-(2**63), 2**63 - 1)],
    "write_snapshot": [st.dictionaries(st.text(max_size=12), anything, max_size=6) | anything],
    "enqueue_work_item": [st.dictionaries(st.text(max_size=12), anything, max_size=8) | anything],
    "claim_fenced": [st.text(max_size=10), st.lists(st.text(max_size=6), max_size=3), st.none() | anything],
    "renew_fenced": [ids, st.integers(-(2**63), 2**63 - 1), st.none() | anything],
    "complete_fenced": [ids, st.integers(-(2**63), 2**63 - 1)],
    "fail_work_item": [ids, st.text(max_size=20)],
    "create_token": [st.text(max_size=10), st.text(max_size=10), st.none() | anything],
    "validate_token": [st.text(max_size=80)],
    "create_tenant": [st.dictionaries(st.text(max_size=12), anything, max_size=6) | anything],
    "get_tenant": [st.text(max_size=20)],
}

calls = st.lists(
    st.sampled_from(sorted(OPERATIONS)).flatmap(lambda op: st.tuples(st.just(op), st.tuples(*OPERATIONS[op]))),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=calls)
def test_any_input_is_a_clear_error_or_a_success_and_never_harms_what_is_stored(calls: List[Any]) -> None:
    store = jetstate.Store(clock=T0)
    sentinel = jetstate.WorkflowExecution("sentinel", "1", {"keep": [1, 2, 3]})
    store.create_execution(sentinel)
    store.append_next_event(sentinel.execution_id, {"type": "workflow_started", "workflow_id": "sentinel", "workflow_version": "1", "initial_input": {}})
    item_id = store.enqueue_work_item(jetstate.WorkItem(sentinel.execution_id, "n", "sentinel-queue", {"p": 1}))
    before = (store.get_execution(sentinel.execution_id), store.get_events(sentinel.execution_id), store.get_work_item(item_id))
    for op, args in calls:
        try:
            getattr(store, op)(*args)
        except (jetstate.JetstateError, TypeError):
            pass
        store.advance_clock(timedelta(seconds=1))
    after = (store.get_execution(sentinel.execution_id), store.get_events(sentinel.execution_id), store.get_work_item(item_id))
    # The sentinel's item may have been claimed by a generated claim on its queue type; its record
    # must not have been changed otherwise, and the execution and its log not at all.
    assert after[0] == before[0] and after[1] == before[1]
    assert after[2].item.payload == before[2].item.payload and after[2].item.id == item_id
