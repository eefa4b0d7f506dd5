// jetstate-web in a real headless Chromium: the shared conformance scenarios replayed through a
// store in a page; persistence across a reload and a relaunch of the browser on the same
// profile; a second tab; what happens where OPFS is not; errors at the boundary.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const { serve, launch, harness, openIn, remote } = require('./browser.cjs');
const { SCENARIOS, replay } = require('../../bindings-node/test/replay.js');

let server;
let base;
let browser;

before(async () => {
  ({ server, url: base } = await serve(0));
  browser = await launch();
});

after(async () => {
  await browser?.context.close();
  server?.close();
  if (browser) fs.rmSync(browser.profile, { recursive: true, force: true });
});

test('the shared conformance scenarios, replayed in the browser build on OPFS', async () => {
  const { page, problems } = await harness(browser.context, base);
  assert.ok(SCENARIOS.length >= 8);
  const failures = [];
  for (const file of SCENARIOS) {
    const open = async (options) => remote(page, await openIn(page, `conformance-${file}`, options));
    failures.push(...(await replay(file, open)));
  }
  assert.deepEqual(failures, []);
  assert.deepEqual(problems, []);
  await page.close();
});

test('errors are JetstateErrors with a code, and bad arguments are refused, not thrown through', async () => {
  const { page } = await harness(browser.context, base);
  const store = remote(page, await openIn(page, 'errors'));
  const err = await store.getExecution('not-an-id').catch((e) => e);
  assert.equal(err.code, 'INVALID_ARGUMENT');
  assert.equal(err.isJetstateError, true);
  assert.equal((await store.completeFenced('00000000-0000-4000-8000-000000000000', 1).catch((e) => e)).code, 'NOT_FOUND');
  assert.equal((await store.createExecution({ executionId: 'x', initialInput: NaN }).catch((e) => e)).code, 'SERIALIZATION');
  assert.equal((await store.listExecutions('sleeping').catch((e) => e)).code, 'INVALID_ARGUMENT');
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
    let { page } = await harness(session.context, base);
    let key = await openIn(page, 'kept');
    const id = await writeRun(page, key);
    const written = await contents(page, key, id);
    assert.deepEqual(written.events, ['1:workflow_started', '2:node_scheduled', '3:node_scheduled']);
    assert.deepEqual(written.queue.sort(), ['a:completed', 'b:pending']);
    assert.equal(await page.evaluate((key) => typeof window.stores.get(key).persisted, key), 'boolean', 'the answer of persist() is exposed');

    // A reload, without closing the store first: the page and its worker are torn down.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    key = await openIn(page, 'kept');
    assert.deepEqual(await contents(page, key, id), written, 'after a reload');

    // The whole browser closed, then started again on the same profile.
    await session.context.close();
    session = await relaunch(session.profile);
    ({ page } = await harness(session.context, base));
    key = await openIn(page, 'kept');
    assert.deepEqual(await contents(page, key, id), written, 'after a relaunch');
    const store = remote(page, key);
    const lease = await store.claimFenced('w2', ['q']);
    assert.equal(lease.item.nodeId, 'b', 'the queue goes on where it was');
  } finally {
    await session.context.close();
    fs.rmSync(session.profile, { recursive: true, force: true });
  }
});

test('a second tab on the same database gets a clear error within its timeout, and the first tab is unharmed', async () => {
  const first = await harness(browser.context, base);
  const key = await openIn(first.page, 'shared');
  const id = await writeRun(first.page, key);
  const second = await harness(browser.context, base);
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
    const { page } = await harness(insecure.context, base.replace('127.0.0.1', 'insecure.test'));
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
