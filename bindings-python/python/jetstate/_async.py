"""``AsyncStore``: the store for asyncio.

Each call runs the sync store's method on the core's own call pool (Rust threads, released from the
GIL while SQLite works) and settles an asyncio future through ``loop.call_soon_threadsafe``, so the
event loop's thread never waits on SQLite and no Python executor sits in between. Calls in flight at
once run concurrently; writes among them share commits (group commit).

Cancelling an awaiting task does not cancel the call: it completes (or fails) as one transaction.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any, Callable, Optional, Union

from . import _native

Path = Union[str, "os.PathLike[str]"]


def _settle(future: "asyncio.Future[Any]", ok: bool, value: Any) -> None:
    # Runs on the loop's thread. A task cancelled meanwhile no longer wants the answer.
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    _native.submit(loop, future, _settle, fn, args, kwargs or None)
    return await future


def _offloaded(name: str) -> Callable[..., Any]:
    sync = getattr(_native.Store, name)

    @functools.wraps(sync)
    async def method(self: "AsyncStore", *args: Any, **kwargs: Any) -> Any:
        return await _call(sync, self._store, *args, **kwargs)

    return method


class AsyncStore:
    """The store for asyncio: the methods of ``Store``, as coroutines that never block the event loop.

    Open it with ``await AsyncStore.open(path, **options)`` (the options of ``Store``), use it as
    ``async with``, and close it with ``await store.close()``.
    """

    __slots__ = ("_store",)

    def __init__(self, store: _native.Store) -> None:
        self._store = store

    @classmethod
    async def open(cls, path: Optional[Path] = None, **options: Any) -> "AsyncStore":
        return cls(await _call(_native.Store, path, **options))

    @property
    def sync(self) -> _native.Store:
        """The sync ``Store`` over the same database (for code that is not a coroutine)."""
        return self._store

    @property
    def tenant(self) -> Optional[str]:
        return self._store.tenant

    @property
    def durability(self) -> str:
        return self._store.durability

    @property
    def closed(self) -> bool:
        return self._store.closed

    def for_tenant(self, tenant: str) -> "AsyncStore":
        return AsyncStore(self._store.for_tenant(tenant))

    def now(self) -> Any:
        return self._store.now()

    def advance_clock(self, by: Any) -> None:
        self._store.advance_clock(by)

    def set_clock(self, at: Any) -> None:
        self._store.set_clock(at)

    async def __aenter__(self) -> "AsyncStore":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return "Async" + repr(self._store)

    # Every other operation: the sync method, offloaded.
    close = _offloaded("close")
    store_workflow = _offloaded("store_workflow")
    get_workflow = _offloaded("get_workflow")
    create_execution = _offloaded("create_execution")
    get_execution = _offloaded("get_execution")
    update_execution_status = _offloaded("update_execution_status")
    update_execution_current_state = _offloaded("update_execution_current_state")
    patch_append_array = _offloaded("patch_append_array")
    list_executions = _offloaded("list_executions")
    append_event = _offloaded("append_event")
    append_events = _offloaded("append_events")
    append_next_event = _offloaded("append_next_event")
    append_next_events = _offloaded("append_next_events")
    get_events = _offloaded("get_events")
    get_events_since = _offloaded("get_events_since")
    latest_sequence = _offloaded("latest_sequence")
    write_snapshot = _offloaded("write_snapshot")
    latest_snapshot = _offloaded("latest_snapshot")
    materialize = _offloaded("materialize")
    enqueue_work_item = _offloaded("enqueue_work_item")
    enqueue_work_items = _offloaded("enqueue_work_items")
    get_work_item = _offloaded("get_work_item")
    list_work_items = _offloaded("list_work_items")
    claim_work_item = _offloaded("claim_work_item")
    claim_fenced = _offloaded("claim_fenced")
    renew_lease = _offloaded("renew_lease")
    renew_fenced = _offloaded("renew_fenced")
    complete_work_item = _offloaded("complete_work_item")
    complete_fenced = _offloaded("complete_fenced")
    fail_work_item = _offloaded("fail_work_item")
    fail_fenced = _offloaded("fail_fenced")
    reclaim_expired_leases = _offloaded("reclaim_expired_leases")
    move_to_dead_letter = _offloaded("move_to_dead_letter")
    requeue_dead_letter = _offloaded("requeue_dead_letter")
    requeue_all_dead_letters = _offloaded("requeue_all_dead_letters")
    purge_dead_letters = _offloaded("purge_dead_letters")
    create_token = _offloaded("create_token")
    validate_token = _offloaded("validate_token")
    revoke_token = _offloaded("revoke_token")
    list_tokens = _offloaded("list_tokens")
    create_tenant = _offloaded("create_tenant")
    get_tenant = _offloaded("get_tenant")
    list_tenants = _offloaded("list_tenants")
    update_tenant = _offloaded("update_tenant")
    backup = _offloaded("backup")
    summary = _offloaded("summary")
