'use strict';
// The conformance runner of the JavaScript hosts: replays tests/conformance/*.json through a
// store's public methods (the format is in tests/conformance/README.md; argument order in
// positional/parameters.json). Results are turned back into the wire form (snake_case keys, ISO
// times) to be matched; every failing step of a file is reported at once. Node's tests run it on
// the addon; the browser package's tests run it on a store living in a page.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const DIR = path.join(__dirname, '..', '..', 'tests', 'conformance');
const PARAMETERS = JSON.parse(fs.readFileSync(path.join(DIR, 'positional', 'parameters.json'), 'utf8'));
const SCENARIOS = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

const camel = (key) => key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const snake = (key) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A result in the wire form the scenarios are written in. */
function toWire(value) {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), toWire(v)]));
  }
  return value;
}

function sameInstant(want, got) {
  const [a, b] = [Date.parse(want), Date.parse(got)];
  return /^\d{4}-\d\d-\d\dT/.test(want) && !Number.isNaN(a) && a === b;
}

/** Where `actual` fails to match `expected` (README.md, "Matching"), or null. */
function mismatch(expected, actual, at, exact, present = true) {
  if (expected === '$any') return present && actual !== null && actual !== undefined ? null : `at ${at}: expected a value, got nothing`;
  if (expected === null) return actual === null || actual === undefined ? null : `at ${at}: expected null, got ${JSON.stringify(actual)}`;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `at ${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const why = mismatch(expected[i], actual[i], `${at}[${i}]`, exact);
      if (why) return why;
    }
    return null;
  }
  if (typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `at ${at}: expected an object, got ${JSON.stringify(actual)}`;
    for (const [key, want] of Object.entries(expected)) {
      const why = mismatch(want, actual[key], `${at}.${key}`, exact, key in actual);
      if (why) return why;
    }
    if (exact) {
      const extra = Object.keys(actual).find((key) => actual[key] !== null && actual[key] !== undefined && !(key in expected));
      if (extra) return `at ${at}.${extra}: unexpected ${JSON.stringify(actual[extra])}`;
    }
    return null;
  }
  if (expected === actual) return null;
  if (typeof expected === 'string' && typeof actual === 'string' && sameInstant(expected, actual)) return null;
  return present ? `at ${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}` : `at ${at}: expected ${JSON.stringify(expected)}, got nothing`;
}

const pick = (value, dotted) =>
  dotted.split('.').filter(Boolean).reduce((at, part) => (at === null || at === undefined ? undefined : at[part]), value);

function substitute(value, saved) {
  if (typeof value === 'string' && value.startsWith('$') && value !== '$any') {
    const [name, ...rest] = value.slice(1).split('.');
    if (!(name in saved)) throw new Error(`no saved value ${name} (an earlier step failed)`);
    return pick(saved[name], rest.join('.'));
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, saved));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, saved)]));
  return value;
}

/** Calls the step's method on `store` with positional arguments, as a JavaScript user would. */
async function run(store, op, args) {
  if (op === 'advance_clock') return store.advanceClock(args.ms);
  const method = store[camel(op)];
  assert.equal(typeof method, 'function', `the package has no method ${camel(op)}`);
  const values = PARAMETERS[op].map((name) => (name === 'expires_at' && args[name] ? new Date(args[name]) : args[name]));
  while (values.length && values[values.length - 1] === undefined) values.pop();
  return method.apply(store, values);
}

/**
 * Replays scenario `file` on the store `open(options)` resolves to (any host's: Node's, or the
 * browser's through a page); resolves to the list of failing steps. A refusal must carry the
 * expected `code`; an error without a `code` is a failure of the host.
 */
async function replay(file, open) {
  const scenario = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'));
  const o = scenario.options;
  const root = await open({
    clock: new Date(o.clock), leaseMs: o.lease_ms, backoffBaseMs: o.backoff_base_ms, backoffCapMs: o.backoff_cap_ms,
  });
  const saved = {};
  const failures = [];
  for (const [index, step] of scenario.steps.entries()) {
    const place = `${file} step ${index + 1} (${step.op})`;
    const store = step.tenant ? root.forTenant(step.tenant) : root;
    let result;
    try {
      result = toWire(await run(store, step.op, substitute(step.args || {}, saved)));
    } catch (err) {
      if (typeof err?.code !== 'string' || err.name !== 'JetstateError') failures.push(`${place}: ${err.stack}`);
      else if (step.error !== err.code) failures.push(`${place}: expected ${step.error || 'success'}, got ${err.code} (${err.message})`);
      continue;
    }
    if (step.error) {
      failures.push(`${place}: expected error ${step.error}, got ${JSON.stringify(result)}`);
      continue;
    }
    if ('expect' in step) {
      const why = mismatch(substitute(step.expect, saved), result === undefined ? null : result, 'result', step.exact === true);
      if (why) failures.push(`${place}: ${why}`);
    }
    for (const [name, at] of Object.entries(step.save || {})) saved[name] = pick(result, at);
  }
  return failures;
}

/** Why scenario `file` cannot apply to `engine` (`sqlite`, `postgresql`), if its `not_on` says so. */
function notOn(file, engine) {
  const reasons = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')).not_on || {};
  for (const name of Object.keys(reasons)) assert.ok(['sqlite', 'postgresql'].includes(name), `${file}: not_on names no engine: ${name}`);
  return reasons[engine] || null;
}

module.exports = { SCENARIOS, replay, mismatch, notOn };
