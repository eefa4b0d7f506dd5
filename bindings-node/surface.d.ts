// Types of jetstate's JavaScript API, the same in Node (`jetstate`) and the browser
// (`jetstate-web`, whose build copies this file). Records are plain objects with camelCase keys; times are
// `Date`s (millisecond precision: the store keeps microseconds, a Date holds milliseconds); ids are
// strings; JSON values are plain values. Sequences, tokens and counts are numbers, bounded by
// Number.MAX_SAFE_INTEGER (a store would need 2^53 events in one execution to pass it).

/** A JSON value as it comes back from the store. Integers beyond 2^53 come back rounded, as
 * JSON.parse gives them; hand them in as `bigint` to store them exactly. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON value handed in: also `bigint` (exact up to 64 bits) and `Date` (stored as its ISO
 * string). Anything JSON cannot hold exactly (NaN, Infinity, a function, a Map, a cycle) is
 * refused with SERIALIZATION before anything is written. */
export type JsonInput =
  | null
  | boolean
  | number
  | bigint
  | string
  | Date
  | readonly JsonInput[]
  | { readonly [key: string]: JsonInput | undefined };

export type WorkflowStatus = 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled' | 'limit_exceeded';
export type WorkItemStatus = 'pending' | 'claimed' | 'completed' | 'failed' | 'dead_letter' | 'cancelled';
export type TenantStatus = 'active' | 'suspended' | 'archived';
export type Durability = 'full' | 'normal';

export type ErrorCodeName =
  | 'NOT_FOUND'
  | 'SEQUENCE_CONFLICT'
  | 'CONFLICT'
  | 'LEASE_LOST'
  | 'INVALID_ARGUMENT'
  | 'DATABASE'
  | 'SERIALIZATION';

/** The error every failed call rejects with; `code` names its kind (CONTRACT.md, section 8). */
export class JetstateError extends Error {
  readonly code: ErrorCodeName;
  /** The failure is transient and wrote nothing: the same call may succeed if made again. */
  readonly retryable: boolean;
  /** The call may have been written after all (its commit's answer was lost); never retryable. */
  readonly outcomeUnknown: boolean;
  constructor(code: ErrorCodeName, message: string, flags?: { retryable?: boolean; outcomeUnknown?: boolean });
}

export const ErrorCode: { readonly [K in ErrorCodeName]: K };

/** Nesting the store keeps in a JSON value; deeper is INVALID_ARGUMENT. */
export const MAX_JSON_DEPTH: 127;

export interface WorkflowDefinition {
  workflowId: string;
  version: string;
  ir: Json;
  createdAt: Date;
  tenantId: string;
}

export interface WorkflowExecution {
  executionId: string;
  workflowId: string;
  workflowVersion: string;
  status: WorkflowStatus;
  initialInput: Json;
  currentState: Json;
  startedAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  sessionType?: 'agent' | 'workflow' | null;
}

/** An event's kind: its `type` and the fields EVENTS.md gives it, in their snake_case names. */
export interface EventKind {
  type: string;
  [field: string]: Json;
}

export interface Event {
  id: string;
  executionId: string;
  sequence: number;
  kind: EventKind;
  createdAt: Date;
}

export interface Snapshot {
  id: string;
  executionId: string;
  atSequence: number;
  state: Json;
  createdAt: Date;
}

export interface WorkItem {
  id: string;
  executionId: string;
  nodeId: string;
  queueType: string;
  payload: Json;
  attempt: number;
  maxAttempts: number;
  createdAt: Date;
  leaseExpiresAt: Date | null;
  workerId: string | null;
  tenantId: string;
}

/** A claimed item with its fencing token and the lease's expiry. */
export interface Lease {
  item: WorkItem;
  token: number;
  expiresAt: Date;
}

/** A work item with its queue state. */
export interface QueueEntry {
  item: WorkItem;
  status: WorkItemStatus;
  lastError: string | null;
  /** Not claimable before this time: the time it was scheduled for, or the end of a retry backoff. */
  retryAfter: Date | null;
  leaseToken: number;
  updatedAt: Date;
  /** Lower runs first. */
  priority: number;
  /** Its place in the claims' order (after priority): its creation, schedule or backoff's end. */
  runAt: Date;
  uniqueKey: string | null;
  partitionKey: string | null;
  /** What its holder's last renew reported. */
  progress: Json;
  claimedAt: Date | null;
}

