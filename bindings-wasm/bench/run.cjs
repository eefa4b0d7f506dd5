// Runs the browser benchmark (bench/index.html) in Debian's headless Chromium and prints, per
// durability and workload, operations per second of jetstate-web and of the floor, their ratio,
// and jetstate's cost per commit against the pool VFS with its default rollback journal and a
// bare OPFS write and flush. Writes bench/results.json (or --out FILE).
// Usage: node bench/run.cjs [--scale N] [--rounds N] [--out FILE] (after npm run build, and
// npm ci in bench/). With --probe [--calls N], it runs the probe (probe.js) instead: where the
// time of one call goes, phase by phase.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { serve, launch } = require('../test/browser.cjs');

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};

// The probe's page needs cross-origin isolation for its 5 us clock; the benchmark's does not ask
// for it (the floor's build, seeing SharedArrayBuffer, would start a VFS of another kind).
const ISOLATED = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/** The probe's tables: per call, the median of each phase with the OPFS calls made, then the
 * means of the phases. The benchmark counts totals, so a rare slow call (a checkpoint, a garbage
 * collection) weighs in it as a median hides; the means show in which phase such calls spend it. */
function printProbe(results) {
  const PHASES = ['before', 'there', 'worker', 'inside', 'back', 'after', 'total'];
  const phases = (r, suffix) => PHASES.map((phase) => (r.side === 'floor' && phase === 'inside' ? '-' : r[`${phase}${suffix}`].toFixed(0))).join(' | ');
  console.log('Where the time of one call goes (medians, us): the page before its message, the hop there, the worker (of which inside jetstate\'s WebAssembly call), the hop back, the page after the answer\n');
  console.log('| durability | call | side | before | there | worker | inside | back | after | total | OPFS writes per call | KiB written per call | flushes per call |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(`| ${r.durability} | ${r.op} | ${r.side} | ${phases(r, '_us')} | ${r.writes_per_call.toFixed(2)} | ${r.kib_per_call.toFixed(1)} | ${r.flushes_per_call.toFixed(2)} |`);
  }
  console.log('\nThe same calls, the mean of each phase (us)\n');
  console.log('| durability | call | side | before | there | worker | inside | back | after | total |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) console.log(`| ${r.durability} | ${r.op} | ${r.side} | ${phases(r, '_mean_us')} |`);
}

(async () => {
  const probe = process.argv.includes('--probe');
  const { server, url } = await serve(0, undefined, probe ? ISOLATED : {});
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    page.on('pageerror', (error) => console.error('page error:', error.message));
    if (probe) {
      await page.goto(`${url}bench/probe.html?calls=${arg('calls', 400)}`);
      await page.waitForSelector('body[data-done="true"]', { state: 'attached', timeout: 30 * 60_000 });
      const failure = await page.evaluate(() => window.failure);
      if (failure) throw new Error(failure);
      printProbe(await page.evaluate(() => window.results));
      return;
    }
    await page.goto(`${url}bench/index.html?scale=${arg('scale', 1)}&rounds=${arg('rounds', 3)}`);
    await page.waitForSelector('body[data-done="true"]', { state: 'attached', timeout: 30 * 60_000 });
    const failure = await page.evaluate(() => window.failure);
    if (failure) throw new Error(failure);
    const results = await page.evaluate(() => window.results);
    const version = await browser.context.browser()?.version();
    const perSecond = (ms) => (ms ? Math.round(1000 / ms).toLocaleString('en-US') : '-');
    console.log(`Chromium ${version ?? ''}, OPFS, one dedicated worker per store, one message per operation\n`);
    console.log('| durability | workload | jetstate-web ops/s | floor ops/s | jetstate / floor (time per op) | jetstate ms per commit | rollback-journal floor ms per commit | commit cost, rollback / jetstate |');
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results.filter((r) => !r.in_worker)) {
      const commit = r.jetstate_commit_ms ? `${r.jetstate_commit_ms.toFixed(3)}` : '-';
      const rollback = r.rollback_commit_ms ? `${r.rollback_commit_ms.toFixed(3)}` : '-';
      const gain = r.jetstate_commit_ms ? `${(r.rollback_commit_ms / r.jetstate_commit_ms).toFixed(1)}x` : '-';
      console.log(`| ${r.durability} | ${r.workload} | ${perSecond(r.jetstate_ms)} | ${perSecond(r.floor_ms)} | ${r.ratio.toFixed(2)}x | ${commit} | ${rollback} | ${gain} |`);
    }
    console.log('\nInside the worker, no message per operation: what one commit costs the storage engine\n');
    console.log('| durability | workload | jetstate ms per commit | floor (WAL, exclusive) ms per commit | jetstate / floor | floor with the rollback journal ms per commit | rollback / jetstate | one bare 8 KiB OPFS write and flush (at full), ms |');
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results.filter((r) => r.in_worker)) {
      const bare = r.bare_flush_ms ? r.bare_flush_ms.toFixed(3) : '-';
      console.log(`| ${r.durability} | ${r.workload} | ${r.jetstate_commit_ms.toFixed(3)} | ${r.floor_commit_ms.toFixed(3)} | ${(r.jetstate_commit_ms / r.floor_commit_ms).toFixed(2)}x | ${r.rollback_commit_ms.toFixed(3)} | ${(r.rollback_commit_ms / r.jetstate_commit_ms).toFixed(1)}x | ${bare} |`);
    }
    fs.writeFileSync(arg('out', path.join(__dirname, 'results.json')), `${JSON.stringify({ chromium: version, results }, null, 2)}\n`);
  } finally {
    await browser.context.close();
    server.close();
    fs.rmSync(browser.profile, { recursive: true, force: true });
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
