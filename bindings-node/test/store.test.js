'use strict';
// The package from JavaScript: types at the boundary, errors, the event loop, calls in flight.
const test = require('node:test');
const assert = require('node:assert/strict');

const jetstate = require('..');
const { Store, JetstateError, newExecution, newWorkItem, newEvent, newTenant } = jetstate;
const { holdWriteLock, tempFile } = require('./helpers.js');

const T0 = new Date('2026-01-01T00:00:00Z');

async function withExecution(state = { step: 0 }, options = {}) {
  const store = await Store.open(options.path ?? null, { clock: T0, ...options.store });
  const execution = newExecution('wf', '1', state);
  await store.createExecution(execution);
  return { store, execution, id: execution.executionId };
}

async function rejects(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof JetstateError, `expected a JetstateError, got ${err && err.stack}`);
    assert.ok(err instanceof Error);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.length > 0);
    return true;
  });
}

// ── Types at the boundary ────────────────────────────────────────────────────────────────────

test('records are plain objects with camelCase keys, Dates and string ids', async () => {
  const { store, execution, id } = await withExecution();
  const read = await store.getExecution(id);
  assert.deepEqual(read, { ...execution, startedAt: read.startedAt, updatedAt: read.updatedAt });
  assert.ok(read.startedAt instanceof Date && typeof read.executionId === 'string');
  assert.equal(Object.getPrototypeOf(read), Object.prototype);
  const event = await store.appendNextEvent(id, { type: 'node_started', node_id: 'a' });
  assert.deepEqual(Object.keys(event).sort(), ['createdAt', 'executionId', 'id', 'kind', 'sequence']);
  assert.equal(event.createdAt.getTime(), T0.getTime());
  assert.deepEqual(event.kind, { type: 'node_started', node_id: 'a' }, 'a caller\'s JSON keeps its keys');
  await store.enqueueWorkItem(newWorkItem(id, 'n', 'q', { someKey: { innerKey: 1 } }));
  const lease = await store.claimFenced('w', ['q']);
  assert.equal(lease.expiresAt.getTime(), T0.getTime() + 30_000);
  assert.deepEqual(lease.item.payload, { someKey: { innerKey: 1 } });
  assert.equal(typeof lease.token, 'number');
  assert.ok((await store.renewFenced(lease.item.id, lease.token, 60_000)) instanceof Date);
});

test('new records get version 4 UUIDs, distinct across many refills of the random pool', async () => {
  const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const ids = new Set();
  for (let i = 0; i < 3000; i++) {
    for (const id of [newEvent('e', i, { type: 'x' }).id, newWorkItem('e', 'n', 'q').id, newExecution('w', '1').executionId]) {
      assert.match(id, V4);
      ids.add(id);
    }
  }
  assert.equal(ids.size, 9000, 'no id repeats');
  // The core takes them as ids.
  const { store, id } = await withExecution();
  const event = newEvent(id, 1, { type: 'workflow_started' });
  await store.appendEvent(event);
  assert.equal((await store.getEvents(id))[0].id, event.id);
});

test('JSON values round-trip; bigints are exact to 64 bits on the way in', async () => {
  // What JSON.stringify prints by a toJSON (a class's, an array's own) is what is stored.
  class Money {
    constructor(cents) {
      this.cents = cents;
    }

    toJSON() {
      return `${(this.cents / 100).toFixed(2)} EUR`;
    }
  }
  const labelled = Object.assign([1, 2], { toJSON: () => 'two items' });
  const value = {
    text: 'héllo ☃ 😀', int: -(2 ** 53) + 1, float: 0.1 + 0.2, tiny: -9.87e-300, flags: [true, false, null],
    nested: { list: [1, [2, [3]]], empty: {} }, big: 2n ** 63n + 1n, small: 7n, when: new Date('2026-05-01T00:00:00Z'),
    price: new Money(250), labelled, skipped: undefined,
  };
  const file = tempFile();
  const { store, id } = await withExecution(value, { path: file });
  const state = (await store.getExecution(id)).currentState;
  const kept = { ...value };
  delete kept.skipped;
  assert.deepEqual(state, { ...kept, big: 2 ** 63, small: 7, when: '2026-05-01T00:00:00.000Z', price: '2.50 EUR', labelled: 'two items' });
  await store.close();
  // Read back as a JS number the big one is rounded (as JSON.parse gives it); stored, it is exact.
  const fs = require('node:fs');
  const bytes = Buffer.concat([file, `${file}-wal`].filter(fs.existsSync).map((f) => fs.readFileSync(f)));
  assert.ok(bytes.includes('"big":9223372036854775809'), 'the digits were stored exactly');
});

