// Types of the `jetstate-web` package: the API of the Node package (`dist/surface.d.ts`, built
// from bindings-node/surface.d.ts), on a store that lives in a dedicated worker. What differs is
// what a worker imposes: `open` takes a database name in OPFS, and the clock's calls are Promises.

import type { StoreOperations, StoreOptions } from './dist/surface';

export * from './dist/surface';

export interface WebStoreOptions extends StoreOptions {
  /** A private in-memory store, not kept (default false: the database lives in OPFS). */
  memory?: boolean;
  /** How long to wait for another tab to release the database before failing (default 5,000). */
  lockTimeoutMs?: number;
}

/** A jetstate store whose database lives in a worker. Every method returns a Promise. */
export declare class Store {
  private constructor();
  /** Whether the browser granted this origin persistent storage (navigator.storage.persist()). */
  readonly persisted: boolean;
  /** Whether the store lives in memory only. */
  readonly memory: boolean;
  /** The store's current time (its manual clock's, if it has one). */
  now(): Promise<Date>;
  /** Moves a manual clock forward by `ms` milliseconds. */
  advanceClock(ms: number): Promise<void>;
  /** Sets a manual clock to `at`. */
  setClock(at: Date): Promise<void>;
}

export declare interface Store extends StoreOperations {}

/** Opens (creating if needed) the database `name` in this origin's OPFS, in a worker of its own. */
export declare function open(name: string, options?: WebStoreOptions): Promise<Store>;
