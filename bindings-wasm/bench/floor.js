// The page's side of the floor's worker (floor-worker.js): one message per operation, as
// jetstate-web's own page side sends. Shared by the benchmark and its probe.

/** The floor's worker, one message per operation. */
export class Floor {
  #worker;
  #pending = new Map();
  #next = 1;

  constructor(script = './floor-worker.js') {
    this.#worker = new Worker(new URL(script, import.meta.url), { type: 'module' });
    this.#worker.onmessage = ({ data }) => {
      const { resolve, reject } = this.#pending.get(data.id);
      this.#pending.delete(data.id);
      if ('error' in data) reject(new Error(data.error));
      else resolve(data.value);
    };
  }

  call(op, args = {}) {
    return new Promise((resolve, reject) => {
      const id = this.#next++;
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args });
    });
  }

  close() {
    this.#worker.terminate();
  }
}