// ── Errors ───────────────────────────────────────────────────────────────────────────────────

test('each kind of error rejects with its code', async () => {
  const { store, execution, id } = await withExecution();
  const missing = '00000000-0000-4000-8000-000000000000';
  await rejects(store.updateExecutionStatus(missing, 'running'), 'NOT_FOUND');
  await rejects(store.createExecution(execution), 'CONFLICT');
  await rejects(store.getExecution('not-an-id'), 'INVALID_ARGUMENT');
  await rejects(store.patchAppendArray(id, 'k', new Map()), 'SERIALIZATION');
  await store.appendNextEvent(id, { type: 'workflow_started' });
  await rejects(store.appendEvent(newEvent(id, 1, { type: 'workflow_started' })), 'SEQUENCE_CONFLICT');
  const itemId = await store.enqueueWorkItem(newWorkItem(id, 'n', 'q'));
  const lease = await store.claimFenced('w', ['q']);
  await rejects(store.completeFenced(itemId, lease.token + 1), 'LEASE_LOST');
  await store.close();
  await rejects(store.listExecutions(), 'DATABASE');
  assert.deepEqual(Object.keys(jetstate.ErrorCode).sort(), ['CONFLICT', 'DATABASE', 'INVALID_ARGUMENT', 'LEASE_LOST', 'NOT_FOUND', 'SEQUENCE_CONFLICT', 'SERIALIZATION']);
});

test('bad arguments from plain JavaScript are clear rejections and change nothing', async () => {
  const { store, id } = await withExecution({ kept: true });
  const cycle = {};
  cycle.self = cycle;
  let deep = 'bottom';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const cases = [
    [() => store.getExecution(42), 'INVALID_ARGUMENT'],
    [() => store.getExecution(), 'INVALID_ARGUMENT'],
    [() => store.createExecution({}), 'INVALID_ARGUMENT'],
    [() => store.createExecution('execution'), 'INVALID_ARGUMENT'],
    [() => store.createExecution(null), 'INVALID_ARGUMENT'],
    [() => store.listExecutions('sleeping'), 'INVALID_ARGUMENT'],
    [() => store.listExecutions(null, -1), 'INVALID_ARGUMENT'],
    [() => store.claimFenced('w', 'q'), 'INVALID_ARGUMENT'],
    [() => store.claimFenced('w', ['q'], -5), 'INVALID_ARGUMENT'],
    [() => store.enqueueWorkItems('nope'), 'INVALID_ARGUMENT'],
    [() => store.updateExecutionCurrentState(id, { x: NaN }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, { x: Infinity }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, { rows: [{ cells: [1, NaN] }] }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, { rows: [{ cells: [new Map()] }] }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, { rows: [{ cells: [1n << 70n] }] }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, { x: { toJSON: () => NaN } }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, { x: Object.assign([], { toJSON: () => new Map() }) }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, { x: Object.assign(new Date(), { toJSON: () => Infinity }) }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, { f() {} }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, { s: Symbol('s') }), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, [undefined]), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, new Set([1])), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, new Uint8Array(4)), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, 2n ** 64n), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, cycle), 'SERIALIZATION'],
    [() => store.updateExecutionCurrentState(id, deep), 'INVALID_ARGUMENT'],
    [() => store.appendNextEvent(id, { no_type: 1 }), 'INVALID_ARGUMENT'],
    [() => store.getExecution('\u0000'), 'INVALID_ARGUMENT'],
    [() => store.getExecution('\ud800'), 'INVALID_ARGUMENT'],
    [() => store.updateExecutionCurrentState(id, { ['\udc00']: 1 }), 'INVALID_ARGUMENT'],
    [() => store.updateExecutionCurrentState(id, ['ok', 'x\ud83d']), 'INVALID_ARGUMENT'],
    [() => store.getExecution('x'.repeat(100_000)), 'INVALID_ARGUMENT'],
    [() => Store.open(null, { leaseMs: 'soon' }), 'INVALID_ARGUMENT'],
    [() => Store.open(null, { lease: 5 }), 'INVALID_ARGUMENT'],
    [() => Store.open(null, { durability: 'eventually' }), 'INVALID_ARGUMENT'],
    [() => Store.open(42), 'INVALID_ARGUMENT'],
  ];
  for (const [call, code] of cases) await rejects(call(), code);
  assert.deepEqual((await store.getExecution(id)).currentState, { kept: true });
  assert.equal(await store.latestSequence(id), 0);
  assert.throws(() => store.forTenant(5), JetstateError);
  assert.throws(() => store.advanceClock('1'), JetstateError);
});

