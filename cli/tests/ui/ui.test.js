// `jetstate ui` in a real headless Chromium: a file made by the demo (a real durable workflow
// whose research step fails once and is retried) plus an imported failed execution with a
// dead letter and a hostile node id; the page must list, filter, draw and escape them, and the
// file must be left as it was. Set JETSTATE_UI_SCREENSHOT=PATH to keep the screenshot (the one
// in cli/docs/ was made so).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '../../..');
const BIN = process.env.JETSTATE_BIN || path.join(ROOT, 'target/debug/jetstate');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror="window.__pwned=1">';

let dir;
let file;
let server;
let url;
let browser;
let demoId;
let failedId;
let before_bytes;

function jetstate(...args) {
  return execFileSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A failed execution with a dead-lettered item and a node whose id is HTML, as export lines. */
function craftedExport(schemaVersion) {
  const id = 'a1b2c3d4-0000-4000-8000-00000000f41d';
  const at = (ms) => new Date(Date.UTC(2026, 10, 26, 9, 0, 0, ms)).toISOString().replace('Z', '000Z');
  const event = (sequence, ms, kind) => ({
    table: 'events',
    row: { execution_id: id, sequence, id: `e0000000-0000-4000-8000-${String(sequence).padStart(12, '0')}`, event_type: kind.type, kind, created_at: at(ms) },
  });
  const lines = [
    { format: 'jetstate-export', version: 1, schema_version: schemaVersion, scope: 'execution', exported_at: at(0) },
    {
      table: 'executions',
      row: {
        id, tenant_id: 'default', workflow_id: 'ingest', workflow_version: '3', status: 'failed',
        initial_input: { source: 's3://bucket' }, current_state: { fetched: 0 }, session_type: null,
        started_at: at(0), updated_at: at(900), completed_at: at(900),
      },
    },
    event(1, 0, { type: 'workflow_started', workflow_id: 'ingest', workflow_version: '3', initial_input: {} }),
    event(2, 40, { type: 'node_scheduled', node_id: 'fetch', queue_type: 'io' }),
    event(3, 120, { type: 'node_started', node_id: 'fetch', worker_id: 'w1', attempt: 0 }),
    event(4, 450, { type: 'node_failed', node_id: 'fetch', error: 'HTTP 503 from upstream', attempt: 0, retryable: false }),
    event(5, 500, { type: 'node_scheduled', node_id: HOSTILE, queue_type: 'io' }),
    event(6, 900, { type: 'workflow_failed', error: 'fetch failed' }),
    {
      table: 'work_items',
      row: {
        id: 'b0000000-0000-4000-8000-0000000000d1', tenant_id: 'default', execution_id: id, node_id: 'fetch',
        queue_type: 'io', payload: { url: 's3://bucket/a' }, status: 'dead_letter', attempt: 3, max_attempts: 3,
        created_at: at(40), retry_after: null, lease_expires_at: null, worker_id: null, lease_token: 3,
        last_error: 'HTTP 503 from upstream', updated_at: at(450),
      },
    },
    // Work in progress: a claimed item whose worker reports progress (its lease runs far ahead).
    {
      table: 'work_items',
      row: {
        id: 'b0000000-0000-4000-8000-0000000000d2', tenant_id: 'default', execution_id: id, node_id: 'transform',
        queue_type: 'io', payload: {}, status: 'claimed', attempt: 0, max_attempts: 3, created_at: at(500),
        retry_after: null, lease_expires_at: '2099-01-01T00:00:00.000000Z', worker_id: 'w9', lease_token: 1,
        last_error: null, updated_at: at(600), claimed_at: at(600), progress: { step: 2, of: 5 },
      },
    },
    // The queue's settings: paused, with a concurrency and a rate limit.
    {
      table: 'queues',
      row: {
        queue_type: 'io', paused: 1, concurrency: 4, partition_concurrency: null, rate_limit: 10,
        rate_period: 1000000, updated_at: at(0),
      },
    },
  ];
  return { id, text: lines.map((line) => JSON.stringify(line)).join('\n') + '\n' };
}

/** The database file's bytes, and its WAL's (a read-only connection may create an empty WAL
 * and the shared-memory index beside a WAL-mode file; it never writes a frame). */
const filesOf = () => {
  const wal = path.join(dir, 'state.db-wal');
  const walBytes = fs.existsSync(wal) ? fs.readFileSync(wal) : Buffer.alloc(0);
  return { db: fs.readFileSync(file), wal: walBytes };
};

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstate-ui-'));
  file = path.join(dir, 'state.db');
  jetstate('demo', file);
  demoId = JSON.parse(jetstate('executions', file, '--json'))[0].execution_id;
  const header = JSON.parse(jetstate('export', file, '--execution', demoId).split('\n')[0]);
  const crafted = craftedExport(header.schema_version);
  failedId = crafted.id;
  fs.writeFileSync(path.join(dir, 'crafted.jsonl'), crafted.text);
  jetstate('import', file, path.join(dir, 'crafted.jsonl'));
  before_bytes = filesOf();

  server = spawn(BIN, ['ui', file, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise((resolve, reject) => {
    let seen = '';
    server.stdout.on('data', (chunk) => {
      seen += chunk;
      const match = seen.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (match) resolve(match[0]);
    });
    server.on('exit', (code) => reject(new Error(`jetstate ui exited with ${code}: ${seen}`)));
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A page with its console errors and uncaught exceptions collected. */
async function open(hash = '') {
  const page = await browser.newPage({ viewport: { width: 1240, height: 900 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  await page.goto(url + hash);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, problems };
}

const rowsOf = (page, table) => page.$$eval(`#${table} tbody tr[data-execution], #${table} tbody tr[data-item], #${table} tbody tr[data-queue]`, (rows) => rows.length);

test('the overview lists executions, queue depths and the dead-letter queue', async () => {
  const { page, problems } = await open();
  assert.equal(await rowsOf(page, 'executions'), 2);
  assert.equal(await page.textContent('[data-card="dead letters"] .value'), '1');
  assert.equal(await page.textContent('#queues tr[data-queue="agents"] td[data-status="completed"]'), '3');
  assert.equal(await page.textContent('#queues tr[data-queue="io"] td[data-status="dead_letter"]'), '1');
  assert.equal(await page.textContent('#queues tr[data-queue="io"] td[data-state]'), 'paused');
  assert.equal(await page.textContent('#queues tr[data-queue="agents"] td[data-state]'), 'open');
  assert.match(await page.textContent('#queues tr[data-queue="io"]'), /4 at once, 10 per 1\.00 s/);
  assert.equal(await rowsOf(page, 'claimed'), 1);
  assert.equal(await page.textContent('#claimed .progress'), '{"of":5,"step":2}');
  assert.equal(await rowsOf(page, 'dlq'), 1);
  assert.match(await page.textContent('#dlq tbody'), /HTTP 503 from upstream/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the filters narrow the list of executions', async () => {
  const { page, problems } = await open();
  const filtered = async (status, tenant = '') => {
    await page.selectOption('#filters select[name="status"]', status);
    await page.fill('#filters input[name="tenant"]', tenant);
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector('body[data-ready="true"]');
    return page.$$eval('#executions tbody tr[data-execution]', (rows) => rows.map((r) => r.dataset.execution));
  };
  assert.deepEqual(await filtered('failed'), [failedId]);
  assert.deepEqual(await filtered('completed'), [demoId]);
  assert.deepEqual(await filtered('', 'acme'), []);
  assert.deepEqual((await filtered('', 'default')).sort(), [demoId, failedId].sort());
  assert.deepEqual(problems, []);
  await page.close();
});

test("an execution's timeline has a lane per node, runs as bars, failures and retries marked", async () => {
  const { page, problems } = await open();
  await page.click(`#executions tr[data-execution="${demoId}"]`);
  await page.waitForSelector('svg#timeline');
  await page.waitForSelector('body[data-ready="true"]');
  const lanes = await page.$$eval('svg#timeline g.lane', (groups) => groups.map((g) => g.dataset.lane));
  assert.deepEqual(lanes, ['workflow', 'plan', 'research', 'write']);
  const markers = await page.$$eval('svg#timeline .marker', (nodes) =>
    nodes.map((n) => ({ type: n.dataset.type, category: n.dataset.category, lane: n.dataset.lane, x: n.getBBox().x + n.getBBox().width / 2 })));
  const events = JSON.parse(jetstate('show', file, demoId, '--json')).events;
  assert.equal(markers.length, events.length, 'one marker per event');
  assert.ok(markers.some((m) => m.type === 'node_failed' && m.category === 'failure' && m.lane === 'research'));
  assert.ok(markers.some((m) => m.type === 'retry_scheduled' && m.category === 'retry' && m.lane === 'research'));
  assert.ok(markers.some((m) => m.type === 'workflow_completed' && m.lane === 'workflow'));
  const xs = markers.map((m) => m.x);
  assert.deepEqual(xs, [...xs].sort((a, b) => a - b), 'events in time order along the axis');
  const bars = await page.$$eval('svg#timeline rect.span', (rects) => rects.map((r) => `${r.dataset.lane}:${r.getAttribute('class')}`));
  assert.ok(bars.includes('research:span failed') && bars.includes('research:span ok'), bars.join(' '));
  assert.equal(await page.$$eval('#events tbody tr', (rows) => rows.length), events.length);
  assert.match(await page.textContent('#state'), /findings/);
  const shot = process.env.JETSTATE_UI_SCREENSHOT || path.join(dir, 'ui.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.deepEqual([...fs.readFileSync(shot).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG');
  assert.deepEqual(problems, []);
  await page.close();
});

test("the engine's data is shown as text, never run as HTML", async () => {
  const { page, problems } = await open(`#/executions/${failedId}`);
  await page.waitForSelector('svg#timeline');
  const lanes = await page.$$eval('svg#timeline g.lane', (groups) => groups.map((g) => g.dataset.lane));
  assert.deepEqual(lanes, ['workflow', 'fetch', HOSTILE]);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.$$eval('img', (images) => images.length), 0);
  assert.ok((await page.textContent('#events tbody')).includes(HOSTILE));
  assert.ok(await page.$('svg#timeline path.marker.failure[data-type="node_failed"]'));
  assert.ok(await page.$('svg#timeline path.marker.failure[data-type="workflow_failed"]'));
  assert.deepEqual(problems, []);
  await page.close();
});

test('an unknown execution is reported on the page, and nothing was written to the file', async () => {
  const { page } = await open('#/executions/00000000-0000-4000-8000-000000000000');
  assert.match(await page.textContent('#detail-error'), /NOT_FOUND: execution not found/);
  await page.close();
  assert.deepEqual(filesOf(), before_bytes, 'the inspector is read-only');
});
