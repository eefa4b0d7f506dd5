// Types of the `jetstate` npm package: the API of `surface.d.ts` (shared with the browser
// package), on a store opened from Node.

import type { StoreOperations, StoreOptions } from './surface';

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
