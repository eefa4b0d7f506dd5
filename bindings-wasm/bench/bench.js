// The browser benchmark, run in one page in one run: the workloads of the native benchmark on
// jetstate-web and on the floor (floor-worker.js: the official SQLite WebAssembly build with its
// opfs-sahpool VFS, least SQL per operation). Both run in a dedicated worker and take one message
// per operation; both are measured in turns of a few operations each, on fresh files, at the
// same pragmas. `run.cjs` drives this page and prints the table.
//
// Why short turns: this machine's speed swings by 2-3x within seconds (two shared cores). Turns
// of a tenth of a run, taken in alternation with the order swapped each turn, put both sides
// under the same swings; each side's time per operation is its total over all its turns (what
// checkpoints and garbage collection cost is in it, as a user would pay it).
import { open, newEvent, newExecution, newWorkItem } from '../index.js';
import { Floor } from './floor.js';

const params = new URLSearchParams(location.search);
const scale = Number(params.get('scale') ?? 1);
const ROUNDS = Number(params.get('rounds') ?? 3);
/** Each run of a workload is cut into this many turns per side. */
const TURNS_PER_ROUND = 10;
const N = {
  append: Math.round(600 * scale),
  batches: Math.round(60 * scale),
  cycles: Math.round(300 * scale),
  reads: Math.round(20 * scale),
};
const BATCH = 50;
const TOGETHER = 16;
const HISTORY = 1000;
const log = (line) => (document.querySelector('#log').textContent += `${line}\n`);
const kind = (i) => ({ type: 'node_scheduled', node_id: `node-${i % 7}`, queue_type: 'agents' });

/** Each side's workloads: `setup()`, and per workload a function that runs `n` operations. */
function jetstateWorkloads(store) {
  let appendExecution;
  let sequence = 0;
  let togetherExecution;
  let togetherSequence = 0;
  let batchExecution;
  let batchSequence = 0;
  let history;
  return {
    async setup() {
      appendExecution = newExecution('bench', '1', {});
      togetherExecution = newExecution('bench', '1', {});
      batchExecution = newExecution('bench', '1', {});
      history = newExecution('bench', '1', {});
      for (const e of [appendExecution, togetherExecution, batchExecution, history]) await store.createExecution(e);
      for (let from = 1; from <= HISTORY; from += 100) {
        await store.appendEvents(Array.from({ length: 100 }, (_, i) => newEvent(history.executionId, from + i, kind(from + i))));
      }
    },
    append_one: async (n) => {
      for (let i = 0; i < n; i++) {
        sequence += 1;
        await store.appendEvent(newEvent(appendExecution.executionId, sequence, kind(sequence)));
      }
    },
    append_batch: async (n) => {
      for (let b = 0; b < n; b++) {
        await store.appendEvents(Array.from({ length: BATCH }, () => newEvent(batchExecution.executionId, ++batchSequence, kind(batchSequence))));
      }
    },
    queue_cycle: async (n) => {
      for (let i = 0; i < n; i++) {
        await store.enqueueWorkItem(newWorkItem(appendExecution.executionId, 'n', 'agents', { i }));
        const lease = await store.claimFenced('w', ['agents']);
        await store.completeFenced(lease.item.id, lease.token);
      }
    },
    append_together: async (n) => {
      for (let done = 0; done < n; done += TOGETHER) {
        await Promise.all(Array.from({ length: Math.min(TOGETHER, n - done) }, () => {
          togetherSequence += 1;
          return store.appendEvent(newEvent(togetherExecution.executionId, togetherSequence, kind(togetherSequence)));
        }));
      }
    },
    round_trip: async (n) => {
      for (let i = 0; i < n; i++) await store.now();
    },
    read_history: async (n) => {
      for (let r = 0; r < n; r++) {
        const events = await store.getEvents(history.executionId);
        if (events.length !== HISTORY) throw new Error(`read ${events.length} events`);
      }
    },
  };
}

function floorWorkloads(floor) {
  let sequence = 0;
  let batchSequence = 0;
  let togetherSequence = 0;
  return {
    async setup() {
      for (let from = 1; from <= HISTORY; from += 100) {
        await floor.call('appendBatch', { execution: 'history', from, kinds: Array.from({ length: 100 }, (_, i) => kind(from + i)) });
      }
    },
    append_one: async (n) => {
      for (let i = 0; i < n; i++) {
        sequence += 1;
        await floor.call('append', { execution: 'one', sequence, kind: kind(sequence) });
      }
    },
    append_batch: async (n) => {
      for (let b = 0; b < n; b++) {
        const from = batchSequence + 1;
        batchSequence += BATCH;
        await floor.call('appendBatch', { execution: 'batch', from, kinds: Array.from({ length: BATCH }, (_, i) => kind(from + i)) });
      }
    },
    queue_cycle: async (n) => {
      for (let i = 0; i < n; i++) {
        await floor.call('enqueue', { queue: 'agents', payload: { i } });
        const claimed = await floor.call('claim', { queue: 'agents', worker: 'w' });
        await floor.call('complete', { id: claimed.id });
      }
    },
    append_together: async (n) => {
      for (let done = 0; done < n; done += TOGETHER) {
        await Promise.all(Array.from({ length: Math.min(TOGETHER, n - done) }, () => {
          togetherSequence += 1;
          return floor.call('append', { execution: 'together', sequence: togetherSequence, kind: kind(togetherSequence) });
        }));
      }
    },
    round_trip: async (n) => {
      for (let i = 0; i < n; i++) await floor.call('now');
    },
    read_history: async (n) => {
      for (let r = 0; r < n; r++) {
        const events = await floor.call('read', { execution: 'history' });
        if (events.length !== HISTORY) throw new Error(`read ${events.length} events`);
      }
    },
  };
}

