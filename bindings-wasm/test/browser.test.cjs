// jetstate-web in a real headless Chromium: the shared conformance scenarios replayed through a
// store in a page; persistence across a reload and a relaunch of the browser on the same
// profile; a second tab; what happens where OPFS is not; errors at the boundary.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const { useBrowser, launch, harness, openIn, remote } = require('./browser.cjs');
const { SCENARIOS, replay, notOn } = require('../../bindings-node/test/replay.js');

const shared = useBrowser();

test('the shared conformance scenarios, replayed in the browser build on OPFS', async () => {
  const { page, problems } = await harness(shared.browser.context, shared.base);
  assert.ok(SCENARIOS.length >= 8);
  const failures = [];
  for (const file of SCENARIOS.filter((f) => !notOn(f, 'sqlite'))) {
    const open = async (options) => remote(page, await openIn(page, `conformance-${file}`, options));
    failures.push(...(await replay(file, open)));
  }
  assert.deepEqual(failures, []);
  assert.deepEqual(problems, []);
  await page.close();
});

test('errors are JetstateErrors with a code, and bad arguments are refused, not thrown through', async () => {
  const { page } = await harness(shared.browser.context, shared.base);
  const store = remote(page, await openIn(page, 'errors'));
  const err = await store.getExecution('not-an-id').catch((e) => e);
  assert.equal(err.code, 'INVALID_ARGUMENT');
  assert.equal(err.isJetstateError, true);
  assert.equal((await store.completeFenced('00000000-0000-4000-8000-000000000000', 1).catch((e) => e)).code, 'NOT_FOUND');
  assert.equal((await store.createExecution({ executionId: 'x', initialInput: NaN }).catch((e) => e)).code, 'SERIALIZATION');
  assert.equal((await store.listExecutions('sleeping').catch((e) => e)).code, 'INVALID_ARGUMENT');
  // A server's URL: refused, saying why, the password not shown.
  const server = await openIn(page, 'postgresql://ann:s3cret@db.example/app', {}).catch((e) => e);
  assert.equal(server.code, 'INVALID_ARGUMENT');
  assert.match(server.message, /not on a PostgreSQL server/);
  assert.doesNotMatch(server.message, /s3cret/);
  const refused = await openIn(page, '', {}).catch((e) => e);
  assert.equal(refused.code, 'INVALID_ARGUMENT');
  const unknown = await openIn(page, 'x', { lease: 5 }).catch((e) => e);
  assert.equal(unknown.code, 'INVALID_ARGUMENT');
  assert.match(unknown.message, /unknown option lease/);
  // The store is still there after all of that.
  assert.deepEqual(await store.listExecutions(), []);
  await store.close();
  assert.equal((await store.listExecutions().catch((e) => e)).code, 'DATABASE');
  await page.close();
});

/** What a store in `page` holds, in a form to compare: executions, one history, the queue. */
async function contents(page, key, executionId) {
  const store = remote(page, key);
  const executions = (await store.listExecutions()).map((e) => e.executionId).sort();
  const events = (await store.getEvents(executionId)).map((e) => `${e.sequence}:${e.kind.type}`);
  const queue = (await store.listWorkItems()).map((entry) => `${entry.item.nodeId}:${entry.status}`);
  return { executions, events, queue };
}

/** Writes a small run into the store `key` of `page`: an execution, 3 events, 2 items (1 done). */
async function writeRun(page, key) {
  return page.evaluate(async (key) => {
    const { newExecution, newWorkItem } = window.jetstate;
    const store = window.stores.get(key);
    const run = newExecution('persist', '1', { n: 1 });
    await store.createExecution(run);
    await store.appendNextEvents(run.executionId, [
      { type: 'workflow_started', workflow_id: 'persist', workflow_version: '1', initial_input: {} },
      { type: 'node_scheduled', node_id: 'a', queue_type: 'q' },
      { type: 'node_scheduled', node_id: 'b', queue_type: 'q' },
    ]);
    await store.enqueueWorkItems([newWorkItem(run.executionId, 'a', 'q'), newWorkItem(run.executionId, 'b', 'q')]);
    const lease = await store.claimFenced('w', ['q']);
    await store.completeFenced(lease.item.id, lease.token);
    return run.executionId;
  }, key);
}

