"""Type stubs of the native module. Everything here is re-exported by ``jetstate``."""

import os
from datetime import datetime, timedelta
from typing import Any, Dict, FrozenSet, List, Literal, Mapping, Optional, Sequence, Tuple, TypedDict, TypeVar, Union

JSON = Union[None, bool, int, float, str, List["JSON"], Dict[str, "JSON"], Tuple["JSON", ...]]
"""A JSON value handed in, as plain Python objects (tuples are read as lists)."""

JSONValue = Any
"""A JSON value handed out: dict, list, str, int, float, bool or None (typed ``Any``, as
``json.loads`` is, so that reading into it needs no casts)."""

Seconds = Union[timedelta, int, float]
"""A duration: a ``timedelta`` or a number of seconds."""

WorkflowStatus = Literal["pending", "running", "paused", "completed", "failed", "cancelled", "limit_exceeded"]
WorkItemStatus = Literal["pending", "claimed", "completed", "failed", "dead_letter", "cancelled"]
OnDuplicate = Literal["keep", "replace", "refuse"]
TenantStatus = Literal["active", "suspended", "archived"]

MAX_JSON_DEPTH: int

_R = TypeVar("_R")

class WorkflowDefinition:
    """A registered workflow definition: its IR at one version."""
    workflow_id: str
    version: str
    ir: JSONValue
    created_at: datetime
    tenant_id: str
    def __init__(self, workflow_id: str, version: str, ir: JSON = None) -> None: ...
    def replace(self, **changes: Any) -> "WorkflowDefinition": ...
    def to_dict(self) -> Dict[str, Any]: ...

class WorkflowExecution:
    """One execution of a workflow, with its current state."""
    execution_id: str
    workflow_id: str
    workflow_version: str
    status: WorkflowStatus
    initial_input: JSONValue
    current_state: JSONValue
    started_at: datetime
    updated_at: datetime
    completed_at: Optional[datetime]
    session_type: Optional[str]
    def __init__(
        self, workflow_id: str, workflow_version: str, initial_input: JSON = None, *, execution_id: Optional[str] = None
    ) -> None: ...
    def replace(self, **changes: Any) -> "WorkflowExecution": ...
    def to_dict(self) -> Dict[str, Any]: ...

class Event:
    """One event of an execution's append-only log; ``kind`` is a dict with a string ``type``."""
    id: str
    execution_id: str
    sequence: int
    kind: Dict[str, JSONValue]
    created_at: datetime
    def __init__(self, execution_id: str, sequence: int, kind: Mapping[str, JSON]) -> None: ...
    def replace(self, **changes: Any) -> "Event": ...
    def to_dict(self) -> Dict[str, Any]: ...

class Snapshot:
    """A snapshot of an execution's state at a sequence."""
    id: str
    execution_id: str
    at_sequence: int
    state: JSONValue
    created_at: datetime
    def __init__(self, execution_id: str, at_sequence: int, state: JSON) -> None: ...
    def replace(self, **changes: Any) -> "Snapshot": ...
    def to_dict(self) -> Dict[str, Any]: ...

class WorkItem:
    """A unit of work for a worker: a node of an execution to run."""
    id: str
    execution_id: str
    node_id: str
    queue_type: str
    payload: JSONValue
    attempt: int
    max_attempts: int
    created_at: datetime
    lease_expires_at: Optional[datetime]
    worker_id: Optional[str]
    tenant_id: str
    def __init__(
        self, execution_id: str, node_id: str, queue_type: str, payload: JSON = None, *, max_attempts: int = 3
    ) -> None: ...
    def replace(self, **changes: Any) -> "WorkItem": ...
    def to_dict(self) -> Dict[str, Any]: ...

class Tenant:
    """A tenant: every record of a tenant's view belongs to it."""
    id: str
    name: str
    status: TenantStatus
    policy: JSONValue
    limits: Optional[Dict[str, Union[int, float]]]
    created_at: datetime
    updated_at: datetime
    def __init__(
        self,
        id: str,
        name: str,
        *,
        status: TenantStatus = "active",
        policy: JSON = None,
        limits: Optional[Mapping[str, Union[int, float]]] = None,
    ) -> None: ...
    def replace(self, **changes: Any) -> "Tenant": ...
    def to_dict(self) -> Dict[str, Any]: ...

class Lease:
    """A claimed item with its fencing token and the lease's expiry."""
    item: WorkItem
    token: int
    expires_at: datetime
    def to_dict(self) -> Dict[str, Any]: ...

class QueueEntry:
    """A work item with its queue state."""
    item: WorkItem
    status: WorkItemStatus
    last_error: Optional[str]
    retry_after: Optional[datetime]
    lease_token: int
    updated_at: datetime
    priority: int
    run_at: datetime
    unique_key: Optional[str]
    partition_key: Optional[str]
    progress: JSONValue
    claimed_at: Optional[datetime]
    def to_dict(self) -> Dict[str, Any]: ...

class Enqueued:
    """What an enqueue did: the id of the item that stands for the request, and how."""
    id: str
    outcome: Literal["enqueued", "duplicate", "replaced"]
    def to_dict(self) -> Dict[str, Any]: ...

