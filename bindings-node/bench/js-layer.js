'use strict';
// What the JavaScript layer (surface.js) costs per call, alone: the store's methods over a handle
// that answers at once, so no thread, no SQLite and no addon is timed. Building the records,
// checking and printing the arguments, reading the answers. CPU-bound, so it is steadier on a
// shared machine than the benchmark's end-to-end figures.
//   node bindings-node/bench/js-layer.js
const { BaseStore, newEvent, newWorkItem } = require('../surface.js');
const { eventKind } = require('./data.js');

const EXECUTION = '6f1c2d3e-1111-4222-8333-944445555666';
// The answers the core gives to these calls, in the wire form.
const lease = JSON.stringify({
  id: '0a1b2c3d-4444-4555-8666-777788889999', execution_id: EXECUTION, node_id: 'n', queue_type: 'q', payload: { k: 1 },
  attempt: 1, max_attempts: 3, created_at: '2026-11-27T01:00:00.123Z', lease_expires_at: '2026-11-27T01:00:30.123Z',
  worker_id: 'w', tenant_id: 'default',
});
const answers = { append_event: 'null', enqueue_work_item: 'null', claim_work_item: lease, complete_work_item: 'null' };
const store = new BaseStore({ call: async (op) => answers[op] });

async function main() {
  const n = 20000;
  for (let round = 0; round < 5; round++) {
    let started = performance.now();
    for (let s = 1; s <= n; s++) await store.appendEvent(newEvent(EXECUTION, s, eventKind(s)));
    const append = ((performance.now() - started) / n) * 1000;
    started = performance.now();
    for (let k = 0; k < n; k++) {
      await store.enqueueWorkItem(newWorkItem(EXECUTION, 'n', 'q', { k }));
      const item = await store.claimWorkItem('w', ['q']);
      await store.completeWorkItem(item.id);
    }
    const cycle = ((performance.now() - started) / n) * 1000;
    console.log(`round ${round + 1}: append ${append.toFixed(1)} us, queue cycle (three calls) ${cycle.toFixed(1)} us`);
  }
}

main();
