'use strict';
// The `jetstate` npm package: the Node host of the JavaScript API. `surface.js` holds the API
// itself (shared with the browser package); this file adds what is Node's: opening a store on
// the native addon (src/lib.rs) in either call style, and the clock's operations.
//
// - `Store`: every method returns a Promise; its call runs on a thread of the core's pool for
//   hosts with event loops (src/lib.rs). Invariant: no call of a `Store` waits on SQLite (or a
//   server) on the event loop's thread; only the clock's operations, which touch neither, run on
//   the caller's thread.
// - `BlockingStore`: the same methods, records and errors, each returning its result after running
//   on the calling thread, which it blocks: for worker threads, scripts, command-line tools and
//   tests, where better-sqlite3's users run it; never for a server's main thread.

const native = require('./load.js');
const surface = require('./surface.js');

const { BaseStore, BlockingBaseStore, HANDLE, JetstateError, ErrorCode, encode, refusal, describe, wireOptions } = surface;

/** A jetstate store. Every method returns a Promise and runs off the event loop's thread. */
class Store extends BaseStore {
  constructor(handle) {
    if (!(handle instanceof native.NativeStore)) {
      throw new TypeError('use `await Store.open(path, options)` to open a store');
    }
    super(handle);
  }

  /**
   * Opens (creating if needed) the store at `path`; `null` or ':memory:' is a private in-memory
   * store. Options: durability ('full' | 'normal'), leaseMs, backoffBaseMs, backoffCapMs,
   * backoffJitter, busyTimeoutMs, clock (a Date: a manual clock standing there), readOnly.
   */
  static async open(path = null, options = {}) {
    const opened = await native.open(checkedPath(path), encode(wireOptions(options)));
    if (typeof opened === 'string') throw refusal(opened);
    return new Store(opened);
  }

  /** A waiting claim: on a thread of the core's for waiting claims, cancelled by `signal`. */
  static async hostClaimWait(handle, argsText, signal) {
    const cancel = new native.NativeCancel();
    const abort = () => cancel.cancel();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      return await handle.claimWait(argsText, cancel);
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

}

/**
 * A jetstate store whose methods block: each runs on the calling thread and returns its result
 * (or throws its JetstateError). For worker threads, scripts, command-line tools and tests; on a
 * server's main thread it stalls every other request while SQLite works: use `Store` there.
 */
class BlockingStore extends BlockingBaseStore {
  constructor(handle) {
    if (!(handle instanceof native.NativeStore)) {
      throw new TypeError('use `BlockingStore.open(path, options)` to open a store');
    }
    super(handle);
  }

  /** Opens (creating if needed) the store at `path`, as `Store.open` does, on this thread. */
  static open(path = null, options = {}) {
    const opened = native.openBlocking(checkedPath(path), encode(wireOptions(options)));
    if (typeof opened === 'string') throw refusal(opened);
    return new BlockingStore(opened);
  }

}

// The clock's operations touch no SQLite: both styles run them on the caller's thread.
const CLOCK = {
  /** The store's current time (its manual clock's, if it has one). */
  now() {
    return new Date(inPlace(this, 'now', {}));
  },
  /** Moves a manual clock forward by `ms` milliseconds. */
  advanceClock(ms) {
    inPlace(this, 'advance_clock', { ms });
  },
  /** Sets a manual clock to `at`. */
  setClock(at) {
    if (!(at instanceof Date)) throw new JetstateError(ErrorCode.INVALID_ARGUMENT, 'at must be a Date');
    inPlace(this, 'set_clock', { at });
  },
};
for (const style of [Store, BlockingStore]) {
  for (const [name, method] of Object.entries(CLOCK)) {
    Object.defineProperty(style.prototype, name, { value: method, writable: true, configurable: true });
  }
}

function inPlace(store, op, args) {
  const text = store[HANDLE].callBlocking(op, encode(args));
  if (text.charCodeAt(0) === 33 /* ! */) throw refusal(text);
  return JSON.parse(text);
}

/** A store's location: a path, a URL, or null (in memory). */
function checkedPath(path) {
  if (path !== null && typeof path !== 'string') {
    throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `path must be a string or null, got ${describe(path)}`);
  }
  return path;
}

module.exports = {
  Store,
  BlockingStore,
  JetstateError,
  ErrorCode,
  newExecution: surface.newExecution,
  newWorkItem: surface.newWorkItem,
  newEvent: surface.newEvent,
  newSnapshot: surface.newSnapshot,
  newDefinition: surface.newDefinition,
  newTenant: surface.newTenant,
  MAX_JSON_DEPTH: surface.MAX_JSON_DEPTH,
};
