'use strict';
// The shared conformance scenarios, replayed through this package's public methods.
const test = require('node:test');
const assert = require('node:assert/strict');

const { Store, BlockingStore } = require('..');
const { SCENARIOS, replay, mismatch, notOn } = require('./replay.js');
const { ENGINES } = require('./helpers.js');

test('the scenarios are there', () => {
  assert.ok(SCENARIOS.length >= 8, `expected the conformance scenarios, found ${SCENARIOS.length}`);
});

// Both call styles, on both engines: one surface definition, so one behaviour.
const STYLES = { Store: (location, options) => Store.open(location, options), BlockingStore: (location, options) => BlockingStore.open(location, options) };

for (const [engine, location] of Object.entries(ENGINES)) {
  for (const [style, open] of Object.entries(STYLES)) {
    for (const file of SCENARIOS) {
      const reason = notOn(file, engine);
      test(`conformance on ${engine}, ${style}: ${file}`, { skip: reason ? `not on ${engine}, as the corpus says: ${reason}` : false }, async () => {
        const failures = await replay(file, (options) => open(location(), options));
        assert.deepEqual(failures, []);
      });
    }
  }
}

test('the matcher rejects what it should', () => {
  assert.equal(mismatch({ a: 1 }, { a: 1, b: 2 }, 'r', false), null);
  assert.notEqual(mismatch({ a: 1 }, { a: 1, b: 2 }, 'r', true), null);
  assert.equal(mismatch({ a: 1 }, { a: 1, b: null }, 'r', true), null);
  assert.notEqual(mismatch({ a: 1 }, { a: 2 }, 'r', false), null);
  assert.notEqual(mismatch([1], [1, 2], 'r', false), null);
  assert.notEqual(mismatch('$any', null, 'r', false), null);
  assert.equal(mismatch({ gone: null }, {}, 'r', false), null);
  assert.equal(mismatch('2026-01-01T00:00:01.5Z', '2026-01-01T00:00:01.500Z', 'r', false), null);
});
