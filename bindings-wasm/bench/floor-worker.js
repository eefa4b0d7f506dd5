// The floor: the official SQLite WebAssembly build (npm @sqlite.org/sqlite-wasm) with its
// opfs-sahpool VFS, in a dedicated worker, doing the least SQL each operation needs. The page
// sends one message per operation, as it does to jetstate-web's worker, so both pay the same hop.
import sqlite3InitModule from './node_modules/@sqlite.org/sqlite-wasm/dist/index.mjs';

let db;
let statements;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (execution_id TEXT NOT NULL, sequence INTEGER NOT NULL, kind TEXT NOT NULL,
    created_at INTEGER NOT NULL, PRIMARY KEY (execution_id, sequence)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY, queue TEXT NOT NULL, payload TEXT NOT NULL,
    status TEXT NOT NULL, worker TEXT, lease_expires INTEGER);
  CREATE INDEX IF NOT EXISTS queue_pending ON queue (queue, id) WHERE status = 'pending';`;

function open({ name, journal, synchronous }) {
  return sqlite3InitModule().then(async (sqlite3) => {
    const pool = await sqlite3.installOpfsSAHPoolVfs({ directory: `.floor-${name}` });
    db = new pool.OpfsSAHPoolDb(`/${name}`);
    if (journal === 'wal') db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL;');
    else db.exec(`PRAGMA journal_mode = ${journal};`);
    db.exec(`PRAGMA synchronous = ${synchronous};`);
    db.exec(SCHEMA);
    statements = {
      append: db.prepare('INSERT INTO events (execution_id, sequence, kind, created_at) VALUES (?, ?, ?, ?)'),
      enqueue: db.prepare("INSERT INTO queue (queue, payload, status) VALUES (?, ?, 'pending')"),
      claim: db.prepare(`UPDATE queue SET status = 'claimed', worker = ?, lease_expires = ?
        WHERE id = (SELECT id FROM queue WHERE queue = ? AND status = 'pending' ORDER BY id LIMIT 1) RETURNING id, payload`),
      complete: db.prepare("UPDATE queue SET status = 'completed' WHERE id = ? AND status = 'claimed'"),
      read: db.prepare('SELECT sequence, kind, created_at FROM events WHERE execution_id = ? ORDER BY sequence'),
    };
    return db.selectValue('PRAGMA journal_mode');
  });
}

function run(statement, values) {
  statement.bind(values);
  const row = statement.step() ? statement.get({}) : null;
  statement.reset();
  return row;
}

const operations = {
  open,
  now: () => new Date().toISOString(),
  append: ({ execution, sequence, kind }) => run(statements.append, [execution, sequence, JSON.stringify(kind), Date.now() * 1000]),
  appendBatch: ({ execution, from, kinds }) => {
    db.exec('BEGIN IMMEDIATE');
    try {
      kinds.forEach((kind, i) => run(statements.append, [execution, from + i, JSON.stringify(kind), Date.now() * 1000]));
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
    return null;
  },
  enqueue: ({ queue, payload }) => {
    run(statements.enqueue, [queue, JSON.stringify(payload)]);
    return db.selectValue('SELECT last_insert_rowid()');
  },
  claim: ({ queue, worker }) => {
    const row = run(statements.claim, [worker, Date.now() + 30_000, queue]);
    return row && { id: row.id, payload: JSON.parse(row.payload) };
  },
  complete: ({ id }) => run(statements.complete, [id]),
  read: ({ execution }) => {
    const events = [];
    statements.read.bind([execution]);
    while (statements.read.step()) {
      const [sequence, kind, createdAt] = statements.read.get([]);
      events.push({ sequence, kind: JSON.parse(kind), createdAt: new Date(createdAt / 1000) });
    }
    statements.read.reset();
    return events;
  },
};

// The same workloads run inside this worker, without a message per operation: what the storage
// engine itself costs. Each resolves to the milliseconds `n` operations took.
const loops = {
  append_one: (n, state) => {
    for (let i = 0; i < n; i++) operations.append({ execution: 'loop', sequence: ++state.sequence, kind: { type: 'node_scheduled', node_id: 'n', queue_type: 'q' } });
  },
  queue_cycle: (n) => {
    for (let i = 0; i < n; i++) {
      operations.enqueue({ queue: 'loop', payload: { i } });
      operations.complete({ id: operations.claim({ queue: 'loop', worker: 'w' }).id });
    }
  },
};

// Not the floor's SQL, but its worker's plumbing: one 8 KiB write and its flush per commit, on an
// OPFS file of its own, the least any commit that must survive a power cut costs here, whatever
// SQLite's journal (the WAL's frame at `full`, or the rollback journal's two or three flushes,
// each pay at least this much).
let bare = null;
operations.openBare = async ({ name }) => {
  const file = await (await navigator.storage.getDirectory()).getFileHandle(`bare-flush-${name}`, { create: true });
  bare = { handle: await file.createSyncAccessHandle(), page: new Uint8Array(8192).fill(7), next: 0 };
  return null;
};
// The file is reused from its start after 4 MiB, as a WAL is after a checkpoint.
loops.write_flush = (n) => {
  for (let i = 0; i < n; i++) {
    bare.handle.write(bare.page, { at: (bare.next++ % 512) * 8192 });
    bare.handle.flush();
  }
};
const loopState = { sequence: 0 };
operations.loop = ({ workload, n }) => {
  const started = performance.now();
  loops[workload](n, loopState);
  return performance.now() - started;
};

onmessage = async ({ data }) => {
  try {
    postMessage({ id: data.id, value: await operations[data.op](data.args) });
  } catch (err) {
    postMessage({ id: data.id, error: String(err?.message ?? err) });
  }
};