test('what JavaScript cannot carry exactly is refused, not changed on the way', async () => {
  const { store, id } = await withExecution();
  const before = await store.getExecution(id);
  // Binary data and invalid Dates inside a value: their toJSON would make something else of them.
  await rejects(store.updateExecutionCurrentState(id, { blob: Buffer.from('abc') }), 'SERIALIZATION');
  await rejects(store.updateExecutionCurrentState(id, { when: new Date(NaN) }), 'INVALID_ARGUMENT');
  await rejects(store.appendNextEvent(id, { type: 'x', bytes: new Uint8Array(2) }), 'SERIALIZATION');
  // A token meant to expire is never made immortal by a bad expiry.
  await rejects(store.createToken('t', 'reader', new Date(NaN)), 'INVALID_ARGUMENT');
  await rejects(store.createExecution({ ...newExecution('wf', '1'), startedAt: new Date(NaN) }), 'INVALID_ARGUMENT');
  assert.deepEqual(await store.listTokens(), []);
  // Numbers the types declare as numbers: bigints and integers past 2^53 - 1 are refused.
  await rejects(store.getEventsSince(id, 1n), 'INVALID_ARGUMENT');
  await rejects(store.appendEvent({ ...newEvent(id, 1, { type: 'x' }), sequence: 1n }), 'INVALID_ARGUMENT');
  await rejects(store.appendEvent(newEvent(id, Number.MAX_SAFE_INTEGER + 1, { type: 'x' })), 'INVALID_ARGUMENT');
  await rejects(store.listExecutions(null, 2 ** 60), 'INVALID_ARGUMENT');
  await rejects(store.completeFenced(newWorkItem(id, 'n', 'q').id, 3n), 'INVALID_ARGUMENT');
  await rejects(store.enqueueWorkItem({ ...newWorkItem(id, 'n', 'q'), maxAttempts: 1.5 }), 'INVALID_ARGUMENT');
  await rejects(store.claimFenced('w', ['q'], 10n), 'INVALID_ARGUMENT');
  // The store's sequences stop at 2^53 - 1: the next one is refused, never read back twice.
  assert.equal(await store.appendEvent(newEvent(id, Number.MAX_SAFE_INTEGER, { type: 'x' })), Number.MAX_SAFE_INTEGER);
  await rejects(store.appendNextEvent(id, { type: 'past' }), 'INVALID_ARGUMENT');
  const events = await store.getEvents(id);
  assert.deepEqual(events.map((e) => e.sequence), [Number.MAX_SAFE_INTEGER]);
  assert.deepEqual(await store.getExecution(id), before);
  assert.equal((await store.listWorkItems()).length, 0);
});

test('nesting at the limit is stored, one level deeper is refused', async () => {
  const { store, id } = await withExecution();
  const nest = (levels) => {
    let value = 'bottom';
    for (let i = 0; i < levels; i++) value = { k: value };
    return value;
  };
  await store.updateExecutionCurrentState(id, nest(jetstate.MAX_JSON_DEPTH));
  assert.deepEqual((await store.getExecution(id)).currentState, nest(jetstate.MAX_JSON_DEPTH));
  await rejects(store.updateExecutionCurrentState(id, nest(jetstate.MAX_JSON_DEPTH + 1)), 'INVALID_ARGUMENT');
});

test('a huge payload round-trips', async () => {
  const { store, id } = await withExecution();
  const blob = 'x'.repeat(100 * 1024 * 1024);
  await store.updateExecutionCurrentState(id, { blob });
  assert.equal((await store.getExecution(id)).currentState.blob.length, blob.length);
});

// ── The event loop and calls in flight ───────────────────────────────────────────────────────

