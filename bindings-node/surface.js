'use strict';
// What the JavaScript API of jetstate is on every host: Node (`index.js`, over the native addon)
// and the browser (the `jetstate-web` package, over a worker running the WebAssembly build, which
// uses this very file: its build wraps it as an ES module). No `require`, no host API but Web
// Crypto, so that it runs unchanged in both.
//
// The core runs the operations by name, with JSON arguments and results in the wire form of
// tests/conformance/README.md (snake_case keys, RFC 3339 times). This file holds what is
// JavaScript-shaped and nothing else: the methods with camelCase names, records as plain objects
// with camelCase keys and `Date`s, values checked for JSON on the way in, and errors as
// `JetstateError`s with a `code`. Every rule is the core's.
//
// Invariants kept here: only record fields are renamed, never the keys of a caller's JSON values
// (payloads, states, event kinds, definitions' IR, policies); a value that JSON cannot hold
// exactly is refused with SERIALIZATION before anything is written.


// ── Errors ──────────────────────────────────────────────────────────────────────────────────

/** An error of the store; `code` names its kind (CONTRACT.md, section 8). */
class JetstateError extends Error {
  /** `retryable`: the failure is transient and wrote nothing; the same call may succeed if made
   * again. `outcomeUnknown`: the call may have been written after all (a commit whose answer was
   * lost); never retryable. */
  constructor(code, message, { retryable = false, outcomeUnknown = false } = {}) {
    super(message);
    this.name = 'JetstateError';
    this.code = code;
    this.retryable = retryable;
    this.outcomeUnknown = outcomeUnknown;
  }
}

const ErrorCode = Object.freeze({
  NOT_FOUND: 'NOT_FOUND',
  SEQUENCE_CONFLICT: 'SEQUENCE_CONFLICT',
  CONFLICT: 'CONFLICT',
  LEASE_LOST: 'LEASE_LOST',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  DATABASE: 'DATABASE',
  SERIALIZATION: 'SERIALIZATION',
});

/** The addon answers a refused call with `!CODE message`, the code maybe followed by
 * `+retryable` or `+outcome_unknown` (`wire::refusal`; a JSON text never starts with `!`). */
function refusal(text) {
  const space = text.indexOf(' ');
  const [code, flag] = text.slice(1, space).split('+');
  return new JetstateError(code, text.slice(space + 1), { retryable: flag === 'retryable', outcomeUnknown: flag === 'outcome_unknown' });
}

/** A call's result from the host's answer: the JSON text's value, or its refusal thrown. */
function answer(text) {
  if (text.charCodeAt(0) === 33 /* ! */) throw refusal(text);
  return JSON.parse(text);
}

// ── Records: wire form (snake_case, RFC 3339) <-> JavaScript (camelCase, Date) ──────────────

// For each record: its time fields, and fields that hold records or lists of records. Every
// other field's value is passed as it is (ids, numbers, statuses, the caller's JSON).
const RECORDS = {
  definition: { times: ['created_at'] },
  execution: { times: ['started_at', 'updated_at', 'completed_at'] },
  event: { times: ['created_at'], integers: ['sequence'] },
  snapshot: { times: ['created_at'], integers: ['at_sequence'] },
  workItem: { times: ['created_at', 'lease_expires_at'], integers: ['attempt', 'max_attempts'] },
  lease: { times: ['expires_at'], records: { item: 'workItem' } },
  queueEntry: { times: ['retry_after', 'updated_at', 'run_at', 'claimed_at'], records: { item: 'workItem' } },
  enqueueOptions: { times: ['run_at'], integers: ['priority'] },
  job: { records: { item: 'workItem', options: 'enqueueOptions' } },
  enqueued: {},
  appended: { lists: { events: 'event', enqueued: 'enqueued' } },
  leaseRef: { integers: ['token'] },
  queueSettings: { records: { rate_limit: 'rateLimit' } },
  rateLimit: {},
  queueInfo: { records: { settings: 'queueSettings' } },
  retentionPolicy: {},
  waitOptions: { integers: ['max'] },
  pruneReport: {},
  reclaim: { lists: { retryable: 'workItem', exhausted: 'workItem' } },
  apiToken: { times: ['created_at', 'expires_at'] },
  tokenRecord: { times: ['revoked_at', 'last_used_at'], records: { info: 'apiToken' } },
  newToken: { records: { info: 'apiToken' } },
  tenant: { times: ['created_at', 'updated_at'], records: { limits: 'limits' } },
  limits: {},
  materialized: {},
  summary: { times: ['oldest_pending'] },
};
for (const spec of Object.values(RECORDS)) {
  spec.times = new Set(spec.times || []);
  spec.integers = new Set(spec.integers || []);
  spec.records = spec.records || {};
  spec.lists = spec.lists || {};
  spec.fields = new Map();
}

