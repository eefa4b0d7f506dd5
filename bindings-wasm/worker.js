// The dedicated worker that runs one jetstate store: the core compiled to WebAssembly, its SQLite
// file in the Origin Private File System. `index.js` starts it and is its only correspondent:
// each message is one request `{ id, type, ... }`, answered by `{ id, text }` where `text` is a
// result's JSON text or `!CODE message` (the form the core's refusals take everywhere), or an
// array of calls sent together, answered by the array of their answers.
//
// Invariants kept here:
// * one database, one owner: the worker holds the Web Lock `jetstate:NAME` for as long as the
//   store is open, and only then installs the OPFS pool (whose access handles are exclusive
//   anyway); a second tab waits for the lock at most `lockTimeoutMs`, then gets a clear error;
// * every call runs to completion before the next message is read (the worker has one thread),
//   so calls are serialized exactly as the page issued them;
// * calls the page sent together (a message holding several) run as one group of the core
//   (`NativeStore.group`): one transaction and one commit for all their writes, each call still
//   atomic on its own; their answers are sent after that commit, never before, and if it fails,
//   every answer but a call's own refusal is the commit's refusal.
import init, { installOpfs, NativeStore } from './dist/jetstate_web.js';

const loaded = init();
let store = null;
let releaseLock = null;

const refused = (code, message) => `!${code} ${message}`;

/** Waits (at most `timeoutMs`) for the database's Web Lock, then keeps it until `close`. */
function holdLock(name, timeoutMs) {
  return new Promise((acquired, failed) => {
    navigator.locks
      .request(`jetstate:${name}`, { signal: AbortSignal.timeout(timeoutMs) }, () => {
        acquired();
        return new Promise((release) => {
          releaseLock = release;
        });
      })
      .catch((err) =>
        failed(
          err.name === 'TimeoutError' || err.name === 'AbortError'
            ? refused('DATABASE', `the database "${name}" is open in another tab or worker of this origin, which holds it (Web Lock jetstate:${name}); close it there, or open another name`)
            : refused('DATABASE', `cannot lock the database "${name}": ${err.message}`),
        ),
      );
  });
}

/** Installs the OPFS pool for `name`; a tab that is being reloaded may still hold the access
 * handles for a moment after it released the lock, so a refusal is retried briefly. */
async function install(name) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await installOpfs(`.jetstate/${name}`);
      return;
    } catch (text) {
      if (attempt >= 20 || !String(text).includes('another tab')) throw text;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function open({ name, options, memory, lockTimeoutMs }) {
  await loaded;
  if (!memory) {
    if (!self.isSecureContext || !navigator.storage || typeof navigator.storage.getDirectory !== 'function' || !navigator.locks) {
      return refused('DATABASE', 'OPFS is unavailable here (it needs a secure context: https or localhost, in a browser that has it); open the store with { memory: true } for a store that is not kept');
    }
    await holdLock(name, lockTimeoutMs);
    await install(name);
  }
  store = NativeStore.open(name, options, memory);
  return JSON.stringify({ durability: store.durability });
}

function call({ op, args, tenant }) {
  if (store === null) return refused('DATABASE', 'the store is closed');
  const view = tenant === null ? store : store.forTenant(tenant);
  try {
    return view.call(op, args);
  } finally {
    if (view !== store) view.free();
  }
}

/** Most calls one group carries (as the core's group commit of threads), so that the first
 * caller's answer does not wait on too many others. */
const MOST_GROUPED = 64;

/** The answers of calls sent together: in groups of at most MOST_GROUPED, each ended by a close
 * (a store is not closed inside a group, so a close runs alone). A fault of this worker fails
 * the calls of its own part only: the parts before it were committed and are answered so. */
function callAll(calls) {
  const texts = [];
  for (let start = 0; start < calls.length; ) {
    let end = start + 1;
    if (calls[start].op !== 'close') {
      while (end < calls.length && calls[end].op !== 'close' && end - start < MOST_GROUPED) end += 1;
    }
    const part = calls.slice(start, end);
    try {
      texts.push(...(part.length === 1 || store === null ? part.map(answer) : grouped(part)));
    } catch (err) {
      texts.push(...part.map(() => fault(err)));
    }
    start = end;
  }
  return texts;
}

/** Calls run as one group of the core: their answers, each given as is only if the group was
 * committed (a call's own refusal stands either way: it was undone alone). */
function grouped(part) {
  const answers = [];
  const failed = store.group(() => {
    for (const data of part) answers.push(call(data));
  });
  return part.map((_, i) => {
    const text = answers[i];
    return failed === undefined || (text !== undefined && text.charCodeAt(0) === 33) /* ! */ ? text : failed;
  });
}

/** One call's answer; a close also releases the database to other tabs. */
function answer(data) {
  const text = call(data);
  if (data.op === 'close' && store !== null) {
    store.free();
    store = null;
    releaseLock?.();
  }
  return text;
}

/** Refusals arrive as `!CODE message` strings; anything else is a fault of this worker. */
const fault = (err) =>
  typeof err === 'string' && err.startsWith('!') ? err : refused('DATABASE', `the jetstate worker failed: ${err?.message ?? err}`);

self.onmessage = async ({ data }) => {
  if (Array.isArray(data)) {
    let texts;
    try {
      texts = callAll(data);
    } catch (err) {
      texts = data.map(() => fault(err));
    }
    self.postMessage(data.map(({ id }, i) => ({ id, text: texts[i] })));
    return;
  }
  let text;
  try {
    text = data.type === 'open' ? await open(data) : answer(data);
  } catch (err) {
    text = fault(err);
  }
  self.postMessage({ id: data.id, text });
};
