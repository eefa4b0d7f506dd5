"""AsyncStore: never blocks the event loop, many calls in flight, errors, cancellation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List

import pytest

import jetstate
from helpers import WriteLockHolder


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_the_event_loop_keeps_running_during_a_long_call(db_path: Path) -> None:
    async def main() -> None:
        async with await jetstate.AsyncStore.open(db_path, busy_timeout=10) as store:
            execution = jetstate.WorkflowExecution("wf", "1")
            await store.create_execution(execution)
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.005)

            holder = await asyncio.to_thread(WriteLockHolder, db_path, 0.5)
            task = asyncio.create_task(ticker())
            loop = asyncio.get_running_loop()
            started = loop.time()
            event = await store.append_next_event(execution.execution_id, {"type": "workflow_started"})
            waited = loop.time() - started
            task.cancel()
            await asyncio.to_thread(holder.wait)
            assert event.sequence == 1
            assert waited >= 0.3, "the call did wait for the lock"
            # Had the call run on the loop's thread, the ticker would not have run at all meanwhile.
            assert ticks >= 10, f"the ticker ran only {ticks} times during a {waited:.2f} s call"

    run(main())


def test_many_calls_in_flight_each_get_their_own_answer(db_path: Path) -> None:
    async def main() -> None:
        async with await jetstate.AsyncStore.open(db_path, durability="normal") as store:
            executions = [jetstate.WorkflowExecution("wf", "1", {"n": n}) for n in range(50)]
            await asyncio.gather(*(store.create_execution(e) for e in executions))
            events = await asyncio.gather(*(
                store.append_next_event(e.execution_id, {"type": "node_started", "node_id": f"n{k}"})
                for e in executions
                for k in range(10)
            ))
            assert len({(event.execution_id, event.sequence) for event in events}) == 500
            reads = await asyncio.gather(*(store.get_execution(e.execution_id) for e in executions))
            assert [read.current_state for read in reads] == [{"n": n} for n in range(50)]
            assert all(await asyncio.gather(*(store.latest_sequence(e.execution_id) for e in executions))) == True  # noqa: E712
            assert {await store.latest_sequence(e.execution_id) for e in executions} == {10}

    run(main())


def test_errors_arrive_as_the_same_classes(db_path: Path) -> None:
    async def main() -> None:
        async with await jetstate.AsyncStore.open(db_path) as store:
            with pytest.raises(jetstate.NotFoundError):
                await store.update_execution_status("00000000-0000-4000-8000-000000000000", "running")
            with pytest.raises(jetstate.InvalidArgumentError):
                await store.get_work_item("nope")
            with pytest.raises(jetstate.SerializationError):
                await store.append_next_event("00000000-0000-4000-8000-000000000000", {"type": "x", "v": object()})
            with pytest.raises(TypeError):
                await store.get_execution(1)  # type: ignore[arg-type]
        assert store.closed
        with pytest.raises(jetstate.DatabaseError):
            await store.list_executions()

    run(main())


def test_a_cancelled_call_still_completes_and_the_loop_sees_no_error(db_path: Path) -> None:
    async def main() -> List[Dict[str, Any]]:
        loop = asyncio.get_running_loop()
        errors: List[Dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        async with await jetstate.AsyncStore.open(db_path, busy_timeout=10) as store:
            execution = jetstate.WorkflowExecution("wf", "1")
            await store.create_execution(execution)
            holder = await asyncio.to_thread(WriteLockHolder, db_path, 0.3)
            task = asyncio.create_task(store.append_next_event(execution.execution_id, {"type": "workflow_started"}))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.to_thread(holder.wait)
            for _ in range(100):
                if await store.latest_sequence(execution.execution_id) == 1:
                    break
                await asyncio.sleep(0.01)
            assert await store.latest_sequence(execution.execution_id) == 1, "the call's effect stands"
        return errors

    assert run(main()) == []


def test_an_async_worker_loop_with_lease_renewal(db_path: Path) -> None:
    async def main() -> None:
        async with await jetstate.AsyncStore.open(db_path, lease=timedelta(seconds=5)) as store:
            execution = jetstate.WorkflowExecution("wf", "1")
            await store.create_execution(execution)
            await store.enqueue_work_items([jetstate.WorkItem(execution.execution_id, f"n{i}", "q", {"i": i}) for i in range(40)])
            results: List[int] = []

            async def worker(name: str) -> None:
                while (lease := await store.claim_fenced(name, ["q"])) is not None:
                    await store.renew_fenced(lease.item.id, lease.token)
                    results.append(lease.item.payload["i"])
                    await store.append_next_event(execution.execution_id, {"type": "node_completed", "node_id": lease.item.node_id, "output": {}, "state_patch": {}, "duration_ms": 1})
                    await store.complete_fenced(lease.item.id, lease.token)

            await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
            assert sorted(results) == list(range(40))
            state = await store.materialize(execution.execution_id)
            assert state.last_sequence == 40 and len(state.completed_nodes) == 40

    run(main())


def test_async_store_has_every_method_of_store() -> None:
    public = {name for name in dir(jetstate.Store) if not name.startswith("_")}
    missing = {name for name in public if not hasattr(jetstate.AsyncStore, name)}
    assert not missing, f"AsyncStore lacks {sorted(missing)}"


def test_a_waiting_claim_is_woken_by_an_enqueue_and_ends_when_its_task_is_cancelled(db_path: Path) -> None:
    async def main() -> None:
        async with await jetstate.AsyncStore.open(db_path) as store:
            execution = jetstate.WorkflowExecution("wf", "1")
            await store.create_execution(execution)
            loop = asyncio.get_running_loop()
            waiting = asyncio.create_task(store.claim_wait("w", ["q"], max=2, timeout=30))
            await asyncio.sleep(0.1)
            item = jetstate.WorkItem(execution.execution_id, "n", "q", {"x": 1})
            enqueued = await store.enqueue(item, priority=-1, unique_key="one")
            assert (enqueued.id, enqueued.outcome) == (item.id, "enqueued")
            leases = await asyncio.wait_for(waiting, timeout=20)
            assert [lease.item.id for lease in leases] == [item.id]
            assert await store.complete_batch(leases) == [True]
            # Cancelling the awaiting task ends the wait at once (its thread is not kept).
            started = loop.time()
            task = asyncio.create_task(store.claim_wait("w", ["q"], timeout=30))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert loop.time() - started < 10
            # A wait that runs out returns nothing.
            assert await store.claim_wait("w", ["q"], timeout=timedelta(milliseconds=20)) == []

    run(main())


def test_the_sync_store_waits_for_work_from_another_thread(db_path: Path) -> None:
    with jetstate.Store(db_path) as store:
        execution = jetstate.WorkflowExecution("wf", "1")
        store.create_execution(execution)
        item = jetstate.WorkItem(execution.execution_id, "n", "q", {})

        def enqueue_soon() -> None:
            import time

            time.sleep(0.1)
            store.enqueue(item)

        import threading

        thread = threading.Thread(target=enqueue_soon)
        thread.start()
        leases = store.claim_wait("w", ["q"], timeout=30)
        thread.join()
        assert [lease.item.id for lease in leases] == [item.id]
        with pytest.raises(jetstate.InvalidArgumentError):
            store.claim_wait("w", ["q"], max=0, timeout=1)
