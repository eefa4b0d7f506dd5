'use strict';
// Builds the native addon with cargo (release) and puts it beside index.js as
// jetstate.<platform>-<arch>.node. It uses the workspace's target directory (or
// CARGO_TARGET_DIR), so that SQLite is compiled once for every package of the repository.
//   node scripts/build.js [--debug]
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const debug = process.argv.includes('--debug');
const args = ['build', '--quiet', '-p', 'jetstate-node', ...(debug ? [] : ['--release'])];
execFileSync('cargo', args, { cwd: root, stdio: 'inherit' });

const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, '..', 'target');
const library = { linux: 'libjetstate_node.so', darwin: 'libjetstate_node.dylib', win32: 'jetstate_node.dll' }[process.platform];
const built = path.join(targetDir, debug ? 'debug' : 'release', library);
const addon = path.join(root, `jetstate.${process.platform}-${process.arch}.node`);
fs.copyFileSync(built, addon);
console.log(`built ${path.relative(process.cwd(), addon)}`);
