// Type-checks a use of every part of the public API against index.d.ts (test/readme.test.js).
import {
  BlockingStore, ErrorCode, JetstateError, newDefinition, newEvent, newExecution, newSnapshot, newTenant, newWorkItem, Store,
  type Event, type Lease, type MaterializedState, type QueueEntry, type WorkflowExecution,
} from 'jetstate';

export async function usage(): Promise<void> {
  await using store = await Store.open(null, { durability: 'normal', leaseMs: 1_000, clock: new Date(0) });
  const execution: WorkflowExecution = newExecution('wf', '1', { big: 2n ** 63n, when: new Date() });
  await store.createExecution(execution);
  await store.storeWorkflow(newDefinition('wf', '1', { nodes: [] }));
  const definition = await store.getWorkflow('wf', '1');
  const ir = definition?.ir;
  const sequence: number = await store.appendEvent(newEvent(execution.executionId, 1, { type: 'workflow_started' }));
  const event: Event = await store.appendNextEvent(execution.executionId, { type: 'node_started', node_id: 'a' });
  const kindType: string = event.kind.type;
  await store.writeSnapshot(newSnapshot(execution.executionId, sequence, { at: 1 }));
  const state: MaterializedState = await store.materialize(execution.executionId);
  const active: string[] = state.activeNodes;
  const id: string = await store.enqueueWorkItem(newWorkItem(execution.executionId, 'a', 'q', null, { maxAttempts: 5 }));
  const lease: Lease | null = await store.claimFenced('w', ['q'], 500);
  if (lease) {
    const expires: Date = await store.renewFenced(lease.item.id, lease.token);
    await store.completeFenced(lease.item.id, lease.token);
    void expires;
  }
  const entry: QueueEntry | null = await store.getWorkItem(id);
  const reclaimed = await store.reclaimExpiredLeases();
  const { token, info } = await store.createToken('ci', 'admin', new Date(Date.now() + 1_000));
  await store.createTenant(newTenant('acme', 'Acme', { limits: { maxWorkflows: 3 } }));
  const acme: Store = store.forTenant('acme');
  const tenant: string | null = acme.tenant;
  const summary = await store.summary();
  store.advanceClock(1_000);
  try {
    await store.getExecution('nope');
  } catch (err) {
    if (err instanceof JetstateError && err.code === ErrorCode.INVALID_ARGUMENT) void err.message;
  }
  void [ir, kindType, active, entry, reclaimed, token, info, tenant, summary.executions];
}

export function blockingUsage(): void {
  using store = BlockingStore.open(null, { durability: 'normal', clock: new Date(0) });
  const execution: WorkflowExecution = newExecution('wf', '1', { step: 0 });
  store.createExecution(execution);
  const event: Event = store.appendNextEvent(execution.executionId, { type: 'workflow_started' });
  const sequence: number = store.latestSequence(execution.executionId);
  store.enqueueWorkItem(newWorkItem(execution.executionId, 'a', 'q'));
  const leases: Lease[] = store.claimWait('w', ['q'], { max: 2, timeoutMs: 10 });
  const done: boolean[] = store.completeBatch(leases.map(({ item, token }) => ({ itemId: item.id, token })));
  const acme: BlockingStore = store.forTenant('acme');
  const now: Date = store.now();
  store.advanceClock(1_000);
  const closed: boolean = store.closed;
  void [event, sequence, done, acme.tenant, now, closed];
}