/** What an enqueue may ask for beside the item. */
export interface EnqueueOptions {
  /** Not claimable before this time. */
  runAt?: Date | string | null;
  /** From -32,768 to 32,767, lower runs first (default 0). */
  priority?: number;
  /** At most one live item of the tenant's queue type holds a key (at most 512 bytes). */
  uniqueKey?: string | null;
  /** What an enqueue does when another item holds the key (default 'keep'). */
  onDuplicate?: 'keep' | 'replace' | 'refuse';
  /** How long a completed item keeps holding its key (default: released at completion). */
  uniqueForMs?: number | null;
  /** The partition a per-partition concurrency limit counts the item in. */
  partitionKey?: string | null;
}

/** What an enqueue did: `id` is the item that stands for the request. */
export interface Enqueued {
  id: string;
  outcome: 'enqueued' | 'duplicate' | 'replaced';
}

/** One item of a batch enqueue. */
export interface Job {
  item: Input<WorkItem>;
  options?: EnqueueOptions;
}

/** A lease to complete in a batch. */
export interface LeaseRef {
  itemId: string;
  token: number;
}

export interface WaitOptions {
  /** At most this many items (default 1). */
  max?: number;
  leaseMs?: number;
  /** How long to wait for a claimable item (default 0: one try). */
  timeoutMs?: number;
  /** Aborting it ends the wait at once; the claim resolves to []. */
  signal?: AbortSignal | null;
}

export interface RateLimit {
  claims: number;
  periodMs: number;
}

/** A queue type's settings: they hold for every tenant's items of it. */
export interface QueueSettings {
  paused?: boolean;
  /** At most this many of its items claimed at once, across every worker. */
  concurrency?: number | null;
  /** At most this many claimed at once per partition key. */
  partitionConcurrency?: number | null;
  /** At most `claims` claims in every window of `periodMs`. */
  rateLimit?: RateLimit | null;
}

/** A queue type at a glance. */
export interface QueueInfo {
  queueType: string;
  settings: Required<QueueSettings>;
  ready: number;
  scheduled: number;
  claimed: number;
  completed: number;
  failed: number;
  deadLetter: number;
  cancelled: number;
}

/** What retention keeps; every rule optional. */
export interface RetentionPolicy {
  finishedItemsAfterMs?: number | null;
  deadLettersAfterMs?: number | null;
  keepFinishedItems?: number | null;
  finishedExecutionsAfterMs?: number | null;
  keepFinishedExecutions?: number | null;
}

/** What a prune deleted (or, dry, would). */
export interface PruneReport {
  workItems: number;
  executions: number;
  events: number;
  snapshots: number;
}

/** Items whose leases had expired: retried, or moved to the dead-letter queue. */
export interface ReclaimResult {
  retryable: WorkItem[];
  exhausted: WorkItem[];
}

/** An API token's public record (the secret itself is never stored). */
export interface ApiToken {
  id: string;
  name: string;
  role: string;
  createdAt: Date;
  expiresAt: Date | null;
  tenantId: string;
}

