// The worker side of the benchmark's probe (probe.js): stamps each message on arrival and on
// answer, on the clock the page shares (performance.timeOrigin + performance.now()), and counts
// the OPFS write and flush calls made so far; with `owner` and `method`, the time spent in that
// method during the message. The stamps ride along in the answer as `probe`.
export function stamp(owner = null, method = null) {
  const clock = () => performance.timeOrigin + performance.now();
  const counts = { write: 0, flush: 0, bytes: 0 };
  const handle = globalThis.FileSystemSyncAccessHandle?.prototype;
  for (const method of handle ? ['write', 'flush'] : []) {
    const inner = handle[method];
    handle[method] = function (...args) {
      counts[method] += 1;
      if (method === 'write') counts.bytes += args[0].byteLength;
      return inner.apply(this, args);
    };
  }
  let arrived = 0;
  let inside = 0;
  if (owner) {
    const timed = owner[method];
    owner[method] = function (...args) {
      const started = clock();
      try {
        return timed.apply(this, args);
      } finally {
        inside += clock() - started;
      }
    };
  }
  const post = self.postMessage.bind(self);
  self.postMessage = (message) => post({ ...message, probe: { arrived, answered: clock(), inside, ...counts } });
  const inner = self.onmessage;
  self.onmessage = (event) => {
    arrived = clock();
    inside = 0;
    return inner(event);
  };
}