const WORKLOADS = [
  // A call that does no SQL: what one message to the worker and back costs each side.
  ['round_trip', () => N.append, 0],
  ['append_one', () => N.append, 1],
  ['append_batch', () => N.batches, 1],
  ['queue_cycle', () => N.cycles, 3],
  ['read_history', () => N.reads, 0],
  // Appends made TOGETHER at a time (Promise.all), not each awaited: jetstate-web sends them in
  // one message and commits them once; the floor's worker takes one message and one commit each.
  ['append_together', () => N.append, 0],
];

/**
 * Runs `run(side, n)` (resolving to the milliseconds it took) for each of `sides` in turns of
 * `n` operations, `ROUNDS` runs of `count` operations in all, the order swapped each turn. The
 * sides in `once` take part in every `ROUNDS`-th turn only (one run in all: the slow rollback
 * journal). Resolves to a function giving each side's time per operation.
 */
async function inTurns(sides, count, run, once = []) {
  const n = Math.max(1, Math.round(count / TURNS_PER_ROUND));
  const totals = Object.fromEntries(sides.map((side) => [side, { ms: 0, operations: 0 }]));
  for (let turn = 0; turn < ROUNDS * TURNS_PER_ROUND; turn++) {
    for (const side of turn % 2 === 0 ? sides : [...sides].reverse()) {
      if (once.includes(side) && turn % ROUNDS !== 0) continue;
      totals[side].ms += await run(side, n);
      totals[side].operations += n;
    }
  }
  return (side) => totals[side].ms / totals[side].operations;
}

async function time(run) {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

async function main() {
  const results = [];
  const tag = `${Date.now().toString(36)}`;
  for (const durability of ['normal', 'full']) {
    const synchronous = durability === 'full' ? 'FULL' : 'NORMAL';
    const store = await open(`bench-${durability}-${tag}`, { durability });
    const floor = new Floor();
    const journal = await floor.call('open', { name: `floor-${durability}-${tag}`, journal: 'wal', synchronous });
    const rollback = new Floor();
    await rollback.call('open', { name: `rollback-${durability}-${tag}`, journal: 'delete', synchronous });
    const sides = { jetstate: jetstateWorkloads(store), floor: floorWorkloads(floor), rollback: floorWorkloads(rollback) };
    for (const side of Object.values(sides)) await side.setup();
    log(`durability ${durability}: jetstate-web vs the floor (journal ${journal}, locking exclusive, synchronous ${synchronous})`);
    for (const [name, count, commits] of WORKLOADS) {
      const competing = commits > 0 ? ['jetstate', 'floor', 'rollback'] : ['jetstate', 'floor'];
      const ms = await inTurns(competing, count(), (side, n) => time(() => sides[side][name](n)), ['rollback']);
      const row = {
        durability, workload: name, commits_per_op: commits,
        jetstate_ms: ms('jetstate'), floor_ms: ms('floor'), rollback_ms: commits > 0 ? ms('rollback') : null,
      };
      row.ratio = row.jetstate_ms / row.floor_ms;
      row.jetstate_commit_ms = commits > 0 ? row.jetstate_ms / commits : null;
      row.rollback_commit_ms = commits > 0 ? row.rollback_ms / commits : null;
      results.push(row);
      log(`  ${name}: jetstate ${(1000 / row.jetstate_ms).toFixed(0)}/s, floor ${(1000 / row.floor_ms).toFixed(0)}/s, ratio ${row.ratio.toFixed(2)}x`);
    }
    // Inside the worker, no message per operation: the storage engine's cost per commit.
    const core = new Floor('./core-worker.js');
    await core.call('open', { name: `core-${durability}-${tag}`, durability });
    // At `full` only (where each commit flushes): a bare write and flush, in turns beside the
    // appends, one per commit.
    const bare = durability === 'full' ? new Floor() : null;
    await bare?.call('openBare', { name: tag });
    const engines = { jetstate: core, floor, rollback, bare };
    for (const [name, count, commits] of [['append_one', N.append, 1], ['queue_cycle', N.cycles, 3]]) {
      const competing = bare && name === 'append_one' ? ['jetstate', 'floor', 'rollback', 'bare'] : ['jetstate', 'floor', 'rollback'];
      const ms = await inTurns(competing, count, (side, n) => engines[side].call('loop', { workload: side === 'bare' ? 'write_flush' : name, n }));
      const perCommit = (side) => ms(side) / commits;
      const row = { durability, workload: name, in_worker: true, commits_per_op: commits,
        jetstate_commit_ms: perCommit('jetstate'), floor_commit_ms: perCommit('floor'), rollback_commit_ms: perCommit('rollback'),
        bare_flush_ms: competing.includes('bare') ? ms('bare') : null };
      results.push(row);
      log(`  in the worker, ${name}: jetstate ${row.jetstate_commit_ms.toFixed(3)} ms per commit, floor ${row.floor_commit_ms.toFixed(3)}, rollback journal ${row.rollback_commit_ms.toFixed(3)}`);
    }
    await store.close();
    floor.close();
    rollback.close();
    core.close();
    bare?.close();
  }
  window.results = results;
  document.body.dataset.done = 'true';
}

main().catch((err) => {
  log(`failed: ${err.stack ?? err}`);
  window.failure = String(err.stack ?? err);
  document.body.dataset.done = 'true';
});
