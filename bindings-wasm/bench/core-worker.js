// jetstate's core in a worker of the benchmark's own (the package's WebAssembly module, opened
// as its worker.js opens it), running the workloads in a loop with no message per operation:
// what the storage engine costs, to set beside the floor's own loop (floor-worker.js).
import init, { installOpfs, NativeStore } from '../dist/jetstate_web.js';

let store;
let execution;
let sequence = 0;

function call(op, args) {
  const text = store.call(op, JSON.stringify(args));
  if (text.startsWith('!')) throw new Error(text);
  return JSON.parse(text);
}

const operations = {
  async open({ name, durability }) {
    await init();
    await installOpfs(`.bench-${name}`);
    store = NativeStore.open(name, JSON.stringify({ durability }), false);
    execution = crypto.randomUUID();
    const now = new Date().toISOString();
    call('create_execution', { execution: { execution_id: execution, workflow_id: 'w', workflow_version: '1', status: 'running',
      initial_input: {}, current_state: {}, started_at: now, updated_at: now, completed_at: null } });
    return null;
  },
  loop({ workload, n }) {
    const started = performance.now();
    if (workload === 'append_one') {
      for (let i = 0; i < n; i++) {
        sequence += 1;
        call('append_event', { event: { id: crypto.randomUUID(), execution_id: execution, sequence,
          kind: { type: 'node_scheduled', node_id: 'n', queue_type: 'q' }, created_at: new Date().toISOString() } });
      }
    } else {
      for (let i = 0; i < n; i++) {
        call('enqueue_work_item', { item: { id: crypto.randomUUID(), execution_id: execution, node_id: 'n', queue_type: 'loop', payload: { i },
          attempt: 0, max_attempts: 3, created_at: new Date().toISOString(), lease_expires_at: null, worker_id: null, tenant_id: 'default' } });
        const lease = call('claim_fenced', { worker_id: 'w', queue_types: ['loop'] });
        call('complete_fenced', { item_id: lease.item.id, token: lease.token });
      }
    }
    return performance.now() - started;
  },
};

onmessage = async ({ data }) => {
  try {
    postMessage({ id: data.id, value: await operations[data.op](data.args) });
  } catch (err) {
    postMessage({ id: data.id, error: String(err?.message ?? err) });
  }
};
