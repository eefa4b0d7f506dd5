// Typed use of the browser package, checked by tsc against index.d.ts (test/example.test.cjs).
import { open, JetstateError, newExecution, type Store, type Lease, type WorkflowExecution } from '../../index.js';

export async function usage(): Promise<void> {
  const store: Store = await open('typed', { durability: 'normal', lockTimeoutMs: 1000 });
  const persisted: boolean = store.persisted;
  const now: Date = await store.now();
  const run: WorkflowExecution = newExecution('w', '1', { n: 1n });
  await store.createExecution(run);
  const lease: Lease | null = await store.claimFenced('w', ['q'], 1000);
  if (lease !== null) await store.completeFenced(lease.item.id, lease.token);
  const view: Store = store.forTenant('acme');
  const listed: WorkflowExecution[] = await view.listExecutions('completed', 10);
  try {
    await store.getExecution('nope');
  } catch (err) {
    if (err instanceof JetstateError && err.code === 'INVALID_ARGUMENT') void err.message;
  }
  void [persisted, now, listed];
  await store.close();
}
