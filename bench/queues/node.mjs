// One library's run of the queue comparison (bench/queues.py drives it), in Node:
//
//   node bench/queues/node.mjs LIBRARY URL WORKERS JOBS RATE
//
// LIBRARY is jetstate, pg-boss or graphile-worker, each configured as its documentation says for
// low latency (pg-boss: LISTEN/NOTIFY on; graphile-worker: its default LISTEN/NOTIFY), with
// WORKERS concurrent handlers in this one process, on the database URL names (its own, fresh).
// Prints one JSON line with three figures (see measure.mjs):
//   enqueue_per_s  jobs enqueued per second, one job per call, WORKERS callers at once;
//   drain_per_s    jobs claimed and completed per second by WORKERS handlers, from a backlog of JOBS;
//   pickup_ms      enqueue-to-handler latency (p50, p99) at RATE jobs per second, workers idle between.
import { createRequire } from 'node:module';
import { measure } from './measure.mjs';

const require = createRequire(import.meta.url);
const [library, url, workersArg, jobsArg, rateArg] = process.argv.slice(2);
const workers = Number(workersArg);

const adapters = {
  // No LISTEN/NOTIFY yet (the queue issue brings a waiting claim): a handler that finds the queue
  // empty polls again after POLL_MS.
  async jetstate() {
    const { Store, newExecution, newWorkItem } = require('../../bindings-node');
    const POLL_MS = 1;
    const store = await Store.open(url, { durability: 'full' });
    const execution = newExecution('bench', '1', {});
    await store.createExecution(execution);
    const item = (data) => newWorkItem(execution.executionId, 'job', 'bench', data);
    let running = false;
    const loops = [];
    return {
      enqueue: (data) => store.enqueueWorkItems([item(data)]),
      start(n, onJob) {
        running = true;
        for (let w = 0; w < n; w++) {
          loops.push((async () => {
            while (running) {
              const lease = await store.claimFenced(`worker-${w}`, ['bench'], 30_000);
              if (lease === null) {
                await new Promise((resolve) => setTimeout(resolve, POLL_MS));
                continue;
              }
              onJob(lease.item.payload);
              await store.completeFenced(lease.item.id, lease.token);
            }
          })());
        }
      },
      async stop() {
        running = false;
        await Promise.all(loops);
        await store.close();
      },
    };
  },

  async 'pg-boss'() {
    const PG_BOSS_BATCH = 10;
    const { PgBoss } = require('pg-boss');
    const boss = new PgBoss({ connectionString: url, useListenNotify: true });
    boss.on('error', (err) => { console.error(err); process.exit(1); });
    await boss.start();
    await boss.createQueue('bench', { notify: true });
    return {
      enqueue: (data) => boss.send('bench', data),
      // A worker waits out its polling interval after every fetch unless the fetch came back
      // full and burstWhenBatchFull is on (ignored at batchSize 1): the docs' way to drain a
      // backlog is a batch, completed together when the handler returns.
      async start(n, onJob) {
        const options = { localConcurrency: n, batchSize: PG_BOSS_BATCH, burstWhenBatchFull: true };
        await boss.work('bench', options, async (jobs) => { for (const job of jobs) onJob(job.data); });
      },
      stop: () => boss.stop({ graceful: true, wait: true }),
    };
  },

  async 'graphile-worker'() {
    const { run, makeWorkerUtils } = require('graphile-worker');
    const utils = await makeWorkerUtils({ connectionString: url });
    await utils.migrate();
    let runner;
    return {
      enqueue: (data) => utils.addJob('bench', data),
      async start(n, onJob) {
        runner = await run({
          connectionString: url, concurrency: n, noHandleSignals: true,
          logger: quietLogger(require('graphile-worker').Logger),
          taskList: { bench: async (payload) => onJob(payload) },
        });
      },
      async stop() {
        await runner.stop();
        await utils.release();
      },
    };
  },
};

function quietLogger(Logger) {
  return new Logger(() => (level, message) => { if (level === 'error') console.error(message); });
}

const adapter = adapters[library];
if (!adapter) throw new Error(`unknown library ${library}`);
const result = await measure(await adapter(), { workers, jobs: Number(jobsArg), rate: Number(rateArg) });
console.log(JSON.stringify({ library, language: 'node', workers, ...result }));
process.exit(0);
