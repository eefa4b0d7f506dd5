'use strict';
// The Node worker of the cross-language races: the steps of core/examples/race_worker.rs.
//   node worker.js LOCATION NAME SEED [outages]
const { Store, JetstateError } = require('../../bindings-node');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Makes `call` until it rejects with anything but a retryable error (the server is away). A
 * write whose outcome is unknown gives null: a claim whose token the worker never learned expires
 * and is claimed again, and the next reclaim redoes a reclaim. */
async function patiently(call) {
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (err instanceof JetstateError && err.outcomeUnknown) return null;
      if (!(err instanceof JetstateError && err.retryable)) throw err;
      await sleep(20);
    }
  }
}

async function main(file, name, seed, outages) {
  const keep = outages ? patiently : (call) => call();
  const store = await keep(() => Store.open(file, { leaseMs: 50, backoffBaseMs: 1, backoffCapMs: 10 }));
  const lines = [];
  for (let turn = seed + 1; ; turn++) {
    if (turn % 40 === 0) await keep(() => store.reclaimExpiredLeases());
    const lease = await keep(() => store.claimFenced(name, ['race']));
    if (lease === null) {
      const pending = await keep(() => store.listWorkItems('pending', 1));
      const claimed = await keep(() => store.listWorkItems('claimed', 1));
      if (pending.length === 0 && claimed.length === 0) break;
      await keep(() => store.reclaimExpiredLeases());
      await sleep(2);
      continue;
    }
    if (turn % 97 === 0) await sleep(80); // a stall past the lease
    else if (outages) await sleep(5); // the item's work
    try {
      await store.completeFenced(lease.item.id, lease.token);
      lines.push(`DONE ${lease.item.id} ${lease.token}`);
    } catch (err) {
      if (!(err instanceof JetstateError)) throw err;
      if (err.code === 'LEASE_LOST') lines.push(`LOST ${lease.item.id}`);
      else if (outages && err.outcomeUnknown) lines.push(`UNKNOWN ${lease.item.id} ${lease.token}`);
      else if (!(outages && err.retryable)) throw err; // a retryable one wrote nothing: claimed again later
    }
  }
  process.stdout.write(lines.map((line) => `${line}\n`).join(''));
}

main(process.argv[2], process.argv[3], Number(process.argv[4]), process.argv[5] === 'outages').catch((err) => {
  console.error(err);
  process.exit(1);
});
