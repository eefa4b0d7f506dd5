// The benchmark's probe: where the time of one call goes, on jetstate-web and on the floor.
// `node bench/run.cjs --probe` serves this page cross-origin isolated, which gives the page and
// its workers a 5 us clock on one time line (performance.timeOrigin + performance.now()). The
// page's Worker is wrapped to stamp each message sent and each answer received; each worker runs
// behind a wrapper (probe-*-worker.js) that stamps arrival and answer and counts OPFS write and
// flush calls. A call is cut into: the page's work before its message; the hop there; the
// worker's work (and, of it, the time inside jetstate's WebAssembly call); the hop back; the
// page's work after the answer, until the caller resumes.
const clock = () => performance.timeOrigin + performance.now();
const seen = { sent: 0, received: 0, probe: null };
const STAMPED = { 'worker.js': './probe-jetstate-worker.js', 'floor-worker.js': './probe-floor-worker.js' };
globalThis.Worker = class StampedWorker extends Worker {
  constructor(url, options) {
    const stamped = STAMPED[String(url).split('/').pop()];
    super(stamped ? new URL(stamped, import.meta.url) : url, options);
  }

  postMessage(message, transfer) {
    seen.sent = clock();
    super.postMessage(message, transfer);
  }

  set onmessage(handler) {
    super.onmessage = (event) => {
      seen.received = clock();
      seen.probe = event.data.probe;
      handler(event);
    };
  }

  get onmessage() {
    return super.onmessage;
  }
};
const { open, newEvent, newExecution, newWorkItem } = await import('../index.js');
const { Floor } = await import('./floor.js');

const params = new URLSearchParams(location.search);
const CALLS = Number(params.get('calls') ?? 400);
const PHASES = ['before', 'there', 'worker', 'inside', 'back', 'after', 'total'];
const log = (line) => (document.querySelector('#log').textContent += `${line}\n`);
const kind = (i) => ({ type: 'node_scheduled', node_id: `node-${i % 7}`, queue_type: 'agents' });
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const mean = (values) => values.reduce((sum, v) => sum + v, 0) / values.length;

/** Times one call of `side`, phase by phase; resolves to its result. */
function measurer(samples) {
  const counted = { jetstate: { write: 0, flush: 0, bytes: 0 }, floor: { write: 0, flush: 0, bytes: 0 } };
  return async (side, op, call) => {
    const started = clock();
    const result = await call();
    const ended = clock();
    const { arrived, answered, inside, write, flush, bytes } = seen.probe;
    const key = `${side} ${op}`;
    samples[key] ??= { side, op, ...Object.fromEntries(PHASES.map((phase) => [phase, []])), write: 0, flush: 0, bytes: 0, calls: 0 };
    const sample = samples[key];
    sample.before.push(seen.sent - started);
    sample.there.push(arrived - seen.sent);
    sample.worker.push(answered - arrived);
    sample.inside.push(inside);
    sample.back.push(seen.received - answered);
    sample.after.push(ended - seen.received);
    sample.total.push(ended - started);
    sample.write += write - counted[side].write;
    sample.flush += flush - counted[side].flush;
    sample.bytes += bytes - counted[side].bytes;
    sample.calls += 1;
    counted[side] = { write, flush, bytes };
    return result;
  };
}

async function probe(durability, tag) {
  const store = await open(`probe-${durability}-${tag}`, { durability });
  const floor = new Floor();
  await floor.call('open', { name: `probe-floor-${durability}-${tag}`, journal: 'wal', synchronous: durability.toUpperCase() });
  const execution = newExecution('probe', '1', {});
  await store.createExecution(execution);
  const id = execution.executionId;
  const samples = {};
  const measure = measurer(samples);
  const turns = { jetstate: 0, floor: 0 };
  const sides = {
    async jetstate(i) {
      await measure('jetstate', 'no SQL', () => store.now());
      await measure('jetstate', 'append', () => store.appendEvent(newEvent(id, i + 1, kind(i + 1))));
      await measure('jetstate', 'enqueue', () => store.enqueueWorkItem(newWorkItem(id, 'n', 'agents', { i })));
      const lease = await measure('jetstate', 'claim', () => store.claimFenced('w', ['agents']));
      await measure('jetstate', 'complete', () => store.completeFenced(lease.item.id, lease.token));
    },
    async floor(i) {
      await measure('floor', 'no SQL', () => floor.call('now'));
      await measure('floor', 'append', () => floor.call('append', { execution: 'one', sequence: i + 1, kind: kind(i + 1) }));
      await measure('floor', 'enqueue', () => floor.call('enqueue', { queue: 'agents', payload: { i } }));
      const claimed = await measure('floor', 'claim', () => floor.call('claim', { queue: 'agents', worker: 'w' }));
      await measure('floor', 'complete', () => floor.call('complete', { id: claimed.id }));
    },
  };
  // A warm-up, not counted; then the two sides in turns, the order swapped each turn.
  for (let i = 0; i < CALLS / 10; i++) for (const side of ['jetstate', 'floor']) await sides[side](turns[side]++);
  for (const key of Object.keys(samples)) delete samples[key];
  for (let i = 0; i < CALLS; i++) {
    for (const side of i % 2 === 0 ? ['jetstate', 'floor'] : ['floor', 'jetstate']) await sides[side](turns[side]++);
  }
  await store.close();
  floor.close();
  return Object.values(samples).map((s) => ({
    durability, side: s.side, op: s.op,
    ...Object.fromEntries(PHASES.map((phase) => [`${phase}_us`, median(s[phase]) * 1000])),
    ...Object.fromEntries(PHASES.map((phase) => [`${phase}_mean_us`, mean(s[phase]) * 1000])),
    writes_per_call: s.write / s.calls, kib_per_call: s.bytes / s.calls / 1024, flushes_per_call: s.flush / s.calls,
  }));
}

try {
  if (!crossOriginIsolated) throw new Error('the probe needs cross-origin isolation for its 5 us clock: run it with node bench/run.cjs --probe');
  const tag = Date.now().toString(36);
  const results = [];
  for (const durability of (params.get('durability') ?? 'normal,full').split(',')) {
    const rows = await probe(durability, tag);
    for (const r of rows) log(`${r.durability} ${r.side} ${r.op}: ${PHASES.map((p) => `${p} ${r[`${p}_us`].toFixed(0)}`).join(', ')} us; ${r.writes_per_call.toFixed(2)} writes`);
    results.push(...rows);
  }
  window.results = results;
} catch (err) {
  log(`failed: ${err.stack ?? err}`);
  window.failure = String(err.stack ?? err);
}
document.body.dataset.done = 'true';