test('the event loop keeps running while a call waits on SQLite', async () => {
  const file = tempFile();
  const { store, id } = await withExecution({}, { path: file, store: { busyTimeoutMs: 10_000 } });
  const lock = await holdWriteLock(file, 0.5);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const started = performance.now();
  const event = await store.appendNextEvent(id, { type: 'workflow_started' });
  const waited = performance.now() - started;
  clearInterval(timer);
  await lock.done;
  assert.equal(event.sequence, 1);
  assert.ok(waited >= 300, `the call did wait for the lock (${waited} ms)`);
  // Had the call run on the event loop's thread, the timer would not have fired meanwhile.
  assert.ok(ticks >= 10, `the timer fired only ${ticks} times during a ${waited.toFixed(0)} ms call`);
});

test('a transient failure says it is retryable, and wrote nothing', async () => {
  const file = tempFile();
  const { store, id } = await withExecution({}, { path: file, store: { busyTimeoutMs: 50 } });
  const lock = await holdWriteLock(file, 1.0);
  const err = await store.appendNextEvent(id, { type: 'workflow_started' }).catch((e) => e);
  await lock.done;
  assert.equal(err.code, 'DATABASE', String(err));
  assert.equal(err.retryable, true);
  assert.equal(err.outcomeUnknown, false);
  assert.equal(await store.latestSequence(id), 0, 'nothing written');
  assert.equal((await store.appendNextEvent(id, { type: 'workflow_started' })).sequence, 1, 'made again, it goes through');
  const missing = await store.updateExecutionStatus('00000000-0000-4000-8000-000000000000', 'failed').catch((e) => e);
  assert.equal(missing.code, 'NOT_FOUND');
  assert.equal(missing.retryable, false);
});

test('many calls in flight each get their own answer', async () => {
  const store = await Store.open(tempFile(), { durability: 'normal' });
  const executions = Array.from({ length: 50 }, (_, n) => newExecution('wf', '1', { n }));
  await Promise.all(executions.map((e) => store.createExecution(e)));
  const events = await Promise.all(
    executions.flatMap((e) => Array.from({ length: 20 }, (_, k) => store.appendNextEvent(e.executionId, { type: 'node_started', node_id: `n${k}` }))),
  );
  assert.equal(new Set(events.map((e) => `${e.executionId}/${e.sequence}`)).size, 1000);
  const reads = await Promise.all(executions.map((e) => store.getExecution(e.executionId)));
  assert.deepEqual(reads.map((r) => r.currentState), executions.map((_, n) => ({ n })));
  for (const e of executions) assert.equal(await store.latestSequence(e.executionId), 20);
});

test('workers in one process complete each item once, with lease renewal', async () => {
  const store = await Store.open(tempFile(), { leaseMs: 5_000 });
  const execution = newExecution('wf', '1');
  await store.createExecution(execution);
  const ids = await store.enqueueWorkItems(Array.from({ length: 60 }, (_, i) => newWorkItem(execution.executionId, `n${i}`, 'q', { i })));
  const done = [];
  async function worker(name) {
    for (let lease; (lease = await store.claimFenced(name, ['q'])) !== null; ) {
      await store.renewFenced(lease.item.id, lease.token);
      await store.completeFenced(lease.item.id, lease.token);
      done.push(lease.item.id);
    }
  }
  await Promise.all(['a', 'b', 'c', 'd'].map(worker));
  assert.deepEqual([...done].sort(), [...ids].sort());
  assert.deepEqual(new Set((await store.listWorkItems(null, 1000)).map((e) => e.status)), new Set(['completed']));
});

// ── Files, tenants ──────────────────────────────────────────────────────────────────────────

test('data survives reopening; read-only refuses writes; a foreign file is refused untouched', async () => {
  const file = tempFile();
  const store = await Store.open(file);
  const execution = newExecution('wf', '1', { a: 1 });
  await store.createExecution(execution);
  await store.close();
  const reader = await Store.open(file, { readOnly: true });
  assert.deepEqual((await reader.getExecution(execution.executionId)).currentState, { a: 1 });
  await assert.rejects(reader.createExecution(newExecution('wf', '1')), JetstateError);
  const fs = require('node:fs');
  const foreign = tempFile('notes.txt');
  fs.writeFileSync(foreign, 'not a database, just notes\n'.repeat(100));
  const before = fs.readFileSync(foreign);
  await rejects(Store.open(foreign), 'DATABASE');
  assert.deepEqual(fs.readFileSync(foreign), before);
});