class EnqueueOptions(TypedDict, total=False):
    """The options of one item of a batch enqueue (``enqueue``'s keyword arguments)."""
    run_at: datetime
    priority: int
    unique_key: str
    on_duplicate: OnDuplicate
    unique_for: Seconds
    partition_key: str

Job = Union["WorkItem", Mapping[str, Any], Tuple[Union["WorkItem", Mapping[str, Any]], EnqueueOptions]]
"""One item of a batch enqueue: an item, ``(item, options)`` or ``{"item": ..., "options": {...}}``."""

class RateLimit(TypedDict):
    claims: int
    period: timedelta

class QueueSettings(TypedDict, total=False):
    """A queue type's settings (``configure_queue``); they hold for every tenant's items of it."""
    paused: bool
    concurrency: Optional[int]
    partition_concurrency: Optional[int]
    rate_limit: Optional[RateLimit]

class QueueInfo(TypedDict):
    queue_type: str
    settings: QueueSettings
    ready: int
    scheduled: int
    claimed: int
    completed: int
    failed: int
    dead_letter: int
    cancelled: int

class RetentionPolicy(TypedDict, total=False):
    """What retention keeps; every rule optional."""
    finished_items_after: Seconds
    dead_letters_after: Seconds
    keep_finished_items: int
    finished_executions_after: Seconds
    keep_finished_executions: int

class PruneReport(TypedDict):
    work_items: int
    executions: int
    events: int
    snapshots: int

LeaseRef = Union["Lease", Tuple[str, int], Mapping[str, Any]]
"""A lease to complete: a ``Lease``, ``(item_id, token)`` or ``{"item_id": ..., "token": ...}``."""

class ReclaimResult:
    """Items whose leases had expired: retried, or moved to the dead-letter queue."""
    retryable: List[WorkItem]
    exhausted: List[WorkItem]
    def to_dict(self) -> Dict[str, Any]: ...

class ApiToken:
    """An API token's public record (the secret itself is never stored)."""
    id: str
    name: str
    role: str
    created_at: datetime
    expires_at: Optional[datetime]
    tenant_id: str
    def to_dict(self) -> Dict[str, Any]: ...

class TokenRecord:
    """An API token with its revocation and last use."""
    info: ApiToken
    revoked_at: Optional[datetime]
    last_used_at: Optional[datetime]
    def to_dict(self) -> Dict[str, Any]: ...

class MaterializedState:
    """An execution's state rebuilt from its latest snapshot and the events after it."""
    current_state: JSONValue
    status: WorkflowStatus
    completed_nodes: Dict[str, JSONValue]
    active_nodes: FrozenSet[str]
    last_sequence: int
    def to_dict(self) -> Dict[str, Any]: ...

ExecutionArg = Union[WorkflowExecution, Mapping[str, Any]]
EventArg = Union[Event, Mapping[str, Any]]

