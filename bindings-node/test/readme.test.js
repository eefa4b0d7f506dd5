'use strict';
// The README's example runs as written (against this package, in a fresh folder), and
// TypeScript checks it, and a misuse, against index.d.ts.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

function example() {
  const blocks = [...README.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 1, 'the README has one complete example');
  return blocks[0];
}

/** A folder where `require('jetstate')` finds this package, as after `npm install`. */
function project() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstate-readme-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'jetstate'), 'dir');
  return dir;
}

test('the README example runs', () => {
  const dir = project();
  fs.writeFileSync(path.join(dir, 'example.js'), example());
  const out = execFileSync(process.execPath, ['example.js'], { cwd: dir, encoding: 'utf8' }).trim().split('\n');
  assert.equal(out[0], 'duplicate');
  assert.equal(out[1], "[ 'doc0', 'doc1', 'doc2' ] {");
  assert.match(out.join('\n'), /doc2: \{ summary: 'DOCUMENT 2' \}/);
  assert.deepEqual(out.slice(-3), ['5 1 workflow_started', '3', 'completed 5']);
});

function tsc(dir, files) {
  const tsconfig = {
    compilerOptions: { strict: true, noEmit: true, allowJs: true, checkJs: true, target: 'es2022', module: 'commonjs', lib: ['es2022', 'esnext.disposable'], types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')], skipLibCheck: false },
    files,
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  return spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
}

test('TypeScript checks the README example against index.d.ts', () => {
  const dir = project();
  fs.writeFileSync(path.join(dir, 'example.js'), example());
  fs.copyFileSync(path.join(__dirname, 'types', 'usage.ts'), path.join(dir, 'usage.ts'));
  const checked = tsc(dir, ['example.js', 'usage.ts']);
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);
});

test('TypeScript catches misuse', () => {
  const dir = project();
  fs.writeFileSync(
    path.join(dir, 'wrong.ts'),
    [
      "import { Store, BlockingStore } from 'jetstate';",
      'async function main(store: Store) {',
      "  const lease = await store.claimFenced('w', ['q']);",
      '  lease.token;', // 4: may be null
      "  await store.completeFenced(1, 2);", // 5: an id is a string
      "  const n: string = await store.latestSequence('e');", // 6: a number
      "  await store.listExecutions('sleeping');", // 7: not a status
      "  await Store.open('x.db', { lease: 5 });", // 8: not an option
      "  const blocking = BlockingStore.open('x.db');",
      "  const m: string = blocking.latestSequence('e');", // 10: a number, not a Promise of one
      "  blocking.claimWait('w', ['q'], { signal: new AbortController().signal });", // 11: no signal
      '}',
      '',
    ].join('\n'),
  );
  const checked = tsc(dir, ['wrong.ts']);
  assert.notEqual(checked.status, 0);
  for (const line of [4, 5, 6, 7, 8, 10, 11]) assert.match(checked.stdout, new RegExp(`wrong\\.ts\\(${line},`), checked.stdout);
});

test('index.d.ts and surface.d.ts declare every method of Store, and no any or unknown', () => {
  const { Store } = require('..');
  const dts = ['index.d.ts', 'surface.d.ts'].map((file) => fs.readFileSync(path.join(ROOT, file), 'utf8')).join('\n');
  const methods = [Store.prototype, Object.getPrototypeOf(Store.prototype)]
    .flatMap((proto) => Object.getOwnPropertyNames(proto))
    .filter((name) => name !== 'constructor');
  assert.ok(methods.includes('claimFenced') && methods.includes('now'), methods.join(' '));
  for (const name of methods) assert.match(dts, new RegExp(`\\n  (?:get )?(?:readonly )?${name}[(:]`), `Store.${name} is not declared`);
  assert.doesNotMatch(dts, /\b(any|unknown)\b/);
});
