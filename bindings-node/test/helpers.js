'use strict';
// Shared by the Node tests: a way to make a store call wait, for liveness proofs.
const { spawn } = require('node:child_process');
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const HOLD = `
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
`;

/** Holds SQLite's write lock on `file` for `seconds` from another process (Python's sqlite3), so
 * that a store's next write waits that long inside SQLite: a long call with small arguments.
 * Resolves once the lock is held; `.done` resolves when it is released. */
function holdWriteLock(file, seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', HOLD, file, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const done = new Promise((ok) => child.on('exit', ok));
    child.stdout.once('data', (data) => (String(data).startsWith('locked') ? resolve({ done }) : reject(new Error(String(data)))));
    child.on('error', reject);
  });
}

function tempFile(name = 'store.db') {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'jetstate-node-')), name);
}

/** A URL naming a fresh store on the test server (a schema of its own). The test command
 * (./test.sh) starts the server and sets JETSTATE_TEST_POSTGRES_URL; nothing skips without one. */
function postgresUrl() {
  const url = process.env.JETSTATE_TEST_POSTGRES_URL;
  if (!url) throw new Error('JETSTATE_TEST_POSTGRES_URL names no server: run ./test.sh, or eval "$(tests/postgres/cluster.sh start)"');
  return `${url}${url.includes('?') ? '&' : '?'}schema=test_${crypto.randomUUID().replace(/-/g, '')}`;
}

/** The engines the corpus runs on (the names its `not_on` uses), and where a fresh store of each lives. */
const ENGINES = { sqlite: () => null, postgresql: postgresUrl };

module.exports = { holdWriteLock, tempFile, postgresUrl, ENGINES };
