'use strict';
// The Node worker of the cross-language races: the steps of core/examples/race_worker.rs.
//   node worker.js FILE NAME SEED
const { Store, JetstateError } = require('../../bindings-node');

async function main(file, name, seed) {
  const store = await Store.open(file, { leaseMs: 50, backoffBaseMs: 1, backoffCapMs: 10 });
  const lines = [];
  for (let turn = seed + 1; ; turn++) {
    if (turn % 40 === 0) await store.reclaimExpiredLeases();
    const lease = await store.claimFenced(name, ['race']);
    if (lease === null) {
      const pending = await store.listWorkItems('pending', 1);
      const claimed = await store.listWorkItems('claimed', 1);
      if (pending.length === 0 && claimed.length === 0) break;
      await store.reclaimExpiredLeases();
      await new Promise((resolve) => setTimeout(resolve, 2));
      continue;
    }
    if (turn % 97 === 0) await new Promise((resolve) => setTimeout(resolve, 80)); // a stall past the lease
    try {
      await store.completeFenced(lease.item.id, lease.token);
      lines.push(`DONE ${lease.item.id} ${lease.token}`);
    } catch (err) {
      if (!(err instanceof JetstateError && err.code === 'LEASE_LOST')) throw err;
      lines.push(`LOST ${lease.item.id}`);
    }
  }
  process.stdout.write(lines.map((line) => `${line}\n`).join(''));
}

main(process.argv[2], process.argv[3], Number(process.argv[4])).catch((err) => {
  console.error(err);
  process.exit(1);
});
