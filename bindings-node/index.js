'use strict';
// The `jetstate` npm package: the Node host of the JavaScript API. `surface.js` holds the API
// itself (shared with the browser package); this file adds what is Node's: opening a store on
// the native addon (src/lib.rs), whose calls run on libuv's thread pool, and the clock's
// operations, which touch no SQLite and so run on the caller's thread.
//
// Invariant kept here: no call waits on SQLite on the event loop's thread (each is an addon task).

const native = require('./load.js');
const surface = require('./surface.js');

const { BaseStore, HANDLE, JetstateError, ErrorCode, encode, refusal, describe, wireOptions } = surface;

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
    if (path !== null && typeof path !== 'string') {
      throw new JetstateError(ErrorCode.INVALID_ARGUMENT, `path must be a string or null, got ${describe(path)}`);
    }
    const opened = await native.open(path, encode(wireOptions(options)));
    if (typeof opened === 'string') throw refusal(opened);
    return new Store(opened);
  }

  /** The store's current time (its manual clock's, if it has one). */
  now() {
    return new Date(this.#inPlace('now', {}));
  }

  /** Moves a manual clock forward by `ms` milliseconds. */
  advanceClock(ms) {
    this.#inPlace('advance_clock', { ms });
  }

  /** Sets a manual clock to `at`. */
  setClock(at) {
    if (!(at instanceof Date)) throw new JetstateError(ErrorCode.INVALID_ARGUMENT, 'at must be a Date');
    this.#inPlace('set_clock', { at });
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

  /** The clock's operations, which never touch SQLite, run on this thread. */
  #inPlace(op, args) {
    const text = this[HANDLE].callInPlace(op, encode(args));
    if (text.charCodeAt(0) === 33 /* ! */) throw refusal(text);
    return JSON.parse(text);
  }
}

module.exports = {
  Store,
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
