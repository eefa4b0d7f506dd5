"""jetstate: the durable state of a workflow or AI-agent engine, embedded in one SQLite file.

``Store`` (sync, thread-safe) and ``AsyncStore`` (asyncio) hold workflow definitions, executions
with their state, an append-only event log with snapshots, a work queue with leases, fencing
tokens, retries and a dead-letter queue, API tokens and tenants. Records are read-only objects;
JSON values are plain Python objects; ids are ``str``; times are timezone-aware UTC ``datetime``s.
"""

from ._native import (
    MAX_JSON_DEPTH,
    ApiToken,
    Enqueued,
    Event,
    Lease,
    MaterializedState,
    QueueEntry,
    ReclaimResult,
    Snapshot,
    Store,
    Tenant,
    TokenRecord,
    WorkflowDefinition,
    WorkflowExecution,
    WorkItem,
)
from ._async import AsyncStore
from . import _errors
from ._errors import *  # noqa: F403: JetstateError and one subclass per kind of error

__version__ = "0.1.0"

__all__ = [
    "Store",
    "AsyncStore",
    "WorkflowDefinition",
    "WorkflowExecution",
    "Event",
    "Snapshot",
    "WorkItem",
    "Lease",
    "Enqueued",
    "QueueEntry",
    "ReclaimResult",
    "ApiToken",
    "TokenRecord",
    "Tenant",
    "MaterializedState",
    "MAX_JSON_DEPTH",
]
__all__ += _errors.__all__
