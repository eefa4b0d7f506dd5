// The fault sweep on the browser's OPFS path: the Nth write or flush that the OPFS layer hands to
// the pool's access handles fails (src/faults.rs, in a build of its own: `node scripts/build.cjs
// --faults`), for N = 1, 2, 3... until the calls run clean, once and from then on, at both
// durabilities. After each: the same store goes on once the fault clears; reopened, the database
// passes `PRAGMA integrity_check`, and holds exactly the calls that were acknowledged.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { useBrowser, harness } = require('./browser.cjs');

if (!fs.existsSync(path.join(__dirname, 'faults-package', 'dist'))) {
  throw new Error('build the fault build first: node scripts/build.cjs --faults (in bindings-wasm)');
}

const shared = useBrowser();

test('a failed write or flush of OPFS leaves exactly the acknowledged calls, and the store goes on', async () => {
  const { page, problems } = await harness(shared.browser.context, shared.base, null, 'test/faults-package/harness.html');
  const outcome = await page.evaluate(async () => {
    const { open, newExecution, newWorkItem } = window.jetstate;
    const wrong = [];
    let points = 0;
    let unknowns = 0;
    for (const durability of ['full', 'normal']) {
      const name = `faults-${durability}`;
      for (const [on, persistent] of [['write', false], ['write', true], ['sync', false], ['sync', true]]) {
        for (let at = 1; at < 100; at += 1) {
          const place = `${durability}, the ${on} at step ${at}${persistent ? ' and after' : ''}`;
          let store = await open(name, { durability });
          const run = newExecution('w', '1', { n: 0 });
          await store.createExecution(run);
          const id = run.executionId;
          const item = newWorkItem(id, 'n', 'q');
          await store.call('faults_arm', { at, on, persistent });
          // Alone, then three together (one message, one group, one commit).
          const settled = await Promise.allSettled([store.appendNextEvent(id, { type: 'alone' })]);
          settled.push(...(await Promise.allSettled([
            store.appendNextEvent(id, { type: 'together' }),
            store.enqueueWorkItem(item),
            store.patchAppendArray(id, 'log', 1),
          ])));
          const fired = await store.call('faults_fired', {});
          await store.call('faults_disarm', {});
          const ok = settled.map((s) => s.status === 'fulfilled');
          // A refusal that says its outcome is unknown may go either way (the core's writer says so
          // only when a commit's flush failed and so did the one that would have cleared it).
          const unknown = settled.map((s) => s.status === 'rejected' && s.reason.message.includes('the outcome is unknown'));
          const codes = settled.filter((s) => s.status === 'rejected').map((s) => s.reason.code);
          if (codes.some((code) => code !== 'DATABASE')) wrong.push(`${place}: refused with ${codes}`);
          // The same store goes on.
          const wentOn = await store.appendNextEvent(id, { type: 'after' }).then(() => true, (err) => err.message);
          if (wentOn !== true) wrong.push(`${place}: the store did not go on: ${wentOn}`);
          await store.close();
          store = await open(name, { durability });
          const integrity = await store.call('faults_integrity', {});
          if (JSON.stringify(integrity) !== '["ok"]') wrong.push(`${place}: integrity ${JSON.stringify(integrity)}`);
          const held = (present, i, what) => {
            if (present !== ok[i] && !unknown[i]) wrong.push(`${place}: ${what} ${present ? 'is there' : 'is missing'}, acknowledged ${ok}`);
          };
          const types = (await store.getEvents(id)).map((e) => e.kind.type);
          held(types.includes('alone'), 0, 'the lone append');
          held(types.includes('together'), 1, 'the grouped append');
          if (types[types.length - 1] !== 'after') wrong.push(`${place}: the call after the fault is missing: ${types}`);
          held((await store.getWorkItem(item.id)) !== null, 2, 'the item');
          held((await store.getExecution(id)).currentState.log !== undefined, 3, 'the patch');
          unknowns += unknown.filter(Boolean).length;
          await store.close();
          if (!fired) break;
          points += 1;
        }
      }
    }
    return { wrong, points, unknowns };
  });
  assert.deepEqual(outcome.wrong, []);
  assert.ok(outcome.points >= 10, `fault points tried: ${outcome.points}`);
  console.log(`OPFS fault sweep: ${outcome.points} fault points, ${outcome.unknowns} calls with an unknown outcome`);
  assert.deepEqual(problems, []);
  await page.close();
});
