// What the browser tests share: the package served on 127.0.0.1, Debian's Chromium driven by
// playwright-core on a profile of the test's own (so reload and relaunch keep OPFS), and a store
// living in a page, called from Node as if it were local.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { before, after } = require('node:test');
const { chromium } = require('playwright-core');
const { serve } = require('../scripts/serve.cjs');

const ROOT = path.resolve(__dirname, '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

if (!fs.existsSync(path.join(ROOT, 'dist', 'jetstate_web_bg.wasm'))) {
  throw new Error('build the package first: npm run build (in bindings-wasm)');
}

/** A browser on a profile folder (new unless given), for as long as the test needs it. */
async function launch(profile = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstate-web-profile-')), extraArgs = []) {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...FLAGS, ...extraArgs] });
  return { context, profile };
}

/** A page of `context` on the test harness (the package's module as `window.jetstate`), with
 * its console errors and uncaught exceptions collected in `problems`. */
async function harness(context, base, page = null, at = 'test/harness.html') {
  page = page ?? (await context.newPage());
  const problems = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  await page.goto(`${base}${at}`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
  return { page, problems };
}

/** For the calling test file: the package served, and a browser on a profile of its own, for
 * the file's tests (`shared.base`, `shared.browser`), closed and removed after them. */
function useBrowser() {
  const shared = {};
  before(async () => {
    ({ server: shared.server, url: shared.base } = await serve(0));
    shared.browser = await launch();
  });
  after(async () => {
    await shared.browser?.context.close();
    shared.server?.close();
    if (shared.browser) fs.rmSync(shared.browser.profile, { recursive: true, force: true });
  });
  return shared;
}

/** Opens a store in the page; resolves to a handle for `remote` (or throws the refusal). */
async function openIn(page, name, options = {}) {
  const outcome = await page.evaluate(async ([name, options]) => {
    try {
      const store = await window.jetstate.open(name, options);
      const key = `${name}#${window.stores.size}`;
      window.stores.set(key, store);
      return { key };
    } catch (err) {
      return { error: { name: err.name, code: err.code, message: err.message } };
    }
  }, [name, options]);
  if (outcome.error) throw Object.assign(new Error(outcome.error.message), outcome.error);
  return outcome.key;
}

/** A store living in the page, with the package's methods: each call runs in the page (its
 * arguments and result cross as Playwright serializes them: JSON, Dates, bigints). */
function remote(page, key, tenant = null) {
  return new Proxy({}, {
    get(_, name) {
      if (name === 'then') return undefined;
      if (name === 'forTenant') return (t) => remote(page, key, t);
      return async (...args) => {
        const outcome = await page.evaluate(async ([key, tenant, name, args]) => {
          let store = window.stores.get(key);
          if (tenant !== null) store = store.forTenant(tenant);
          if (typeof store[name] !== 'function') return { missing: true };
          try {
            return { value: await store[name](...args) };
          } catch (err) {
            return { error: { name: err.name, code: err.code, message: err.message, isJetstateError: err instanceof window.jetstate.JetstateError } };
          }
        }, [key, tenant, String(name), args]);
        if (outcome.missing) throw new Error(`the package has no method ${String(name)}`);
        if (outcome.error) throw Object.assign(new Error(outcome.error.message), outcome.error);
        return outcome.value;
      };
    },
  });
}

module.exports = { ROOT, serve, launch, useBrowser, harness, openIn, remote };
