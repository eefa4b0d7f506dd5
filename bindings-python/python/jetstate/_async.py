"""``AsyncStore``: the store for asyncio.

Each method is a coroutine over the native ``_AsyncStore``, whose calls run on the core's own
thread pool and settle an asyncio future on the loop's thread (``src/call.rs``): the event loop's
thread never waits on SQLite, and the pool's threads never take the GIL. The coroutine layer is
here because ``asyncio.create_task`` accepts coroutines only, and it costs about a microsecond.

Cancelling an awaiting task does not cancel the call: it completes (or fails) as one transaction.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

from . import _native


class AsyncStore:
    """The store for asyncio: the methods of ``Store`` as coroutines that never block the event loop.

    Open it with ``await AsyncStore.open(path, **options)`` (the options of ``Store``), use it as
    ``async with``, close it with ``await store.close()``. Calls in flight at once run concurrently;
    their writes share commits (group commit), each still atomic on its own.
    """

    __slots__ = ("_native",)

    def __init__(self, native: Any) -> None:
        self._native = native

    @classmethod
    async def open(cls, path: Any = None, **options: Any) -> "AsyncStore":
        return cls(await _native._AsyncStore.open(path, **options))

    @property
    def sync(self) -> _native.Store:
        """The sync ``Store`` over the same database (for code that is not a coroutine)."""
        return self._native.sync

    @property
    def tenant(self) -> Optional[str]:
        return self._native.tenant

    @property
    def durability(self) -> str:
        return self._native.durability

    @property
    def closed(self) -> bool:
        return self._native.closed

    def for_tenant(self, tenant: str) -> "AsyncStore":
        return AsyncStore(self._native.for_tenant(tenant))

    def now(self) -> Any:
        return self._native.now()

    def advance_clock(self, by: Any) -> None:
        self._native.advance_clock(by)

    def set_clock(self, at: Any) -> None:
        self._native.set_clock(at)

    async def __aenter__(self) -> "AsyncStore":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._native.close()

    def __repr__(self) -> str:
        return repr(self._native).replace("_AsyncStore", "AsyncStore", 1)


def _coroutine(name: str) -> Callable[..., Any]:
    native = getattr(_native._AsyncStore, name)

    @functools.wraps(native)
    async def method(self: AsyncStore, *args: Any, **kwargs: Any) -> Any:
        return await native(self._native, *args, **kwargs)

    return method


_IN_PLACE = {"open", "sync", "tenant", "durability", "closed", "for_tenant", "now", "advance_clock", "set_clock"}
for _name in dir(_native._AsyncStore):
    if not _name.startswith("_") and _name not in _IN_PLACE:
        setattr(AsyncStore, _name, _coroutine(_name))
