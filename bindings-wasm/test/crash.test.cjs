// Crash safety in the browser: a page appends events and cycles the queue on an OPFS database
// (some calls made together, which share a commit), reporting each call after it resolved; the
// whole browser is killed with SIGKILL at a random
// instant; on the relaunched browser (same profile) the database opens and every acknowledged
// write is there, sequences without a gap, no item lost or in two states. Both durabilities:
// a killed browser is not a stopped machine, so `normal` too must keep every acknowledged write
// (it is in the OPFS file once the call returns, only not yet flushed to the disk).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

const { serve, launch, harness, openIn, remote } = require('./browser.cjs');

const KILLS = Number(process.env.JETSTATE_BROWSER_KILLS || 20);

let server;
let base;

before(async () => {
  ({ server, url: base } = await serve(0));
});

after(() => server?.close());

/** Kills every process of the browser running on `profile`, at once, with SIGKILL. */
function killBrowser(profile) {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const pids = out.split('\n').filter((line) => line.includes(profile)).map((line) => Number(line.trim().split(/\s+/)[0]));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids.length;
}

/** What was acknowledged before the last kill is all there, and whole. */
async function verify(store, executionId, acknowledged, when) {
  const events = await store.getEvents(executionId);
  assert.ok(events.length >= acknowledged.events, `${when}: ${events.length} events, ${acknowledged.events} acknowledged`);
  assert.deepEqual(events.map((e) => e.sequence), events.map((_, i) => i + 1), `${when}: no gap in the sequences`);
  const entries = await store.listWorkItems(null, 100_000);
  const byId = new Map(entries.map((entry) => [entry.item.id, entry.status]));
  for (const id of acknowledged.enqueued) assert.ok(byId.has(id), `${when}: item ${id} lost`);
  for (const id of acknowledged.completed) assert.equal(byId.get(id), 'completed', `${when}: item ${id}`);
  acknowledged.events = events.length;
}

for (const durability of ['full', 'normal']) test(`durability ${durability}: the browser killed with SIGKILL ${KILLS} times mid-write, every acknowledged write survives`, async () => {
  let session = await launch();
  const acknowledged = { events: 0, completed: new Set(), enqueued: new Set() };
  let executionId = null;
  try {
    for (let kill = 0; kill < KILLS; kill++) {
      const { page } = await harness(session.context, base);
      const key = await openIn(page, `crash-${durability}`, { durability });
      const store = remote(page, key);
      if (executionId === null) {
        executionId = '00000000-0000-4000-8000-00000000c0de';
        await store.createExecution({ executionId, workflowId: 'crash', workflowVersion: '1', status: 'running',
          initialInput: {}, currentState: {}, startedAt: new Date(), updatedAt: new Date(), completedAt: null });
      }
      await verify(store, executionId, acknowledged, `kill ${kill}`);

      // This life: append and cycle the queue, each call reported once it resolved, until killed.
      page.on('console', (message) => {
        const [what, value] = message.text().split(' ');
        if (what === 'event') acknowledged.events = Math.max(acknowledged.events, Number(value));
        else if (what === 'enqueued') acknowledged.enqueued.add(value);
        else if (what === 'completed') acknowledged.completed.add(value);
      });
      void page.evaluate(async ([key, executionId]) => {
        const { newWorkItem } = window.jetstate;
        const store = window.stores.get(key);
        const append = () =>
          store.appendNextEvent(executionId, { type: 'node_scheduled', node_id: 'n', queue_type: 'q' })
            .then((event) => console.log(`event ${event.sequence}`));
        for (;;) {
          // Made together, so run as one group with one commit: each reported when it resolved.
          const item = newWorkItem(executionId, 'n', 'q');
          await Promise.all([append(), append(), store.enqueueWorkItem(item).then(() => console.log(`enqueued ${item.id}`))]);
          await append();
          const lease = await store.claimFenced('w', ['q']);
          if (lease) {
            await store.completeFenced(lease.item.id, lease.token);
            console.log(`completed ${lease.item.id}`);
          }
        }
      }, [key, executionId]).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 600));
      assert.ok(killBrowser(session.profile) > 0, 'the browser was running');
      await session.context.close().catch(() => {});
      session = await launch(session.profile);
    }
    const { page } = await harness(session.context, base);
    await verify(remote(page, await openIn(page, `crash-${durability}`, { durability })), executionId, acknowledged, 'after the last kill');
    assert.ok(acknowledged.events > KILLS, `the writers made progress (${acknowledged.events} events)`);
  } finally {
    await session.context.close().catch(() => {});
    fs.rmSync(session.profile, { recursive: true, force: true });
  }
});
