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
  // As its README says a worker runs: a waiting claim of up to BATCH items (woken by LISTEN/NOTIFY
  // on PostgreSQL), each item handled, then the batch completed, fenced, in one commit.
  async jetstate() {
    const { Store, newExecution, newWorkItem } = require('../../bindings-node');
    const BATCH = 10;
    const store = await Store.open(url, { durability: 'full' });
    const execution = newExecution('bench', '1', {});
    await store.createExecution(execution);
    const item = (data) => newWorkItem(execution.executionId, 'job', 'bench', data);
    const stopping = new AbortController();
    const loops = [];
    return {
      enqueue: (data) => store.enqueue(item(data)),
      start(n, onJob) {
        for (let w = 0; w < n; w++) {
          loops.push((async () => {
            while (!stopping.signal.aborted) {
              const leases = await store.claimWait(`worker-${w}`, ['bench'], {
                max: BATCH, leaseMs: 30_000, timeoutMs: 60_000, signal: stopping.signal,
              });
              if (leases.length === 0) continue;
              for (const lease of leases) onJob(lease.item.payload);
              await store.completeBatch(leases.map((lease) => ({ itemId: lease.item.id, token: lease.token })));
            }
          })());
        }
      },
      async stop() {
        stopping.abort();
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