// Record keys are few and repeat in every record: convert each once.
const CAMEL = new Map();
const camel = (key) => {
  let name = CAMEL.get(key);
  if (name === undefined) CAMEL.set(key, (name = key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())));
  return name;
};
const SNAKE = new Map();
const snake = (key) => {
  let name = SNAKE.get(key);
  if (name === undefined) {
    name = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    // Only records' own keys come here (never a payload's), but a caller may add stray ones:
    // the bound keeps them from growing the cache without end.
    if (SNAKE.size < 256) SNAKE.set(key, name);
  }
  return name;
};

/** A record from its wire form. */
function fromWire(kind, wire) {
  if (wire === null || wire === undefined) return null;
  const spec = RECORDS[kind];
  const out = {};
  for (const key of Object.keys(wire)) {
    const value = wire[key];
    if (spec.times.has(key)) out[camel(key)] = value === null ? null : new Date(value);
    else if (key in spec.records) out[camel(key)] = fromWire(spec.records[key], value);
    else if (key in spec.lists) out[camel(key)] = value.map((item) => fromWire(spec.lists[key], item));
    else out[camel(key)] = value;
  }
  return out;
}

/** How `toWire` writes a caller's key of a record of `spec`: its wire name, whether it holds a
 * time, and the kind of record it holds (or null). Worked out once per key and record kind. */
function field(spec, key) {
  let found = spec.fields.get(key);
  if (found === undefined) {
    const wire = snake(key);
    found = {
      wire, time: spec.times.has(wire), integer: spec.integers.has(wire),
      record: Object.hasOwn(spec.records, wire) ? spec.records[wire] : null,
    };
    // Bounded, as `snake` is: a caller may add stray keys.
    if (spec.fields.size < 64) spec.fields.set(key, found);
  }
  return found;
}

/** A record's wire form, from a caller's object (camelCase or snake_case keys). */
function toWire(kind, record, name) {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `${name} must be an object, got ${describe(record)}`);
  }
  const spec = RECORDS[kind];
  const out = {};
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (value === undefined) continue;
    const { wire, time, integer, record: inner } = field(spec, key);
    if (inner !== null && value !== null) out[wire] = toWire(inner, value, `${name}.${key}`);
    // A time printed here rather than inside stringify, where an object with a toJSON takes a
    // slow path. An invalid Date is refused: stringify would print it as null, which for an
    // expiry means "never".
    else if (time && value instanceof Date) out[wire] = isoTime(value, `${name}.${key}`);
    else if (integer) out[wire] = safeInteger(value, `${name}.${key}`);
    else out[wire] = value;
  }
  return out;
}

/** A valid Date's wire form; an invalid one (`new Date(NaN)`) is refused. */
function isoTime(date, name) {
  if (Number.isNaN(date.getTime())) {
    throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `${name} is an invalid Date`);
  }
  return date.toISOString();
}

/** A count, sequence or token: a JavaScript number holding an integer it represents exactly
 * (|n| <= 2^53 - 1), as the types say. A bigint, or an integer past that, is refused: it would
 * be rounded on the way back (the store's sequences stop at 2^53 - 1 on every surface). */
function safeInteger(value, name) {
  if (value === null || (typeof value === 'number' && Number.isSafeInteger(value))) return value;
  const why = typeof value === 'number' ? `${value} is not an integer from -(2^53 - 1) to 2^53 - 1` : `a ${typeof value}, not a number`;
  throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `${name} must be an integer a JavaScript number holds exactly: ${why}`);
}