export interface TokenRecord {
  info: ApiToken;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** A new token: its secret (shown once) and its record. */
export interface NewToken {
  token: string;
  info: ApiToken;
}

export interface TenantLimits {
  maxConcurrentExecutions?: number;
  maxWorkflows?: number;
  maxTokensPerMonth?: number;
  maxCostPerMonthUsd?: number;
}

export interface Tenant {
  id: string;
  name: string;
  status: TenantStatus;
  policy?: Json;
  limits?: TenantLimits | null;
  createdAt: Date;
  updatedAt: Date;
}

/** An execution's state rebuilt from its latest snapshot and the events after it. */
export interface MaterializedState {
  currentState: Json;
  status: WorkflowStatus;
  /** Output of each completed node, by node id. */
  completedNodes: { [nodeId: string]: Json };
  /** Nodes started and not yet finished, sorted. */
  activeNodes: string[];
  lastSequence: number;
}

/** Counts for an operator. */
export interface Summary {
  schemaVersion: number;
  databaseBytes: number;
  executions: { [status: string]: number };
  queues: { [queueType: string]: { [status: string]: number } };
  expiredLeases: number;
  deadLetter: number;
  oldestPending: Date | null;
}

export interface WriteStats {
  calls: number;
  commits: number;
}

export interface StoreOptions {
  /** 'full' (default): an acknowledged write survives power loss; 'normal': a crash of the process. */
  durability?: Durability;
  /** Lease length of a claim (default 30,000). */
  leaseMs?: number;
  /** Retry backoff: base and cap (defaults 1,000 and 64,000). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  backoffJitter?: boolean;
  /** How long a write waits for another process's lock (default 5,000). */
  busyTimeoutMs?: number;
  /** Runs the store on a manual clock standing at this instant (for tests). */
  clock?: Date;
  readOnly?: boolean;
}

/** A record handed in: the record, with its keys in camelCase (or snake_case) and its JSON fields
 * free to hold a `JsonInput`. */
export type Input<R> = { [K in keyof R]: R[K] extends Json ? JsonInput : R[K] };

/** What a store is on every host (Node's `Store`, the browser's): the operations, each
 * returning a Promise, and the tenant views. */
export interface StoreOperations extends AsyncDisposable {
  /** The view of one tenant: every call through it reads and writes that tenant's records only. */
  forTenant(tenantId: string): this;
  readonly tenant: string | null;
  readonly durability: Durability;
  readonly closed: boolean;
  close(): Promise<null>;

  storeWorkflow(definition: Input<WorkflowDefinition>): Promise<null>;
  getWorkflow(workflowId: string, version: string): Promise<WorkflowDefinition | null>;

  createExecution(execution: Input<WorkflowExecution>): Promise<null>;
  getExecution(executionId: string): Promise<WorkflowExecution | null>;
  updateExecutionStatus(executionId: string, status: WorkflowStatus): Promise<null>;
  updateExecutionCurrentState(executionId: string, currentState: JsonInput): Promise<null>;
  patchAppendArray(executionId: string, key: string, value: JsonInput): Promise<null>;
  listExecutions(status?: WorkflowStatus | null, limit?: number, offset?: number): Promise<WorkflowExecution[]>;

  /** Appends one event at its own sequence; resolves to the sequence. */
  appendEvent(event: Input<Event>): Promise<number>;
  appendEvents(events: Input<Event>[]): Promise<null>;
  appendNextEvent(executionId: string, kind: EventKind | { readonly type: string; readonly [field: string]: JsonInput | undefined }): Promise<Event>;
  appendNextEvents(executionId: string, kinds: Array<{ readonly type: string; readonly [field: string]: JsonInput | undefined }>): Promise<Event[]>;
  getEvents(executionId: string): Promise<Event[]>;
  getEventsSince(executionId: string, since: number): Promise<Event[]>;
  latestSequence(executionId: string): Promise<number>;

  writeSnapshot(snapshot: Input<Snapshot>): Promise<null>;
  latestSnapshot(executionId: string): Promise<Snapshot | null>;
  materialize(executionId: string): Promise<MaterializedState>;

  enqueueWorkItem(item: Input<WorkItem>): Promise<string>;
  enqueueWorkItems(items: Input<WorkItem>[]): Promise<string[]>;
  getWorkItem(itemId: string): Promise<QueueEntry | null>;
  listWorkItems(status?: WorkItemStatus | null, limit?: number, offset?: number): Promise<QueueEntry[]>;
  claimWorkItem(workerId: string, queueTypes: string[]): Promise<WorkItem | null>;
  claimFenced(workerId: string, queueTypes: string[], leaseMs?: number): Promise<Lease | null>;
  renewLease(itemId: string, workerId: string): Promise<null>;
  /** Extends a live lease; a `progress` value is kept on the item for operators. */
  renewFenced(itemId: string, token: number, leaseMs?: number | null, progress?: JsonInput): Promise<Date>;
  completeWorkItem(itemId: string): Promise<null>;
  completeFenced(itemId: string, token: number): Promise<null>;
  failWorkItem(itemId: string, error: string): Promise<null>;
  failFenced(itemId: string, token: number, error: string): Promise<null>;
  reclaimExpiredLeases(): Promise<ReclaimResult>;
  moveToDeadLetter(itemId: string, error: string): Promise<null>;
  requeueDeadLetter(itemId: string): Promise<null>;
  requeueAllDeadLetters(): Promise<number>;
  purgeDeadLetters(): Promise<number>;

