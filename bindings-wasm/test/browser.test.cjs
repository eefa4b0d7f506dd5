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
