"""The sync Store from Python: types at the boundary, errors, files, threads, the GIL."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import jetstate
from helpers import WriteLockHolder

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def store(db_path: Path) -> jetstate.Store:
    with jetstate.Store(db_path, clock=T0, lease=timedelta(seconds=30)) as store:
        yield store


def new_execution(store: jetstate.Store, state: object = None) -> jetstate.WorkflowExecution:
    execution = jetstate.WorkflowExecution("wf", "1", state if state is not None else {"step": 0})
    store.create_execution(execution)
    return execution


# ── Types at the boundary ─────────────────────────────────────────────────────────────────────


def test_json_values_cross_as_plain_python_objects(store: jetstate.Store) -> None:
    value = {
        "text": "héllo \u2603 \U0001f600",
        "int": -(2**63),
        "big": 2**64 - 1,
        "float": 0.1 + 0.2,
        "tiny": -9.87e-300,
        "flags": [True, False, None],
        "nested": {"list": [1, [2, [3]]], "empty": {}},
        "tuple": (1, 2),
    }
    execution = new_execution(store, value)
    state = store.get_execution(execution.execution_id).current_state
    assert state == {**value, "tuple": [1, 2]}
    assert type(state["int"]) is int and type(state["float"]) is float and type(state["flags"][0]) is bool


def test_ids_are_str_and_times_are_aware_utc_datetimes(store: jetstate.Store) -> None:
    execution = new_execution(store)
    event = store.append_next_event(execution.execution_id, {"type": "workflow_started"})
    item_id = store.enqueue_work_item(jetstate.WorkItem(execution.execution_id, "n", "default"))
    lease = store.claim_fenced("w", ["default"])
    assert lease is not None
    for value in (execution.execution_id, event.id, item_id, lease.item.id):
        assert isinstance(value, str)
    assert event.created_at == T0 and event.created_at.tzinfo is timezone.utc
    assert lease.expires_at == T0 + timedelta(seconds=30)
    assert store.renew_fenced(item_id, lease.token, lease=timedelta(minutes=2)) == T0 + timedelta(minutes=2)
    assert isinstance(lease.token, int)


def test_records_are_read_only_comparable_and_readable(store: jetstate.Store) -> None:
    execution = new_execution(store)
    read = store.get_execution(execution.execution_id)
    assert read == execution and read is not execution
    assert read != execution.replace(status="running")
    with pytest.raises(AttributeError):
        read.status = "running"  # type: ignore[misc]
    text = repr(read)
    assert text.startswith("WorkflowExecution(execution_id=") and "status='pending'" in text
    assert read.to_dict()["workflow_id"] == "wf"
    match read:
        case jetstate.WorkflowExecution(execution_id=eid, status="pending"):
            assert eid == execution.execution_id
        case _:
            pytest.fail("records support match statements")


def test_records_may_be_given_as_dicts_with_datetimes(store: jetstate.Store) -> None:
    execution = new_execution(store)
    store.append_event({
        "id": "00000000-0000-4000-8000-000000000001",
        "execution_id": execution.execution_id,
        "sequence": 1,
        "kind": {"type": "node_started", "node_id": "a"},
        "created_at": T0 + timedelta(seconds=1),
    })
    [event] = store.get_events(execution.execution_id)
    assert event.created_at == T0 + timedelta(seconds=1) and event.kind["node_id"] == "a"


def test_replace_refuses_unknown_fields_and_bad_values() -> None:
    execution = jetstate.WorkflowExecution("wf", "1")
    with pytest.raises(jetstate.InvalidArgumentError, match="no field"):
        execution.replace(colour="blue")
    with pytest.raises(jetstate.InvalidArgumentError):
        execution.replace(status="sleeping")
    assert execution.replace(current_state={"a": 1}).current_state == {"a": 1}


def test_a_huge_payload_round_trips(store: jetstate.Store) -> None:
    execution = new_execution(store)
    blob = "x" * (100 * 1024 * 1024)
    store.update_execution_current_state(execution.execution_id, {"blob": blob})
    assert store.get_execution(execution.execution_id).current_state["blob"] == blob


# ── Errors ────────────────────────────────────────────────────────────────────────────────────


def test_each_kind_of_error_has_its_class_and_code(store: jetstate.Store) -> None:
    execution = new_execution(store)
    missing = "00000000-0000-4000-8000-000000000000"
    cases = [
        (jetstate.NotFoundError, "NOT_FOUND", lambda: store.update_execution_status(missing, "running")),
        (jetstate.ConflictError, "CONFLICT", lambda: store.create_execution(execution)),
        (jetstate.InvalidArgumentError, "INVALID_ARGUMENT", lambda: store.get_execution("not-an-id")),
        (jetstate.SerializationError, "SERIALIZATION", lambda: store.patch_append_array(execution.execution_id, "k", {1})),
    ]
    store.append_next_event(execution.execution_id, {"type": "workflow_started"})
    cases.append((
        jetstate.SequenceConflictError,
        "SEQUENCE_CONFLICT",
        lambda: store.append_event(jetstate.Event(execution.execution_id, 1, {"type": "workflow_started"})),
    ))
    item_id = store.enqueue_work_item(jetstate.WorkItem(execution.execution_id, "n", "q"))
    lease = store.claim_fenced("w", ["q"])
    cases.append((jetstate.LeaseLostError, "LEASE_LOST", lambda: store.complete_fenced(item_id, lease.token + 1)))
    for cls, code, call in cases:
        with pytest.raises(cls) as raised:
            call()
        assert isinstance(raised.value, jetstate.JetstateError) and raised.value.code == code == cls.code
        assert str(raised.value), "errors carry a message"
    assert issubclass(jetstate.NotFoundError, LookupError) and issubclass(jetstate.InvalidArgumentError, ValueError)


@pytest.mark.parametrize(
    "bad",
    [object(), float("nan"), math.inf, 2**70, {1: "int key"}, "lone \ud800 surrogate", {b"bytes"}, b"bytes"],
    ids=["object", "nan", "inf", "bigint", "int-key", "surrogate", "set", "bytes"],
)
def test_a_value_that_is_not_json_is_a_serialization_error_and_nothing_is_written(store: jetstate.Store, bad: object) -> None:
    execution = new_execution(store, {"kept": True})
    with pytest.raises(jetstate.SerializationError):
        store.update_execution_current_state(execution.execution_id, {"value": bad})
    with pytest.raises(jetstate.SerializationError):
        store.append_next_event(execution.execution_id, {"type": "node_started", "value": bad})
    assert store.get_execution(execution.execution_id).current_state == {"kept": True}
    assert store.latest_sequence(execution.execution_id) == 0


def test_nesting_deeper_than_the_store_keeps_is_refused_without_a_crash(store: jetstate.Store) -> None:
    execution = new_execution(store, {"kept": True})
    for levels in (jetstate.MAX_JSON_DEPTH + 1, 100_000):
        deep: object = "bottom"
        for _ in range(levels):
            deep = [deep]
        with pytest.raises(jetstate.InvalidArgumentError, match="deeper"):
            store.update_execution_current_state(execution.execution_id, deep)
    assert store.get_execution(execution.execution_id).current_state == {"kept": True}
    deepest: object = "bottom"
    for _ in range(jetstate.MAX_JSON_DEPTH):
        deepest = {"k": deepest}
    store.update_execution_current_state(execution.execution_id, deepest)
    assert store.get_execution(execution.execution_id).current_state == deepest


@pytest.mark.parametrize("bad_id", ["", "exec_", "\x00", "\ud800", "x" * 10_000, "00000000-0000-4000-8000-00000000000\x00"])
def test_malformed_ids_are_invalid_arguments(store: jetstate.Store, bad_id: str) -> None:
    with pytest.raises(jetstate.InvalidArgumentError):
        store.get_execution(bad_id)
    with pytest.raises(jetstate.InvalidArgumentError):
        store.complete_work_item(bad_id)


def test_wrong_python_types_are_type_errors(store: jetstate.Store) -> None:
    with pytest.raises(TypeError):
        store.get_execution(42)  # type: ignore[arg-type]
    with pytest.raises(jetstate.InvalidArgumentError, match="WorkflowExecution"):
        store.create_execution("not a record")  # type: ignore[arg-type]
    with pytest.raises(jetstate.InvalidArgumentError, match="naive"):
        store.create_token("t", "r", expires_at=datetime(2030, 1, 1))


def test_each_bad_argument_raises_the_error_the_readme_names(store: jetstate.Store) -> None:
    execution = jetstate.WorkflowExecution("wf", "1")
    store.create_execution(execution)
    eid = execution.execution_id
    # The wrong Python type: TypeError.
    for call in [
        lambda: store.get_execution(42),
        lambda: store.append_next_event(5, {"type": "x"}),
        lambda: store.claim_fenced("w", ["q"], lease="10"),
        lambda: store.list_executions(limit="10"),
        lambda: store.claim_fenced("w", "q"),
        lambda: jetstate.WorkItem(eid, "n", "q", max_attempts="3"),
    ]:
        with pytest.raises(TypeError) as raised:
            call()  # type: ignore[no-untyped-call]
        assert not isinstance(raised.value, jetstate.JetstateError)
    # The right type, refused by the store: InvalidArgumentError, ints out of range included.
    deep: dict = {}
    cursor = deep
    for _ in range(jetstate.MAX_JSON_DEPTH + 1):
        cursor["a"] = {}
        cursor = cursor["a"]
    for call in [
        lambda: store.append_next_event(eid, [1]),
        lambda: store.append_next_event(eid, None),
        lambda: store.update_execution_current_state(eid, deep),
        lambda: store.claim_fenced("w", ["q"], lease=-1),
        lambda: jetstate.WorkItem(eid, "n", "q", max_attempts=-1),
        lambda: jetstate.WorkItem(eid, "n", "q", max_attempts=2**40),
        lambda: store.list_work_items(limit=-1),
        lambda: store.complete_fenced("00000000-0000-4000-8000-000000000000", 2**63),
        lambda: jetstate.Event(eid, 2**64, {"type": "x"}),
    ]:
        with pytest.raises(jetstate.InvalidArgumentError):
            call()  # type: ignore[no-untyped-call]
    # A value JSON cannot hold: SerializationError.
    with pytest.raises(jetstate.SerializationError):
        store.update_execution_current_state(eid, {"s": {1, 2}})
    assert store.get_events(eid) == [] and store.get_execution(eid) == execution


def test_bad_options_are_refused(db_path: Path) -> None:
    with pytest.raises(jetstate.InvalidArgumentError):
        jetstate.Store(db_path, durability="eventually")
    with pytest.raises(jetstate.InvalidArgumentError):
        jetstate.Store(db_path, lease=-1)
    with pytest.raises(jetstate.InvalidArgumentError):
        jetstate.Store(db_path).advance_clock(1)  # the system clock does not move
    with jetstate.Store(db_path, lease=None, busy_timeout=None, clock=None, durability="normal") as defaults:
        assert defaults.durability == "normal"  # None means the default, as the stubs say
    with pytest.raises(TypeError, match="lease_ms"):
        jetstate.Store(db_path, lease_ms=5)  # type: ignore[call-arg]


# ── Files ─────────────────────────────────────────────────────────────────────────────────────


def test_data_survives_reopening_and_read_only_refuses_writes(db_path: Path) -> None:
    with jetstate.Store(db_path) as store:
        execution = new_execution(store)
    with jetstate.Store(db_path, read_only=True) as reader:
        assert reader.get_execution(execution.execution_id) == execution
        with pytest.raises(jetstate.JetstateError):
            reader.create_execution(jetstate.WorkflowExecution("wf", "1"))


def test_a_file_that_is_not_a_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database, just notes\n" * 100)
    before = path.read_bytes()
    with pytest.raises(jetstate.DatabaseError):
        jetstate.Store(path)
    assert path.read_bytes() == before


def test_a_closed_store_refuses_calls(db_path: Path) -> None:
    with jetstate.Store(db_path) as store:
        pass
    assert store.closed
    with pytest.raises(jetstate.DatabaseError):
        store.list_executions()
    store.close()  # idempotent


def test_tenant_views_see_only_their_own_records(store: jetstate.Store) -> None:
    store.create_tenant(jetstate.Tenant("acme", "Acme"))
    store.create_tenant(jetstate.Tenant("globex", "Globex"))
    acme, globex = store.for_tenant("acme"), store.for_tenant("globex")
    assert acme.tenant == "acme" and store.tenant is None
    execution = jetstate.WorkflowExecution("wf", "1")
    acme.create_execution(execution)
    assert acme.get_execution(execution.execution_id) == execution
    assert globex.get_execution(execution.execution_id) is None
    with pytest.raises(jetstate.NotFoundError):
        globex.update_execution_status(execution.execution_id, "running")


def test_backup_and_summary(store: jetstate.Store, tmp_path: Path) -> None:
    new_execution(store)
    size = store.backup(tmp_path / "copy.db")
    assert size == (tmp_path / "copy.db").stat().st_size > 0
    with jetstate.Store(tmp_path / "copy.db", read_only=True) as copy:
        assert copy.summary()["executions"] == {"pending": 1}


def test_export_and_import_as_json_lines(store: jetstate.Store) -> None:
    execution = new_execution(store)
    store.append_next_event(execution.execution_id, {"type": "node_scheduled", "node_id": "a", "queue_type": "q"})
    text = store.export_jsonl(execution.execution_id)
    assert json.loads(text.splitlines()[0])["format"] == "jetstate-export"
    with jetstate.Store() as other:
        assert other.import_jsonl(text) == {"events": 1, "executions": 1}
        assert [e.kind["type"] for e in other.get_events(execution.execution_id)] == ["node_scheduled"]
        with pytest.raises(jetstate.ConflictError):
            other.import_jsonl(text)
        with pytest.raises(jetstate.InvalidArgumentError):
            other.import_jsonl("not json\n")
    assert len(store.export_jsonl().splitlines()) >= 3


# ── Threads and the GIL ───────────────────────────────────────────────────────────────────────


def test_threads_share_a_store_and_each_item_is_claimed_once(store: jetstate.Store) -> None:
    execution = new_execution(store)
    ids = store.enqueue_work_items([jetstate.WorkItem(execution.execution_id, f"n{i}", "q") for i in range(300)])
    done: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (lease := store.claim_fenced(name, ["q"])) is not None:
            store.complete_fenced(lease.item.id, lease.token)
            with lock:
                done.append(lease.item.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(done) == sorted(ids)
    assert {entry.status for entry in store.list_work_items(limit=1000)} == {"completed"}


def test_the_gil_is_released_while_sqlite_works(db_path: Path) -> None:
    with jetstate.Store(db_path, busy_timeout=10) as store:
        execution = new_execution(store)
        holder = WriteLockHolder(db_path, seconds=0.5)
        call = threading.Thread(target=store.append_next_event, args=(execution.execution_id, {"type": "workflow_started"}))
        ticks = 0
        started = time.monotonic()
        call.start()
        while call.is_alive():
            ticks += 1
            time.sleep(0.005)
        call.join()
        waited = time.monotonic() - started
        holder.wait()
        assert store.latest_sequence(execution.execution_id) == 1, "the call went through once the lock was free"
        assert waited >= 0.4, "the call did wait for the lock"
        # With the GIL held through the call, this thread would not have run at all meanwhile.
        assert ticks >= 10, f"the main thread ran only {ticks} times during a {waited:.2f} s call"


def test_a_transient_failure_says_it_is_retryable_and_wrote_nothing(db_path: Path) -> None:
    with jetstate.Store(db_path, busy_timeout=0.05) as store:
        execution = new_execution(store)
        holder = WriteLockHolder(db_path, seconds=1.0)
        with pytest.raises(jetstate.DatabaseError) as raised:
            store.append_next_event(execution.execution_id, {"type": "workflow_started"})
        holder.wait()
        assert raised.value.retryable is True, raised.value
        assert raised.value.outcome_unknown is False
        assert store.latest_sequence(execution.execution_id) == 0, "a retryable error wrote nothing"
        store.append_next_event(execution.execution_id, {"type": "workflow_started"})
        assert store.latest_sequence(execution.execution_id) == 1, "made again, it goes through"
        with pytest.raises(jetstate.NotFoundError) as missing:
            store.update_execution_status("00000000-0000-4000-8000-000000000000", "failed")
        assert missing.value.retryable is False and missing.value.outcome_unknown is False