test('what was written is there after a reload, and after the browser is closed and relaunched', async () => {
  const { launch: relaunch } = require('./browser.cjs');
  let session = await relaunch();
  try {
    let { page } = await harness(session.context, shared.base);
    let key = await openIn(page, 'kept');
    const id = await writeRun(page, key);
    const written = await contents(page, key, id);
    assert.deepEqual(written.events, ['1:workflow_started', '2:node_scheduled', '3:node_scheduled']);
    assert.deepEqual(written.queue.map((entry) => entry.split(':')[1]).sort(), ['completed', 'pending']);
    const pending = written.queue.find((entry) => entry.endsWith(':pending')).split(':')[0];
    assert.equal(await page.evaluate((key) => typeof window.stores.get(key).persisted, key), 'boolean', 'the answer of persist() is exposed');

    // A reload, without closing the store first: the page and its worker are torn down.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    key = await openIn(page, 'kept');
    assert.deepEqual(await contents(page, key, id), written, 'after a reload');

    // The whole browser closed, then started again on the same profile.
    await session.context.close();
    session = await relaunch(session.profile);
    ({ page } = await harness(session.context, shared.base));
    key = await openIn(page, 'kept');
    assert.deepEqual(await contents(page, key, id), written, 'after a relaunch');
    const store = remote(page, key);
    const lease = await store.claimFenced('w2', ['q']);
    assert.equal(lease.item.nodeId, pending, 'the queue goes on where it was');
  } finally {
    await session.context.close();
    fs.rmSync(session.profile, { recursive: true, force: true });
  }
});