  /** Enqueues with a run time, a priority, a unique key or a partition. */
  enqueue(item: Input<WorkItem>, options?: EnqueueOptions): Promise<Enqueued>;
  /** Several items, each with its options, all or none, in one commit. */
  enqueueBatch(items: Job[]): Promise<Enqueued[]>;
  /** Appends kinds at the execution's next sequences and enqueues items, in one commit. */
  appendAndEnqueue(
    executionId: string,
    kinds: Array<{ readonly type: string; readonly [field: string]: JsonInput | undefined }>,
    items: Job[],
  ): Promise<{ events: Event[]; enqueued: Enqueued[] }>;
  /** Up to `max` items in one transaction, each its own lease and token. */
  claimBatch(workerId: string, queueTypes: string[], max: number, leaseMs?: number | null): Promise<Lease[]>;
  /** Claims, waiting up to `timeoutMs` for work (off the event loop); `signal` ends the wait. */
  claimWait(workerId: string, queueTypes: string[], options?: WaitOptions): Promise<Lease[]>;
  /** Completes several fenced items in one commit: per lease, completed (true) or lost (false). */
  completeBatch(leases: LeaseRef[]): Promise<boolean[]>;
  /** Cancels a pending or claimed item (its holder's next renew or complete is LEASE_LOST);
   * resolves to the status it had. */
  cancelWorkItem(itemId: string): Promise<WorkItemStatus>;
  configureQueue(queueType: string, settings: QueueSettings): Promise<null>;
  pauseQueue(queueType: string): Promise<null>;
  resumeQueue(queueType: string): Promise<null>;
  queueSettings(queueType: string): Promise<Required<QueueSettings>>;
  listQueues(): Promise<QueueInfo[]>;
  /** Deletes what `policy` lets go (finished items, finished executions whole); nothing live. */
  prune(policy: RetentionPolicy, dryRun?: boolean): Promise<PruneReport>;
  /** Stores a policy that `reclaimExpiredLeases` applies as it runs; null removes it. */
  setRetention(policy: RetentionPolicy | null): Promise<null>;
  retention(): Promise<RetentionPolicy | null>;

  createToken(name: string, role: string, expiresAt?: Date): Promise<NewToken>;
  validateToken(token: string): Promise<ApiToken | null>;
  revokeToken(id: string): Promise<null>;
  listTokens(): Promise<TokenRecord[]>;

  createTenant(tenant: Input<Tenant>): Promise<null>;
  getTenant(id: string): Promise<Tenant | null>;
  listTenants(): Promise<Tenant[]>;
  updateTenant(tenant: Input<Tenant>): Promise<null>;

  /** Copies the store to a new file while writers may run; resolves to its size in bytes. */
  backup(dest: string): Promise<number>;
  summary(): Promise<Summary>;
  /** Write calls committed since the store opened, and the commits that carried them: calls
   * made at once (not each awaited before the next) share commits. */
  writeStats(): Promise<WriteStats>;
  /** The store, or one execution with its events, snapshots, items and definition, as JSON Lines
   * text (the format of `jetstate export`): one consistent snapshot. */
  exportJsonl(executionId?: string | null): Promise<string>;
  /** Writes the rows of an export in one transaction (all or nothing); resolves to the rows
   * imported per table. */
  importJsonl(text: string): Promise<{ [table: string]: number }>;

  /** Runs an operation by its wire name (tests/conformance/README.md) with wire-form arguments. */
  call(op: string, args: { readonly [name: string]: JsonInput | undefined }): Promise<Json>;
}

export function newExecution(
  workflowId: string,
  workflowVersion: string,
  initialInput?: JsonInput,
  options?: { executionId?: string },
): WorkflowExecution;
export function newWorkItem(
  executionId: string,
  nodeId: string,
  queueType: string,
  payload?: JsonInput,
  options?: { maxAttempts?: number; id?: string },
): WorkItem;
export function newEvent(executionId: string, sequence: number, kind: EventKind): Event;
export function newSnapshot(executionId: string, atSequence: number, state: JsonInput): Snapshot;
export function newDefinition(workflowId: string, version: string, ir?: JsonInput): WorkflowDefinition;
export function newTenant(
  id: string,
  name: string,
  options?: { status?: TenantStatus; policy?: JsonInput; limits?: TenantLimits | null },
): Tenant;
