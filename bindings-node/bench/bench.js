'use strict';
// The Node package's benchmark: jetstate beside the Rust core, plainjob (an npm SQLite job queue)
// and a hand-written better-sqlite3 (version 12) floor, in one run, on fresh files, at the same
// durability.
//
//   bindings-node/bench/run.sh            installs what it needs, then runs this (about 6 min)
//   bindings-node/bench/run.sh --quick    small sizes, one round, README untouched
//
// Implementations (each run is its own process on a fresh file, WAL, the given synchronous):
// - jetstate: this package's Store (every call a Promise, its SQLite work on jetstate's pool).
// - jetstate blocking: this package's BlockingStore (every call on the caller's thread, as
//   better-sqlite3's).
// - Rust core: the same workload on the sync Rust Store, each call on the caller's thread;
//   Rust async: through Arc<dyn StateBackend> on tokio (both bench/jetstate, jetstate-bench).
// - plainjob: add / getAndMarkJobAsProcessing / markJobAsDone on better-sqlite3, its synchronous
//   set to the run's (plainjob sets WAL itself).
// - better-sqlite3 floor: the least SQL one operation needs, one prepared statement, one commit,
//   on a minimal table: insert an event row; read 1,000 rows and parse their JSON; insert, claim
//   (UPDATE ... RETURNING), complete. Synchronous: it blocks the event loop, which jetstate must not.
//
// Workloads (times per operation): append (one event per call), read_history (a 1,000-event
// history), queue_cycle (enqueue, claim, complete one item). Each figure is the median of the
// rounds, implementations interleaved within a round.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HERE = __dirname;
const ROOT = path.resolve(HERE, '..', '..');
const RUST_BENCH = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'release', 'jetstate-bench');
const README = path.join(HERE, '..', 'README.md');
const RESULTS = path.join(HERE, 'results.json');
const HISTORY = 1000;

const PLAN = [
  ['append', ['jetstate', 'jetstate blocking', 'Rust core', 'Rust async', 'better-sqlite3 floor'], 2000],
  ['read_history', ['jetstate', 'jetstate blocking', 'Rust core', 'Rust async', 'better-sqlite3 floor'], 200],
  ['queue_cycle', ['jetstate', 'jetstate blocking', 'Rust core', 'Rust async', 'plainjob', 'better-sqlite3 floor'], 1000],
];
const RUST_WORKLOADS = { append: 'append_one_writer', read_history: 'read_history', queue_cycle: 'queue_1_worker' };

const { eventKind, payload } = require('./data.js');

async function runJetstate(workload, durability, file, n) {
  const { Store, newExecution, newEvent, newWorkItem } = require('..');
  const store = await Store.open(file, { durability });
  const execution = newExecution('bench', '1', { topic: 'benchmarks', budget: 10 });
  await store.createExecution(execution);
  const id = execution.executionId;
  if (workload === 'read_history') {
    await store.appendEvents(Array.from({ length: HISTORY }, (_, i) => newEvent(id, i + 1, eventKind(i + 1))));
  }
  const started = performance.now();
  if (workload === 'append') {
    for (let s = 1; s <= n; s++) await store.appendEvent(newEvent(id, s, eventKind(s)));
  } else if (workload === 'read_history') {
    for (let i = 0; i < n; i++) if ((await store.getEvents(id)).length !== HISTORY) throw new Error('short read');
  } else {
    for (let k = 0; k < n; k++) {
      await store.enqueueWorkItem(newWorkItem(id, `node-${k % 10}`, 'q', payload(k)));
      const item = await store.claimWorkItem('worker', ['q']);
      await store.completeWorkItem(item.id);
    }
  }
  return [n, (performance.now() - started) / 1000];
}

function runJetstateBlocking(workload, durability, file, n) {
  const { BlockingStore, newExecution, newEvent, newWorkItem } = require('..');
  const store = BlockingStore.open(file, { durability });
  const execution = newExecution('bench', '1', { topic: 'benchmarks', budget: 10 });
  store.createExecution(execution);
  const id = execution.executionId;
  if (workload === 'read_history') {
    store.appendEvents(Array.from({ length: HISTORY }, (_, i) => newEvent(id, i + 1, eventKind(i + 1))));
  }
  const started = performance.now();
  if (workload === 'append') {
    for (let s = 1; s <= n; s++) store.appendEvent(newEvent(id, s, eventKind(s)));
  } else if (workload === 'read_history') {
    for (let i = 0; i < n; i++) if (store.getEvents(id).length !== HISTORY) throw new Error('short read');
  } else {
    for (let k = 0; k < n; k++) {
      store.enqueueWorkItem(newWorkItem(id, `node-${k % 10}`, 'q', payload(k)));
      const item = store.claimWorkItem('worker', ['q']);
      store.completeWorkItem(item.id);
    }
  }
  return [n, (performance.now() - started) / 1000];
}

