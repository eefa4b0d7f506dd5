// jetstate-web: the page's side of a jetstate store that lives in a dedicated worker.
//
// `open(name, options)` starts the worker (`worker.js`), which runs the WebAssembly build of the
// core on a SQLite file in OPFS; the store it returns has the methods, records and errors of the
// Node package (the same `surface.js`, built into `dist/`), each method a Promise answered by the
// worker. Nothing here touches SQLite: this file carries calls and answers, and holds what only
// a page has (starting the worker, asking the browser to persist the origin's storage).

import { BaseStore, HANDLE, JetstateError, ErrorCode, encode, refusal, describe, wireOptions } from './dist/surface.js';

export {
  JetstateError,
  ErrorCode,
  newExecution,
  newWorkItem,
  newEvent,
  newSnapshot,
  newDefinition,
  newTenant,
  MAX_JSON_DEPTH,
} from './dist/surface.js';

/** The worker of one store and the calls waiting for its answers.
 *
 * Calls made before the caller awaits any (`Promise.all` of several, or calls not awaited) are
 * sent in one message, at the end of the current task's synchronous run (a microtask): the
 * worker runs them as one group, whose writes share one commit (one OPFS flush at durability
 * `full`), and answers each after that commit. A call awaited on its own is sent alone, as
 * soon as the code that made it yields. */
class StoreWorker {
  #worker;
  #pending = new Map();
  #next = 1;
  #failure = null;
  /** Requests made since the last message, sent together at the next microtask. */
  #outbox = [];

