// A writer for the crash test, through the Node package: appends events and cycles the queue on
// FILE (durability full) forever, printing each call once it resolved. Killed by the test.
//   node writer.js FILE EXECUTION_ID
'use strict';
const { Store, newWorkItem } = require('../../bindings-node');

async function main(path, executionId) {
  const store = await Store.open(path, { durability: 'full' });
  const say = (line) => new Promise((resolve) => process.stdout.write(`${line}\n`, resolve));
  for (;;) {
    const event = await store.appendNextEvent(executionId, { type: 'node_scheduled', node_id: 'n', queue_type: 'q' });
    await say(`event ${event.sequence}`);
    const item = newWorkItem(executionId, 'n', 'q', {});
    await store.enqueueWorkItem(item);
    await say(`enqueued ${item.id}`);
    const lease = await store.claimFenced('node', ['q']);
    if (lease !== null) {
      await store.completeFenced(lease.item.id, lease.token);
      await say(`completed ${lease.item.id}`);
    }
  }
}

main(process.argv[2], process.argv[3]).catch((err) => {
  console.error(err);
  process.exit(1);
});
