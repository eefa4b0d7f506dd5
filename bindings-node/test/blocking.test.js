'use strict';
// BlockingStore: the Promise API's methods, records and errors, each call run on the calling
// thread. The conformance scenarios replay through it too (conformance.test.js); here, what is
// its own: nothing returns a Promise, errors are thrown, the two styles read one store alike,
// and a worker thread can wait for work on it.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Worker } = require('node:worker_threads');

const { Store, BlockingStore, JetstateError, newExecution, newWorkItem, newEvent } = require('..');
const { tempFile } = require('./helpers.js');

const T0 = new Date('2026-01-01T00:00:00Z');

/** The methods a store has (its own and its prototype chain's, up to Object). */
function methods(Class) {
  const names = new Set();
  for (let proto = Class.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (name !== 'constructor' && typeof descriptor.value === 'function') names.add(name);
    }
  }
  return [...names].sort();
}

function throwsCode(call, code) {
  assert.throws(call, (err) => {
    assert.ok(err instanceof JetstateError, `expected a JetstateError, got ${err && err.stack}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test('it has every method of Store, and none returns a Promise', () => {
  assert.deepEqual(methods(BlockingStore), methods(Store));
  const store = BlockingStore.open(null, { clock: T0 });
  const execution = newExecution('wf', '1', { step: 0 });
  assert.equal(store.createExecution(execution), null);
  const event = store.appendNextEvent(execution.executionId, { type: 'node_started', node_id: 'a' });
  assert.ok(!(event instanceof Promise));
  assert.equal(event.sequence, 1);
  assert.ok(event.createdAt instanceof Date);
  assert.equal(store.now().getTime(), T0.getTime());
  store.advanceClock(1_000);
  assert.equal(store.now().getTime(), T0.getTime() + 1_000);
  store.close();
  assert.equal(store.closed, true);
});

test('errors are thrown with the codes and messages the Promise API rejects with', async () => {
  const file = tempFile();
  const promised = await Store.open(file, { clock: T0 });
  const blocking = BlockingStore.open(file, { clock: T0 });
  const execution = newExecution('wf', '1', {});
  await promised.createExecution(execution);
  const id = execution.executionId;
  await promised.appendEvent(newEvent(id, 1, { type: 'workflow_started' }));
  const missing = newWorkItem(id, 'n', 'q').id;
  const calls = [
    [(s) => s.appendEvent(newEvent(id, 1, { type: 'again' })), 'SEQUENCE_CONFLICT'],
    [(s) => s.appendEvent(newEvent(id, 2n, { type: 'x' })), 'INVALID_ARGUMENT'],
    [(s) => s.appendEvent(newEvent(id, 2, { type: 'x', bad: NaN })), 'SERIALIZATION'],
    [(s) => s.completeFenced(missing, 1), 'NOT_FOUND'],
    [(s) => s.forTenant(7), 'INVALID_ARGUMENT'],
    [(s) => s.claimBatch('w', ['q'], 0), 'INVALID_ARGUMENT'],
  ];
  for (const [call, code] of calls) {
    let rejected;
    try {
      await call(promised);
    } catch (err) {
      rejected = err;
    }
    assert.equal(rejected?.code, code, String(rejected));
    throwsCode(() => call(blocking), code);
    try {
      call(blocking);
    } catch (err) {
      assert.equal(err.message, rejected.message);
    }
  }
  assert.equal((await promised.getEvents(id)).length, 1, 'the refused calls wrote nothing');
  throwsCode(() => BlockingStore.open(42), 'INVALID_ARGUMENT');
  throwsCode(() => BlockingStore.open(null, { lease: 5 }), 'INVALID_ARGUMENT');
  throwsCode(() => BlockingStore.open(tempFile('none/x.db').replace('none', 'missing/none')), 'DATABASE');
  assert.throws(() => new BlockingStore({}), TypeError);
  await promised.close();
  blocking.close();
});

test('the two styles read one store as the same records', async () => {
  const file = tempFile();
  const promised = await Store.open(file, { clock: T0 });
  const blocking = BlockingStore.open(file, { clock: T0 });
  const execution = newExecution('wf', '1', { docs: 2 });
  blocking.createExecution(execution);
  const id = execution.executionId;
  blocking.appendNextEvents(id, [{ type: 'workflow_started' }, { type: 'node_started', node_id: 'a' }]);
  await promised.enqueue(newWorkItem(id, 'a', 'q', { big: 2n ** 60n }), { priority: -1, uniqueKey: 'a' });
  const lease = blocking.claimFenced('w', ['q']);
  await promised.configureQueue('q', { concurrency: 2 });
  for (const [name, args] of [
    ['getExecution', [id]], ['getEvents', [id]], ['materialize', [id]], ['getWorkItem', [lease.item.id]],
    ['listQueues', []], ['queueSettings', ['q']], ['summary', []],
  ]) {
    assert.deepEqual(blocking[name](...args), await promised[name](...args), name);
  }
  assert.equal(blocking.completeBatch([{ itemId: lease.item.id, token: lease.token }])[0], true);
  assert.equal((await promised.getWorkItem(lease.item.id)).status, 'completed');
  await promised.close();
  blocking[Symbol.dispose]();
  assert.equal(blocking.closed, true);
});

test('a waiting claim blocks its thread until its timeout, and takes no signal', () => {
  const store = BlockingStore.open(null);
  throwsCode(() => store.claimWait('w', ['q'], { signal: new AbortController().signal, timeoutMs: 10 }), 'INVALID_ARGUMENT');
  const started = performance.now();
  assert.deepEqual(store.claimWait('w', ['q'], { timeoutMs: 100 }), []);
  assert.ok(performance.now() - started >= 95, 'it waited out its timeout');
  store.close();
});

test('a worker thread waits for work on a BlockingStore while the main thread enqueues', async () => {
  const file = tempFile();
  const store = await Store.open(file);
  const execution = newExecution('wf', '1', {});
  await store.createExecution(execution);
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const { BlockingStore } = require(workerData.package);
    const store = BlockingStore.open(workerData.file);
    parentPort.postMessage('ready');
    const leases = store.claimWait('thread', ['jobs'], { timeoutMs: 20_000 });
    for (const { item, token } of leases) store.completeFenced(item.id, token);
    parentPort.postMessage(leases.map(({ item }) => item.payload));
    store.close();
    `,
    { eval: true, workerData: { package: require.resolve('..'), file } },
  );
  const messages = [];
  const done = new Promise((resolve, reject) => {
    worker.on('message', (message) => (messages.push(message), messages.length === 2 && resolve()));
    worker.on('error', reject);
  });
  await new Promise((resolve) => worker.once('message', resolve));
  // The event loop of this thread runs while the worker's thread is blocked in its wait.
  const id = await store.enqueueWorkItem(newWorkItem(execution.executionId, 'n', 'jobs', { job: 1 }));
  await done;
  assert.deepEqual(messages[1], [{ job: 1 }]);
  assert.equal((await store.getWorkItem(id)).status, 'completed');
  await worker.terminate();
  await store.close();
});