/** Scalar parameters that the types declare as numbers. */
// (`token` is a lease token, except in validate_token, where it is the secret.)
const INTEGER_PARAMETERS = new Set(['limit', 'offset', 'since', 'token', 'max']);
const NUMBER_PARAMETERS = new Set(['lease_ms']);
const TIME_PARAMETERS = new Set(['expires_at']);

const describe = (value) => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value);

/** JSON text of the arguments; what JSON cannot hold exactly is refused, not silently changed. */
function encode(args) {
  // Most arguments hold only what JSON.stringify prints exactly as it is: a walk that finds so
  // lets it run without a replacer, which is several times faster. Anything else takes the
  // checking replacer below (it refuses, or prints bigints exactly). The walk reads each value
  // once more than stringify does: a getter must give the same value each time it is read.
  if (exact(args, 0)) return JSON.stringify(args);
  let marked = false;
  try {
    const text = JSON.stringify(args, function check(key, value) {
      // What the caller gave, before its toJSON ran: a Buffer's toJSON makes an object of its
      // bytes, an invalid Date's makes null. Neither is the value that was meant.
      const given = this[key];
      if (given !== value && typeof given === 'object' && given !== null) {
        if (ArrayBuffer.isView(given) || given instanceof ArrayBuffer) throw refuse('binary data is not JSON');
        if (given instanceof Date && Number.isNaN(given.getTime())) {
          throw new JetstateError(ErrorCode.INVALID_ARGUMENT, 'an invalid Date is not a time');
        }
      }
      switch (typeof value) {
        case 'number':
          if (!Number.isFinite(value)) throw refuse(`${value} is not a JSON number`);
          return value;
        case 'bigint':
          if (value > MAX_U64 || value < MIN_I64) throw refuse(`${value}n does not fit in 64 bits`);
          // Beyond 2^53 a number would round: the digits travel in a marked string instead.
          if (value >= -MAX_SAFE && value <= MAX_SAFE) return Number(value);
          marked = true;
          return `${INTEGER_MARK}${value}`;
        case 'function':
        case 'symbol':
          throw refuse(`a ${typeof value} is not JSON`);
        case 'undefined':
          if (Array.isArray(this)) throw refuse('undefined is not JSON');
          return value;
        case 'object':
          if (value instanceof Map || value instanceof Set) throw refuse(`a ${value.constructor.name} is not JSON`);
          if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) throw refuse('binary data is not JSON');
          return value;
        default:
          return value;
      }
    });
    return marked ? text.replace(RAW_INTEGER, (_, digits) => digits) : text;
  } catch (err) {
    if (err instanceof JetstateError) throw err;
    if (err instanceof RangeError) {
      throw new JetstateError(ErrorCode.INVALID_ARGUMENT, 'JSON nested deeper than 127 levels is refused: it could not be read back');
    }
    throw refuse(err.message); // a cycle
  }
}

const refuse = (message) => new JetstateError(ErrorCode.SERIALIZATION, message);

/** Whether JSON.stringify prints `value` exactly, with no replacer: strings, finite numbers,
 * booleans, null, Dates (their toJSON), and arrays and plain objects of those, at most
 * MAX_JSON_DEPTH deep (deeper, or a cycle, is for the checking path to refuse). An object key
 * whose value is undefined counts, as stringify leaves it out either way. */