test('calls made together share one commit, and each is answered as if made alone', async () => {
  const { page, problems } = await harness(shared.browser.context, shared.base);
  const key = await openIn(page, 'together', { durability: 'full' });
  const seen = await page.evaluate(async (key) => {
    const { newExecution, newEvent, newWorkItem } = window.jetstate;
    const store = window.stores.get(key);
    const run = newExecution('together', '1', {});
    const id = run.executionId;
    const scheduled = (node) => ({ type: 'node_scheduled', node_id: node, queue_type: 'q' });
    const outcome = (settled) => settled.map((s) => (s.status === 'fulfilled' ? { value: s.value } : { code: s.reason.code }));
    await store.createExecution(run);
    const before = await store.writeStats();
    // Not awaited one by one: sent in one message, run as one group.
    const together = outcome(await Promise.allSettled([
      store.appendEvent(newEvent(id, 1, scheduled('a'))),
      store.appendEvent(newEvent(id, 2, scheduled('b'))),
      store.appendEvent(newEvent(id, 2, scheduled('c'))), // refused alone: sequence 2 is taken
      store.enqueueWorkItem(newWorkItem(id, 'a', 'q')),
      store.claimFenced('w', ['q']), // sees the enqueue just before it
      store.getEvents(id), // sees the appends before it
      store.forTenant('ghost').listWorkItems(), // a tenant view, in the same group
    ]));
    const after = await store.writeStats();
    // Awaited one by one: a commit each.
    await store.appendEvent(newEvent(id, 3, scheduled('d')));
    await store.appendEvent(newEvent(id, 4, scheduled('e')));
    const oneByOne = await store.writeStats();
    // A close among calls made together: those before it are done, those after it refused.
    const closing = outcome(await Promise.allSettled([
      store.appendEvent(newEvent(id, 5, scheduled('f'))),
      store.close(),
      store.latestSequence(id),
    ]));
    const reopened = await window.jetstate.open('together', { durability: 'full' });
    const kept = await reopened.latestSequence(id);
    await reopened.close();
    return { together, before, after, oneByOne, closing, kept };
  }, key);
  const [first, second, refused, enqueued, lease, events, ghost] = seen.together;
  assert.deepEqual([first, second, refused], [{ value: 1 }, { value: 2 }, { code: 'SEQUENCE_CONFLICT' }]);
  assert.equal(typeof enqueued.value, 'string');
  assert.equal(lease.value.item.id, enqueued.value, 'the claim saw the enqueue made with it');
  assert.deepEqual(events.value.map((e) => e.kind.node_id), ['a', 'b']);
  assert.deepEqual(ghost.value, []);
  // Four writes succeeded (two appends, the enqueue, the claim): in one commit.
  assert.deepEqual({ calls: seen.after.calls - seen.before.calls, commits: seen.after.commits - seen.before.commits }, { calls: 4, commits: 1 });
  assert.equal(seen.oneByOne.commits - seen.after.commits, 2);
  assert.deepEqual(seen.closing.map((o) => o.code ?? 'ok'), ['ok', 'ok', 'DATABASE']);
  assert.equal(seen.kept, 5, 'what was answered before the close is in the file');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a waiting claim in the page is woken by an enqueue, and an AbortSignal ends it', async () => {
  const { page, problems } = await harness(shared.browser.context, shared.base);
  const key = await openIn(page, 'waiting');
  const seen = await page.evaluate(async (key) => {
    const { newExecution, newWorkItem } = window.jetstate;
    const store = window.stores.get(key);
    const run = newExecution('wait', '1', {});
    await store.createExecution(run);
    const started = performance.now();
    const waiting = store.claimWait('w', ['q'], { max: 2, timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const item = newWorkItem(run.executionId, 'n', 'q');
    await store.enqueue(item, { priority: 2 });
    const leases = await waiting;
    const woken = performance.now() - started;
    const stop = new AbortController();
    const aborting = store.claimWait('w', ['q'], { timeoutMs: 30_000, signal: stop.signal });
    setTimeout(() => stop.abort(), 50);
    const abortedWith = await aborting;
    const aborted = performance.now() - started;
    return { claimed: leases.map((l) => l.item.id), item: item.id, woken, abortedWith, aborted };
  }, key);
  assert.deepEqual(seen.claimed, [seen.item]);
  assert.ok(seen.woken < 30_000, 'woken by the enqueue, not the timeout');
  assert.deepEqual(seen.abortedWith, []);
  assert.ok(seen.aborted < 30_000, 'ended by the signal, not the timeout');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a store goes out as JSON Lines (backup has no file to go to here) and into another', async () => {
  const { page } = await harness(shared.browser.context, shared.base);
  const key = await openIn(page, 'exported');
  const id = await writeRun(page, key);
  const text = await remote(page, key).exportJsonl();
  assert.match(text.split('\n')[0], /"format":"jetstate-export"/);
  assert.equal((await remote(page, key).backup('copy.db').catch((e) => e)).code, 'INVALID_ARGUMENT');
  const copy = remote(page, await openIn(page, 'copy', { memory: true }));
  const counts = await copy.importJsonl(text);
  assert.equal(counts.events, 3);
  assert.deepEqual(await contents(page, await openIn(page, 'exported-again', { memory: true }).then(async (k) => {
    await remote(page, k).importJsonl(text);
    return k;
  }), id), await contents(page, key, id));
  await page.close();
});

test('a second tab on the same database gets a clear error within its timeout, and the first tab is unharmed', async () => {
  const first = await harness(shared.browser.context, shared.base);
  const key = await openIn(first.page, 'shared');
  const id = await writeRun(first.page, key);
  const second = await harness(shared.browser.context, shared.base);
  const started = Date.now();
  const refused = await openIn(second.page, 'shared', { lockTimeoutMs: 500 }).catch((e) => e);
  assert.equal(refused.code, 'DATABASE');
  assert.match(refused.message, /open in another tab or worker of this origin/);
  assert.ok(Date.now() - started < 10_000, 'no hang');
  const before = await contents(first.page, key, id);
  assert.deepEqual(before.events.length, 3);
  await remote(first.page, key).appendNextEvent(id, { type: 'node_started', node_id: 'b', worker_id: 'w', attempt: 0 });

  // Once the first tab closes the store, the second opens it and sees everything.
  await remote(first.page, key).close();
  const reopened = await openIn(second.page, 'shared');
  const after = await contents(second.page, reopened, id);
  assert.deepEqual(after.events, [...before.events, '4:node_started']);
  await first.page.close();
  await second.page.close();
});

test('where OPFS is unavailable: a clear error, and a memory store when asked for one', async () => {
  // A host name that is not localhost makes an insecure context: no OPFS, no Web Locks.
  const insecure = await launch(undefined, ['--host-resolver-rules=MAP insecure.test 127.0.0.1']);
  try {
    const { page } = await harness(insecure.context, shared.base.replace('127.0.0.1', 'insecure.test'));
    assert.equal(await page.evaluate(() => window.isSecureContext), false);
    const refused = await openIn(page, 'nowhere').catch((e) => e);
    assert.equal(refused.code, 'DATABASE');
    assert.match(refused.message, /OPFS is unavailable here.*memory: true/);
    const key = await openIn(page, 'nowhere', { memory: true });
    const store = remote(page, key);
    assert.equal(await page.evaluate((key) => window.stores.get(key).memory, key), true);
    await store.createExecution({ executionId: '00000000-0000-4000-8000-000000000001', workflowId: 'w', workflowVersion: '1',
      status: 'pending', initialInput: {}, currentState: {}, startedAt: new Date(), updatedAt: new Date(), completedAt: null });
    assert.equal((await store.listExecutions()).length, 1);
  } finally {
    await insecure.context.close();
    fs.rmSync(insecure.profile, { recursive: true, force: true });
  }
});

test('hostile values from the page: clear rejections, nothing changed, and a 100 MB payload round-trips', async () => {
  const { page, problems } = await harness(shared.browser.context, shared.base);
  const outcome = await page.evaluate(async () => {
    const { open, newExecution, MAX_JSON_DEPTH } = window.jetstate;
    const store = await open('hostile');
    const run = newExecution('w', '1', { kept: true });
    await store.createExecution(run);
    const id = run.executionId;
    const cycle = {};
    cycle.self = cycle;
    let deep = 'bottom';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const nest = (levels) => {
      let value = 'bottom';
      for (let i = 0; i < levels; i++) value = { k: value };
      return value;
    };
    const cases = [
      ['number id', () => store.getExecution(42), 'INVALID_ARGUMENT'],
      ['no record', () => store.createExecution({}), 'INVALID_ARGUMENT'],
      ['NaN', () => store.updateExecutionCurrentState(id, { x: NaN }), 'SERIALIZATION'],
      ['function', () => store.updateExecutionCurrentState(id, { f() {} }), 'SERIALIZATION'],
      ['symbol', () => store.updateExecutionCurrentState(id, { s: Symbol('s') }), 'SERIALIZATION'],
      ['Map', () => store.updateExecutionCurrentState(id, new Map()), 'SERIALIZATION'],
      ['bytes', () => store.updateExecutionCurrentState(id, new Uint8Array(4)), 'SERIALIZATION'],
      ['2^64', () => store.updateExecutionCurrentState(id, 2n ** 64n), 'SERIALIZATION'],
      ['cycle', () => store.updateExecutionCurrentState(id, cycle), 'SERIALIZATION'],
      ['100,000 levels', () => store.updateExecutionCurrentState(id, deep), 'INVALID_ARGUMENT'],
      ['one level too deep', () => store.updateExecutionCurrentState(id, nest(MAX_JSON_DEPTH + 1)), 'INVALID_ARGUMENT'],
      ['NUL id', () => store.getExecution('\u0000'), 'INVALID_ARGUMENT'],
      ['lone surrogate id', () => store.getExecution('\ud800'), 'INVALID_ARGUMENT'],
      ['kind without type', () => store.appendNextEvent(id, { no_type: 1 }), 'INVALID_ARGUMENT'],
      ['bad option', () => open('hostile-2', { durability: 'eventually' }), 'INVALID_ARGUMENT'],
      ['bytes inside a value', () => store.updateExecutionCurrentState(id, { b: new Uint8Array(2) }), 'SERIALIZATION'],
      ['an invalid Date inside a value', () => store.updateExecutionCurrentState(id, { d: new Date(NaN) }), 'INVALID_ARGUMENT'],
      ['a token expiring at an invalid Date', () => store.createToken('t', 'r', new Date(NaN)), 'INVALID_ARGUMENT'],
      ['a bigint lease token', () => store.completeFenced(id, 1n), 'INVALID_ARGUMENT'],
      ['a bigint sequence', () => store.getEventsSince(id, 1n), 'INVALID_ARGUMENT'],
      ['a sequence past 2^53 - 1', () => store.appendEvent({ id, executionId: id, sequence: 2 ** 53, kind: { type: 'x' }, createdAt: new Date() }), 'INVALID_ARGUMENT'],
    ];
    const wrong = [];
    for (const [name, call, code] of cases) {
      try {
        await call();
        wrong.push(`${name}: accepted`);
      } catch (err) {
        if (!(err instanceof window.jetstate.JetstateError) || err.code !== code) wrong.push(`${name}: ${err.code} ${err.message}`);
      }
    }
    const kept = (await store.getExecution(id)).currentState;
    if ((await store.listTokens()).length !== 0) wrong.push('a token was made');
    await store.updateExecutionCurrentState(id, nest(MAX_JSON_DEPTH));
    const atLimit = JSON.stringify((await store.getExecution(id)).currentState) === JSON.stringify(nest(MAX_JSON_DEPTH));
    const text = 'é\u0000☃'.repeat(100 * 1024 * 1024 / 6);
    await store.updateExecutionCurrentState(id, { text });
    const back = (await store.getExecution(id)).currentState.text;
    await store.close();
    return { wrong, kept, atLimit, huge: back === text, length: back.length };
  });
  assert.deepEqual(outcome.wrong, []);
  assert.deepEqual(outcome.kept, { kept: true }, 'nothing was changed by the refused calls');
  assert.equal(outcome.atLimit, true, 'nesting at the limit is stored');
  assert.equal(outcome.huge, true, `a 100 MB payload round-trips (${outcome.length} characters back)`);
  assert.deepEqual(problems, []);
  await page.close();
});