  constructor(name) {
    this.#worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: `jetstate ${name}` });
    this.#worker.onmessage = ({ data }) => {
      if (Array.isArray(data)) for (const { id, text } of data) this.#answer(id, text);
      else this.#answer(data.id, data.text);
    };
    // A worker that cannot start (its script or the WebAssembly failed to load) fails every call.
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(`the jetstate worker failed: ${event.message || 'it could not be loaded'}`);
    };
  }

  /** Waiting claims' wake-ups: resolved when an answer arrives to a call other than a waiting
   * claim's own attempts (any call may have made work claimable). */
  #answered = null;
  #waitAttempts = new Set();

  #answer(id, text) {
    const resolve = this.#pending.get(id);
    this.#pending.delete(id);
    resolve?.(text);
    if (!this.#waitAttempts.delete(id) && this.#answered !== null) {
      this.#answered.resolve();
      this.#answered = null;
    }
  }

  /** A Promise resolved at the next answer to another call. */
  nextAnswer() {
    if (this.#answered === null) {
      let resolve;
      const promise = new Promise((r) => {
        resolve = r;
      });
      this.#answered = { promise, resolve };
    }
    return this.#answered.promise;
  }

  /** Sends a waiting claim's attempt, which does not wake waiting claims. */
  attempt(message) {
    const answer = this.request(message);
    this.#waitAttempts.add(message.id);
    return answer;
  }

  #send = () => {
    const outbox = this.#outbox;
    this.#outbox = [];
    this.#worker.postMessage(outbox.length === 1 ? outbox[0] : outbox);
  };

  #fail(message) {
    this.#failure = `!DATABASE ${message}`;
    for (const resolve of this.#pending.values()) resolve(this.#failure);
    this.#pending.clear();
  }

  /** Sends one request (a message of this file's own, which takes its `id`); resolves to the
   * answer's text (JSON, or `!CODE message`). */
  request(message) {
    if (this.#failure !== null) return Promise.resolve(this.#failure);
    return new Promise((resolve) => {
      message.id = this.#next++;
      this.#pending.set(message.id, resolve);
      if (this.#outbox.push(message) === 1) queueMicrotask(this.#send);
    });
  }

  terminate(reason) {
    this.#worker.terminate();
    this.#fail(reason);
  }
}

/** What `BaseStore` calls: the store's worker, and the tenant of this view. */
class Handle {
  constructor(shared, tenant) {
    this.shared = shared;
    this.tenant = tenant;
  }

  call(op, args) {
    return this.shared.worker.request({ type: 'call', op, args, tenant: this.tenant });
  }

  forTenant(tenant) {
    return new Handle(this.shared, tenant);
  }

  get durability() {
    return this.shared.durability;
  }

  get closed() {
    return this.shared.closed;
  }
}

/** A jetstate store whose database lives in a worker. Every method returns a Promise. */
export class Store extends BaseStore {
  constructor(handle) {
    if (!(handle instanceof Handle)) throw new TypeError('use `await open(name, options)` to open a store');
    super(handle);
  }

  /** Whether the browser granted persistent storage to this origin (navigator.storage.persist()):
   * if not, it may evict the origin's data under storage pressure. Always false in memory. */
  get persisted() {
    return this[HANDLE].shared.persisted;
  }

  /** Whether the store lives in memory only (opened with `{ memory: true }`). */
  get memory() {
    return this[HANDLE].shared.memory;
  }

  /** The store's current time (its manual clock's, if it has one). */
  async now() {
    return new Date(await this.call('now', {}));
  }

  /** Moves a manual clock forward by `ms` milliseconds. */
  async advanceClock(ms) {
    await this.call('advance_clock', { ms });
  }

  /** Sets a manual clock to `at`. */
  async setClock(at) {
    if (!(at instanceof Date)) throw new JetstateError(ErrorCode.INVALID_ARGUMENT, 'at must be a Date');
    await this.call('set_clock', { at });
  }

  /**
   * A waiting claim. The worker runs one call at a time and cannot block, so the wait is here:
   * an attempt (a claim that does not wait), then a sleep until another call of this store is
   * answered (an enqueue, a completion: the only way work becomes claimable here, since the
   * database is this worker's alone), LOOK_MS pass (an item scheduled for a time), the timeout,
   * or `signal` aborts.
   */
  static async hostClaimWait(handle, argsText, signal) {
    const args = JSON.parse(argsText);
    const timeout = args.options?.timeout_ms;
    // Each try is a claim that does not wait; a timeout the core would refuse goes to it as given.
    const waits = typeof timeout === 'number' && timeout > 0;
    const deadline = performance.now() + (waits ? timeout : 0);
    const attemptArgs = waits ? JSON.stringify({ ...args, options: { ...args.options, timeout_ms: 0 } }) : argsText;
    const worker = handle.shared.worker;
    const aborted = new Promise((resolve) => signal?.addEventListener('abort', resolve, { once: true }));
    for (;;) {
      const woken = worker.nextAnswer();
      const text = await worker.attempt({ type: 'call', op: 'claim_wait', args: attemptArgs, tenant: handle.tenant });
      if (text.charCodeAt(0) === 33 /* ! */ || text !== '[]' || signal?.aborted) return text;
      const left = deadline - performance.now();
      if (left <= 0) return text;
      let timer;
      await Promise.race([woken, aborted, new Promise((resolve) => { timer = setTimeout(resolve, Math.min(left, LOOK_MS)); })]);
      clearTimeout(timer);
      if (signal?.aborted) return '[]';
    }
  }

  /** Closes the store and stops its worker, which releases the database to other tabs. */
  async close() {
    const shared = this[HANDLE].shared;
    if (shared.closed) return null;
    const result = await super.close();
    shared.closed = true;
    shared.worker.terminate('the store is closed');
    return result;
  }
}

const WEB_OPTIONS = ['memory', 'lockTimeoutMs'];

/** How often a waiting claim looks again when nothing woke it (an item scheduled for a time). */
const LOOK_MS = 25;

/**
 * Opens (creating if needed) the database `name` in this origin's OPFS, in a worker of its own.
 * Options: those of the Node package (durability, leaseMs, backoffBaseMs, backoffCapMs,
 * backoffJitter, busyTimeoutMs, clock, readOnly), and `memory` (true: a private in-memory store,
 * not kept), `lockTimeoutMs` (how long to wait for another tab to release the database; default
 * 5,000).
 */
export async function open(name, options = {}) {
  // A server's URL goes on to the core, which says why a page cannot open one.
  const url = typeof name === 'string' && /^postgres(ql)?:\/\//.test(name);
  if (typeof name !== 'string' || name === '' || (name.includes('/') && !url)) {
    throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `name must be a non-empty string without '/', got ${typeof name === 'string' ? JSON.stringify(name) : describe(name)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `options must be an object, got ${describe(options)}`);
  }
  const { memory = false, lockTimeoutMs = 5000, ...storeOptions } = options;
  if (typeof memory !== 'boolean') throw new JetstateError(ErrorCode.INVALID_ARGUMENT, 'memory must be a boolean');
  if (typeof lockTimeoutMs !== 'number' || !(lockTimeoutMs >= 0)) {
    throw new JetstateError(ErrorCode.INVALID_ARGUMENT, 'lockTimeoutMs must be a non-negative number');
  }
  let wire;
  try {
    wire = encode(wireOptions(storeOptions));
  } catch (err) {
    if (err instanceof JetstateError && err.message.startsWith('unknown option')) {
      throw new JetstateError(err.code, `${err.message}, ${WEB_OPTIONS.join(', ')}`);
    }
    throw err;
  }
  if (typeof Worker === 'undefined') {
    throw new JetstateError(ErrorCode.DATABASE, 'this environment has no Web Workers; jetstate-web runs its database in one');
  }
  let persisted = false;
  if (!memory && globalThis.navigator?.storage?.persist) {
    try {
      persisted = await navigator.storage.persist();
    } catch {
      persisted = false;
    }
  }
  const worker = new StoreWorker(name);
  const text = await worker.request({ type: 'open', name, options: wire, memory, lockTimeoutMs });
  if (text.charCodeAt(0) === 33 /* ! */) {
    worker.terminate('the store did not open');
    throw refusal(text);
  }
  const { durability } = JSON.parse(text);
  return new Store(new Handle({ worker, durability, persisted, memory, closed: false }, null));
}