function exact(value, depth) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth >= MAX_JSON_DEPTH) return false;
      const prototype = Object.getPrototypeOf(value);
      // A Date prints as its toJSON says (stringify calls it); any other toJSON (a class
      // instance's, an array's, a patched prototype's) is the checking path's to call.
      if (prototype === Date.prototype) return !Object.hasOwn(value, 'toJSON') && !Number.isNaN(value.getTime());
      if ('toJSON' in value) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!exact(value[i], depth + 1)) return false;
        return true;
      }
      // Anything else with a prototype of its own (a Map, a typed array, a boxed value, a class
      // instance) is the checking path's to judge.
      if (prototype !== Object.prototype && prototype !== null) return false;
      for (const key of Object.keys(value)) {
        const field = value[key];
        if (field !== undefined && !exact(field, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}


// A bigint beyond 2^53 travels as a string with a mark no caller's string can hold by chance
// (a NUL and 64 random bits), unquoted after stringify: exact to 64 bits.
const MAX_U64 = 18446744073709551615n;
const MIN_I64 = -9223372036854775808n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INTEGER_MARK = `\u0000jetstate-int-${Array.from(globalThis.crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('')}:`;
const RAW_INTEGER = new RegExp(`"\\\\u0000${INTEGER_MARK.slice(1)}(-?\\d+)"`, 'g');

// ── The operations ──────────────────────────────────────────────────────────────────────────

// name: [operation, parameters, result]. A parameter is its wire name, or [wire name, record
// kind] for a record argument (or [name, [kind]] for a list of records). A result is a record
// kind, [kind] for a list of records, or null for a value passed as it is.
const OPERATIONS = {
  storeWorkflow: ['store_workflow', [['definition', 'definition']], null],
  getWorkflow: ['get_workflow', ['workflow_id', 'version'], 'definition'],
  createExecution: ['create_execution', [['execution', 'execution']], null],
  getExecution: ['get_execution', ['execution_id'], 'execution'],
  updateExecutionStatus: ['update_execution_status', ['execution_id', 'status'], null],
  updateExecutionCurrentState: ['update_execution_current_state', ['execution_id', 'current_state'], null],
  patchAppendArray: ['patch_append_array', ['execution_id', 'key', 'value'], null],
  listExecutions: ['list_executions', ['status', 'limit', 'offset'], ['execution']],
  appendEvent: ['append_event', [['event', 'event']], null],
  appendEvents: ['append_events', [['events', ['event']]], null],
  appendNextEvent: ['append_next_event', ['execution_id', 'kind'], 'event'],
  appendNextEvents: ['append_next_events', ['execution_id', 'kinds'], ['event']],
  getEvents: ['get_events', ['execution_id'], ['event']],
  getEventsSince: ['get_events_since', ['execution_id', 'since'], ['event']],
  latestSequence: ['latest_sequence', ['execution_id'], null],
  writeSnapshot: ['write_snapshot', [['snapshot', 'snapshot']], null],
  latestSnapshot: ['latest_snapshot', ['execution_id'], 'snapshot'],
  materialize: ['materialize', ['execution_id'], 'materialized'],
  enqueueWorkItem: ['enqueue_work_item', [['item', 'workItem']], null],
  enqueueWorkItems: ['enqueue_work_items', [['items', ['workItem']]], null],
  getWorkItem: ['get_work_item', ['item_id'], 'queueEntry'],
  listWorkItems: ['list_work_items', ['status', 'limit', 'offset'], ['queueEntry']],
  claimWorkItem: ['claim_work_item', ['worker_id', 'queue_types'], 'workItem'],
  claimFenced: ['claim_fenced', ['worker_id', 'queue_types', 'lease_ms'], 'lease'],
  renewLease: ['renew_lease', ['item_id', 'worker_id'], null],
  renewFenced: ['renew_fenced', ['item_id', 'token', 'lease_ms', 'progress'], 'time'],
  completeWorkItem: ['complete_work_item', ['item_id'], null],
  completeFenced: ['complete_fenced', ['item_id', 'token'], null],
  failWorkItem: ['fail_work_item', ['item_id', 'error'], null],
  failFenced: ['fail_fenced', ['item_id', 'token', 'error'], null],
  reclaimExpiredLeases: ['reclaim_expired_leases', [], 'reclaim'],
  moveToDeadLetter: ['move_to_dead_letter', ['item_id', 'error'], null],
  enqueue: ['enqueue', [['item', 'workItem'], ['options', 'enqueueOptions']], 'enqueued'],
  enqueueBatch: ['enqueue_batch', [['items', ['job']]], ['enqueued']],
  appendAndEnqueue: ['append_and_enqueue', ['execution_id', 'kinds', ['items', ['job']]], 'appended'],
  claimBatch: ['claim_batch', ['worker_id', 'queue_types', 'max', 'lease_ms'], ['lease']],
  completeBatch: ['complete_batch', [['leases', ['leaseRef']]], null],
  cancelWorkItem: ['cancel_work_item', ['item_id'], null],
  configureQueue: ['configure_queue', ['queue_type', ['settings', 'queueSettings']], null],
  pauseQueue: ['pause_queue', ['queue_type'], null],
  resumeQueue: ['resume_queue', ['queue_type'], null],
  queueSettings: ['queue_settings', ['queue_type'], 'queueSettings'],
  listQueues: ['list_queues', [], ['queueInfo']],
  prune: ['prune', [['policy', 'retentionPolicy'], 'dry_run'], 'pruneReport'],
  setRetention: ['set_retention', [['policy', 'retentionPolicy']], null],
  retention: ['retention', [], 'retentionPolicy'],
  requeueDeadLetter: ['requeue_dead_letter', ['item_id'], null],
  requeueAllDeadLetters: ['requeue_all_dead_letters', [], null],
  purgeDeadLetters: ['purge_dead_letters', [], null],
  createToken: ['create_token', ['name', 'role', 'expires_at'], 'newToken'],
  validateToken: ['validate_token', ['token'], 'apiToken'],
  revokeToken: ['revoke_token', ['id'], null],
  listTokens: ['list_tokens', [], ['tokenRecord']],
  createTenant: ['create_tenant', [['tenant', 'tenant']], null],
  getTenant: ['get_tenant', ['id'], 'tenant'],
  listTenants: ['list_tenants', [], ['tenant']],
  updateTenant: ['update_tenant', [['tenant', 'tenant']], null],
  backup: ['backup', ['dest'], null],
  summary: ['summary', [], 'summary'],
  writeStats: ['write_stats', [], null],
  exportJsonl: ['export_jsonl', ['execution_id'], null],
  importJsonl: ['import_jsonl', ['text'], null],
  close: ['close', [], null],
};

function shape(result, wire) {
  if (result === null) return wire;
  if (result === 'time') return new Date(wire);
  if (Array.isArray(result)) return wire.map((record) => fromWire(result[0], record));
  return fromWire(result, wire);
}

/** What a store is on every host, in either call style: tenant views and the getters. A host
 * (the Node addon, the browser's worker) gives it a handle with `forTenant(tenant)` (a handle for
 * the view), the getters `tenant`, `durability`, `closed`, and the calls its style needs:
 * `call(op, argsText)` (a Promise of the result's JSON text, or of `!CODE message`) for
 * `BaseStore`, `callBlocking(op, argsText)` (the text itself) for `BlockingBaseStore`. */
class StoreHandle {
  constructor(handle) {
    Object.defineProperty(this, HANDLE, { value: handle });
  }

  /** The view of one tenant: every call through it reads and writes that tenant's records only. */
  forTenant(tenantId) {
    if (typeof tenantId !== 'string') {
      throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `tenantId must be a string, got ${describe(tenantId)}`);
    }
    return new this.constructor(this[HANDLE].forTenant(tenantId));
  }

  /** This view's tenant, or null for the whole store. */
  get tenant() {
    return this[HANDLE].tenant ?? null;
  }

  get durability() {
    return this[HANDLE].durability;
  }

  get closed() {
    return this[HANDLE].closed;
  }

  get [Symbol.toStringTag]() {
    return 'jetstate.Store';
  }
}

/** The operations as methods that return Promises: the host runs each off its event loop. */
class BaseStore extends StoreHandle {
  /** Runs an operation by its wire name with wire-form arguments (what the methods do). */
  async call(op, args) {
    return answer(await this[HANDLE].call(op, encode(args)));
  }

  /**
   * Claims up to `max` items (1 by default) of `queueTypes`, waiting up to `timeoutMs` for one to
   * become claimable; resolves to the leases taken (none at the timeout, or when `signal`, an
   * AbortSignal, aborts: the wait ends at once). The host waits off its event loop.
   */
  async claimWait(workerId, queueTypes, options = {}) {
    const { text, signal } = waitArgs(workerId, queueTypes, options);
    if (signal?.aborted) return [];
    return shape(['lease'], answer(await this.constructor.hostClaimWait(this[HANDLE], text, signal)));
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }
}

/** The same operations as methods that return their results: each runs on the calling thread
 * and blocks it until done (Node's `BlockingStore`). */
class BlockingBaseStore extends StoreHandle {
  /** Runs an operation by its wire name with wire-form arguments (what the methods do). */
  call(op, args) {
    return answer(this[HANDLE].callBlocking(op, encode(args)));
  }

  /**
   * Claims up to `max` items (1 by default) of `queueTypes`, waiting up to `timeoutMs` for one to
   * become claimable, the calling thread blocked meanwhile; returns the leases taken (none at the
   * timeout). No `signal`: while the thread waits no JavaScript runs on it that could abort.
   */
  claimWait(workerId, queueTypes, options = {}) {
    const { text, signal } = waitArgs(workerId, queueTypes, options);
    if (signal !== null) {
      throw new JetstateError(
        ErrorCode.INVALID_ARGUMENT,
        'a BlockingStore\'s wait takes no signal: it blocks its thread, so nothing could abort it; bound it with timeoutMs, or wait on a Store',
      );
    }
    return shape(['lease'], answer(this[HANDLE].callBlocking('claim_wait', text)));
  }

  [Symbol.dispose]() {
    this.close();
  }
}

/** A waiting claim's arguments (their JSON text) and its AbortSignal, if any. */
function waitArgs(workerId, queueTypes, options) {
  if (options === null || typeof options !== 'object') {
    throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `options must be an object, got ${describe(options)}`);
  }
  const { signal = null, ...wait } = options;
  if (signal !== null && typeof signal.addEventListener !== 'function') {
    throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `signal must be an AbortSignal, got ${describe(signal)}`);
  }
  const text = encode({ worker_id: workerId, queue_types: queueTypes, options: toWire('waitOptions', wait, 'options') });
  return { text, signal };
}