function runPlainjob(durability, file, n) {
  const Database = require('better-sqlite3');
  const { better, defineQueue } = require('plainjob');
  const db = new Database(file);
  const queue = defineQueue({ connection: better(db) });
  db.pragma(`synchronous = ${durability.toUpperCase()}`);
  const started = performance.now();
  for (let k = 0; k < n; k++) {
    queue.add('q', payload(k));
    const job = queue.getAndMarkJobAsProcessing('q');
    queue.markJobAsDone(job.id);
  }
  return [n, (performance.now() - started) / 1000];
}

function runFloor(workload, durability, file, n) {
  const Database = require('better-sqlite3');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${durability.toUpperCase()}`);
  db.exec(`CREATE TABLE events (execution_id TEXT NOT NULL, sequence INTEGER NOT NULL, kind TEXT NOT NULL,
             created_at INTEGER NOT NULL, PRIMARY KEY (execution_id, sequence)) WITHOUT ROWID;
           CREATE TABLE q (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, status INTEGER NOT NULL);
           CREATE INDEX q_pending ON q (id) WHERE status = 0;`);
  const started = () => performance.now();
  if (workload === 'append') {
    const insert = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?)');
    const t = started();
    for (let s = 1; s <= n; s++) insert.run('e', s, JSON.stringify(eventKind(s)), Date.now());
    return [n, (performance.now() - t) / 1000];
  }
  if (workload === 'read_history') {
    const insert = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (let s = 1; s <= HISTORY; s++) insert.run('e', s, JSON.stringify(eventKind(s)), Date.now());
    })();
    const read = db.prepare('SELECT sequence, kind, created_at FROM events WHERE execution_id = ? ORDER BY sequence');
    const t = started();
    for (let i = 0; i < n; i++) {
      const events = read.all('e').map((row) => ({ sequence: row.sequence, kind: JSON.parse(row.kind), createdAt: new Date(row.created_at) }));
      if (events.length !== HISTORY) throw new Error('short read');
    }
    return [n, (performance.now() - t) / 1000];
  }
  const insert = db.prepare('INSERT INTO q (payload, status) VALUES (?, 0)');
  const claim = db.prepare('UPDATE q SET status = 1 WHERE id = (SELECT id FROM q WHERE status = 0 ORDER BY id LIMIT 1) RETURNING id, payload');
  const complete = db.prepare('UPDATE q SET status = 2 WHERE id = ?');
  const t = started();
  for (let k = 0; k < n; k++) {
    insert.run(JSON.stringify(payload(k)));
    const job = claim.get();
    JSON.parse(job.payload);
    complete.run(job.id);
  }
  return [n, (performance.now() - t) / 1000];
}

async function runOne(implementation, workload, durability, dir, n) {
  const file = path.join(dir, 'bench.db');
  if (implementation === 'jetstate') return runJetstate(workload, durability, file, n);
  if (implementation === 'jetstate blocking') return runJetstateBlocking(workload, durability, file, n);
  if (implementation === 'plainjob') return runPlainjob(durability, file, n);
  if (implementation === 'better-sqlite3 floor') return runFloor(workload, durability, file, n);
  throw new Error(`unknown implementation ${implementation}`);
}

/** Seconds per operation of one run, in a fresh process on a fresh directory. */
function measure(implementation, workload, durability, n) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstate-nodebench-'));
  try {
    const out = implementation.startsWith('Rust')
      ? execFileSync(RUST_BENCH, [implementation === 'Rust core' ? 'core' : 'jetstate', RUST_WORKLOADS[workload], durability, dir, String(n)], { encoding: 'utf8' })
      : execFileSync(process.execPath, [__filename, '--one', implementation, workload, durability, dir, String(n)], { encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').pop());
    return result.seconds / result.ops;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const us = (seconds) => (seconds === undefined ? '' : `${(seconds * 1e6).toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })} us`);
const ratio = (a, b) => (a === undefined || b === undefined ? '' : (a / b).toFixed(2));

function report(results, rounds) {
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || 'unknown CPU';
  const lines = [
    `Measured by \`bindings-node/bench/run.sh\` on ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} cores (${cpu}), ` +
      `Node ${process.version}, Linux ${os.release()}. Each figure is the median of ${rounds} interleaved rounds, each run a fresh ` +
      'process on a fresh file; the machine is shared and noisy, so compare ratios within a table. Workloads and implementations ' +
      'are described in `bench/bench.js`.',
    '',
  ];
  const implementations = ['jetstate', 'jetstate blocking', 'Rust core', 'Rust async', 'plainjob', 'better-sqlite3 floor'];
  // The aims, as ratios: the Promise API against the Rust async call and the floor, the
  // blocking store against the floor; both against plainjob (above 1: ahead of it).
  const ratios = [
    ['jetstate / Rust async', 'jetstate', 'Rust async'],
    ['jetstate / floor', 'jetstate', 'better-sqlite3 floor'],
    ['blocking / floor', 'jetstate blocking', 'better-sqlite3 floor'],
    ['speed-up over plainjob', 'plainjob', 'jetstate'],
    ['blocking: speed-up over plainjob', 'plainjob', 'jetstate blocking'],
  ];
  for (const [durability, table] of Object.entries(results)) {
    lines.push(`**synchronous=${durability.toUpperCase()}** (time per operation)`, '');
    lines.push(`| workload | ${implementations.join(' | ')} | ${ratios.map(([name]) => name).join(' | ')} |`);
    lines.push(`| --- |${' ---: |'.repeat(implementations.length + ratios.length)}`);
    for (const [workload, row] of Object.entries(table)) {
      lines.push(
        `| ${workload} | ${implementations.map((impl) => us(row[impl])).join(' | ')} | ` +
          `${ratios.map(([, a, b]) => ratio(row[a], row[b])).join(' | ')} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

function writeReadme(section) {
  let text = fs.readFileSync(README, 'utf8');
  const [start, end] = ['<!-- bench:start -->', '<!-- bench:end -->'];
  if (!text.includes(start)) text = `${text.trimEnd()}\n\n${start}\n${end}\n`;
  const [before, rest] = text.split(start);
  const after = rest.split(end)[1];
  fs.writeFileSync(README, `${before}${start}\n${section}\n${end}${after}`);
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--one') {
    const [, implementation, workload, durability, dir, n] = args;
    const [ops, seconds] = await runOne(implementation, workload, durability, dir, Number(n));
    console.log(JSON.stringify({ implementation, workload, ops, seconds }));
    process.exit(0); // plainjob keeps a maintenance timer running

  }
  if (args.includes('--report-only')) {
    const saved = JSON.parse(fs.readFileSync(RESULTS, 'utf8'));
    writeReadme(report(saved.results, saved.rounds));
    return;
  }
  const quick = args.includes('--quick');
  const roundsAt = args.indexOf('--rounds');
  const rounds = quick ? 1 : roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3;
  const samples = {};
  for (let round = 0; round < rounds; round++) {
    for (const durability of ['full', 'normal']) {
      for (const [workload, implementations, size] of PLAN) {
        const n = quick ? Math.max(10, Math.floor(size / 10)) : size;
        const shift = round % implementations.length;
        for (const implementation of [...implementations.slice(shift), ...implementations.slice(0, shift)]) {
          const perOp = measure(implementation, workload, durability, n);
          ((samples[durability] ??= {})[workload] ??= {})[implementation] ??= [];
          samples[durability][workload][implementation].push(perOp);
          console.log(`round ${round + 1} ${durability.padEnd(6)} ${workload.padEnd(13)} ${implementation.padEnd(21)} ${(perOp * 1e6).toFixed(1).padStart(10)} us`);
        }
      }
    }
  }
  const results = Object.fromEntries(
    Object.entries(samples).map(([d, table]) => [d, Object.fromEntries(Object.entries(table).map(([w, row]) => [w, Object.fromEntries(Object.entries(row).map(([i, v]) => [i, median(v)]))]))]),
  );
  const section = report(results, rounds);
  console.log(`\n${section}`);
  if (!quick) {
    fs.writeFileSync(RESULTS, `${JSON.stringify({ rounds, results, samples }, null, 1)}\n`);
    writeReadme(section);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
