// A small durable workflow in the browser: three steps queued, a worker loop that claims,
// works and completes them in batches, then the run's event timeline. The database lives in OPFS: reload
// the page and the count of runs goes on.
import { open, newExecution, newWorkItem } from '../index.js';

const store = await open('example');
/** @param {string} selector */
const $ = (selector) => /** @type {HTMLElement} */ (document.querySelector(selector));

// Start a run: its events, and one work item per step on the queue 'steps' (in order, by
// priority), recorded and enqueued in one commit.
const run = newExecution('greet', '1', { name: 'web' });
await store.createExecution(run);
const steps = ['fetch', 'think', 'answer'];
await store.appendAndEnqueue(
  run.executionId,
  [
    { type: 'workflow_started', workflow_id: 'greet', workflow_version: '1', initial_input: { name: 'web' } },
    ...steps.map((step) => ({ type: 'node_scheduled', node_id: step, queue_type: 'steps' })),
  ],
  steps.map((step, i) => ({ item: newWorkItem(run.executionId, step, 'steps', { step }), options: { priority: i } })),
);

// The worker loop: claim up to two items with their fencing tokens (waiting a moment for work,
// without ever blocking the page), work, renew a lease with progress if the work is long, then
// complete the batch in one commit. A tab that dies mid-step leaves leases that expire; a
// reclaim retries them.
for (let leases; (leases = await store.claimWait('this-tab', ['steps'], { max: 2, leaseMs: 30_000, timeoutMs: 100 })).length; ) {
  for (const { item, token } of leases) {
    await store.appendNextEvent(item.executionId, {
      type: 'node_started', node_id: item.nodeId, worker_id: 'this-tab', attempt: item.attempt,
    });
    await store.renewFenced(item.id, token, 30_000, { stage: 'working' });
    const output = { did: item.nodeId, at: new Date().toISOString() };
    await store.appendNextEvent(item.executionId, {
      type: 'node_completed', node_id: item.nodeId, output, state_patch: { [item.nodeId]: output }, duration_ms: 1,
    });
  }
  await store.completeBatch(leases.map(({ item, token }) => ({ itemId: item.id, token })));
}
await store.appendNextEvent(run.executionId, { type: 'workflow_completed', final_state: { greeted: 'web' } });
await store.updateExecutionStatus(run.executionId, 'completed');

// What was kept: the timeline, the state rebuilt from the events, the runs in this browser.
const events = await store.getEvents(run.executionId);
$('#timeline').replaceChildren(
  ...events.map((event) => {
    const li = document.createElement('li');
    li.textContent = `${event.createdAt.toISOString()}  ${event.kind.type}  ${event.kind.node_id ?? ''}`;
    return li;
  }),
);
const state = await store.materialize(run.executionId);
$('#state').textContent = JSON.stringify(state, null, 2);
const runs = (await store.listExecutions('completed')).length;
$('#status').textContent = `done: ${state.status}, ${events.length} events; runs kept in this browser: ${runs}`;
document.body.dataset.runs = String(runs);
document.body.dataset.done = 'true';