/** Where a store keeps its host's handle (a symbol: not a name a caller's code could clash with). */
const HANDLE = Symbol('jetstate.handle');
const MAX_JSON_DEPTH = 127;

/** The wire arguments of operation `op` (its `params`) from a caller's positional `values`. */
function wireArgs(op, params, values) {
  const args = {};
  params.forEach((param, index) => {
    const value = values[index];
    if (value === undefined) return;
    if (typeof param === 'string') {
      if (INTEGER_PARAMETERS.has(param) && op !== 'validate_token') args[param] = safeInteger(value, camel(param));
      else if (NUMBER_PARAMETERS.has(param) && value !== null && typeof value !== 'number') {
        throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `${camel(param)} must be a number, got ${describe(value)}`);
      } else if (TIME_PARAMETERS.has(param) && value instanceof Date) args[param] = isoTime(value, camel(param));
      else args[param] = value;
    }
    // A record argument given as null is passed as null (the core says what it means there:
    // no retention policy, or a missing argument).
    else if (value === null) args[param[0]] = null;
    else if (Array.isArray(param[1])) {
      if (!Array.isArray(value)) {
        throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `${camel(param[0])} must be an array, got ${describe(value)}`);
      }
      args[param[0]] = value.map((record, i) => toWire(param[1][0], record, `${camel(param[0])}[${i}]`));
    } else args[param[0]] = toWire(param[1], value, camel(param[0]));
  });
  return args;
}