test('tenant views see only their own records', async () => {
  const store = await Store.open();
  await store.createTenant(newTenant('acme', 'Acme'));
  await store.createTenant(newTenant('globex', 'Globex', { limits: { maxWorkflows: 3 } }));
  assert.deepEqual((await store.getTenant('globex')).limits, { maxWorkflows: 3 });
  const acme = store.forTenant('acme');
  const globex = store.forTenant('globex');
  assert.equal(acme.tenant, 'acme');
  assert.equal(store.tenant, null);
  const execution = newExecution('wf', '1');
  await acme.createExecution(execution);
  assert.notEqual(await acme.getExecution(execution.executionId), null);
  assert.equal(await globex.getExecution(execution.executionId), null);
  await rejects(globex.updateExecutionStatus(execution.executionId, 'running'), 'NOT_FOUND');
});

test('tokens: the secret once, its record after', async () => {
  const store = await Store.open(null, { clock: T0 });
  const { token, info } = await store.createToken('ci', 'admin', new Date(T0.getTime() + 60_000));
  assert.equal(typeof token, 'string');
  assert.equal(info.expiresAt.getTime(), T0.getTime() + 60_000);
  assert.equal((await store.validateToken(token)).id, info.id);
  store.advanceClock(120_000);
  assert.equal(await store.validateToken(token), null);
  const [record] = await store.listTokens();
  assert.equal(record.info.id, info.id);
});

test('a store goes out as JSON Lines and into another store', async () => {
  const { store, id } = await withExecution({ moved: true });
  await store.appendNextEvent(id, { type: 'node_scheduled', node_id: 'a', queue_type: 'q' });
  const text = await store.exportJsonl(id);
  assert.equal(typeof text, 'string');
  assert.match(text.split('\n')[0], /"format":"jetstate-export"/);
  const other = await Store.open();
  assert.deepEqual(await other.importJsonl(text), { events: 1, executions: 1 });
  assert.deepEqual((await other.getExecution(id)).currentState, { moved: true });
  assert.equal((await other.getEvents(id)).length, 1);
  await rejects(other.importJsonl(text), 'CONFLICT');
  await rejects(other.importJsonl('not json\n'), 'INVALID_ARGUMENT');
  assert.equal((await store.exportJsonl()).split('\n').filter(Boolean).length >= 3, true);
});

// ── Waiting for work ─────────────────────────────────────────────────────────────────────────

test('a waiting claim is woken by an enqueue, off the event loop, and an AbortSignal ends it', async () => {
  const store = await Store.open(null);
  const execution = newExecution('wf', '1', {});
  await store.createExecution(execution);
  // The event loop runs while the claim waits: a timer keeps ticking.
  let ticks = 0;
  const ticker = setInterval(() => { ticks += 1; }, 5);
  const waiting = store.claimWait('w', ['q'], { max: 2, timeoutMs: 30_000 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const item = newWorkItem(execution.executionId, 'n', 'q', { x: 1 });
  const enqueued = await store.enqueue(item, { priority: -1 });
  assert.deepEqual(enqueued, { id: item.id, outcome: 'enqueued' });
  const leases = await waiting;
  assert.equal(leases.length, 1);
  assert.equal(leases[0].item.id, item.id);
  assert.ok(ticks >= 5, `the event loop ran while the claim waited (${ticks} ticks)`);
  // Aborting ends a wait at once, with nothing; an aborted signal takes nothing at all.
  const stop = new AbortController();
  const started = performance.now();
  const aborted = store.claimWait('w', ['q'], { timeoutMs: 30_000, signal: stop.signal });
  setTimeout(() => stop.abort(), 50);
  assert.deepEqual(await aborted, []);
  assert.ok(performance.now() - started < 10_000, 'ended by the signal, not the timeout');
  await store.enqueue(newWorkItem(execution.executionId, 'n', 'q'));
  assert.deepEqual(await store.claimWait('w', ['q'], { signal: stop.signal }), []);
  clearInterval(ticker);
  await rejects(store.claimWait('w', ['q'], { signal: 'stop' }), 'INVALID_ARGUMENT');
  await rejects(store.claimWait('w', ['q'], { timeoutMs: -1 }), 'INVALID_ARGUMENT');
  await rejects(store.claimWait('w', ['q'], { maximum: 3 }), 'INVALID_ARGUMENT');
  const [lease] = await store.claimWait('w', ['q'], { timeoutMs: 0 });
  assert.deepEqual(await store.completeBatch([{ itemId: lease.item.id, token: lease.token }]), [true]);
  await store.close();
});
