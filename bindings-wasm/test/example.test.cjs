// The README's example is the example page's module, the page runs in Chromium (and keeps its
// runs across a reload), and TypeScript checks it, a typed use and a misuse against index.d.ts.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { ROOT, useBrowser } = require('./browser.cjs');

const shared = useBrowser();

test("the README's example is example/app.js", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 1, 'the README has one complete example');
  assert.equal(blocks[0], fs.readFileSync(path.join(ROOT, 'example', 'app.js'), 'utf8'));
});

test('the example page runs a workflow, shows its timeline, and its runs are kept across a reload', async () => {
  const page = await shared.browser.context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  await page.goto(`${shared.base}example/`);
  await page.waitForSelector('body[data-done="true"]', { state: 'attached', timeout: 20_000 });
  const timeline = await page.$$eval('#timeline li', (items) => items.map((li) => li.textContent.split(/\s+/).slice(1).join(' ').trim()));
  assert.deepEqual(timeline, [
    'workflow_started', 'node_scheduled fetch', 'node_scheduled think', 'node_scheduled answer',
    'node_started fetch', 'node_completed fetch', 'node_started think', 'node_completed think',
    'node_started answer', 'node_completed answer', 'workflow_completed',
  ]);
  assert.match(await page.textContent('#status'), /done: completed, 11 events/);
  const state = JSON.parse(await page.textContent('#state'));
  assert.deepEqual(Object.keys(state.completedNodes).sort(), ['answer', 'fetch', 'think']);
  assert.equal(await page.getAttribute('body', 'data-runs'), '1');
  await page.reload();
  await page.waitForSelector('body[data-done="true"]', { state: 'attached', timeout: 20_000 });
  assert.equal(await page.getAttribute('body', 'data-runs'), '2');
  assert.deepEqual(problems, []);
  await page.close();
});

function tsc(dir, files) {
  const tsconfig = {
    compilerOptions: {
      strict: true, noEmit: true, allowJs: true, checkJs: true, target: 'es2022', module: 'es2022',
      moduleResolution: 'bundler', lib: ['es2022', 'dom', 'esnext.disposable'], types: [], skipLibCheck: false,
    },
    files,
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  return spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
}

test('TypeScript checks the example and a typed use against index.d.ts', () => {
  const checked = tsc(ROOT, ['example/app.js', 'test/types/usage.ts']);
  fs.rmSync(path.join(ROOT, 'tsconfig.json'));
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);
});

test('TypeScript catches misuse', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstate-web-types-'));
  fs.writeFileSync(
    path.join(dir, 'wrong.ts'),
    [
      `import { open } from '${path.join(ROOT, 'index.js')}';`,
      'async function main() {',
      "  const store = await open('x', { memory: 'yes' });", // 3: a boolean
      "  const lease = await store.claimFenced('w', ['q']);",
      '  lease.token;', // 5: may be null
      '  const now: Date = store.now();', // 6: a Promise
      "  await open(42);", // 7: a name is a string
      "  await store.listExecutions('sleeping');", // 8: not a status
      '}',
      '',
    ].join('\n'),
  );
  const checked = tsc(dir, ['wrong.ts']);
  assert.notEqual(checked.status, 0);
  for (const line of [3, 5, 6, 7, 8]) assert.match(checked.stdout, new RegExp(`wrong\\.ts\\(${line},`), checked.stdout);
});

test('index.d.ts and surface.d.ts declare every method of the store, and no any or unknown', () => {
  const dts = ['index.d.ts', 'dist/surface.d.ts'].map((file) => fs.readFileSync(path.join(ROOT, file), 'utf8')).join('\n');
  assert.doesNotMatch(dts, /\b(any|unknown)\b/);
  const source = fs.readFileSync(path.join(ROOT, 'index.js'), 'utf8');
  const start = source.indexOf('export class Store extends BaseStore {');
  const body = source.slice(start, source.indexOf('\n}\n', start));
  const own = [...body.matchAll(/^  (?:async |get )?(\w+)\(/gm)].map((m) => m[1]).filter((name) => name !== 'constructor');
  assert.ok(own.includes('now') && own.includes('persisted'), own.join(' '));
  for (const name of own) assert.match(dts, new RegExp(`\\n  (?:readonly )?${name}[(:]`), `${name} is not declared`);
  assert.match(dts, /export declare function open\(/);
});