// Each operation in both call styles, from the one table: the same arguments, checks, records
// and errors; only the way the host is called differs. The host is called here, not through
// `call`: one async step per call, not two.
for (const [name, [op, params, result]] of Object.entries(OPERATIONS)) {
  const methods = [
    [BaseStore, async function (...values) {
      return shape(result, answer(await this[HANDLE].call(op, encode(wireArgs(op, params, values)))));
    }],
    [BlockingBaseStore, function (...values) {
      return shape(result, answer(this[HANDLE].callBlocking(op, encode(wireArgs(op, params, values)))));
    }],
  ];
  for (const [style, method] of methods) {
    Object.defineProperty(method, 'name', { value: name });
    style.prototype[name] = method;
  }
}

// ── Building records ────────────────────────────────────────────────────────────────────────

// Record ids are version 4 UUIDs from Web Crypto's random bytes (Node >= 19 and browsers alike).
// Not `crypto.randomUUID()`: in Chromium each call asks the system for its 16 bytes, 10 to 30 us
// in a page or worker between two calls to the store, more than the rest of building a record.
// The same bytes drawn 4 KiB at a time (`getRandomValues`, the same generator) cost under 1 us.
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
const RANDOM = new Uint8Array(4096);
let drawn = RANDOM.length;
function randomUUID() {
  if (drawn === RANDOM.length) {
    globalThis.crypto.getRandomValues(RANDOM);
    drawn = 0;
  }
  const b = RANDOM.subarray(drawn, (drawn += 16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
  return `${HEX[b[0]]}${HEX[b[1]]}${HEX[b[2]]}${HEX[b[3]]}-${HEX[b[4]]}${HEX[b[5]]}-${HEX[b[6]]}${HEX[b[7]]}-${HEX[b[8]]}${HEX[b[9]]}-${HEX[b[10]]}${HEX[b[11]]}${HEX[b[12]]}${HEX[b[13]]}${HEX[b[14]]}${HEX[b[15]]}`;
}

/** A new pending execution of `workflowId` at `workflowVersion`; its state is its input. */
function newExecution(workflowId, workflowVersion, initialInput = null, { executionId = randomUUID() } = {}) {
  const now = new Date();
  return {
    executionId, workflowId, workflowVersion, status: 'pending', initialInput, currentState: initialInput,
    startedAt: now, updatedAt: now, completedAt: null,
  };
}

/** A new work item for `queueType`: no attempt made yet, `maxAttempts` allowed (3 by default). */
function newWorkItem(executionId, nodeId, queueType, payload = null, { maxAttempts = 3, id = randomUUID() } = {}) {
  return {
    id, executionId, nodeId, queueType, payload, attempt: 0, maxAttempts, createdAt: new Date(),
    leaseExpiresAt: null, workerId: null, tenantId: 'default',
  };
}

/** A new event of `kind` (an object with a string `type`) at `sequence`. */
function newEvent(executionId, sequence, kind) {
  return { id: randomUUID(), executionId, sequence, kind, createdAt: new Date() };
}

/** A new snapshot of `state` at `atSequence`. */
function newSnapshot(executionId, atSequence, state) {
  return { id: randomUUID(), executionId, atSequence, state, createdAt: new Date() };
}

/** A workflow definition: its IR at one version. */
function newDefinition(workflowId, version, ir = null) {
  return { workflowId, version, ir, createdAt: new Date(), tenantId: 'default' };
}

/** A new active tenant. */
function newTenant(id, name, { status = 'active', policy = null, limits = null } = {}) {
  const now = new Date();
  return { id, name, status, policy, limits, createdAt: now, updatedAt: now };
}

const OPTIONS = ['durability', 'leaseMs', 'backoffBaseMs', 'backoffCapMs', 'backoffJitter', 'busyTimeoutMs', 'clock', 'readOnly'];

/** The options' wire form (`wire::options` in the core checks every value). */
function wireOptions(options) {
  if (options === null || typeof options !== 'object') {
    throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `options must be an object, got ${describe(options)}`);
  }
  const wire = {};
  for (const key of Object.keys(options)) {
    if (!OPTIONS.includes(key)) {
      throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `unknown option ${key} (the options are ${OPTIONS.join(', ')})`);
    }
    wire[snake(key)] = options[key];
  }
  return wire;
}

module.exports = {
  BaseStore,
  BlockingBaseStore,
  HANDLE,
  encode,
  refusal,
  describe,
  wireOptions,
  JetstateError,
  ErrorCode,
  newExecution,
  newWorkItem,
  newEvent,
  newSnapshot,
  newDefinition,
  newTenant,
  MAX_JSON_DEPTH,
};