class Store:
    """A jetstate store over one SQLite file (or memory). Thread-safe; methods block (GIL released)."""
    def __init__(
        self,
        path: Union[str, "os.PathLike[str]", None] = None,
        *,
        durability: Literal["full", "normal"] = "full",
        lease: Optional[Seconds] = None,
        backoff_base: Optional[Seconds] = None,
        backoff_cap: Optional[Seconds] = None,
        backoff_jitter: bool = False,
        busy_timeout: Optional[Seconds] = None,
        clock: Optional[datetime] = None,
        read_only: bool = False,
    ) -> None: ...
    def __enter__(self) -> "Store": ...
    def __exit__(self, *exc: object) -> bool: ...
    @property
    def tenant(self) -> Optional[str]: ...
    @property
    def durability(self) -> Literal["full", "normal"]: ...
    @property
    def closed(self) -> bool: ...
    def for_tenant(self, tenant: str) -> "Store": ...
    def close(self) -> None: ...
    def now(self) -> datetime: ...
    def advance_clock(self, by: Seconds) -> None: ...
    def set_clock(self, at: datetime) -> None: ...
    def store_workflow(self, definition: Union[WorkflowDefinition, Mapping[str, Any]]) -> None: ...
    def get_workflow(self, workflow_id: str, version: str) -> Optional[WorkflowDefinition]: ...
    def create_execution(self, execution: ExecutionArg) -> None: ...
    def get_execution(self, execution_id: str) -> Optional[WorkflowExecution]: ...
    def update_execution_status(self, execution_id: str, status: WorkflowStatus) -> None: ...
    def update_execution_current_state(self, execution_id: str, current_state: JSON) -> None: ...
    def patch_append_array(self, execution_id: str, key: str, value: JSON) -> None: ...
    def list_executions(
        self, status: Optional[WorkflowStatus] = None, limit: int = 100, offset: int = 0
    ) -> List[WorkflowExecution]: ...
    def append_event(self, event: EventArg) -> int: ...
    def append_events(self, events: Sequence[EventArg]) -> None: ...
    def append_next_event(self, execution_id: str, kind: Mapping[str, JSON]) -> Event: ...
    def append_next_events(self, execution_id: str, kinds: Sequence[Mapping[str, JSON]]) -> List[Event]: ...
    def get_events(self, execution_id: str) -> List[Event]: ...
    def get_events_since(self, execution_id: str, since: int) -> List[Event]: ...
    def latest_sequence(self, execution_id: str) -> int: ...
    def write_snapshot(self, snapshot: Union[Snapshot, Mapping[str, Any]]) -> None: ...
    def latest_snapshot(self, execution_id: str) -> Optional[Snapshot]: ...
    def materialize(self, execution_id: str) -> MaterializedState: ...
    def enqueue_work_item(self, item: Union[WorkItem, Mapping[str, Any]]) -> str: ...
    def enqueue_work_items(self, items: Sequence[Union[WorkItem, Mapping[str, Any]]]) -> List[str]: ...
    def get_work_item(self, item_id: str) -> Optional[QueueEntry]: ...
    def list_work_items(
        self, status: Optional[WorkItemStatus] = None, limit: int = 100, offset: int = 0
    ) -> List[QueueEntry]: ...
    def claim_work_item(self, worker_id: str, queue_types: Sequence[str]) -> Optional[WorkItem]: ...
    def claim_fenced(self, worker_id: str, queue_types: Sequence[str], lease: Optional[Seconds] = None) -> Optional[Lease]: ...
    def renew_lease(self, item_id: str, worker_id: str) -> None: ...
    def renew_fenced(
        self, item_id: str, token: int, lease: Optional[Seconds] = None, progress: JSON = None
    ) -> datetime: ...
    def complete_work_item(self, item_id: str) -> None: ...
    def complete_fenced(self, item_id: str, token: int) -> None: ...
    def fail_work_item(self, item_id: str, error: str) -> None: ...
    def fail_fenced(self, item_id: str, token: int, error: str) -> None: ...
    def reclaim_expired_leases(self) -> ReclaimResult: ...
    def move_to_dead_letter(self, item_id: str, error: str) -> None: ...
    def requeue_dead_letter(self, item_id: str) -> None: ...
    def requeue_all_dead_letters(self) -> int: ...
    def purge_dead_letters(self) -> int: ...
    def enqueue(
        self,
        item: Union[WorkItem, Mapping[str, Any]],
        *,
        run_at: Optional[datetime] = None,
        priority: Optional[int] = None,
        unique_key: Optional[str] = None,
        on_duplicate: Optional[OnDuplicate] = None,
        unique_for: Optional[Seconds] = None,
        partition_key: Optional[str] = None,
    ) -> Enqueued: ...
    def enqueue_batch(self, items: Sequence[Job]) -> List[Enqueued]: ...
    def append_and_enqueue(
        self, execution_id: str, kinds: Sequence[Mapping[str, JSON]], items: Sequence[Job]
    ) -> Dict[str, Any]: ...
    def claim_batch(
        self, worker_id: str, queue_types: Sequence[str], max: int, lease: Optional[Seconds] = None
    ) -> List[Lease]: ...
    def claim_wait(
        self,
        worker_id: str,
        queue_types: Sequence[str],
        *,
        max: int = 1,
        lease: Optional[Seconds] = None,
        timeout: Optional[Seconds] = None,
    ) -> List[Lease]: ...
    def complete_batch(self, leases: Sequence[LeaseRef]) -> List[bool]: ...
    def cancel_work_item(self, item_id: str) -> WorkItemStatus: ...
    def configure_queue(self, queue_type: str, settings: QueueSettings) -> None: ...
    def pause_queue(self, queue_type: str) -> None: ...
    def resume_queue(self, queue_type: str) -> None: ...
    def queue_settings(self, queue_type: str) -> QueueSettings: ...
    def list_queues(self) -> List[QueueInfo]: ...
    def prune(self, policy: RetentionPolicy, dry_run: bool = False) -> PruneReport: ...
    def set_retention(self, policy: Optional[RetentionPolicy]) -> None: ...
    def retention(self) -> Optional[RetentionPolicy]: ...
    def create_token(self, name: str, role: str, expires_at: Optional[datetime] = None) -> Tuple[str, ApiToken]: ...
    def validate_token(self, token: str) -> Optional[ApiToken]: ...
    def revoke_token(self, id: str) -> None: ...
    def list_tokens(self) -> List[TokenRecord]: ...
    def create_tenant(self, tenant: Union[Tenant, Mapping[str, Any]]) -> None: ...
    def get_tenant(self, id: str) -> Optional[Tenant]: ...
    def list_tenants(self) -> List[Tenant]: ...
    def update_tenant(self, tenant: Union[Tenant, Mapping[str, Any]]) -> None: ...
    def backup(self, dest: Union[str, "os.PathLike[str]"]) -> int: ...
    def summary(self) -> Dict[str, Any]: ...
    def write_stats(self) -> Dict[str, int]: ...
    def export_jsonl(self, execution_id: Optional[str] = None) -> str: ...
    def import_jsonl(self, text: str) -> Dict[str, int]: ...

class _AsyncStore:
    """The native half of ``AsyncStore`` (see ``_async.pyi``): methods that return asyncio futures."""
    def __getattr__(self, name: str) -> Any: ...
