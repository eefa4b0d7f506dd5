// Types of the `jetstate` npm package: the API of `surface.d.ts` (shared with the browser
// package), on a store opened from Node.

import type { Lease, StoreOperations, StoreOptions, WaitOptions } from './surface';

export * from './surface';

/** A jetstate store. Every method returns a Promise and runs off the event loop's thread. */
export declare class Store {
  private constructor();
  /** Opens (creating if needed) the store at `path`; null or ':memory:' is a private in-memory store. */
  static open(path?: string | null, options?: StoreOptions): Promise<Store>;
  /** The store's current time (its manual clock's, if it has one). */
  now(): Date;
  /** Moves a manual clock forward by `ms` milliseconds. */
  advanceClock(ms: number): void;
  /** Sets a manual clock to `at`. */
  setClock(at: Date): void;
}

export declare interface Store extends StoreOperations {}

/** The operations of a `Store`, each returning its result instead of a Promise of it. */
export type BlockingOperations = {
  [K in Exclude<keyof StoreOperations, 'forTenant' | 'claimWait' | typeof Symbol.asyncDispose>]: StoreOperations[K] extends (
    ...args: infer A
  ) => Promise<infer R>
    ? (...args: A) => R
    : StoreOperations[K];
};

/**
 * A jetstate store whose methods block: each runs on the calling thread and returns its result
 * (or throws its JetstateError). The same methods, records and errors as `Store`. For worker
 * threads, scripts, command-line tools and tests; on a server's main thread it stalls every
 * other request while SQLite works: use `Store` there.
 */
export declare class BlockingStore implements Disposable {
  private constructor();
  /** Opens (creating if needed) the store at `path`, as `Store.open` does, on this thread. */
  static open(path?: string | null, options?: StoreOptions): BlockingStore;
  /** The view of one tenant: every call through it reads and writes that tenant's records only. */
  forTenant(tenantId: string): BlockingStore;
  /** Claims, waiting up to `timeoutMs` for work, the thread blocked meanwhile (no `signal`). */
  claimWait(workerId: string, queueTypes: string[], options?: Omit<WaitOptions, 'signal'>): Lease[];
  /** The store's current time (its manual clock's, if it has one). */
  now(): Date;
  /** Moves a manual clock forward by `ms` milliseconds. */
  advanceClock(ms: number): void;
  /** Sets a manual clock to `at`. */
  setClock(at: Date): void;
  [Symbol.dispose](): void;
}

export declare interface BlockingStore extends BlockingOperations {}
